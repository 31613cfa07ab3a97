//! Keys generated in the test, key sets and signed tokens with any header and payload.
//!
//! Each key is generated once per test binary, on first use, so a binary pays only for the
//! keys it signs with.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::ed::{EdCurve, EdKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::KeyPair;
use josekit::jws::{self, JwsSigner};
use serde_json::{json, Value};

/// A test key; `OtherRsa` is a second RSA key, for signatures no key set should accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Rsa,
    OtherRsa,
    Ec,
    Ec384,
    Ed,
}

fn rsa(slot: &'static OnceLock<RsaKeyPair>) -> &'static RsaKeyPair {
    slot.get_or_init(|| RsaKeyPair::generate(2048).expect("rsa key"))
}

fn ec(slot: &'static OnceLock<EcKeyPair>, curve: EcCurve) -> &'static EcKeyPair {
    slot.get_or_init(|| EcKeyPair::generate(curve).expect("ec key"))
}

impl Key {
    pub fn pair(self) -> &'static dyn KeyPair {
        static RSA: OnceLock<RsaKeyPair> = OnceLock::new();
        static OTHER_RSA: OnceLock<RsaKeyPair> = OnceLock::new();
        static EC: OnceLock<EcKeyPair> = OnceLock::new();
        static EC384: OnceLock<EcKeyPair> = OnceLock::new();
        static ED: OnceLock<EdKeyPair> = OnceLock::new();
        match self {
            Key::Rsa => rsa(&RSA),
            Key::OtherRsa => rsa(&OTHER_RSA),
            Key::Ec => ec(&EC, EcCurve::P256),
            Key::Ec384 => ec(&EC384, EcCurve::P384),
            Key::Ed => ED.get_or_init(|| EdKeyPair::generate(EdCurve::Ed25519).expect("ed key")),
        }
    }

    /// The algorithm this key signs with unless told otherwise.
    pub fn alg(self) -> &'static str {
        match self {
            Key::Rsa | Key::OtherRsa => "RS256",
            Key::Ec => "ES256",
            Key::Ec384 => "ES384",
            Key::Ed => "EdDSA",
        }
    }

    /// A signer for `alg` with this key's private half; panics if they do not fit.
    pub fn signer(self, alg: &str) -> Box<dyn JwsSigner> {
        let private = self.pair().to_jwk_private_key();
        let signer: Result<Box<dyn JwsSigner>, _> = match alg {
            "RS256" => jws::RS256
                .signer_from_jwk(&private)
                .map(|s| Box::new(s) as _),
            "PS256" => jws::PS256
                .signer_from_jwk(&private)
                .map(|s| Box::new(s) as _),
            "ES256" => jws::ES256
                .signer_from_jwk(&private)
                .map(|s| Box::new(s) as _),
            "ES384" => jws::ES384
                .signer_from_jwk(&private)
                .map(|s| Box::new(s) as _),
            "EdDSA" => jws::EdDSA
                .signer_from_jwk(&private)
                .map(|s| Box::new(s) as _),
            other => panic!("no test signer for {other}"),
        };
        signer.unwrap_or_else(|e| panic!("{self:?} cannot sign {alg}: {e}"))
    }

    /// The public JWK of this key under `kid`.
    pub fn public_jwk(self, kid: &str) -> Value {
        let mut jwk = self.pair().to_jwk_public_key();
        jwk.set_key_id(kid);
        Value::Object(jwk.into())
    }
}

/// A JWKS holding `key` under each given `kid`.
pub fn jwks(keys: &[(&str, Key)]) -> String {
    let keys: Vec<Value> = keys.iter().map(|(kid, key)| key.public_jwk(kid)).collect();
    json!({ "keys": keys }).to_string()
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header` and `payload` exactly as given, signed by `key` with `alg`: any header a test
/// needs, whatever it claims.
pub fn sign(header: &Value, payload: &Value, key: Key, alg: &str) -> String {
    sign_raw(&header.to_string(), &payload.to_string(), &*key.signer(alg))
}

/// Header and payload as raw text (not necessarily JSON), signed by `signer`.
pub fn sign_raw(header: &str, payload: &str, signer: &dyn JwsSigner) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = signer.sign(input.as_bytes()).expect("sign");
    format!("{input}.{}", b64(signature))
}

/// A token of `key`'s default algorithm with header `{alg, kid, typ: at+jwt}`.
pub fn token(kid: &str, key: Key, payload: &Value) -> String {
    let header = json!({ "alg": key.alg(), "kid": kid, "typ": "at+jwt" });
    sign(&header, payload, key, key.alg())
}

//! Keys generated in the test, their key sets, and tokens signed with any header and payload.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::ed::{EdCurve, EdKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::KeyPair;
use josekit::jws::{self, JwsSigner};
use serde_json::{json, Value};

/// A key pair and the algorithm it signs with unless told otherwise.
pub struct Key {
    pair: Pair,
    alg: &'static str,
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcKeyPair),
    Ed(EdKeyPair),
}

impl Key {
    /// A fresh key for `alg`: RSA 2048 for `RS256` and `PS256`, P-256 for `ES256`, P-384 for
    /// `ES384`, Ed25519 for `EdDSA`. Generating RSA keys is slow: keep them in a static.
    pub fn generate(alg: &'static str) -> Self {
        let pair = match alg {
            "RS256" | "PS256" => Pair::Rsa(RsaKeyPair::generate(2048).expect("rsa key")),
            "ES256" => Pair::Ec(EcKeyPair::generate(EcCurve::P256).expect("ec key")),
            "ES384" => Pair::Ec(EcKeyPair::generate(EcCurve::P384).expect("ec key")),
            "EdDSA" => Pair::Ed(EdKeyPair::generate(EdCurve::Ed25519).expect("ed key")),
            other => panic!("no test key for {other}"),
        };
        Self { pair, alg }
    }

    pub fn alg(&self) -> &'static str {
        self.alg
    }

    pub fn pair(&self) -> &dyn KeyPair {
        match &self.pair {
            Pair::Rsa(pair) => pair,
            Pair::Ec(pair) => pair,
            Pair::Ed(pair) => pair,
        }
    }

    /// A signer for `alg` with this key's private half; panics if they do not fit.
    pub fn signer(&self, alg: &str) -> Box<dyn JwsSigner> {
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
        signer.unwrap_or_else(|e| panic!("a {} key cannot sign {alg}: {e}", self.alg))
    }

    /// The public JWK of this key under `kid`.
    pub fn jwk(&self, kid: &str) -> Value {
        let mut jwk = self.pair().to_jwk_public_key();
        jwk.set_key_id(kid);
        Value::Object(jwk.into())
    }
}

/// A JWKS holding each key under its `kid`.
pub fn jwks(keys: &[(&str, &Key)]) -> Value {
    let keys: Vec<Value> = keys.iter().map(|(kid, key)| key.jwk(kid)).collect();
    json!({ "keys": keys })
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header` and `payload` exactly as given, signed by `key` with `alg`: any header a test
/// needs, whatever it claims.
pub fn sign(header: &Value, payload: &Value, key: &Key, alg: &str) -> String {
    sign_raw(&header.to_string(), &payload.to_string(), &*key.signer(alg))
}

/// Header and payload as raw text (not necessarily JSON), signed by `signer`.
pub fn sign_raw(header: &str, payload: &str, signer: &dyn JwsSigner) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = signer.sign(input.as_bytes()).expect("sign");
    format!("{input}.{}", b64(signature))
}

/// `payload` signed by `key` with its algorithm, under `kid`, with the header providers send:
/// `{alg, kid, typ: JWT}`.
pub fn signed(kid: &str, key: &Key, payload: &Value) -> String {
    let header = json!({ "alg": key.alg(), "kid": kid, "typ": "JWT" });
    sign(&header, payload, key, key.alg())
}

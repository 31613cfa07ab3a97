//! Keys, tokens and a verification pipeline shared by the unit tests of `jwt` and `jwks`.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::alg::{ec::EcCurve, ec::EcKeyPair, ed::EdCurve, ed::EdKeyPair};
use josekit::jwk::KeyPair;
use josekit::jws::{self, JwsSigner};
use serde_json::{json, Value};

use super::{AlgSet, Issuer, Jws, KeySet, Policy};
use crate::verify::{Claims, VerifyError};

pub(crate) const ISS: &str = "https://issuer.example";
pub(crate) const NOW: u64 = 1_700_000_000;

pub(crate) struct Keys {
    pub(crate) rsa: RsaKeyPair,
    pub(crate) ec: EcKeyPair,
    pub(crate) ed: EdKeyPair,
}

/// Key generation is slow; every test shares one set.
pub(crate) fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa: RsaKeyPair::generate(2048).expect("rsa"),
        ec: EcKeyPair::generate(EcCurve::P256).expect("ec"),
        ed: EdKeyPair::generate(EdCurve::Ed25519).expect("ed"),
    })
}

pub(crate) fn public(pair: &dyn KeyPair, kid: &str) -> Value {
    let mut jwk = pair.to_jwk_public_key();
    jwk.set_key_id(kid);
    Value::Object(jwk.into())
}

pub(crate) fn jwks() -> String {
    let k = keys();
    json!({ "keys": [public(&k.rsa, "rsa"), public(&k.ec, "ec"), public(&k.ed, "ed")] }).to_string()
}

pub(crate) fn signer(alg: &str) -> Box<dyn JwsSigner> {
    let k = keys();
    match alg {
        "RS256" => Box::new(
            jws::RS256
                .signer_from_jwk(&k.rsa.to_jwk_private_key())
                .unwrap(),
        ),
        "PS256" => Box::new(
            jws::PS256
                .signer_from_jwk(&k.rsa.to_jwk_private_key())
                .unwrap(),
        ),
        "ES256" => Box::new(
            jws::ES256
                .signer_from_jwk(&k.ec.to_jwk_private_key())
                .unwrap(),
        ),
        "EdDSA" => Box::new(
            jws::EdDSA
                .signer_from_jwk(&k.ed.to_jwk_private_key())
                .unwrap(),
        ),
        other => panic!("no test signer for {other}"),
    }
}

/// Signs `header` + `payload` as given, so tests can build any header they like.
pub(crate) fn sign_with(header: &Value, payload: &Value, alg: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let signature = signer(alg).sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

pub(crate) fn good_payload() -> Value {
    json!({ "iss": ISS, "sub": "user-1", "aud": "api", "exp": NOW + 600, "iat": NOW - 10 })
}

pub(crate) fn token(kid: &str, alg: &str, payload: &Value) -> String {
    sign_with(
        &json!({ "alg": alg, "kid": kid, "typ": "at+jwt" }),
        payload,
        alg,
    )
}

pub(crate) fn policy() -> Policy {
    Policy {
        issuer: Issuer::Exact(ISS.into()),
        audiences: vec!["api".into()],
        algorithms: AlgSet::all(),
        leeway: 60,
        typ: None,
        client: None,
        refuse_client_credentials: false,
    }
}

pub(crate) fn key_set() -> &'static KeySet {
    static SET: OnceLock<KeySet> = OnceLock::new();
    SET.get_or_init(|| KeySet::from_jwks(jwks().as_bytes(), AlgSet::all(), 100).unwrap())
}

pub(crate) fn check_with(
    token: &str,
    policy: &Policy,
    keys: &KeySet,
    now: u64,
) -> Result<Claims, VerifyError> {
    let jws = Jws::decode(token, policy)?;
    let verifier = keys.select(jws.kid(), jws.alg())?;
    jws.verify(verifier, policy, now)
}

pub(crate) fn check(token: &str) -> Result<Claims, VerifyError> {
    check_with(token, &policy(), key_set(), NOW)
}

pub(crate) fn with(claim: &str, value: Value) -> Value {
    let mut payload = good_payload();
    payload[claim] = value;
    payload
}

pub(crate) fn without(claim: &str) -> Value {
    let mut payload = good_payload();
    payload.as_object_mut().unwrap().remove(claim);
    payload
}

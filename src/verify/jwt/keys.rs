//! A JWKS turned into verifiers, built once per (key, algorithm) when the set is loaded, and
//! the choice of one for a token's `kid` and `alg`.

use std::fmt;

use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use serde::Deserialize;
use serde_json::Value;

use super::{AlgSet, Algorithm};
use crate::verify::VerifyError;

/// One usable (key, algorithm) pair with its verifier built once, when the key set was loaded.
struct KeyEntry {
    kid: Option<String>,
    alg: Algorithm,
    verifier: Box<dyn JwsVerifier>,
}

/// The keys of a JWKS, as prebuilt verifiers.
pub(crate) struct KeySet {
    entries: Vec<KeyEntry>,
    keys: usize,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// Why a JWKS document could not be used at all. Single unusable keys are skipped, not errors.
#[derive(Debug, Clone, PartialEq, Eq, derive_more::Display)]
pub(crate) enum KeySetError {
    #[display("not a JWK set: {_0}")]
    NotAJwkSet(String),
    #[display("no usable signing key")]
    NoUsableKey,
}

#[derive(Deserialize)]
struct JwkSetDoc {
    keys: Vec<Value>,
}

impl KeySet {
    /// Parses a JWKS document and builds one verifier per usable (key, algorithm) pair.
    ///
    /// Skipped with a warning, never fatal: keys not meant for signatures (`use` other than
    /// `sig`), of an unsupported type or curve, whose `alg` is outside `allowed`, or malformed.
    /// An RSA key without `alg` gets a verifier for each allowed RSA algorithm. At most
    /// `max_keys` keys are used: building a verifier costs a key parse each, and no provider
    /// publishes more than a handful; the rest are ignored with a warning.
    pub(crate) fn from_jwks(
        json: &[u8],
        allowed: AlgSet,
        max_keys: usize,
    ) -> Result<Self, KeySetError> {
        let doc: JwkSetDoc =
            serde_json::from_slice(json).map_err(|e| KeySetError::NotAJwkSet(e.to_string()))?;
        let mut set = KeySet {
            entries: Vec::new(),
            keys: 0,
        };
        let offered = doc.keys.len();
        for (index, key) in doc.keys.into_iter().enumerate() {
            if set.keys >= max_keys {
                log::warn!(
                    "JWKS offers {offered} keys: the first {max_keys} usable ones are used, \
                     key #{index} and after are ignored"
                );
                break;
            }
            let before = set.entries.len();
            if let Err(reason) = set.add(key, allowed) {
                log::warn!("JWKS key #{index} skipped: {reason}");
            }
            if set.entries.len() > before {
                set.keys += 1;
            }
        }
        if set.entries.is_empty() {
            return Err(KeySetError::NoUsableKey);
        }
        Ok(set)
    }

    fn add(&mut self, key: Value, allowed: AlgSet) -> Result<(), String> {
        let Value::Object(map) = key else {
            return Err("not a JSON object".into());
        };
        let jwk = Jwk::from_map(map).map_err(|e| e.to_string())?;
        if let Some(usage) = jwk.key_use() {
            if usage != "sig" {
                return Err(format!("`use` is {usage:?}, not \"sig\""));
            }
        }
        let candidates = candidate_algorithms(&jwk)?;
        let kid = jwk.key_id().map(str::to_owned);
        let mut added = false;
        let mut last_error = None;
        for alg in candidates.iter().filter(|alg| allowed.contains(*alg)) {
            if self
                .entries
                .iter()
                .any(|e| e.alg == alg && e.kid.as_deref() == kid.as_deref())
            {
                return Err(format!("duplicate key for kid {kid:?} and {alg}"));
            }
            match alg.verifier(&jwk) {
                Ok(verifier) => {
                    self.entries.push(KeyEntry {
                        kid: kid.clone(),
                        alg,
                        verifier,
                    });
                    added = true;
                }
                Err(e) => last_error = Some(e.to_string()),
            }
        }
        match (added, last_error) {
            (true, _) => Ok(()),
            (false, Some(e)) => Err(e),
            (false, None) => Err("no allowed algorithm fits the key".into()),
        }
    }

    /// The verifier for a token's `kid` and `alg`.
    ///
    /// With a `kid`: the key of that id for that algorithm. A `kid` that is absent from the set
    /// is [`VerifyError::UnknownKey`] (a refetch may help); a `kid` that names a key of another
    /// type or curve, or whose JWK `alg` differs, is [`VerifyError::Algorithm`] (a refetch will
    /// not help, and the token tries to use a key for what it is not for). Without a `kid`: the
    /// only key that fits the algorithm; none or several is `UnknownKey`.
    pub(crate) fn select(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<&dyn JwsVerifier, VerifyError> {
        match kid {
            Some(kid) => {
                let mut named = false;
                for entry in self
                    .entries
                    .iter()
                    .filter(|e| e.kid.as_deref() == Some(kid))
                {
                    if entry.alg == alg {
                        return Ok(&*entry.verifier);
                    }
                    named = true;
                }
                Err(if named {
                    VerifyError::Algorithm
                } else {
                    VerifyError::UnknownKey
                })
            }
            None => {
                let mut fitting = self.entries.iter().filter(|e| e.alg == alg);
                match (fitting.next(), fitting.next()) {
                    (Some(entry), None) => Ok(&*entry.verifier),
                    _ => Err(VerifyError::UnknownKey),
                }
            }
        }
    }

    /// The number of usable keys (not verifiers).
    pub(crate) fn len(&self) -> usize {
        self.keys
    }
}

/// The algorithms a JWK may be used with, from its `kty`, `crv` and `alg`.
fn candidate_algorithms(jwk: &Jwk) -> Result<AlgSet, String> {
    let by_type: AlgSet = match (jwk.key_type(), jwk.curve()) {
        ("RSA", _) => Algorithm::ALL.into_iter().filter(|a| a.is_rsa()).collect(),
        ("EC", Some("P-256")) => AlgSet::from_iter([Algorithm::ES256]),
        ("EC", Some("P-384")) => AlgSet::from_iter([Algorithm::ES384]),
        ("OKP", Some("Ed25519" | "Ed448")) => AlgSet::from_iter([Algorithm::EdDSA]),
        (kty, crv) => return Err(format!("unsupported key type {kty:?} / curve {crv:?}")),
    };
    match jwk.algorithm() {
        None => Ok(by_type),
        Some(name) => match Algorithm::from_name(name) {
            Some(alg) if by_type.contains(alg) => Ok(AlgSet::from_iter([alg])),
            _ => Err(format!("`alg` {name:?} does not fit the key")),
        },
    }
}

#[cfg(test)]
mod tests {
    use josekit::jwk::KeyPair;
    use serde_json::json;

    use super::super::testing::*;
    use super::*;

    #[test]
    fn an_unknown_kid_is_unknown_key_and_a_kid_of_another_type_is_algorithm() {
        assert_eq!(
            check(&token("nope", "RS256", &good_payload())).unwrap_err(),
            VerifyError::UnknownKey
        );
        // Signed with the RSA key but claiming the EC key's kid.
        let confused = sign_with(
            &json!({ "alg": "RS256", "kid": "ec" }),
            &good_payload(),
            "RS256",
        );
        assert_eq!(check(&confused).unwrap_err(), VerifyError::Algorithm);
        let confused = sign_with(
            &json!({ "alg": "ES256", "kid": "rsa" }),
            &good_payload(),
            "ES256",
        );
        assert_eq!(check(&confused).unwrap_err(), VerifyError::Algorithm);
    }

    #[test]
    fn a_kid_whose_jwk_alg_differs_is_algorithm() {
        let mut jwk = keys().rsa.to_jwk_public_key();
        jwk.set_key_id("rsa");
        jwk.set_algorithm("PS256");
        let set = json!({ "keys": [Value::Object(jwk.into())] }).to_string();
        let keys = KeySet::from_jwks(set.as_bytes(), AlgSet::all(), 100).unwrap();
        let rs = token("rsa", "RS256", &good_payload());
        assert_eq!(
            check_with(&rs, &policy(), &keys, NOW).unwrap_err(),
            VerifyError::Algorithm
        );
        assert!(check_with(
            &token("rsa", "PS256", &good_payload()),
            &policy(),
            &keys,
            NOW
        )
        .is_ok());
    }

    #[test]
    fn without_kid_only_a_single_fitting_key_is_used() {
        let no_kid = |alg: &str| sign_with(&json!({ "alg": alg }), &good_payload(), alg);
        assert!(check(&no_kid("ES256")).is_ok());
        let k = keys();
        let two_ec = json!({ "keys": [public(&k.ec, "a"), public(&k.ec, "b")] }).to_string();
        let keys = KeySet::from_jwks(two_ec.as_bytes(), AlgSet::all(), 100).unwrap();
        assert_eq!(
            check_with(&no_kid("ES256"), &policy(), &keys, NOW).unwrap_err(),
            VerifyError::UnknownKey
        );
    }

    #[test]
    fn unusable_keys_are_skipped_and_an_empty_set_is_an_error() {
        let k = keys();
        let mut enc = k.rsa.to_jwk_public_key();
        enc.set_key_use("enc");
        enc.set_key_id("enc");
        let set = json!({ "keys": [
            Value::Object(enc.into()),
            { "kty": "oct", "k": "c2VjcmV0", "kid": "hmac" },
            { "kty": "RSA", "kid": "broken", "n": 5, "e": "AQAB" },
            { "kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA" },
            "not an object",
            public(&k.ec, "ec"),
        ]})
        .to_string();
        let keys = KeySet::from_jwks(set.as_bytes(), AlgSet::all(), 100).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(
            keys.select(Some("enc"), Algorithm::RS256).unwrap_err(),
            VerifyError::UnknownKey
        );
        assert!(keys.select(Some("ec"), Algorithm::ES256).is_ok());

        let only_rsa = AlgSet::from_iter([Algorithm::RS256]);
        let ec_only = json!({ "keys": [public(&k.ec, "ec")] }).to_string();
        assert_eq!(
            KeySet::from_jwks(ec_only.as_bytes(), only_rsa, 100).unwrap_err(),
            KeySetError::NoUsableKey
        );
        assert!(matches!(
            KeySet::from_jwks(b"{\"keys\": 5}", AlgSet::all(), 100),
            Err(KeySetError::NotAJwkSet(_))
        ));
        assert!(matches!(
            KeySet::from_jwks(b"[]", AlgSet::all(), 100),
            Err(KeySetError::NotAJwkSet(_))
        ));
    }

    #[test]
    fn an_rsa_key_without_alg_serves_every_allowed_rsa_algorithm_only() {
        let rs_only = AlgSet::from_iter([Algorithm::RS256, Algorithm::ES256]);
        let keys = KeySet::from_jwks(jwks().as_bytes(), rs_only, 100).unwrap();
        assert!(keys.select(Some("rsa"), Algorithm::RS256).is_ok());
        assert_eq!(
            keys.select(Some("rsa"), Algorithm::PS256).unwrap_err(),
            VerifyError::Algorithm
        );
        assert_eq!(keys.len(), 2);
    }
}

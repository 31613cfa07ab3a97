//! The hot path of JWT verification: strict compact-JWS decoding (here), key selection among
//! prebuilt verifiers (`keys`), and our own typed claim checks (`claims`). Pure code: no I/O,
//! and time comes in as an argument.
//!
//! josekit is used for what it is good at (turning a JWK into an OpenSSL public key and checking
//! a signature) and nothing else: its header, payload and validator types parse more than we
//! need and accept tokens we must refuse (no `exp`, no `aud`, no leeway).

use std::borrow::Cow;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsVerifier};
use serde::de::IgnoredAny;
use serde::{de::DeserializeOwned, Deserialize, Deserializer};

use self::claims::{check_claims, Registered};
pub(crate) use self::issuer::Issuer;
pub use self::issuer::IssuerPolicy;
pub(crate) use self::keys::KeySet;
use super::client::ClientRule;
use super::{Claims, VerifyError};

mod claims;
mod issuer;
mod keys;
#[cfg(test)]
pub(crate) mod testing;

/// Bearer tokens larger than this are refused before any decoding, by the middleware and by every
/// verifier: real access tokens are a few KiB at most, and the limit bounds the work an
/// anonymous request can cause.
pub(crate) const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A JWS signature algorithm this crate verifies.
///
/// Only asymmetric algorithms exist here: `none` and the HMAC family (`HS256`, ...) are refused
/// whatever the configuration, since a verifier holding only public keys must never accept a
/// token "signed" with one of them.
#[allow(clippy::upper_case_acronyms)] // the JOSE names, as written in the `alg` header
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA (Ed25519 or Ed448).
    EdDSA,
}

impl Algorithm {
    /// Every supported algorithm: the default allow-list.
    pub const ALL: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The name used in the JOSE `alg` header and JWK parameter.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The algorithm called `name` (exact, case-sensitive, as RFC 7515 requires).
    pub(crate) fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|alg| alg.name() == name)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    fn is_rsa(self) -> bool {
        matches!(
            self,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        )
    }

    /// Builds the verifier for this algorithm from a public JWK. josekit checks that the key
    /// type, curve, `use`, `key_ops` and `alg` of the JWK fit the algorithm, and that an RSA
    /// modulus has at least 2048 bits.
    fn verifier(self, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, josekit::JoseError> {
        Ok(match self {
            Algorithm::RS256 => Box::new(jws::RS256.verifier_from_jwk(jwk)?),
            Algorithm::RS384 => Box::new(jws::RS384.verifier_from_jwk(jwk)?),
            Algorithm::RS512 => Box::new(jws::RS512.verifier_from_jwk(jwk)?),
            Algorithm::PS256 => Box::new(jws::PS256.verifier_from_jwk(jwk)?),
            Algorithm::PS384 => Box::new(jws::PS384.verifier_from_jwk(jwk)?),
            Algorithm::PS512 => Box::new(jws::PS512.verifier_from_jwk(jwk)?),
            Algorithm::ES256 => Box::new(jws::ES256.verifier_from_jwk(jwk)?),
            Algorithm::ES384 => Box::new(jws::ES384.verifier_from_jwk(jwk)?),
            Algorithm::EdDSA => Box::new(jws::EdDSA.verifier_from_jwk(jwk)?),
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of algorithms, as a bit mask so the per-request check is one AND.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct AlgSet(u16);

impl AlgSet {
    pub(crate) fn all() -> Self {
        Self::from_iter(Algorithm::ALL)
    }

    pub(crate) fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(crate) fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |alg| self.contains(*alg))
    }
}

impl FromIterator<Algorithm> for AlgSet {
    fn from_iter<I: IntoIterator<Item = Algorithm>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |mask, alg| mask | alg.bit()))
    }
}

impl fmt::Debug for AlgSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// What a token must satisfy besides its signature.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// Exact: compared to `iss` as a string, no normalisation, a trailing slash differs.
    pub(crate) issuer: Issuer,
    /// Empty: `aud` is not checked.
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: AlgSet,
    /// Seconds of clock skew tolerated on `exp`, `nbf` and `iat`.
    pub(crate) leeway: u64,
    /// Required header `typ`, lower case and without the `application/` prefix. `None`: the
    /// header may be absent, `JWT` or `at+jwt`, and any other type is refused.
    pub(crate) typ: Option<String>,
    /// The client tokens must name, when they name one.
    pub(crate) client: Option<ClientRule>,
    /// Refuse tokens a client got for itself (`gty` = `client-credentials`, as Auth0 writes).
    pub(crate) refuse_client_credentials: bool,
}

/// Normalises a media type as RFC 7515 §4.1.9 allows `typ` to be written: case-insensitive,
/// `application/` optional.
pub(crate) fn normalize_typ(typ: &str) -> String {
    strip_application(typ).to_ascii_lowercase()
}

fn strip_application(typ: &str) -> &str {
    const PREFIX: &str = "application/";
    match typ.get(..PREFIX.len()) {
        Some(head) if head.eq_ignore_ascii_case(PREFIX) => &typ[PREFIX.len()..],
        _ => typ,
    }
}

/// The header parameters we act on. Unknown parameters, `jku`, `x5u`, `jwk` and `x5c` among
/// them, are ignored: keys come only from the configured key set.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(default, borrow)]
    kid: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    typ: Option<Cow<'a, str>>,
    /// Present at all (even `null`) means the token relies on an extension we do not implement.
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

/// A compact JWS whose structure and header passed every check; the signature is not checked yet.
pub(crate) struct Jws<'t> {
    alg: Algorithm,
    kid: Option<String>,
    signing_input: &'t str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl fmt::Debug for Jws<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jws")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl<'t> Jws<'t> {
    /// Decodes `token` strictly and checks its header against `policy`: size, exactly three
    /// segments, unpadded base64url, a JSON header without `crit`, an allowed `alg`, and the
    /// required `typ`.
    pub(crate) fn decode(token: &'t str, policy: &Policy) -> Result<Self, VerifyError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(VerifyError::Malformed("token too large"));
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed("not three segments"));
        };
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];

        let header_bytes = b64(header_b64, "header is not base64url")?;
        // As text first: serde_json skips an unknown member's value without checking that it
        // is UTF-8, and JSON is UTF-8 (RFC 8259 §8.1, RFC 7515 §4).
        let header_text = std::str::from_utf8(&header_bytes)
            .map_err(|_| VerifyError::Malformed("header is not UTF-8"))?;
        let header: Header<'_> = serde_json::from_str(header_text)
            .map_err(|_| VerifyError::Malformed("header is not a JSON object"))?;
        if header.crit {
            return Err(VerifyError::Malformed("critical header extension"));
        }
        let alg = Algorithm::from_name(&header.alg)
            .filter(|alg| policy.algorithms.contains(*alg))
            .ok_or(VerifyError::Algorithm)?;
        let typ = header.typ.as_deref().map(strip_application);
        match (&policy.typ, typ) {
            (Some(expected), typ) => {
                if !typ.is_some_and(|typ| typ.eq_ignore_ascii_case(expected)) {
                    return Err(VerifyError::InvalidClaim("typ"));
                }
            }
            // RFC 9068's `at+jwt`, the generic `JWT`, or nothing: what access tokens carry.
            // Anything else is a JWT of another kind (a logout token, a client assertion, ...).
            (None, None) => {}
            (None, Some(typ)) => {
                if !(typ.eq_ignore_ascii_case("jwt") || typ.eq_ignore_ascii_case("at+jwt")) {
                    return Err(VerifyError::NotAccessToken(
                        "the `typ` header names another kind of JWT",
                    ));
                }
            }
        }
        Ok(Self {
            alg,
            kid: header.kid.map(Cow::into_owned),
            signing_input,
            payload: b64(payload_b64, "payload is not base64url")?,
            signature: b64(signature_b64, "signature is not base64url")?,
        })
    }

    pub(crate) fn alg(&self) -> Algorithm {
        self.alg
    }

    pub(crate) fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Checks the signature with `verifier`, then the registered claims. The payload is parsed
    /// once, into the few claims we check; the full map is built only if someone reads it.
    pub(crate) fn verify(
        self,
        verifier: &dyn JwsVerifier,
        policy: &Policy,
        now: u64,
    ) -> Result<Claims, VerifyError> {
        verifier
            .verify(self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| VerifyError::Signature)?;
        // A struct also deserializes from a JSON array; the payload must be an object.
        if self.payload.trim_ascii_start().first() != Some(&b'{') {
            return Err(VerifyError::Malformed("payload is not a JSON object"));
        }
        let exp = {
            let registered: Registered<'_> = serde_json::from_slice(&self.payload)
                .map_err(|_| VerifyError::Malformed("payload is not a JSON object"))?;
            check_claims(&registered, &self.payload, policy, now)?
        };
        // The typed read above skips the claims it does not check without validating them, and
        // `Claims` reads the whole map only on first use: a payload with invalid UTF-8, a bad
        // escape or nesting past serde_json's limit in an unchecked claim would pass here and
        // then read as an empty map. Walk it all once (no allocation) so that it cannot.
        serde_json::from_slice::<Walk>(&self.payload)
            .map_err(|_| VerifyError::Malformed("payload is not valid JSON"))?;
        Ok(Claims::from_verified_json(self.payload, exp))
    }
}

/// A JSON value read in full and thrown away: every string validated, every level counted
/// against the nesting limit, exactly as reading it into a `serde_json::Map` would.
struct Walk;

impl<'de> Deserialize<'de> for Walk {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Walk)
    }
}

impl<'de> serde::de::Visitor<'de> for Walk {
    type Value = Walk;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Walk, E> {
        Ok(Walk)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Walk, E> {
        Ok(Walk)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Walk, E> {
        Ok(Walk)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Walk, E> {
        Ok(Walk)
    }

    fn visit_str<E>(self, _: &str) -> Result<Walk, E> {
        Ok(Walk)
    }

    fn visit_unit<E>(self) -> Result<Walk, E> {
        Ok(Walk)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Walk, A::Error> {
        while seq.next_element::<Walk>()?.is_some() {}
        Ok(Walk)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Walk, A::Error> {
        while map.next_entry::<Walk, Walk>()?.is_some() {}
        Ok(Walk)
    }
}

/// The payload of `token` read as `T` **before any check**: for a verifier that refuses early
/// on something the token names (a tenant that is not allowed), never for accepting anything.
/// The size limit and base64url strictness are those of [`Jws::decode`].
pub(crate) fn peek_payload<T: DeserializeOwned>(token: &str) -> Result<T, VerifyError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(VerifyError::Malformed("token too large"));
    }
    let payload = token
        .split('.')
        .nth(1)
        .ok_or(VerifyError::Malformed("not a JWT"))?;
    let bytes = b64(payload, "payload is not base64url")?;
    serde_json::from_slice(&bytes)
        .map_err(|_| VerifyError::Malformed("payload is not a claims object"))
}

fn b64(segment: &str, what: &'static str) -> Result<Vec<u8>, VerifyError> {
    // The standard engine without padding rejects `=`, `+`, `/`, whitespace and non-canonical
    // trailing bits, which is the strictness RFC 7515 §2 asks for.
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| VerifyError::Malformed(what))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::testing::*;
    use super::*;

    #[test]
    fn good_tokens_of_every_key_type_verify_and_return_the_payload() {
        for (kid, alg) in [
            ("rsa", "RS256"),
            ("rsa", "PS256"),
            ("ec", "ES256"),
            ("ed", "EdDSA"),
        ] {
            let claims =
                check(&token(kid, alg, &good_payload())).unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(claims.get_str("sub"), Some("user-1"));
            assert_eq!(claims.as_map(), good_payload().as_object().unwrap());
        }
    }

    #[test]
    fn oversized_tokens_are_refused_before_decoding() {
        let big = format!("{}.{}.{}", "a".repeat(MAX_TOKEN_BYTES), "a", "a");
        assert_eq!(
            check(&big).unwrap_err(),
            VerifyError::Malformed("token too large")
        );
    }

    #[test]
    fn anything_but_three_segments_is_malformed() {
        let good = token("rsa", "RS256", &good_payload());
        let two = good.rsplit_once('.').unwrap().0;
        for bad in [
            two.to_owned(),
            format!("{good}.extra"),
            format!("{good}.a.b"),
            String::new(),
        ] {
            assert_eq!(
                check(&bad).unwrap_err(),
                VerifyError::Malformed("not three segments")
            );
        }
    }

    #[test]
    fn non_base64url_characters_and_padding_are_malformed() {
        let good = token("rsa", "RS256", &good_payload());
        let (rest, signature) = good.rsplit_once('.').unwrap();
        for bad in [
            format!("{rest}.{signature}="),
            format!("{rest}.+{signature}"),
            format!("{rest}.{} ", signature),
            format!("{}/.{}", rest, signature),
        ] {
            assert!(
                matches!(check(&bad).unwrap_err(), VerifyError::Malformed(_)),
                "{bad}"
            );
        }
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#);
        assert!(matches!(
            check(&format!("{header}==.e30.AA")),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn a_header_that_is_not_a_json_object_or_has_typed_fields_wrong_is_malformed() {
        for header in [
            json!("RS256"),
            json!({ "alg": 256 }),
            json!({ "alg": "RS256", "kid": 7 }),
            json!({}),
        ] {
            let bad = sign_with(&header, &good_payload(), "RS256");
            assert!(
                matches!(check(&bad), Err(VerifyError::Malformed(_))),
                "{header}"
            );
        }
    }

    #[test]
    fn a_crit_header_is_refused_even_when_null() {
        for crit in [json!(["exp"]), Value::Null] {
            let bad = sign_with(
                &json!({ "alg": "RS256", "kid": "rsa", "crit": crit }),
                &good_payload(),
                "RS256",
            );
            assert_eq!(
                check(&bad).unwrap_err(),
                VerifyError::Malformed("critical header extension")
            );
        }
    }

    #[test]
    fn none_and_hmac_are_refused_whatever_the_allow_list() {
        let payload = URL_SAFE_NO_PAD.encode(good_payload().to_string());
        for alg in [
            "none", "HS256", "HS384", "HS512", "hs256", "RS256 ", "ES512",
        ] {
            let header = URL_SAFE_NO_PAD.encode(json!({ "alg": alg, "kid": "rsa" }).to_string());
            assert_eq!(
                check(&format!("{header}.{payload}.")).unwrap_err(),
                VerifyError::Algorithm,
                "{alg}"
            );
        }
    }

    #[test]
    fn hs256_signed_with_the_rsa_public_key_is_refused() {
        // The classic key-confusion attack: the public key bytes used as an HMAC secret.
        let secret = keys().rsa.to_pem_public_key();
        let signer = jws::HS256.signer_from_bytes(&secret).unwrap();
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(json!({ "alg": "HS256", "kid": "rsa" }).to_string()),
            URL_SAFE_NO_PAD.encode(good_payload().to_string())
        );
        let bad = format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(signer.sign(input.as_bytes()).unwrap())
        );
        assert_eq!(check(&bad).unwrap_err(), VerifyError::Algorithm);
    }

    #[test]
    fn an_algorithm_outside_the_allow_list_is_refused() {
        let only_es256 = Policy {
            algorithms: AlgSet::from_iter([Algorithm::ES256]),
            ..policy()
        };
        let rs = token("rsa", "RS256", &good_payload());
        assert_eq!(
            check_with(&rs, &only_es256, key_set(), NOW).unwrap_err(),
            VerifyError::Algorithm
        );
        let es = token("ec", "ES256", &good_payload());
        assert!(check_with(&es, &only_es256, key_set(), NOW).is_ok());
    }

    #[test]
    fn jku_jwk_x5u_and_x5c_headers_are_ignored() {
        let header = json!({
            "alg": "RS256", "kid": "rsa",
            "jku": "https://attacker.example/jwks.json",
            "x5u": "https://attacker.example/cert.pem",
            "jwk": { "kty": "oct", "k": "AAAA" },
            "x5c": ["AAAA"],
        });
        // Signed by our key: accepted, and nothing was fetched (this module does no I/O).
        assert!(check(&sign_with(&header, &good_payload(), "RS256")).is_ok());
    }

    #[test]
    fn a_wrong_or_truncated_signature_is_refused() {
        let good = token("rsa", "RS256", &good_payload());
        let (rest, signature) = good.rsplit_once('.').unwrap();
        let mut short = URL_SAFE_NO_PAD.decode(signature).unwrap();
        short.truncate(short.len() - 3);
        let truncated = format!("{rest}.{}", URL_SAFE_NO_PAD.encode(short));
        assert_eq!(check(&truncated).unwrap_err(), VerifyError::Signature);
        let other = token("rsa", "RS256", &with("sub", json!("user-2")));
        let spliced = format!("{rest}.{}", other.rsplit_once('.').unwrap().1);
        assert_eq!(check(&spliced).unwrap_err(), VerifyError::Signature);
        let es = token("ec", "ES256", &good_payload());
        assert_eq!(
            check(&format!("{}.AAAA", es.rsplit_once('.').unwrap().0)).unwrap_err(),
            VerifyError::Signature
        );
    }

    #[test]
    fn a_signed_payload_that_is_not_an_object_is_malformed() {
        let bad = sign_with(
            &json!({ "alg": "RS256", "kid": "rsa" }),
            &json!([1, 2]),
            "RS256",
        );
        assert_eq!(
            check(&bad).unwrap_err(),
            VerifyError::Malformed("payload is not a JSON object")
        );
    }

    /// Found by the `jwt` fuzz target once it checked what it accepted: a right signature under
    /// a header whose unknown parameter held invalid UTF-8 was accepted (serde_json skips an
    /// ignored value without checking it).
    #[test]
    fn a_signed_token_whose_header_is_not_utf8_is_malformed() {
        let payload = URL_SAFE_NO_PAD.encode(good_payload().to_string());
        let sign = |header: &[u8]| {
            let input = format!("{}.{payload}", URL_SAFE_NO_PAD.encode(header));
            let signature = super::testing::signer("RS256")
                .sign(input.as_bytes())
                .unwrap();
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
        };
        let bad = sign(b"{\"alg\": \"RS256\", \"kid\": \"rsa\", \"x\": \"\x9dc\"}");
        assert_eq!(
            check(&bad).unwrap_err(),
            VerifyError::Malformed("header is not UTF-8")
        );
        let fine = sign(b"{\"alg\": \"RS256\", \"kid\": \"rsa\", \"x\": \"c\"}");
        assert!(check(&fine).is_ok());
    }

    /// Found by the `jwt` fuzz target: a right signature over a payload whose unchecked claim
    /// held invalid UTF-8 was accepted, and its claims then read as an empty map.
    #[test]
    fn a_signed_payload_with_an_unreadable_claim_is_malformed() {
        let good = good_payload().to_string();
        let body = &good[..good.len() - 1];
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let payloads: [Vec<u8>; 3] = [
            [body.as_bytes(), b",\"scope\":\"openid emai\x8a\"}"].concat(),
            format!("{body},\"nested\":{deep}}}").into_bytes(),
            format!("{body},\"name\":\"\\ud800\"}}").into_bytes(),
        ];
        let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "RS256", "kid": "rsa" }).to_string());
        for payload in payloads {
            let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(&payload));
            let signature = super::testing::signer("RS256")
                .sign(input.as_bytes())
                .unwrap();
            let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
            assert_eq!(
                check(&token).unwrap_err(),
                VerifyError::Malformed("payload is not valid JSON"),
                "{}",
                String::from_utf8_lossy(&payload)
            );
        }
        // The same with readable claims is accepted and reads in full.
        let fine = format!("{body},\"nested\":[[1]],\"name\":\"\\u00e9\"}}");
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(&fine));
        let signature = super::testing::signer("RS256")
            .sign(input.as_bytes())
            .unwrap();
        let claims = check(&format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))).unwrap();
        assert_eq!(claims.get_str("name"), Some("é"));
    }

    #[test]
    fn a_required_typ_is_compared_case_insensitively_with_an_optional_application_prefix() {
        let typed = Policy {
            typ: Some(normalize_typ("at+jwt")),
            ..policy()
        };
        let with_typ = |typ: Value| {
            let header = json!({ "alg": "RS256", "kid": "rsa", "typ": typ });
            check_with(
                &sign_with(&header, &good_payload(), "RS256"),
                &typed,
                key_set(),
                NOW,
            )
        };
        for ok in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+Jwt",
        ] {
            assert!(with_typ(json!(ok)).is_ok(), "{ok}");
        }
        for bad in ["JWT", "at+jwt2", "application/jwt", "xapplication/at+jwt"] {
            assert_eq!(
                with_typ(json!(bad)).unwrap_err(),
                VerifyError::InvalidClaim("typ"),
                "{bad}"
            );
        }
        let untyped = sign_with(
            &json!({ "alg": "RS256", "kid": "rsa" }),
            &good_payload(),
            "RS256",
        );
        assert_eq!(
            check_with(&untyped, &typed, key_set(), NOW).unwrap_err(),
            VerifyError::InvalidClaim("typ")
        );
        assert!(check(&untyped).is_ok());
    }

    #[test]
    fn without_a_required_typ_the_header_may_name_only_an_access_token_type() {
        let with_typ = |typ: Value| {
            let header = json!({ "alg": "RS256", "kid": "rsa", "typ": typ });
            check(&sign_with(&header, &good_payload(), "RS256"))
        };
        for ok in [
            "JWT",
            "jwt",
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "application/jwt",
        ] {
            assert!(with_typ(json!(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "logout+jwt",
            "secevent+jwt",
            "dpop+jwt",
            "JOSE",
            "",
            "at+jwt2",
        ] {
            assert_eq!(
                with_typ(json!(bad)).unwrap_err(),
                VerifyError::NotAccessToken("the `typ` header names another kind of JWT"),
                "{bad}"
            );
        }
        // A `JWT` header does not make an ID token an access token.
        let id_token = sign_with(
            &json!({ "alg": "RS256", "kid": "rsa", "typ": "JWT" }),
            &with("nonce", json!("n")),
            "RS256",
        );
        assert!(matches!(
            check(&id_token),
            Err(VerifyError::NotAccessToken(_))
        ));
    }
}

//! The hot path of JWT verification: strict compact-JWS decoding, key selection among prebuilt
//! verifiers, and our own typed claim checks. Pure code: no I/O, and time comes in as an argument.
//!
//! josekit is used for what it is good at (turning a JWK into an OpenSSL public key and checking
//! a signature) and nothing else: its header, payload and validator types parse more than we
//! need and accept tokens we must refuse (no `exp`, no `aud`, no leeway).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsVerifier};
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{Claims, VerifyError};

/// Tokens larger than this are refused before any decoding: real access tokens are a few KiB at
/// most, and the limit bounds the work an anonymous request can cause.
pub(crate) const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// 9999-12-31T23:59:59Z. A NumericDate beyond it is nonsense (`1e20`) rather than a long-lived
/// token, and refusing it keeps the float arithmetic below exact.
const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

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
    /// Compared to `iss` as an exact string: no normalisation, a trailing slash differs.
    pub(crate) issuer: String,
    /// Empty: `aud` is not checked.
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: AlgSet,
    /// Seconds of clock skew tolerated on `exp`, `nbf` and `iat`.
    pub(crate) leeway: u64,
    /// Required header `typ`, lower case and without the `application/` prefix.
    pub(crate) typ: Option<String>,
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
        let header: Header<'_> = serde_json::from_slice(&header_bytes)
            .map_err(|_| VerifyError::Malformed("header is not a JSON object"))?;
        if header.crit {
            return Err(VerifyError::Malformed("critical header extension"));
        }
        let alg = Algorithm::from_name(&header.alg)
            .filter(|alg| policy.algorithms.contains(*alg))
            .ok_or(VerifyError::Algorithm)?;
        if let Some(expected) = &policy.typ {
            let matches = header
                .typ
                .as_deref()
                .is_some_and(|typ| strip_application(typ).eq_ignore_ascii_case(expected));
            if !matches {
                return Err(VerifyError::InvalidClaim("typ"));
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
            check_claims(&registered, policy, now)?
        };
        Ok(Claims::from_verified_json(self.payload, exp))
    }
}

fn b64(segment: &str, what: &'static str) -> Result<Vec<u8>, VerifyError> {
    // The standard engine without padding rejects `=`, `+`, `/`, whitespace and non-canonical
    // trailing bits, which is the strictness RFC 7515 §2 asks for.
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| VerifyError::Malformed(what))
}

/// The registered claims we check, borrowed from the payload. Every field takes any JSON type
/// so that a wrong type is reported as that claim's error, not as a malformed payload; a claim
/// given twice is malformed.
#[derive(Deserialize)]
struct Registered<'a> {
    #[serde(default, borrow)]
    iss: Field<'a>,
    #[serde(default, borrow)]
    exp: Field<'a>,
    #[serde(default, borrow)]
    nbf: Field<'a>,
    #[serde(default, borrow)]
    iat: Field<'a>,
    #[serde(default, borrow)]
    aud: Audience<'a>,
}

/// One claim's value, reduced to what the checks need.
#[derive(Default)]
enum Field<'a> {
    #[default]
    Absent,
    Str(Cow<'a, str>),
    /// A non-negative integer, kept exact for [`Claims::expires_at`].
    Int(u64),
    Num(f64),
    /// `null`, a boolean, an array or an object.
    Other,
}

#[derive(Default)]
enum Audience<'a> {
    #[default]
    Absent,
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
    /// Not a string or an array of strings.
    Invalid,
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor(PhantomData))
    }
}

struct FieldVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for FieldVisitor<'a> {
    type Value = Field<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'a>, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Field<'a>, E> {
        Ok(Field::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Field<'a>, E> {
        Ok(Field::Int(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Field<'a>, E> {
        Ok(Field::Num(v as f64))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Field<'a>, E> {
        Ok(Field::Num(v))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Field<'a>, E> {
        Ok(Field::Other)
    }

    fn visit_unit<E>(self) -> Result<Field<'a>, E> {
        Ok(Field::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'a>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'a>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Audience<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match d.deserialize_any(AudienceVisitor(PhantomData))? {
            Some(audience) => audience,
            None => Audience::Invalid,
        })
    }
}

struct AudienceVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for AudienceVisitor<'a> {
    /// `None`: a value of the wrong type, consumed.
    type Value = Option<Audience<'a>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut all = Vec::with_capacity(seq.size_hint().unwrap_or(2));
        let mut valid = true;
        while let Some(item) = seq.next_element::<Field<'a>>()? {
            match item {
                Field::Str(aud) => all.push(aud),
                _ => valid = false,
            }
        }
        Ok(valid.then_some(Audience::Many(all)))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Audience::One(Cow::Borrowed(v))))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Audience::One(Cow::Owned(v.to_owned()))))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// The registered-claim checks. `iss` and `exp` are required; `nbf` and `iat` are checked when
/// present; `aud` when audiences are configured. Returns `exp` when it is an integer.
fn check_claims(
    claims: &Registered<'_>,
    policy: &Policy,
    now: u64,
) -> Result<Option<u64>, VerifyError> {
    let now = now as f64;
    let leeway = policy.leeway as f64;

    let exp = numeric_date(&claims.exp, "exp")?.ok_or(VerifyError::InvalidClaim("exp"))?;
    // RFC 7519 §4.1.4: the token is valid only *before* `exp`.
    if now >= exp + leeway {
        return Err(VerifyError::Expired);
    }
    for (field, name) in [(&claims.nbf, "nbf"), (&claims.iat, "iat")] {
        if let Some(at) = numeric_date(field, name)? {
            if at > now + leeway {
                return Err(VerifyError::NotYetValid);
            }
        }
    }

    match &claims.iss {
        Field::Str(iss) if *iss == policy.issuer => {}
        Field::Str(_) | Field::Absent => return Err(VerifyError::Issuer),
        _ => return Err(VerifyError::InvalidClaim("iss")),
    }

    if !policy.audiences.is_empty() {
        let accepted = |aud: &str| policy.audiences.iter().any(|a| a == aud);
        let ok = match &claims.aud {
            Audience::Absent => false,
            Audience::One(aud) => accepted(aud),
            Audience::Many(auds) => auds.iter().any(|aud| accepted(aud)),
            Audience::Invalid => return Err(VerifyError::InvalidClaim("aud")),
        };
        if !ok {
            return Err(VerifyError::Audience);
        }
    }
    Ok(match claims.exp {
        Field::Int(exp) => Some(exp),
        _ => None,
    })
}

/// A NumericDate claim: absent, or a finite number of seconds in `0..=9999-12-31`.
fn numeric_date(field: &Field<'_>, name: &'static str) -> Result<Option<f64>, VerifyError> {
    let at = match field {
        Field::Absent => return Ok(None),
        Field::Int(at) => *at as f64,
        Field::Num(at) => *at,
        Field::Str(_) | Field::Other => return Err(VerifyError::InvalidClaim(name)),
    };
    if at.is_finite() && (0.0..=MAX_NUMERIC_DATE).contains(&at) {
        Ok(Some(at))
    } else {
        Err(VerifyError::InvalidClaim(name))
    }
}

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
    /// An RSA key without `alg` gets a verifier for each allowed RSA algorithm.
    pub(crate) fn from_jwks(json: &[u8], allowed: AlgSet) -> Result<Self, KeySetError> {
        let doc: JwkSetDoc =
            serde_json::from_slice(json).map_err(|e| KeySetError::NotAJwkSet(e.to_string()))?;
        let mut set = KeySet {
            entries: Vec::new(),
            keys: 0,
        };
        for (index, key) in doc.keys.into_iter().enumerate() {
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
pub(crate) mod tests {
    use std::sync::OnceLock;

    use josekit::jwk::alg::rsa::RsaKeyPair;
    use josekit::jwk::alg::{ec::EcCurve, ec::EcKeyPair, ed::EdCurve, ed::EdKeyPair};
    use josekit::jwk::KeyPair;
    use josekit::jws::JwsSigner;
    use serde_json::json;

    use super::*;

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

    fn public(pair: &dyn KeyPair, kid: &str) -> Value {
        let mut jwk = pair.to_jwk_public_key();
        jwk.set_key_id(kid);
        Value::Object(jwk.into())
    }

    pub(crate) fn jwks() -> String {
        let k = keys();
        json!({ "keys": [public(&k.rsa, "rsa"), public(&k.ec, "ec"), public(&k.ed, "ed")] })
            .to_string()
    }

    fn signer(alg: &str) -> Box<dyn JwsSigner> {
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

    fn token(kid: &str, alg: &str, payload: &Value) -> String {
        sign_with(
            &json!({ "alg": alg, "kid": kid, "typ": "at+jwt" }),
            payload,
            alg,
        )
    }

    fn policy() -> Policy {
        Policy {
            issuer: ISS.into(),
            audiences: vec!["api".into()],
            algorithms: AlgSet::all(),
            leeway: 60,
            typ: None,
        }
    }

    fn key_set() -> &'static KeySet {
        static SET: OnceLock<KeySet> = OnceLock::new();
        SET.get_or_init(|| KeySet::from_jwks(jwks().as_bytes(), AlgSet::all()).unwrap())
    }

    fn check_with(
        token: &str,
        policy: &Policy,
        keys: &KeySet,
        now: u64,
    ) -> Result<Claims, VerifyError> {
        let jws = Jws::decode(token, policy)?;
        let verifier = keys.select(jws.kid(), jws.alg())?;
        jws.verify(verifier, policy, now)
    }

    fn check(token: &str) -> Result<Claims, VerifyError> {
        check_with(token, &policy(), key_set(), NOW)
    }

    fn with(claim: &str, value: Value) -> Value {
        let mut payload = good_payload();
        payload[claim] = value;
        payload
    }

    fn without(claim: &str) -> Value {
        let mut payload = good_payload();
        payload.as_object_mut().unwrap().remove(claim);
        payload
    }

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
        let keys = KeySet::from_jwks(set.as_bytes(), AlgSet::all()).unwrap();
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
        let keys = KeySet::from_jwks(two_ec.as_bytes(), AlgSet::all()).unwrap();
        assert_eq!(
            check_with(&no_kid("ES256"), &policy(), &keys, NOW).unwrap_err(),
            VerifyError::UnknownKey
        );
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

    #[test]
    fn a_payload_with_a_registered_claim_twice_is_malformed() {
        let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "RS256", "kid": "rsa" }).to_string());
        let payload = format!(
            r#"{{"iss":"{ISS}","aud":"api","exp":{},"exp":{}}}"#,
            NOW + 600,
            NOW + 999_999
        );
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let signature = signer("RS256").sign(input.as_bytes()).unwrap();
        let bad = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
        assert_eq!(
            check(&bad).unwrap_err(),
            VerifyError::Malformed("payload is not a JSON object")
        );
    }

    #[test]
    fn escaped_strings_compare_by_value_and_exp_is_kept_for_the_cache() {
        let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "RS256", "kid": "rsa" }).to_string());
        let payload = format!(
            r#"{{"iss":"https:\/\/issuer.example","aud":["\u0061pi"],"exp":{}}}"#,
            NOW + 600
        );
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(&payload));
        let signature = signer("RS256").sign(input.as_bytes()).unwrap();
        let claims = check(&format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))).unwrap();
        assert_eq!(claims.expires_at(), Some(NOW + 600));
        assert_eq!(claims.get_str("iss"), Some(ISS));
        let fractional = check(&token(
            "rsa",
            "RS256",
            &with("exp", json!(NOW as f64 + 600.5)),
        ))
        .unwrap();
        assert_eq!(fractional.expires_at(), None);
    }

    #[test]
    fn exp_is_required_and_must_be_a_sane_numeric_date() {
        for exp in [
            json!("1800000000"),
            json!(1e20),
            json!(-1),
            json!(null),
            json!(true),
            json!([NOW + 600]),
        ] {
            assert_eq!(
                check(&token("rsa", "RS256", &with("exp", exp.clone()))).unwrap_err(),
                VerifyError::InvalidClaim("exp"),
                "{exp}"
            );
        }
        assert_eq!(
            check(&token("rsa", "RS256", &without("exp"))).unwrap_err(),
            VerifyError::InvalidClaim("exp")
        );
        assert!(check(&token(
            "rsa",
            "RS256",
            &with("exp", json!((NOW + 600) as f64 + 0.5))
        ))
        .is_ok());
    }

    #[test]
    fn expiry_honours_the_leeway() {
        let t = |exp: u64| token("rsa", "RS256", &with("exp", json!(exp)));
        assert!(check(&t(NOW - 59)).is_ok());
        assert_eq!(check(&t(NOW - 60)).unwrap_err(), VerifyError::Expired);
        let strict = Policy {
            leeway: 0,
            ..policy()
        };
        assert_eq!(
            check_with(&t(NOW), &strict, key_set(), NOW).unwrap_err(),
            VerifyError::Expired
        );
        assert!(check_with(&t(NOW + 1), &strict, key_set(), NOW).is_ok());
    }

    #[test]
    fn nbf_and_iat_in_the_future_beyond_the_leeway_are_not_yet_valid() {
        for claim in ["nbf", "iat"] {
            assert!(check(&token("rsa", "RS256", &with(claim, json!(NOW + 60)))).is_ok());
            assert_eq!(
                check(&token("rsa", "RS256", &with(claim, json!(NOW + 61)))).unwrap_err(),
                VerifyError::NotYetValid
            );
            assert_eq!(
                check(&token("rsa", "RS256", &with(claim, json!("soon")))).unwrap_err(),
                VerifyError::InvalidClaim(claim)
            );
        }
        assert!(check(&token("rsa", "RS256", &without("iat"))).is_ok());
    }

    #[test]
    fn iss_must_match_exactly() {
        for iss in [
            json!("https://evil.example"),
            json!(format!("{ISS}/")),
            json!("HTTPS://issuer.example"),
        ] {
            assert_eq!(
                check(&token("rsa", "RS256", &with("iss", iss))).unwrap_err(),
                VerifyError::Issuer
            );
        }
        assert_eq!(
            check(&token("rsa", "RS256", &without("iss"))).unwrap_err(),
            VerifyError::Issuer
        );
        assert_eq!(
            check(&token("rsa", "RS256", &with("iss", json!(["x"])))).unwrap_err(),
            VerifyError::InvalidClaim("iss")
        );
    }

    #[test]
    fn aud_must_contain_a_configured_audience() {
        assert!(check(&token(
            "rsa",
            "RS256",
            &with("aud", json!(["other", "api"]))
        ))
        .is_ok());
        for aud in [json!("other"), json!([]), json!(["other"])] {
            assert_eq!(
                check(&token("rsa", "RS256", &with("aud", aud))).unwrap_err(),
                VerifyError::Audience
            );
        }
        assert_eq!(
            check(&token("rsa", "RS256", &without("aud"))).unwrap_err(),
            VerifyError::Audience
        );
        for aud in [json!(1), json!(["api", 2]), json!({ "api": true })] {
            assert_eq!(
                check(&token("rsa", "RS256", &with("aud", aud))).unwrap_err(),
                VerifyError::InvalidClaim("aud")
            );
        }
        let any_audience = Policy {
            audiences: vec![],
            ..policy()
        };
        assert!(check_with(
            &token("rsa", "RS256", &without("aud")),
            &any_audience,
            key_set(),
            NOW
        )
        .is_ok());
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
        let keys = KeySet::from_jwks(set.as_bytes(), AlgSet::all()).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(
            keys.select(Some("enc"), Algorithm::RS256).unwrap_err(),
            VerifyError::UnknownKey
        );
        assert!(keys.select(Some("ec"), Algorithm::ES256).is_ok());

        let only_rsa = AlgSet::from_iter([Algorithm::RS256]);
        let ec_only = json!({ "keys": [public(&k.ec, "ec")] }).to_string();
        assert_eq!(
            KeySet::from_jwks(ec_only.as_bytes(), only_rsa).unwrap_err(),
            KeySetError::NoUsableKey
        );
        assert!(matches!(
            KeySet::from_jwks(b"{\"keys\": 5}", AlgSet::all()),
            Err(KeySetError::NotAJwkSet(_))
        ));
        assert!(matches!(
            KeySet::from_jwks(b"[]", AlgSet::all()),
            Err(KeySetError::NotAJwkSet(_))
        ));
    }

    #[test]
    fn an_rsa_key_without_alg_serves_every_allowed_rsa_algorithm_only() {
        let rs_only = AlgSet::from_iter([Algorithm::RS256, Algorithm::ES256]);
        let keys = KeySet::from_jwks(jwks().as_bytes(), rs_only).unwrap();
        assert!(keys.select(Some("rsa"), Algorithm::RS256).is_ok());
        assert_eq!(
            keys.select(Some("rsa"), Algorithm::PS256).unwrap_err(),
            VerifyError::Algorithm
        );
        assert_eq!(keys.len(), 2);
    }
}

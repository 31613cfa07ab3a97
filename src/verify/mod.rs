//! Token verification: the [`TokenVerifier`] trait and its implementations.

use std::fmt;
use std::sync::{Arc, OnceLock};

use derive_more::{Display, Error};
use futures::future::LocalBoxFuture;
use serde_json::{Map, Value};

pub(crate) mod api;
mod client;
mod introspection;
mod jwks;
mod jwt;
mod opaque;

pub use client::{check_client, CLIENT_CLAIMS};
pub(crate) use client::{check_named, Named};
pub use introspection::{IntrospectionVerifier, IntrospectionVerifierBuilder};
pub use jwks::{Algorithm, IssuerPolicy, JwksVerifier, JwksVerifierBuilder};
pub(crate) use jwt::{peek_payload, MAX_TOKEN_BYTES};
pub use opaque::FnVerifier;

/// The largest clock-skew tolerance a verifier accepts: more would keep expired tokens alive.
const MAX_LEEWAY: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// The checks every verifier's builder makes of the settings they share: a leeway of at most 10
/// minutes, and no empty audience (an empty string would match a token without one).
pub(crate) fn check_shared_settings(
    leeway: std::time::Duration,
    audiences: &[String],
) -> Result<(), crate::ConfigError> {
    if audiences.iter().any(String::is_empty) {
        return Err(crate::validate::invalid(
            "audience",
            "an audience cannot be empty",
        ));
    }
    if leeway > MAX_LEEWAY {
        return Err(crate::validate::invalid("leeway", "more than 10 minutes"));
    }
    Ok(())
}

/// Verifies a bearer token and returns its claims.
///
/// Object-safe, so any verifier can sit behind `Arc<dyn TokenVerifier>`. The future is local
/// (not `Send`) because actix-web runs each worker on its own single-threaded runtime and the
/// `awc` client is not `Send`; the verifier itself is `Send + Sync` and shared by all workers.
pub trait TokenVerifier: Send + Sync + 'static {
    /// Checks `token` (the bearer value, without the scheme) and returns its claims.
    fn verify<'a>(&'a self, token: &'a str) -> LocalBoxFuture<'a, Result<Claims, VerifyError>>;
}

impl<T: TokenVerifier + ?Sized> TokenVerifier for Arc<T> {
    fn verify<'a>(&'a self, token: &'a str) -> LocalBoxFuture<'a, Result<Claims, VerifyError>> {
        (**self).verify(token)
    }
}

impl<T: TokenVerifier + ?Sized> TokenVerifier for Box<T> {
    fn verify<'a>(&'a self, token: &'a str) -> LocalBoxFuture<'a, Result<Claims, VerifyError>> {
        (**self).verify(token)
    }
}

/// Why a token was not accepted.
///
/// The `Display` text is meant for logs at `debug` level; responses never carry it, since it may
/// name the issuer or a key id.
#[derive(Debug, Display, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a well-formed token (wrong number of segments, bad base64url, bad JSON, too large).
    #[display("malformed token: {_0}")]
    Malformed(#[error(not(source))] &'static str),
    /// The header names an algorithm that is not allowed (`none`, HMAC, or outside the allow-list).
    #[display("algorithm not allowed")]
    Algorithm,
    /// No key of the key set matches the token's `kid` and algorithm.
    #[display("no key matches the token")]
    UnknownKey,
    /// The signature does not verify.
    #[display("signature does not verify")]
    Signature,
    /// `exp` is in the past (beyond the leeway).
    #[display("token has expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway).
    #[display("token is not yet valid")]
    NotYetValid,
    /// `iss` differs from the configured issuer.
    #[display("wrong issuer")]
    Issuer,
    /// `aud` holds none of the configured audiences.
    #[display("wrong audience")]
    Audience,
    /// A claim is missing or of the wrong type (`exp` as a string, `sub` absent, ...).
    #[display("invalid claim `{_0}`")]
    InvalidClaim(#[error(not(source))] &'static str),
    /// The token was issued to another client: the claim named (`azp`, `cid`, `appid` or
    /// `client_id`) is not our client id. See [`check_client`].
    #[display("token issued to another client (`{_0}`)")]
    OtherClient(#[error(not(source))] &'static str),
    /// Not an access token a user holds: an OpenID Connect ID token, or a token a client
    /// obtained for itself (machine-to-machine). The text says which and why.
    #[display("not a user's access token: {_0}")]
    NotAccessToken(#[error(not(source))] &'static str),
    /// Rejected by a custom or remote verifier, for the reason given.
    #[display("token rejected: {_0}")]
    Rejected(#[error(not(source))] String),
    /// The key set or the provider's API could not be reached and nothing cached could answer.
    /// Answered with 503, not 401: the token may well be valid.
    #[display("token service unavailable: {_0}")]
    Unavailable(#[error(not(source))] String),
}

impl VerifyError {
    /// True when the failure is the provider's, not the token's.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, VerifyError::Unavailable(_))
    }
}

/// The claims of a verified token: the JSON object of the JWT payload, or what an opaque-token
/// verifier returned.
///
/// A JWT's claims are kept as the verified payload and parsed into a map on first access:
/// verification parses only the registered claims it checks, and [`Claims::expires_at`] is
/// known without parsing.
#[derive(Clone, Default)]
pub struct Claims {
    map: OnceLock<Map<String, Value>>,
    /// The JSON object `map` is parsed from on first access; `None` when built from a map.
    json: Option<Vec<u8>>,
    exp: Option<u64>,
}

impl Claims {
    /// Wraps a JSON object.
    pub fn new(map: Map<String, Value>) -> Self {
        let exp = map.get("exp").and_then(numeric_date_floor);
        Self {
            map: OnceLock::from(map),
            json: None,
            exp,
        }
    }

    /// Claims from a verified payload that is known to be a JSON object, with its `exp`.
    pub(crate) fn from_verified_json(json: Vec<u8>, exp: Option<u64>) -> Self {
        Self {
            map: OnceLock::new(),
            json: Some(json),
            exp,
        }
    }

    /// The claim `name`, if present.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.as_map().get(name)
    }

    /// The claim `name` when it is a JSON string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// `exp` as whole seconds since the epoch (a fractional `exp` rounded down), when it is a
    /// non-negative number.
    pub fn expires_at(&self) -> Option<u64> {
        self.exp
    }

    /// The whole object.
    pub fn as_map(&self) -> &Map<String, Value> {
        self.map.get_or_init(|| parse_object(self.json.as_deref()))
    }

    /// Unwraps the object.
    pub fn into_map(self) -> Map<String, Value> {
        let Self { map, json, .. } = self;
        map.into_inner()
            .unwrap_or_else(|| parse_object(json.as_deref()))
    }
}

/// A NumericDate rounded down: rounding up would let a cache serve a token past its expiry.
fn numeric_date_floor(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        let at = value.as_f64()?;
        // `as` saturates, so a huge value is a far future, never a wrap into the past.
        (at.is_finite() && at >= 0.0).then(|| at.floor() as u64)
    })
}

fn parse_object(json: Option<&[u8]>) -> Map<String, Value> {
    let Some(json) = json else {
        return Map::new();
    };
    // The verifier checked that the payload is one JSON object; only nesting deeper than
    // serde_json's limit (128) can fail here, in a payload the issuer signed.
    serde_json::from_slice(json).unwrap_or_else(|e| {
        log::warn!("the claims of a verified token cannot be read as a map: {e}");
        Map::new()
    })
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Claims").field(self.as_map()).finish()
    }
}

impl PartialEq for Claims {
    fn eq(&self, other: &Self) -> bool {
        self.as_map() == other.as_map()
    }
}

impl From<Map<String, Value>> for Claims {
    fn from(map: Map<String, Value>) -> Self {
        Self::new(map)
    }
}

//! [`IntrospectionVerifier`]: opaque access tokens checked at the issuer's RFC 7662 token
//! introspection endpoint.

use std::{fmt, sync::Arc, time::Duration};

use actix_web::http::header;
use futures::future::LocalBoxFuture;
use serde_json::{Map, Value};
use url::Url;

use super::api::{
    classify, seconds, send, Flights, Rate, DEFAULT_API_TIMEOUT, DEFAULT_MAX_CALLS_IN_FLIGHT,
};
use crate::validate::invalid;
use crate::verify::check_shared_settings;
use crate::{
    clock::Clock,
    clock::SystemClock,
    http::{api_client, ClientAuthMethod, ClientCredentials},
    secret::ClientSecret,
    validate::secure_url,
    Claims, ConfigError, TokenVerifier, VerifyError,
};

const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// Verifies opaque access tokens by asking the authorization server (RFC 7662).
///
/// Each token is POSTed as `token=...&token_type_hint=access_token` with this resource
/// server's client credentials (`client_secret_basic` by default, or `client_secret_post`).
/// A token is accepted when the answer says:
/// - `active` is `true`;
/// - `token_type`, when present, is `Bearer` (or `access_token`): a refresh token is refused,
///   and so is a sender-constrained token (`cnf` present), which a bearer request cannot prove;
/// - `exp` and `nbf`, when present, hold at the current time (with the leeway, default 60 s);
/// - `aud` (a string or an array) holds one of the configured audiences: **required**, since
///   an authorization server introspects every token it issued, for any resource;
/// - `iss` equals the configured issuer, when one is configured.
///
/// The claims are the introspection answer without `active` (`exp` as a number). A bad token
/// is [`VerifyError::Rejected`] (or `Expired`, `Audience`, ...); a server that cannot be
/// reached, rate limits, fails, or refuses our credentials is [`VerifyError::Unavailable`]
/// (503: the token may be fine).
///
/// # Caching
/// The verifier itself keeps nothing. [`RequireAuth`](crate::RequireAuth) caches every accepted
/// token until its `exp`, capped by its
/// [`cache_max_ttl`](crate::RequireAuth::cache_max_ttl) (default 5 minutes; a token without
/// `exp` is kept exactly that long). That cap is also how long a revoked token keeps working.
/// Refused tokens are not cached.
///
/// Calls run on the actix runtime of the request (an actix-web worker, or `#[actix_web::test]`).
///
/// ```no_run
/// use actix_mcp_oauth::{verify::IntrospectionVerifier, RequireAuth};
///
/// # fn main() -> Result<(), actix_mcp_oauth::ConfigError> {
/// let verifier = IntrospectionVerifier::builder(
///     "https://idp.example.com/oauth2/introspect",
///     "mcp-resource-server",
///     std::env::var("INTROSPECTION_SECRET").unwrap_or_default(),
/// )
/// .audience("https://mcp.example.com/mcp")
/// .issuer("https://idp.example.com")
/// .build()?;
/// let auth = RequireAuth::new(verifier, "https://mcp.example.com/mcp")?;
/// # let _ = auth; Ok(()) }
/// ```
#[derive(Clone)]
pub struct IntrospectionVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    url: Url,
    credentials: ClientCredentials,
    audiences: Vec<String>,
    issuer: Option<String>,
    leeway: u64,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    flights: Flights,
}

/// Configures an [`IntrospectionVerifier`]; at least one audience is required.
#[must_use]
pub struct IntrospectionVerifierBuilder {
    url: String,
    client_id: String,
    client_secret: ClientSecret,
    auth: ClientAuthMethod,
    audiences: Vec<String>,
    issuer: Option<String>,
    leeway: Duration,
    timeout: Duration,
    max_calls_in_flight: usize,
    max_call_rate: (u32, u32),
    clock: Arc<dyn Clock>,
}

impl IntrospectionVerifier {
    /// Starts a verifier that asks `introspection_url` (https, or http on loopback) with the
    /// given client credentials.
    pub fn builder(
        introspection_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
    ) -> IntrospectionVerifierBuilder {
        IntrospectionVerifierBuilder {
            url: introspection_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            auth: ClientAuthMethod::ClientSecretBasic,
            audiences: Vec::new(),
            issuer: None,
            leeway: DEFAULT_LEEWAY,
            timeout: DEFAULT_API_TIMEOUT,
            max_calls_in_flight: DEFAULT_MAX_CALLS_IN_FLIGHT,
            max_call_rate: (10, 100),
            clock: Arc::new(SystemClock),
        }
    }

    async fn introspect(&self, token: &str) -> Result<Claims, VerifyError> {
        let inner = &*self.inner;
        let req = api_client()
            .post(inner.url.as_str())
            .insert_header((header::ACCEPT, "application/json"));
        let form = [("token", token), ("token_type_hint", "access_token")];
        let (req, body) = inner.credentials.form_post(req, &form);
        let answer = send("introspection endpoint", req, Some(body), inner.timeout).await?;
        // RFC 7662 §2.2: any token the server will not vouch for is `active: false` in a 200;
        // an error status is about our request or credentials, never about the token.
        let map = classify("introspection endpoint", &answer, &[])?;
        inner.check(map)
    }
}

impl Inner {
    fn check(&self, mut map: Map<String, Value>) -> Result<Claims, VerifyError> {
        if map.remove("active") != Some(Value::Bool(true)) {
            return Err(VerifyError::Rejected("the token is not active".into()));
        }
        match map.get("token_type").map(|t| t.as_str()) {
            None => {}
            Some(Some(t))
                if t.eq_ignore_ascii_case("bearer") || t.eq_ignore_ascii_case("access_token") => {}
            Some(_) => {
                return Err(VerifyError::Rejected(
                    "introspection says this is not a bearer access token".into(),
                ))
            }
        }
        if map.contains_key("cnf") {
            return Err(VerifyError::Rejected(
                "the token is sender-constrained (cnf) and cannot be used as a bearer token".into(),
            ));
        }
        let now = self.clock.now();
        if let Some(exp) = map.get("exp") {
            let exp = seconds(exp).ok_or(VerifyError::InvalidClaim("exp"))?;
            if now >= exp.saturating_add(self.leeway) {
                return Err(VerifyError::Expired);
            }
            // Numeric, so that the cache sees the expiry.
            map.insert("exp".into(), Value::from(exp));
        }
        if let Some(nbf) = map.get("nbf") {
            let nbf = seconds(nbf).ok_or(VerifyError::InvalidClaim("nbf"))?;
            if nbf > now.saturating_add(self.leeway) {
                return Err(VerifyError::NotYetValid);
            }
        }
        if let Some(issuer) = &self.issuer {
            if map.get("iss").and_then(Value::as_str) != Some(issuer) {
                return Err(VerifyError::Issuer);
            }
        }
        let accepted = |aud: &Value| {
            aud.as_str()
                .is_some_and(|a| self.audiences.iter().any(|ours| ours == a))
        };
        let audience_ok = match map.get("aud") {
            Some(Value::Array(items)) => items.iter().any(accepted),
            Some(aud) => accepted(aud),
            None => false,
        };
        if !audience_ok {
            return Err(VerifyError::Audience);
        }
        Ok(Claims::new(map))
    }
}

impl TokenVerifier for IntrospectionVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> LocalBoxFuture<'a, Result<Claims, VerifyError>> {
        Box::pin(
            self.inner
                .flights
                .run(token.as_bytes(), || self.introspect(token)),
        )
    }
}

impl fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("IntrospectionVerifier")
            .field("url", &inner.url.as_str())
            .field("credentials", &inner.credentials)
            .field("audiences", &inner.audiences)
            .field("issuer", &inner.issuer)
            .finish_non_exhaustive()
    }
}

impl IntrospectionVerifierBuilder {
    /// Adds an accepted audience; `aud` must hold one of them. At least one is required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Adds several accepted audiences, as [`audience`](Self::audience).
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences.extend(audiences.into_iter().map(Into::into));
        self
    }

    /// Requires `iss` in the answer to equal `issuer` exactly. Default: not checked (many
    /// servers do not send it; the endpoint itself is the issuer's).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// How the credentials are sent (default [`ClientAuthMethod::ClientSecretBasic`]).
    pub fn client_auth_method(mut self, method: ClientAuthMethod) -> Self {
        self.auth = method;
        self
    }

    /// Clock skew tolerated on `exp` and `nbf` (default 60 s, at most 10 min).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The time allowed for one introspection call, body included (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most calls to the introspection endpoint this verifier makes at once (default 32). Requests with a token
    /// whose check is already running wait for that check instead of making their own; past
    /// the bound a request gets 503 at once (retry later) instead of queueing behind a slow
    /// provider, so a flood of junk tokens costs at most this many calls at a time.
    pub fn max_calls_in_flight(mut self, calls: usize) -> Self {
        self.max_calls_in_flight = calls;
        self
    }

    /// How fast new calls to the introspection endpoint may start (default 10 a second, 100 at once): `burst` at
    /// once after a quiet spell, then `per_second`; past it a request gets 503 at once, like past
    /// [`max_calls_in_flight`](Self::max_calls_in_flight). A token already verified is served
    /// from [`RequireAuth`](crate::RequireAuth)'s cache and a refused one from its memory of
    /// refusals, so only new tokens count: this bounds what a sustained flood of distinct junk
    /// tokens costs at the provider, whatever its latency. Both must be at least 1.
    pub fn max_call_rate(mut self, per_second: u32, burst: u32) -> Self {
        self.max_call_rate = (per_second, burst);
        self
    }

    /// The clock for `exp` and `nbf` (default [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<IntrospectionVerifier, ConfigError> {
        let url = secure_url("introspection_url", &self.url)?;
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::Missing("client_id"));
        }
        if self.client_secret.secret().is_empty() {
            return Err(ConfigError::Missing("client_secret"));
        }
        if self.audiences.is_empty() {
            return Err(ConfigError::Missing("audience"));
        }
        check_shared_settings(self.leeway, &self.audiences)?;
        if self.issuer.as_deref() == Some("") {
            return Err(invalid("issuer", "cannot be empty"));
        }
        if self.timeout.is_zero() {
            return Err(invalid("timeout", "must be positive"));
        }
        if self.max_calls_in_flight == 0 {
            return Err(invalid("max_calls_in_flight", "must be at least 1"));
        }
        let (per_second, burst) = self.max_call_rate;
        let rate = Rate::new("max_call_rate", per_second, burst)?;
        Ok(IntrospectionVerifier {
            inner: Arc::new(Inner {
                url,
                credentials: ClientCredentials::new(
                    self.client_id,
                    Some(self.client_secret),
                    self.auth,
                ),
                audiences: self.audiences,
                issuer: self.issuer,
                leeway: self.leeway.as_secs(),
                timeout: self.timeout,
                clock: self.clock,
                flights: Flights::new(self.max_calls_in_flight, rate),
            }),
        })
    }
}

impl fmt::Debug for IntrospectionVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionVerifierBuilder")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{clock::ManualClock, verify::jwt::testing::NOW};

    fn inner() -> Inner {
        let v = IntrospectionVerifier::builder("https://as.example/introspect", "rs", "secret")
            .audience("https://mcp.example/mcp")
            .audience("rs")
            .issuer("https://as.example")
            .clock(ManualClock::at(NOW))
            .build()
            .unwrap();
        Arc::try_unwrap(v.inner).ok().unwrap()
    }

    fn good() -> Value {
        json!({
            "active": true, "sub": "u1", "aud": ["other", "rs"], "iss": "https://as.example",
            "exp": NOW + 100, "scope": "mcp:tools", "token_type": "Bearer",
        })
    }

    fn check(value: Value) -> Result<Claims, VerifyError> {
        match value {
            Value::Object(map) => inner().check(map),
            _ => unreachable!(),
        }
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = good();
        v[key] = value;
        v
    }

    fn without(key: &str) -> Value {
        let mut v = good();
        v.as_object_mut().unwrap().remove(key);
        v
    }

    #[test]
    fn an_active_access_token_for_our_audience_gives_its_claims_without_active() {
        let claims = check(good()).unwrap();
        assert_eq!(claims.get_str("sub"), Some("u1"));
        assert_eq!(claims.expires_at(), Some(NOW + 100));
        assert!(claims.get("active").is_none());
        let string_exp = check(with("exp", json!((NOW + 5).to_string()))).unwrap();
        assert_eq!(string_exp.expires_at(), Some(NOW + 5), "exp made numeric");
        assert!(check(with("aud", json!("https://mcp.example/mcp"))).is_ok());
        assert!(check(without("token_type")).is_ok());
        assert!(check(without("exp")).is_ok());
    }

    #[test]
    fn inactive_refresh_and_sender_constrained_tokens_are_rejected() {
        for bad in [
            with("active", json!(false)),
            with("active", json!("true")),
            without("active"),
            with("token_type", json!("refresh_token")),
            with("token_type", json!(7)),
            with("cnf", json!({"jkt": "x"})),
        ] {
            assert!(
                matches!(check(bad.clone()), Err(VerifyError::Rejected(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn time_audience_and_issuer_are_checked() {
        assert_eq!(
            check(with("exp", json!(NOW - 61))).unwrap_err(),
            VerifyError::Expired
        );
        assert!(check(with("exp", json!(NOW - 59))).is_ok(), "leeway");
        assert_eq!(
            check(with("exp", json!("soon"))).unwrap_err(),
            VerifyError::InvalidClaim("exp")
        );
        assert_eq!(
            check(with("nbf", json!(NOW + 61))).unwrap_err(),
            VerifyError::NotYetValid
        );
        for aud in [json!("other"), json!(["a", "b"]), json!(null), json!([7])] {
            assert_eq!(check(with("aud", aud)).unwrap_err(), VerifyError::Audience);
        }
        assert_eq!(check(without("aud")).unwrap_err(), VerifyError::Audience);
        assert_eq!(
            check(with("iss", json!("https://evil.example"))).unwrap_err(),
            VerifyError::Issuer
        );
        assert_eq!(check(without("iss")).unwrap_err(), VerifyError::Issuer);
    }

    #[test]
    fn build_requires_an_audience_and_secure_settings() {
        let base =
            || IntrospectionVerifier::builder("https://as.example/i", "rs", "hunter2-secret");
        assert_eq!(
            base().build().unwrap_err(),
            ConfigError::Missing("audience")
        );
        assert!(matches!(
            IntrospectionVerifier::builder("http://as.example/i", "rs", "s")
                .audience("a")
                .build(),
            Err(ConfigError::InsecureUrl { .. })
        ));
        assert_eq!(
            IntrospectionVerifier::builder("https://as.example/i", "rs", "")
                .audience("a")
                .build()
                .unwrap_err(),
            ConfigError::Missing("client_secret")
        );
        assert!(base().audience("").build().is_err());
        assert!(base()
            .audience("a")
            .leeway(Duration::from_secs(3600))
            .build()
            .is_err());
        let shown = format!("{:?}", base().audience("a").build().unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}

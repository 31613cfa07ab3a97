//! Google: opaque `ya29.` access tokens, checked at Google's token-info endpoint.

use std::{fmt, sync::Arc, time::Duration};

use actix_web::http::header;
use futures::future::LocalBoxFuture;
use serde_json::{Map, Value};

use super::{shape::TokenShape, Common, Endpoints, Urls};
use crate::{
    clock::Clock,
    http::api_client,
    proxy::OAuthProxyBuilder,
    validate::{invalid, secure_url},
    verify::api::{
        classify, seconds, send, Flights, Rate, DEFAULT_API_TIMEOUT, DEFAULT_MAX_CALLS_IN_FLIGHT,
    },
    verify::{check_named, Named},
    Claims, ConfigError, TokenVerifier, VerifyError,
};

/// Google's hosts are fixed: full URLs, each of which its setter replaces.
const ENDPOINTS: Endpoints = Endpoints {
    authorize: "https://accounts.google.com/o/oauth2/v2/auth",
    token: "https://oauth2.googleapis.com/token",
    revocation: Some("https://oauth2.googleapis.com/revoke"),
    keys: None,
    scopes: &["openid", "email", "profile"],
};
const ISSUER: &str = "https://accounts.google.com";
const TOKENINFO_URL: &str = "https://oauth2.googleapis.com/tokeninfo";
const USERINFO_URL: &str = "https://openidconnect.googleapis.com/v1/userinfo";
/// Google access tokens live one hour; caching that long is caching until expiry.
const CACHE_MAX_TTL: Duration = Duration::from_secs(3600);
/// Scopes under which the userinfo endpoint returns the name and picture.
const PROFILE_SCOPES: [&str; 2] = [
    "profile",
    "https://www.googleapis.com/auth/userinfo.profile",
];
/// Profile fields copied from userinfo; `sub` and `email` come from token-info.
const PROFILE_FIELDS: [&str; 6] = [
    "name",
    "given_name",
    "family_name",
    "picture",
    "locale",
    "hd",
];

/// Google, for a client registered in the Google Cloud console ("OAuth client ID", type "Web
/// application"): `providers::google().client(client_id, client_secret)`.
///
/// - Endpoints: `accounts.google.com/o/oauth2/v2/auth`, `oauth2.googleapis.com/token` and
///   `/revoke`; issuer `https://accounts.google.com`.
/// - Scopes `openid email profile`; `access_type=offline` and `prompt=consent`, without which
///   Google issues no refresh token (or only on the very first consent), as its way of
///   [`offline_access`](crate::proxy::OfflineAccess); `include_granted_scopes=true`, so that a
///   step-up to more scopes keeps those granted before (incremental authorization). Google
///   may answer `email` and `profile` as `https://www.googleapis.com/auth/userinfo.email` and
///   `...userinfo.profile`: either spelling backs an MCP scope that needs the other.
/// - Verifier: [`GoogleVerifier`]. Google's access tokens are opaque, so no JWKS check can
///   accept them; each new token is looked up once at the token-info endpoint and then served
///   from [`RequireAuth`](crate::RequireAuth)'s cache until it expires (the preset sets
///   `cache_max_ttl` to one hour, Google's token lifetime; a token revoked meanwhile keeps
///   working until then).
/// - User mapping: [`default_user_info`](crate::user::default_user_info) (`sub`, `email`, and `name`
///   and `picture` from userinfo).
pub fn google() -> Google {
    Google {
        common: Common::new(),
        issuer: ISSUER.into(),
        urls: ENDPOINTS.at(""),
        tokeninfo_url: TOKENINFO_URL.into(),
        userinfo_url: USERINFO_URL.into(),
        fetch_profile: true,
        timeout: DEFAULT_API_TIMEOUT,
        max_calls_in_flight: DEFAULT_MAX_CALLS_IN_FLIGHT,
        max_call_rate: (10, 100),
        shape_check: true,
    }
}

/// The Google preset; see [`google`].
#[must_use]
pub struct Google {
    common: Common,
    issuer: String,
    urls: Urls,
    tokeninfo_url: String,
    userinfo_url: String,
    fetch_profile: bool,
    timeout: Duration,
    max_calls_in_flight: usize,
    max_call_rate: (u32, u32),
    shape_check: bool,
}

impl Google {
    super::common_setters! {
        client: "The OAuth client's id and secret (required).",
        scopes: "The scopes requested (default `openid email profile`). Add the Google API \
                 scopes your tools call with the user's token.",
    }

    /// The issuer named in Google's authorization responses (default
    /// `https://accounts.google.com`).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// The authorization endpoint.
    pub fn auth_endpoint(mut self, url: impl Into<String>) -> Self {
        self.urls.authorize = url.into();
        self
    }

    /// The token endpoint.
    pub fn token_endpoint(mut self, url: impl Into<String>) -> Self {
        self.urls.token = url.into();
        self
    }

    /// The revocation endpoint.
    pub fn revocation_endpoint(mut self, url: impl Into<String>) -> Self {
        self.urls.revocation = Some(url.into());
        self
    }

    /// The token-info endpoint (default `https://oauth2.googleapis.com/tokeninfo`).
    pub fn tokeninfo_url(mut self, url: impl Into<String>) -> Self {
        self.tokeninfo_url = url.into();
        self
    }

    /// The userinfo endpoint (default `https://openidconnect.googleapis.com/v1/userinfo`).
    pub fn userinfo_url(mut self, url: impl Into<String>) -> Self {
        self.userinfo_url = url.into();
        self
    }

    /// Whether the name and picture are fetched from userinfo when the token's scopes allow it
    /// (default `true`; one more call per new token).
    pub fn fetch_profile(mut self, fetch: bool) -> Self {
        self.fetch_profile = fetch;
        self
    }

    /// The time allowed for each call to Google while verifying (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most calls to Google this verifier makes at once (default 32). Requests with a token
    /// whose check is already running wait for that check instead of making their own; past
    /// the bound a request gets 503 at once (retry later) instead of queueing behind a slow
    /// provider, so a flood of junk tokens costs at most this many calls at a time.
    pub fn max_calls_in_flight(mut self, calls: usize) -> Self {
        self.max_calls_in_flight = calls;
        self
    }

    /// How fast new calls to Google may start (default 10 a second, 100 at once): `burst` at
    /// once after a quiet spell, then `per_second`; past it a request gets 503 at once, like past
    /// [`max_calls_in_flight`](Self::max_calls_in_flight). A token already verified is served
    /// from [`RequireAuth`](crate::RequireAuth)'s cache and a refused one from its memory of
    /// refusals, so only new tokens count: this bounds what a sustained flood of distinct junk
    /// tokens costs at Google, whatever its latency. Both must be at least 1.
    pub fn max_call_rate(mut self, per_second: u32, burst: u32) -> Self {
        self.max_call_rate = (per_second, burst);
        self
    }

    /// Whether a token that is not the shape of a Google access token is refused before any
    /// call to Google (default `true`); see docs/providers.md for the shape. Turn it off only
    /// if Google starts issuing tokens of another shape.
    pub fn token_shape_check(mut self, check: bool) -> Self {
        self.shape_check = check;
        self
    }

    /// The verifier alone.
    pub fn verifier(&self) -> Result<GoogleVerifier, ConfigError> {
        let client_id = self.common.credentials.id()?;
        if self.timeout.is_zero() {
            return Err(invalid("timeout", "must be positive"));
        }
        if self.max_calls_in_flight == 0 {
            return Err(invalid("max_calls_in_flight", "must be at least 1"));
        }
        let (per_second, burst) = self.max_call_rate;
        let rate = Rate::new("max_call_rate", per_second, burst)?;
        Ok(GoogleVerifier {
            inner: Arc::new(Inner {
                client_id: client_id.to_owned(),
                issuer: self.issuer.clone(),
                tokeninfo_url: secure_url("tokeninfo_url", &self.tokeninfo_url)?.into(),
                userinfo_url: secure_url("userinfo_url", &self.userinfo_url)?.into(),
                fetch_profile: self.fetch_profile,
                timeout: self.timeout,
                clock: self.common.clock.clone(),
                flights: Flights::new(self.max_calls_in_flight, rate),
                shape: self.shape_check.then_some(TokenShape::Google),
            }),
        })
    }

    /// The proxy builder, filled in; add `public_url` and `proxy_key`.
    pub fn builder(self) -> Result<OAuthProxyBuilder, ConfigError> {
        let verifier = self.verifier()?;
        Ok(self
            .common
            .proxy(self.urls, ENDPOINTS.scopes)?
            .issuer(self.issuer)
            .offline_access(crate::proxy::OfflineAccess::Params(vec![
                ("access_type".into(), "offline".into()),
                ("prompt".into(), "consent".into()),
            ]))
            .extra_authorize_params([("include_granted_scopes", "true")])
            .scope_aliases(&[
                ("email", "https://www.googleapis.com/auth/userinfo.email"),
                (
                    "profile",
                    "https://www.googleapis.com/auth/userinfo.profile",
                ),
            ])
            .verifier(verifier)
            .cache_max_ttl(CACHE_MAX_TTL))
    }
}

impl fmt::Debug for Google {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Google")
            .field("credentials", &self.common.credentials)
            .field("tokeninfo_url", &self.tokeninfo_url)
            .field("scopes", &self.common.scopes)
            .finish_non_exhaustive()
    }
}

/// Verifies Google's opaque access tokens at the token-info endpoint; made by
/// [`Google::verifier`].
///
/// The token goes in an `Authorization: Bearer` header of a POST (never in a URL, where proxies
/// and logs would keep it). The token is accepted when token-info answers with `aud` equal to
/// our client id, `azp` and `issued_to` (when present) equal to it too, and `exp` in the
/// future: a token Google issued to another application is refused
/// ([`VerifyError::Audience`], or [`VerifyError::OtherClient`] naming the claim), so another
/// app's users cannot replay their tokens here. Google names the client of every access token
/// in `aud`, so no token names no client, and there is no opt-out: for an opaque token, the
/// client is the only thing that binds it to this server. When the token's scopes include the profile, the userinfo endpoint adds
/// `name`, `given_name`, `family_name`, `picture`, `locale` and `hd` (its `sub` must match).
///
/// Claims: token-info's fields (`sub`, `aud`, `azp`, `scope`, `email`, ...) with `exp` and
/// `expires_in` as numbers and `email_verified` as a boolean, plus `iss` and the profile.
///
/// Answers: 400/401 (invalid, expired or revoked token) are [`VerifyError::Rejected`];
/// 429, a rate-limit 403 and 5xx are [`VerifyError::Unavailable`] (503).
#[derive(Clone)]
pub struct GoogleVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    client_id: String,
    issuer: String,
    tokeninfo_url: String,
    userinfo_url: String,
    fetch_profile: bool,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    flights: Flights,
    /// Checked before any call; `None` when turned off.
    shape: Option<TokenShape>,
}

impl GoogleVerifier {
    async fn check(&self, token: &str) -> Result<Claims, VerifyError> {
        if let Some(shape) = self.inner.shape {
            shape.check(token)?;
        }
        self.inner
            .flights
            .run(token.as_bytes(), || self.check_now(token))
            .await
    }

    async fn check_now(&self, token: &str) -> Result<Claims, VerifyError> {
        let inner = &*self.inner;
        let req = api_client()
            .post(inner.tokeninfo_url.as_str())
            .bearer_auth(token)
            .insert_header((header::ACCEPT, "application/json"))
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"));
        let answer = send("Google token-info", req, Some(String::new()), inner.timeout).await?;
        let info = classify("Google token-info", &answer, &[400, 401])?;
        let mut claims = inner.token_claims(info)?;
        let scopes = claims.get("scope").and_then(Value::as_str).unwrap_or("");
        if inner.fetch_profile && scopes.split(' ').any(|s| PROFILE_SCOPES.contains(&s)) {
            inner.add_profile(token, &mut claims).await?;
        }
        Ok(Claims::new(claims))
    }
}

impl Inner {
    fn token_claims(
        &self,
        mut info: Map<String, Value>,
    ) -> Result<Map<String, Value>, VerifyError> {
        if info.get("aud").and_then(Value::as_str) != Some(&self.client_id) {
            return Err(VerifyError::Audience);
        }
        // `issued_to` is what the older token-info versions call `azp`.
        check_named(
            &self.client_id,
            ["azp", "issued_to"].map(|name| {
                let named = match info.get(name) {
                    None => Named::Absent,
                    Some(Value::String(id)) => Named::Id(id),
                    Some(_) => Named::NotAString,
                };
                (name, named)
            }),
        )?;
        let exp = info
            .get("exp")
            .and_then(seconds)
            .ok_or(VerifyError::InvalidClaim("exp"))?;
        if self.clock.now() >= exp {
            return Err(VerifyError::Expired);
        }
        info.insert("exp".into(), Value::from(exp));
        if let Some(left) = info.get("expires_in").and_then(seconds) {
            info.insert("expires_in".into(), Value::from(left));
        }
        if let Some(verified) = info.get("email_verified").and_then(Value::as_str) {
            let verified = verified == "true";
            info.insert("email_verified".into(), Value::Bool(verified));
        }
        info.insert("iss".into(), Value::String(self.issuer.clone()));
        Ok(info)
    }

    async fn add_profile(
        &self,
        token: &str,
        claims: &mut Map<String, Value>,
    ) -> Result<(), VerifyError> {
        let req = api_client()
            .get(self.userinfo_url.as_str())
            .bearer_auth(token)
            .insert_header((header::ACCEPT, "application/json"));
        let answer = send("Google userinfo", req, None, self.timeout).await?;
        let profile = classify("Google userinfo", &answer, &[400, 401, 403])?;
        if profile.get("sub").is_some() && profile.get("sub") != claims.get("sub") {
            return Err(VerifyError::Rejected(
                "Google userinfo names another user than token-info".into(),
            ));
        }
        for field in PROFILE_FIELDS {
            if let Some(value) = profile.get(field) {
                claims.insert(field.into(), value.clone());
            }
        }
        if let (None, Some(email)) = (claims.get("email"), profile.get("email")) {
            claims.insert("email".into(), email.clone());
            // The address and whether Google verified it come together or not at all.
            match profile.get("email_verified") {
                Some(verified) => claims.insert("email_verified".into(), verified.clone()),
                None => claims.remove("email_verified"),
            };
        }
        Ok(())
    }
}

impl TokenVerifier for GoogleVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> LocalBoxFuture<'a, Result<Claims, VerifyError>> {
        Box::pin(self.check(token))
    }
}

impl fmt::Debug for GoogleVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleVerifier")
            .field("client_id", &self.inner.client_id)
            .field("tokeninfo_url", &self.inner.tokeninfo_url)
            .field("fetch_profile", &self.inner.fetch_profile)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::ResourceForwarding;

    #[test]
    fn the_preset_asks_for_offline_access_and_caches_for_an_hour() {
        let proxy = google()
            .client("id.apps.googleusercontent.com", "shh-secret")
            .builder()
            .unwrap()
            .public_url("https://mcp.example.com")
            .build()
            .unwrap();
        let c = &proxy.cfg;
        assert_eq!(c.auth_endpoint.as_str(), ENDPOINTS.authorize);
        assert_eq!(c.token_endpoint.as_str(), ENDPOINTS.token);
        assert_eq!(
            c.revocation_endpoint.as_ref().map(|u| u.as_str()),
            ENDPOINTS.revocation
        );
        assert_eq!(c.upstream_issuer.as_deref(), Some(ISSUER));
        assert_eq!(c.scopes, ["openid", "email", "profile"]);
        assert_eq!(
            c.offline_access,
            crate::proxy::OfflineAccess::Params(vec![
                ("access_type".to_owned(), "offline".to_owned()),
                ("prompt".to_owned(), "consent".to_owned())
            ])
        );
        assert_eq!(
            c.extra_authorize_params,
            [("include_granted_scopes".to_owned(), "true".to_owned())]
        );
        assert_eq!(c.scope_aliases.len(), 2);
        assert_eq!(c.resource_forwarding, ResourceForwarding::Omit);
        assert!(!format!("{proxy:?}").contains("shh-secret"));
    }

    #[actix_web::test]
    async fn a_sign_in_and_a_step_up_ask_google_for_incremental_authorization() {
        use crate::providers::tests::{param, upstream_authorize, upstream_scope};
        const READ: &str = "https://www.googleapis.com/auth/drive.readonly";
        const WRITE: &str = "https://www.googleapis.com/auth/drive";
        let model = crate::scope::ScopeModel::builder()
            .scope("files:read", "Read your files", [READ])
            .scope("files:write", "Change your files", [WRITE])
            .default_scopes(["files:read"])
            .build()
            .unwrap();
        let preset = || {
            google()
                .client("id.apps.googleusercontent.com", "s")
                .builder()
                .unwrap()
                .scope_model(model.clone())
        };
        let first = upstream_authorize(preset(), None).await;
        assert_eq!(
            upstream_scope(&first),
            ["openid", "email", "profile", READ],
            "{first}"
        );
        // The step-up a 403 asks for: Google adds drive to what it granted before.
        let step_up = upstream_authorize(preset(), Some("files:read files:write")).await;
        assert_eq!(
            upstream_scope(&step_up),
            ["openid", "email", "profile", READ, WRITE],
            "{step_up}"
        );
        for url in [&first, &step_up] {
            assert_eq!(
                param(url, "include_granted_scopes").as_deref(),
                Some("true"),
                "{url}"
            );
            // Issued mode refreshes upstream: Google's way of issuing a refresh token.
            assert_eq!(
                param(url, "access_type").as_deref(),
                Some("offline"),
                "{url}"
            );
            assert_eq!(param(url, "prompt").as_deref(), Some("consent"), "{url}");
        }
        // A passthrough client that does not ask for `offline_access` gets no refresh token
        // parameters, and still the incremental authorization.
        let passthrough = preset().token_mode(crate::proxy::TokenMode::Passthrough);
        let plain = upstream_authorize(passthrough, Some("files:write")).await;
        assert_eq!(
            param(&plain, "include_granted_scopes").as_deref(),
            Some("true")
        );
        assert_eq!(param(&plain, "access_type"), None, "{plain}");
        assert_eq!(param(&plain, "prompt"), None, "{plain}");
        let passthrough = preset().token_mode(crate::proxy::TokenMode::Passthrough);
        let offline = upstream_authorize(passthrough, Some("files:write offline_access")).await;
        assert_eq!(param(&offline, "access_type").as_deref(), Some("offline"));
        assert!(!upstream_scope(&offline)
            .iter()
            .any(|s| s == "offline_access"));
    }

    #[test]
    fn urls_are_checked_and_the_client_id_is_required() {
        assert!(matches!(
            google()
                .client("id", "s")
                .tokeninfo_url("http://evil.example/ti")
                .verifier(),
            Err(ConfigError::InsecureUrl { .. })
        ));
        assert_eq!(
            google().client(" ", "s").verifier().unwrap_err(),
            ConfigError::Missing("client_id")
        );
        assert_eq!(
            google().verifier().unwrap_err(),
            ConfigError::Missing("client_id")
        );
        assert_eq!(
            google().builder().unwrap_err(),
            ConfigError::Missing("client_id")
        );
        assert!(!format!("{:?}", google().client("id", "shh-secret")).contains("shh-secret"));
    }
}

//! GitHub: opaque `gho_`/`ghu_` access tokens, checked with GitHub's API.

use std::{fmt, sync::Arc, time::Duration};

use actix_web::http::header;
use futures::future::LocalBoxFuture;
use serde_json::{json, Map, Value};

mod membership;

pub use membership::GitHubMembership;

use super::{segment, shape::TokenShape, Common, Endpoints};
use crate::validate::invalid;
use crate::{
    clock::Clock,
    http::{api_client, Answer, ClientAuthMethod, ClientCredentials},
    proxy::OAuthProxyBuilder,
    validate::secure_url,
    verify::api::{
        classify, send, Flights, Rate, DEFAULT_API_TIMEOUT, DEFAULT_MAX_CALLS_IN_FLIGHT,
    },
    Claims, ConfigError, TokenVerifier, VerifyError,
};

/// Under the web URL. No OpenID Connect (so no key set) and no revocation endpoint; the API's
/// own paths are in [`GitHub::verifier`].
const ENDPOINTS: Endpoints = Endpoints {
    authorize: "/login/oauth/authorize",
    token: "/login/oauth/access_token",
    revocation: None,
    keys: None,
    scopes: &["read:user", "user:email"],
};
const WEB_URL: &str = "https://github.com";
const API_URL: &str = "https://api.github.com";
const API_VERSION: &str = "2022-11-28";
const ACCEPT: &str = "application/vnd.github+json";
const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(5 * 60);
/// New token checks a second, and at once: see [`GitHub::max_call_rate`].
const DEFAULT_CALL_RATE: (u32, u32) = (1, 60);

/// GitHub, for an OAuth app (or a GitHub App's user authorization) registered under
/// Settings → Developer settings: `providers::github().client(client_id, client_secret)`.
///
/// - Endpoints: `github.com/login/oauth/authorize` and `/login/oauth/access_token`. The proxy
///   asks the token endpoint for JSON (`Accept: application/json`); a form-encoded answer, which
///   GitHub gives without that header, is converted to JSON all the same.
/// - Scopes `read:user user:email`. GitHub has no OpenID Connect and no RFC 7009 revocation.
/// - **Refresh tokens**: OAuth apps issue none; their tokens live until revoked. GitHub Apps
///   with expiring user tokens issue `ghu_` tokens (8 hours) with a refresh token, which the
///   proxy passes on like any other.
/// - Verifier: [`GitHubVerifier`]; results are cached by [`RequireAuth`](crate::RequireAuth)
///   for [`cache_ttl`](GitHub::cache_ttl) (default 5 minutes), which is also how long a revoked
///   token keeps working.
/// - User mapping: [`default_user_info`](crate::user::default_user_info): `id` → `user_id`,
///   `login` → `username`, `name`, `email`, `avatar_url` → `picture`, the scopes.
///
/// For GitHub Enterprise Server set [`web_url`](GitHub::web_url) (`https://ghe.example`) and
/// [`api_url`](GitHub::api_url) (`https://ghe.example/api/v3`).
pub fn github() -> GitHub {
    GitHub {
        common: Common::new(),
        web_url: WEB_URL.into(),
        api_url: API_URL.into(),
        cache_ttl: DEFAULT_CACHE_TTL,
        user_agent: "actix-mcp-oauth".into(),
        timeout: DEFAULT_API_TIMEOUT,
        max_calls_in_flight: DEFAULT_MAX_CALLS_IN_FLIGHT,
        max_call_rate: DEFAULT_CALL_RATE,
        shape_check: true,
        verified_email: false,
    }
}

/// The GitHub preset; see [`github`].
#[must_use]
pub struct GitHub {
    common: Common,
    web_url: String,
    api_url: String,
    cache_ttl: Duration,
    user_agent: String,
    timeout: Duration,
    max_calls_in_flight: usize,
    max_call_rate: (u32, u32),
    shape_check: bool,
    verified_email: bool,
}

impl GitHub {
    super::common_setters! {
        client: "The app's client id and a client secret (both required: the secret \
                 authenticates every token check).",
        scopes: "The scopes requested (default `read:user user:email`).",
    }

    /// Where users sign in (default `https://github.com`).
    pub fn web_url(mut self, url: impl Into<String>) -> Self {
        self.web_url = url.into();
        self
    }

    /// The REST API (default `https://api.github.com`).
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = url.into();
        self
    }

    /// How long a verified token is served from the cache before GitHub is asked again
    /// (default 5 minutes); also how long a revoked token keeps working.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// The `User-Agent` sent to the API, which GitHub requires (default `actix-mcp-oauth`);
    /// GitHub asks for your app's name or your GitHub username.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The time allowed for each call to GitHub while verifying (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most token checks this verifier runs against GitHub at once (default 32). Each
    /// makes up to three calls in turn (the token check, `/user`, and `/user/emails` when the
    /// scopes allow it and a verified address is wanted), so at most three times this many
    /// requests at a time. Requests with a token whose check is already running wait for that
    /// check instead of making their own; past the bound a request gets 503 at once (retry
    /// later) instead of queueing behind a slow provider, so a flood of junk tokens costs at
    /// most this many checks at a time.
    pub fn max_calls_in_flight(mut self, calls: usize) -> Self {
        self.max_calls_in_flight = calls;
        self
    }

    /// How fast new calls to GitHub may start (default 1 a second, 60 at once): `burst` at
    /// once after a quiet spell, then `per_second`; past it a request gets 503 at once, like past
    /// [`max_calls_in_flight`](Self::max_calls_in_flight). A token already verified is served
    /// from [`RequireAuth`](crate::RequireAuth)'s cache and a refused one from its memory of
    /// refusals, so only new tokens count: this bounds what a sustained flood of distinct junk
    /// tokens costs at GitHub, whatever its latency. The default keeps a flood under GitHub's limit for an OAuth app's
    /// own requests (5 000 an hour): at most 3 660 token checks in an hour. A verification is
    /// one token check, plus one or two calls made with the user's token. Both must be at least 1.
    pub fn max_call_rate(mut self, per_second: u32, burst: u32) -> Self {
        self.max_call_rate = (per_second, burst);
        self
    }

    /// Whether a token that is not the shape of a GitHub access token is refused before any
    /// call to GitHub (default `true`); see docs/providers.md for the shape. Turn it off only
    /// if GitHub starts issuing tokens of another shape.
    pub fn token_shape_check(mut self, check: bool) -> Self {
        self.shape_check = check;
        self
    }

    /// Whether to ask `GET /user/emails` for the primary verified address of every user
    /// (default `false`: only of users whose profile shows no public address). Turn it on when
    /// the access policy has an email rule ([`AccessPolicy::has_email_rule`]): the public
    /// address carries no `email_verified`, so without this an email rule refuses every user
    /// who shows one.
    ///
    /// The trade-off: one more call to GitHub per new token (counted against the user's rate
    /// limit, and 100-200 ms before the first request is answered) for an address an email
    /// rule can trust. Either way the call needs the `user:email` (or `user`) scope, the
    /// default; without it the public address, unmarked, is all there is.
    ///
    /// [`AccessPolicy::has_email_rule`]: crate::access::AccessPolicy::has_email_rule
    pub fn verified_email(mut self, always: bool) -> Self {
        self.verified_email = always;
        self
    }

    /// The verifier alone.
    pub fn verifier(&self) -> Result<GitHubVerifier, ConfigError> {
        let client_id = self.common.credentials.id()?;
        let client_secret = self
            .common
            .credentials
            .secret
            .as_ref()
            .filter(|secret| !secret.secret().is_empty())
            .ok_or(ConfigError::Missing("client_secret"))?;
        let visible = |s: &str| !s.is_empty() && s.bytes().all(|b| (0x20..0x7f).contains(&b));
        if !visible(&self.user_agent) {
            return Err(invalid("user_agent", "visible ASCII, not empty"));
        }
        if self.timeout.is_zero() {
            return Err(invalid("timeout", "must be positive"));
        }
        if self.max_calls_in_flight == 0 {
            return Err(invalid("max_calls_in_flight", "must be at least 1"));
        }
        let (per_second, burst) = self.max_call_rate;
        let rate = Rate::new("max_call_rate", per_second, burst)?;
        let api = secure_url("api_url", &self.api_url)?;
        let api = api.as_str().trim_end_matches('/');
        let client: String = url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
        Ok(GitHubVerifier {
            inner: Arc::new(Inner {
                credentials: ClientCredentials::new(
                    client_id.to_owned(),
                    Some(client_secret.clone()),
                    ClientAuthMethod::ClientSecretBasic,
                ),
                check_url: format!("{api}/applications/{client}/token"),
                user_url: format!("{api}/user"),
                emails_url: format!("{api}/user/emails"),
                issuer: self.web_url.trim_end_matches('/').to_owned(),
                user_agent: self.user_agent.clone(),
                timeout: self.timeout,
                clock: self.common.clock.clone(),
                flights: Flights::new(self.max_calls_in_flight, rate),
                shape: self.shape_check.then_some(TokenShape::GitHub),
                verified_email: self.verified_email,
            }),
        })
    }

    /// An access rule admitting the active members of the organisation `org` (its login, as
    /// in `github.com/acme`), for
    /// [`AccessPolicyBuilder::allow`](crate::access::AccessPolicyBuilder::allow); the proxy
    /// then asks GitHub for the `read:org` scope too. See [`GitHubMembership`].
    pub fn org_members(&self, org: impl Into<String>) -> Result<GitHubMembership, ConfigError> {
        self.membership(org.into(), None)
    }

    /// An access rule admitting the active members of the team `team` (its slug, as in
    /// `github.com/orgs/acme/teams/platform`) of the organisation `org`; see
    /// [`org_members`](Self::org_members).
    pub fn team_members(
        &self,
        org: impl Into<String>,
        team: impl Into<String>,
    ) -> Result<GitHubMembership, ConfigError> {
        self.membership(org.into(), Some(team.into()))
    }

    fn membership(
        &self,
        org: String,
        team: Option<String>,
    ) -> Result<GitHubMembership, ConfigError> {
        let org = segment("org", org.trim())?;
        let team = team.map(|t| segment("team", t.trim())).transpose()?;
        let api = secure_url("api_url", &self.api_url)?;
        if self.max_calls_in_flight == 0 {
            return Err(invalid("max_calls_in_flight", "must be at least 1"));
        }
        let (per_second, burst) = self.max_call_rate;
        let bounds = membership::Bounds {
            max_in_flight: self.max_calls_in_flight,
            rate: Rate::new("max_call_rate", per_second, burst)?,
        };
        Ok(GitHubMembership::new(
            org,
            team,
            api.as_str().trim_end_matches('/').to_owned(),
            self.user_agent.clone(),
            self.timeout,
            self.common.clock.clone(),
            bounds,
        ))
    }

    /// The proxy builder, filled in; add `public_url` and `proxy_key`.
    pub fn builder(self) -> Result<OAuthProxyBuilder, ConfigError> {
        let verifier = self.verifier()?;
        let web = secure_url("web_url", &self.web_url)?;
        let web = web.as_str().trim_end_matches('/');
        Ok(self
            .common
            .proxy(ENDPOINTS.at(web), ENDPOINTS.scopes)?
            .verifier(verifier)
            .cache_max_ttl(self.cache_ttl))
    }
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHub")
            .field("credentials", &self.common.credentials)
            .field("web_url", &self.web_url)
            .field("api_url", &self.api_url)
            .field("scopes", &self.common.scopes)
            .finish_non_exhaustive()
    }
}

/// Verifies GitHub's opaque access tokens; made by [`GitHub::verifier`].
///
/// 1. **The token is ours**: `POST /applications/{client_id}/token` with the app's credentials
///    (GitHub's "check a token"). `GET /user` alone would accept a token GitHub issued to *any*
///    app, letting another app replay its users' tokens here; this check answers 404 for those.
///    It also gives the granted scopes and, for expiring tokens, `expires_at`. It does not count
///    against the failed-login limits that invalid tokens sent to `/user` would trip. The
///    check is bound to our client id by its URL, so no accepted token names no client, and
///    there is no opt-out.
/// 2. **The user**: `GET /user` with the token and a `User-Agent`: `id`, `login`, `name`,
///    `email`, `avatar_url`. The public profile address, if any, is the `email`, without
///    `email_verified`. When the profile shows none, or with
///    [`GitHub::verified_email`]`(true)` (for an access policy's email rules), and the scopes
///    include `user` or `user:email` (the default), the primary verified address from
///    `GET /user/emails` is the `email` instead, with `email_verified: true`.
///
/// Every call counts against GitHub's rate limits; the cache TTL bounds how often a user's
/// token is checked.
///
/// Claims: `sub` (the numeric user id), `login`, `name`, `email`, `email_verified`, `avatar_url`, `html_url`,
/// `scope` (space-separated), `exp` (expiring tokens only), `client_id`, `iss` (the web URL).
///
/// Answers: 404/422 from the check and 401 from `/user` (invalid or revoked token) are
/// [`VerifyError::Rejected`]; 429, a 403 with `X-RateLimit-Remaining: 0` or `Retry-After`, 5xx,
/// and a 401 from the check (our credentials refused) are [`VerifyError::Unavailable`] (503).
#[derive(Clone)]
pub struct GitHubVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    /// The app's credentials; GitHub's token check takes them in HTTP Basic only.
    credentials: ClientCredentials,
    check_url: String,
    user_url: String,
    emails_url: String,
    issuer: String,
    user_agent: String,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    flights: Flights,
    /// Checked before any call; `None` when turned off.
    shape: Option<TokenShape>,
    /// Ask `/user/emails` even when the profile shows a public address.
    verified_email: bool,
}

impl Inner {
    fn get(&self, url: &str, token: &str) -> awc::ClientRequest {
        api_client()
            .get(url)
            .bearer_auth(token)
            .insert_header((header::ACCEPT, ACCEPT))
            .insert_header(("X-GitHub-Api-Version", API_VERSION))
            .insert_header((header::USER_AGENT, self.user_agent.as_str()))
    }

    /// GitHub's "check a token": the app it belongs to, its scopes and expiry.
    async fn check_token(&self, token: &str) -> Result<TokenFacts, VerifyError> {
        let req = self
            .credentials
            .basic_auth(api_client().post(self.check_url.as_str()))
            .insert_header((header::ACCEPT, ACCEPT))
            .insert_header(("X-GitHub-Api-Version", API_VERSION))
            .insert_header((header::USER_AGENT, self.user_agent.as_str()))
            .insert_header((header::CONTENT_TYPE, "application/json"));
        let body = json!({ "access_token": token }).to_string();
        let answer = send("GitHub token check", req, Some(body), self.timeout).await?;
        let check = classify("GitHub token check", &answer, &[404, 422])?;
        let app = check
            .get("app")
            .and_then(|a| a.get("client_id"))
            .and_then(Value::as_str);
        if app != Some(self.credentials.id()) {
            return Err(VerifyError::Audience);
        }
        let scopes: Vec<&str> = match check.get("scopes") {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let exp = match check.get("expires_at") {
            None | Some(Value::Null) => None,
            Some(Value::String(at)) => {
                Some(parse_utc(at).ok_or(VerifyError::InvalidClaim("expires_at"))?)
            }
            Some(_) => return Err(VerifyError::InvalidClaim("expires_at")),
        };
        if exp.is_some_and(|exp| self.clock.now() >= exp) {
            return Err(VerifyError::Expired);
        }
        let user_id = check
            .get("user")
            .and_then(|u| u.get("id"))
            .and_then(Value::as_u64)
            .ok_or(VerifyError::InvalidClaim("user"))?;
        Ok(TokenFacts {
            scope: scopes.join(" "),
            exp,
            user_id,
        })
    }

    async fn user(&self, token: &str, facts: TokenFacts) -> Result<Claims, VerifyError> {
        let answer = send(
            "GitHub /user",
            self.get(&self.user_url, token),
            None,
            self.timeout,
        )
        .await?;
        let user = classify("GitHub /user", &answer, &[401, 403])?;
        if user.get("id").and_then(Value::as_u64) != Some(facts.user_id) {
            return Err(VerifyError::Rejected(
                "GitHub /user names another user than the token check".into(),
            ));
        }
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::from(facts.user_id));
        for field in ["login", "name", "email", "avatar_url", "html_url"] {
            if let Some(value) = user.get(field).filter(|v| v.is_string()) {
                claims.insert(field.into(), value.clone());
            }
        }
        let may_read_emails = facts
            .scope
            .split(' ')
            .any(|s| s == "user" || s == "user:email");
        // The primary verified address, when the scopes let us read it, is the one an access
        // policy may trust (`email_verified`); the public profile address is kept otherwise,
        // without that mark. Asked for only when it is wanted or there is no address at all:
        // it is one more call per new token.
        let wanted = self.verified_email || !claims.contains_key("email");
        if may_read_emails && wanted {
            if let Some(email) = self.primary_email(token).await? {
                claims.insert("email".into(), Value::String(email));
                claims.insert("email_verified".into(), Value::Bool(true));
            }
        }
        claims.insert("scope".into(), Value::String(facts.scope));
        if let Some(exp) = facts.exp {
            claims.insert("exp".into(), Value::from(exp));
        }
        claims.insert(
            "client_id".into(),
            Value::String(self.credentials.id().to_owned()),
        );
        claims.insert("iss".into(), Value::String(self.issuer.clone()));
        Ok(Claims::new(claims))
    }

    /// The primary, verified address; `None` when GitHub will not say (a missing scope).
    async fn primary_email(&self, token: &str) -> Result<Option<String>, VerifyError> {
        let req = self.get(&self.emails_url, token);
        let answer = send("GitHub /user/emails", req, None, self.timeout).await?;
        match email_list(&answer) {
            Ok(email) => Ok(email),
            Err(VerifyError::Rejected(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// What the token check tells about a token.
struct TokenFacts {
    scope: String,
    exp: Option<u64>,
    user_id: u64,
}

fn email_list(answer: &Answer) -> Result<Option<String>, VerifyError> {
    if !answer.status.is_success() {
        return classify("GitHub /user/emails", answer, &[401, 403, 404]).map(|_| None);
    }
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&answer.body) else {
        return Ok(None);
    };
    Ok(items
        .iter()
        .find(|e| e["primary"] == Value::Bool(true) && e["verified"] == Value::Bool(true))
        .and_then(|e| e["email"].as_str())
        .map(str::to_owned))
}

impl GitHubVerifier {
    async fn check(&self, token: &str) -> Result<Claims, VerifyError> {
        let inner = &*self.inner;
        if let Some(shape) = inner.shape {
            shape.check(token)?;
        }
        inner
            .flights
            .run(token.as_bytes(), || async move {
                let facts = inner.check_token(token).await?;
                inner.user(token, facts).await
            })
            .await
    }
}

impl TokenVerifier for GitHubVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> LocalBoxFuture<'a, Result<Claims, VerifyError>> {
        Box::pin(self.check(token))
    }
}

impl fmt::Debug for GitHubVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubVerifier")
            .field("credentials", &self.inner.credentials)
            .field("user_url", &self.inner.user_url)
            .finish_non_exhaustive()
    }
}

/// `2024-05-01T12:00:00Z` (fractions and `±HH:MM` offsets allowed) as seconds since the epoch.
fn parse_utc(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hours: i64 = rest.get(1..3)?.parse().ok()?;
            let minutes: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(secs).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_times_parse_as_utc_seconds() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_utc("2011-09-06T20:39:23Z"), Some(1_315_341_563));
        assert_eq!(parse_utc("2024-02-29T12:00:00.123Z"), Some(1_709_208_000));
        assert_eq!(parse_utc("2024-02-29T14:00:00+02:00"), Some(1_709_208_000));
        for bad in [
            "",
            "2011-09-06",
            "2011-09-06 20:39:23Z",
            "2011-13-06T20:39:23Z",
            "2011-09-06T20:39:23",
            "2011-09-06T20:39:23+0200",
            "1969-12-31T23:59:59Z",
            "２011-09-06T20:39:23Z",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_preset_points_at_github_with_its_scopes_and_cache_ttl() {
        let proxy = github()
            .client("Iv1.abc", "gh-secret-value")
            .cache_ttl(Duration::from_secs(60))
            .builder()
            .unwrap()
            .public_url("https://mcp.example.com")
            .build()
            .unwrap();
        let c = &proxy.cfg;
        assert_eq!(
            c.auth_endpoint.as_str(),
            "https://github.com/login/oauth/authorize"
        );
        assert_eq!(
            c.token_endpoint.as_str(),
            "https://github.com/login/oauth/access_token"
        );
        assert!(c.revocation_endpoint.is_none());
        assert_eq!(c.scopes, ["read:user", "user:email"]);
        assert!(!format!("{proxy:?}").contains("gh-secret-value"));
        let verifier = github()
            .client("Iv1.abc", "gh-secret-value")
            .verifier()
            .unwrap();
        assert_eq!(
            verifier.inner.check_url,
            "https://api.github.com/applications/Iv1.abc/token"
        );
        assert!(!format!("{verifier:?}").contains("gh-secret-value"));
    }

    #[test]
    fn bad_settings_are_refused() {
        assert_eq!(
            github().client("id", "").verifier().unwrap_err(),
            ConfigError::Missing("client_secret")
        );
        assert_eq!(
            github().verifier().unwrap_err(),
            ConfigError::Missing("client_id")
        );
        assert_eq!(
            github().builder().unwrap_err(),
            ConfigError::Missing("client_id")
        );
        assert!(github()
            .client("id", "s")
            .user_agent("bad\nagent")
            .verifier()
            .is_err());
        assert!(github()
            .client("id", "s")
            .api_url("http://api.example")
            .verifier()
            .is_err());
        assert!(github()
            .client("id", "s")
            .web_url("ftp://x")
            .builder()
            .is_err());
    }
}

//! [`RequireAuth`]: the bearer-token middleware (configuration and `Transform`), and the
//! verified-token cache in front of its verifier.

mod cache;
mod tools;

use std::{future::Future, pin::Pin, rc::Rc, sync::Arc, time::Duration};

use actix_web::{
    body::{EitherBody, MessageBody},
    dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform},
    http::{
        header::{HeaderMap, AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH},
        Method,
    },
    Error, HttpMessage, ResponseError,
};
use futures::{
    future::{ready, LocalBoxFuture, Ready},
    StreamExt,
};

use crate::http::OutageLog;
pub use cache::TokenCache;
use cache::{Key, Lookup};
#[cfg(feature = "fuzzing")]
pub(crate) use tools::fast_scan_agrees;
use tools::{Requirement, Scan, ToolRules};

use crate::{
    access::{AccessPolicy, AccessRefusal},
    challenge::AuthError,
    challenge::{BearerErrorCode, Challenge},
    clock::Clock,
    clock::SystemClock,
    logged::Logged,
    scope::ScopeModel,
    secret::AccessToken,
    user::UserInfoFn,
    user::{default_user_info, Anonymous},
    validate::{resource_metadata_path, secure_url},
    verify::MAX_TOKEN_BYTES,
    AuthUser, ConfigError, TokenVerifier, VerifyError,
};

/// Middleware that admits only requests with a valid bearer token and hands the user to
/// handlers as [`AuthUser`].
///
/// Build it once, outside the `HttpServer::new` closure, and `.wrap(auth.clone())` it in every
/// worker: the verifier, the token cache and the rendered challenges are shared (`Arc`), so a
/// token verified by one worker is a cache hit in all of them. Set
/// `HttpServer::tcp_nodelay(true)` on that server: without it a streamed (SSE) response on a
/// keep-alive connection waits about 40 ms for the client's delayed ACK.
///
/// For each request:
/// 1. The token is read from the `Authorization` header only: exactly one such header, scheme
///    `Bearer` in any case, an RFC 6750 `b64token` of at most 16 KiB. A token in the query
///    string or a form body is never read.
/// 2. A cached token is served from memory ([`TokenCache`]); otherwise the verifier checks it,
///    the claims are mapped to a user ([`default_user_info`] unless replaced), and the user is
///    cached until the token's `exp`, capped by [`cache_max_ttl`](Self::cache_max_ttl). A
///    token the verifier refused for good (bad signature, expired, wrong audience, ...) is
///    answered from memory too, for [`TokenCache::REFUSAL_TTL`] seconds; one refused for a
///    reason that may pass (a key not published yet, not valid yet) or merely malformed is
///    looked at again on its next request.
/// 3. The required scopes are checked, and the [`AuthUser`] goes into the request extensions.
///
/// Rejections are answered as responses, never as `Err`, so outer middleware (CORS, Logger)
/// sees them. See [`AuthError`] for the statuses and challenges; every challenge carries
/// `resource_metadata` pointing at the RFC 9728 metadata of this resource. A failure of the
/// provider ([`VerifyError::Unavailable`]) is answered with 503 and logged at `error`, once:
/// while the failures go on, one line every 30 s at most, with the count of those not logged;
/// a bad token is logged at `debug`, without the token.
///
/// ```no_run
/// # fn verifier() -> impl actix_mcp_oauth::TokenVerifier {
/// #     actix_mcp_oauth::verify::FnVerifier::new(|_t: String| async { Err(actix_mcp_oauth::VerifyError::Expired) })
/// # }
/// use actix_mcp_oauth::RequireAuth;
///
/// # fn main() -> Result<(), actix_mcp_oauth::ConfigError> {
/// let auth = RequireAuth::new(verifier(), "https://api.example.com/mcp")?
///     .require_scopes(["mcp:tools"]);
/// assert_eq!(
///     auth.resource_metadata_url(),
///     "https://api.example.com/.well-known/oauth-protected-resource/mcp"
/// );
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct RequireAuth {
    config: Arc<Config>,
}

/// How a token that missed the cache becomes a user, when the verifier and mapping alone do
/// not say it all: the OAuth proxy opens the tokens it issued itself this way, and verifies
/// the provider's tokens only when it is configured to accept them.
pub(crate) trait Authenticate: Send + Sync + 'static {
    /// The user of `token` and until when it may be served from the cache (`None`: the
    /// cache's maximum TTL).
    fn authenticate<'a>(
        &'a self,
        token: &'a str,
    ) -> LocalBoxFuture<'a, Result<(AuthUser, Option<u64>), VerifyError>>;

    /// Whether `user`, found in the cache, was revoked since: asked on every cache hit, so
    /// it must be cheap and must not allocate.
    fn revoked(&self, _user: &AuthUser, _now: u64) -> bool {
        false
    }
}

/// Everything a worker needs; cloned once per worker so that requests touch no shared
/// reference counts beyond the cache entry they hit.
#[derive(Clone)]
struct Config {
    verifier: Arc<dyn TokenVerifier>,
    /// Replaces `verifier` and `user_info` on a cache miss when set.
    authenticator: Option<Arc<dyn Authenticate>>,
    resource: Box<str>,
    resource_metadata_url: Box<str>,
    required_scopes: Vec<String>,
    /// `required_scopes`, each with the scopes that satisfy it under the model's hierarchy.
    requirements: Vec<Requirement>,
    /// The hierarchy, and the default set a 401 asks for.
    scope_model: Option<ScopeModel>,
    /// Scopes per MCP tool, as given.
    tool_scopes: Vec<(String, Vec<String>)>,
    /// Prepared from `tool_scopes`; `None` when there are none (then no body is read).
    tools: Option<Arc<ToolRules>>,
    user_info: Arc<UserInfoFn>,
    cache: Arc<TokenCache>,
    cache_max_ttl: u64,
    /// The longest bearer token read; longer is `invalid_token` before any verification.
    max_token_bytes: usize,
    /// The largest `POST` body read for the tool requirements; larger is 400.
    max_tool_call_bytes: usize,
    allow_anonymous: bool,
    clock: Arc<dyn Clock>,
    challenges: Challenges,
    access_policy: Option<AccessPolicy>,
    /// "Provider unavailable", logged once per interval, not once per request.
    outages: Arc<OutageLog>,
    /// Whether the resource's metadata is served for its path with a trailing slash too, so
    /// that a request there is challenged with that document.
    trailing_slash: bool,
    /// What a 401 asks for: the route's scopes, or else the model's default set.
    ask: Vec<String>,
}

#[derive(Clone)]
struct Challenges {
    missing: Challenge,
    invalid_token: Challenge,
    invalid_request: Challenge,
}

impl Challenges {
    /// The challenges; a 401 asks for `ask` (the route's scopes, or the default set) when
    /// there is any (MCP 2025-11-25: the scopes to request in the first authorization).
    fn new(resource_metadata_url: &str, ask: &[String]) -> Self {
        let base = Challenge::builder().resource_metadata(resource_metadata_url);
        let asking = if ask.is_empty() {
            base.clone()
        } else {
            base.clone().scope(ask)
        };
        Self {
            missing: asking.build(),
            invalid_token: asking.error(BearerErrorCode::InvalidToken).build(),
            invalid_request: base.error(BearerErrorCode::InvalidRequest).build(),
        }
    }
}

impl RequireAuth {
    /// Protects the resource at `resource`, the absolute URL clients use for it (for an MCP
    /// server, the endpoint URL such as `https://api.example.com/mcp`), checking tokens with
    /// `verifier`.
    ///
    /// `resource` must be `https` (plain `http` only on loopback), without fragment or query.
    /// The RFC 9728 metadata URL is derived from it by inserting the well-known path before the
    /// resource's path: `https://api.example.com/.well-known/oauth-protected-resource/mcp`
    /// (for a resource at the root, `.../.well-known/oauth-protected-resource`).
    ///
    /// Defaults: no required scope, [`default_user_info`], a cache of
    /// [`TokenCache::DEFAULT_CAPACITY`] tokens with a maximum TTL of 5 minutes, anonymous
    /// requests refused, [`SystemClock`].
    pub fn new(verifier: impl TokenVerifier, resource: &str) -> Result<Self, ConfigError> {
        let url = secure_url("resource", resource)?;
        if url.query().is_some() {
            return Err(ConfigError::InvalidUrl {
                field: "resource",
                reason: "a query is not allowed".into(),
            });
        }
        let mut metadata = url.clone();
        metadata.set_path(&resource_metadata_path(url.path()));
        let resource_metadata_url: Box<str> = metadata.as_str().into();
        Ok(Self {
            config: Arc::new(Config {
                verifier: Arc::new(verifier),
                authenticator: None,
                resource: url.as_str().into(),
                challenges: Challenges::new(&resource_metadata_url, &[]),
                resource_metadata_url,
                required_scopes: Vec::new(),
                requirements: Vec::new(),
                scope_model: None,
                tool_scopes: Vec::new(),
                tools: None,
                user_info: Arc::new(default_user_info),
                cache: Arc::new(TokenCache::new(TokenCache::DEFAULT_CAPACITY)),
                cache_max_ttl: 300,
                max_token_bytes: MAX_TOKEN_BYTES,
                max_tool_call_bytes: tools::DEFAULT_TOOL_CALL_BYTES,
                allow_anonymous: false,
                clock: Arc::new(SystemClock),
                access_policy: None,
                outages: Arc::new(OutageLog::new("cannot verify bearer tokens")),
                trailing_slash: false,
                ask: Vec::new(),
            }),
        })
    }

    /// Challenges a request at the resource's path with a trailing slash (`/mcp/`) with the
    /// metadata served for that spelling, whose `resource` says `…/mcp/`: a client that was
    /// given that URL compares the document's `resource` with it byte for byte and would
    /// refuse the canonical one. Only where that document is served (the proxy's own).
    pub(crate) fn with_trailing_slash(mut self) -> Self {
        self.config_mut().trailing_slash = true;
        self
    }

    /// The protected resource's URL, as parsed (and so normalised) from the one given.
    pub fn resource(&self) -> &str {
        &self.config.resource
    }

    /// The URL of the protected resource metadata, sent as `resource_metadata` in every
    /// challenge. Serve the RFC 9728 document there.
    pub fn resource_metadata_url(&self) -> &str {
        &self.config.resource_metadata_url
    }

    /// Requires every one of `scopes` in the token; a valid token lacking one gets 403
    /// `insufficient_scope` whose `scope` lists the token's scopes followed by the missing
    /// ones (MCP "Scope Challenge Handling": a client re-authorizing with that list keeps what
    /// it had). A 401 asks for `scopes`. Replaces earlier requirements. With a
    /// [`scope_model`](Self::scope_model), a scope that implies a required one satisfies it.
    pub fn require_scopes<I>(mut self, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.config_mut().required_scopes = scopes.into_iter().map(Into::into).collect();
        self.config_mut().prepare();
        self
    }

    /// Requires `scopes` (on top of the route's) for calls of the MCP tool `tool`: a
    /// `tools/call` of it with a token lacking one gets 403 `insufficient_scope` whose
    /// `scope` lists the token's scopes followed by every scope the call lacks (the route's
    /// and the tool's, checked together), so that a client re-authorizes once for all of them
    /// and keeps what it had (RFC 6750 §3.1, MCP "Scope Challenge Handling"). Adds to earlier
    /// requirements of the same tool.
    ///
    /// With any tool requirement set, the body of every `POST` is read (up to 4 MiB, see
    /// [`RequireAuth::max_tool_call_bytes`]; a larger one gets 400), scanned for the JSON-RPC
    /// `method` and `params.name` without being built, and handed to the handler unchanged;
    /// other methods are not read. A call without a token gets a 401 asking for the route's
    /// scopes (or the model's default set) and the called tool's. A batch needs
    /// what each of its calls needs, and one refusal names all of it; a body that is not
    /// JSON-RPC gets 400 `invalid_request`, one with a `Content-Encoding` other than
    /// `identity` 415 ([`AuthError::UnsupportedEncoding`]). Without tool requirements no body
    /// is read.
    ///
    /// ```no_run
    /// # fn verifier() -> impl actix_mcp_oauth::TokenVerifier {
    /// #     actix_mcp_oauth::verify::FnVerifier::new(|_t: String| async { Err(actix_mcp_oauth::VerifyError::Expired) })
    /// # }
    /// # fn main() -> Result<(), actix_mcp_oauth::ConfigError> {
    /// let auth = actix_mcp_oauth::RequireAuth::new(verifier(), "https://api.example.com/mcp")?
    ///     .tool_scopes("delete_file", ["files:write"]);
    /// # Ok(()) }
    /// ```
    pub fn tool_scopes<I>(mut self, tool: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let config = self.config_mut();
        config
            .tool_scopes
            .push((tool.into(), scopes.into_iter().map(Into::into).collect()));
        config.prepare();
        self
    }

    /// The scope hierarchy to check requirements with (`files:write` implying `files:read`),
    /// and the default set a 401 challenge asks for when the route requires no scope (with
    /// required scopes, the 401 asks for those). A required or tool scope the model does not
    /// define is logged at `warn`: no token granted under it can carry that scope. The
    /// [`OAuthProxy`](crate::OAuthProxy)'s `require_auth()` has its model set already.
    pub fn scope_model(mut self, model: &ScopeModel) -> Self {
        self.config_mut().scope_model = Some(model.clone());
        self.config_mut().prepare();
        self
    }

    /// Replaces the claims-to-user mapping ([`default_user_info`] by default). An error from
    /// `f` refuses the token (or answers 503 for [`VerifyError::Unavailable`]).
    pub fn user_info<F>(mut self, f: F) -> Self
    where
        F: Fn(&crate::Claims) -> Result<crate::UserInfo, VerifyError> + Send + Sync + 'static,
    {
        let config = self.config_mut();
        config.user_info = Arc::new(f);
        // Users mapped by the old function must not be served.
        config.cache = Arc::new(TokenCache::new(config.cache.capacity()));
        self
    }

    /// The longest bearer token read, in bytes (default and ceiling 16 KiB, the JWT decoder's
    /// own bound; at least 256): a longer one is `invalid_token` before any verification or
    /// provider call. Lower it when your provider's tokens are known to be short.
    pub fn max_token_bytes(mut self, bytes: usize) -> Result<Self, ConfigError> {
        if !(256..=MAX_TOKEN_BYTES).contains(&bytes) {
            return Err(crate::validate::invalid(
                "max_token_bytes",
                "between 256 bytes and 16 KiB",
            ));
        }
        self.config_mut().max_token_bytes = bytes;
        Ok(self)
    }

    /// The largest `POST` body read to find the tool a request calls, when tool requirements
    /// are set (default 4 MiB, between 1 KiB and 64 MiB): a larger body gets 400
    /// `invalid_request`, answered from its `Content-Length` when it declares one, so it is not
    /// read. Raise it when tools take large arguments (file contents); the whole body is held
    /// in memory while it is checked.
    pub fn max_tool_call_bytes(mut self, bytes: usize) -> Result<Self, ConfigError> {
        if !(1024..=tools::MAX_TOOL_CALL_BYTES).contains(&bytes) {
            return Err(crate::validate::invalid(
                "max_tool_call_bytes",
                "between 1 KiB and 64 MiB",
            ));
        }
        self.config_mut().max_tool_call_bytes = bytes;
        Ok(self)
    }

    /// The most tokens held in the verified-token cache (default 10 000); 0 disables it.
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.config_mut().cache = Arc::new(TokenCache::new(capacity));
        self
    }

    /// Serves verified tokens from `cache` instead of a cache of its own: to size it once and
    /// read its [`len`](TokenCache::len) for metrics, or to share it between two `RequireAuth`
    /// built separately for the same resource. Share it only between instances with the same
    /// verifier and [`user_info`](Self::user_info) mapping: an entry is the user a token was
    /// verified and mapped as. (Clones of one `RequireAuth`, such as `auth.clone()` or
    /// `auth.clone().require_scopes([..])`, share their cache already.) A later `user_info` or
    /// [`cache_capacity`](Self::cache_capacity) replaces it with a new, empty cache.
    pub fn token_cache(mut self, cache: Arc<TokenCache>) -> Self {
        self.config_mut().cache = cache;
        self
    }

    /// The longest a verified token is cached (default 5 minutes), whatever its `exp`; also the
    /// lifetime of tokens without `exp` (opaque tokens), which bounds how long a revoked opaque
    /// token keeps working. Whole seconds; below one second, nothing is cached.
    pub fn cache_max_ttl(mut self, ttl: Duration) -> Self {
        self.config_mut().cache_max_ttl = ttl.as_secs();
        self
    }

    /// Lets requests without a bearer token (no `Authorization` header, or one of another
    /// scheme) through, with no user; handlers take `Option<AuthUser>`. A request with a bearer
    /// token that is invalid, malformed or short of the required scopes is still refused.
    pub fn allow_anonymous(mut self) -> Self {
        self.config_mut().allow_anonymous = true;
        self
    }

    /// Admits only the users `policy` admits, checked on every request after the token and the
    /// scopes: a refused user gets 403 `access_denied`, and a policy check that cannot get an
    /// answer (GitHub's API down) 503. See [`access`](crate::access). Default: every user
    /// with a valid token.
    pub fn access_policy(mut self, policy: AccessPolicy) -> Self {
        self.config_mut().access_policy = Some(policy);
        self
    }

    /// The clock used for cache expiry (the [`SystemClock`] by default); for tests.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.config_mut().clock = clock;
        self
    }

    /// The user this middleware would serve `token` to from its cache, with no verification:
    /// `None` when the token is not cached (or its entry expired) or, for a token the proxy
    /// issued, when it was revoked since. The lookup a cache hit makes, revocation check
    /// included; it does not allocate beyond the returned user's reference counts.
    pub fn cached_user(&self, token: &str) -> Option<AuthUser> {
        let config = &self.config;
        let now = config.clock.now();
        config
            .cache
            .get(token, now)
            .filter(|user| !config.is_revoked(user, now))
    }

    /// Turns cache misses over to `authenticator` instead of the verifier and mapping.
    pub(crate) fn authenticator(mut self, authenticator: Arc<dyn Authenticate>) -> Self {
        let config = self.config_mut();
        config.authenticator = Some(authenticator);
        config.cache = Arc::new(TokenCache::new(config.cache.capacity()));
        self
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }
}

impl std::fmt::Debug for RequireAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireAuth")
            .field("resource", &self.config.resource)
            .field("required_scopes", &self.config.required_scopes)
            .field("cache", &self.config.cache)
            .field("allow_anonymous", &self.config.allow_anonymous)
            .finish_non_exhaustive()
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequireAuth
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = RequireAuthMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        let config = Config::clone(&self.config);
        let slashed = config.slashed().map(|(path, c)| (path, Rc::new(c)));
        ready(Ok(RequireAuthMiddleware {
            service: Rc::new(service),
            config: Rc::new(config),
            slashed,
        }))
    }
}

/// The service [`RequireAuth`] wraps around a route; not used directly.
#[doc(hidden)]
pub struct RequireAuthMiddleware<S> {
    service: Rc<S>,
    config: Rc<Config>,
    /// The path with the trailing slash, and the same configuration challenging with the
    /// metadata for that spelling (the cache, verifier and everything else shared).
    slashed: Option<(Box<str>, Rc<Config>)>,
}

impl<S, B> Service<ServiceRequest> for RequireAuthMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let config = match &self.slashed {
            Some((path, slashed)) if req.path() == &**path => Rc::clone(slashed),
            _ => Rc::clone(&self.config),
        };
        Box::pin(async move {
            let mut req = req;
            let checked = match config.authenticate(req.headers()).await {
                Ok(user) => config
                    .check_scopes(&mut req, user.as_ref())
                    .await
                    .map(|()| user),
                Err(AuthError::MissingToken(_)) if config.tools.is_some() => {
                    Err(config.missing_token(&mut req).await)
                }
                Err(rejection) => Err(rejection),
            };
            let checked = match checked {
                Ok(Some(user)) => config.check_policy(&user).await.map(|()| Some(user)),
                other => other,
            };
            match checked {
                Ok(Some(user)) => {
                    req.extensions_mut().insert(user);
                }
                Ok(None) => {
                    req.extensions_mut()
                        .insert(Anonymous(config.challenges.missing.clone()));
                }
                Err(rejection) => {
                    drain_small_body(&mut req).await;
                    let res = rejection.error_response();
                    return Ok(req.into_response(res).map_into_right_body());
                }
            }
            service
                .call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        })
    }
}

impl Config {
    /// With [`RequireAuth::with_trailing_slash`]: the resource's path followed by `/`, and
    /// this configuration challenging with the metadata URL of that path.
    fn slashed(&self) -> Option<(Box<str>, Config)> {
        if !self.trailing_slash {
            return None;
        }
        let url = url::Url::parse(&self.resource).ok()?;
        let path = format!("{}/", url.path().trim_end_matches('/'));
        let mut metadata = url;
        metadata.set_path(&resource_metadata_path(&path));
        let mut slashed = self.clone();
        slashed.resource_metadata_url = metadata.as_str().into();
        slashed.challenges = Challenges::new(&slashed.resource_metadata_url, &self.ask);
        Some((path.into(), slashed))
    }

    /// The requirements and challenges, from the scopes, the model and the tool scopes.
    fn prepare(&mut self) {
        let model = self.scope_model.as_ref();
        self.requirements = self
            .required_scopes
            .iter()
            .map(|s| Requirement::new(s, model))
            .collect();
        let ask: Vec<String> = match (self.required_scopes.is_empty(), model) {
            (false, _) => self.required_scopes.clone(),
            (true, Some(model)) => model.default_scopes().to_vec(),
            (true, None) => Vec::new(),
        };
        self.challenges = Challenges::new(&self.resource_metadata_url, &ask);
        self.ask = ask;
        if let Some(model) = model {
            let named = self
                .required_scopes
                .iter()
                .chain(self.tool_scopes.iter().flat_map(|(_, scopes)| scopes));
            let mut warned: Vec<&str> = Vec::new();
            for scope in named {
                if !model.names().any(|n| n == scope) && !warned.contains(&scope.as_str()) {
                    // No token granted under this model carries it: every request that
                    // needs it would be refused, which is a configuration mistake.
                    log::warn!(
                        "RequireAuth for {} requires the scope `{scope}`, which the scope \
                         model does not define: requests needing it are always refused",
                        self.resource
                    );
                    warned.push(scope);
                }
            }
        }
        self.tools = (!self.tool_scopes.is_empty()).then(|| {
            Arc::new(ToolRules::new(
                &self.tool_scopes,
                &self.required_scopes,
                model,
            ))
        });
    }

    /// Whether `user` holds the scopes the request needs: the route's, and with tool
    /// requirements those of every tool a `POST` calls, checked together so that one refusal
    /// names them all. The body goes back into the request for the handler.
    async fn check_scopes(
        &self,
        req: &mut ServiceRequest,
        user: Option<&AuthUser>,
    ) -> Result<(), AuthError> {
        let Some(tools) = self.tools.as_ref().filter(|_| req.method() == Method::POST) else {
            return self.check_route(user);
        };
        if let Some(encoding) = encoded(req.headers()) {
            log::debug!("tool call refused: a body in Content-Encoding {encoding} is not read");
            return Err(AuthError::UnsupportedEncoding);
        }
        let Some(body) = tools::read_body(req, self.max_tool_call_bytes).await else {
            log::debug!("tool call refused: the body is too long or broken off");
            return Err(AuthError::InvalidRequest(
                self.challenges.invalid_request.clone(),
            ));
        };
        let verdict = match tools.scan(&body) {
            Scan::Free => self.check_route(user),
            Scan::Unreadable(why) => {
                log::debug!("tool call refused: {why}");
                Err(AuthError::InvalidRequest(
                    self.challenges.invalid_request.clone(),
                ))
            }
            Scan::Call(rule) => tools::admit(
                &tools::needs(std::slice::from_ref(&rule)),
                user,
                &self.resource_metadata_url,
            ),
            Scan::Calls(rules) => {
                tools::admit(&tools::needs(&rules), user, &self.resource_metadata_url)
            }
        };
        // Handed back as a one-item stream: one allocation, where `Payload::from(Bytes)`
        // builds an HTTP/1 payload (two).
        let stream: Pin<
            Box<
                dyn futures::Stream<
                    Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>,
                >,
            >,
        > = Box::pin(futures::stream::once(ready(Ok(body))));
        req.set_payload(actix_web::dev::Payload::Stream { payload: stream });
        verdict
    }

    /// The 401 for a request without a token when tools have requirements: the `scope` to ask
    /// for is what the route's 401 asks for (its scopes, or the model's default set) followed
    /// by what the called tool needs, so that the first authorization already covers both.
    /// Only a small body (what [`drain_small_body`] would read anyway) is read for it; any
    /// other request gets the route's challenge.
    async fn missing_token(&self, req: &mut ServiceRequest) -> AuthError {
        let route = || AuthError::MissingToken(self.challenges.missing.clone());
        let small = declared_length(req.headers()).is_some_and(|n| n > 0 && n <= DRAIN_LIMIT);
        let Some(tools) = self.tools.as_ref() else {
            return route();
        };
        if req.method() != Method::POST || !small || encoded(req.headers()).is_some() {
            return route();
        }
        let read = tools::read_body(req, DRAIN_LIMIT);
        let Ok(Some(body)) = actix_web::rt::time::timeout(DRAIN_WAIT, read).await else {
            return route();
        };
        let needed = match tools.scan(&body) {
            Scan::Call(rule) => tools::needs(std::slice::from_ref(&rule)),
            Scan::Calls(rules) => tools::needs(&rules),
            Scan::Free | Scan::Unreadable(_) => return route(),
        };
        let mut ask: Vec<&str> = self.ask.iter().map(String::as_str).collect();
        for requirement in needed {
            if !ask.contains(&&*requirement.scope) {
                ask.push(&requirement.scope);
            }
        }
        AuthError::MissingToken(
            Challenge::builder()
                .resource_metadata(&*self.resource_metadata_url)
                .scope(ask)
                .build(),
        )
    }

    /// The route's requirements; an anonymous request that may pass is not held to them.
    fn check_route(&self, user: Option<&AuthUser>) -> Result<(), AuthError> {
        if user.is_none() || self.requirements.is_empty() {
            return Ok(());
        }
        let needed: Vec<&Requirement> = self.requirements.iter().collect();
        tools::admit(&needed, user, &self.resource_metadata_url)
    }

    /// The access policy, after the token and the scopes.
    async fn check_policy(&self, user: &AuthUser) -> Result<(), AuthError> {
        let Some(policy) = &self.access_policy else {
            return Ok(());
        };
        policy.check(user).await.map_err(|refusal| match refusal {
            AccessRefusal::Refused(_) => AuthError::AccessDenied,
            AccessRefusal::Unavailable => AuthError::Unavailable,
        })
    }

    /// The user of the request's token, `None` for an anonymous request that may pass.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<AuthUser>, AuthError> {
        let token = match bearer_token(headers, self.max_token_bytes) {
            Ok(Some(token)) => token,
            Ok(None) if self.allow_anonymous => return Ok(None),
            Ok(None) => return Err(AuthError::MissingToken(self.challenges.missing.clone())),
            Err(Malformed::Request(why)) => {
                log::debug!("bearer authorization refused: {why}");
                return Err(AuthError::InvalidRequest(
                    self.challenges.invalid_request.clone(),
                ));
            }
            Err(Malformed::Token(why)) => {
                log::debug!("bearer token refused: {why}");
                return Err(self.invalid_token());
            }
        };
        let now = self.clock.now();
        let user = match self.cache.lookup(token, now) {
            Lookup::User(user) if self.is_revoked(&user, now) => {
                // A cached token was checked as a b64token when it was verified.
                if let Ok(token) = std::str::from_utf8(token) {
                    self.cache.remove(token);
                }
                log::debug!("bearer token refused: revoked");
                return Err(self.invalid_token());
            }
            Lookup::User(user) => user,
            Lookup::Refused => {
                log::debug!("bearer token refused: refused moments ago");
                return Err(self.invalid_token());
            }
            Lookup::Miss(key) => match std::str::from_utf8(token) {
                Ok(token) if is_b64token(token) => self.verify(token, key, now).await?,
                _ => {
                    log::debug!("bearer authorization refused: not an RFC 6750 b64token");
                    return Err(AuthError::InvalidRequest(
                        self.challenges.invalid_request.clone(),
                    ));
                }
            },
        };
        Ok(Some(user))
    }

    async fn verify(&self, token: &str, key: Key, now: u64) -> Result<AuthUser, AuthError> {
        let cap = now.saturating_add(self.cache_max_ttl);
        if let Some(authenticator) = &self.authenticator {
            let (user, expires_at) = match authenticator.authenticate(token).await {
                Ok(found) => found,
                Err(e) => return Err(self.refused(token, key, now, e)),
            };
            self.cache.insert_keyed(
                key,
                user.clone(),
                expires_at.map_or(cap, |exp| exp.min(cap)),
                now,
            );
            return Ok(user);
        }
        let claims = match self.verifier.verify(token).await {
            Ok(claims) => claims,
            Err(e) => return Err(self.refused(token, key, now, e)),
        };
        let info = match (self.user_info)(&claims) {
            Ok(info) => info,
            Err(e) => return Err(self.refused(token, key, now, e)),
        };
        let expires_at = claims.expires_at();
        let user = AuthUser::new(info, claims, AccessToken::new(token));
        self.cache.insert_keyed(
            key,
            user.clone(),
            expires_at.map_or(cap, |exp| exp.min(cap)),
            now,
        );
        Ok(user)
    }

    /// The answer to a failed verification. A refusal that will stand for a while is
    /// remembered briefly (see [`remembered`]), so that repeating it costs a cache lookup, not
    /// another signature check or provider call; a provider outage is not, so the token is
    /// tried again as soon as it comes back.
    fn refused(&self, token: &str, key: Key, now: u64, error: VerifyError) -> AuthError {
        if error.is_unavailable() {
            self.outages.record(now, &error.to_string());
            return AuthError::Unavailable;
        }
        log::debug!("bearer token refused: {}", Logged(&error.to_string()));
        if remembered(&error) {
            self.cache.insert_refused_keyed(key, token, now);
        }
        self.invalid_token()
    }

    fn is_revoked(&self, user: &AuthUser, now: u64) -> bool {
        self.authenticator
            .as_ref()
            .is_some_and(|a| a.revoked(user, now))
    }

    fn invalid_token(&self) -> AuthError {
        AuthError::InvalidToken(self.challenges.invalid_token.clone())
    }
}

/// Whether a refusal is remembered for [`TokenCache::REFUSAL_TTL`]: only when asking again
/// within that time would cost a signature check or a provider call and give the same answer.
/// The match is exhaustive so that a new kind of refusal is decided here, not by default.
fn remembered(error: &VerifyError) -> bool {
    match error {
        // The token itself is settled: asking again gives the same answer.
        VerifyError::Algorithm
        | VerifyError::Signature
        | VerifyError::Expired
        | VerifyError::Issuer
        | VerifyError::Audience
        | VerifyError::InvalidClaim(_)
        | VerifyError::OtherClient(_)
        | VerifyError::NotAccessToken(_)
        | VerifyError::Rejected(_) => true,
        // Found without a signature check, so remembering saves nothing, and a flood of
        // distinct garbage would only push useful refusals out of the bounded map.
        VerifyError::Malformed(_) => false,
        // May pass moments later: a key the provider has just published (a remembered refusal
        // would keep the token from triggering the key set refetch that finds it), or a token
        // minted by an issuer whose clock runs ahead of ours.
        VerifyError::UnknownKey | VerifyError::NotYetValid => false,
        // The provider's failure, not the token's.
        VerifyError::Unavailable(_) => false,
    }
}

/// The `Content-Encoding` of a body when it is not `identity`: such a body is not scanned
/// for tool calls (the scan would read other bytes than the handler decodes).
fn encoded(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(CONTENT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("identity"))
        .map(|coding| Logged(coding).to_string())
}

/// The largest request body read (and dropped) before a refusal is answered.
const DRAIN_LIMIT: usize = 64 * 1024;
/// How long a refusal waits for that body.
const DRAIN_WAIT: Duration = Duration::from_millis(250);

/// Reads and drops a small request body before a refusal is answered. actix-web closes the
/// connection after answering a request whose sized body was left unread, so without this a
/// client refused for an expired token would pay a new connection (for TLS, a handshake) for
/// its retry with a fresh one, and a repeated bad token would cost a connection each time. A
/// body declared above 64 KiB is left unread and refused at once, and one not arriving within
/// 250 ms (a client trickling it, or one that sent only the headers) is abandoned: the refusal
/// is then answered and the connection closes as before, so a slow client delays its own
/// refusal by at most that long and holds no worker. A chunked body actix-web drains itself.
pub(crate) async fn drain_small_body(req: &mut ServiceRequest) {
    if !declared_length(req.headers()).is_some_and(|n| n > 0 && n <= DRAIN_LIMIT) {
        return;
    }
    let mut payload = req.take_payload();
    let drain = async {
        let mut read = 0;
        while let Some(Ok(chunk)) = payload.next().await {
            read += chunk.len();
            if read > DRAIN_LIMIT {
                break;
            }
        }
    };
    let _ = actix_web::rt::time::timeout(DRAIN_WAIT, drain).await;
}

/// The body length the request declares in `Content-Length`.
fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
}

enum Malformed {
    /// Answered with 400 `invalid_request`.
    Request(&'static str),
    /// Answered with 401 `invalid_token`.
    Token(&'static str),
}

/// The bearer token of the request: `Ok(None)` when there is no `Authorization` header or it
/// uses another scheme (RFC 6750 §3.1: no error information then). The token's bytes: whether
/// they are a b64token (and so UTF-8) is checked on a cache miss only.
fn bearer_token(headers: &HeaderMap, max_bytes: usize) -> Result<Option<&[u8]>, Malformed> {
    let mut values = headers.get_all(AUTHORIZATION);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Malformed::Request("more than one Authorization header"));
    }
    // The token's syntax is checked on a cache miss only (`is_b64token`, and UTF-8 with it): a
    // cached token passed that check when it was verified, and a hit compares every byte, so
    // the hot path walks the token once (the cache's equality check) instead of three times.
    let value = value.as_bytes();
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(space) => (&value[..space], &value[space + 1..]),
        None => (value, &value[value.len()..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        let visible = value
            .iter()
            .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b));
        if !visible {
            return Err(Malformed::Request(
                "Authorization header is not visible ASCII",
            ));
        }
        return Ok(None);
    }
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = rest.iter().position(|b| !blank(b)).unwrap_or(rest.len());
    let end = rest
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |last| last + 1);
    let token = &rest[start..end.max(start)];
    if token.is_empty() {
        return Err(Malformed::Request("empty bearer token"));
    }
    if token.len() > max_bytes {
        return Err(Malformed::Token("bearer token longer than max_token_bytes"));
    }
    Ok(Some(token))
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 6750 §2.1).
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

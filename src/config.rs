use std::{fmt, sync::Arc, time::Duration};

use derive_more::{Display, Error};
use url::{Host, Url};

use crate::{
    consent::{ConsentConfig, ConsentTemplateFn, DEFAULT_REMEMBER, MAX_REMEMBER},
    redirect::validate_redirect_uri,
    seal::{ProxyKey, Sealer},
    Claims, ClientSecret, Clock, ConsentBranding, ConsentMode, ConsentView, RequireAuth,
    SystemClock, TokenVerifier, UserInfo, UserInfoFn, VerifyError,
};

/// A configuration mistake, reported by a builder's `build()` (or a constructor) before the
/// server starts.
#[derive(Debug, Display, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required setting was not given.
    #[display("`{_0}` is required")]
    Missing(#[error(not(source))] &'static str),
    /// A URL setting does not parse, or is not absolute.
    #[display("`{field}` is not an absolute URL: {reason}")]
    InvalidUrl {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A URL setting uses plain `http` on a host other than loopback.
    #[display("`{field}` must use https (plain http is allowed only on loopback): {url}")]
    InsecureUrl {
        /// The setting.
        field: &'static str,
        /// The URL given.
        url: String,
    },
    /// A setting has a value that cannot work.
    #[display("`{field}`: {reason}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The issuer's discovery document could not be fetched or read.
    #[display("discovery failed: {_0}")]
    Discovery(#[error(not(source))] String),
}

/// How the proxy authenticates itself to the upstream token and revocation endpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// `client_id` and `client_secret` in the form body (RFC 6749 §2.3.1). The default.
    #[default]
    ClientSecretPost,
    /// HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
}

/// What the proxy sends upstream for the client's `resource` parameter (RFC 8707).
///
/// The proxy always checks that a client's `resource` is this server's own resource; this
/// only decides whether the upstream hears of it. When it does, it gets the canonical resource
/// (`public_url + mcp_path`) on every request, whether the client sent `resource` or not, so
/// that tokens are issued for the same audience in either case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResourceForwarding {
    /// Not at all: the default, since Google, Entra ID and Auth0 reject an unknown `resource`.
    #[default]
    Omit,
    /// As `resource`, to the authorization and token endpoints.
    AsIs,
    /// Under another name, to the authorization endpoint only (Auth0: `As("audience".into())`).
    As(String),
}

/// A client that skips registration and sends a pre-configured client id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StaticClient {
    pub(crate) client_id: String,
    pub(crate) redirect_uris: Vec<String>,
}

/// Authorization request parameters the proxy sets itself; configuration cannot override them.
const RESERVED_AUTHORIZE_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
];

const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// The validated configuration behind an [`OAuthProxy`].
pub(crate) struct ProxyConfig {
    /// The public origin, without a trailing slash: our issuer identifier.
    pub(crate) base: String,
    pub(crate) mcp_path: String,
    /// `base + mcp_path`: the canonical resource (RFC 8707, RFC 9728).
    pub(crate) resource: String,
    /// `base + /oauth/callback`: the redirect URI registered upstream.
    pub(crate) callback: String,
    pub(crate) auth_endpoint: Url,
    pub(crate) token_endpoint: Url,
    pub(crate) revocation_endpoint: Option<Url>,
    pub(crate) upstream_issuer: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<ClientSecret>,
    pub(crate) client_auth: ClientAuthMethod,
    /// Built once so that every worker shares its token cache.
    pub(crate) require_auth: RequireAuth,
    pub(crate) scopes: Vec<String>,
    pub(crate) grant_types: Vec<String>,
    pub(crate) extra_authorize_params: Vec<(String, String)>,
    pub(crate) resource_forwarding: ResourceForwarding,
    pub(crate) static_clients: Vec<StaticClient>,
    /// Whether `/register` is served and the client ids it issued are accepted.
    pub(crate) dynamic_registration: bool,
    pub(crate) consent: ConsentConfig,
    /// The public URL is https: cookies are `Secure` with the `__Host-` prefix.
    pub(crate) secure_cookies: bool,
    pub(crate) sealer: Sealer,
    pub(crate) upstream_timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}

/// An OAuth 2.1 authorization server in front of an upstream identity provider that has no
/// dynamic client registration.
///
/// The proxy holds one pre-registered upstream client and lets every MCP client register with
/// it; all flow state is sealed with the proxy key, so it keeps nothing on the server and any
/// replica sharing the key serves any step. Build it with [`OAuthProxy::builder`] (or
/// [`OAuthProxy::from_discovery`]) once, outside `HttpServer::new`, and clone it into the app
/// factory; cloning is cheap. Mount [`OAuthProxy::scope`] at the application root.
#[derive(Clone)]
pub struct OAuthProxy {
    pub(crate) cfg: Arc<ProxyConfig>,
}

impl fmt::Debug for OAuthProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.cfg;
        f.debug_struct("OAuthProxy")
            .field("public_url", &c.base)
            .field("resource", &c.resource)
            .field("auth_endpoint", &c.auth_endpoint.as_str())
            .field("token_endpoint", &c.token_endpoint.as_str())
            .field("client_id", &c.client_id)
            .field("client_secret", &c.client_secret)
            .field("consent", &c.consent)
            .field("dynamic_registration", &c.dynamic_registration)
            .field("sealer", &c.sealer)
            .finish_non_exhaustive()
    }
}

impl OAuthProxy {
    /// A builder with the secure defaults: scopes `openid email profile`, grant types
    /// `authorization_code refresh_token`, `client_secret_post`, `resource` not forwarded,
    /// MCP path `/mcp`, 10 s upstream timeout, dynamic registration open, and a consent page
    /// whose approvals are remembered for 7 days ([`ConsentMode::Remember`]).
    pub fn builder() -> OAuthProxyBuilder {
        OAuthProxyBuilder::default()
    }

    /// A builder whose `issuer`, `auth_endpoint`, `token_endpoint` and `revocation_endpoint`
    /// are read from the upstream's metadata: `<issuer>/.well-known/openid-configuration`, else
    /// the RFC 8414 `/.well-known/oauth-authorization-server` location. The document's
    /// `issuer` must equal `issuer` exactly.
    ///
    /// Runs on the actix runtime (call it inside `#[actix_web::main]`).
    pub async fn from_discovery(issuer: &str) -> Result<OAuthProxyBuilder, ConfigError> {
        let meta = crate::upstream::discover(issuer).await?;
        let mut builder = Self::builder()
            .issuer(issuer)
            .auth_endpoint(meta.authorization_endpoint)
            .token_endpoint(meta.token_endpoint);
        if let Some(revocation) = meta.revocation_endpoint {
            builder = builder.revocation_endpoint(revocation);
        }
        Ok(builder)
    }
}

/// Builds an [`OAuthProxy`]; every setter returns the builder, and [`build`](Self::build)
/// checks everything at once.
#[derive(Default)]
pub struct OAuthProxyBuilder {
    public_url: Option<String>,
    mcp_path: Option<String>,
    auth_endpoint: Option<String>,
    token_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<ClientSecret>,
    client_auth: ClientAuthMethod,
    verifier: Option<Arc<dyn TokenVerifier>>,
    user_info: Option<Arc<UserInfoFn>>,
    scopes: Option<Vec<String>>,
    grant_types: Option<Vec<String>>,
    extra_authorize_params: Vec<(String, String)>,
    resource_forwarding: ResourceForwarding,
    keys: Vec<ProxyKey>,
    static_clients: Vec<StaticClient>,
    dynamic_registration: Option<bool>,
    consent_mode: ConsentMode,
    remember_consent_for: Option<Duration>,
    consent_branding: ConsentBranding,
    consent_template: Option<Arc<ConsentTemplateFn>>,
    upstream_timeout: Option<Duration>,
    cache_max_ttl: Option<Duration>,
    clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for OAuthProxyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthProxyBuilder")
            .field("public_url", &self.public_url)
            .field("auth_endpoint", &self.auth_endpoint)
            .field("token_endpoint", &self.token_endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("consent_mode", &self.consent_mode)
            .finish_non_exhaustive()
    }
}

impl OAuthProxyBuilder {
    /// The origin clients reach this server at, e.g. `https://mcp.example.com` (required).
    /// It is never derived from the `Host` header. Scheme, host and port only: no path.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// The path of the MCP endpoint (default `/mcp`); the resource is `public_url + mcp_path`.
    pub fn mcp_path(mut self, path: impl Into<String>) -> Self {
        self.mcp_path = Some(path.into());
        self
    }

    /// The upstream authorization endpoint (required).
    pub fn auth_endpoint(mut self, url: impl Into<String>) -> Self {
        self.auth_endpoint = Some(url.into());
        self
    }

    /// The upstream token endpoint (required).
    pub fn token_endpoint(mut self, url: impl Into<String>) -> Self {
        self.token_endpoint = Some(url.into());
        self
    }

    /// The upstream revocation endpoint (RFC 7009); `/revoke` is served only when it is set.
    pub fn revocation_endpoint(mut self, url: impl Into<String>) -> Self {
        self.revocation_endpoint = Some(url.into());
        self
    }

    /// The upstream issuer. When set, a callback whose `iss` (RFC 9207) names another issuer
    /// is refused: the mix-up defense.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The client id registered with the upstream (required).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// The upstream client secret; leave unset for a public upstream client.
    pub fn client_secret(mut self, secret: impl Into<ClientSecret>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// How the credentials reach the upstream (default [`ClientAuthMethod::ClientSecretPost`]).
    pub fn client_auth_method(mut self, method: ClientAuthMethod) -> Self {
        self.client_auth = method;
        self
    }

    /// Verifies the bearer tokens on the MCP scope (required).
    pub fn verifier(mut self, verifier: impl TokenVerifier) -> Self {
        self.verifier = Some(Arc::new(verifier));
        self
    }

    /// Maps verified claims to the [`UserInfo`] of [`AuthUser`](crate::AuthUser).
    pub fn user_info<F>(mut self, f: F) -> Self
    where
        F: Fn(&Claims) -> Result<UserInfo, VerifyError> + Send + Sync + 'static,
    {
        self.user_info = Some(Arc::new(f));
        self
    }

    /// The scopes requested upstream and advertised (default `openid email profile`).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// The grant types offered (default `authorization_code refresh_token`).
    pub fn grant_types<I, S>(mut self, grant_types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.grant_types = Some(grant_types.into_iter().map(Into::into).collect());
        self
    }

    /// Parameters appended to the upstream authorization request, e.g.
    /// `[("access_type", "offline"), ("prompt", "consent")]`.
    pub fn extra_authorize_params<I, K, V>(mut self, params: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.extra_authorize_params
            .extend(params.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// What the upstream hears of the client's `resource` (default: nothing).
    pub fn resource_forwarding(mut self, forwarding: ResourceForwarding) -> Self {
        self.resource_forwarding = forwarding;
        self
    }

    /// The key that seals the flow state. Give every replica the same key.
    pub fn proxy_key(mut self, key: ProxyKey) -> Self {
        self.keys = vec![key];
        self
    }

    /// Several keys for rotation: the first seals, every one opens.
    pub fn proxy_keys(mut self, keys: impl IntoIterator<Item = ProxyKey>) -> Self {
        self.keys = keys.into_iter().collect();
        self
    }

    /// A client that skips registration: its fixed id and redirect URIs (checked with the
    /// registration policy).
    pub fn static_client<I, S>(mut self, client_id: impl Into<String>, redirect_uris: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.static_clients.push(StaticClient {
            client_id: client_id.into(),
            redirect_uris: redirect_uris.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Whether MCP clients may register themselves at `/register` (default `true`). With
    /// `false`, `/register` is not served, the metadata names no `registration_endpoint`, client
    /// ids it issued earlier are refused, and only [static clients](Self::static_client) sign
    /// in (at least one is then required).
    pub fn dynamic_registration(mut self, open: bool) -> Self {
        self.dynamic_registration = Some(open);
        self
    }

    /// When the user is asked to approve a client (default [`ConsentMode::Remember`]).
    ///
    /// The consent page is the defense against the confused deputy: with open registration,
    /// anyone can register a client with their own redirect URI and send a user a link; the
    /// upstream, which the user approved for this proxy before, signs them in without asking,
    /// and only this page stands between the user's code and the attacker. Static clients are
    /// asked about like any other: their ids are public, and on a loopback redirect URI any
    /// program on the user's computer can receive the code. [`ConsentMode::Off`] is refused
    /// by [`build`](Self::build) unless registration is closed.
    pub fn consent_mode(mut self, mode: ConsentMode) -> Self {
        self.consent_mode = mode;
        self
    }

    /// How long [`ConsentMode::Remember`] remembers an approval in the browser (default 7 days,
    /// at most 400).
    pub fn remember_consent_for(mut self, duration: Duration) -> Self {
        self.remember_consent_for = Some(duration);
        self
    }

    /// The consent page's name, logo and colours.
    pub fn consent_branding(mut self, branding: ConsentBranding) -> Self {
        self.consent_branding = branding;
        self
    }

    /// Replaces the consent page: `template` receives the [`ConsentView`], whose every value is
    /// already HTML-escaped, and returns the page's HTML. See [`ConsentView`] for what the page
    /// must contain; [`ConsentView::default_html`] is the built-in page.
    ///
    /// A function rather than a template string: the values it gets are typed and escaped
    /// before it sees them, and a mistake in it is a compile error, not a broken page.
    pub fn consent_template<F>(mut self, template: F) -> Self
    where
        F: Fn(&ConsentView) -> String + Send + Sync + 'static,
    {
        self.consent_template = Some(Arc::new(template));
        self
    }

    /// How long an upstream call may take in all, body included (default 10 s).
    pub fn upstream_timeout(mut self, timeout: Duration) -> Self {
        self.upstream_timeout = Some(timeout);
        self
    }

    /// The longest a verified token is served from the token cache of
    /// [`require_auth`](OAuthProxy::require_auth); see [`RequireAuth::cache_max_ttl`]
    /// (default 5 minutes).
    pub fn cache_max_ttl(mut self, ttl: Duration) -> Self {
        self.cache_max_ttl = Some(ttl);
        self
    }

    /// The time source (default [`SystemClock`](crate::SystemClock)); tests drive expiry with it.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<OAuthProxy, ConfigError> {
        let public = secure_url(
            "public_url",
            required("public_url", self.public_url)?.trim(),
        )?;
        if public.path() != "/" || public.query().is_some() {
            return Err(ConfigError::Invalid {
                field: "public_url",
                reason: "give the origin only (scheme, host, port); the MCP path goes in mcp_path"
                    .into(),
            });
        }
        let base = public.origin().ascii_serialization();
        let mcp_path = mcp_path(self.mcp_path.as_deref().unwrap_or("/mcp"))?;

        let auth_endpoint = secure_url(
            "auth_endpoint",
            &required("auth_endpoint", self.auth_endpoint)?,
        )?;
        let token_endpoint = secure_url(
            "token_endpoint",
            &required("token_endpoint", self.token_endpoint)?,
        )?;
        let revocation_endpoint = self
            .revocation_endpoint
            .map(|u| secure_url("revocation_endpoint", &u))
            .transpose()?;
        if let Some(issuer) = &self.issuer {
            secure_url("issuer", issuer)?;
        }

        let client_id = required("client_id", self.client_id)?;
        if client_id.trim().is_empty() {
            return Err(invalid("client_id", "must not be empty"));
        }
        if matches!(&self.client_secret, Some(s) if s.secret().is_empty()) {
            return Err(invalid(
                "client_secret",
                "must not be empty (leave it unset for a public client)",
            ));
        }
        if self.client_auth == ClientAuthMethod::ClientSecretBasic && self.client_secret.is_none() {
            return Err(invalid(
                "client_auth_method",
                "client_secret_basic needs a client_secret",
            ));
        }
        let verifier = self.verifier.ok_or(ConfigError::Missing("verifier"))?;

        let scopes = self
            .scopes
            .unwrap_or_else(|| ["openid", "email", "profile"].map(String::from).to_vec());
        if let Some(bad) = scopes.iter().find(|s| !is_scope_token(s)) {
            return Err(invalid("scopes", &format!("`{bad}` is not a scope token")));
        }
        let grant_types = self.grant_types.unwrap_or_else(|| {
            ["authorization_code", "refresh_token"]
                .map(String::from)
                .to_vec()
        });
        if let Some(bad) = grant_types
            .iter()
            .find(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token"))
        {
            return Err(invalid("grant_types", &format!("`{bad}` is not supported")));
        }
        if !grant_types.iter().any(|g| g == "authorization_code") {
            return Err(invalid("grant_types", "authorization_code is required"));
        }

        let mut reserved: Vec<&str> = RESERVED_AUTHORIZE_PARAMS.to_vec();
        match &self.resource_forwarding {
            ResourceForwarding::Omit => {}
            ResourceForwarding::AsIs => reserved.push("resource"),
            ResourceForwarding::As(name) => {
                if name.is_empty() || RESERVED_AUTHORIZE_PARAMS.contains(&name.as_str()) {
                    return Err(invalid(
                        "resource_forwarding",
                        &format!("cannot use `{name}`"),
                    ));
                }
                reserved.push(name);
            }
        }
        if let Some((name, _)) = self
            .extra_authorize_params
            .iter()
            .find(|(k, _)| k.is_empty() || reserved.contains(&k.as_str()))
        {
            return Err(invalid(
                "extra_authorize_params",
                &format!("`{name}` is set by the proxy itself"),
            ));
        }

        let mut static_clients: Vec<StaticClient> = Vec::new();
        for client in self.static_clients {
            if client.client_id.trim().is_empty() {
                return Err(invalid("static_client", "the client id must not be empty"));
            }
            if static_clients
                .iter()
                .any(|c| c.client_id == client.client_id)
            {
                return Err(invalid(
                    "static_client",
                    &format!("`{}` is given twice", client.client_id),
                ));
            }
            if client.redirect_uris.is_empty() {
                return Err(invalid(
                    "static_client",
                    "at least one redirect URI is needed",
                ));
            }
            for uri in &client.redirect_uris {
                validate_redirect_uri(uri)
                    .map_err(|e| invalid("static_client", &format!("`{uri}`: {e}")))?;
            }
            static_clients.push(client);
        }

        let dynamic_registration = self.dynamic_registration.unwrap_or(true);
        if !dynamic_registration && static_clients.is_empty() {
            return Err(invalid(
                "dynamic_registration",
                "with registration closed, configure at least one static_client",
            ));
        }
        if self.consent_mode == ConsentMode::Off && dynamic_registration {
            // Refused rather than warned about: with open registration, Off hands every
            // signed-in user's code to whoever registers a client and sends them a link.
            return Err(invalid(
                "consent_mode",
                "ConsentMode::Off is unsafe while anyone can register a client (the confused \
                 deputy); close registration with dynamic_registration(false), or keep consent",
            ));
        }
        let remember_for = self.remember_consent_for.unwrap_or(DEFAULT_REMEMBER);
        if remember_for.as_secs() == 0 || remember_for > MAX_REMEMBER {
            return Err(invalid(
                "remember_consent_for",
                "must be at least a second and at most 400 days",
            ));
        }
        let default_name = public.host_str().unwrap_or(&base).to_owned();
        let consent = ConsentConfig {
            mode: self.consent_mode,
            remember_for,
            branding: self.consent_branding.validate(&default_name)?,
            template: self.consent_template,
        };
        if consent.mode == ConsentMode::Off {
            log::warn!(
                "consent is off: safe only because registration is closed and every client is \
                 a static client you configured"
            );
        }
        let secure_cookies = public.scheme() == "https";

        let upstream_timeout = self.upstream_timeout.unwrap_or(DEFAULT_UPSTREAM_TIMEOUT);
        if upstream_timeout.is_zero() {
            return Err(invalid("upstream_timeout", "must be positive"));
        }
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let keys = if self.keys.is_empty() {
            log::warn!(
                "no proxy key configured: a random one is used, so a restart or another replica \
                 breaks every sign-in in flight and every registered client; set proxy_key"
            );
            vec![ProxyKey::generate()]
        } else {
            self.keys
        };
        let sealer = Sealer::new(keys, clock.clone())?;
        let resource = format!("{base}{mcp_path}");
        let mut require_auth = RequireAuth::new(verifier, &resource)?.clock(clock.clone());
        if let Some(f) = self.user_info {
            require_auth = require_auth.user_info(move |claims| f(claims));
        }
        if let Some(ttl) = self.cache_max_ttl {
            require_auth = require_auth.cache_max_ttl(ttl);
        }

        Ok(OAuthProxy {
            cfg: Arc::new(ProxyConfig {
                resource,
                callback: format!("{base}/oauth/callback"),
                base,
                mcp_path,
                auth_endpoint,
                token_endpoint,
                revocation_endpoint,
                upstream_issuer: self.issuer,
                client_id,
                client_secret: self.client_secret,
                client_auth: self.client_auth,
                require_auth,
                scopes,
                grant_types,
                extra_authorize_params: self.extra_authorize_params,
                resource_forwarding: self.resource_forwarding,
                static_clients,
                dynamic_registration,
                consent,
                secure_cookies,
                sealer,
                upstream_timeout,
                clock,
            }),
        })
    }
}

fn required(field: &'static str, value: Option<String>) -> Result<String, ConfigError> {
    value.ok_or(ConfigError::Missing(field))
}

fn invalid(field: &'static str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        field,
        reason: reason.to_owned(),
    }
}

/// `/mcp` or `/mcp/` → `/mcp`; anything that is not a plain absolute path is refused.
fn mcp_path(path: &str) -> Result<String, ConfigError> {
    let trimmed = path.trim_end_matches('/');
    let plain = trimmed.starts_with('/')
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b))
        && !trimmed.split('/').any(|seg| seg == "." || seg == "..");
    if !plain {
        return Err(invalid(
            "mcp_path",
            "must be an absolute path below the root, like /mcp",
        ));
    }
    Ok(trimmed.to_owned())
}

/// RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`.
pub(crate) fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Parses a URL setting: absolute, `https`, or `http` on a loopback host, no fragment.
pub(crate) fn secure_url(field: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::InvalidUrl {
        field,
        reason: e.to_string(),
    })?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(ConfigError::InvalidUrl {
            field,
            reason: "no host".into(),
        });
    }
    if url.fragment().is_some() {
        return Err(ConfigError::InvalidUrl {
            field,
            reason: "a fragment is not allowed".into(),
        });
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(ConfigError::InsecureUrl {
            field,
            url: value.to_owned(),
        }),
        other => Err(ConfigError::InvalidUrl {
            field,
            reason: format!("scheme `{other}` is not http(s)"),
        }),
    }
}

/// True for `localhost`, `127.0.0.0/8` and `[::1]`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use futures::future::LocalBoxFuture;

    use super::*;

    struct Refuse;

    impl TokenVerifier for Refuse {
        fn verify<'a>(&'a self, _: &'a str) -> LocalBoxFuture<'a, Result<Claims, VerifyError>> {
            Box::pin(async { Err(VerifyError::Rejected("test".into())) })
        }
    }

    fn valid() -> OAuthProxyBuilder {
        OAuthProxy::builder()
            .public_url("https://mcp.example.com")
            .auth_endpoint("https://idp.example/authorize")
            .token_endpoint("https://idp.example/token")
            .client_id("upstream-id")
            .client_secret("hunter2")
            .verifier(Refuse)
            .proxy_key(ProxyKey::from_bytes(&[1; 32]).unwrap())
    }

    fn field(err: ConfigError) -> &'static str {
        match err {
            ConfigError::Missing(f) => f,
            ConfigError::Invalid { field, .. }
            | ConfigError::InvalidUrl { field, .. }
            | ConfigError::InsecureUrl { field, .. } => field,
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn a_valid_configuration_builds_with_the_secure_defaults() {
        let proxy = valid().mcp_path("/mcp/").build().unwrap();
        let c = &proxy.cfg;
        assert_eq!(c.base, "https://mcp.example.com");
        assert_eq!(proxy.cfg.resource, "https://mcp.example.com/mcp");
        assert_eq!(c.callback, "https://mcp.example.com/oauth/callback");
        assert_eq!(c.scopes, ["openid", "email", "profile"]);
        assert_eq!(c.grant_types, ["authorization_code", "refresh_token"]);
        assert_eq!(c.client_auth, ClientAuthMethod::ClientSecretPost);
        assert_eq!(c.resource_forwarding, ResourceForwarding::Omit);
        let shown = format!("{proxy:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            valid().proxy_keys([]).build().is_ok(),
            "no key: a random one and a warning"
        );
    }

    #[test]
    fn each_required_setting_is_named_when_missing() {
        type Strip = fn(OAuthProxyBuilder) -> OAuthProxyBuilder;
        let cases: [(&str, Strip); 3] = [
            ("public_url", |b| OAuthProxyBuilder {
                public_url: None,
                ..b
            }),
            ("client_id", |b| OAuthProxyBuilder {
                client_id: None,
                ..b
            }),
            ("verifier", |b| OAuthProxyBuilder {
                verifier: None,
                ..b
            }),
        ];
        for (name, strip) in cases {
            assert_eq!(field(strip(valid()).build().unwrap_err()), name);
        }
        let no_token = OAuthProxyBuilder {
            token_endpoint: None,
            ..valid()
        };
        assert_eq!(field(no_token.build().unwrap_err()), "token_endpoint");
    }

    #[test]
    fn insecure_or_odd_settings_are_refused() {
        let cases: Vec<(OAuthProxyBuilder, &str)> = vec![
            (valid().public_url("http://mcp.example.com"), "public_url"),
            (
                valid().public_url("https://mcp.example.com/app"),
                "public_url",
            ),
            (
                valid().public_url("https://mcp.example.com/?x=1"),
                "public_url",
            ),
            (
                valid().auth_endpoint("http://idp.example/authorize"),
                "auth_endpoint",
            ),
            (valid().token_endpoint("not a url"), "token_endpoint"),
            (
                valid().revocation_endpoint("ftp://idp.example/r"),
                "revocation_endpoint",
            ),
            (valid().issuer("http://idp.example"), "issuer"),
            (valid().client_id("  "), "client_id"),
            (valid().client_secret(""), "client_secret"),
            (valid().mcp_path("mcp"), "mcp_path"),
            (valid().mcp_path("/"), "mcp_path"),
            (valid().mcp_path("/a/../b"), "mcp_path"),
            (valid().mcp_path("/mcp?x"), "mcp_path"),
            (valid().scopes(["openid", "two words"]), "scopes"),
            (valid().grant_types(["password"]), "grant_types"),
            (valid().grant_types(["refresh_token"]), "grant_types"),
            (
                valid().extra_authorize_params([("state", "x")]),
                "extra_authorize_params",
            ),
            (
                valid().extra_authorize_params([("redirect_uri", "x")]),
                "extra_authorize_params",
            ),
            (
                valid()
                    .resource_forwarding(ResourceForwarding::As("audience".into()))
                    .extra_authorize_params([("audience", "x")]),
                "extra_authorize_params",
            ),
            (
                valid().resource_forwarding(ResourceForwarding::As("client_id".into())),
                "resource_forwarding",
            ),
            (
                valid().static_client("cli", ["javascript:alert(1)"]),
                "static_client",
            ),
            (
                valid().static_client("cli", Vec::<String>::new()),
                "static_client",
            ),
            (
                valid()
                    .static_client("cli", ["https://a.example/cb"])
                    .static_client("cli", ["https://b.example/cb"]),
                "static_client",
            ),
            (valid().upstream_timeout(Duration::ZERO), "upstream_timeout"),
        ];
        for (builder, name) in cases {
            let shown = format!("{builder:?}");
            assert_eq!(field(builder.build().unwrap_err()), name, "{shown}");
        }
        let public = OAuthProxyBuilder {
            client_secret: None,
            ..valid().client_auth_method(ClientAuthMethod::ClientSecretBasic)
        };
        assert_eq!(field(public.build().unwrap_err()), "client_auth_method");
    }

    #[test]
    fn consent_off_needs_closed_registration_and_closed_registration_needs_static_clients() {
        let off = valid().consent_mode(ConsentMode::Off);
        let err = off.build().unwrap_err();
        assert!(
            err.to_string().contains("dynamic_registration(false)"),
            "{err}"
        );
        assert_eq!(
            field(valid().dynamic_registration(false).build().unwrap_err()),
            "dynamic_registration"
        );
        let closed = valid()
            .dynamic_registration(false)
            .static_client("cli", ["http://127.0.0.1/cb"])
            .consent_mode(ConsentMode::Off)
            .build()
            .unwrap();
        assert!(!closed.cfg.dynamic_registration);
        assert_eq!(closed.cfg.consent.mode, ConsentMode::Off);
    }

    #[test]
    fn consent_settings_are_checked_and_cookies_follow_the_public_scheme() {
        let proxy = valid().build().unwrap();
        assert_eq!(proxy.cfg.consent.mode, ConsentMode::Remember);
        assert_eq!(proxy.cfg.consent.remember_for, DEFAULT_REMEMBER);
        assert_eq!(proxy.cfg.consent.branding.server_name, "mcp.example.com");
        assert!(proxy.cfg.secure_cookies);
        let local = valid().public_url("http://127.0.0.1:3000").build().unwrap();
        assert!(!local.cfg.secure_cookies);
        for bad in [Duration::ZERO, MAX_REMEMBER + Duration::from_secs(1)] {
            assert_eq!(
                field(valid().remember_consent_for(bad).build().unwrap_err()),
                "remember_consent_for"
            );
        }
        let bad_colour = valid().consent_branding(ConsentBranding::new().accent_color("red"));
        assert_eq!(
            field(bad_colour.build().unwrap_err()),
            "consent_branding.accent_color"
        );
    }

    #[test]
    fn https_and_loopback_http_are_accepted() {
        assert!(secure_url("x", "https://example.com/a").is_ok());
        assert!(secure_url("x", "http://127.0.0.1:8080").is_ok());
        assert!(secure_url("x", "http://localhost:3000/mcp").is_ok());
        assert!(secure_url("x", "http://[::1]:3000").is_ok());
    }

    #[test]
    fn plain_http_elsewhere_and_odd_urls_are_refused() {
        assert!(matches!(
            secure_url("x", "http://example.com"),
            Err(ConfigError::InsecureUrl { .. })
        ));
        assert!(matches!(
            secure_url("x", "http://127.0.0.1.evil.com"),
            Err(ConfigError::InsecureUrl { .. })
        ));
        assert!(secure_url("x", "/relative").is_err());
        assert!(secure_url("x", "ftp://example.com").is_err());
        assert!(secure_url("x", "https://example.com/#frag").is_err());
    }
}

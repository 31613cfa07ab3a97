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

mod builder;
#[cfg(test)]
mod tests;

pub use builder::OAuthProxyBuilder;

fn required(field: &'static str, value: Option<String>) -> Result<String, ConfigError> {
    value.ok_or(ConfigError::Missing(field))
}

/// A [`ConfigError::Invalid`] for `field`: the one constructor every builder uses.
pub(crate) fn invalid(field: &'static str, reason: &str) -> ConfigError {
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

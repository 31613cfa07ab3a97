//! The validated settings of an [`OAuthProxy`](super::OAuthProxy), shared by its routes.

use std::{sync::Arc, time::Duration};

use url::Url;

use actix_web::HttpResponse;

use super::{
    calls::UpstreamCalls,
    consent::ConsentConfig,
    documents::DocumentClients,
    error::{access_refused_page, OAuthError},
    issued::UpstreamCheck,
    limits::ProxyLimits,
    replay::ReplayGuard,
    seal::Sealer,
};
use crate::{clock::Clock, http::ClientCredentials, resource::ProtectedResource};

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

/// Which tokens the proxy hands MCP clients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenMode {
    /// The proxy's own tokens (the default): the callback redeems the upstream code, verifies
    /// the upstream access token and maps the user; `/token` then answers an access token
    /// sealed for this server's resource and bound to the client, and a refresh token bound to
    /// the client, rotated at every use. The provider's tokens travel sealed inside them and
    /// never reach the client; tools get the provider's token through
    /// [`AuthUser::upstream_access_token`](crate::AuthUser::upstream_access_token). What the
    /// MCP authorization specification asks for: tokens issued for this server (RFC 8707
    /// audience), no token passthrough.
    #[default]
    Issued,
    /// The provider's own tokens, passed to the client as the provider answered them (the
    /// upstream code is redeemed at `/token`, refresh tokens are passed upstream as they come).
    /// **Not conformant** to the MCP authorization specification, which forbids token
    /// passthrough: the client holds a token it can use against the provider's APIs, and the
    /// MCP endpoint accepts any token the verifier accepts. For compatibility only.
    Passthrough,
}

/// How the identity provider is asked for a refresh token; the OAuth `offline_access` scope of
/// a client's request means this. Applied to every sign-in in
/// [`TokenMode::Issued`] when the grant types include `refresh_token` (the proxy's own refresh
/// tokens need the provider's), and otherwise to the sign-ins whose client asked for
/// `offline_access`. The presets set it; `offline_access` itself is never listed in
/// `scopes_supported` (it is not a permission of this server).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OfflineAccess {
    /// Nothing to ask: the provider issues refresh tokens without being asked (Keycloak), or
    /// never (GitHub OAuth apps). The default.
    #[default]
    Nothing,
    /// The scope `offline_access` upstream (OpenID Connect Core §11: Okta, Auth0, Entra ID).
    Scope,
    /// Parameters of the upstream authorization request (Google: `access_type=offline` and
    /// `prompt=consent`).
    Params(Vec<(String, String)>),
}

/// The default lifetime of an issued access token, when the upstream token lives longer.
pub(crate) const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// A client that skips registration and sends a pre-configured client id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StaticClient {
    pub(crate) client_id: String,
    pub(crate) redirect_uris: Vec<String>,
}

/// Authorization request parameters the proxy sets itself; configuration cannot override them.
pub(crate) const RESERVED_AUTHORIZE_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
];

pub(crate) const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// The validated configuration behind an [`OAuthProxy`](super::OAuthProxy).
pub(crate) struct ProxyConfig {
    /// The public origin, without a trailing slash: our issuer identifier.
    pub(crate) base: String,
    /// The MCP endpoint this proxy issues tokens for: its metadata and its bearer check, built
    /// once so that every worker shares one token cache.
    pub(crate) protected: ProtectedResource,
    /// `protected.resource()`, the canonical resource (RFC 8707, RFC 9728) that a client's
    /// `resource` parameter must name.
    pub(crate) resource: String,
    /// `base + /oauth/callback`: the redirect URI registered upstream.
    pub(crate) callback: String,
    pub(crate) auth_endpoint: Url,
    pub(crate) token_endpoint: Url,
    pub(crate) revocation_endpoint: Option<Url>,
    pub(crate) upstream_issuer: Option<String>,
    /// The proxy's own client at the upstream.
    pub(crate) credentials: ClientCredentials,
    /// The upstream scopes every sign-in asks for (`OAuthProxyBuilder::scopes`, and what the
    /// access policy needs).
    pub(crate) scopes: Vec<String>,
    /// The MCP scopes this server grants; mirrors `scopes` when none are defined.
    pub(crate) model: crate::scope::ScopeModel,
    pub(crate) offline_access: OfflineAccess,
    /// `(short, long)` spellings of one upstream scope, as the provider may answer either.
    pub(crate) scope_aliases: Vec<(String, String)>,
    pub(crate) grant_types: Vec<String>,
    pub(crate) extra_authorize_params: Vec<(String, String)>,
    pub(crate) resource_forwarding: ResourceForwarding,
    pub(crate) static_clients: Vec<StaticClient>,
    /// Whether `/register` is served and the client ids it issued are accepted.
    pub(crate) dynamic_registration: bool,
    /// Clients identified by the URL of their metadata document; `None` when off.
    pub(crate) documents: Option<DocumentClients>,
    pub(crate) consent: ConsentConfig,
    /// The public URL is https: cookies are `Secure` with the `__Host-` prefix.
    pub(crate) secure_cookies: bool,
    pub(crate) sealer: Sealer,
    pub(crate) upstream_timeout: Duration,
    /// What the proxy reads from clients at most.
    pub(crate) limits: ProxyLimits,
    /// The upstream calls running now: single flight and the budget.
    pub(crate) upstream_calls: UpstreamCalls,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) token_mode: TokenMode,
    /// The longest an issued access token lives.
    pub(crate) access_token_ttl: Duration,
    /// The verifier and mapping of upstream access tokens.
    pub(crate) upstream_check: Arc<UpstreamCheck>,
    /// One-time use of codes and refresh tokens.
    pub(crate) replay: Arc<dyn ReplayGuard>,
    /// The access tokens revoked here, which the MCP endpoint's bearer check refuses.
    pub(crate) revocations: Arc<super::revocations::Revocations>,
    /// Who may sign in; the callback checks it (`AccessPolicy::check`) before issuing a code,
    /// and the MCP scope's bearer check on every request.
    pub(crate) access_policy: Option<crate::access::AccessPolicy>,
}

impl ProxyConfig {
    /// `/revoke` is served: always for issued tokens (revoked here), in passthrough mode only
    /// with an upstream revocation endpoint to pass revocations to.
    pub(crate) fn serves_revocation(&self) -> bool {
        self.token_mode == TokenMode::Issued || self.revocation_endpoint.is_some()
    }

    /// The access policy at sign-in: `Ok` when `user` (verified from the provider's token at
    /// the callback) may sign in, or the page to answer the browser with instead of the
    /// redirect that carries the code.
    pub(crate) async fn admit(&self, user: &crate::AuthUser) -> Result<(), HttpResponse> {
        match &self.access_policy {
            Some(policy) => policy
                .check(user)
                .await
                .map_err(|refusal| access_refused_page(&refusal)),
            None => Ok(()),
        }
    }

    /// The provider's access token verified as `/mcp` would verify it, at sign-in and at
    /// refresh: a provider that cannot be reached is logged once per interval and answered
    /// 503; a refused token is answered as `refused` says (sign-in and refresh differ).
    pub(crate) async fn verify_upstream(
        &self,
        token: &str,
        now: u64,
        refused: impl FnOnce(crate::VerifyError) -> OAuthError,
    ) -> Result<(crate::Claims, crate::UserInfo), OAuthError> {
        self.upstream_check.verify(token).await.map_err(|e| {
            if e.is_unavailable() {
                self.upstream_calls.outage(
                    now,
                    &format!("cannot verify the upstream access token: {e}"),
                );
                OAuthError::Unavailable("the identity provider could not be reached".into())
            } else {
                refused(e)
            }
        })
    }

    /// The access policy at a refresh, answered as `/token` answers: a user it no longer
    /// admits gets `invalid_grant`, and a policy that cannot answer `temporarily_unavailable`.
    pub(crate) async fn admit_refresh(&self, user: &crate::AuthUser) -> Result<(), OAuthError> {
        let Some(policy) = &self.access_policy else {
            return Ok(());
        };
        policy.check(user).await.map_err(|refusal| match refusal {
            crate::access::AccessRefusal::Unavailable => OAuthError::TemporarilyUnavailable(
                "whether this account may use this server cannot be checked right now".into(),
            ),
            crate::access::AccessRefusal::Refused(_) => {
                OAuthError::InvalidGrant("this account may no longer use this server".into())
            }
        })
    }

    /// The upstream scopes of a sign-in for the MCP `scopes`: the ones every sign-in asks for,
    /// then those the MCP scopes need, then `offline_access` when that is how this provider
    /// issues refresh tokens and `offline` says to ask; each once.
    pub(crate) fn upstream_scopes(&self, scopes: &[String], offline: bool) -> String {
        let mut out: Vec<&str> = Vec::new();
        let needed = scopes.iter().flat_map(|s| self.model.upstream_scopes(s));
        let extra = (offline && self.offline_access == OfflineAccess::Scope)
            .then_some(crate::scope::OFFLINE_ACCESS);
        for scope in self
            .scopes
            .iter()
            .chain(needed)
            .map(String::as_str)
            .chain(extra)
        {
            if !out.contains(&scope) {
                out.push(scope);
            }
        }
        out.join(" ")
    }

    /// Whether a sign-in asks the provider for a refresh token: always when the proxy issues
    /// refresh tokens of its own, else when the client asked for `offline_access`.
    pub(crate) fn wants_offline(&self, client_asked: bool) -> bool {
        client_asked
            || (self.token_mode == TokenMode::Issued
                && self.grant_types.iter().any(|g| g == "refresh_token"))
    }

    /// The MCP scopes of `asked` that the provider's `scope` answer backs: all of them when
    /// it answered none (RFC 6749 §5.1: then it granted what was asked).
    pub(crate) fn granted(&self, asked: Vec<String>, answer: Option<&str>) -> Vec<String> {
        match answer {
            Some(answer) => self.model.backed(
                &asked,
                &crate::scope::upstream_granted(answer, &self.scope_aliases),
            ),
            None => asked,
        }
    }

    /// RFC 8707: a `resource` a client names, at `/authorize` or `/token`, must be this server's
    /// own (the canonical URL, or with the trailing slash of a client given `…/mcp/`: what is
    /// sealed and issued names the canonical one); without one, the request is for it anyway.
    pub(crate) fn check_resource(&self, requested: Option<&str>) -> Result<(), OAuthError> {
        match requested {
            Some(resource) if !self.protected.names(resource) => Err(OAuthError::InvalidTarget(
                format!("this server's resource is {}", self.resource).into(),
            )),
            _ => Ok(()),
        }
    }
}

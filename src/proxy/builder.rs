//! The `OAuthProxy` builder and the checks of `build()`.

use std::{fmt, sync::Arc, time::Duration};

use url::Url;

use super::{
    calls::{UpstreamCalls, DEFAULT_MAX_CALLS_IN_FLIGHT},
    config::{
        OfflineAccess, ProxyConfig, ResourceForwarding, StaticClient, TokenMode,
        DEFAULT_ACCESS_TOKEN_TTL, DEFAULT_UPSTREAM_TIMEOUT, RESERVED_AUTHORIZE_PARAMS,
    },
    consent::{ConsentConfig, ConsentTemplateFn, DEFAULT_REMEMBER, MAX_REMEMBER},
    documents::{ClientDocuments, DocumentClients},
    issued::{McpTokens, UpstreamCheck},
    limits::ProxyLimits,
    redirect::validate_redirect_uri,
    replay::{MemoryReplayGuard, ReplayGuard},
    revocations::{Revocations, MAX_REVOKED},
    seal::Sealer,
    ConsentBranding, ConsentMode, ConsentView, OAuthProxy, ProxyKey,
};
use crate::{
    access::AccessPolicy,
    clock::{Clock, SystemClock},
    http::{ClientAuthMethod, Rate},
    resource::{ProtectedResource, ResourceUrl, ScopesSupported, TokenCheck, DEFAULT_MCP_PATH},
    scope::ScopeModel,
    secret::ClientSecret,
    user::{default_user_info, UserInfo, UserInfoFn},
    validate::{invalid, public_origin, required, scope_tokens, secure_url, ConfigError},
    Claims, TokenVerifier, VerifyError,
};

#[cfg(test)]
mod tests;

/// Builds an [`OAuthProxy`]; every setter returns the builder, and [`build`](Self::build)
/// checks everything at once.
// Fields are `pub(super)` so that the builder tests can vary one field of a valid builder.
#[derive(Default)]
#[must_use]
pub struct OAuthProxyBuilder {
    pub(super) public_url: Option<String>,
    pub(super) mcp_path: Option<String>,
    pub(super) auth_endpoint: Option<String>,
    pub(super) token_endpoint: Option<String>,
    pub(super) revocation_endpoint: Option<String>,
    pub(super) issuer: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<ClientSecret>,
    pub(super) client_auth: ClientAuthMethod,
    pub(super) verifier: Option<Arc<dyn TokenVerifier>>,
    pub(super) user_info: Option<Arc<UserInfoFn>>,
    pub(super) scopes: Option<Vec<String>>,
    pub(super) scope_model: Option<ScopeModel>,
    pub(super) offline_access: OfflineAccess,
    pub(super) scope_aliases: Vec<(String, String)>,
    pub(super) grant_types: Option<Vec<String>>,
    pub(super) extra_authorize_params: Vec<(String, String)>,
    pub(super) resource_forwarding: ResourceForwarding,
    pub(super) keys: Vec<ProxyKey>,
    pub(super) static_clients: Vec<StaticClient>,
    pub(super) dynamic_registration: Option<bool>,
    pub(super) client_documents: Option<ClientDocuments>,
    pub(super) consent_mode: ConsentMode,
    pub(super) remember_consent_for: Option<Duration>,
    pub(super) consent_branding: ConsentBranding,
    pub(super) consent_template: Option<Arc<ConsentTemplateFn>>,
    pub(super) upstream_timeout: Option<Duration>,
    pub(super) max_upstream_calls_in_flight: Option<usize>,
    pub(super) max_upstream_call_rate: Option<(u32, u32)>,
    pub(super) limits: ProxyLimits,
    pub(super) cache_max_ttl: Option<Duration>,
    pub(super) clock: Option<Arc<dyn Clock>>,
    pub(super) token_mode: TokenMode,
    pub(super) access_token_ttl: Option<Duration>,
    pub(super) accept_upstream_tokens: bool,
    pub(super) replay_guard: Option<Arc<dyn ReplayGuard>>,
    pub(super) check_upstream_client: Option<bool>,
    pub(super) access_policy: Option<AccessPolicy>,
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
            .field("token_mode", &self.token_mode)
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

    /// The upstream scopes every sign-in asks the provider for (default `openid email
    /// profile`): what the verifier and the user mapping need. `offline_access` among them
    /// is taken as [`OfflineAccess::Scope`] (unless [`offline_access`](Self::offline_access)
    /// sets parameters): asked for only when a refresh token is wanted.
    ///
    /// Without a [`scope_model`](Self::scope_model) these are also the MCP scopes: advertised
    /// in `scopes_supported` (all but `offline_access`), all of them the default set, each
    /// granted when the provider granted it. With a model, the model's scopes are advertised
    /// and granted, and the provider is asked for these plus the upstream scopes of the MCP
    /// scopes the client requested.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// The MCP scopes this server defines, with their descriptions (the consent page),
    /// upstream scopes, hierarchy and default set; see [`scope`](crate::scope). The bearer
    /// check of [`require_auth`](OAuthProxy::require_auth) applies its hierarchy, and its 401
    /// challenge asks for the default set.
    pub fn scope_model(mut self, model: ScopeModel) -> Self {
        self.scope_model = Some(model);
        self
    }

    /// How the provider is asked for a refresh token (default [`OfflineAccess::Nothing`]; the
    /// presets set theirs).
    pub fn offline_access(mut self, offline: OfflineAccess) -> Self {
        self.offline_access = offline;
        self
    }

    /// Two spellings of one upstream scope that the provider may answer either of (Google:
    /// `email` and `https://www.googleapis.com/auth/userinfo.email`).
    pub(crate) fn scope_aliases(mut self, aliases: &[(&str, &str)]) -> Self {
        self.scope_aliases.extend(
            aliases
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned())),
        );
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
    /// ids it issued earlier are refused, and only [static clients](Self::static_client) and,
    /// when [`client_documents`](Self::client_documents) are set, metadata-document clients
    /// sign in (one of the two is then required).
    pub fn dynamic_registration(mut self, open: bool) -> Self {
        self.dynamic_registration = Some(open);
        self
    }

    /// Clients identified by the https URL of their metadata document (default: accepted from
    /// every public host, through the SSRF guard; off with [`ConsentMode::Off`], which is for
    /// the operator's static clients only); see [`ClientDocuments`].
    /// [`ClientDocuments::off`] refuses them.
    pub fn client_documents(mut self, documents: ClientDocuments) -> Self {
        self.client_documents = Some(documents);
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

    /// The sizes read from clients: request bodies per endpoint, redirect URIs, client
    /// metadata documents (see [`ProxyLimits`] for the defaults).
    pub fn limits(mut self, limits: ProxyLimits) -> Self {
        self.limits = limits;
        self
    }

    /// How many calls to the upstream's token and revocation endpoints run at once, shared by
    /// every worker (default 32); past it a request is answered 503 at once. Identical calls
    /// running at once (the same refresh token twice) are one call. Must be positive.
    pub fn max_upstream_calls_in_flight(mut self, max: usize) -> Self {
        self.max_upstream_calls_in_flight = Some(max);
        self
    }

    /// How fast new calls to the upstream's token and revocation endpoints may start, shared
    /// by every worker (default 10 a second after a burst of 100): past it a request is
    /// answered 503 `temporarily_unavailable` at once, so that a flood of distinct junk
    /// refresh tokens spends at most `burst + per_second × seconds` calls of the app's
    /// credentials, whatever the provider's latency. A call joining an identical one already
    /// running costs nothing. Both must be at least 1; size it to the provider's rate limit for
    /// the app divided among the replicas.
    pub fn max_upstream_call_rate(mut self, per_second: u32, burst: u32) -> Self {
        self.max_upstream_call_rate = Some((per_second, burst));
        self
    }

    /// The longest a verified token is served from the token cache of
    /// [`require_auth`](OAuthProxy::require_auth); see
    /// [`RequireAuth::cache_max_ttl`](crate::RequireAuth::cache_max_ttl) (default 5 minutes).
    pub fn cache_max_ttl(mut self, ttl: Duration) -> Self {
        self.cache_max_ttl = Some(ttl);
        self
    }

    /// The time source (default [`SystemClock`]); tests drive expiry with it.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Which tokens clients get (default [`TokenMode::Issued`], the proxy's own; see there).
    pub fn token_mode(mut self, mode: TokenMode) -> Self {
        self.token_mode = mode;
        self
    }

    /// The longest an issued access token lives (default 1 hour). An issued access token
    /// expires at the soonest of: the upstream's `expires_in` (when it answered one), the
    /// verified upstream token's `exp` (when it has one), and now + this TTL. A longer TTL
    /// therefore only matters for upstream tokens that state no expiry at all (such as
    /// GitHub OAuth app tokens).
    ///
    /// Keep it as short as your clients tolerate: the access token cannot be withdrawn
    /// before it expires except at the instance that received its `/revoke`. A client that
    /// never refreshes (Claude) signs in again when it expires.
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_token_ttl = Some(ttl);
        self
    }

    /// In issued mode, also accept the provider's own access tokens at the MCP endpoint,
    /// verified with the [`verifier`](Self::verifier) (default `false`: only tokens this
    /// proxy issued pass, and a provider token gets 401 `invalid_token`). For load tests that
    /// mint provider tokens themselves; it re-opens the door that issued tokens close (a token
    /// another app of the same provider obtained), so leave it off in production. Passthrough
    /// mode always verifies provider tokens.
    pub fn accept_upstream_tokens(mut self, accept: bool) -> Self {
        self.accept_upstream_tokens = accept;
        self
    }

    /// Where codes and refresh tokens (used or revoked) are recorded (default: a
    /// [`MemoryReplayGuard`] of [`DEFAULT_CAPACITY`](MemoryReplayGuard::DEFAULT_CAPACITY)
    /// records, in this process only). Give every replica a guard over one shared store to
    /// make codes and refresh tokens single-use across replicas. Revoked access tokens are
    /// kept apart, per instance, in a list every `RequireAuth` of the proxy consults on each
    /// request (at most 100 000 live revocations; `/revoke` answers 503 beyond that).
    pub fn replay_guard(mut self, guard: impl ReplayGuard) -> Self {
        self.replay_guard = Some(Arc::new(guard));
        self
    }

    /// Whether an upstream access token that names the client it was issued to (`azp`, `cid`,
    /// `appid` or `client_id`; see [`check_client`](crate::verify::check_client)) must name
    /// this proxy's [`client_id`](Self::client_id) (default `true`). Checked where upstream
    /// tokens are verified: at sign-in and refresh, and at the MCP endpoint in passthrough mode
    /// or with [`accept_upstream_tokens`](Self::accept_upstream_tokens). Turn it off only
    /// when the provider names another client on purpose (a token exchanged for this server by
    /// a gateway of yours); a token that names no client passes either way.
    pub fn check_upstream_client(mut self, check: bool) -> Self {
        self.check_upstream_client = Some(check);
        self
    }

    /// Who may use the server (default: everyone the provider signs in). Checked on every
    /// request to the MCP scope, as [`RequireAuth::access_policy`](crate::RequireAuth::access_policy),
    /// and at sign-in: a refused user gets the access-denied page at the callback
    /// (`/oauth/callback`) and the MCP client gets no authorization code. The scopes
    /// the policy's checks need (GitHub membership: `read:org`) are added to the
    /// [`scopes`](Self::scopes) asked of the provider. See [`access`](crate::access).
    pub fn access_policy(mut self, policy: AccessPolicy) -> Self {
        self.access_policy = Some(policy);
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<OAuthProxy, ConfigError> {
        // Taken apart whole, so that a new setting cannot be left out of the checks unnoticed.
        let Self {
            public_url,
            mcp_path,
            auth_endpoint,
            token_endpoint,
            revocation_endpoint,
            issuer,
            client_id,
            client_secret,
            client_auth,
            verifier,
            user_info,
            scopes,
            scope_model,
            offline_access,
            scope_aliases,
            grant_types,
            extra_authorize_params,
            resource_forwarding,
            keys,
            static_clients,
            dynamic_registration,
            client_documents,
            consent_mode,
            remember_consent_for,
            consent_branding,
            consent_template,
            upstream_timeout,
            max_upstream_calls_in_flight,
            max_upstream_call_rate,
            limits,
            cache_max_ttl,
            clock,
            token_mode,
            access_token_ttl,
            accept_upstream_tokens,
            replay_guard,
            check_upstream_client,
            access_policy,
        } = self;

        // One step per concern; the first that fails is the error reported.
        let url = resource_url(public_url, mcp_path.as_deref())?;
        let base = url.origin().to_owned();
        let upstream = upstream_endpoints(
            auth_endpoint,
            token_endpoint,
            revocation_endpoint,
            issuer.as_deref(),
        )?;
        let client_id = credentials(client_id, client_secret.as_ref(), client_auth)?;
        let verifier = verifier.ok_or(ConfigError::Missing("verifier"))?;
        let (mut scopes, grant_types) = scopes_and_grant_types(scopes, grant_types)?;
        for scope in access_policy.iter().flat_map(AccessPolicy::required_scopes) {
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        // `offline_access` among the scopes says how this provider issues refresh tokens; it is
        // asked for when a refresh token is wanted, not on every sign-in.
        let offline_access = match offline_access {
            OfflineAccess::Params(_) => offline_access,
            _ if scopes.iter().any(|s| s == crate::scope::OFFLINE_ACCESS) => {
                scopes.retain(|s| s != crate::scope::OFFLINE_ACCESS);
                OfflineAccess::Scope
            }
            other => other,
        };
        let model = scope_model.unwrap_or_else(|| ScopeModel::mirror(&scopes));
        match &offline_access {
            OfflineAccess::Params(params) => {
                let all: Vec<(String, String)> = extra_authorize_params
                    .iter()
                    .chain(params)
                    .cloned()
                    .collect();
                authorization_params(&resource_forwarding, &all)?;
            }
            _ => authorization_params(&resource_forwarding, &extra_authorize_params)?,
        }
        // Metadata-document clients, when set explicitly, are a way in without registration.
        let documents_set = client_documents.as_ref().is_some_and(|d| d.enabled);
        let (static_clients, dynamic_registration) =
            clients(static_clients, dynamic_registration, documents_set)?;
        let public = url.public_url();
        let client_documents = client_documents.unwrap_or_else(|| match consent_mode {
            ConsentMode::Off => ClientDocuments::off(),
            _ => ClientDocuments::default(),
        });
        let consent = consent(
            ConsentSettings {
                mode: consent_mode,
                remember_for: remember_consent_for,
                branding: consent_branding,
                template: consent_template,
            },
            dynamic_registration || client_documents.enabled,
            public.host_str().unwrap_or(&base),
        )?;
        let secure_cookies = public.scheme() == "https";
        let upstream_timeout = timeout(upstream_timeout)?;
        let rate = match max_upstream_call_rate {
            Some((per_second, burst)) => Rate::new("max_upstream_call_rate", per_second, burst)?,
            None => Rate::DEFAULT,
        };
        let upstream_calls = match max_upstream_calls_in_flight {
            Some(0) => return Err(invalid("max_upstream_calls_in_flight", "must be positive")),
            max => UpstreamCalls::new(max.unwrap_or(DEFAULT_MAX_CALLS_IN_FLIGHT), rate),
        };
        let clock = clock.unwrap_or_else(|| Arc::new(SystemClock));
        let sealer = sealer(keys, &clock)?;
        let access_token_ttl = access_ttl(access_token_ttl)?;
        let replay = replay_guard.unwrap_or_else(|| Arc::new(MemoryReplayGuard::default()));
        let revocations = Arc::new(Revocations::new(MAX_REVOKED));
        let upstream_check = Arc::new(UpstreamCheck {
            verifier: Arc::clone(&verifier),
            user_info: user_info
                .clone()
                .unwrap_or_else(|| Arc::new(default_user_info)),
            client_id: check_upstream_client
                .unwrap_or(true)
                .then(|| client_id.clone()),
        });
        let mcp_tokens = McpTokens {
            sealer: sealer.clone(),
            upstream: Arc::clone(&upstream_check),
            issued: token_mode == TokenMode::Issued,
            accept_upstream: token_mode == TokenMode::Passthrough || accept_upstream_tokens,
            issuer: base.clone(),
            resource: url.resource(),
            revocations: Arc::clone(&revocations),
            clock: clock.clone(),
        };
        let documents = DocumentClients::new(client_documents, Arc::clone(&clock), limits.clone())?;
        let protected = ProtectedResource::new(
            url,
            &base,
            ScopesSupported::Always(model.names().map(str::to_owned).collect()),
            TokenCheck {
                verifier,
                authenticator: Some(Arc::new(mcp_tokens)),
                user_info,
                cache_max_ttl,
                clock: clock.clone(),
                access_policy: access_policy.clone(),
                scope_model: Some(model.clone()),
            },
        )?
        .with_trailing_slash();

        Ok(OAuthProxy {
            cfg: Arc::new(ProxyConfig {
                resource: protected.resource().to_owned(),
                callback: format!("{base}/oauth/callback"),
                base,
                protected,
                auth_endpoint: upstream.auth,
                token_endpoint: upstream.token,
                revocation_endpoint: upstream.revocation,
                upstream_issuer: issuer,
                credentials: crate::http::ClientCredentials::new(
                    client_id,
                    client_secret,
                    client_auth,
                ),
                scopes,
                model,
                offline_access,
                scope_aliases,
                grant_types,
                extra_authorize_params,
                resource_forwarding,
                static_clients,
                dynamic_registration,
                documents,
                consent,
                secure_cookies,
                sealer,
                upstream_timeout,
                upstream_calls,
                limits,
                clock,
                token_mode,
                access_token_ttl,
                upstream_check,
                replay,
                revocations,
                access_policy,
            }),
        })
    }
}

/// The public origin, then the MCP path under it: together, the resource tokens are for.
fn resource_url(
    public_url: Option<String>,
    mcp_path: Option<&str>,
) -> Result<ResourceUrl, ConfigError> {
    let public = public_origin(&required("public_url", public_url)?)?;
    ResourceUrl::new(public, mcp_path.unwrap_or(DEFAULT_MCP_PATH))
}

/// The upstream's endpoints, parsed.
struct Endpoints {
    auth: Url,
    token: Url,
    revocation: Option<Url>,
}

/// The upstream's endpoints and issuer: absolute, and https except on loopback.
fn upstream_endpoints(
    auth: Option<String>,
    token: Option<String>,
    revocation: Option<String>,
    issuer: Option<&str>,
) -> Result<Endpoints, ConfigError> {
    let auth = secure_url("auth_endpoint", &required("auth_endpoint", auth)?)?;
    let token = secure_url("token_endpoint", &required("token_endpoint", token)?)?;
    let revocation = revocation
        .map(|u| secure_url("revocation_endpoint", &u))
        .transpose()?;
    if let Some(issuer) = issuer {
        secure_url("issuer", issuer)?;
    }
    Ok(Endpoints {
        auth,
        token,
        revocation,
    })
}

/// The upstream client: a non-empty id, a secret that is either absent or non-empty, and
/// `client_secret_basic` only with a secret to send.
fn credentials(
    client_id: Option<String>,
    client_secret: Option<&ClientSecret>,
    client_auth: ClientAuthMethod,
) -> Result<String, ConfigError> {
    let client_id = required("client_id", client_id)?;
    if client_id.trim().is_empty() {
        return Err(invalid("client_id", "must not be empty"));
    }
    if matches!(client_secret, Some(s) if s.secret().is_empty()) {
        return Err(invalid(
            "client_secret",
            "must not be empty (leave it unset for a public client)",
        ));
    }
    if client_auth == ClientAuthMethod::ClientSecretBasic && client_secret.is_none() {
        return Err(invalid(
            "client_auth_method",
            "client_secret_basic needs a client_secret",
        ));
    }
    Ok(client_id)
}

/// The scopes (default `openid email profile`) and grant types (default
/// `authorization_code refresh_token`); the proxy implements no other grant, and cannot work
/// without the code grant.
fn scopes_and_grant_types(
    scopes: Option<Vec<String>>,
    grant_types: Option<Vec<String>>,
) -> Result<(Vec<String>, Vec<String>), ConfigError> {
    let scopes =
        scopes.unwrap_or_else(|| ["openid", "email", "profile"].map(String::from).to_vec());
    scope_tokens(&scopes)?;
    let grant_types = grant_types.unwrap_or_else(|| {
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
    Ok((scopes, grant_types))
}

/// The extra authorization parameters may not set what the proxy sets itself, including the
/// parameter that forwards the resource.
fn authorization_params(
    forwarding: &ResourceForwarding,
    extra: &[(String, String)],
) -> Result<(), ConfigError> {
    let mut reserved: Vec<&str> = RESERVED_AUTHORIZE_PARAMS.to_vec();
    match forwarding {
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
    if let Some((name, _)) = extra
        .iter()
        .find(|(k, _)| k.is_empty() || reserved.contains(&k.as_str()))
    {
        return Err(invalid(
            "extra_authorize_params",
            &format!("`{name}` is set by the proxy itself"),
        ));
    }
    Ok(())
}

/// The static clients (distinct non-empty ids, redirect URIs under the registration policy)
/// and whether registration is open (default yes); with it closed, a static client is the only
/// way in.
fn clients(
    static_clients: Vec<StaticClient>,
    dynamic_registration: Option<bool>,
    documents_set: bool,
) -> Result<(Vec<StaticClient>, bool), ConfigError> {
    let mut checked: Vec<StaticClient> = Vec::new();
    for client in static_clients {
        if client.client_id.trim().is_empty() {
            return Err(invalid("static_client", "the client id must not be empty"));
        }
        if checked.iter().any(|c| c.client_id == client.client_id) {
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
        checked.push(client);
    }
    let dynamic_registration = dynamic_registration.unwrap_or(true);
    if !dynamic_registration && checked.is_empty() && !documents_set {
        return Err(invalid(
            "dynamic_registration",
            "with registration closed, configure at least one static_client or client_documents",
        ));
    }
    Ok((checked, dynamic_registration))
}

/// The consent settings as given to the builder.
struct ConsentSettings {
    mode: ConsentMode,
    remember_for: Option<Duration>,
    branding: ConsentBranding,
    template: Option<Arc<ConsentTemplateFn>>,
}

/// The consent page: never off while anyone can be a client (open registration or metadata
/// documents), approvals remembered for at least
/// a second and at most 400 days, and the branding checked (named after `default_name` unless
/// given a name).
fn consent(
    settings: ConsentSettings,
    open_to_anyone: bool,
    default_name: &str,
) -> Result<ConsentConfig, ConfigError> {
    if settings.mode == ConsentMode::Off && open_to_anyone {
        // Refused rather than warned about: with open registration, Off hands every
        // signed-in user's code to whoever registers a client and sends them a link.
        return Err(invalid(
            "consent_mode",
            "ConsentMode::Off is unsafe while anyone can be a client (the confused deputy); \
             close registration with dynamic_registration(false) and turn metadata-document \
             clients off with client_documents(ClientDocuments::off()), or keep consent",
        ));
    }
    let remember_for = settings.remember_for.unwrap_or(DEFAULT_REMEMBER);
    if remember_for.as_secs() == 0 || remember_for > MAX_REMEMBER {
        return Err(invalid(
            "remember_consent_for",
            "must be at least a second and at most 400 days",
        ));
    }
    let consent = ConsentConfig {
        mode: settings.mode,
        remember_for,
        branding: settings.branding.validate(default_name)?,
        template: settings.template,
    };
    if consent.mode == ConsentMode::Off {
        log::warn!(
            "consent is off: safe only because registration is closed and every client is \
             a static client you configured"
        );
    }
    Ok(consent)
}

/// The issued access tokens' lifetime (default 1 hour): at least a minute, so that a token
/// is not expired by the time the client uses it.
fn access_ttl(ttl: Option<Duration>) -> Result<Duration, ConfigError> {
    let ttl = ttl.unwrap_or(DEFAULT_ACCESS_TOKEN_TTL);
    if ttl < Duration::from_secs(60) {
        return Err(invalid("access_token_ttl", "must be at least a minute"));
    }
    Ok(ttl)
}

/// The upstream timeout (default 10 s): a zero timeout would fail every call.
fn timeout(timeout: Option<Duration>) -> Result<Duration, ConfigError> {
    let timeout = timeout.unwrap_or(DEFAULT_UPSTREAM_TIMEOUT);
    if timeout.is_zero() {
        return Err(invalid("upstream_timeout", "must be positive"));
    }
    Ok(timeout)
}

/// The sealer over the proxy keys, or over a random key, with a warning, when none is given.
fn sealer(keys: Vec<ProxyKey>, clock: &Arc<dyn Clock>) -> Result<Sealer, ConfigError> {
    let keys = if keys.is_empty() {
        log::warn!(
            "no proxy key configured: a random one is used, so a restart or another replica \
             breaks every sign-in in flight and every registered client; set proxy_key"
        );
        vec![ProxyKey::generate()]
    } else {
        keys
    };
    Sealer::new(keys, Arc::clone(clock))
}

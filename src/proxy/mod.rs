//! The authorization-server side: [`OAuthProxy`], its builder, and everything behind its routes.

mod builder;
mod calls;
mod client_metadata;
mod clients;
mod compact;
mod config;
mod consent;
mod cookies;
mod documents;
mod error;
mod expiring;
mod flow;
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing;
mod issued;
mod limits;
mod redirect;
mod replay;
mod revocations;
mod routes;
mod seal;
mod state;
mod upstream;

use std::{fmt, sync::Arc};

use actix_cors::Cors;
use actix_web::{web, Scope};

use crate::{http::ProviderMetadata, resource, validate::ConfigError, RequireAuth};
pub use builder::OAuthProxyBuilder;
use config::ProxyConfig;
pub use config::{OfflineAccess, ResourceForwarding, TokenMode};
pub use consent::{ConsentBranding, ConsentMode, ConsentView, SafeHtml, ScopeView};
pub use documents::{ClientDocuments, ClientDocumentsBuilder};
pub use limits::{ProxyLimits, ProxyLimitsBuilder};
pub use replay::{MemoryReplayGuard, ReplayGuard, ReplayGuardError};
use routes::{
    authorize, callback, consent as consent_routes, metadata, register, revoke, token, ProxyState,
};
pub use seal::ProxyKey;
use upstream::Upstream;

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
            .field("credentials", &c.credentials)
            .field("consent", &c.consent)
            .field("dynamic_registration", &c.dynamic_registration)
            .field("token_mode", &c.token_mode)
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
    /// are the provider's, as its metadata names them. An endpoint the document lacks stays
    /// unset: [`build`](OAuthProxyBuilder::build) then names it.
    ///
    /// ```no_run
    /// use actix_mcp_oauth::{OAuthProxy, http::ProviderMetadata};
    ///
    /// # async fn run() -> Result<(), actix_mcp_oauth::ConfigError> {
    /// let provider = ProviderMetadata::discover("https://idp.example.com").await?;
    /// let builder = OAuthProxy::from_metadata(&provider)
    ///     .public_url("https://mcp.example.com")
    ///     .client_id("my-app");
    /// # let _ = builder; Ok(()) }
    /// ```
    pub fn from_metadata(metadata: &ProviderMetadata) -> OAuthProxyBuilder {
        let mut builder = Self::builder().issuer(metadata.issuer());
        if let Some(url) = metadata.authorization_endpoint() {
            builder = builder.auth_endpoint(url);
        }
        if let Some(url) = metadata.token_endpoint() {
            builder = builder.token_endpoint(url);
        }
        if let Some(url) = metadata.revocation_endpoint() {
            builder = builder.revocation_endpoint(url);
        }
        builder
    }

    /// [`ProviderMetadata::discover`] then [`from_metadata`](Self::from_metadata). When the
    /// verifier is built from the same provider, discover once and give the document to both.
    pub async fn from_discovery(issuer: &str) -> Result<OAuthProxyBuilder, ConfigError> {
        Ok(Self::from_metadata(
            &ProviderMetadata::discover(issuer).await?,
        ))
    }
}

impl OAuthProxy {
    /// The proxy's routes, to mount at the application root: discovery (RFC 9728, RFC 8414 and
    /// OpenID paths), `/register` (unless registration is closed), `/authorize`, the consent
    /// page `/consent`, `/oauth/callback`, `/token`, and `/revoke` when a revocation endpoint
    /// is configured. The discovery documents, `/register`, `/token` and `/revoke` have CORS;
    /// `/authorize`, `/consent` and `/oauth/callback` are for the user's own browser only.
    ///
    /// The scope answers only its own paths and lets every other request through to the
    /// services registered after it, so the order of `.service` calls does not matter. Mount
    /// the MCP endpoint in its own scope at [`mcp_path`](crate::proxy::OAuthProxyBuilder::mcp_path),
    /// behind [`require_auth`](Self::require_auth) and [`cors`](Self::cors) (CORS outermost, so
    /// that preflight requests, which carry no token, are answered). Serve both `/mcp` and
    /// `/mcp/` from it without redirecting: several clients drop the POST body and the
    /// `Authorization` header on a redirect. rmcp-actix-web's `scope_with_path` already routes
    /// both; with your own handler, route `""` and `"/"`. Set `tcp_nodelay(true)` on the server,
    /// as below: without it a streamed (SSE) MCP response on a keep-alive connection waits about
    /// 40 ms for the client's delayed ACK.
    ///
    /// ```no_run
    /// use actix_web::{web, App, HttpResponse, HttpServer};
    /// # async fn run(proxy: actix_mcp_oauth::OAuthProxy) -> std::io::Result<()> {
    /// async fn mcp() -> HttpResponse { HttpResponse::Ok().finish() }
    ///
    /// HttpServer::new(move || {
    ///     App::new().service(proxy.scope()).service(
    ///         web::scope("/mcp")
    ///             .wrap(proxy.require_auth())
    ///             .wrap(proxy.cors())
    ///             .route("", web::post().to(mcp))
    ///             .route("/", web::post().to(mcp)),
    ///     )
    /// })
    /// .tcp_nodelay(true)
    /// .bind(("127.0.0.1", 8080))?
    /// .run()
    /// .await
    /// # }
    /// ```
    ///
    /// Call it inside the `HttpServer::new` closure: each worker gets its own HTTP client for
    /// the upstream calls.
    pub fn scope(&self) -> Scope {
        let cfg = &self.cfg;
        let state = web::Data::new(ProxyState {
            cfg: Arc::clone(cfg),
            upstream: Upstream::new(cfg.upstream_timeout),
        });
        // Every path is named once, where it is routed: the guard lets through exactly those.
        let mut paths: Vec<String> = cfg.protected.paths();
        let mut at = |path: &'static str| {
            paths.push(path.to_owned());
            path
        };
        let mut routes = cfg
            .protected
            .routes(web::scope(""))
            .route(
                at("/.well-known/oauth-authorization-server"),
                web::get().to(metadata::authorization_server),
            )
            .route(
                at("/.well-known/openid-configuration"),
                web::get().to(metadata::authorization_server),
            )
            .route(at("/token"), web::post().to(token::token));
        if cfg.dynamic_registration {
            routes = routes.route(at("/register"), web::post().to(register::register));
        }
        if cfg.serves_revocation() {
            routes = routes.route(at("/revoke"), web::post().to(revoke::revoke));
        }
        // The pages the user's browser navigates to (authorize, consent, callback) get no CORS:
        // no other origin has any business reading them.
        let authorize = web::resource(at("/authorize"))
            .route(web::get().to(authorize::authorize_get))
            .route(web::post().to(authorize::authorize_post));
        let consent = web::resource(at("/consent"))
            .route(web::get().to(consent_routes::page))
            .route(web::post().to(consent_routes::answer));
        let callback =
            web::resource(at("/oauth/callback")).route(web::get().to(callback::callback));
        // The outer scope stays a plain `Scope`; CORS wraps the inner one.
        web::scope("")
            .guard(resource::only_paths(paths))
            .app_data(state)
            .service(authorize)
            .service(consent)
            .service(callback)
            .service(routes.wrap(self.cors()))
    }

    /// The bearer-token check for the MCP scope: tokens verified with the configured
    /// [`verifier`](crate::proxy::OAuthProxyBuilder::verifier) and
    /// [`user_info`](crate::proxy::OAuthProxyBuilder::user_info), for the resource
    /// `public_url + mcp_path`, with challenges that point clients at this proxy's metadata.
    /// Every clone shares one token cache. Add `.require_scopes([..])` to demand scopes.
    pub fn require_auth(&self) -> RequireAuth {
        self.cfg.protected.require_auth()
    }

    /// CORS for browser-based clients: any origin, no cookies, `WWW-Authenticate` and
    /// `Mcp-Session-Id` readable by scripts. The proxy's own routes have it already; wrap the
    /// MCP scope with it (outside [`require_auth`](Self::require_auth)).
    pub fn cors(&self) -> Cors {
        resource::cors()
    }

    /// The canonical resource: `public_url + mcp_path`.
    pub fn resource(&self) -> &str {
        self.cfg.protected.resource()
    }
}

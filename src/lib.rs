//! OAuth 2.1 for Model Context Protocol servers on actix-web.
//!
//! Every request to a protected route passes through [`RequireAuth`]: it reads the bearer
//! token from the `Authorization` header, checks it with a [`TokenVerifier`] (a JWT checked
//! against the provider's keys, or an opaque token checked by your own function with
//! [`FnVerifier`]), keeps the result in a bounded [`TokenCache`] until the token expires, and
//! hands the user to your handler as [`AuthUser`]. A request that fails gets the challenge an
//! MCP client expects (RFC 6750, RFC 9728): `401` with
//! `WWW-Authenticate: Bearer resource_metadata="..."` so the client can find the
//! authorization server, `403 insufficient_scope`, or `503` when the provider is unreachable.
//!
//! # Getting started
//!
//! ```no_run
//! use actix_mcp_oauth::{AuthUser, Claims, FnVerifier, RequireAuth, VerifyError};
//! use actix_web::{web, App, HttpServer, Responder};
//!
//! async fn whoami(user: AuthUser) -> impl Responder {
//!     format!("hello {} ({:?})", user.user_id, user.email)
//! }
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     // Any `TokenVerifier` fits here. This one asks your own code about an opaque token; for a
//!     // provider that issues JWTs, use its JWKS verifier instead.
//!     let verifier = FnVerifier::new(|token: String| async move {
//!         match lookup(&token).await {
//!             Some(claims) => Ok(claims),
//!             None => Err(VerifyError::Rejected("unknown token".into())),
//!         }
//!     });
//!
//!     // Built once, outside `HttpServer::new`: the token cache is shared by every worker.
//!     let auth = RequireAuth::new(verifier, "https://mcp.example.com/mcp")
//!         .map_err(std::io::Error::other)?
//!         .require_scopes(["mcp:tools"]);
//!     // Serve the RFC 9728 document at `auth.resource_metadata_url()`:
//!     // https://mcp.example.com/.well-known/oauth-protected-resource/mcp
//!
//!     HttpServer::new(move || {
//!         App::new().service(
//!             web::scope("/mcp")
//!                 .wrap(auth.clone())
//!                 .route("/whoami", web::get().to(whoami)),
//!         )
//!     })
//!     .bind(("127.0.0.1", 8080))?
//!     .run()
//!     .await
//! }
//!
//! # async fn lookup(_token: &str) -> Option<Claims> { None }
//! ```
//!
//! # Users
//!
//! [`AuthUser`] carries the mapped [`UserInfo`] (`user_id`, `email`, `name`, `picture`,
//! `username`, `scopes`, `permissions`, `roles`), all the claims, and the access token (whose
//! `Debug` prints `[redacted]`) for calling the provider's API on the user's behalf. The
//! mapping from claims is [`default_user_info`] unless you give [`RequireAuth::user_info`] your
//! own. For routes where signing in is optional, use [`RequireAuth::allow_anonymous`] and take
//! `Option<AuthUser>`.
//!
//! # The OAuth proxy
//!
//! MCP clients register themselves (RFC 7591) and expect the server to name an authorization
//! server that accepts them. Google, GitHub, Okta, Entra ID and most enterprise providers do not
//! let them. [`OAuthProxy`] holds your one registered application and is, to every MCP client, a
//! complete authorization server: discovery, registration, a consent page, PKCE, token and
//! revocation endpoints. It keeps no state on the server: everything is sealed with the
//! [`ProxyKey`], so replicas that share the key serve any step. [`ProviderMetadata::discover`]
//! reads your provider's metadata once; [`OAuthProxy::from_metadata`] takes its endpoints and
//! [`JwksVerifier::from_metadata`] its key set.
//!
//! ```no_run
//! use actix_mcp_oauth::{AuthUser, JwksVerifier, OAuthProxy, ProviderMetadata, ProxyKey};
//! use actix_web::{web, App, HttpServer};
//!
//! async fn whoami(user: AuthUser) -> String {
//!     user.user_id.clone()
//! }
//!
//! #[actix_web::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // The provider's metadata, read once and used by both sides.
//!     let provider = ProviderMetadata::discover("https://idp.example.com").await?;
//!     // A provider whose access tokens are JWTs: check them against its published keys.
//!     let verifier = JwksVerifier::from_metadata(&provider)?
//!         .audience("https://mcp.example.com/mcp")
//!         .build()?;
//!     let proxy = OAuthProxy::from_metadata(&provider)
//!         .public_url("https://mcp.example.com")
//!         .client_id(std::env::var("CLIENT_ID")?)
//!         .client_secret(std::env::var("CLIENT_SECRET")?)
//!         .verifier(verifier)
//!         .proxy_key(ProxyKey::from_base64url(&std::env::var("PROXY_KEY")?)?)
//!         .build()?;
//!
//!     HttpServer::new(move || {
//!         App::new().service(proxy.scope()).service(
//!             web::scope("/mcp")
//!                 .wrap(proxy.require_auth())
//!                 .wrap(proxy.cors())
//!                 .route("", web::post().to(whoami))
//!                 .route("/", web::post().to(whoami)),
//!         )
//!     })
//!     .bind(("127.0.0.1", 8080))?
//!     .run()
//!     .await?;
//!     Ok(())
//! }
//! ```
//!
//! # Feature flags
//!
//! - `rmcp`: [`AuthUser`] as an argument of rmcp `#[tool]` functions, and
//!   `forward_auth_user`, the rmcp-actix-web `on_request_fn` hook that carries the user from the
//!   actix request into the MCP request.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod challenge;
mod clock;
mod http;
mod middleware;
pub mod providers;
mod proxy;
mod remote;
mod resource;
#[cfg(feature = "rmcp")]
mod rmcp;
mod secret;
mod user;
mod validate;
mod verify;

#[cfg(feature = "rmcp")]
pub use crate::rmcp::forward_auth_user;
pub use challenge::{AuthError, BearerChallenge, BearerErrorCode, Challenge};
pub use clock::{Clock, ManualClock, SystemClock};
pub use http::{ClientAuthMethod, ProviderMetadata};
pub use middleware::{RequireAuth, RequireAuthMiddleware, TokenCache};
pub use proxy::{
    ConsentBranding, ConsentMode, ConsentTemplateFn, ConsentView, OAuthError, OAuthProxy,
    OAuthProxyBuilder, ProxyKey, ResourceForwarding, SafeHtml, ScopeView,
};
pub use remote::{RemoteAuth, RemoteAuthBuilder};
pub use secret::{AccessToken, ClientSecret};
pub use user::{default_user_info, AuthUser, AuthUserExt, UserInfo, UserInfoFn};
pub use validate::ConfigError;
pub use verify::{
    Algorithm, Claims, FnVerifier, IntrospectionVerifier, IntrospectionVerifierBuilder,
    IssuerPolicy, JwksVerifier, JwksVerifierBuilder, TokenVerifier, VerifyError,
};

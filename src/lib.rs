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

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod challenge;
mod clock;
mod config;
mod error;
mod middleware;
pub mod providers;
mod redirect;
mod remote;
#[cfg(feature = "rmcp")]
mod rmcp;
mod routes;
mod seal;
mod secret;
mod upstream;
mod user;
mod verify;

#[cfg(feature = "rmcp")]
pub use crate::rmcp::forward_auth_user;
pub use challenge::{AuthError, BearerChallenge, BearerErrorCode, Challenge};
pub use clock::{Clock, SystemClock};
pub use config::{
    ClientAuthMethod, ConfigError, OAuthProxy, OAuthProxyBuilder, ResourceForwarding,
};
pub use error::OAuthError;
pub use middleware::{RequireAuth, RequireAuthMiddleware};
pub use remote::{RemoteAuth, RemoteAuthBuilder};
pub use seal::ProxyKey;
pub use secret::{AccessToken, ClientSecret};
pub use user::{default_user_info, AuthUser, AuthUserExt, UserInfo, UserInfoFn};
pub use verify::{Algorithm, JwksVerifier, JwksVerifierBuilder};
pub use verify::{Claims, FnVerifier, TokenCache, TokenVerifier, VerifyError};
pub use verify::{IntrospectionVerifier, IntrospectionVerifierBuilder};

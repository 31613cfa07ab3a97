//! OAuth 2.1 for Model Context Protocol servers on actix-web.
//!
//! MCP clients (Claude, ChatGPT, Cursor, VS Code, the SDKs) register themselves and expect the
//! server to name an authorization server that accepts them; Google, GitHub, Okta, Entra ID
//! and most enterprise providers do not let them. [`OAuthProxy`] holds the one application you
//! register with your provider and is, to every MCP client, a complete authorization server:
//! discovery, registration, a consent page, PKCE, token and revocation endpoints. It keeps no
//! state on the server: everything is sealed with the [`ProxyKey`], so replicas that share the
//! key serve any step. On the MCP endpoint, [`RequireAuth`] verifies every request's bearer
//! token and hands the user to your handler or rmcp tool as [`AuthUser`].
//!
//! # Getting started
//!
//! A preset in [`providers`] fills in the provider's endpoints, scopes and the verifier for the
//! tokens it really issues (Google's are opaque, not JWTs); an [`AccessPolicy`](access::AccessPolicy)
//! says who may sign in (without one, every Google account may):
//!
//! ```no_run
//! use actix_mcp_oauth::{access::AccessPolicy, providers, AuthUser, ProxyKey};
//! use actix_web::{web, App, HttpServer};
//!
//! async fn whoami(user: AuthUser) -> String {
//!     format!("{} <{}>", user.user_id, user.email.as_deref().unwrap_or("?"))
//! }
//!
//! /// A required environment variable; when missing, the error names it.
//! fn env(name: &str) -> Result<String, String> {
//!     std::env::var(name).map_err(|_| format!("set {name}"))
//! }
//!
//! #[actix_web::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Built once, outside `HttpServer::new`: every worker shares the token cache.
//!     let proxy = providers::google()
//!         .client(env("GOOGLE_CLIENT_ID")?, env("GOOGLE_CLIENT_SECRET")?)
//!         .builder()?
//!         .public_url("https://mcp.example.com") // what clients see; never taken from Host
//!         .proxy_key(ProxyKey::from_base64url(&env("PROXY_KEY")?)?)
//!         .access_policy(AccessPolicy::builder().allow_email_domains(["example.com"]).build()?)
//!         .build()?;
//!
//!     HttpServer::new(move || {
//!         App::new()
//!             // Discovery, /register, /authorize, /consent, /oauth/callback, /token, /revoke.
//!             .service(proxy.scope())
//!             .service(
//!                 web::scope("/mcp")
//!                     .wrap(proxy.require_auth()) // every MCP request carries a verified token
//!                     .wrap(proxy.cors())
//!                     .route("", web::post().to(whoami)),
//!             )
//!     })
//!     .tcp_nodelay(true)
//!     .bind(("127.0.0.1", 8080))?
//!     .run()
//!     .await?;
//!     Ok(())
//! }
//! ```
//!
//! With the `rmcp` feature, an rmcp `#[tool]` takes the user the same way
//! (`async fn whoami(&self, user: AuthUser)`), and `forward_auth_user` carries it from the
//! actix request into the MCP request. The repository's `examples/` hold one MCP server per
//! provider (`google`, `github`, `okta`, `auth0`, `entra_id`, `keycloak`), each configured from
//! the environment; what to register in each console is in the repository's `docs/providers.md`.
//!
//! # Any OpenID provider
//!
//! [`ProviderMetadata::discover`](http::ProviderMetadata::discover)
//! reads your provider's metadata once; [`OAuthProxy::from_metadata`] takes its endpoints and
//! [`JwksVerifier::from_metadata`] its key set.
//!
//! ```no_run
//! use actix_mcp_oauth::{http::ProviderMetadata, AuthUser, JwksVerifier, OAuthProxy, ProxyKey};
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
//!     .tcp_nodelay(true)
//!     .bind(("127.0.0.1", 8080))?
//!     .run()
//!     .await?;
//!     Ok(())
//! }
//! ```
//!
//! # Verification only
//!
//! Without the proxy (your provider registers MCP clients itself, see [`RemoteAuth`], or you
//! only check tokens), [`RequireAuth`] protects any actix scope. It reads the bearer token from
//! the `Authorization` header, checks it with a [`TokenVerifier`] (a JWT checked against the
//! provider's keys, or an opaque token checked by your own function with
//! [`FnVerifier`](verify::FnVerifier)), keeps the result in a bounded
//! [`TokenCache`](middleware::TokenCache) until the token expires, and hands the user to your
//! handler as [`AuthUser`]. A request that fails gets the challenge an MCP client expects
//! (RFC 6750, RFC 9728): `401` with `WWW-Authenticate: Bearer resource_metadata="..."` so the
//! client can find the authorization server, `403 insufficient_scope`, or `503` when the
//! provider is unreachable.
//!
//! ```no_run
//! use actix_mcp_oauth::{verify::FnVerifier, AuthUser, Claims, RequireAuth, VerifyError};
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
//!     .tcp_nodelay(true)
//!     .bind(("127.0.0.1", 8080))?
//!     .run()
//!     .await
//! }
//!
//! # async fn lookup(_token: &str) -> Option<Claims> { None }
//! ```
//!
//! Set `tcp_nodelay(true)` on every server that serves MCP: a streamed (SSE) response otherwise
//! waits for Nagle's algorithm and the client's delayed ACK, about 40 ms on every keep-alive
//! request.
//!
//! # Users
//!
//! [`AuthUser`] carries the mapped [`UserInfo`] (`user_id`, `email`, `name`, `picture`,
//! `username`, `scopes`, `permissions`, `roles`), all the claims, and the access token (whose
//! `Debug` prints `[redacted]`) for calling the provider's API on the user's behalf. The
//! mapping from claims is [`default_user_info`](user::default_user_info) unless you give [`RequireAuth::user_info`] your
//! own. For routes where signing in is optional, use [`RequireAuth::allow_anonymous`] and take
//! `Option<AuthUser>`. Who may sign in at all is the [`access`] policy's to say.
//!
//! # Modules
//!
//! The most used names are at the crate root; the rest live by role:
//!
//! | side | module | what is in it |
//! |---|---|---|
//! | resource server | [`verify`] | [`TokenVerifier`], [`JwksVerifier`] and its issuer policy, introspection, [`FnVerifier`](verify::FnVerifier) |
//! | resource server | [`middleware`] | [`RequireAuth`] and its verified-token cache |
//! | resource server | [`access`] | [`AccessPolicy`](access::AccessPolicy): who may use the server |
//! | resource server | [`user`] | [`AuthUser`], [`UserInfo`] and the claims-to-user mapping |
//! | both | [`scope`] | [`ScopeModel`](scope::ScopeModel): the MCP scopes a server defines, their descriptions, upstream scopes and hierarchy |
//! | resource server | [`challenge`] | the `WWW-Authenticate: Bearer` challenges and [`AuthError`](challenge::AuthError) |
//! | resource server | [`remote`] | [`RemoteAuth`], for providers that register MCP clients themselves |
//! | authorization server | [`proxy`] | [`OAuthProxy`], its builder, the [`ProxyKey`] and the consent page |
//! | both | [`providers`] | presets for common identity providers |
//! | both | [`http`] | [`ProviderMetadata`](http::ProviderMetadata) discovery and how credentials are sent |
//! | both | [`clock`], [`secret`] | the time seam ([`ManualClock`](clock::ManualClock) for tests), redacted secrets |
//!
//! # Feature flags
//!
//! - `rmcp`: [`AuthUser`] as an argument of rmcp `#[tool]` functions, and
//!   `forward_auth_user`, the rmcp-actix-web `on_request_fn` hook that carries the user from the
//!   actix request into the MCP request; `SessionBinding`, the middleware that keeps each MCP
//!   session to the user who opened it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod access;
pub mod challenge;
pub mod clock;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
mod logged;
pub mod middleware;
pub mod providers;
pub mod proxy;
pub mod remote;
mod resource;
#[cfg(feature = "rmcp")]
mod rmcp;
pub mod scope;
pub mod secret;
pub mod user;
mod validate;
pub mod verify;

/// The README's examples, compiled as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}

/// The provider guide's examples, compiled as doc tests too.
#[cfg(doctest)]
#[doc = include_str!("../docs/providers.md")]
mod providers_guide {}

pub use middleware::RequireAuth;
pub use proxy::{OAuthProxy, ProxyKey};
pub use remote::RemoteAuth;
#[cfg(feature = "rmcp")]
pub use rmcp::{forward_auth_user, SessionBinding, SessionBindingBuilder};
pub use user::{AuthUser, AuthUserExt, UserInfo};
pub use validate::ConfigError;
pub use verify::{Claims, JwksVerifier, TokenVerifier, VerifyError};

//! An MCP server (the rmcp `whoami` tool at `/mcp`) whose users sign in with Okta; JWT access
//! tokens of a custom authorization server are checked against its keys.
//!
//! In the Okta admin console: Applications → Create App Integration → OIDC, "Web Application";
//! sign-in redirect URI `$PUBLIC_URL/oauth/callback`; grant types Authorization Code and Refresh
//! Token; assign the users or groups who may sign in. Tokens come from the authorization server
//! `OKTA_AUTH_SERVER` (Security → API; `default` unless you made another, whose audience then
//! goes in `OKTA_AUDIENCE`). Then:
//!
//! ```text
//! OKTA_DOMAIN=dev-123456.okta.com OKTA_CLIENT_ID=0oa... OKTA_CLIENT_SECRET=... \
//! PROXY_KEY=$(openssl rand -base64 32 | tr '+/' '-_') \
//!     cargo run --example okta --features rmcp
//! ```
//!
//! Who may sign in: the users assigned to the app in Okta, narrowed by `ALLOWED_EMAILS` or
//! `ALLOWED_DOMAINS` only if the authorization server puts `email` and `email_verified` in its
//! access tokens (Security → API → Claims). `BIND`, `PORT`, `PUBLIC_URL`: see `examples/common/mod.rs`.

mod common;

use actix_mcp_oauth::providers;

#[actix_web::main]
async fn main() -> common::Result<()> {
    common::init_logging();
    let server = std::env::var("OKTA_AUTH_SERVER").unwrap_or_else(|_| "default".into());
    let mut okta = providers::okta(common::env("OKTA_DOMAIN")?, server).client(
        common::env("OKTA_CLIENT_ID")?,
        common::env("OKTA_CLIENT_SECRET")?,
    );
    if let Ok(audience) = std::env::var("OKTA_AUDIENCE") {
        okta = okta.audience(audience);
    }
    common::serve(okta.builder()?, common::Access::from_env()?).await
}

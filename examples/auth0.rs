//! An MCP server (the rmcp `whoami` tool at `/mcp`) whose users sign in with Auth0; the
//! `audience` parameter makes Auth0 issue JWT access tokens for your API, checked against the
//! tenant's keys, with the API's permissions.
//!
//! In the Auth0 dashboard: Applications → APIs → Create API (identifier = `AUTH0_AUDIENCE`,
//! e.g. `https://mcp.example.com/mcp`; enable RBAC, "Add Permissions in the Access Token" and
//! "Allow Offline Access"); Applications → Create Application, "Regular Web Application",
//! allowed callback URL `$PUBLIC_URL/oauth/callback`. Then:
//!
//! ```text
//! AUTH0_DOMAIN=your-tenant.us.auth0.com AUTH0_AUDIENCE=https://mcp.example.com/mcp \
//! AUTH0_CLIENT_ID=... AUTH0_CLIENT_SECRET=... \
//! PROXY_KEY=$(openssl rand -base64 32 | tr '+/' '-_') \
//!     cargo run --example auth0 --features rmcp
//! ```
//!
//! Who may sign in: `AUTH0_PERMISSION` (users granted this permission of the API, through a
//! role), or `ALLOWED_EMAILS` / `ALLOWED_DOMAINS` if an Action adds `email` and
//! `email_verified` to the access token. `BIND`, `PORT`, `PUBLIC_URL`: see `examples/common/mod.rs`.

mod common;

use actix_mcp_oauth::providers;

#[actix_web::main]
async fn main() -> common::Result<()> {
    common::init_logging();
    let access = common::Access::from_env()?.rule("AUTH0_PERMISSION", |policy, wanted| {
        Ok(policy.allow_if(move |user| user.permissions.iter().any(|p| wanted.contains(p))))
    })?;
    let builder = providers::auth0(common::env("AUTH0_DOMAIN")?, common::env("AUTH0_AUDIENCE")?)
        .client(
            common::env("AUTH0_CLIENT_ID")?,
            common::env("AUTH0_CLIENT_SECRET")?,
        )
        .builder()?;
    common::serve(builder, access).await
}

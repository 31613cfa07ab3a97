//! An MCP server (the rmcp `whoami` tool at `/mcp`) whose users sign in with Keycloak through
//! the proxy; realm JWTs are checked against the realm's keys, with realm and client roles
//! mapped. (Keycloak also registers MCP clients itself: see the `remote_auth` example.)
//!
//! In the realm: Clients → Create client (OpenID Connect, client authentication on, standard
//! flow); valid redirect URI `$PUBLIC_URL/oauth/callback`; Client scopes → `<client>-dedicated`
//! → Add mapper → Audience, included client audience = this client. Then:
//!
//! ```text
//! KEYCLOAK_URL=https://keycloak.example.com KEYCLOAK_REALM=mcp \
//! KEYCLOAK_CLIENT_ID=mcp-proxy KEYCLOAK_CLIENT_SECRET=... KEYCLOAK_ROLE=mcp-user \
//! PROXY_KEY=$(openssl rand -base64 32 | tr '+/' '-_') \
//!     cargo run --example keycloak --features rmcp
//! ```
//!
//! Who may sign in: `KEYCLOAK_ROLE` (users with one of these realm roles, or `client:role`
//! client roles), `ALLOWED_EMAILS`, `ALLOWED_DOMAINS` (Keycloak marks verified addresses).
//! `BIND`, `PORT`, `PUBLIC_URL`: see `examples/common/mod.rs`.

mod common;

use actix_mcp_oauth::providers;

#[actix_web::main]
async fn main() -> common::Result<()> {
    common::init_logging();
    let access = common::Access::from_env()?.rule("KEYCLOAK_ROLE", |policy, roles| {
        Ok(policy.allow_if(move |user| user.roles.iter().any(|r| roles.contains(r))))
    })?;
    let builder = providers::keycloak(common::env("KEYCLOAK_URL")?, common::env("KEYCLOAK_REALM")?)
        .client(
            common::env("KEYCLOAK_CLIENT_ID")?,
            common::env("KEYCLOAK_CLIENT_SECRET")?,
        )
        .builder()?;
    common::serve(builder, access).await
}

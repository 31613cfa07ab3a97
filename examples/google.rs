//! An MCP server (the rmcp `whoami` tool at `/mcp`) whose users sign in with Google; their
//! opaque `ya29.` tokens are checked at Google's token-info endpoint.
//!
//! In the Google Cloud console (APIs & Services): configure the OAuth consent screen (while its
//! publishing status is "Testing", only the test users you list there can sign in, and refresh
//! tokens expire after 7 days once you ask for more than `openid email profile`), then Credentials → Create credentials → OAuth client ID, type
//! "Web application", authorized redirect URI `$PUBLIC_URL/oauth/callback`. Then:
//!
//! ```text
//! GOOGLE_CLIENT_ID=...apps.googleusercontent.com GOOGLE_CLIENT_SECRET=... \
//! GOOGLE_HOSTED_DOMAINS=example.com PROXY_KEY=$(openssl rand -base64 32 | tr '+/' '-_') \
//!     cargo run --example google --features rmcp
//! ```
//!
//! Who may sign in: for a Google Workspace, `GOOGLE_HOSTED_DOMAINS` (its domains, the `hd`
//! claim Google sets on Workspace accounts only). `ALLOWED_EMAILS` and `ALLOWED_DOMAINS` count
//! an address only where Google is authoritative for it: `@gmail.com`, or the account's own
//! Workspace domain (a personal Google account made for `ada@example.com` is not admitted by
//! `ALLOWED_DOMAINS=example.com`). `BIND`, `PORT`, `PUBLIC_URL`: see `examples/common/mod.rs`.

mod common;

use actix_mcp_oauth::providers;

#[actix_web::main]
async fn main() -> common::Result<()> {
    common::init_logging();
    let access = common::Access::from_env()?.rule("GOOGLE_HOSTED_DOMAINS", |policy, domains| {
        Ok(policy.allow_google_hosted_domains(domains))
    })?;
    // Endpoints, `access_type=offline` + `prompt=consent` (for refresh tokens), the token-info
    // verifier and a one-hour token cache all come with the preset.
    let builder = providers::google()
        .client(
            common::env("GOOGLE_CLIENT_ID")?,
            common::env("GOOGLE_CLIENT_SECRET")?,
        )
        .builder()?;
    common::serve(builder, access).await
}

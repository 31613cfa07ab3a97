//! An MCP server (the rmcp `whoami` tool at `/mcp`) whose users sign in with GitHub; their
//! opaque `gho_` tokens are checked with GitHub's API.
//!
//! Register an OAuth app (GitHub → Settings → Developer settings → OAuth Apps → New OAuth App)
//! with the authorization callback URL `$PUBLIC_URL/oauth/callback`, generate a client secret,
//! then:
//!
//! ```text
//! GITHUB_CLIENT_ID=Ov23li... GITHUB_CLIENT_SECRET=... GITHUB_ORG=your-org \
//! PROXY_KEY=$(openssl rand -base64 32 | tr '+/' '-_') \
//!     cargo run --example github --features rmcp
//! ```
//!
//! Who may sign in: `ALLOWED_EMAILS`, `ALLOWED_DOMAINS` (the primary verified address),
//! `GITHUB_ORG` (members of these organisations) and `GITHUB_TEAM` (`org/team-slug`: members of
//! these teams). A membership rule makes the proxy ask for `read:org`; an organisation with
//! OAuth app access restrictions must approve the app first. `BIND`, `PORT`, `PUBLIC_URL`: see
//! `examples/common/mod.rs`.
//!
//! OAuth apps issue no refresh tokens: their access tokens live until the user revokes them.
//! A revoked token keeps working here for at most the cache TTL (60 s below).

mod common;

use actix_mcp_oauth::providers;

#[actix_web::main]
async fn main() -> common::Result<()> {
    common::init_logging();
    let github = providers::github()
        .client(
            common::env("GITHUB_CLIENT_ID")?,
            common::env("GITHUB_CLIENT_SECRET")?,
        )
        // GitHub asks API clients to name themselves in the User-Agent.
        .user_agent("actix-mcp-oauth-example")
        .cache_ttl(std::time::Duration::from_secs(60));
    let access = common::Access::from_env()?
        .rule("GITHUB_ORG", |mut policy, orgs| {
            for org in orgs {
                policy = policy.allow(github.org_members(org)?);
            }
            Ok(policy)
        })?
        .rule("GITHUB_TEAM", |mut policy, teams| {
            for team in teams {
                let (org, slug) = team.split_once('/').ok_or("GITHUB_TEAM: org/team-slug")?;
                policy = policy.allow(github.team_members(org, slug)?);
            }
            Ok(policy)
        })?;
    // The public profile address is unverified: ask for the primary verified one only when
    // an email rule needs it (one more call to GitHub per new token).
    let github = github.verified_email(access.has_email_rule());
    common::serve(github.builder()?, access).await
}

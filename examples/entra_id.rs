//! An MCP server (the rmcp `whoami` tool at `/mcp`) whose users sign in with Microsoft Entra
//! ID; v2.0 access tokens for the app's own API scope are checked against Microsoft's keys with
//! the issuer of the token's tenant.
//!
//! In the Entra admin center: App registrations → New registration (single tenant, or "any
//! organizational directory" for multi-tenant); redirect URI (Web) `$PUBLIC_URL/oauth/callback`;
//! Certificates & secrets → new client secret; Expose an API → Application ID URI
//! `api://<client id>` and a scope `access_as_user`; Manifest → `"requestedAccessTokenVersion": 2`.
//! Then (`ENTRA_TENANT` = the Directory (tenant) ID, or `organizations` for multi-tenant):
//!
//! ```text
//! ENTRA_TENANT=72f988bf-... ENTRA_CLIENT_ID=... ENTRA_CLIENT_SECRET=... \
//! PROXY_KEY=$(openssl rand -base64 32 | tr '+/' '-_') \
//!     cargo run --example entra_id --features rmcp
//! ```
//!
//! Who may sign in: a single-tenant app admits only its tenant's users (and, with "Assignment
//! required" in Enterprise applications, only those assigned). For a multi-tenant app,
//! `ENTRA_TENANTS` lists the tenant ids admitted. Entra's `email` claim is not verified, so the
//! email rules would admit no one: with `ALLOWED_EMAILS` or `ALLOWED_DOMAINS` set, the example
//! refuses to start. `BIND`, `PORT`, `PUBLIC_URL`: see `examples/common/mod.rs`.
//!
//! Tokens for Microsoft Graph cannot be verified by anyone but Graph, which is why the app
//! requests a scope of its own API.

mod common;

use actix_mcp_oauth::providers;

#[actix_web::main]
async fn main() -> common::Result<()> {
    common::init_logging();
    let access = common::Access::from_env()?.rule("ENTRA_TENANTS", |policy, tenants| {
        Ok(policy.allow_entra_tenants(tenants))
    })?;
    // Entra's `email` (an optional claim) is whatever the directory holds, never marked
    // verified: an email rule would admit no one, so say so rather than refuse everyone.
    if access.has_email_rule() {
        return Err(
            "ALLOWED_EMAILS and ALLOWED_DOMAINS admit no one with Entra ID (its email \
                    claim is not verified): use ENTRA_TENANTS, or app assignment in Entra"
                .into(),
        );
    }
    let builder = providers::entra_id(common::env("ENTRA_TENANT")?)
        .client(
            common::env("ENTRA_CLIENT_ID")?,
            common::env("ENTRA_CLIENT_SECRET")?,
        )
        .builder()?;
    common::serve(builder, access).await
}

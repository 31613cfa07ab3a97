//! Users sign in with Microsoft Entra ID; v2.0 access tokens for the app's own API scope are
//! checked against Microsoft's keys with the issuer of the token's tenant.
//!
//! In the Entra admin center: App registrations → New registration (single tenant, or "any
//! organizational directory" for multi-tenant); redirect URI (Web) `$PUBLIC_URL/oauth/callback`;
//! Certificates & secrets → new client secret; Expose an API → Application ID URI
//! `api://<client id>` and a scope `access_as_user`; Manifest → `"requestedAccessTokenVersion": 2`.
//! Then (`ENTRA_TENANT` = the Directory (tenant) ID, or `organizations` for multi-tenant):
//!
//! ```text
//! ENTRA_TENANT=72f988bf-... ENTRA_CLIENT_ID=... ENTRA_CLIENT_SECRET=... \
//! PUBLIC_URL=http://localhost:8080 PROXY_KEY=$(openssl rand -base64 32) \
//!     cargo run --example entra_id
//! ```
//!
//! Tokens for Microsoft Graph cannot be verified by anyone but Graph, which is why the app
//! requests a scope of its own API.

use std::error::Error;

use actix_mcp_oauth::{providers, AuthUser, OAuthProxy, ProxyKey};
use actix_web::{middleware::Logger, web, App, HttpResponse, HttpServer};

fn env(name: &str) -> Result<String, Box<dyn Error>> {
    std::env::var(name).map_err(|_| format!("set {name}").into())
}

/// `tid` and `oid` are in the claims for tenant-aware tools.
async fn whoami(user: AuthUser) -> HttpResponse {
    let tenant = user.claims().get_str("tid").map(str::to_owned);
    HttpResponse::Ok().json(serde_json::json!({ "user": user.info(), "tenant": tenant }))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn Error>> {
    env_logger::init_from_env(env_logger::Env::default().default_filter_or("info"));

    let proxy: OAuthProxy = providers::entra_id(env("ENTRA_TENANT")?)
        .client(env("ENTRA_CLIENT_ID")?, env("ENTRA_CLIENT_SECRET")?)
        .builder()?
        .public_url(env("PUBLIC_URL")?)
        .proxy_key(ProxyKey::from_base64url(&env("PROXY_KEY")?)?)
        .build()?;
    log::info!("MCP endpoint: {}", proxy.resource());

    HttpServer::new(move || {
        App::new()
            // The path only: query strings carry authorization codes (/oauth/callback).
            .wrap(Logger::new("\"%U\" %s %T"))
            .service(proxy.scope())
            .service(
                web::scope("/mcp")
                    .wrap(proxy.require_auth())
                    .wrap(proxy.cors())
                    .route("/whoami", web::get().to(whoami)),
            )
    })
    .bind(("127.0.0.1", 8080))?
    .run()
    .await?;
    Ok(())
}

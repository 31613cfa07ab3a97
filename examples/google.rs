//! Users sign in with Google; their opaque `ya29.` tokens are checked at Google's token-info.
//!
//! Register in the Google Cloud console (APIs & Services → Credentials → Create credentials →
//! OAuth client ID, type "Web application") the authorized redirect URI
//! `$PUBLIC_URL/oauth/callback`, then:
//!
//! ```text
//! GOOGLE_CLIENT_ID=...apps.googleusercontent.com GOOGLE_CLIENT_SECRET=... \
//! PUBLIC_URL=http://localhost:8080 PROXY_KEY=$(openssl rand -base64 32) \
//!     cargo run --example google
//! ```
//!
//! MCP clients discover the proxy at `$PUBLIC_URL/mcp`; `GET /mcp/whoami` with their token
//! shows the user.

use std::error::Error;

use actix_mcp_oauth::{providers, AuthUser, OAuthProxy, ProxyKey};
use actix_web::{middleware::Logger, web, App, HttpResponse, HttpServer};

fn env(name: &str) -> Result<String, Box<dyn Error>> {
    std::env::var(name).map_err(|_| format!("set {name}").into())
}

async fn whoami(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(user.info())
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn Error>> {
    env_logger::init_from_env(env_logger::Env::default().default_filter_or("info"));

    // Endpoints, `access_type=offline` + `prompt=consent` (for refresh tokens), the token-info
    // verifier and a one-hour token cache all come with the preset.
    let proxy: OAuthProxy = providers::google()
        .client(env("GOOGLE_CLIENT_ID")?, env("GOOGLE_CLIENT_SECRET")?)
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

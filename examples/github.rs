//! Users sign in with GitHub; their opaque `gho_` tokens are checked with GitHub's API.
//!
//! Register an OAuth app (GitHub → Settings → Developer settings → OAuth Apps → New OAuth App)
//! with the authorization callback URL `$PUBLIC_URL/oauth/callback`, generate a client secret,
//! then:
//!
//! ```text
//! GITHUB_CLIENT_ID=Ov23li... GITHUB_CLIENT_SECRET=... \
//! PUBLIC_URL=http://localhost:8080 PROXY_KEY=$(openssl rand -base64 32) \
//!     cargo run --example github
//! ```
//!
//! OAuth apps issue no refresh tokens: their access tokens live until the user revokes them.
//! A revoked token keeps working here for at most the cache TTL (60 s below).

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

    let proxy: OAuthProxy = providers::github()
        .client(env("GITHUB_CLIENT_ID")?, env("GITHUB_CLIENT_SECRET")?)
        // GitHub asks API clients to name themselves in the User-Agent.
        .user_agent("actix-mcp-oauth-example")
        .cache_ttl(std::time::Duration::from_secs(60))
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

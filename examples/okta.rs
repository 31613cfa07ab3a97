//! Users sign in with Okta; JWT access tokens of a custom authorization server are checked
//! against its keys.
//!
//! In the Okta admin console: Applications → Create App Integration → OIDC, "Web Application";
//! sign-in redirect URI `$PUBLIC_URL/oauth/callback`; grant types Authorization Code and Refresh
//! Token. Tokens come from the authorization server `OKTA_AUTH_SERVER` (Security → API;
//! `default` unless you made another, whose audience then goes in `OKTA_AUDIENCE`). Then:
//!
//! ```text
//! OKTA_DOMAIN=dev-123456.okta.com OKTA_CLIENT_ID=0oa... OKTA_CLIENT_SECRET=... \
//! PUBLIC_URL=http://localhost:8080 PROXY_KEY=$(openssl rand -base64 32) \
//!     cargo run --example okta
//! ```

use std::error::Error;

use actix_mcp_oauth::{providers, AuthUser, OAuthProxy, ProxyKey};
use actix_web::{middleware::Logger, web, App, HttpResponse, HttpServer};

fn env(name: &str) -> Result<String, Box<dyn Error>> {
    std::env::var(name).map_err(|_| format!("set {name}").into())
}

/// `uid` (Okta's user id) as the user id, the login as username, `scp` as the scopes.
async fn whoami(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(user.info())
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn Error>> {
    env_logger::init_from_env(env_logger::Env::default().default_filter_or("info"));

    let server = std::env::var("OKTA_AUTH_SERVER").unwrap_or_else(|_| "default".into());
    let mut okta = providers::okta(env("OKTA_DOMAIN")?, server)
        .client(env("OKTA_CLIENT_ID")?, env("OKTA_CLIENT_SECRET")?);
    if let Ok(audience) = std::env::var("OKTA_AUDIENCE") {
        okta = okta.audience(audience);
    }
    let proxy: OAuthProxy = okta
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

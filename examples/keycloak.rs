//! Users sign in with Keycloak through the proxy; realm JWTs are checked against the realm's
//! keys, with realm and client roles mapped. (Keycloak also registers MCP clients itself: see
//! the `remote_auth` example for that mode.)
//!
//! In the realm: Clients → Create client (OpenID Connect, client authentication on, standard
//! flow); valid redirect URI `$PUBLIC_URL/oauth/callback`; Client scopes → `<client>-dedicated`
//! → Add mapper → Audience, included client audience = this client. Then:
//!
//! ```text
//! KEYCLOAK_URL=https://keycloak.example.com KEYCLOAK_REALM=mcp \
//! KEYCLOAK_CLIENT_ID=mcp-proxy KEYCLOAK_CLIENT_SECRET=... \
//! PUBLIC_URL=http://localhost:8080 PROXY_KEY=$(openssl rand -base64 32) \
//!     cargo run --example keycloak
//! ```

use std::error::Error;

use actix_mcp_oauth::{providers, AuthUser, OAuthProxy, ProxyKey};
use actix_web::{middleware::Logger, web, App, HttpResponse, HttpServer};

fn env(name: &str) -> Result<String, Box<dyn Error>> {
    std::env::var(name).map_err(|_| format!("set {name}").into())
}

/// Realm roles as they are, client roles as `client:role`.
async fn whoami(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(user.info())
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn Error>> {
    env_logger::init_from_env(env_logger::Env::default().default_filter_or("info"));

    let proxy: OAuthProxy = providers::keycloak(env("KEYCLOAK_URL")?, env("KEYCLOAK_REALM")?)
        .client(env("KEYCLOAK_CLIENT_ID")?, env("KEYCLOAK_CLIENT_SECRET")?)
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

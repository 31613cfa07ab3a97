//! Remote-auth mode: the identity provider registers MCP clients itself (dynamic client
//! registration), so the server serves only its protected resource metadata, naming the
//! provider, and checks tokens. No proxy routes, no client secret, no proxy key.
//!
//! With Keycloak: allow anonymous client registration for the realm (Clients → Client
//! registration), and give tokens this server's audience (a client scope with an Audience mapper
//! whose "Included Custom Audience" is `$PUBLIC_URL/mcp`, added to the realm's default scopes).
//! Then:
//!
//! ```text
//! KEYCLOAK_URL=https://keycloak.example.com KEYCLOAK_REALM=mcp \
//! PUBLIC_URL=http://localhost:8080 cargo run --example remote_auth
//! ```

use std::error::Error;

use actix_mcp_oauth::{providers, AuthUser, RemoteAuth};
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

    let public_url = env("PUBLIC_URL")?;
    let keycloak = providers::keycloak(env("KEYCLOAK_URL")?, env("KEYCLOAK_REALM")?)
        .audience(format!("{}/mcp", public_url.trim_end_matches('/')));
    let auth = RemoteAuth::builder(&public_url, keycloak.issuer()?, keycloak.verifier()?)
        .scopes(["openid", "profile", "email"])
        .build()?;
    log::info!(
        "resource metadata: {}",
        auth.require_auth().resource_metadata_url()
    );

    HttpServer::new(move || {
        App::new()
            .wrap(Logger::new("\"%U\" %s %T"))
            // Only /.well-known/oauth-protected-resource[/mcp].
            .service(auth.scope())
            .service(
                web::scope("/mcp")
                    .wrap(auth.require_auth())
                    .wrap(auth.cors())
                    .route("/whoami", web::get().to(whoami)),
            )
    })
    .tcp_nodelay(true)
    .bind(("127.0.0.1", 8080))?
    .run()
    .await?;
    Ok(())
}

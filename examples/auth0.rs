//! Users sign in with Auth0; the `audience` parameter makes Auth0 issue JWT access tokens for
//! your API, checked against the tenant's keys, with the API's permissions.
//!
//! In the Auth0 dashboard: Applications → APIs → Create API (identifier = `AUTH0_AUDIENCE`,
//! e.g. `https://mcp.example.com/mcp`; enable RBAC, "Add Permissions in the Access Token" and
//! "Allow Offline Access"); Applications → Create Application, "Regular Web Application",
//! allowed callback URL `$PUBLIC_URL/oauth/callback`. Then:
//!
//! ```text
//! AUTH0_DOMAIN=your-tenant.us.auth0.com AUTH0_AUDIENCE=https://mcp.example.com/mcp \
//! AUTH0_CLIENT_ID=... AUTH0_CLIENT_SECRET=... \
//! PUBLIC_URL=http://localhost:8080 PROXY_KEY=$(openssl rand -base64 32) \
//!     cargo run --example auth0
//! ```

use std::error::Error;

use actix_mcp_oauth::{providers, AuthUser, OAuthProxy, ProxyKey};
use actix_web::{middleware::Logger, web, App, HttpResponse, HttpServer};

fn env(name: &str) -> Result<String, Box<dyn Error>> {
    std::env::var(name).map_err(|_| format!("set {name}").into())
}

/// Tools can check the API's permissions: `user.permissions`.
async fn whoami(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(user.info())
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn Error>> {
    env_logger::init_from_env(env_logger::Env::default().default_filter_or("info"));

    let proxy: OAuthProxy = providers::auth0(env("AUTH0_DOMAIN")?, env("AUTH0_AUDIENCE")?)
        .client(env("AUTH0_CLIENT_ID")?, env("AUTH0_CLIENT_SECRET")?)
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

//! A plain actix route behind `RequireAuth`.
//!
//! Run with `RUST_LOG=debug cargo run --example protect_route`, then:
//!
//! ```text
//! curl -i localhost:8080/api/me                                  # 401 + challenge
//! curl -i -H 'Authorization: Bearer demo-token' localhost:8080/api/me
//! ```

use actix_mcp_oauth::{verify::FnVerifier, AuthUser, Claims, RequireAuth, VerifyError};
use actix_web::{middleware::Logger, web, App, HttpResponse, HttpServer};
use serde_json::json;

async fn me(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "user_id": user.user_id,
        "username": user.username,
        "scopes": user.scopes,
    }))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::init_from_env(env_logger::Env::default().default_filter_or("info"));

    // A stand-in for a real provider, so the example runs offline. With a provider that issues
    // JWTs, build its verifier here instead:
    //     let verifier = JwksVerifier::builder().jwks_url("https://idp.example.com/.well-known/jwks.json")
    //         .issuer("https://idp.example.com/")
    //         .audience("https://mcp.example.com/api")
    //         .build()?;
    // For opaque tokens (GitHub), call the provider's API in this closure instead.
    let verifier = FnVerifier::new(|token: String| async move {
        if token != "demo-token" {
            return Err(VerifyError::Rejected("unknown token".into()));
        }
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), json!(583231));
        claims.insert("login".into(), json!("octocat"));
        claims.insert("scope".into(), json!("read:user"));
        Ok(Claims::new(claims))
    });

    // Once, outside `HttpServer::new`: every worker shares the verifier and the token cache.
    let auth = RequireAuth::new(verifier, "http://localhost:8080/api")
        .map_err(std::io::Error::other)?
        .require_scopes(["read:user"]);
    log::info!(
        "challenges point at {}; serve the RFC 9728 metadata there",
        auth.resource_metadata_url()
    );

    HttpServer::new(move || {
        App::new()
            // Outermost, so it also logs the 401s and 403s that `RequireAuth` answers.
            .wrap(Logger::default())
            .service(
                web::scope("/api")
                    .wrap(auth.clone())
                    .route("/me", web::get().to(me)),
            )
    })
    .tcp_nodelay(true)
    .bind(("127.0.0.1", 8080))?
    .run()
    .await
}

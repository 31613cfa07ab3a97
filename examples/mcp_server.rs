//! A real MCP server behind the OAuth proxy: rmcp + rmcp-actix-web, one tool, `whoami`.
//!
//! ```text
//! UPSTREAM_ISSUER=https://accounts.google.com UPSTREAM_CLIENT_ID=... UPSTREAM_CLIENT_SECRET=... \
//!   cargo run --example mcp_server --features rmcp
//! ```
//!
//! Environment:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `UPSTREAM_ISSUER` | the identity provider; endpoints and JWKS by discovery | required |
//! | `UPSTREAM_CLIENT_ID`, `UPSTREAM_CLIENT_SECRET` | the app registered there | required |
//! | `UPSTREAM_AUDIENCE` | the `aud` access tokens must carry | the client id |
//! | `PORT` | where to listen, on 127.0.0.1 | 8080 |
//! | `PUBLIC_URL` | the URL clients use (https off loopback) | `http://127.0.0.1:$PORT` |
//! | `OAUTH_PROXY_KEY` | base64url, >= 32 bytes; comma-separated to rotate (first seals) | random |
//! | `TOKEN_MODE` | `issued` (the proxy's own tokens) or `passthrough` (the provider's; not MCP-conformant) | `issued` |
//! | `ACCEPT_UPSTREAM_TOKENS` | `1`: also accept provider tokens at `/mcp` (load tests that mint their own) | off |
//! | `RUST_LOG` | env_logger filter | `info` |

use std::{env, error::Error, sync::Arc};

use actix_mcp_oauth::{
    forward_auth_user, http::ProviderMetadata, proxy::TokenMode, AuthUser, JwksVerifier,
    OAuthProxy, ProxyKey,
};
use actix_web::{middleware::Logger, web, App, HttpResponse, HttpServer};
use rmcp::{handler::server::wrapper::Json, schemars, tool, tool_router};
use rmcp_actix_web::transport::{LocalSessionManager, StreamableHttpService};
use url::Url;

/// What `whoami` answers.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct WhoAmI {
    /// The stable user id at the identity provider (`sub`).
    id: String,
    email: Option<String>,
    name: Option<String>,
    /// The scopes the access token grants.
    scopes: Vec<String>,
}

#[derive(Clone)]
struct Whoami;

#[tool_router(server_handler)]
impl Whoami {
    /// The user arrives as an argument, like in an actix handler: `RequireAuth` verified the
    /// bearer token and `forward_auth_user` carried the user into the MCP request.
    #[tool(description = "Who is signed in: id, email, name and granted scopes")]
    async fn whoami(&self, user: AuthUser) -> Json<WhoAmI> {
        Json(WhoAmI {
            id: user.user_id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            scopes: user.scopes.clone(),
        })
    }
}

fn required(name: &str) -> Result<String, Box<dyn Error>> {
    env::var(name).map_err(|_| format!("{name} is required").into())
}

/// The proxy keys from `OAUTH_PROXY_KEY` (the first seals, all open), or one random key (sealed
/// values then die with the process: fine for a demo, not for replicas or restarts).
fn proxy_keys() -> Result<Vec<ProxyKey>, Box<dyn Error>> {
    match env::var("OAUTH_PROXY_KEY") {
        Ok(value) => value
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| ProxyKey::from_base64url(k).map_err(Into::into))
            .collect(),
        Err(_) => {
            log::warn!("OAUTH_PROXY_KEY is not set: using a random key; sign-ins will not survive a restart");
            Ok(vec![ProxyKey::generate()])
        }
    }
}

/// The `Host` values rmcp accepts (its DNS-rebinding guard): the public URL's host, with and
/// without its port.
fn allowed_hosts(public_url: &Url) -> Result<Vec<String>, Box<dyn Error>> {
    let host = public_url
        .host_str()
        .ok_or("PUBLIC_URL has no host")?
        .to_owned();
    let mut hosts = vec![host.clone()];
    if let Some(port) = public_url.port() {
        hosts.push(format!("{host}:{port}"));
    }
    Ok(hosts)
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();

    let issuer = required("UPSTREAM_ISSUER")?;
    let client_id = required("UPSTREAM_CLIENT_ID")?;
    let client_secret = required("UPSTREAM_CLIENT_SECRET")?;
    let audience = env::var("UPSTREAM_AUDIENCE").unwrap_or_else(|_| client_id.clone());
    let port: u16 = env::var("PORT")
        .unwrap_or_else(|_| "8080".into())
        .parse()
        .map_err(|e| format!("PORT: {e}"))?;
    let public_url = env::var("PUBLIC_URL").unwrap_or_else(|_| format!("http://127.0.0.1:{port}"));
    let public = Url::parse(&public_url).map_err(|e| format!("PUBLIC_URL: {e}"))?;

    // One metadata document for both: the endpoints for the proxy, the keys for the verifier.
    let provider = ProviderMetadata::discover(&issuer).await?;
    let verifier = JwksVerifier::from_metadata(&provider)?
        .audience(audience)
        .build()?;
    let proxy = OAuthProxy::from_metadata(&provider)
        .public_url(public_url.as_str())
        .client_id(client_id)
        .client_secret(client_secret)
        .verifier(verifier)
        .proxy_keys(proxy_keys()?)
        .token_mode(match env::var("TOKEN_MODE").as_deref() {
            Ok("passthrough") => TokenMode::Passthrough,
            Ok("issued") | Err(_) => TokenMode::Issued,
            Ok(other) => {
                return Err(format!("TOKEN_MODE: {other} is not issued or passthrough").into())
            }
        })
        .accept_upstream_tokens(env::var("ACCEPT_UPSTREAM_TOKENS").as_deref() == Ok("1"))
        .build()?;

    // Built once, outside the worker factory, so every worker shares its sessions.
    let mcp = StreamableHttpService::builder()
        .service_factory(Arc::new(|| Ok(Whoami)))
        .session_manager(Arc::new(LocalSessionManager::default()))
        .allowed_hosts(allowed_hosts(&public)?)
        .on_request_fn(forward_auth_user)
        .build();

    log::info!(
        "MCP server at {}/mcp (listening on 127.0.0.1:{port})",
        public_url.trim_end_matches('/')
    );
    HttpServer::new(move || {
        App::new()
            // The path only: query strings carry authorization codes and states (/oauth/callback).
            .wrap(
                Logger::new("%a \"%{method}xi %U\" %s %b %T")
                    .custom_request_replace("method", |req| req.method().to_string()),
            )
            // Discovery, /register, /authorize, /oauth/callback, /token, with their own CORS.
            .service(proxy.scope())
            .service(
                web::scope("/mcp")
                    .wrap(proxy.require_auth())
                    // Outermost, so that preflight requests (which carry no token) are answered.
                    .wrap(proxy.cors())
                    .service(mcp.clone().scope()),
            )
            .route(
                "/",
                web::get().to(|| async {
                    HttpResponse::Ok().body("actix-mcp-oauth example: the MCP endpoint is /mcp\n")
                }),
            )
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await?;
    Ok(())
}

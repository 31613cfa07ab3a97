//! A real MCP server behind the OAuth proxy: rmcp + rmcp-actix-web, one tool, `whoami`.
//!
//! For any OpenID provider whose **access tokens are JWTs** signed with the keys its discovery
//! document names: Okta (a custom authorization server), Auth0 (with an API audience),
//! Keycloak, Entra ID (single tenant, v2.0 tokens for your API's scope), or the e2e suite's
//! local provider (`scripts/demo.sh`). Google's and GitHub's access tokens are opaque, so no
//! JWKS check accepts them: use `examples/google.rs` or `examples/github.rs` instead (and the
//! other provider examples for each preset's own settings).
//!
//! ```text
//! UPSTREAM_ISSUER=https://your-tenant.okta.com/oauth2/default UPSTREAM_AUDIENCE=api://default \
//! UPSTREAM_CLIENT_ID=... UPSTREAM_CLIENT_SECRET=... \
//!   cargo run --example mcp_server --features rmcp
//! ```
//!
//! Environment:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `UPSTREAM_ISSUER` | the identity provider; endpoints and JWKS by discovery | required |
//! | `UPSTREAM_CLIENT_ID`, `UPSTREAM_CLIENT_SECRET` | the app registered there | required |
//! | `UPSTREAM_AUDIENCE` | the `aud` access tokens must carry (your API identifier at the provider) | required, unless `UPSTREAM_ANY_AUDIENCE=1` |
//! | `UPSTREAM_ANY_AUDIENCE` | `1`: check no audience (risky: tokens the provider issued for any other API pass) | unset |
//! | `PORT` | where to listen, on 127.0.0.1 | 8080 |
//! | `PUBLIC_URL` | the URL clients use (https off loopback) | `http://127.0.0.1:$PORT` |
//! | `OAUTH_PROXY_KEY` | base64url, >= 32 bytes; comma-separated to rotate (first seals) | random |
//! | `ALLOWED_EMAILS`, `ALLOWED_DOMAINS` | who may sign in (verified addresses only), as in the provider examples (`examples/common/mod.rs`) | anyone the provider signs in |
//! | `RUST_LOG` | env_logger filter | `info` |

use std::{env, error::Error, sync::Arc};

// The access policy from the environment, shared with the provider examples.
mod common;

use actix_mcp_oauth::{
    forward_auth_user, http::ProviderMetadata, proxy::ClientDocuments, AuthUser, JwksVerifier,
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

/// Clients identified by their metadata document's URL: host lists from `CIMD_ALLOW_HOSTS` and
/// `CIMD_DENY_HOSTS` (comma-separated, `*.suffix` allowed), `CIMD_ALLOW_LISTED_ONLY=1`, and for
/// local testing `CIMD_ALLOW_LOOPBACK=1` and `CIMD_EXTRA_ROOT_CERT` (a PEM file of a test CA).
fn client_documents() -> Result<ClientDocuments, Box<dyn Error>> {
    let list = |name| {
        env::var(name)
            .map(|v| {
                v.split(',')
                    .map(|h| h.trim().to_owned())
                    .filter(|h| !h.is_empty())
                    .collect()
            })
            .unwrap_or_else(|_| Vec::<String>::new())
    };
    let mut docs = ClientDocuments::builder()
        .allow_hosts(list("CIMD_ALLOW_HOSTS"))
        .deny_hosts(list("CIMD_DENY_HOSTS"))
        .allow_listed_only(env::var("CIMD_ALLOW_LISTED_ONLY").is_ok_and(|v| v == "1"))
        .allow_loopback(env::var("CIMD_ALLOW_LOOPBACK").is_ok_and(|v| v == "1"));
    if let Ok(path) = env::var("CIMD_EXTRA_ROOT_CERT") {
        docs = docs.extra_root_certificate(
            std::fs::read(&path).map_err(|e| format!("CIMD_EXTRA_ROOT_CERT: {e}"))?,
        );
    }
    Ok(docs.build()?)
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
    let port: u16 = env::var("PORT")
        .unwrap_or_else(|_| "8080".into())
        .parse()
        .map_err(|e| format!("PORT: {e}"))?;
    let public_url = env::var("PUBLIC_URL").unwrap_or_else(|_| format!("http://127.0.0.1:{port}"));
    let public = Url::parse(&public_url).map_err(|e| format!("PUBLIC_URL: {e}"))?;

    // One metadata document for both: the endpoints for the proxy, the keys for the verifier.
    let provider = ProviderMetadata::discover(&issuer).await?;
    let verifier = JwksVerifier::from_metadata(&provider)?.client_id(client_id.as_str());
    let verifier = match env::var("UPSTREAM_AUDIENCE") {
        Ok(audience) => verifier.audience(audience),
        Err(_) if env::var("UPSTREAM_ANY_AUDIENCE").as_deref() == Ok("1") => {
            verifier.any_audience()
        }
        Err(_) => return Err("UPSTREAM_AUDIENCE is required (or UPSTREAM_ANY_AUDIENCE=1)".into()),
    }
    .build()?;
    let proxy = common::Access::from_env()?
        .apply(OAuthProxy::from_metadata(&provider))?
        .public_url(public_url.as_str())
        .client_id(client_id)
        .client_secret(client_secret)
        .verifier(verifier)
        .proxy_keys(proxy_keys()?)
        .client_documents(client_documents()?)
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

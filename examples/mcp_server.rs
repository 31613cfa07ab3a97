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
//! | `CIMD_ALLOW_HOSTS`, `CIMD_DENY_HOSTS` | client metadata document hosts allowed / refused (comma-separated, `*.suffix` allowed) | none |
//! | `CIMD_ALLOW_LISTED_ONLY` | `1`: accept documents only from `CIMD_ALLOW_HOSTS` | unset |
//! | `CIMD_ALLOW_LOOPBACK` | `1`: documents may be on loopback hosts (local testing only; logged as a warning) | unset |
//! | `CIMD_EXTRA_ROOT_CERT` | a PEM file of a CA trusted for document fetches (a local test CA) | unset |
//! | `TOKEN_MODE` | `issued` (the proxy's own tokens) or `passthrough` (the provider's; not MCP-conformant) | `issued` |
//! | `ACCEPT_UPSTREAM_TOKENS` | `1`: also accept provider tokens at `/mcp` (load tests that mint their own) | off |
//! | `ALLOWED_EMAILS`, `ALLOWED_DOMAINS` | who may sign in (verified addresses only), as in the provider examples (`examples/common/mod.rs`) | anyone the provider signs in |
//! | `RUST_LOG` | env_logger filter | `info` |
//! | `MCP_STATELESS` | `1`: no sessions, every `POST` answered with plain JSON | `0` (sessions, SSE) |
//! | `STEP_UP_SCOPE` | a scope (e.g. `notes:write`) that the `write_note` tool needs on top of the default `openid email profile`: clients step up to it on the tool's 403 | unset (`write_note` needs nothing more) |
//! | `LOAD_ROUTES` | `1`: add `POST /load/bare` and `POST /load/auth` (the same behind `RequireAuth`), the baselines of `benches/load.sh` | `0` |

/// A `tools/call` through rmcp allocates about 180 times; mimalloc serves that faster than
/// glibc's malloc (docs/performance.md, "The build"). Any global allocator works here.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{env, error::Error, sync::Arc};

// The access policy from the environment, shared with the provider examples.
mod common;

use actix_mcp_oauth::{
    forward_auth_user,
    http::ProviderMetadata,
    middleware::TokenCache,
    proxy::{ClientDocuments, TokenMode},
    scope::ScopeModel,
    AuthUser, AuthUserExt, JwksVerifier, OAuthProxy, ProxyKey, SessionBinding,
};
use actix_web::{
    middleware::{Condition, Logger},
    web, App, HttpRequest, HttpResponse, HttpServer,
};
use rmcp::{
    handler::server::{router::tool::ToolRouter, wrapper::Json},
    schemars, tool, tool_handler, tool_router, ServerHandler,
};
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

/// The MCP server. Its tool router is built once and shared: `#[tool_router(server_handler)]`
/// alone would rebuild it (tool schemas included) on every call, and in stateless mode the
/// service factory runs for every request.
#[derive(Clone)]
struct Whoami {
    tools: Arc<ToolRouter<Whoami>>,
}

#[tool_handler(router = self.tools)]
impl ServerHandler for Whoami {}

#[tool_router]
impl Whoami {
    /// The user arrives as an argument, like in an actix handler: `RequireAuth` verified the
    /// bearer token and `forward_auth_user` carried the user into the MCP request.
    #[tool(description = "Who is signed in: id, email, name and granted scopes")]
    async fn whoami(&self, user: AuthUser) -> Json<WhoAmI> {
        Json(WhoAmI::of(&user))
    }

    /// With `STEP_UP_SCOPE` set, `RequireAuth::tool_scopes` admits a call only with that scope.
    #[tool(description = "Writes a note (needs STEP_UP_SCOPE when it is set)")]
    async fn write_note(&self, user: AuthUser) -> String {
        format!("noted for {} with {}", user.user_id, user.scopes.join(" "))
    }
}

/// The MCP scopes when `STEP_UP_SCOPE` is set: the OpenID ones as the default set, and the
/// step-up scope, which the provider grants under the same name.
fn scope_model(step_up: &str) -> Result<ScopeModel, Box<dyn Error>> {
    Ok(ScopeModel::builder()
        .scope("openid", "Confirm who you are", ["openid"])
        .scope("email", "See your email address", ["email"])
        .scope("profile", "See your name and profile picture", ["profile"])
        .scope(step_up, "Write notes for you", [step_up])
        .default_scopes(["openid", "email", "profile"])
        .build()?)
}

impl WhoAmI {
    fn of(user: &AuthUser) -> Self {
        Self {
            id: user.user_id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            scopes: user.scopes.clone(),
        }
    }
}

/// `LOAD_ROUTES=1` only: answers a JSON-RPC `tools/call whoami` the way the MCP endpoint does,
/// without MCP (and, on `/load/bare`, without auth), so a load test can tell what the HTTP
/// server, the middleware and the MCP layer each cost.
async fn load_whoami(req: HttpRequest, call: web::Json<serde_json::Value>) -> HttpResponse {
    let who = match req.auth_user() {
        Some(user) => WhoAmI::of(&user),
        // The user of the load benchmark's single token (benches/provider.mjs), so that the
        // bare route answers the very JSON the protected one does.
        None => WhoAmI {
            id: "user-0".into(),
            email: None,
            name: None,
            scopes: ["openid", "email", "profile"].map(String::from).to_vec(),
        },
    };
    // As rmcp's `Json` does it (a `Value`, its text by `Display`), so that the text content
    // matches /mcp's key for key; benches/load.sh compares the two answers before it runs.
    let value = serde_json::to_value(&who).unwrap_or_default();
    HttpResponse::Ok().json(serde_json::json!({
        "jsonrpc": "2.0",
        "id": call.get("id"),
        "result": {
            "content": [{"type": "text", "text": value.to_string()}],
            "structuredContent": value,
            "isError": false,
        },
    }))
}

fn flag(name: &str) -> bool {
    env::var(name).is_ok_and(|v| v == "1")
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
/// `var` reads one variable (the process environment in `main`).
fn client_documents(
    var: impl Fn(&str) -> Option<String>,
) -> Result<ClientDocuments, Box<dyn Error>> {
    let list = |name| {
        var(name)
            .map(|v| {
                v.split(',')
                    .map(|h| h.trim().to_owned())
                    .filter(|h| !h.is_empty())
                    .collect::<Vec<String>>()
            })
            .unwrap_or_default()
    };
    let on = |name| var(name).is_some_and(|v| v == "1");
    let mut docs = ClientDocuments::builder()
        .allow_hosts(list("CIMD_ALLOW_HOSTS"))
        .deny_hosts(list("CIMD_DENY_HOSTS"))
        .allow_listed_only(on("CIMD_ALLOW_LISTED_ONLY"))
        .allow_loopback(on("CIMD_ALLOW_LOOPBACK"));
    if let Some(path) = var("CIMD_EXTRA_ROOT_CERT") {
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
    let step_up = env::var("STEP_UP_SCOPE").ok().filter(|s| !s.is_empty());
    let mut builder = OAuthProxy::from_metadata(&provider);
    if let Some(scope) = &step_up {
        builder = builder.scope_model(scope_model(scope)?);
    }
    let proxy = common::Access::from_env()?
        .apply(builder)?
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
        .client_documents(client_documents(|name| env::var(name).ok())?)
        .build()?;

    // Built once, outside the worker factory, so every worker shares its sessions; each
    // session answers only the user who opened it. Stateless: each POST is served on its own,
    // answered with `application/json` instead of an SSE stream.
    let stateless = flag("MCP_STATELESS");
    let sessions = Arc::new(LocalSessionManager::default());
    let binding = SessionBinding::builder(sessions.clone()).build()?;
    let server = Whoami {
        tools: Arc::new(Whoami::tool_router()),
    };
    let mcp = StreamableHttpService::builder()
        .service_factory(Arc::new(move || Ok(server.clone())))
        .session_manager(sessions)
        .allowed_hosts(allowed_hosts(&public)?)
        .stateful_mode(!stateless)
        .json_response(stateless)
        .on_request_fn(forward_auth_user)
        .build();
    let load_routes = flag("LOAD_ROUTES");
    let load_cache = Arc::new(TokenCache::new(TokenCache::DEFAULT_CAPACITY));
    let access_log = log::log_enabled!(target: "actix_web::middleware::logger", log::Level::Info);

    log::info!(
        "MCP server at {}/mcp (listening on 127.0.0.1:{port})",
        public_url.trim_end_matches('/')
    );
    HttpServer::new(move || {
        App::new()
            // The path only: query strings carry authorization codes and states (/oauth/callback).
            // Off when its lines would be filtered out anyway: it formats them regardless.
            .wrap(Condition::new(
                access_log,
                Logger::new("%a \"%{method}xi %U\" %s %b %T")
                    .custom_request_replace("method", |req| req.method().to_string()),
            ))
            // Discovery, /register, /authorize, /oauth/callback, /token, with their own CORS.
            .service(proxy.scope())
            .service(
                web::scope("/mcp")
                    .wrap(binding.clone())
                    .wrap(match &step_up {
                        Some(scope) => proxy.require_auth().tool_scopes("write_note", [scope]),
                        None => proxy.require_auth(),
                    })
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
            .configure(|cfg| {
                if load_routes {
                    let cache = Arc::clone(&load_cache);
                    // Two resources that differ only in `RequireAuth` (a scope around the
                    // protected one would add its own routing to the comparison).
                    cfg.service(web::resource("/load/bare").route(web::post().to(load_whoami)))
                        .service(
                            web::resource("/load/auth")
                                .wrap(proxy.require_auth().token_cache(Arc::clone(&load_cache)))
                                .route(web::post().to(load_whoami)),
                        )
                        // How full the protected route's cache is, for the churn row.
                        .route(
                            "/load/cache",
                            web::get().to(move || {
                                let cache = Arc::clone(&cache);
                                async move {
                                    HttpResponse::Ok().json(serde_json::json!({
                                        "len": cache.len(),
                                        "capacity": cache.capacity(),
                                        "refused_len": cache.refused_len(),
                                        "refusal_capacity": cache.refusal_capacity(),
                                    }))
                                }
                            }),
                        );
                }
            })
    })
    // Without it, Nagle's algorithm holds the last segment of a streamed (SSE) response until
    // the client's delayed ACK, about 40 ms on every keep-alive request.
    .tcp_nodelay(true)
    .bind(("127.0.0.1", port))?
    .run()
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::client_documents;

    fn from(vars: &[(&str, &str)]) -> Result<String, String> {
        client_documents(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .map(|docs| format!("{docs:?}"))
        .map_err(|e| e.to_string())
    }

    #[test]
    fn the_cimd_variables_reach_the_settings() {
        let default = from(&[]).unwrap();
        assert!(default.contains("enabled: true"), "{default}");
        assert!(default.contains("allow_loopback: false"), "{default}");
        assert!(default.contains("allow_listed_only: false"), "{default}");
        let set = from(&[
            ("CIMD_ALLOW_HOSTS", " claude.ai, *.vscode.dev ,"),
            ("CIMD_DENY_HOSTS", "evil.example"),
            ("CIMD_ALLOW_LISTED_ONLY", "1"),
            ("CIMD_ALLOW_LOOPBACK", "1"),
        ])
        .unwrap();
        for part in [
            "claude.ai",
            "vscode.dev",
            "evil.example",
            "allow_listed_only: true",
            "allow_loopback: true",
        ] {
            assert!(set.contains(part), "{part} in {set}");
        }
        // Only `1` turns a switch on.
        let off = from(&[("CIMD_ALLOW_LOOPBACK", "true")]).unwrap();
        assert!(off.contains("allow_loopback: false"), "{off}");
        // Bad values fail the start, naming the variable where it is the example's to name.
        assert!(from(&[("CIMD_ALLOW_HOSTS", "https://claude.ai")]).is_err());
        let missing = from(&[("CIMD_EXTRA_ROOT_CERT", "/nonexistent/ca.pem")]).unwrap_err();
        assert!(missing.contains("CIMD_EXTRA_ROOT_CERT"), "{missing}");
    }
}

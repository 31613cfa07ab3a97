//! What every provider example shares, so that each of them shows only what differs per
//! provider: the environment, the access policy read from it, the rmcp `whoami` tool, and the
//! server around the proxy.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `BIND` | the address to listen on: `0.0.0.0` (or `::`) for every interface, as in a container behind a proxy that terminates TLS | `127.0.0.1` |
//! | `PORT` | the port to listen on | `8080` |
//! | `PUBLIC_URL` | the origin clients use; register `$PUBLIC_URL/oauth/callback` with the provider | `http://localhost:$PORT` |
//! | `PROXY_KEY` | base64url, >= 32 bytes (`openssl rand -base64 32 \| tr '+/' '-_'`); the same for every replica | random: sign-ins end with the process |
//! | `ALLOWED_EMAILS` | comma-separated addresses that may sign in (verified addresses only) | — |
//! | `ALLOWED_DOMAINS` | comma-separated email domains that may sign in (verified addresses only) | — |
//! | `RUST_LOG` | env_logger filter | `info` |
//!
//! With no access variable set, anyone the provider signs in may use the server (and the
//! example says so in its log). Some examples read one more (`GOOGLE_HOSTED_DOMAINS`,
//! `GITHUB_ORG`, `ENTRA_TENANTS`, ...): a user is admitted when any one rule admits them.

// Each example uses a different part of this module.
#![allow(dead_code)]

use std::{error::Error, sync::Arc};

use actix_mcp_oauth::{
    access::{AccessPolicy, AccessPolicyBuilder},
    forward_auth_user,
    proxy::OAuthProxyBuilder,
    AuthUser, ProxyKey,
};
use actix_web::{middleware::Logger, web, App, HttpResponse, HttpServer};
use rmcp::{handler::server::wrapper::Json, schemars, tool, tool_router};
use rmcp_actix_web::transport::{LocalSessionManager, StreamableHttpService};

pub type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

/// A required variable; its absence is an error that names it.
pub fn env(name: &str) -> Result<String> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(format!("set {name} (see the head of this example)").into()),
    }
}

/// A comma-separated variable, `None` when unset or empty.
fn list(name: &str) -> Option<Vec<String>> {
    let value = std::env::var(name).ok()?;
    let items: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    (!items.is_empty()).then_some(items)
}

/// Who may sign in, from `ALLOWED_EMAILS`, `ALLOWED_DOMAINS` and the example's own variables.
pub struct Access {
    builder: AccessPolicyBuilder,
    rules: Vec<String>,
}

impl Access {
    /// `ALLOWED_EMAILS` and `ALLOWED_DOMAINS`.
    pub fn from_env() -> Result<Self> {
        Self {
            builder: AccessPolicy::builder(),
            rules: Vec::new(),
        }
        .rule("ALLOWED_EMAILS", |b, emails| Ok(b.allow_emails(emails)))?
        .rule("ALLOWED_DOMAINS", |b, domains| {
            Ok(b.allow_email_domains(domains))
        })
    }

    /// One more rule, from the comma-separated variable `name` when it is set.
    pub fn rule(
        mut self,
        name: &str,
        add: impl FnOnce(AccessPolicyBuilder, Vec<String>) -> Result<AccessPolicyBuilder>,
    ) -> Result<Self> {
        if let Some(items) = list(name) {
            self.builder = add(self.builder, items)?;
            self.rules.push(name.to_owned());
        }
        Ok(self)
    }

    /// Whether `ALLOWED_EMAILS` or `ALLOWED_DOMAINS` is set: rules that need a verified address.
    pub fn has_email_rule(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r == "ALLOWED_EMAILS" || r == "ALLOWED_DOMAINS")
    }

    /// Sets the policy on `builder`, or warns that anyone may sign in.
    pub fn apply(self, builder: OAuthProxyBuilder) -> Result<OAuthProxyBuilder> {
        if self.rules.is_empty() {
            log::warn!(
                "no access rule set (ALLOWED_EMAILS, ALLOWED_DOMAINS, ...): anyone the provider \
                 signs in may use this server"
            );
            return Ok(builder);
        }
        log::info!("access: users admitted by {}", self.rules.join(" or "));
        Ok(builder.access_policy(self.builder.build()?))
    }
}

/// `PROXY_KEY`, or a random key: sealed values (registered clients, sign-ins in flight) then
/// end with the process, fine for a try-out, not for replicas or restarts.
fn proxy_key() -> Result<ProxyKey> {
    match std::env::var("PROXY_KEY") {
        Ok(key) if !key.trim().is_empty() => Ok(ProxyKey::from_base64url(key.trim())?),
        _ => {
            log::warn!("PROXY_KEY is not set: using a random key");
            Ok(ProxyKey::generate())
        }
    }
}

/// What `whoami` answers.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct WhoAmI {
    /// The stable user id at the identity provider.
    id: String,
    email: Option<String>,
    name: Option<String>,
    username: Option<String>,
    /// The scopes the access token grants.
    scopes: Vec<String>,
}

#[derive(Clone)]
struct Whoami;

#[tool_router(server_handler)]
impl Whoami {
    /// `RequireAuth` verified the token and `forward_auth_user` carried the user into the MCP
    /// request, so the tool takes it as an argument.
    #[tool(description = "Who is signed in: id, email, name, username and granted scopes")]
    async fn whoami(&self, user: AuthUser) -> Json<WhoAmI> {
        Json(WhoAmI {
            id: user.user_id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            username: user.username.clone(),
            scopes: user.scopes.clone(),
        })
    }
}

/// Finishes the preset's proxy builder (public URL, key, access policy) and serves MCP at
/// `/mcp` behind it, on `BIND`:`PORT`, until Ctrl-C.
pub async fn serve(builder: OAuthProxyBuilder, access: Access) -> Result<()> {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse().map_err(|e| format!("PORT: {e}"))?,
        Err(_) => 8080,
    };
    let bind: std::net::IpAddr = match std::env::var("BIND") {
        Ok(addr) if !addr.trim().is_empty() => addr
            .trim()
            .parse()
            .map_err(|e| format!("BIND (an IP address such as 0.0.0.0): {e}"))?,
        _ => std::net::Ipv4Addr::LOCALHOST.into(),
    };
    let public_url =
        std::env::var("PUBLIC_URL").unwrap_or_else(|_| format!("http://localhost:{port}"));
    let proxy = access
        .apply(builder)?
        .public_url(public_url.as_str())
        .proxy_key(proxy_key()?)
        .build()?;

    // rmcp answers only requests whose `Host` is the public one (its DNS-rebinding guard).
    let public = url::Url::parse(&public_url)?;
    let host = public.host_str().ok_or("PUBLIC_URL has no host")?;
    let mut allowed_hosts = vec![host.to_owned()];
    if let Some(port) = public.port() {
        allowed_hosts.push(format!("{host}:{port}"));
    }
    // Built once, outside the worker factory, so that every worker shares its sessions.
    let mcp = StreamableHttpService::builder()
        .service_factory(Arc::new(|| Ok(Whoami)))
        .session_manager(Arc::new(LocalSessionManager::default()))
        .allowed_hosts(allowed_hosts)
        .on_request_fn(forward_auth_user)
        .build();

    log::info!(
        "MCP server at {} (listening on {}); register {}/oauth/callback with the provider",
        proxy.resource(),
        std::net::SocketAddr::new(bind, port),
        public_url.trim_end_matches('/')
    );
    HttpServer::new(move || {
        App::new()
            // The path only: query strings carry authorization codes (/oauth/callback).
            .wrap(Logger::new("\"%U\" %s %T"))
            // Discovery, /register, /authorize, /consent, /oauth/callback, /token.
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
                web::get().to(|| async { HttpResponse::Ok().body("the MCP endpoint is /mcp\n") }),
            )
    })
    // MCP answers are small: send them without waiting for Nagle's algorithm.
    .tcp_nodelay(true)
    .bind((bind, port))?
    .run()
    .await?;
    Ok(())
}

/// env_logger at `info` unless `RUST_LOG` says otherwise.
pub fn init_logging() {
    env_logger::init_from_env(env_logger::Env::default().default_filter_or("info"));
}

//! What every client row shares: one local OpenID provider for the whole test process, a proxy
//! with an rmcp server behind it on a port of its own for each test, and the client side of
//! the flow (plain HTTP requests shaped as each client sends them, the headless user agent of
//! `tests/e2e` for the user's browser, and rmcp's client for `tools/call`).

use std::{
    net::TcpListener,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use actix_mcp_oauth::{proxy::OAuthProxyBuilder, AuthUser, JwksVerifier, OAuthProxy, ProxyKey};
use actix_web::{dev::ServerHandle, http::StatusCode, web, App, HttpResponse, HttpServer};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use rmcp::{
    model::CallToolRequestParams,
    tool, tool_router,
    transport::{
        streamable_http_client::StreamableHttpClientTransportConfig, StreamableHttpClientTransport,
    },
    ServiceExt,
};
use serde_json::{json, Value};
use url::Url;

#[path = "../common/node.rs"]
#[allow(dead_code)]
mod node;

#[path = "../common/tls.rs"]
#[allow(dead_code)]
mod tls;

pub use node::missing;

/// The upstream client the proxies sign in with, registered at the provider.
const UPSTREAM_CLIENT_ID: &str = "clients-suite-upstream";
/// Ports the proxies of this process listen on, bound before the provider starts so that
/// their callbacks can be registered with it. More than there are tests.
const SITES: usize = 24;
/// How long one client row may take, sign-ins included.
pub const ROW_TIMEOUT: Duration = Duration::from_secs(90);

/// The provider's test user (`tests/e2e/fixtures.mjs`).
pub const TEST_SUB: &str = "e2e-user-7f3a9c";
pub const TEST_EMAIL: &str = "ada.lovelace@example.test";

struct Shared {
    provider: node::OidcProvider,
    secret: String,
    listeners: Mutex<Vec<TcpListener>>,
}

static SHARED: OnceLock<Shared> = OnceLock::new();

fn shared() -> &'static Shared {
    SHARED.get_or_init(|| {
        let listeners: Vec<TcpListener> = (0..SITES)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
            .collect();
        let callbacks: Vec<String> = listeners
            .iter()
            .map(|l| format!("http://{}/oauth/callback", l.local_addr().unwrap()))
            .collect();
        let mut bytes = [0u8; 24];
        openssl::rand::rand_bytes(&mut bytes).unwrap();
        let secret = URL_SAFE_NO_PAD.encode(bytes);
        let provider = node::OidcProvider::start_for_process(
            UPSTREAM_CLIENT_ID,
            &secret,
            &[("PROVIDER_REDIRECT_URIS", &callbacks.join(","))],
        );
        Shared {
            provider,
            secret,
            listeners: Mutex::new(listeners),
        }
    })
}

// ---- the server: the proxy, and an rmcp server behind it ---------------------------------------

/// The MCP server of every row: one tool, reachable only with a token the proxy accepts.
#[derive(Clone)]
pub struct Tools;

#[tool_router(server_handler)]
impl Tools {
    #[tool(description = "Answers pong")]
    async fn ping(&self) -> String {
        "pong".into()
    }
}

/// Who the bearer of a token is, for the rows to check the sign-in gave the provider's user.
async fn me(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({"sub": user.user_id, "email": user.email}))
}

/// The MCP scopes of the rows that exercise a scope model: `mcp:tools` (the default set,
/// backed by the provider's `openid email`) and `files:read` (backed by `profile`).
pub fn mcp_scopes(builder: OAuthProxyBuilder) -> OAuthProxyBuilder {
    let model = actix_mcp_oauth::scope::ScopeModel::builder()
        .scope("mcp:tools", "Use the tools", ["openid", "email"])
        .scope("files:read", "Read your files", ["profile"])
        .default_scopes(["mcp:tools"])
        .build()
        .expect("scope model");
    builder
        .scopes(["openid", "email", "profile"])
        .scope_model(model)
}

/// The scopes a token answer grants, sorted.
pub fn granted(tokens: &Value) -> Vec<String> {
    let mut scopes: Vec<String> = tokens["scope"]
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    scopes.sort();
    scopes
}

/// A proxy for the shared provider, with the rmcp server at `/mcp` behind `require_auth` and
/// `cors` as `examples/mcp_server.rs` mounts it, on one of the process's ports.
pub struct Site {
    /// The public URL: `http://127.0.0.1:PORT`.
    pub base: String,
    handle: ServerHandle,
}

impl Site {
    /// Starts a site, its proxy built by `configure` from the one every row uses.
    pub async fn start(configure: impl FnOnce(OAuthProxyBuilder) -> OAuthProxyBuilder) -> Self {
        let shared = shared();
        let listener = shared
            .listeners
            .lock()
            .unwrap()
            .pop()
            .expect("more sites than SITES");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let issuer = &shared.provider.issuer;
        let verifier = JwksVerifier::from_discovery(issuer)
            .await
            .expect("JWKS discovery")
            .audience(UPSTREAM_CLIENT_ID.to_owned())
            .build()
            .expect("verifier");
        let builder = OAuthProxy::from_discovery(issuer)
            .await
            .expect("upstream discovery")
            .public_url(&base)
            .client_id(UPSTREAM_CLIENT_ID.to_owned())
            .client_secret(shared.secret.clone())
            .verifier(verifier)
            .proxy_keys(vec![ProxyKey::generate()]);
        let proxy = configure(builder).build().expect("proxy");
        let mcp = rmcp_actix_web::transport::StreamableHttpService::builder()
            .service_factory(Arc::new(|| Ok(Tools)))
            .session_manager(Arc::new(
                rmcp_actix_web::transport::LocalSessionManager::default(),
            ))
            .build();
        let server = HttpServer::new(move || {
            App::new()
                .service(proxy.scope())
                .service(
                    web::scope("/mcp")
                        .wrap(proxy.require_auth())
                        .wrap(proxy.cors())
                        .service(mcp.clone().scope()),
                )
                .service(
                    web::scope("/me")
                        .wrap(proxy.require_auth())
                        .route("", web::get().to(me)),
                )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self { base, handle }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The MCP endpoint, as a client is configured with it.
    pub fn mcp(&self) -> String {
        self.url("/mcp")
    }

    /// The proxy's issuer: its public origin.
    pub fn issuer(&self) -> &str {
        &self.base
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// An https server for the clients that publish a metadata document, with a certificate for
/// [`DOCS_HOST`] from a CA made in the test, and the proxy settings that trust it.
pub struct Documents {
    server: tls::HttpsServer,
    ca_pem: Vec<u8>,
}

/// The host the documents are served from; the proxy resolves it to 127.0.0.1.
pub const DOCS_HOST: &str = "client-docs.test";

impl Documents {
    pub async fn start() -> Self {
        let ca = tls::TestCa::new(&[DOCS_HOST]);
        let server = tls::HttpsServer::start(&ca).await;
        Self {
            server,
            ca_pem: ca.ca_pem,
        }
    }

    /// Serves `doc` at `path`, its `client_id` set to its URL: that URL.
    pub fn serve(&self, path: &str, mut doc: Value) -> String {
        let id = format!("https://{DOCS_HOST}:{}{path}", self.server.port());
        doc["client_id"] = Value::String(id.clone());
        self.server.set(path, tls::Page::json(&doc));
        id
    }

    pub fn hits(&self, path: &str) -> usize {
        self.server.hits(path)
    }

    /// What the proxy is configured with to fetch from here (loopback allowed, as only a
    /// local test needs).
    pub fn settings(&self) -> actix_mcp_oauth::proxy::ClientDocuments {
        actix_mcp_oauth::proxy::ClientDocuments::builder()
            .allow_loopback(true)
            .extra_root_certificate(self.ca_pem.clone())
            .resolver(|host: &str| match host {
                DOCS_HOST => Ok(vec!["127.0.0.1".parse().unwrap()]),
                _ => Err(std::io::Error::other("no such host")),
            })
            .build()
            .expect("document settings")
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}

// ---- the client side ---------------------------------------------------------------------------

fn http() -> awc::Client {
    awc::Client::builder()
        .disable_redirects()
        .timeout(Duration::from_secs(10))
        .finish()
}

/// What the proxy answered.
pub struct Answer {
    pub status: StatusCode,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("{}: not JSON: {}", self.status, self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn answer(
    mut res: awc::ClientResponse<
        impl futures::Stream<Item = Result<web::Bytes, awc::error::PayloadError>> + Unpin,
    >,
) -> Answer {
    let body = res.body().limit(1 << 20).await.expect("body").to_vec();
    Answer {
        status: res.status(),
        headers: res.headers().clone(),
        body,
    }
}

/// A request with `headers`, and a body when `body` is given.
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, Vec<u8>)>,
) -> Answer {
    let mut req = http().request(method.parse().expect("method"), url);
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    let res = match body {
        Some((content_type, body)) => {
            req.insert_header(("content-type", content_type))
                .send_body(body)
                .await
        }
        None => req.send().await,
    };
    answer(res.unwrap_or_else(|e| panic!("{method} {url}: {e}"))).await
}

pub async fn get(url: &str) -> Answer {
    send("GET", url, &[], None).await
}

/// `POST /register` with the client's registration body, as it sends it.
pub async fn register(site: &Site, body: &Value) -> Answer {
    let body = serde_json::to_vec(body).unwrap();
    send(
        "POST",
        &site.url("/register"),
        &[],
        Some(("application/json", body)),
    )
    .await
}

/// Registers and expects the registration to be accepted: the client id.
pub async fn registered(site: &Site, body: &Value) -> (String, Value) {
    let res = register(site, body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let doc = res.json();
    (
        doc["client_id"].as_str().expect("client_id").to_owned(),
        doc,
    )
}

/// `POST /token` with `form`, form-encoded as every client sends it.
pub async fn token(site: &Site, form: &[(&str, &str)]) -> Answer {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    send(
        "POST",
        &site.url("/token"),
        &[],
        Some(("application/x-www-form-urlencoded", body.into_bytes())),
    )
    .await
}

/// A PKCE verifier and its S256 challenge, fresh for each authorization.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let mut bytes = [0u8; 32];
        openssl::rand::rand_bytes(&mut bytes).unwrap();
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// The authorization request a client opens in the user's browser: `response_type=code`,
/// S256, then `params` in the client's own order.
pub fn authorize_url(site: &Site, pkce: &Pkce, params: &[(&str, &str)]) -> String {
    let mut url = Url::parse(&site.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256")
        .extend_pairs(params);
    url.into()
}

/// The authorization response the client's redirect URI receives.
pub struct Callback {
    pub url: Url,
}

impl Callback {
    pub fn param(&self, name: &str) -> Option<String> {
        self.url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
    pub fn code(&self) -> String {
        self.param("code")
            .unwrap_or_else(|| panic!("no code in {}", self.url))
    }
}

/// The user signs in: the headless user agent walks from `authorize` through the proxy's
/// consent page and the provider's login and consent, and stops at `redirect_uri`.
pub async fn sign_in(authorize: &str, redirect_uri: &str) -> Callback {
    let url = node::user_agent(authorize, redirect_uri).await;
    Callback {
        url: Url::parse(&url).expect("callback URL"),
    }
}

/// The token answer, expected to be a success.
pub fn tokens(res: &Answer) -> Value {
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.header("cache-control"), Some("no-store"));
    res.json()
}

/// The token's bearer, as the MCP server sees them.
pub async fn bearer(site: &Site, access_token: &str) -> Value {
    let auth = format!("Bearer {access_token}");
    let res = send("GET", &site.url("/me"), &[("authorization", &auth)], None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    res.json()
}

/// Asserts the token belongs to the provider's test user and reaches the tools: rmcp's client
/// initializes an MCP session with it, lists the tools and calls `ping`.
pub async fn assert_tools_reachable(site: &Site, access_token: &str) {
    assert_tools_reachable_at(site, &site.mcp(), access_token).await;
}

/// [`assert_tools_reachable`] through the MCP endpoint as the client spells it (`…/mcp/`).
pub async fn assert_tools_reachable_at(site: &Site, mcp_url: &str, access_token: &str) {
    let who = bearer(site, access_token).await;
    assert_eq!(who["sub"], TEST_SUB, "{who}");
    assert_eq!(who["email"], TEST_EMAIL, "{who}");
    let transport = StreamableHttpClientTransport::with_client(
        reqwest::Client::default(),
        StreamableHttpClientTransportConfig::with_uri(mcp_url.to_owned()).auth_header(access_token),
    );
    let client = ().serve(transport).await.expect("MCP initialize with the token");
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "ping"), "{tools:?}");
    let result = client
        .call_tool(CallToolRequestParams::new("ping"))
        .await
        .expect("tools/call ping");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let text = result
        .content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()));
    assert_eq!(text.as_deref(), Some("pong"), "{result:?}");
    let _ = client.cancel().await;
}

/// Runs a row with the provider, or says why it cannot and passes without running (see
/// `tests/common/node.rs`); bounded by [`ROW_TIMEOUT`].
pub async fn row<F: std::future::Future<Output = ()>>(name: &str, body: impl FnOnce() -> F) {
    if let Some(why) = missing() {
        eprintln!("SKIPPED the {name} row: {why}; the client was not replayed");
        return;
    }
    tokio::time::timeout(ROW_TIMEOUT, body())
        .await
        .unwrap_or_else(|_| panic!("the {name} row did not finish within {ROW_TIMEOUT:?}"));
}

/// `grant_type=refresh_token` with `form` in the client's own order after it: the token
/// answer, expected to be a success with a new, rotated pair, whose access token then reaches
/// the tools.
pub async fn refreshed(site: &Site, previous: &Value, form: &[(&str, &str)]) -> Value {
    let refresh_token = previous["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh token in {previous}"));
    let mut all = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    all.extend_from_slice(form);
    let new = tokens(&token(site, &all).await);
    assert_ne!(new["access_token"], previous["access_token"], "{new}");
    assert!(new["refresh_token"].is_string(), "rotated: {new}");
    assert_ne!(new["refresh_token"], previous["refresh_token"], "{new}");
    assert_tools_reachable(site, new["access_token"].as_str().unwrap()).await;
    new
}

//! What the proxy tests share: an upstream identity provider played by the HTTP double, proxy
//! servers on 127.0.0.1:0, and the client side of the flow (the MCP client and its user's
//! browser).

use std::{
    cell::RefCell,
    collections::HashMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use actix_mcp_oauth::{
    clock::ManualClock,
    proxy::{OAuthProxyBuilder, TokenMode as ProxyTokenMode},
    verify::FnVerifier,
    AuthUser, OAuthProxy, ProxyKey, TokenVerifier, VerifyError,
};
use actix_web::{dev::ServerHandle, http::StatusCode, web, App, HttpResponse, HttpServer};
use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine as _,
};
use serde_json::{json, Value};
use url::Url;

#[path = "../common/double.rs"]
mod double;
/// The local OpenID provider and the headless user agent (Node).
#[path = "../common/node.rs"]
pub mod node;
#[path = "../common/time.rs"]
mod time;

pub use double::{Double, Reply, Seen};
pub use time::T0;

pub const PUBLIC_URL: &str = "https://mcp.example.test";
pub const UPSTREAM_CLIENT_ID: &str = "upstream-client";
pub const UPSTREAM_SECRET: &str = "s3cr+t/&=";
pub const CLIENT_REDIRECT: &str = "https://client.example/callback";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-0123456789";

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(openssl::sha::sha256(verifier.as_bytes()))
}

/// The MCP scope is not under test here: a verifier that refuses everything.
pub fn no_tokens() -> impl TokenVerifier {
    FnVerifier::new(|_token: String| async { Err(VerifyError::Rejected("test".into())) })
}

/// The upstream user every access token of the double belongs to.
pub const UPSTREAM_USER: &str = "user-1";

/// Verifies the access tokens the upstream double issues (`at-…`), as the provider's own
/// verifier would: they belong to [`UPSTREAM_USER`], name the proxy's upstream client and
/// expire an hour after `T0`. `at-…other-app…` names another client of the same provider.
pub fn upstream_tokens() -> impl TokenVerifier {
    counted_upstream_tokens(Arc::default())
}

/// [`upstream_tokens`], counting its verifications in `calls`.
pub fn counted_upstream_tokens(calls: Arc<AtomicUsize>) -> impl TokenVerifier {
    FnVerifier::new(move |token: String| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            if !token.starts_with("at-") {
                return Err(VerifyError::Rejected("not the upstream's".into()));
            }
            let client = if token.contains("other-app") {
                "other-app"
            } else {
                UPSTREAM_CLIENT_ID
            };
            let claims = json!({
                "sub": UPSTREAM_USER,
                "email": "user-1@example.test",
                "email_verified": true,
                "client_id": client,
                "exp": T0 + 3600,
            });
            Ok(actix_mcp_oauth::Claims::new(
                serde_json::from_value(claims).unwrap(),
            ))
        }
    })
}

/// Reads a parameter of a request the double received from the one place it belongs, so that
/// a parameter sent anywhere else is not found: authorization requests carry theirs in the
/// URL, token and revocation requests in the form body, which keeps secrets and code
/// verifiers out of URLs (RFC 6749 2.3.1 and 4.1.3).
pub trait Params {
    /// The first value of `name` in the query string.
    fn query_param(&self, name: &str) -> Option<String>;
    /// The first value of `name` in the form-encoded body.
    fn form_param(&self, name: &str) -> Option<String>;
}

impl Params for Seen {
    fn query_param(&self, name: &str) -> Option<String> {
        let query = self.uri.split_once('?').map_or("", |(_, query)| query);
        first(query, name)
    }

    fn form_param(&self, name: &str) -> Option<String> {
        first(&self.body, name)
    }
}

fn first(form: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(form.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// How the upstream answers its token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenMode {
    /// A real provider: checks credentials, code, redirect URI and PKCE; answers JSON.
    Json,
    /// The same checks, answered form-encoded (GitHub without `Accept: application/json`).
    Form,
    /// Never answers.
    Hang,
    /// Answers 200 with an error in the body (GitHub).
    ErrorIn200,
    /// Like `Json`, but issues no refresh token and no expiry (GitHub OAuth apps).
    NoRefresh,
}

/// The codes the upstream issued and has not seen redeemed.
#[derive(Default)]
struct Codes {
    /// upstream code → (code_challenge, redirect_uri)
    open: HashMap<String, (String, String)>,
    issued: u64,
}

/// An upstream identity provider with a signed-in user: `/authorize` answers at once with a
/// code, `/token` checks what a real provider checks, `/revoke` and discovery are served.
pub struct Upstream {
    pub issuer: String,
    double: Double,
    mode: Arc<Mutex<TokenMode>>,
}

impl Upstream {
    pub async fn start() -> Self {
        let double = Double::start().await;
        let issuer = double.url("");
        let mode = Arc::new(Mutex::new(TokenMode::Json));
        let codes = Arc::new(Mutex::new(Codes::default()));
        let (authorize_codes, iss) = (codes.clone(), issuer.clone());
        double.on_fn("/authorize", None, move |seen| {
            authorize(seen, &authorize_codes, &iss)
        });
        let token_mode = mode.clone();
        double.on_fn("/token", None, move |seen| {
            token(seen, &codes, *token_mode.lock().unwrap())
        });
        double.on_fn("/revoke", None, revoke);
        double.on(
            "/.well-known/openid-configuration",
            None,
            Reply::json(
                200,
                &json!({
                    "issuer": issuer,
                    "authorization_endpoint": format!("{issuer}/authorize"),
                    "token_endpoint": format!("{issuer}/token"),
                    "revocation_endpoint": format!("{issuer}/revoke"),
                }),
            ),
        );
        Self {
            issuer,
            double,
            mode,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.double.url(path)
    }

    pub fn set_mode(&self, mode: TokenMode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.double.seen(path)
    }

    pub fn count(&self, path: &str) -> usize {
        self.double.count(path)
    }

    /// A proxy builder aimed at this upstream, with `key` and `clock`.
    pub fn proxy(&self, key: &ProxyKey, clock: Arc<ManualClock>) -> OAuthProxyBuilder {
        OAuthProxy::builder()
            .public_url(PUBLIC_URL)
            .auth_endpoint(self.url("/authorize"))
            .token_endpoint(self.url("/token"))
            .revocation_endpoint(self.url("/revoke"))
            .issuer(&self.issuer)
            .client_id(UPSTREAM_CLIENT_ID)
            .client_secret(UPSTREAM_SECRET)
            .verifier(upstream_tokens())
            .proxy_key(key.clone())
            .clock(clock)
            .upstream_timeout(Duration::from_secs(2))
    }

    /// [`proxy`](Self::proxy) in passthrough mode: the provider's tokens go to the client.
    pub fn passthrough(&self, key: &ProxyKey, clock: Arc<ManualClock>) -> OAuthProxyBuilder {
        self.proxy(key, clock)
            .token_mode(ProxyTokenMode::Passthrough)
    }

    pub async fn stop(self) {
        self.double.stop().await;
    }
}

/// What the upstream answers a request with another method than its endpoint's.
pub fn method_not_allowed() -> Reply {
    Reply::new(405, &[], "")
}

fn authorize(seen: &Seen, codes: &Mutex<Codes>, issuer: &str) -> Reply {
    if seen.method != "GET" {
        return method_not_allowed();
    }
    let mut codes = codes.lock().unwrap();
    codes.issued += 1;
    let code = format!("up-code-{}", codes.issued);
    let challenge = seen.query_param("code_challenge").unwrap_or_default();
    let redirect = seen.query_param("redirect_uri").unwrap_or_default();
    let mut location = Url::parse(&redirect).expect("redirect_uri");
    location
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &seen.query_param("state").unwrap_or_default())
        .append_pair("iss", issuer);
    codes.open.insert(code, (challenge, redirect));
    Reply::new(302, &[("location", location.as_str())], "")
}

/// The credentials the upstream accepts: in the form body, or Basic with form-encoded parts;
/// never in the URL.
fn authenticated(seen: &Seen) -> bool {
    if let Some(basic) = seen
        .header("authorization")
        .and_then(|a| a.strip_prefix("Basic "))
    {
        let decoded = String::from_utf8(STANDARD.decode(basic).unwrap()).unwrap();
        let (user, pass) = decoded.split_once(':').unwrap();
        let dec = |s: &str| -> String {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .unwrap()
                .1
                .into_owned()
        };
        return dec(user) == UPSTREAM_CLIENT_ID && dec(pass) == UPSTREAM_SECRET;
    }
    seen.form_param("client_id").as_deref() == Some(UPSTREAM_CLIENT_ID)
        && seen.form_param("client_secret").as_deref() == Some(UPSTREAM_SECRET)
}

fn token(seen: &Seen, codes: &Mutex<Codes>, mode: TokenMode) -> Reply {
    if seen.method != "POST" {
        return method_not_allowed();
    }
    if mode == TokenMode::Hang {
        return Reply {
            delay: Some(Duration::MAX),
            ..Reply::new(200, &[], "")
        };
    }
    if mode == TokenMode::ErrorIn200 {
        return Reply::new(
            200,
            &[("content-type", "application/x-www-form-urlencoded")],
            "error=bad_verification_code&error_description=The+code+is+wrong",
        );
    }
    if !authenticated(seen) {
        return Reply::json(401, &json!({"error": "invalid_client"}));
    }
    let tokens = match seen.form_param("grant_type").as_deref() {
        Some("authorization_code") => {
            let code = seen.form_param("code").unwrap_or_default();
            let known = codes.lock().unwrap().open.remove(&code);
            let Some((challenge_sent, redirect)) = known else {
                return invalid_grant("unknown or used code");
            };
            if seen.form_param("redirect_uri") != Some(redirect) {
                return invalid_grant("redirect_uri mismatch");
            }
            if challenge(&seen.form_param("code_verifier").unwrap_or_default()) != challenge_sent {
                return invalid_grant("PKCE failed");
            }
            vec![
                ("access_token", format!("at-{code}")),
                ("token_type", "Bearer".into()),
                ("expires_in", "3600".into()),
                ("refresh_token", format!("rt-{code}")),
                // What a real OIDC provider answers too, so that tests can show the proxy's
                // own answer passes neither on.
                ("id_token", format!("idt-{code}")),
                ("scope", "openid email profile offline_access".into()),
            ]
        }
        Some("refresh_token") => match seen.form_param("refresh_token") {
            Some(rt) if rt.starts_with("rt-") => vec![
                ("access_token", format!("at-refreshed-{rt}")),
                ("token_type", "Bearer".into()),
                ("expires_in", "3600".into()),
            ],
            _ => return invalid_grant("bad refresh token"),
        },
        _ => return Reply::json(400, &json!({"error": "unsupported_grant_type"})),
    };
    if mode == TokenMode::Form {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(tokens)
            .finish();
        return Reply::new(
            200,
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            &body,
        );
    }
    let mut map = serde_json::Map::new();
    let tokens = tokens.into_iter().filter(|(k, _)| {
        mode != TokenMode::NoRefresh || !matches!(*k, "refresh_token" | "expires_in")
    });
    for (k, v) in tokens {
        let value = match k {
            "expires_in" => json!(v.parse::<u64>().unwrap()),
            _ => json!(v),
        };
        map.insert(k.into(), value);
    }
    Reply::json(200, &Value::Object(map))
}

fn invalid_grant(why: &str) -> Reply {
    Reply::json(
        400,
        &json!({"error": "invalid_grant", "error_description": why}),
    )
}

fn revoke(seen: &Seen) -> Reply {
    if seen.method != "POST" {
        return method_not_allowed();
    }
    if !authenticated(seen) {
        return Reply::json(401, &json!({"error": "invalid_client"}));
    }
    Reply::new(200, &[], "")
}

/// A proxy served on its own port, with its MCP endpoint at `/mcp` as documented: behind
/// `require_auth`, answering [`whoami`].
pub struct ProxyServer {
    pub addr: SocketAddr,
    handle: ServerHandle,
}

/// The MCP endpoint of [`ProxyServer`]: who the request is from, with both of its tokens.
async fn whoami(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "user_id": user.user_id,
        "email": user.email,
        "scopes": user.scopes,
        "bearer_token": user.bearer_token().secret(),
        "upstream_access_token": user.upstream_access_token().secret(),
        "client_id_claim": user.claims().get_str("client_id"),
    }))
}

impl ProxyServer {
    pub async fn start(proxy: OAuthProxy) -> Self {
        let server = HttpServer::new(move || {
            App::new().service(proxy.scope()).service(
                web::scope("/mcp")
                    .wrap(proxy.require_auth())
                    .route("", web::post().to(whoami)),
            )
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("bind");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Self { addr, handle }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// The MCP client and its user's browser.
pub fn http() -> awc::Client {
    awc::Client::builder()
        .disable_redirects()
        .timeout(Duration::from_secs(10))
        .finish()
}

pub struct Answer {
    pub status: StatusCode,
    pub location: Option<Url>,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn query(&self, name: &str) -> Option<String> {
        self.location
            .as_ref()?
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// Every `Set-Cookie` header, as sent.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
    /// The `Set-Cookie` header of the cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.split('=').next() == Some(name))
    }
    /// The value of a hidden form field of a page.
    pub fn form_field(&self, name: &str) -> String {
        let text = self.text();
        let marker = format!("name=\"{name}\" value=\"");
        let start = text
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in: {text}"))
            + marker.len();
        let len = text[start..].find('"').unwrap();
        text[start..start + len].to_owned()
    }
}

/// The proxy's cookies with an https public URL (as `PUBLIC_URL` is).
pub const CSRF_COOKIE: &str = "__Host-mcp-oauth-csrf";
pub const BINDING_COOKIE: &str = "__Host-mcp-oauth-binding";
pub const CONSENT_COOKIE: &str = "__Host-mcp-oauth-consent";

/// A user's browser: a cookie jar in front of `http()`. Cookies are kept by name only (the
/// proxies under test are reached on 127.0.0.1, not at their public URL); the attributes they
/// were set with are checked by the tests that care, on the `Set-Cookie` headers themselves.
#[derive(Default)]
pub struct Browser {
    jar: RefCell<Vec<(String, String)>>,
}

impl Browser {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar
            .borrow()
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.remove_cookie(name);
        self.jar.borrow_mut().push((name.into(), value.into()));
    }

    pub fn remove_cookie(&self, name: &str) {
        self.jar.borrow_mut().retain(|(k, _)| k != name);
    }

    fn request(&self, req: awc::ClientRequest) -> awc::ClientRequest {
        let jar = self.jar.borrow();
        if jar.is_empty() {
            return req;
        }
        let header: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        req.insert_header(("cookie", header.join("; ")))
    }

    fn store(&self, answer: &Answer) {
        for cookie in answer.set_cookies() {
            let first = cookie.split(';').next().unwrap();
            let (name, value) = first.split_once('=').unwrap();
            if cookie.contains("Max-Age=0") {
                self.remove_cookie(name);
            } else {
                self.set_cookie(name, value);
            }
        }
    }

    pub async fn get(&self, url: &str) -> Answer {
        let res = answer(self.request(http().get(url)).send().await.expect("GET")).await;
        self.store(&res);
        res
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Answer {
        let req = self.request(http().post(url));
        let res = answer(req.send_form(&form).await.expect("POST")).await;
        self.store(&res);
        res
    }
}

/// `GET /authorize?query` in `browser`, then the consent page it leads to.
pub async fn consent_page(proxy: &ProxyServer, browser: &Browser, query: &str) -> Answer {
    let auth = browser
        .get(&proxy.url(&format!("/authorize?{query}")))
        .await;
    assert_eq!(auth.status, StatusCode::SEE_OTHER, "{}", auth.text());
    let to_page = auth.location.as_ref().unwrap();
    assert_eq!(to_page.path(), "/consent", "{to_page}");
    let page = browser.get(&at(proxy, to_page)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    page
}

/// Posts the consent `page`'s form with `action` (`approve` or `deny`).
pub async fn decide(proxy: &ProxyServer, browser: &Browser, page: &Answer, action: &str) -> Answer {
    browser
        .post_form(
            &proxy.url("/consent"),
            &[
                ("request", &page.form_field("request")),
                ("csrf", &page.form_field("csrf")),
                ("action", action),
            ],
        )
        .await
}

/// `GET /authorize?query` in `browser`, approved on the consent page when there is one: the
/// answer that sends the browser upstream.
pub async fn to_upstream(proxy: &ProxyServer, browser: &Browser, query: &str) -> Answer {
    let auth = browser
        .get(&proxy.url(&format!("/authorize?{query}")))
        .await;
    let sent = match auth.location.as_ref() {
        Some(page) if auth.status == StatusCode::SEE_OTHER && page.path() == "/consent" => {
            let page = browser.get(&at(proxy, page)).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.text());
            decide(proxy, browser, &page, "approve").await
        }
        _ => auth,
    };
    assert!(
        sent.status == StatusCode::FOUND || sent.status == StatusCode::SEE_OTHER,
        "{}: {}",
        sent.status,
        sent.text()
    );
    assert!(
        sent.query("client_id").as_deref() == Some(UPSTREAM_CLIENT_ID),
        "not sent upstream: {:?}",
        sent.location
    );
    sent
}

async fn answer(
    mut res: awc::ClientResponse<
        impl futures::Stream<Item = Result<web::Bytes, awc::error::PayloadError>> + Unpin,
    >,
) -> Answer {
    let body = res.body().limit(1 << 20).await.expect("body").to_vec();
    let location = res
        .headers()
        .get("location")
        .map(|v| Url::parse(v.to_str().unwrap()).expect("absolute Location"));
    Answer {
        status: res.status(),
        location,
        headers: res.headers().clone(),
        body,
    }
}

pub async fn get(url: &str) -> Answer {
    answer(http().get(url).send().await.expect("GET")).await
}

pub async fn post_form(url: &str, form: &[(&str, &str)]) -> Answer {
    answer(http().post(url).send_form(&form).await.expect("POST")).await
}

pub async fn post_json(url: &str, body: &Value) -> Answer {
    answer(http().post(url).send_json(body).await.expect("POST")).await
}

pub async fn post_raw(url: &str, content_type: &str, body: Vec<u8>) -> Answer {
    let res = http()
        .post(url)
        .insert_header(("content-type", content_type))
        .send_body(body)
        .await
        .expect("POST");
    answer(res).await
}

pub async fn register(proxy: &ProxyServer, redirect_uris: &[&str]) -> String {
    let res = post_json(
        &proxy.url("/register"),
        &json!({"client_name": "Test client", "redirect_uris": redirect_uris}),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    res.json()["client_id"].as_str().unwrap().to_owned()
}

/// The query of a GET /authorize with the usual, valid parameters, overridden by `extra`.
pub fn authorize_query(client_id: &str, extra: &[(&str, Option<&str>)]) -> String {
    let challenge = challenge(VERIFIER);
    let mut params: Vec<(&str, Option<&str>)> = vec![
        ("response_type", Some("code")),
        ("client_id", Some(client_id)),
        ("redirect_uri", Some(CLIENT_REDIRECT)),
        ("code_challenge", Some(&challenge)),
        ("code_challenge_method", Some("S256")),
        ("state", Some("client-state-42")),
    ];
    for (k, v) in extra {
        match params.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = *v,
            None => params.push((k, *v)),
        }
    }
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        if let Some(v) = v {
            ser.append_pair(k, v);
        }
    }
    ser.finish()
}

/// The upstream's redirect to our callback, made to hit `proxy` (any replica) instead of the
/// public URL.
pub fn at(proxy: &ProxyServer, location: &Url) -> String {
    let mut path = location.path().to_owned();
    if let Some(q) = location.query() {
        path.push('?');
        path.push_str(q);
    }
    proxy.url(&path)
}

/// Authorize in a fresh browser, approve, visit the upstream (which has a session and answers
/// at once), come back through the callback: the code the client receives (and the callback
/// answer).
pub async fn code_for(proxy: &ProxyServer, client_id: &str) -> (String, Answer) {
    code_in(proxy, &Browser::new(), client_id).await
}

/// [`code_for`] in `browser`.
pub async fn code_in(proxy: &ProxyServer, browser: &Browser, client_id: &str) -> (String, Answer) {
    let query = authorize_query(client_id, &[]);
    let sent = to_upstream(proxy, browser, &query).await;
    let back = through_upstream(proxy, browser, &sent).await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.text());
    (back.query("code").expect("code"), back)
}

/// Follows `sent` (the redirect upstream) to the upstream double, and its answer back to the
/// callback in `browser`.
pub async fn through_upstream(proxy: &ProxyServer, browser: &Browser, sent: &Answer) -> Answer {
    let upstream = get(sent.location.as_ref().unwrap().as_str()).await;
    browser
        .get(&at(proxy, upstream.location.as_ref().unwrap()))
        .await
}

pub async fn redeem(proxy: &ProxyServer, client_id: &str, code: &str) -> Answer {
    post_form(
        &proxy.url("/token"),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("redirect_uri", CLIENT_REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

/// The refresh grant for `client_id` with `refresh_token`.
pub async fn refresh_with(proxy: &ProxyServer, client_id: &str, refresh_token: &str) -> Answer {
    post_form(
        &proxy.url("/token"),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

/// `POST /mcp` with `token` as the bearer token.
pub async fn mcp_as(proxy: &ProxyServer, token: &str) -> Answer {
    let res = http()
        .post(proxy.url("/mcp"))
        .insert_header(("authorization", format!("Bearer {token}")))
        .send()
        .await
        .expect("POST /mcp");
    answer(res).await
}

/// Signs in through `proxy` and redeems the code: the token answer.
pub async fn sign_in(proxy: &ProxyServer, client_id: &str) -> Value {
    let (code, _) = code_for(proxy, client_id).await;
    let tokens = redeem(proxy, client_id, &code).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text());
    tokens.json()
}

/// Every variant of `sealed` with one character changed in the middle of each segment.
pub fn tampered(sealed: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    for segment in sealed.split('.') {
        if !segment.is_empty() {
            let i = start + segment.len() / 2;
            let mut bytes = sealed.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            out.push(String::from_utf8(bytes).unwrap());
        }
        start += segment.len() + 1;
    }
    assert!(out.len() >= 3, "a sealed value has several segments");
    out
}

pub fn key(byte: u8) -> ProxyKey {
    ProxyKey::from_bytes(&[byte; 32]).unwrap()
}

//! The scope model against the real local OpenID provider (`tests/e2e/provider.mjs`, Node) and
//! an rmcp server: what a sign-in grants (requested, approved, and backed by what the provider
//! granted), the consent page's descriptions, the refresh grant's bounds, and the 401 / 403
//! challenges of the route and of a tool.
//!
//! The provider knows `files.read files.write files.share` besides the OpenID scopes and
//! withholds `files.share` (as if the user unticked it on its page). Needs `node` and
//! `npm ci` in `tests/e2e`; without them each test says so and passes.

use std::{net::TcpListener, sync::Arc};

use actix_mcp_oauth::{
    forward_auth_user, scope::ScopeModel, AuthUser, JwksVerifier, OAuthProxy, ProxyKey,
};
use actix_web::{dev::ServerHandle, http::StatusCode, web, App, HttpServer};
use rmcp::{
    model::CallToolRequestParams,
    transport::{
        streamable_http_client::StreamableHttpClientTransportConfig, StreamableHttpClientTransport,
    },
    ServiceExt,
};
use rmcp_actix_web::transport::{LocalSessionManager, StreamableHttpService};
use serde_json::Value;

use crate::fixtures::{challenge, node, post_form, post_json, Browser};

const CLIENT_ID: &str = "scopes-test-client";
const CLIENT_SECRET: &str = "scopes-test-secret-0123456789";
const REDIRECT_URI: &str = "http://127.0.0.1:1/scopes-test/callback";
const VERIFIER: &str = "scopes-test-verifier-0123456789-0123456789-abcdefgh";

/// An MCP server whose `delete_file` tool needs `files:write`.
#[derive(Clone)]
struct Files;

#[rmcp::tool_router(server_handler)]
impl Files {
    #[rmcp::tool(description = "The scopes of the signed-in user")]
    async fn whoami(&self, user: AuthUser) -> String {
        user.scopes.join(" ")
    }

    #[rmcp::tool(description = "Deletes a file (needs files:write)")]
    async fn delete_file(&self, user: AuthUser) -> String {
        format!("deleted for {}", user.user_id)
    }
}

fn model() -> ScopeModel {
    ScopeModel::builder()
        .scope("files:read", "Read your test files", ["files.read"])
        .scope(
            "files:write",
            "Change and delete your test files",
            ["files.write"],
        )
        .scope("files:share", "Share your test files", ["files.share"])
        .implies("files:write", ["files:read"])
        .default_scopes(["files:read"])
        .build()
        .expect("scope model")
}

/// The provider, the proxy with the model, `/mcp` (tool `delete_file` needs `files:write`)
/// and `/strict` (the route needs `files:read`, the tool `files:write` on top).
struct Stack {
    _provider: node::OidcProvider,
    handle: ServerHandle,
    base: String,
}

impl Stack {
    async fn start() -> Option<Self> {
        if let Some(why) = node::missing() {
            eprintln!("skipped: {why}");
            return None;
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let provider = node::OidcProvider::start(
            CLIENT_ID,
            CLIENT_SECRET,
            &[
                ("PUBLIC_URL", &base),
                (
                    "PROVIDER_EXTRA_SCOPES",
                    "files.read files.write files.share",
                ),
                ("PROVIDER_WITHHELD_SCOPES", "files.share"),
            ],
        );
        let verifier = JwksVerifier::from_discovery(&provider.issuer)
            .await
            .expect("JWKS discovery")
            .audience(CLIENT_ID.to_owned())
            .build()
            .expect("verifier");
        let proxy = OAuthProxy::from_discovery(&provider.issuer)
            .await
            .expect("upstream discovery")
            .public_url(&base)
            .client_id(CLIENT_ID)
            .client_secret(CLIENT_SECRET)
            .verifier(verifier)
            .scope_model(model())
            .proxy_key(ProxyKey::generate())
            .build()
            .expect("proxy");
        let mcp = StreamableHttpService::builder()
            .service_factory(Arc::new(|| Ok(Files)))
            .session_manager(Arc::new(LocalSessionManager::default()))
            .on_request_fn(forward_auth_user)
            .build();
        let server = HttpServer::new(move || {
            App::new()
                .service(proxy.scope())
                .service(
                    web::scope("/mcp")
                        .wrap(
                            proxy
                                .require_auth()
                                .tool_scopes("delete_file", ["files:write"]),
                        )
                        .service(mcp.clone().scope()),
                )
                .service(
                    web::scope("/strict")
                        .wrap(
                            proxy
                                .require_auth()
                                .require_scopes(["files:read"])
                                .tool_scopes("delete_file", ["files:write"]),
                        )
                        .service(mcp.clone().scope()),
                )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Some(Self {
            _provider: provider,
            handle,
            base,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn register(&self) -> String {
        let reg = post_json(
            &self.url("/register"),
            &serde_json::json!({
                "redirect_uris": [REDIRECT_URI],
                "client_name": "scopes test",
                "token_endpoint_auth_method": "none",
            }),
        )
        .await;
        assert_eq!(reg.status, StatusCode::CREATED, "{}", reg.text());
        reg.json()["client_id"]
            .as_str()
            .expect("client_id")
            .to_owned()
    }

    fn authorize_query(client_id: &str, scope: Option<&str>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("code_challenge", &challenge(VERIFIER))
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", "scopes-test");
        if let Some(scope) = scope {
            query.append_pair("scope", scope);
        }
        query.finish()
    }

    /// A sign-in through the headless user agent (our consent page, the provider's login and
    /// consent) asking for `scope`; the token answer.
    async fn sign_in(&self, scope: Option<&str>) -> (String, Value) {
        let client_id = self.register().await;
        let authorize = self.url(&format!(
            "/authorize?{}",
            Self::authorize_query(&client_id, scope)
        ));
        let callback = node::user_agent(&authorize, REDIRECT_URI).await;
        let callback = url::Url::parse(&callback).expect("callback URL");
        let code = callback
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no code in {callback}"));
        let token = post_form(
            &self.url("/token"),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("client_id", &client_id),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
        assert_eq!(token.status, StatusCode::OK, "{}", token.text());
        (client_id, token.json())
    }

    async fn stop(self) {
        self.handle.stop(false).await;
    }
}

fn scope_of(token: &Value) -> &str {
    token["scope"]
        .as_str()
        .expect("the token answer has a scope")
}

/// A `tools/call` of `tool` at `path` with `token`: its status and `WWW-Authenticate`.
async fn call(stack: &Stack, path: &str, token: Option<&str>, tool: &str) -> (u16, String) {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"{tool}","arguments":{{}}}}}}"#
    );
    post(stack, path, token, body).await
}

/// A `POST` of `body` at `path` with `token`: its status and `WWW-Authenticate`.
async fn post(stack: &Stack, path: &str, token: Option<&str>, body: String) -> (u16, String) {
    let mut req = awc::Client::default()
        .post(stack.url(path))
        .insert_header(("content-type", "application/json"))
        .insert_header(("accept", "application/json, text/event-stream"));
    if let Some(token) = token {
        req = req.insert_header(("authorization", format!("Bearer {token}")));
    }
    let res = req.send_body(body).await.expect("POST");
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (res.status().as_u16(), challenge)
}

#[actix_web::test]
async fn no_scope_or_only_unknown_scopes_get_the_default_set_and_the_sign_in_succeeds() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let (_, none) = stack.sign_in(None).await;
    assert_eq!(scope_of(&none), "files:read");
    // What mcp-remote and Windsurf ask for: none of this server's scopes.
    let (_, openid) = stack.sign_in(Some("openid email profile")).await;
    assert_eq!(scope_of(&openid), "files:read");
    // Unknown ones are left out, known ones kept; offline_access is tolerated.
    let (_, mixed) = stack
        .sign_in(Some("openid files:write offline_access"))
        .await;
    assert_eq!(scope_of(&mixed), "files:write");
    assert!(mixed["refresh_token"].is_string());
    stack.stop().await;
}

#[actix_web::test]
async fn scopes_the_provider_did_not_grant_are_absent_from_the_token_and_its_scope() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let (_, token) = stack.sign_in(Some("files:read files:share")).await;
    assert_eq!(scope_of(&token), "files:read", "files.share was withheld");
    let access = token["access_token"].as_str().unwrap();
    let (status, _) = call(&stack, "/mcp", Some(access), "whoami").await;
    // No session yet: the transport's own answer, past the scope checks.
    assert_ne!(status, 401);
    assert_ne!(status, 403);
    stack.stop().await;
}

#[actix_web::test]
async fn the_consent_page_describes_each_requested_scope_and_drops_unknown_ones() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let client_id = stack.register().await;
    let browser = Browser::new();
    let query = Stack::authorize_query(&client_id, Some("files:write openid calendar"));
    let auth = browser
        .get(&stack.url(&format!("/authorize?{query}")))
        .await;
    assert_eq!(auth.status, StatusCode::SEE_OTHER, "{}", auth.text());
    let to_page = auth.location.expect("to the consent page");
    assert_eq!(to_page.path(), "/consent");
    let page = browser
        .get(&stack.url(&format!("/consent?{}", to_page.query().unwrap_or_default())))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    assert!(html.contains("Change and delete your test files"), "{html}");
    assert!(html.contains("<code>files:write</code>"), "{html}");
    assert!(!html.contains("calendar"), "{html}");
    assert!(!html.contains("<code>openid</code>"), "{html}");
    assert!(!html.contains("Read your test files"), "{html}");
    stack.stop().await;
}

#[actix_web::test]
async fn a_refresh_may_narrow_the_scope_but_never_widen_it() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let (client_id, token) = stack.sign_in(Some("files:write files:read")).await;
    assert_eq!(scope_of(&token), "files:read files:write");
    let refresh = |rt: String, scope: &'static str| {
        let url = stack.url("/token");
        let client_id = client_id.clone();
        async move {
            post_form(
                &url,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &rt),
                    ("client_id", &client_id),
                    ("scope", scope),
                ],
            )
            .await
        }
    };
    let rt = token["refresh_token"].as_str().unwrap().to_owned();
    let wider = refresh(rt.clone(), "files:read files:write files:share").await;
    assert_eq!(wider.status, StatusCode::BAD_REQUEST, "{}", wider.text());
    assert_eq!(wider.json()["error"], "invalid_scope");
    let narrower = refresh(rt, "files:read").await;
    assert_eq!(narrower.status, StatusCode::OK, "{}", narrower.text());
    assert_eq!(scope_of(&narrower.json()), "files:read");
    // Narrowed for good: the new refresh token cannot widen back.
    let rt = narrower.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let back = refresh(rt.clone(), "files:write").await;
    assert_eq!(back.json()["error"], "invalid_scope", "{}", back.text());
    // `resource` is optional on refresh (Codex sends none), and checked when present.
    let elsewhere = post_form(
        &stack.url("/token"),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", &client_id),
            ("resource", "https://elsewhere.example/mcp"),
        ],
    )
    .await;
    assert_eq!(
        elsewhere.json()["error"],
        "invalid_target",
        "{}",
        elsewhere.text()
    );
    stack.stop().await;
}

#[actix_web::test]
async fn a_tool_call_short_of_scope_gets_403_naming_every_scope_the_call_needs() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    // Without a token: 401 asking for the default set, or for the route's scopes.
    let (status, www) = call(&stack, "/mcp", None, "whoami").await;
    assert_eq!(status, 401);
    assert!(www.contains(r#"scope="files:read""#), "{www}");
    let (_, read) = stack.sign_in(None).await;
    let read = read["access_token"].as_str().unwrap().to_owned();
    let (status, www) = call(&stack, "/mcp", Some(&read), "delete_file").await;
    assert_eq!(status, 403);
    assert!(www.contains(r#"error="insufficient_scope""#), "{www}");
    assert!(www.contains(r#"scope="files:write""#), "{www}");
    assert!(www.contains("resource_metadata="), "{www}");
    // The route's scope and the tool's, in one challenge.
    let (status, www) = call(&stack, "/strict", Some(&read), "delete_file").await;
    assert_eq!(status, 403);
    assert!(www.contains(r#"scope="files:read files:write""#), "{www}");
    // Another tool, and a body that is not JSON-RPC.
    let (status, _) = call(&stack, "/mcp", Some(&read), "whoami").await;
    assert_ne!(status, 403);
    let (status, www) = post(&stack, "/mcp", Some(&read), "{not json".into()).await;
    assert_eq!(
        status, 400,
        "a body the check cannot read is refused, not passed on"
    );
    assert!(www.contains(r#"error="invalid_request""#), "{www}");
    let (status, _) = post(&stack, "/mcp", None, "{not json".into()).await;
    assert_eq!(status, 401, "no token still comes first");
    // A batch needs what each of its calls needs.
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_file"}}]"#;
    let (status, www) = post(&stack, "/mcp", Some(&read), batch.into()).await;
    assert_eq!(status, 403);
    assert!(www.contains(r#"scope="files:write""#), "{www}");

    // files:write implies files:read: the strict route admits it, and the tool runs.
    let (_, write) = stack.sign_in(Some("files:write")).await;
    let write = write["access_token"].as_str().unwrap().to_owned();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(stack.url("/strict")).auth_header(write),
    );
    let client = ().serve(transport).await.expect("MCP initialize");
    let result = client
        .call_tool(CallToolRequestParams::new("delete_file"))
        .await
        .expect("tools/call delete_file with files:write");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let _ = client.cancel().await;
    stack.stop().await;
}

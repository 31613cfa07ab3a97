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
    forward_auth_user,
    proxy::{OAuthProxyBuilder, OfflineAccess, TokenMode},
    scope::ScopeModel,
    AuthUser, JwksVerifier, OAuthProxy, ProxyKey,
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

use crate::fixtures::{challenge, node, post_form, post_json, Answer, Browser};

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

    #[rmcp::tool(description = "Shares a file (needs files:share)")]
    async fn share_file(&self, user: AuthUser) -> String {
        format!("shared for {}", user.user_id)
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

/// The scopes of the token, behind a `RequireAuth` that requires some.
async fn scopes_of(user: AuthUser) -> String {
    user.scopes.join(" ")
}

/// The provider, the proxy with the model, `/mcp` (tool `delete_file` needs `files:write`,
/// `share_file` needs `files:share`), `/strict` (the route needs `files:read`, the tool
/// `files:write` on top), and the plain routes `/read` (needs `files:read`) and `/share`
/// (needs `files:share`).
struct Stack {
    _provider: node::OidcProvider,
    handle: ServerHandle,
    base: String,
}

impl Stack {
    async fn start() -> Option<Self> {
        Self::start_with(|builder| builder).await
    }

    /// [`start`](Self::start) with the proxy's builder changed by `configure` last.
    async fn start_with(
        configure: impl FnOnce(OAuthProxyBuilder) -> OAuthProxyBuilder,
    ) -> Option<Self> {
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
        let builder = OAuthProxy::from_discovery(&provider.issuer)
            .await
            .expect("upstream discovery")
            .public_url(&base)
            .client_id(CLIENT_ID)
            .client_secret(CLIENT_SECRET)
            .verifier(verifier)
            .scope_model(model())
            // As Google is asked: a parameter of the upstream authorization request.
            .offline_access(OfflineAccess::Params(vec![(
                "access_type".into(),
                "offline".into(),
            )]))
            .proxy_key(ProxyKey::generate());
        let proxy = configure(builder).build().expect("proxy");
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
                                .tool_scopes("delete_file", ["files:write"])
                                .tool_scopes("share_file", ["files:share"]),
                        )
                        .service(mcp.clone().scope()),
                )
                .service(
                    web::resource("/read")
                        .wrap(proxy.require_auth().require_scopes(["files:read"]))
                        .to(scopes_of),
                )
                .service(
                    web::resource("/share")
                        .wrap(proxy.require_auth().require_scopes(["files:share"]))
                        .to(scopes_of),
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
        let token = self.sign_in_as(&client_id, scope).await;
        (client_id, token)
    }

    /// [`sign_in`](Self::sign_in) with the client `client_id`, registered before.
    async fn sign_in_as(&self, client_id: &str, scope: Option<&str>) -> Value {
        let client_id = client_id.to_owned();
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
        token.json()
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

/// A `GET` of `path` with `token`: its status, `WWW-Authenticate` and body.
async fn get_with(stack: &Stack, path: &str, token: &str) -> (u16, String, String) {
    let mut res = awc::Client::default()
        .get(stack.url(path))
        .insert_header(("authorization", format!("Bearer {token}")))
        .send()
        .await
        .expect("GET");
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = res.body().await.expect("body");
    (
        res.status().as_u16(),
        challenge,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// The parameter `name` of the proxy's redirect to the provider.
fn upstream_param(to_provider: &Answer, name: &str) -> Option<String> {
    let location = to_provider.location.as_ref().expect("to the provider");
    location
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The upstream `scope` the proxy's redirect to the provider asks for.
fn upstream_scope(to_provider: &Answer) -> Vec<String> {
    upstream_param(to_provider, "scope")
        .unwrap_or_default()
        .split(' ')
        .map(str::to_owned)
        .collect()
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
    stack.stop().await;
}

#[actix_web::test]
async fn the_proxy_asks_the_provider_for_offline_access_and_the_consent_page_says_so() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let client_id = stack.register().await;
    // In issued mode the proxy issues refresh tokens of its own, so it asks the provider for
    // one (here with `access_type=offline`) whether the client asked for `offline_access`
    // or not, and the consent page says a refresh token will be issued.
    for asked in [Some("files:read"), Some("files:read offline_access"), None] {
        let browser = Browser::new();
        let page = consent_page(&stack, &browser, &client_id, asked).await;
        assert!(
            page.text().contains(
                "Keep access while you are away (refresh tokens) (<code>offline_access</code>)"
            ),
            "{}",
            page.text()
        );
        let to_provider = approve(&stack, &browser, &page).await;
        assert_eq!(
            upstream_param(&to_provider, "access_type").as_deref(),
            Some("offline"),
            "{asked:?}"
        );
        let scope = upstream_scope(&to_provider);
        assert!(!scope.iter().any(|s| s == "offline_access"), "{scope:?}");
        assert!(scope.iter().any(|s| s == "files.read"), "{scope:?}");
    }
    stack.stop().await;
}

/// A proxy that does not issue refresh tokens of its own: in passthrough mode, or without the
/// refresh grant.
fn passthrough(builder: OAuthProxyBuilder) -> OAuthProxyBuilder {
    builder.token_mode(TokenMode::Passthrough)
}

fn no_refresh_grant(builder: OAuthProxyBuilder) -> OAuthProxyBuilder {
    builder.grant_types(["authorization_code"])
}

/// [`passthrough`] with a provider that is asked with the scope `offline_access` (OpenID
/// Connect Core §11), as Okta, Auth0 and Entra ID are.
fn passthrough_scope(builder: OAuthProxyBuilder) -> OAuthProxyBuilder {
    passthrough(builder).offline_access(OfflineAccess::Scope)
}

#[actix_web::test]
async fn without_refresh_tokens_of_its_own_the_proxy_asks_for_one_only_when_the_client_does() {
    type Configure = fn(OAuthProxyBuilder) -> OAuthProxyBuilder;
    let cases: [(&str, Configure); 3] = [
        ("passthrough", passthrough),
        ("no refresh grant", no_refresh_grant),
        ("passthrough, offline_access upstream", passthrough_scope),
    ];
    for (case, configure) in cases {
        let Some(stack) = Stack::start_with(configure).await else {
            return;
        };
        // Never listed, in either metadata document.
        for doc in [
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-authorization-server",
        ] {
            let listed = crate::fixtures::get(&stack.url(doc)).await.json();
            assert_eq!(
                listed["scopes_supported"],
                serde_json::json!(["files:read", "files:write", "files:share"]),
                "{case}: {doc}"
            );
        }
        let client_id = stack.register().await;
        for asked in [
            None,
            Some("files:read"),
            Some("files:read offline_access"),
            Some("offline_access"),
        ] {
            let wants = asked.is_some_and(|a| a.split(' ').any(|s| s == "offline_access"));
            let browser = Browser::new();
            let page = consent_page(&stack, &browser, &client_id, asked).await;
            assert_eq!(
                page.text().contains("(<code>offline_access</code>)"),
                wants,
                "{case}, {asked:?}: {}",
                page.text()
            );
            let to_provider = approve(&stack, &browser, &page).await;
            let scope = upstream_scope(&to_provider);
            assert!(scope.iter().any(|s| s == "files.read"), "{scope:?}");
            let (by_param, by_scope) = (
                upstream_param(&to_provider, "access_type").as_deref() == Some("offline"),
                scope.iter().any(|s| s == "offline_access"),
            );
            if case.ends_with("offline_access upstream") {
                assert_eq!((by_param, by_scope), (false, wants), "{case}, {asked:?}");
            } else {
                assert_eq!((by_param, by_scope), (wants, false), "{case}, {asked:?}");
            }
        }
        stack.stop().await;
    }
}

#[actix_web::test]
async fn scopes_the_provider_did_not_grant_are_absent_from_the_token_and_its_scope() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let (_, token) = stack.sign_in(Some("files:read files:share")).await;
    assert_eq!(scope_of(&token), "files:read", "files.share was withheld");
    let access = token["access_token"].as_str().unwrap();
    // The token itself carries what was granted, and only that.
    let (status, _, body) = get_with(&stack, "/read", access).await;
    assert_eq!((status, body.as_str()), (200, "files:read"));
    let (status, www, _) = get_with(&stack, "/share", access).await;
    assert_eq!(status, 403, "{www}");
    assert!(www.contains(r#"scope="files:read files:share""#), "{www}");
    let (status, www) = call(&stack, "/mcp", Some(access), "share_file").await;
    assert_eq!(status, 403, "{www}");
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
    // What mcp-remote sends on every refresh: none of it is this server's, so the grant stays.
    let openid = refresh(rt, "openid email profile").await;
    assert_eq!(openid.status, StatusCode::OK, "{}", openid.text());
    assert_eq!(scope_of(&openid.json()), "files:read files:write");
    let rt = openid.json()["refresh_token"].as_str().unwrap().to_owned();
    let narrower = refresh(rt, "files:read").await;
    assert_eq!(narrower.status, StatusCode::OK, "{}", narrower.text());
    assert_eq!(scope_of(&narrower.json()), "files:read");
    let narrowed = narrower.json()["access_token"].as_str().unwrap().to_owned();
    let (status, _) = call(&stack, "/mcp", Some(&narrowed), "delete_file").await;
    assert_eq!(status, 403, "the narrowed access token lacks files:write");
    // The narrowing holds for that access token only: the new refresh token keeps the grant
    // (RFC 6749 §6), and a refresh without `scope` gets all of it back.
    let rt = narrower.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let back = refresh(rt, "files:write").await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text());
    assert_eq!(scope_of(&back.json()), "files:write");
    let rt = back.json()["refresh_token"].as_str().unwrap().to_owned();
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
    // files:write implies files:read: asking for files:read under files:write is narrowing.
    let (write_client, write) = stack.sign_in(Some("files:write")).await;
    assert_eq!(scope_of(&write), "files:write");
    let read = post_form(
        &stack.url("/token"),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", write["refresh_token"].as_str().unwrap()),
            ("client_id", &write_client),
            ("scope", "files:read"),
        ],
    )
    .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text());
    assert_eq!(scope_of(&read.json()), "files:read");
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
    // What the token holds, then what the call needs: re-authorizing with exactly this list
    // keeps files:read.
    assert!(www.contains(r#"scope="files:read files:write""#), "{www}");
    assert!(www.contains("resource_metadata="), "{www}");
    // The route's scope and the tool's, in one challenge.
    let (status, www) = call(&stack, "/strict", Some(&read), "delete_file").await;
    assert_eq!(status, 403);
    assert!(www.contains(r#"scope="files:read files:write""#), "{www}");
    // A body that is not JSON-RPC.
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
    assert!(www.contains(r#"scope="files:read files:write""#), "{www}");
    // One refusal names every call of a batch, not the first it finds.
    let both = r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"share_file"}},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_file"}}]"#;
    let (status, www) = post(&stack, "/mcp", Some(&read), both.into()).await;
    assert_eq!(status, 403);
    assert!(
        www.contains(r#"scope="files:read files:share files:write""#),
        "{www}"
    );

    // Another tool than the gated one runs with files:read; the gated one is refused.
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(stack.url("/strict"))
            .auth_header(read.clone()),
    );
    let client = ().serve(transport).await.expect("MCP initialize");
    let who = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .expect("tools/call whoami with files:read");
    assert_ne!(who.is_error, Some(true), "{who:?}");
    assert!(
        client
            .call_tool(CallToolRequestParams::new("delete_file"))
            .await
            .is_err(),
        "delete_file without files:write"
    );
    let _ = client.cancel().await;

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

/// `GET /authorize` asking for `scope` in `browser`, and the consent page it leads to.
async fn consent_page(
    stack: &Stack,
    browser: &Browser,
    client_id: &str,
    scope: Option<&str>,
) -> Answer {
    let query = Stack::authorize_query(client_id, scope);
    let auth = browser
        .get(&stack.url(&format!("/authorize?{query}")))
        .await;
    assert_eq!(auth.status, StatusCode::SEE_OTHER, "{}", auth.text());
    let to_page = auth.location.expect("to the consent page");
    assert_eq!(to_page.path(), "/consent", "{to_page}");
    let page = browser
        .get(&stack.url(&format!("/consent?{}", to_page.query().unwrap_or_default())))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    page
}

/// Approve on the consent `page`: the answer that sends the browser to the provider.
async fn approve(stack: &Stack, browser: &Browser, page: &Answer) -> Answer {
    let res = browser
        .post_form(
            &stack.url("/consent"),
            &[
                ("request", &page.form_field("request")),
                ("csrf", &page.form_field("csrf")),
                ("action", "approve"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.text());
    res
}

#[actix_web::test]
async fn a_token_short_of_the_route_scope_and_the_tool_scope_gets_one_403_naming_both() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    // files.share is withheld: a token granted no scope at all.
    let (_, token) = stack.sign_in(Some("files:share")).await;
    // RFC 6749 §3.3: `scope` is one or more scope tokens, so a grant of none has none.
    assert!(token.get("scope").is_none(), "{token}");
    let access = token["access_token"].as_str().unwrap();
    let (status, www) = call(&stack, "/strict", Some(access), "delete_file").await;
    assert_eq!(status, 403, "{www}");
    assert!(
        www.contains(r#"scope="files:read files:write""#),
        "the route's scope and the tool's at once: {www}"
    );
    let (status, www, _) = get_with(&stack, "/read", access).await;
    assert_eq!(status, 403, "{www}");
    assert!(www.contains(r#"scope="files:read""#), "{www}");
    stack.stop().await;
}

#[actix_web::test]
async fn a_step_up_grants_what_it_asks_for_and_the_page_marks_scopes_approved_before() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let client_id = stack.register().await;
    let browser = Browser::new();
    let first = consent_page(&stack, &browser, &client_id, Some("files:read")).await;
    let scope = upstream_scope(&approve(&stack, &browser, &first).await);
    assert!(scope.iter().any(|s| s == "files.read"), "{scope:?}");
    // The step-up a 403 asks for: what the token holds and what the tool needs. The page
    // describes each, and marks the one approved at the first sign-in.
    let step_up = consent_page(&stack, &browser, &client_id, Some("files:read files:write")).await;
    let html = step_up.text();
    assert!(
        html.contains("<li>Change and delete your test files (<code>files:write</code>)</li>"),
        "{html}"
    );
    assert!(
        html.contains("Read your test files (<code>files:read</code>) <span class=\"before\">(approved before)</span>"),
        "{html}"
    );
    let scope = upstream_scope(&approve(&stack, &browser, &step_up).await);
    assert!(
        ["files.read", "files.write"]
            .iter()
            .all(|want| scope.iter().any(|s| s == want)),
        "{scope:?}"
    );
    // A request for less gets less, though this browser approved more before: approvals
    // remembered in the browser never widen what a client asks for.
    let narrow = consent_page(&stack, &browser, &client_id, Some("files:write")).await;
    let scope = upstream_scope(&approve(&stack, &browser, &narrow).await);
    assert!(scope.iter().any(|s| s == "files.write"), "{scope:?}");
    assert!(!scope.iter().any(|s| s == "files.read"), "{scope:?}");
    stack.stop().await;
}

#[actix_web::test]
async fn a_completed_step_up_gets_a_token_with_the_union_and_without_what_the_provider_withheld() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let (client_id, first) = stack.sign_in(Some("files:read")).await;
    assert_eq!(scope_of(&first), "files:read");
    let first = first["access_token"].as_str().unwrap().to_owned();
    // A batch calling both gated tools: one 403 lists what the token holds, then all it lacks.
    let both = r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"share_file"}},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_file"}}]"#;
    let (status, www) = post(&stack, "/mcp", Some(&first), both.into()).await;
    assert_eq!(status, 403, "{www}");
    let asked = www
        .split("scope=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no scope in {www}"))
        .to_owned();
    assert_eq!(asked, "files:read files:share files:write");
    // The client re-authorizes with exactly that list: our consent page, the provider's
    // sign-in and consent, the callback, and the code redeemed at /token.
    let second = stack.sign_in_as(&client_id, Some(&asked)).await;
    // The union of what it held and what it added, less files:share, which the provider
    // withheld on this sign-in.
    assert_eq!(scope_of(&second), "files:read files:write", "{second}");
    let second = second["access_token"].as_str().unwrap().to_owned();
    // What the token itself carries, as the MCP server sees it.
    let (status, _, body) = get_with(&stack, "/read", &second).await;
    assert_eq!((status, body.as_str()), (200, "files:read files:write"));
    let (status, www, _) = get_with(&stack, "/share", &second).await;
    assert_eq!(status, 403, "{www}");
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(stack.url("/mcp")).auth_header(second),
    );
    let client = ().serve(transport).await.expect("MCP initialize");
    let deleted = client
        .call_tool(CallToolRequestParams::new("delete_file"))
        .await
        .expect("tools/call delete_file after the step-up");
    assert_ne!(deleted.is_error, Some(true), "{deleted:?}");
    let who = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .expect("tools/call whoami");
    let text = who
        .content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()));
    assert_eq!(text.as_deref(), Some("files:read files:write"), "{who:?}");
    assert!(
        client
            .call_tool(CallToolRequestParams::new("share_file"))
            .await
            .is_err(),
        "share_file without files:share"
    );
    let _ = client.cancel().await;
    stack.stop().await;
}

/// How the tool check handles bodies, with a plain `RequireAuth` in front of a handler that
/// echoes the body it gets: `delete_file` needs `files:write`. The tokens are `reader`
/// (`files:read`) and `writer` (`files:read files:write`).
mod bodies {
    use std::net::TcpListener;

    use actix_mcp_oauth::{verify::FnVerifier, Claims, RequireAuth, VerifyError};
    use actix_web::{dev::ServerHandle, web, App, HttpServer};
    use serde_json::json;

    struct Echo {
        handle: ServerHandle,
        url: String,
    }

    async fn echo(body: web::Bytes) -> web::Bytes {
        body
    }

    async fn start() -> Echo {
        start_with(|auth| auth).await
    }

    async fn start_with(configure: impl FnOnce(RequireAuth) -> RequireAuth) -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/echo", listener.local_addr().expect("addr"));
        let verifier = FnVerifier::new(|token: String| async move {
            let scope = match token.as_str() {
                "reader" => "files:read",
                "writer" => "files:read files:write",
                _ => return Err(VerifyError::Rejected("unknown test token".into())),
            };
            let claims = json!({ "sub": "u", "scope": scope, "exp": 4_102_444_800u64 });
            Ok(Claims::new(serde_json::from_value(claims).unwrap()))
        });
        let auth = configure(
            RequireAuth::new(verifier, &url)
                .expect("RequireAuth")
                .tool_scopes("delete_file", ["files:write"]),
        );
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::PayloadConfig::new(8 << 20))
                .service(web::resource("/echo").wrap(auth.clone()).to(echo))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Echo { handle, url }
    }

    fn client() -> awc::Client {
        awc::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .finish()
    }

    /// A call of `delete_file` whose arguments pad it to about `len` bytes.
    fn delete_call(len: usize) -> Vec<u8> {
        let head =
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"pad":""#;
        let tail = r#""},"name":"delete_file"}}"#;
        let mut body = head.as_bytes().to_vec();
        body.resize(len.saturating_sub(tail.len()).max(head.len()), b'x');
        body.extend_from_slice(tail.as_bytes());
        body
    }

    #[actix_web::test]
    async fn a_body_in_many_chunks_is_checked_whole_and_reaches_the_handler_intact() {
        let echo = start().await;
        let body = delete_call(300 * 1024);
        let chunks = || {
            body.chunks(7 * 1024)
                .map(|c| Ok::<_, std::io::Error>(web::Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>()
        };
        assert!(chunks().len() > 40);
        let mut res = client()
            .post(&echo.url)
            .insert_header(("authorization", "Bearer writer"))
            .send_stream(futures::stream::iter(chunks()))
            .await
            .expect("POST");
        assert_eq!(res.status().as_u16(), 200);
        let got = res.body().limit(8 << 20).await.expect("body");
        assert!(
            got == body,
            "the handler got {} bytes of {}",
            got.len(),
            body.len()
        );
        // The tool name sits in the last chunk: the check read them all.
        let res = client()
            .post(&echo.url)
            .insert_header(("authorization", "Bearer reader"))
            .send_stream(futures::stream::iter(chunks()))
            .await
            .expect("POST");
        assert_eq!(res.status().as_u16(), 403);
        echo.handle.stop(false).await;
    }

    #[actix_web::test]
    async fn a_body_over_4_mib_is_refused_and_one_under_it_passes() {
        let echo = start().await;
        let send = |body: Vec<u8>| {
            let url = echo.url.clone();
            async move {
                client()
                    .post(url)
                    .insert_header(("authorization", "Bearer writer"))
                    .send_body(body)
                    .await
                    .expect("POST")
                    .status()
                    .as_u16()
            }
        };
        assert_eq!(send(delete_call(4 * 1024 * 1024)).await, 200);
        assert_eq!(send(delete_call(4 * 1024 * 1024 + 1)).await, 400);
        echo.handle.stop(false).await;
    }

    #[actix_web::test]
    async fn max_tool_call_bytes_bounds_the_body_read_whether_declared_or_streamed() {
        let echo = start_with(|auth| auth.max_tool_call_bytes(2048).expect("limit")).await;
        let post = |body: Vec<u8>, streamed: bool| {
            let url = echo.url.clone();
            async move {
                let req = client()
                    .post(url)
                    .insert_header(("authorization", "Bearer writer"));
                let res = if streamed {
                    let chunks = body
                        .chunks(100)
                        .map(|c| Ok::<_, std::io::Error>(web::Bytes::copy_from_slice(c)))
                        .collect::<Vec<_>>();
                    req.send_stream(futures::stream::iter(chunks)).await
                } else {
                    req.send_body(body).await
                };
                res.expect("POST").status().as_u16()
            }
        };
        for streamed in [false, true] {
            assert_eq!(post(delete_call(2048), streamed).await, 200, "{streamed}");
            assert_eq!(post(delete_call(2049), streamed).await, 400, "{streamed}");
        }
        echo.handle.stop(false).await;
    }

    #[test]
    fn max_tool_call_bytes_outside_1_kib_to_64_mib_is_a_configuration_error() {
        let auth = || {
            let verifier =
                FnVerifier::new(|_t: String| async { Err(VerifyError::Rejected("test".into())) });
            RequireAuth::new(verifier, "http://127.0.0.1:1/mcp").expect("RequireAuth")
        };
        for bytes in [0, 1023, 64 * 1024 * 1024 + 1] {
            let Err(err) = auth().max_tool_call_bytes(bytes) else {
                panic!("{bytes} bytes accepted");
            };
            assert!(err.to_string().contains("max_tool_call_bytes"), "{err}");
        }
        for bytes in [1024, 64 * 1024 * 1024] {
            assert!(auth().max_tool_call_bytes(bytes).is_ok());
        }
    }

    /// The `WWW-Authenticate` of the 401 to a `POST` of `body` without a token.
    async fn tokenless_challenge(url: String, body: Vec<u8>) -> String {
        let res = client().post(url).send_body(body).await.expect("POST");
        assert_eq!(res.status().as_u16(), 401);
        res.headers()
            .get("www-authenticate")
            .expect("challenge")
            .to_str()
            .expect("ASCII")
            .to_owned()
    }

    #[actix_web::test]
    async fn a_tool_call_without_a_token_is_asked_for_the_scopes_the_tool_needs() {
        let echo = start().await;
        let challenge = |body: Vec<u8>| tokenless_challenge(echo.url.clone(), body);
        let www = challenge(delete_call(0)).await;
        assert!(www.contains(r#"scope="files:write""#), "{www}");
        // Another method, or a body past what a refusal reads: the route's challenge.
        let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_vec();
        for www in [
            challenge(list).await,
            challenge(delete_call(100 * 1024)).await,
        ] {
            assert!(!www.contains("scope="), "{www}");
            assert!(www.contains("resource_metadata="), "{www}");
        }
        echo.handle.stop(false).await;
    }

    #[actix_web::test]
    async fn a_tokenless_tool_call_is_asked_for_the_default_set_and_the_tools_scopes() {
        let model = super::model();
        let echo = start_with(|auth| auth.scope_model(&model)).await;
        let challenge = |body: Vec<u8>| tokenless_challenge(echo.url.clone(), body);
        // What the route's 401 asks for (the model's default set), then what the tool needs.
        let www = challenge(delete_call(0)).await;
        assert!(www.contains(r#"scope="files:read files:write""#), "{www}");
        let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_vec();
        let www = challenge(list).await;
        assert!(www.contains(r#"scope="files:read""#), "{www}");
        echo.handle.stop(false).await;
    }

    #[actix_web::test]
    async fn only_a_post_is_scanned() {
        let echo = start().await;
        for method in [
            actix_web::http::Method::GET,
            actix_web::http::Method::DELETE,
            actix_web::http::Method::POST,
        ] {
            let res = client()
                .request(method.clone(), &echo.url)
                .insert_header(("authorization", "Bearer reader"))
                .send_body("not JSON-RPC")
                .await
                .expect("request");
            let want = if method == actix_web::http::Method::POST {
                400
            } else {
                200
            };
            assert_eq!(res.status().as_u16(), want, "{method}");
        }
        echo.handle.stop(false).await;
    }

    #[actix_web::test]
    async fn a_compressed_body_is_refused_with_415() {
        let echo = start().await;
        let call = delete_call(0);
        for (encoding, want) in [("gzip", 415), ("identity, br", 415), ("identity", 200)] {
            let res = client()
                .post(&echo.url)
                .insert_header(("authorization", "Bearer writer"))
                .insert_header(("content-encoding", encoding))
                .send_body(call.clone())
                .await
                .expect("POST");
            assert_eq!(res.status().as_u16(), want, "{encoding}");
            if want == 415 {
                assert_eq!(
                    res.headers().get("accept-encoding").map(|v| v.as_bytes()),
                    Some(&b"identity"[..])
                );
            }
        }
        echo.handle.stop(false).await;
    }

    #[test]
    fn a_scope_the_model_does_not_define_is_warned_about_when_the_middleware_is_built() {
        crate::logging::record_logs();
        let model = super::model();
        let verifier =
            FnVerifier::new(|_t: String| async { Err(VerifyError::Rejected("test".into())) });
        let _auth = RequireAuth::new(verifier, "http://127.0.0.1:1/warned")
            .expect("RequireAuth")
            .scope_model(&model)
            .require_scopes(["files:read", "files:raed"])
            .tool_scopes("delete_file", ["files:wirte", "files:write"]);
        let warned = |scope: &str| {
            crate::logging::logged(&format!(
                "WARN actix_mcp_oauth::middleware: RequireAuth for http://127.0.0.1:1/warned \
                 requires the scope `{scope}`"
            ))
        };
        assert!(warned("files:raed") >= 1);
        assert!(warned("files:wirte") >= 1);
        assert_eq!(warned("files:read"), 0);
        assert_eq!(warned("files:write"), 0);
    }
}

/// What a refresh keeps when the provider withdraws a scope: a provider that answers the code
/// with `files.read files.write`, the first refresh with `files.read` alone (the user withdrew
/// `files.write` at the provider), and later refreshes without `scope` (RFC 6749 §5.1: "as
/// asked"). The local OpenID provider cannot withdraw a scope from a refresh, so this
/// upstream is the HTTP double.
mod withdrawn {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    };

    use actix_mcp_oauth::{clock::ManualClock, OAuthProxy};
    use actix_web::http::StatusCode;
    use serde_json::json;

    use crate::fixtures::{
        authorize_query, key, mcp_as, post_form, redeem, refresh_with, register, through_upstream,
        to_upstream, upstream_tokens, Browser, Double, Params, ProxyServer, Reply, CLIENT_REDIRECT,
        PUBLIC_URL, T0, UPSTREAM_CLIENT_ID, UPSTREAM_SECRET,
    };

    async fn upstream() -> Double {
        let double = Double::start().await;
        let issuer = double.url("");
        double.on_fn("/authorize", None, move |seen| {
            let mut back = url::Url::parse(&seen.query_param("redirect_uri").unwrap()).unwrap();
            back.query_pairs_mut()
                .append_pair("code", "up-code")
                .append_pair("state", &seen.query_param("state").unwrap())
                .append_pair("iss", &issuer);
            Reply::new(302, &[("location", back.as_str())], "")
        });
        let refreshes = Arc::new(AtomicUsize::new(0));
        double.on_fn("/token", None, move |seen| {
            let mut answer = json!({
                "access_token": "at-withdrawn",
                "token_type": "Bearer",
                "expires_in": 3600,
                "refresh_token": "rt-withdrawn",
            });
            match seen.form_param("grant_type").as_deref() {
                Some("authorization_code") => {
                    answer["scope"] = json!("openid email profile files.read files.write");
                }
                _ => {
                    if refreshes.fetch_add(1, Ordering::SeqCst) == 0 {
                        answer["scope"] = json!("openid email profile files.read");
                    }
                }
            }
            Reply::json(200, &answer)
        });
        double
    }

    #[actix_web::test]
    async fn a_scope_the_provider_withdrew_at_a_refresh_does_not_come_back_at_the_next() {
        let double = upstream().await;
        let proxy = OAuthProxy::builder()
            .public_url(PUBLIC_URL)
            .auth_endpoint(double.url("/authorize"))
            .token_endpoint(double.url("/token"))
            .issuer(double.url(""))
            .client_id(UPSTREAM_CLIENT_ID)
            .client_secret(UPSTREAM_SECRET)
            .verifier(upstream_tokens())
            .scope_model(super::model())
            .proxy_key(key(7))
            .clock(ManualClock::at(T0))
            .build()
            .expect("proxy");
        let server = ProxyServer::start(proxy).await;
        let client_id = register(&server, &[CLIENT_REDIRECT]).await;
        let browser = Browser::new();
        let query = authorize_query(&client_id, &[("scope", Some("files:read files:write"))]);
        let sent = to_upstream(&server, &browser, &query).await;
        let back = through_upstream(&server, &browser, &sent).await;
        assert_eq!(back.status, StatusCode::FOUND, "{}", back.text());
        let code = back.query("code").expect("code");
        let issued = redeem(&server, &client_id, &code).await;
        assert_eq!(issued.status, StatusCode::OK, "{}", issued.text());
        let issued = issued.json();
        assert_eq!(issued["scope"], "files:read files:write");

        let refresh =
            |previous: &serde_json::Value| previous["refresh_token"].as_str().unwrap().to_owned();
        // The provider withdrew files.write: the access token loses files:write.
        let once = refresh_with(&server, &client_id, &refresh(&issued)).await;
        assert_eq!(once.status, StatusCode::OK, "{}", once.text());
        let once = once.json();
        assert_eq!(once["scope"], "files:read", "{once}");
        // The provider's next answer names no scope: what was asked is what it had left, so
        // files:write stays out, of the access token and of the grant.
        let twice = refresh_with(&server, &client_id, &refresh(&once)).await;
        assert_eq!(twice.status, StatusCode::OK, "{}", twice.text());
        let twice = twice.json();
        assert_eq!(twice["scope"], "files:read", "{twice}");
        let who = mcp_as(&server, twice["access_token"].as_str().unwrap()).await;
        assert_eq!(
            who.json()["scopes"],
            json!(["files:read"]),
            "{}",
            who.text()
        );
        // The refresh token's grant lost it too: asking for it is widening.
        let wider = post_form(
            &server.url("/token"),
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &client_id),
                ("refresh_token", &refresh(&twice)),
                ("scope", "files:write"),
            ],
        )
        .await;
        assert_eq!(wider.status, StatusCode::BAD_REQUEST, "{}", wider.text());
        assert_eq!(wider.json()["error"], "invalid_scope");
        server.stop().await;
        double.stop().await;
    }
}

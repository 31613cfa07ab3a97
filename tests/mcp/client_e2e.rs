//! End to end in Rust: rmcp's own OAuth client (feature `auth`) signs in through the proxy to
//! an MCP server in this process, against the local OpenID provider of `tests/e2e` (Node).
//!
//! discovery (RFC 9728 + RFC 8414) → dynamic registration at the proxy → authorization (the
//! headless user agent of `tests/e2e/ua.mjs` clicks through the consent page, when there is
//! one, and the upstream login and consent) → callback → token → `tools/call whoami` returns the
//! test user → a refresh-token exchange through the proxy → whoami again with the new token →
//! no token: 401 with `resource_metadata`.
//!
//! Needs `node` and `npm ci` in `tests/e2e`; without them the test says so and passes, so that
//! `cargo test` works on a machine without Node (scripts/test.sh always installs them).

use std::{net::TcpListener, time::Duration};

use rmcp::{
    model::CallToolRequestParams,
    transport::{
        auth::{AuthClient, AuthorizationRequest, OAuthState},
        streamable_http_client::StreamableHttpClientTransportConfig,
        StreamableHttpClientTransport,
    },
    ServiceExt,
};
use serde_json::Value;

use crate::fixtures::{missing, user_agent, OidcProvider};

const TEST_SUB: &str = "e2e-user-7f3a9c";
const TEST_EMAIL: &str = "ada.lovelace@example.test";
const TEST_NAME: &str = "Ada Lovelace";
const CLIENT_ID: &str = "rmcp-e2e-static-client";
const TIMEOUT: Duration = Duration::from_secs(90);

fn random_secret() -> String {
    let mut bytes = [0u8; 24];
    openssl::rand::rand_bytes(&mut bytes).expect("random bytes");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- the server under test: the proxy and an rmcp server in this process --------------------

mod server {
    use std::{net::TcpListener, sync::Arc};

    use actix_mcp_oauth::{forward_auth_user, JwksVerifier, OAuthProxy, ProxyKey};
    use actix_web::{dev::ServerHandle, web, App, HttpResponse, HttpServer};
    use rmcp_actix_web::transport::{LocalSessionManager, StreamableHttpService};

    use crate::fixtures::Whoami;

    /// Serves the proxy and the MCP endpoint on `listener`, like `examples/mcp_server.rs`.
    pub async fn start(
        listener: TcpListener,
        public_url: &str,
        issuer: &str,
        client_id: &str,
        client_secret: &str,
    ) -> ServerHandle {
        let verifier = JwksVerifier::from_discovery(issuer)
            .await
            .expect("JWKS discovery")
            .audience(client_id.to_owned())
            .build()
            .expect("verifier");
        let proxy = OAuthProxy::from_discovery(issuer)
            .await
            .expect("upstream discovery")
            .public_url(public_url)
            .client_id(client_id.to_owned())
            .client_secret(client_secret.to_owned())
            .verifier(verifier)
            .proxy_keys(vec![ProxyKey::generate()])
            .build()
            .expect("proxy");
        let mcp = StreamableHttpService::builder()
            .service_factory(Arc::new(|| Ok(Whoami)))
            .session_manager(Arc::new(LocalSessionManager::default()))
            .on_request_fn(forward_auth_user)
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
                .route("/", web::get().to(HttpResponse::Ok))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        handle
    }
}

// ---- the flow ----------------------------------------------------------------------------------

fn assert_test_user(result: &rmcp::model::CallToolResult) {
    assert_ne!(result.is_error, Some(true), "whoami failed: {result:?}");
    let who: Value = match &result.structured_content {
        Some(v) => v.clone(),
        None => {
            let text = result
                .content
                .iter()
                .find_map(|c| c.as_text().map(|t| t.text.clone()))
                .expect("whoami returns JSON text or structured content");
            serde_json::from_str(&text).expect("whoami text is JSON")
        }
    };
    assert_eq!(who["id"], TEST_SUB, "{who}");
    assert_eq!(who["email"], TEST_EMAIL, "{who}");
    assert_eq!(who["name"], TEST_NAME, "{who}");
    assert!(
        who["scopes"].as_array().is_some_and(|s| !s.is_empty()),
        "scopes: {who}"
    );
}

async fn flow(mcp_url: String) {
    // Not listened on: the user agent stops before requesting it and hands back the URL.
    let redirect_uri = "http://127.0.0.1:1/rmcp-e2e/callback".to_owned();

    let mut state = OAuthState::new(mcp_url.as_str(), None)
        .await
        .expect("auth state");
    state
        .start_authorization(
            AuthorizationRequest::new(redirect_uri.clone()).with_client_name("rmcp e2e client"),
        )
        .await
        .expect("discovery, registration at the proxy, authorization URL");
    let OAuthState::Session(session) = &state else {
        panic!("start_authorization leaves a session");
    };
    let callback = user_agent(session.get_authorization_url(), &redirect_uri).await;
    session
        .handle_callback_url(&callback)
        .await
        .expect("code exchange at the proxy");
    state.complete_authorization().await.expect("authorized");
    let OAuthState::Authorized(manager) = state else {
        panic!("complete_authorization leaves an authorized manager");
    };

    let first_token = manager.get_access_token().await.expect("an access token");
    let auth_client = AuthClient::new(reqwest::Client::default(), manager);
    let manager = auth_client.auth_manager.clone();
    let transport = StreamableHttpClientTransport::with_client(
        auth_client,
        StreamableHttpClientTransportConfig::with_uri(mcp_url.clone()),
    );
    let client = ().serve(transport).await.expect("MCP initialize");
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "whoami"), "{tools:?}");
    let result = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .expect("tools/call whoami");
    assert_test_user(&result);

    // The refresh-token exchange, through the proxy's /token.
    manager
        .lock()
        .await
        .refresh_token()
        .await
        .expect("refresh through the proxy");
    let refreshed = manager
        .lock()
        .await
        .get_access_token()
        .await
        .expect("token");
    assert_ne!(
        refreshed, first_token,
        "the refresh gave a new access token"
    );
    let result = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .expect("tools/call whoami with the refreshed token");
    assert_test_user(&result);
    let _ = client.cancel().await;

    // No token: 401 and where to start.
    let response = reqwest::Client::new()
        .post(&mcp_url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .expect("POST without a token");
    assert_eq!(response.status().as_u16(), 401);
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("resource_metadata=\""),
        "{challenge}"
    );
}

#[actix_web::test]
async fn rmcp_oauth_client_signs_in_through_the_proxy_and_calls_whoami() {
    if let Some(why) = missing() {
        eprintln!("SKIPPED the rmcp client end to end: {why}; the flow did not run");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let public_url = format!("http://{}", listener.local_addr().expect("addr"));
    let secret = random_secret();
    let provider = OidcProvider::start(CLIENT_ID, &secret, &[("PUBLIC_URL", &public_url)]);
    let handle = server::start(listener, &public_url, &provider.issuer, CLIENT_ID, &secret).await;

    let outcome = tokio::time::timeout(TIMEOUT, flow(format!("{public_url}/mcp"))).await;
    handle.stop(false).await;
    outcome.expect("the flow finishes within the time bound");
}

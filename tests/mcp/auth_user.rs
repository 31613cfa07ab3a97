//! An rmcp `#[tool]` takes `user: AuthUser`, carried from the actix request by
//! `forward_auth_user` through rmcp-actix-web: a real actix server on 127.0.0.1, a real
//! rmcp-actix-web `StreamableHttpService`, real MCP JSON-RPC over HTTP. The user is put in the
//! actix request by a stand-in for `RequireAuth` (what the middleware does after verifying a
//! token), so this runs without the proxy.

use std::sync::Arc;

use actix_mcp_oauth::{forward_auth_user, secret::AccessToken, AuthUser, Claims, UserInfo};
use actix_web::{dev::Service, web, App, HttpMessage, HttpServer};
use rmcp_actix_web::transport::{LocalSessionManager, StreamableHttpService};
use serde_json::{json, Map, Value};

use crate::fixtures::Whoami;

fn ada() -> AuthUser {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!("ada"));
    AuthUser::new(
        UserInfo {
            user_id: "ada".into(),
            email: Some("ada@example.test".into()),
            name: Some("Ada Lovelace".into()),
            scopes: vec!["openid".into(), "email".into()],
            ..Default::default()
        },
        Claims::new(claims),
        AccessToken::new("not-a-real-token"),
    )
}

fn mcp_service(hook: bool) -> StreamableHttpService<Whoami> {
    let builder = StreamableHttpService::builder()
        .service_factory(Arc::new(|| Ok(Whoami)))
        .session_manager(Arc::new(LocalSessionManager::default()))
        .stateful_mode(false)
        .json_response(true);
    if hook {
        builder.on_request_fn(forward_auth_user).build()
    } else {
        builder.build()
    }
}

/// `/signed-in`: user + hook; `/no-hook`: user, service without the hook; `/anonymous`: hook,
/// no user.
async fn start() -> (String, actix_web::dev::ServerHandle) {
    let with_hook = mcp_service(true);
    let without_hook = mcp_service(false);
    let server = HttpServer::new(move || {
        App::new()
            .service(
                web::scope("/signed-in")
                    .wrap_fn(|req, srv| {
                        req.extensions_mut().insert(ada());
                        srv.call(req)
                    })
                    .service(with_hook.clone().scope()),
            )
            .service(
                web::scope("/no-hook")
                    .wrap_fn(|req, srv| {
                        req.extensions_mut().insert(ada());
                        srv.call(req)
                    })
                    .service(without_hook.clone().scope()),
            )
            .service(web::scope("/anonymous").service(with_hook.clone().scope()))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("bind 127.0.0.1:0");
    let addr = server.addrs()[0];
    let running = server.run();
    let handle = running.handle();
    actix_web::rt::spawn(running);
    (format!("http://{addr}"), handle)
}

async fn rpc(url: &str, id: u64, method: &str, params: Value) -> Value {
    let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
    let mut res = awc::Client::default()
        .post(url)
        .insert_header(("accept", "application/json, text/event-stream"))
        .send_json(&body)
        .await
        .expect("request sent");
    assert_eq!(res.status().as_u16(), 200, "{method} at {url}");
    res.json::<Value>().await.expect("a JSON-RPC response")
}

async fn call_whoami(url: &str) -> Value {
    let init = rpc(
        url,
        1,
        "initialize",
        json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": { "name": "test", "version": "0" }
        }),
    )
    .await;
    assert!(init.get("result").is_some(), "initialize answered: {init}");
    rpc(
        url,
        2,
        "tools/call",
        json!({ "name": "whoami", "arguments": {} }),
    )
    .await
}

#[actix_web::test]
async fn an_rmcp_tool_receives_the_auth_user_forwarded_from_actix() {
    let (base, handle) = start().await;
    let answer = call_whoami(&format!("{base}/signed-in")).await;
    let who = &answer["result"]["structuredContent"];
    assert_eq!(who["id"], "ada", "{answer}");
    assert_eq!(who["email"], "ada@example.test");
    assert_eq!(who["name"], "Ada Lovelace");
    assert_eq!(who["scopes"], json!(["openid", "email"]));
    handle.stop(false).await;
}

#[actix_web::test]
async fn a_tool_without_a_user_gets_an_mcp_error_and_the_server_keeps_serving() {
    let (base, handle) = start().await;
    let answer = call_whoami(&format!("{base}/anonymous")).await;
    assert_eq!(answer["error"]["code"], -32603, "{answer}");
    assert!(answer.get("result").is_none());
    // The failure was an answer, not a crashed worker.
    let again = call_whoami(&format!("{base}/signed-in")).await;
    assert_eq!(again["result"]["structuredContent"]["id"], "ada", "{again}");
    handle.stop(false).await;
}

#[actix_web::test]
async fn without_the_hook_the_user_never_reaches_the_tool() {
    let (base, handle) = start().await;
    let answer = call_whoami(&format!("{base}/no-hook")).await;
    assert_eq!(answer["error"]["code"], -32603, "{answer}");
    handle.stop(false).await;
}

//! An MCP session belongs to the user who opened it: two signed-in users, each with a real
//! signed token checked by `JwksVerifier` in `RequireAuth`, one rmcp-actix-web service with
//! its `LocalSessionManager`, raw MCP over HTTP on 127.0.0.1. The other user gets the same
//! `404` as for a session that does not exist, on POST, GET (with and without `Last-Event-ID`)
//! and DELETE, and the owner's session is untouched by the attempts.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use actix_mcp_oauth::{forward_auth_user, JwksVerifier, RequireAuth, SessionBinding};
use actix_web::{dev::ServerHandle, web, App, HttpServer};
use awc::http::StatusCode;
use rmcp::transport::streamable_http_server::session::{SessionId, SessionManager};
use rmcp_actix_web::transport::{LocalSessionManager, StreamableHttpService};
use serde_json::{json, Value};

use crate::fixtures::{jwks, signed, Key, Whoami};

const ISS: &str = "https://issuer.example";
const AUD: &str = "mcp-api";
const SESSION: &str = "mcp-session-id";

fn key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| Key::generate("ES256"))
}

fn token(sub: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    signed(
        "k1",
        key(),
        &json!({ "iss": ISS, "aud": AUD, "sub": sub, "iat": now, "exp": now + 600 }),
    )
}

/// The proxy's verification stack in front of an rmcp service; with a binding (made from the
/// service's session manager), sessions are bound to their users.
async fn start(
    binding: impl FnOnce(&Arc<LocalSessionManager>) -> Option<SessionBinding>,
) -> (String, Arc<LocalSessionManager>, ServerHandle) {
    let verifier = JwksVerifier::builder()
        .jwks(jwks(&[("k1", key())]).to_string())
        .issuer(ISS)
        .audience(AUD)
        .build()
        .expect("verifier");
    let sessions = Arc::new(LocalSessionManager::default());
    let binding = binding(&sessions);
    let mcp = StreamableHttpService::builder()
        .service_factory(Arc::new(|| Ok(Whoami)))
        .session_manager(Arc::clone(&sessions))
        .on_request_fn(forward_auth_user)
        .build();
    let verifier = Arc::new(verifier);
    let server = HttpServer::new(move || {
        let auth =
            RequireAuth::new(Arc::clone(&verifier), "http://127.0.0.1/mcp").expect("resource");
        let scope = web::scope("/mcp");
        match binding.clone() {
            Some(binding) => {
                App::new().service(scope.wrap(binding).wrap(auth).service(mcp.clone().scope()))
            }
            None => App::new().service(scope.wrap(auth).service(mcp.clone().scope())),
        }
    })
    .workers(2)
    .bind(("127.0.0.1", 0))
    .expect("bind 127.0.0.1:0");
    let addr = server.addrs()[0];
    let running = server.run();
    let handle = running.handle();
    actix_web::rt::spawn(running);
    (format!("http://{addr}/mcp"), sessions, handle)
}

struct Answer {
    status: StatusCode,
    session: Option<String>,
    /// Every header but `date`, sorted.
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    /// The JSON-RPC message of an SSE or JSON answer.
    fn message(&self) -> Value {
        let data = self
            .body
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
            .find(|d| !d.is_empty())
            .unwrap_or(&self.body);
        serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn send(
    method: &str,
    url: &str,
    bearer: &str,
    session: Option<&str>,
    extra: &[(&str, &str)],
    body: Option<Value>,
) -> Answer {
    let client = awc::Client::default();
    let mut req = client
        .request(method.parse().expect("method"), url)
        .insert_header(("authorization", format!("Bearer {bearer}")))
        .insert_header(("accept", "application/json, text/event-stream"))
        .insert_header(("mcp-protocol-version", "2025-06-18"));
    if let Some(id) = session {
        req = req.insert_header((SESSION, id));
    }
    for (k, v) in extra {
        req = req.insert_header((*k, *v));
    }
    let mut res = match body {
        Some(body) => req.send_json(&body).await,
        None => req.send().await,
    }
    .expect("request sent");
    let status = res.status();
    let session = res
        .headers()
        .get(SESSION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut headers: Vec<(String, String)> = res
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str() != "date")
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_owned()))
        .collect();
    headers.sort();
    // A standalone GET stream stays open: only its status matters here.
    let is_stream = method == "GET" && status.is_success();
    let body = if is_stream {
        String::new()
    } else {
        String::from_utf8_lossy(&res.body().await.expect("body")).into_owned()
    };
    Answer {
        status,
        session,
        headers,
        body,
    }
}

/// `initialize` then `notifications/initialized`: the new session's id.
async fn open_session(url: &str, bearer: &str) -> String {
    let init = send(
        "POST",
        url,
        bearer,
        None,
        &[],
        Some(json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": { "name": "test", "version": "0" }
            }
        })),
    )
    .await;
    assert_eq!(init.status, StatusCode::OK, "{}", init.body);
    let id = init
        .session
        .expect("a session id in the answer to initialize");
    let done = send(
        "POST",
        url,
        bearer,
        Some(&id),
        &[],
        Some(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" })),
    )
    .await;
    assert_eq!(done.status, StatusCode::ACCEPTED, "{}", done.body);
    id
}

async fn whoami(url: &str, bearer: &str, session: &str) -> Answer {
    send(
        "POST",
        url,
        bearer,
        Some(session),
        &[],
        Some(json!({
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": { "name": "whoami", "arguments": {} }
        })),
    )
    .await
}

fn sse() -> [(&'static str, &'static str); 1] {
    [("accept", "text/event-stream")]
}

#[actix_web::test]
async fn another_user_gets_404_for_a_session_on_post_get_resume_and_delete() {
    let binding = SessionBinding::builder().build().expect("binding");
    let (url, _, handle) = start(|_| Some(binding.clone())).await;
    let (ada, bob) = (token("ada"), token("bob"));

    let session = open_session(&url, &ada).await;
    let own = whoami(&url, &ada, &session).await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.message()["result"]["structuredContent"]["id"], "ada");

    let unknown = whoami(&url, &bob, "no-such-session").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let post = whoami(&url, &bob, &session).await;
    assert_eq!(post.status, StatusCode::NOT_FOUND, "{}", post.body);
    assert_eq!(post.body, unknown.body, "a foreign session looks unknown");
    let get = send("GET", &url, &bob, Some(&session), &sse(), None).await;
    assert_eq!(get.status, StatusCode::NOT_FOUND);
    let resume = [("accept", "text/event-stream"), ("last-event-id", "0")];
    let replay = send("GET", &url, &bob, Some(&session), &resume, None).await;
    assert_eq!(replay.status, StatusCode::NOT_FOUND);
    let delete = send("DELETE", &url, &bob, Some(&session), &[], None).await;
    assert_eq!(delete.status, StatusCode::NOT_FOUND);

    // Nothing Bob tried reached the session: it still answers Ada, as Ada.
    let still = whoami(&url, &ada, &session).await;
    assert_eq!(still.status, StatusCode::OK, "{}", still.body);
    assert_eq!(still.message()["result"]["structuredContent"]["id"], "ada");
    let stream = send("GET", &url, &ada, Some(&session), &sse(), None).await;
    assert_eq!(stream.status, StatusCode::OK);

    // Bob's own session is his alone, in the same binding.
    let bobs = open_session(&url, &bob).await;
    assert_eq!(
        whoami(&url, &ada, &bobs).await.status,
        StatusCode::NOT_FOUND
    );
    let his = whoami(&url, &bob, &bobs).await;
    assert_eq!(his.message()["result"]["structuredContent"]["id"], "bob");
    assert_eq!(binding.len(), 2);

    // The owner ends the session; then it is gone for everyone, the binding too.
    let ended = send("DELETE", &url, &ada, Some(&session), &[], None).await;
    assert!(ended.status.is_success(), "{}", ended.status);
    assert_eq!(
        whoami(&url, &ada, &session).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(binding.len(), 1);
    handle.stop(false).await;
}

/// What the binding prevents: the same attempt against the transport alone succeeds.
#[actix_web::test]
async fn without_the_binding_another_user_can_drive_and_delete_a_session() {
    let (url, _, handle) = start(|_| None).await;
    let (ada, bob) = (token("ada"), token("bob"));
    let session = open_session(&url, &ada).await;
    let post = whoami(&url, &bob, &session).await;
    assert_eq!(post.status, StatusCode::OK, "{}", post.body);
    let delete = send("DELETE", &url, &bob, Some(&session), &[], None).await;
    assert!(delete.status.is_success());
    assert_eq!(
        whoami(&url, &ada, &session).await.status,
        StatusCode::NOT_FOUND
    );
    handle.stop(false).await;
}

#[actix_web::test]
async fn a_user_opening_sessions_in_a_loop_keeps_only_the_newest_and_others_keep_theirs() {
    let sessions_bound = 3;
    let mut made = None;
    let (url, sessions, handle) = start(|sessions| {
        let binding = SessionBinding::builder()
            .max_sessions_per_user(sessions_bound)
            .closing(Arc::clone(sessions))
            .build()
            .expect("binding");
        made = Some(binding.clone());
        Some(binding)
    })
    .await;
    let binding = made.expect("binding made");
    let (ada, bob) = (token("ada"), token("bob"));
    let bobs = open_session(&url, &bob).await;
    let mut opened = Vec::new();
    for _ in 0..8 {
        opened.push(open_session(&url, &ada).await);
    }
    assert_eq!(binding.len(), sessions_bound + 1);
    let (old, newest) = opened.split_at(opened.len() - sessions_bound);
    for id in old {
        assert_eq!(whoami(&url, &ada, id).await.status, StatusCode::NOT_FOUND);
        // Closed in the session manager too, not only forgotten (closing runs in the
        // background, so give it a moment).
        let id: SessionId = id.clone().into();
        let mut open = true;
        for _ in 0..50 {
            open = sessions.has_session(&id).await.expect("has_session");
            if !open {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!open, "an evicted session was closed in rmcp");
    }
    for id in newest {
        assert_eq!(whoami(&url, &ada, id).await.status, StatusCode::OK);
    }
    assert_eq!(whoami(&url, &bob, &bobs).await.status, StatusCode::OK);
    handle.stop(false).await;
}

#[actix_web::test]
async fn a_foreign_session_gets_exactly_rmcps_own_unknown_session_404() {
    let binding = SessionBinding::builder().build().expect("binding");
    let (url, sessions, handle) = start(|_| Some(binding.clone())).await;
    let (ada, bob) = (token("ada"), token("bob"));
    // rmcp's genuine answer: a session Ada owns that rmcp itself has closed.
    let closed = open_session(&url, &ada).await;
    sessions
        .close_session(&SessionId::from(closed.clone()))
        .await
        .expect("closed in rmcp");
    let genuine = whoami(&url, &ada, &closed).await;
    assert_eq!(genuine.status, StatusCode::NOT_FOUND);
    assert_eq!(
        binding.len(),
        0,
        "rmcp's unknown-session 404 drops the binding"
    );
    // Ours, for Bob on Ada's live session.
    let live = open_session(&url, &ada).await;
    let foreign = whoami(&url, &bob, &live).await;
    assert_eq!(
        (foreign.status, &foreign.headers, &foreign.body),
        (genuine.status, &genuine.headers, &genuine.body),
        "a foreign session looks exactly like an unknown one"
    );
    // The same on the stream, its resumption and DELETE: status, headers and body.
    let resume = [("accept", "text/event-stream"), ("last-event-id", "0")];
    let others: [(&str, &[(&str, &str)]); 3] = [("GET", &sse()), ("GET", &resume), ("DELETE", &[])];
    for (method, extra) in others {
        let genuine = send(method, &url, &ada, Some(&closed), extra, None).await;
        assert_eq!(genuine.status, StatusCode::NOT_FOUND, "{method} {extra:?}");
        let foreign = send(method, &url, &bob, Some(&live), extra, None).await;
        assert_eq!(
            (foreign.status, &foreign.headers, &foreign.body),
            (genuine.status, &genuine.headers, &genuine.body),
            "{method} {extra:?}: a foreign session looks exactly like an unknown one"
        );
    }
    assert_eq!(whoami(&url, &ada, &live).await.status, StatusCode::OK);
    handle.stop(false).await;
}

#[actix_web::test]
async fn a_404_that_is_not_rmcps_unknown_session_keeps_the_binding() {
    let binding = SessionBinding::builder().build().expect("binding");
    let verifier = Arc::new(
        JwksVerifier::builder()
            .jwks(jwks(&[("k1", key())]).to_string())
            .issuer(ISS)
            .audience(AUD)
            .build()
            .expect("verifier"),
    );
    let sessions = Arc::new(LocalSessionManager::default());
    let mcp = StreamableHttpService::builder()
        .service_factory(Arc::new(|| Ok(Whoami)))
        .session_manager(Arc::clone(&sessions))
        .on_request_fn(forward_auth_user)
        .build();
    let bound = binding.clone();
    let server = HttpServer::new(move || {
        let auth =
            RequireAuth::new(Arc::clone(&verifier), "http://127.0.0.1/mcp").expect("resource");
        // A route of the application's own under the same binding answers 404 for its reasons.
        App::new().service(
            web::scope("/mcp")
                .wrap(bound.clone())
                .wrap(auth)
                .route(
                    "/missing",
                    web::post().to(|| async {
                        actix_web::HttpResponse::NotFound().body("no such thing here")
                    }),
                )
                .service(mcp.clone().scope()),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("bind");
    let url = format!("http://{}/mcp", server.addrs()[0]);
    let running = server.run();
    let handle = running.handle();
    actix_web::rt::spawn(running);
    let ada = token("ada");
    let session = open_session(&url, &ada).await;
    let missing = send(
        "POST",
        &format!("{url}/missing"),
        &ada,
        Some(&session),
        &[],
        Some(json!({})),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(binding.len(), 1, "another 404 leaves the binding");
    assert_eq!(whoami(&url, &ada, &session).await.status, StatusCode::OK);
    handle.stop(false).await;
}

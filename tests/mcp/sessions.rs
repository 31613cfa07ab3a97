//! An MCP session belongs to the user who opened it: two signed-in users, each with a real
//! signed token checked by `JwksVerifier` in `RequireAuth`, one rmcp-actix-web service with
//! its `LocalSessionManager`, raw MCP over HTTP on 127.0.0.1. The other user gets the same
//! `404` as for a session that does not exist, on POST, GET (with and without `Last-Event-ID`)
//! and DELETE, and the owner's session is untouched by the attempts; the owner's own
//! resumption replays through the binding intact. The bounds hold in rmcp too: a session the
//! binding refuses, evicts or finds idle is closed in the session manager.

use std::{
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use actix_mcp_oauth::{
    forward_auth_user, JwksVerifier, RequireAuth, SessionBinding, SessionBindingBuilder,
};
use actix_web::{
    dev::{ServerHandle, Service},
    web, App, HttpServer,
};
use awc::http::StatusCode;
use futures::StreamExt;
use rmcp::{
    service::RequestContext,
    tool, tool_router,
    transport::streamable_http_server::session::{SessionId, SessionManager},
    RoleServer, ServerHandler,
};
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

/// A server under test: its URL, rmcp's session manager, the binding (when there is one), and
/// every session id rmcp issued, recorded before the binding sees the answer.
struct Server {
    url: String,
    sessions: Arc<LocalSessionManager>,
    binding: Option<SessionBinding>,
    issued: Arc<Mutex<Vec<String>>>,
    handle: ServerHandle,
}

impl Server {
    fn binding(&self) -> &SessionBinding {
        self.binding.as_ref().expect("a server with a binding")
    }

    /// How many sessions rmcp holds.
    async fn rmcp_sessions(&self) -> usize {
        self.sessions.sessions.read().await.len()
    }

    /// rmcp's session count once the binding's background closes are done (or after a
    /// second, whichever is first).
    async fn rmcp_sessions_settled(&self, expected: usize) -> usize {
        for _ in 0..50 {
            if self.rmcp_sessions().await == expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.rmcp_sessions().await
    }
}

/// The proxy's verification stack in front of an rmcp service with `sessions`; with a binding
/// (`bind` configures its builder), sessions are bound to their users.
async fn start_with<S: ServerHandler + Clone>(
    service: S,
    sessions: LocalSessionManager,
    bind: Option<fn(SessionBindingBuilder) -> SessionBindingBuilder>,
) -> Server {
    let verifier = JwksVerifier::builder()
        .jwks(jwks(&[("k1", key())]).to_string())
        .issuer(ISS)
        .audience(AUD)
        .build()
        .expect("verifier");
    let sessions = Arc::new(sessions);
    let binding = bind.map(|bind| {
        bind(SessionBinding::builder(Arc::clone(&sessions)))
            .build()
            .expect("binding")
    });
    let mcp = StreamableHttpService::builder()
        .service_factory(Arc::new(move || Ok(service.clone())))
        .session_manager(Arc::clone(&sessions))
        .on_request_fn(forward_auth_user)
        .build();
    let verifier = Arc::new(verifier);
    let issued = Arc::new(Mutex::new(Vec::new()));
    let (bound, recorded) = (binding.clone(), Arc::clone(&issued));
    let server = HttpServer::new(move || {
        let auth =
            RequireAuth::new(Arc::clone(&verifier), "http://127.0.0.1/mcp").expect("resource");
        let recorded = Arc::clone(&recorded);
        // Innermost: sees rmcp's own answer, before the binding.
        let scope = web::scope("/mcp").wrap_fn(move |req, srv| {
            let fut = srv.call(req);
            let recorded = Arc::clone(&recorded);
            async move {
                let res = fut.await?;
                if let Some(id) = res.headers().get(SESSION).and_then(|v| v.to_str().ok()) {
                    recorded.lock().unwrap().push(id.to_owned());
                }
                Ok(res)
            }
        });
        match bound.clone() {
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
    Server {
        url: format!("http://{addr}/mcp"),
        sessions,
        binding,
        issued,
        handle,
    }
}

/// rmcp's default session manager, bound with `bind`.
async fn start(bind: fn(SessionBindingBuilder) -> SessionBindingBuilder) -> Server {
    start_with(Whoami, LocalSessionManager::default(), Some(bind)).await
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
    // A GET stream stays open: only its status matters here (`stream_until` reads one).
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

/// `initialize`, without a session.
async fn initialize(url: &str, bearer: &str) -> Answer {
    send(
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
    .await
}

/// `initialize` then `notifications/initialized`: the new session's id.
async fn open_session(url: &str, bearer: &str) -> String {
    let init = initialize(url, bearer).await;
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
    let server = start(|b| b).await;
    let (url, binding) = (&server.url, server.binding());
    let (ada, bob) = (token("ada"), token("bob"));

    let session = open_session(url, &ada).await;
    let own = whoami(url, &ada, &session).await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.message()["result"]["structuredContent"]["id"], "ada");

    let unknown = whoami(url, &bob, "no-such-session").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let post = whoami(url, &bob, &session).await;
    assert_eq!(post.status, StatusCode::NOT_FOUND, "{}", post.body);
    assert_eq!(post.body, unknown.body, "a foreign session looks unknown");
    let get = send("GET", url, &bob, Some(&session), &sse(), None).await;
    assert_eq!(get.status, StatusCode::NOT_FOUND);
    let resume = [("accept", "text/event-stream"), ("last-event-id", "0")];
    let replay = send("GET", url, &bob, Some(&session), &resume, None).await;
    assert_eq!(replay.status, StatusCode::NOT_FOUND);
    let delete = send("DELETE", url, &bob, Some(&session), &[], None).await;
    assert_eq!(delete.status, StatusCode::NOT_FOUND);

    // Nothing Bob tried reached the session: it still answers Ada, as Ada.
    let still = whoami(url, &ada, &session).await;
    assert_eq!(still.status, StatusCode::OK, "{}", still.body);
    assert_eq!(still.message()["result"]["structuredContent"]["id"], "ada");
    let stream = send("GET", url, &ada, Some(&session), &sse(), None).await;
    assert_eq!(stream.status, StatusCode::OK);

    // Bob's own session is his alone, in the same binding.
    let bobs = open_session(url, &bob).await;
    assert_eq!(whoami(url, &ada, &bobs).await.status, StatusCode::NOT_FOUND);
    let his = whoami(url, &bob, &bobs).await;
    assert_eq!(his.message()["result"]["structuredContent"]["id"], "bob");
    assert_eq!(binding.len(), 2);

    // The owner ends the session; then it is gone for everyone, the binding too.
    let ended = send("DELETE", url, &ada, Some(&session), &[], None).await;
    assert!(ended.status.is_success(), "{}", ended.status);
    assert_eq!(
        whoami(url, &ada, &session).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(binding.len(), 1);
    server.handle.stop(false).await;
}

/// What the binding prevents: the same attempt against the transport alone succeeds.
#[actix_web::test]
async fn without_the_binding_another_user_can_drive_and_delete_a_session() {
    let server = start_with(Whoami, LocalSessionManager::default(), None).await;
    let url = &server.url;
    let (ada, bob) = (token("ada"), token("bob"));
    let session = open_session(url, &ada).await;
    let post = whoami(url, &bob, &session).await;
    assert_eq!(post.status, StatusCode::OK, "{}", post.body);
    let delete = send("DELETE", url, &bob, Some(&session), &[], None).await;
    assert!(delete.status.is_success());
    assert_eq!(
        whoami(url, &ada, &session).await.status,
        StatusCode::NOT_FOUND
    );
    server.handle.stop(false).await;
}

#[actix_web::test]
async fn a_user_opening_sessions_in_a_loop_keeps_only_the_newest_and_others_keep_theirs() {
    const SESSIONS_BOUND: usize = 3;
    let sessions_bound = SESSIONS_BOUND;
    let server = start(|b| b.max_sessions_per_user(SESSIONS_BOUND)).await;
    let (url, sessions, binding) = (&server.url, &server.sessions, server.binding());
    let (ada, bob) = (token("ada"), token("bob"));
    let bobs = open_session(url, &bob).await;
    let mut opened = Vec::new();
    for _ in 0..8 {
        opened.push(open_session(url, &ada).await);
    }
    assert_eq!(binding.len(), sessions_bound + 1);
    let (old, newest) = opened.split_at(opened.len() - sessions_bound);
    for id in old {
        assert_eq!(whoami(url, &ada, id).await.status, StatusCode::NOT_FOUND);
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
        assert_eq!(whoami(url, &ada, id).await.status, StatusCode::OK);
    }
    assert_eq!(whoami(url, &bob, &bobs).await.status, StatusCode::OK);
    server.handle.stop(false).await;
}

#[actix_web::test]
async fn a_foreign_session_gets_exactly_rmcps_own_unknown_session_404() {
    let server = start(|b| b).await;
    let (url, sessions, binding) = (&server.url, &server.sessions, server.binding());
    let (ada, bob) = (token("ada"), token("bob"));
    // rmcp's genuine answer: a session Ada owns that rmcp itself has closed.
    let closed = open_session(url, &ada).await;
    sessions
        .close_session(&SessionId::from(closed.clone()))
        .await
        .expect("closed in rmcp");
    let genuine = whoami(url, &ada, &closed).await;
    assert_eq!(genuine.status, StatusCode::NOT_FOUND);
    assert_eq!(
        binding.len(),
        0,
        "rmcp's unknown-session 404 drops the binding"
    );
    // Ours, for Bob on Ada's live session.
    let live = open_session(url, &ada).await;
    let foreign = whoami(url, &bob, &live).await;
    assert_eq!(
        (foreign.status, &foreign.headers, &foreign.body),
        (genuine.status, &genuine.headers, &genuine.body),
        "a foreign session looks exactly like an unknown one"
    );
    // The same on the stream, its resumption and DELETE: status, headers and body.
    let resume = [("accept", "text/event-stream"), ("last-event-id", "0")];
    let others: [(&str, &[(&str, &str)]); 3] = [("GET", &sse()), ("GET", &resume), ("DELETE", &[])];
    for (method, extra) in others {
        let genuine = send(method, url, &ada, Some(&closed), extra, None).await;
        assert_eq!(genuine.status, StatusCode::NOT_FOUND, "{method} {extra:?}");
        let foreign = send(method, url, &bob, Some(&live), extra, None).await;
        assert_eq!(
            (foreign.status, &foreign.headers, &foreign.body),
            (genuine.status, &genuine.headers, &genuine.body),
            "{method} {extra:?}: a foreign session looks exactly like an unknown one"
        );
    }
    assert_eq!(whoami(url, &ada, &live).await.status, StatusCode::OK);
    server.handle.stop(false).await;
}

#[actix_web::test]
async fn a_404_that_is_not_rmcps_unknown_session_keeps_the_binding() {
    let sessions = Arc::new(LocalSessionManager::default());
    let binding = SessionBinding::builder(Arc::clone(&sessions))
        .build()
        .expect("binding");
    let verifier = Arc::new(
        JwksVerifier::builder()
            .jwks(jwks(&[("k1", key())]).to_string())
            .issuer(ISS)
            .audience(AUD)
            .build()
            .expect("verifier"),
    );
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

/// An MCP server whose `announce` tool tells the client, on the session's own stream (not in
/// the answer to the call), that the tool and then the resource list changed.
#[derive(Clone)]
struct Announcer;

#[tool_router(server_handler)]
impl Announcer {
    #[tool(description = "Announces changed tool and resource lists on the session's stream")]
    async fn announce(&self, context: RequestContext<RoleServer>) -> String {
        let tools = context.peer.notify_tool_list_changed().await;
        let resources = context.peer.notify_resource_list_changed().await;
        format!("{:?}", (tools.is_ok(), resources.is_ok()))
    }
}

/// The events a `GET` stream delivers until one contains `needle` (or five seconds pass).
async fn stream_until(
    url: &str,
    bearer: &str,
    session: &str,
    last_event_id: &str,
    needle: &str,
) -> (StatusCode, String) {
    let mut res = awc::Client::default()
        .get(url)
        .insert_header(("authorization", format!("Bearer {bearer}")))
        .insert_header(("accept", "text/event-stream"))
        .insert_header(("mcp-protocol-version", "2025-06-18"))
        .insert_header((SESSION, session))
        .insert_header(("last-event-id", last_event_id))
        .send()
        .await
        .expect("request sent");
    // Read whatever the answer is: a refusal's body must be as empty as an unknown session's.
    let mut body = String::new();
    let read = async {
        while let Some(chunk) = res.next().await {
            body.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            if body.contains(needle) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
    (res.status(), body)
}

#[actix_web::test]
async fn the_owner_resumes_the_sessions_stream_with_last_event_id_through_the_binding() {
    let server = start_with(Announcer, LocalSessionManager::default(), Some(|b| b)).await;
    let url = &server.url;
    let (ada, bob) = (token("ada"), token("bob"));
    let session = open_session(url, &ada).await;
    let announce = json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": { "name": "announce", "arguments": {} }
    });
    // Two events on the session's stream while no client listens (event ids 0 and 1).
    let call = send(
        "POST",
        url,
        &ada,
        Some(&session),
        &[],
        Some(announce.clone()),
    )
    .await;
    assert_eq!(call.status, StatusCode::OK, "{}", call.body);
    assert!(call.body.contains("(true, true)"), "{}", call.body);

    // The client had event 0: it asks for what came after.
    let later = "notifications/resources/list_changed";
    let (status, resumed) = stream_until(url, &ada, &session, "0", later).await;
    assert_eq!(status, StatusCode::OK);
    let replayed: Vec<&str> = resumed
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    assert!(
        replayed.iter().any(|d| d.contains(later)),
        "the event after Last-Event-ID is replayed, intact: {resumed:?}"
    );
    for data in &replayed {
        let event: Value = serde_json::from_str(data).expect("each replayed event is whole JSON");
        assert_eq!(event["jsonrpc"], "2.0");
    }
    assert!(
        resumed.lines().any(|l| l.trim() == "id: 1"),
        "with its event id: {resumed:?}"
    );

    // Bob, with the same id and Last-Event-ID, learns nothing.
    let (status, body) = stream_until(url, &bob, &session, "0", later).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let unknown = stream_until(url, &bob, "no-such-session", "0", later).await;
    assert_eq!(
        (status, body),
        unknown,
        "the same answer as for an unknown session"
    );
    // And the session goes on.
    let again = send("POST", url, &ada, Some(&session), &[], Some(announce)).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    server.handle.stop(false).await;
}

#[actix_web::test]
async fn sessions_the_binding_refuses_or_evicts_are_closed_in_rmcp() {
    let server = start(|b| b.max_sessions(3).max_sessions_per_user(2)).await;
    let (url, sessions) = (&server.url, &server.sessions);
    let (ada, bob) = (token("ada"), token("bob"));
    let ada_first = open_session(url, &ada).await;
    let ada_second = open_session(url, &ada).await;
    let bobs = open_session(url, &bob).await;
    assert_eq!(server.rmcp_sessions().await, 3);

    // Full of live sessions: ten more users are each refused, and what rmcp opened for them
    // is closed again.
    for i in 0..10 {
        let refused = initialize(url, &token(&format!("user-{i}"))).await;
        assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.session, None, "no session id for a refused session");
    }
    assert_eq!(
        server.rmcp_sessions_settled(3).await,
        3,
        "rmcp's count grew"
    );
    let issued = server.issued.lock().unwrap().clone();
    assert_eq!(
        issued.len(),
        13,
        "rmcp opened a session for every initialize"
    );
    for (i, id) in issued[3..].iter().enumerate() {
        let id = SessionId::from(id.clone());
        assert!(!sessions.has_session(&id).await.expect("has_session"));
        let user = token(&format!("user-{i}"));
        assert_eq!(whoami(url, &user, &id).await.status, StatusCode::NOT_FOUND);
    }

    // Ada past her own bound: her least recently used session goes, in rmcp too.
    assert_eq!(whoami(url, &ada, &ada_first).await.status, StatusCode::OK);
    let ada_third = open_session(url, &ada).await;
    assert_eq!(server.rmcp_sessions_settled(3).await, 3);
    let gone = SessionId::from(ada_second.clone());
    assert!(!sessions.has_session(&gone).await.expect("has_session"));
    assert_eq!(
        whoami(url, &ada, &ada_second).await.status,
        StatusCode::NOT_FOUND
    );
    for (user, id) in [(&ada, &ada_first), (&ada, &ada_third), (&bob, &bobs)] {
        assert_eq!(whoami(url, user, id).await.status, StatusCode::OK);
    }
    assert_eq!(server.binding().len(), 3);
    server.handle.stop(false).await;
}

/// The binding's idle time is rmcp's `keep_alive`: a session rmcp has ended for idleness no
/// longer counts against the bounds, and its owner gets the `404` that makes a client open a
/// new one.
#[actix_web::test]
async fn a_session_idle_for_rmcps_keep_alive_leaves_the_binding_and_rmcp() {
    let mut briefly = LocalSessionManager::default();
    briefly.session_config.keep_alive = Some(Duration::from_secs(2));
    let server = start_with(Whoami, briefly, Some(|b| b)).await;
    let (url, binding) = (&server.url, server.binding());
    let (ada, bob) = (token("ada"), token("bob"));
    let idle = open_session(url, &ada).await;
    assert_eq!(binding.len(), 1);
    tokio::time::sleep(Duration::from_millis(3_500)).await;

    // A request to any other session drops the idle binding (and closes it in rmcp).
    let bobs = open_session(url, &bob).await;
    assert_eq!(binding.len(), 1, "only Bob's new session is bound");
    assert_eq!(server.rmcp_sessions_settled(1).await, 1);
    let gone = SessionId::from(idle.clone());
    assert!(!server
        .sessions
        .has_session(&gone)
        .await
        .expect("has_session"));
    let answer = whoami(url, &ada, &idle).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
    assert_eq!(whoami(url, &bob, &bobs).await.status, StatusCode::OK);
    server.handle.stop(false).await;
}

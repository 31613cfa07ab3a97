//! A keep-alive client gets each streamed (SSE) MCP response at once, not after the ~40 ms that
//! Nagle's algorithm and the client's delayed ACK add between them when `TCP_NODELAY` is off.
//!
//! A real actix server on 127.0.0.1 mounted as `examples/mcp_server.rs` mounts its `/mcp` scope
//! (`RequireAuth` outside rmcp-actix-web in its default stateful SSE mode, the user forwarded
//! with `forward_auth_user`), with a verifier that accepts one token instead of the example's
//! proxy (which needs a provider to start); per attempt one new TCP connection carrying every
//! request in turn. The same server without `tcp_nodelay(true)` shows the delay the option
//! removes, so the test proves the option matters, not only that the server is fast. Bounded:
//! at most 20 + 3 attempts of 14 requests, each read given up after 10 s.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    sync::Arc,
    time::{Duration, Instant},
};

use actix_mcp_oauth::{
    forward_auth_user, verify::FnVerifier, Claims, RequireAuth, TokenVerifier, VerifyError,
};
use actix_web::{web, App, HttpServer};
use futures::future::ready;
use rmcp_actix_web::transport::{LocalSessionManager, StreamableHttpService};
use serde_json::json;

use crate::fixtures::Whoami;

const TOKEN: &str = "the-one-token";
/// Sequential `tools/call`s on one connection per attempt; without the option the first few
/// may be spared by TCP quick-ACK at the start of a connection, most are not.
const CALLS: usize = 12;
/// Attempts with the option, each on a fresh connection, until one has every call under
/// `PROMPT`: a scheduling stall of the shared machine (parallel tests, builds: calls then take
/// up to ~14 ms) spoils a call of some attempts, not of twenty, while a delayed ACK, even on
/// every fourth answer, spoils each. An attempt takes ~10-100 ms.
const ATTEMPTS: usize = 20;
/// Attempts without the option, every one of which must show the stall on most calls (all
/// twelve do, in practice).
const CONTROL_ATTEMPTS: usize = 3;
/// What every call of a clean attempt stays under with the option: a loopback round trip plus
/// the work is about a millisecond, the delayed ACK 40 ms.
const PROMPT: Duration = Duration::from_millis(10);
/// What a delayed call takes at least without the option (Linux delays an ACK 40 ms).
const DELAYED: Duration = Duration::from_millis(30);

fn verifier() -> impl TokenVerifier {
    FnVerifier::new(|token: String| {
        ready(if token == TOKEN {
            let mut claims = serde_json::Map::new();
            claims.insert("sub".into(), json!("ada"));
            Ok(Claims::new(claims))
        } else {
            Err(VerifyError::Signature)
        })
    })
}

async fn start(nodelay: bool) -> (SocketAddr, actix_web::dev::ServerHandle) {
    let auth = RequireAuth::new(verifier(), "http://127.0.0.1/mcp").expect("valid resource");
    let mcp = StreamableHttpService::builder()
        .service_factory(Arc::new(|| Ok(Whoami)))
        .session_manager(Arc::new(LocalSessionManager::default()))
        .on_request_fn(forward_auth_user)
        .build();
    let server = HttpServer::new(move || {
        App::new().service(
            web::scope("/mcp")
                .wrap(auth.clone())
                .service(mcp.clone().scope()),
        )
    })
    .workers(1)
    .tcp_nodelay(nodelay)
    .bind(("127.0.0.1", 0))
    .expect("bind 127.0.0.1:0");
    let addr = server.addrs()[0];
    let running = server.run();
    let handle = running.handle();
    actix_web::rt::spawn(running);
    (addr, handle)
}

/// One HTTP/1.1 exchange on a kept-alive connection: the status, the `Mcp-Session-Id` if any,
/// and the body (chunked or sized).
struct Exchange {
    status: u16,
    session: Option<String>,
    body: String,
}

fn post(
    conn: &mut BufReader<TcpStream>,
    addr: SocketAddr,
    session: Option<&str>,
    body: &str,
) -> Exchange {
    let session_header = session.map_or(String::new(), |s| format!("mcp-session-id: {s}\r\n"));
    let request = format!(
        "POST /mcp HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {TOKEN}\r\n\
         content-type: application/json\r\naccept: application/json, text/event-stream\r\n\
         mcp-protocol-version: 2025-06-18\r\n{session_header}content-length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.get_mut()
        .write_all(request.as_bytes())
        .expect("request written");
    let mut line = String::new();
    conn.read_line(&mut line).expect("status line");
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line, got {line:?}"));
    let (mut length, mut chunked, mut session) = (None, false, None);
    loop {
        line.clear();
        conn.read_line(&mut line).expect("header line");
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').expect("a header");
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "mcp-session-id" => session = Some(value.to_owned()),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line).expect("chunk size");
            let size = usize::from_str_radix(line.trim_end(), 16).expect("a hex chunk size");
            let mut chunk = vec![0; size + 2];
            conn.read_exact(&mut chunk).expect("chunk");
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        let mut sized = vec![0; length.unwrap_or(0)];
        conn.read_exact(&mut sized).expect("body");
        body = sized;
    }
    Exchange {
        status,
        session,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Initializes a session, then times `CALLS` sequential `tools/call whoami` on the same
/// connection.
fn time_calls(addr: SocketAddr) -> Vec<Duration> {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut conn = BufReader::new(stream);
    let init = post(
        &mut conn,
        addr,
        None,
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"0"}}}"#,
    );
    assert_eq!(init.status, 200, "initialize: {}", init.body);
    let session = init.session.expect("an Mcp-Session-Id");
    let ack = post(
        &mut conn,
        addr,
        Some(&session),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    assert_eq!(ack.status, 202, "notifications/initialized: {}", ack.body);
    (1..=CALLS)
        .map(|id| {
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"whoami","arguments":{{}}}}}}"#
            );
            let started = Instant::now();
            let call = post(&mut conn, addr, Some(&session), &body);
            let took = started.elapsed();
            assert_eq!(call.status, 200, "tools/call: {}", call.body);
            assert!(
                call.body.starts_with("data:") || call.body.contains("\ndata:"),
                "a streamed (SSE) answer: {}",
                call.body
            );
            assert!(call.body.contains(r#""id":"ada""#), "{}", call.body);
            took
        })
        .collect()
}

/// Up to `most` rounds of [`time_calls`], each on a new connection, until one passes `done`.
async fn attempts(nodelay: bool, most: usize, done: fn(&[Duration]) -> bool) -> Vec<Vec<Duration>> {
    let (addr, handle) = start(nodelay).await;
    let rounds = actix_web::rt::task::spawn_blocking(move || {
        let mut rounds = Vec::new();
        while rounds.len() < most {
            let times = time_calls(addr);
            let finished = done(&times);
            rounds.push(times);
            if finished {
                break;
            }
        }
        rounds
    })
    .await
    .expect("client thread");
    handle.stop(false).await;
    rounds
}

#[actix_web::test]
async fn tcp_nodelay_removes_the_delayed_ack_stall_from_every_streamed_answer_on_a_kept_alive_connection(
) {
    let prompt = |times: &[Duration]| times.iter().all(|t| *t < PROMPT);
    let with = attempts(true, ATTEMPTS, prompt).await;
    assert!(
        with.last().is_some_and(|times| prompt(times)),
        "with TCP_NODELAY no attempt of {CALLS} streamed answers on a kept-alive connection \
         had every one under {PROMPT:?}: {with:?}"
    );
    // Nagle's algorithm holds the end of each streamed answer until the client ACKs its start,
    // which the client delays (it has nothing to send meanwhile). Every attempt is run.
    let without = attempts(false, CONTROL_ATTEMPTS, |_| false).await;
    for times in &without {
        let delayed = times.iter().filter(|t| **t >= DELAYED).count();
        assert!(
            delayed * 2 > CALLS,
            "without TCP_NODELAY most calls of every attempt should wait >= {DELAYED:?} for \
             the delayed ACK; got {times:?} (all attempts: {without:?})"
        );
    }
}

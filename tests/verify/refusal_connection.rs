//! A refused request keeps its kept-alive connection when its body is small: a client refused
//! for an expired token retries with a fresh one on the same connection (no new TLS handshake),
//! and a repeated bad token costs no new connection. A body too large to drain, or one that
//! trickles in, does not hold the refusal back: it is answered at once (or after the short
//! drain wait) and the connection closes. A real actix server on 127.0.0.1, raw HTTP/1.1.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    thread,
    time::{Duration, Instant},
};

use actix_mcp_oauth::{RequireAuth, VerifyError};
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::fixtures::Calls;

fn refuse(_: &str) -> Result<actix_mcp_oauth::Claims, VerifyError> {
    Err(VerifyError::Signature)
}

/// Sends one POST with `body` and reads the answer: the status and whether the server said it
/// closes the connection.
fn post(conn: &mut BufReader<TcpStream>, addr: SocketAddr, body: &str) -> (u16, bool) {
    let request = format!(
        "POST /mcp HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer bad-token\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
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
    let (mut length, mut close) = (0, false);
    loop {
        line.clear();
        conn.read_line(&mut line).expect("header line");
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().expect("a length"),
            "connection" => close = value.trim().eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    conn.read_exact(&mut vec![0; length]).expect("body");
    (status, close)
}

/// A refusing server on 127.0.0.1:0 with one worker, and its handle.
fn refusing_server(calls: &Calls) -> (SocketAddr, actix_web::dev::ServerHandle) {
    let auth =
        RequireAuth::new(calls.verifier(refuse), "http://127.0.0.1/mcp").expect("valid resource");
    let server = HttpServer::new(move || {
        App::new().service(
            web::scope("/mcp")
                .wrap(auth.clone())
                .route("", web::post().to(HttpResponse::Ok)),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("bind 127.0.0.1:0");
    let addr = server.addrs()[0];
    let running = server.run();
    let handle = running.handle();
    actix_web::rt::spawn(running);
    (addr, handle)
}

/// Sends the headers of a POST declaring `declared` body bytes and `sent` of them, then one
/// byte every 50 ms from another thread while `trickle` (until the server hangs up); returns
/// the status, how long it took to come, and whether the server then closed the connection.
fn refused_with_partial_body(
    addr: SocketAddr,
    declared: usize,
    sent: usize,
    trickle: bool,
) -> (u16, Duration, bool) {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut writer = stream.try_clone().expect("clone");
    let started = Instant::now();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer bad-token\r\n\
         content-type: application/json\r\ncontent-length: {declared}\r\n\r\n{}",
        "x".repeat(sent)
    );
    writer.write_all(head.as_bytes()).expect("request written");
    if trickle {
        thread::spawn(move || {
            for _ in sent..declared {
                thread::sleep(Duration::from_millis(50));
                if writer.write_all(b"x").is_err() {
                    break;
                }
            }
        });
    }
    let mut conn = BufReader::new(stream);
    let mut line = String::new();
    conn.read_line(&mut line).expect("status line");
    let took = started.elapsed();
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line, got {line:?}"));
    // Past the answer the server must hang up: reading ends (or the reset of unread bytes
    // surfaces as an error) instead of timing out.
    let mut rest = Vec::new();
    let closed = match conn.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    };
    (status, took, closed)
}

#[actix_web::test]
async fn an_oversized_body_gets_its_refusal_at_once_and_the_connection_closes() {
    let calls = Calls::default();
    let (addr, handle) = refusing_server(&calls);
    // 1 MiB declared, 100 bytes sent: draining would wait for bytes that never come.
    let (status, took, closed) = actix_web::rt::task::spawn_blocking(move || {
        refused_with_partial_body(addr, 1024 * 1024, 100, false)
    })
    .await
    .expect("client thread");
    handle.stop(false).await;
    assert_eq!(status, 401);
    assert!(took < Duration::from_secs(2), "the refusal waited {took:?}");
    assert!(closed, "the connection with the unread body was closed");
}

#[actix_web::test]
async fn a_trickled_body_gets_its_refusal_after_the_drain_wait_and_the_connection_closes() {
    let calls = Calls::default();
    let (addr, handle) = refusing_server(&calls);
    // 1 000 bytes declared (small enough to drain), arriving one every 50 ms: 50 s in all.
    let (status, took, closed) = actix_web::rt::task::spawn_blocking(move || {
        refused_with_partial_body(addr, 1000, 10, true)
    })
    .await
    .expect("client thread");
    handle.stop(false).await;
    assert_eq!(status, 401);
    assert!(took < Duration::from_secs(2), "the refusal waited {took:?}");
    assert!(closed, "the connection with the unread body was closed");
}

#[actix_web::test]
async fn a_refused_request_with_a_small_body_keeps_its_connection() {
    let calls = Calls::default();
    let auth =
        RequireAuth::new(calls.verifier(refuse), "http://127.0.0.1/mcp").expect("valid resource");
    let server = HttpServer::new(move || {
        App::new().service(
            web::scope("/mcp")
                .wrap(auth.clone())
                .route("", web::post().to(HttpResponse::Ok)),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("bind 127.0.0.1:0");
    let addr = server.addrs()[0];
    let running = server.run();
    let handle = running.handle();
    actix_web::rt::spawn(running);

    let answers = actix_web::rt::task::spawn_blocking(move || {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        let mut conn = BufReader::new(stream);
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        // The first refusal is verified, the next ones come from the refusal cache: both
        // kinds must keep the connection.
        (0..3)
            .map(|_| post(&mut conn, addr, body))
            .collect::<Vec<_>>()
    })
    .await
    .expect("client thread");
    handle.stop(false).await;
    assert_eq!(
        answers,
        vec![(401, false); 3],
        "(status, connection closed)"
    );
    assert_eq!(calls.count(), 1);
}

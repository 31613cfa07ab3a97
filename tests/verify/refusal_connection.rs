//! A refused request keeps its kept-alive connection when its body is small: a client refused
//! for an expired token retries with a fresh one on the same connection (no new TLS handshake),
//! and a repeated bad token costs no new connection. A real actix server on 127.0.0.1, one TCP
//! connection, raw HTTP/1.1.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
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

//! No secret reaches a log line: the whole flow and its error paths run with a logger that
//! records everything down to `trace`, and none of the secrets appear in it.
//!
//! The logger is the process's, so it also records what the other tests of this binary log
//! meanwhile, and their lines are checked for the same secrets. Request input reaches a log
//! line escaped, so it cannot forge a record. Other tests read it too ([`logged`]) to tell
//! which refusal the proxy made.

use std::sync::{Mutex, Once};

use actix_mcp_oauth::clock::ManualClock;
use actix_web::http::StatusCode;

use crate::fixtures::*;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Recorder;

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        LINES.lock().unwrap().push(format!(
            "{} {}: {}",
            record.level(),
            record.target(),
            record.args()
        ));
    }
    fn flush(&self) {}
}

/// Installs the recorder, once for the whole test binary.
pub(crate) fn record_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&Recorder).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// How many lines recorded so far contain `needle`.
pub(crate) fn logged(needle: &str) -> usize {
    LINES
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(needle))
        .count()
}

#[actix_web::test]
async fn no_token_code_or_secret_is_ever_logged() {
    record_logs();

    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let (code, _) = code_for(&proxy, &client_id).await;
    let other = register(&proxy, &[CLIENT_REDIRECT]).await;
    assert_eq!(
        redeem(&proxy, &other, &code).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        redeem(&proxy, &client_id, &code).await.status,
        StatusCode::OK
    );
    assert_eq!(
        redeem(&proxy, &client_id, &code).await.status,
        StatusCode::BAD_REQUEST
    );
    let tampered_codes = tampered(&code);
    for bad in &tampered_codes {
        redeem(&proxy, &client_id, bad).await;
    }
    up.set_mode(TokenMode::ErrorIn200);
    let refresh = post_form(
        &proxy.url("/token"),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client_id),
            ("refresh_token", "rt-up-code-1"),
        ],
    )
    .await;
    assert_eq!(refresh.status, StatusCode::BAD_REQUEST);
    // Request input that would forge a log record if printed as it came: a repeated
    // parameter named with a newline (the refusal names the parameter).
    let forged = "x%0AINFO%20admin%20signed%20in";
    let query = format!("client_id={client_id}&{forged}=1&{forged}=2");
    get(&proxy.url(&format!("/authorize?{query}"))).await;
    up.stop().await;

    let lines = LINES.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("actix_mcp_oauth")),
        "the proxy did log something: {lines:#?}"
    );
    let mut secrets = vec![
        UPSTREAM_SECRET,
        "up-code-1",
        "at-up-code-1",
        "rt-up-code-1",
        VERIFIER,
        code.as_str(),
    ];
    secrets.extend(tampered_codes.iter().map(String::as_str));
    for line in lines.iter() {
        assert!(
            !line.contains("\nINFO admin signed in"),
            "request input reached the log unescaped: {line}"
        );
        for secret in &secrets {
            assert!(!line.contains(secret), "`{secret}` logged in: {line}");
        }
    }
}

//! No secret reaches a log line: the whole flow and its error paths run with a logger that
//! records everything down to `trace`, and none of the secrets appear in it.
//!
//! The logger is the process's, so it also records what the other tests of this binary log
//! meanwhile, and their lines are checked for the same secrets. Request input reaches a log
//! line escaped, so it cannot forge a record. Other tests read it too ([`logged`]) to tell
//! which refusal the proxy made.

use std::sync::{Mutex, Once};

use actix_mcp_oauth::{clock::ManualClock, proxy::TokenMode as ProxyTokenMode};
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

    let mut secrets: Vec<String> = vec![UPSTREAM_SECRET.into(), VERIFIER.into()];
    secrets.extend(flow(ProxyTokenMode::Passthrough).await);
    secrets.extend(flow(ProxyTokenMode::Issued).await);

    let lines = LINES.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("actix_mcp_oauth")),
        "the proxy did log something: {lines:#?}"
    );
    // The forged parameter name was logged, escaped: the check below is not vacuous.
    assert!(
        lines.iter().any(|l| l.contains(r"x\nINFO admin signed in")),
        "the forged parameter name was not logged escaped: {lines:#?}"
    );
    for line in lines.iter() {
        assert!(
            !line.contains("\nINFO admin signed in"),
            "request input reached the log unescaped: {line}"
        );
        for secret in &secrets {
            assert!(
                !line.contains(secret.as_str()),
                "`{secret}` logged in: {line}"
            );
        }
    }
}

/// The whole flow in `mode` and its error paths, with a fresh upstream: the secrets it saw.
async fn flow(mode: ProxyTokenMode) -> Vec<String> {
    let up = Upstream::start().await;
    let proxy = up
        .proxy(&key(1), ManualClock::at(T0))
        .token_mode(mode)
        .build()
        .unwrap();
    let proxy = ProxyServer::start(proxy).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let (code, _) = code_for(&proxy, &client_id).await;
    let other = register(&proxy, &[CLIENT_REDIRECT]).await;
    assert_eq!(
        redeem(&proxy, &other, &code).await.status,
        StatusCode::BAD_REQUEST
    );
    let tokens = redeem(&proxy, &client_id, &code).await;
    assert_eq!(tokens.status, StatusCode::OK);
    let tokens = tokens.json();
    assert_eq!(
        redeem(&proxy, &client_id, &code).await.status,
        StatusCode::BAD_REQUEST
    );
    let mut secrets: Vec<String> = [
        "up-code-1",
        "at-up-code-1",
        "rt-up-code-1",
        "at-refreshed-rt-up-code-1",
    ]
    .map(String::from)
    .to_vec();
    secrets.push(code.clone());
    secrets.extend(tampered(&code));
    for bad in tampered(&code) {
        redeem(&proxy, &client_id, &bad).await;
    }
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    secrets.extend([access.clone(), refresh.clone()]);
    // The proxy's own PKCE verifier for the upstream (issued mode).
    secrets.extend(
        up.seen("/token")
            .iter()
            .filter_map(|seen| seen.form_param("code_verifier")),
    );
    assert_eq!(mcp_as(&proxy, &access).await.status, StatusCode::OK);
    let issued = mode == ProxyTokenMode::Issued;
    if issued {
        for bad in tampered(&access) {
            mcp_as(&proxy, &bad).await;
        }
        secrets.extend(tampered(&access));
        let refreshed = refresh_with(&proxy, &other, &refresh).await;
        assert_eq!(refreshed.status, StatusCode::BAD_REQUEST);
    }
    let refreshed = refresh_with(&proxy, &client_id, &refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text());
    for name in ["access_token", "refresh_token"] {
        if let Some(token) = refreshed.json()[name].as_str() {
            secrets.push(token.to_owned());
        }
    }
    refresh_with(&proxy, &client_id, &refresh).await;
    post_form(
        &proxy.url("/revoke"),
        &[("client_id", &client_id), ("token", &access)],
    )
    .await;
    mcp_as(&proxy, &access).await;
    up.set_mode(TokenMode::ErrorIn200);
    let refresh = refresh_with(&proxy, &client_id, "rt-up-code-1").await;
    assert_eq!(refresh.status, StatusCode::BAD_REQUEST);
    // A sign-in whose upstream exchange fails at the callback (issued mode).
    let browser = Browser::new();
    let sent = to_upstream(&proxy, &browser, &authorize_query(&client_id, &[])).await;
    let back = through_upstream(&proxy, &browser, &sent).await;
    assert_eq!(back.status, StatusCode::FOUND);
    // Request input that would forge a log record if printed as it came: a repeated
    // parameter named with a newline (the refusal names the parameter).
    let forged = "x%0AINFO%20admin%20signed%20in";
    let query = format!("client_id={client_id}&{forged}=1&{forged}=2");
    get(&proxy.url(&format!("/authorize?{query}"))).await;
    proxy.stop().await;
    up.stop().await;
    secrets.into_iter().filter(|s| s.len() > 8).collect()
}

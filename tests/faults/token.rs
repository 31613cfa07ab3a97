//! The proxy against a token endpoint that misbehaves, at both places it calls it: `/token`'s
//! refresh grant (each answer a clean RFC 6749 error, `server_error` with 502 or 503) and, in
//! issued mode, the code exchange at the sign-in callback (each answer the RFC 6749 §4.1.2.1
//! error redirect to the client, `error=server_error` with the client's `state`). Every answer
//! comes within the configured timeout, carries nothing of the upstream's, and the next good
//! request on the same single worker succeeds.

use std::time::{Duration, Instant};

use actix_mcp_oauth::{proxy::TokenMode, verify::FnVerifier, OAuthProxy, ProxyKey, VerifyError};
use actix_web::{dev::ServerHandle, App, HttpServer};
use serde_json::{json, Value};

use crate::upstream::{Faulty, Mode};

const TIMEOUT: Duration = Duration::from_secs(1);
/// What a request may take beyond the timeout on a loaded machine.
const SLACK: Duration = Duration::from_secs(2);
const MIB: usize = 1024 * 1024;

fn tokens() -> Value {
    json!({ "access_token": "at-1", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "rt-2" })
}

struct Proxy {
    base: String,
    handle: ServerHandle,
    client_id: String,
}

impl Proxy {
    /// The proxy on one worker (a stuck worker would stall every later request), its token
    /// endpoint at `upstream`, and a client registered at it.
    async fn start(upstream: &Faulty) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let proxy = OAuthProxy::builder()
            .public_url(base.as_str())
            .auth_endpoint(upstream.url("/authorize"))
            .token_endpoint(upstream.url("/token"))
            .issuer(upstream.url(""))
            .client_id("proxy-at-upstream")
            .client_secret("upstream-secret")
            .verifier(FnVerifier::new(|_t: String| async {
                Err(VerifyError::Rejected("unused".into()))
            }))
            .proxy_key(ProxyKey::generate())
            .upstream_timeout(TIMEOUT)
            // The refresh grant of passthrough mode is one call to the faulty token endpoint per
            // request, with no sign-in first; issued mode makes the same call (and maps its
            // answer the same way) at the callback and when a sealed refresh token is used.
            .token_mode(TokenMode::Passthrough)
            .build()
            .expect("proxy");
        let server = HttpServer::new(move || App::new().service(proxy.scope()))
            .workers(1)
            .disable_signals()
            .listen(listener)
            .expect("listen")
            .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let mut res = awc::Client::default()
            .post(format!("{base}/register"))
            .send_json(&json!({ "redirect_uris": ["http://127.0.0.1:3000/cb"] }))
            .await
            .expect("register");
        let doc: Value = res.json().await.expect("registration JSON");
        let client_id = doc["client_id"].as_str().expect("client_id").to_owned();
        Self {
            base,
            handle,
            client_id,
        }
    }

    /// A refresh-token grant, which the proxy forwards to the token endpoint as it is.
    async fn refresh(&self) -> (u16, Value, Duration) {
        let (status, doc, elapsed, _) = self.refresh_whole().await;
        (status, doc, elapsed)
    }

    /// [`refresh`](Self::refresh), with the whole answer as text too: every header and the
    /// body.
    async fn refresh_whole(&self) -> (u16, Value, Duration, String) {
        let started = Instant::now();
        let mut res = awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .finish()
            .post(format!("{}/token", self.base))
            .send_form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "rt-1"),
                ("client_id", self.client_id.as_str()),
            ])
            .await
            .expect("the proxy answers");
        let body = res.body().await.expect("body");
        let elapsed = started.elapsed();
        let doc = serde_json::from_slice(&body).unwrap_or_else(|_| {
            panic!("not JSON: {}", String::from_utf8_lossy(&body));
        });
        let mut whole: String = res
            .headers()
            .iter()
            .map(|(name, value)| format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes())))
            .collect();
        whole.push_str(&String::from_utf8_lossy(&body));
        (res.status().as_u16(), doc, elapsed, whole)
    }

    async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// Runs `fault` then a good request: the fault gets `status` with `server_error` in time, the
/// good one its tokens.
async fn check(name: &str, fault: Mode, status: u16) {
    let upstream = Faulty::start(Mode::json(200, &tokens()));
    let proxy = Proxy::start(&upstream).await;
    upstream.set(fault);
    let (got, doc, elapsed) = proxy.refresh().await;
    assert_eq!(got, status, "{name}: {doc}");
    assert_eq!(doc["error"], "server_error", "{name}: {doc}");
    assert!(doc["error_description"].is_string(), "{name}: {doc}");
    assert!(
        elapsed < TIMEOUT + SLACK,
        "{name}: answered after {elapsed:?}"
    );
    upstream.set(Mode::json(200, &tokens()));
    let (got, doc, _) = proxy.refresh().await;
    assert_eq!(got, 200, "{name}: the next good request: {doc}");
    assert_eq!(doc["access_token"], "at-1");
    proxy.stop().await;
}

#[actix_web::test]
async fn a_token_endpoint_slower_than_the_timeout_is_a_503_in_time() {
    check(
        "slow",
        Mode::Slow(Duration::from_secs(5), tokens().to_string()),
        503,
    )
    .await;
}

#[actix_web::test]
async fn a_connection_reset_is_a_503() {
    check("reset", Mode::Reset, 503).await;
}

#[actix_web::test]
async fn an_html_500_is_a_502_without_the_html() {
    let html = "<html><body>Internal error at db-7.internal</body></html>";
    let mode = Mode::Answer {
        status: 500,
        content_type: "text/html",
        body: html.into(),
    };
    check("html 500", mode.clone(), 502).await;
    // Nothing of the upstream's answer reaches the client, in a header or the body.
    let upstream = Faulty::start(mode);
    let proxy = Proxy::start(&upstream).await;
    let (status, _, _, whole) = proxy.refresh_whole().await;
    assert_eq!(status, 502, "{whole}");
    for leaked in [
        "db-7.internal",
        "Internal error",
        "<html",
        "<body",
        "text/html",
    ] {
        assert!(!whole.contains(leaked), "{leaked} in {whole}");
    }
    proxy.stop().await;
}

#[actix_web::test]
async fn invalid_json_is_a_502() {
    let mode = Mode::Answer {
        status: 200,
        content_type: "application/json",
        body: r#"{"access_token": "at-1", "#.into(),
    };
    check("invalid json", mode, 502).await;
}

#[actix_web::test]
async fn a_50_mib_body_is_a_502_and_is_not_read_to_the_end() {
    for declared in [true, false] {
        let upstream = Faulty::start(Mode::json(200, &tokens()));
        let proxy = Proxy::start(&upstream).await;
        upstream.set(Mode::Huge {
            bytes: 50 * MIB,
            declared,
        });
        let (got, doc, elapsed) = proxy.refresh().await;
        assert_eq!(got, 502, "declared {declared}: {doc}");
        assert_eq!(doc["error"], "server_error");
        assert!(elapsed < TIMEOUT + SLACK, "answered after {elapsed:?}");
        // The proxy stopped reading long before the end (socket buffers hold a few MiB).
        assert!(
            upstream.written() < 50 * MIB,
            "{} bytes sent",
            upstream.written()
        );
        upstream.set(Mode::json(200, &tokens()));
        assert_eq!(proxy.refresh().await.0, 200, "declared {declared}");
        proxy.stop().await;
    }
}

#[actix_web::test]
async fn a_redirect_is_a_502_and_is_not_followed() {
    for status in [302, 307, 308] {
        let elsewhere = Faulty::start(Mode::json(200, &tokens()));
        let mode = Mode::Redirect {
            status,
            location: elsewhere.url("/token"),
        };
        check(&format!("redirect {status}"), mode, 502).await;
        assert_eq!(
            elsewhere.requests(),
            0,
            "the credentials went to the redirect target"
        );
    }
}

#[actix_web::test]
async fn an_upstream_error_body_is_mapped_not_passed_on() {
    let upstream = Faulty::start(Mode::json(
        400,
        &json!({
            "error": "invalid_grant",
            "error_description": "refresh token rt-1 of user 42 revoked by admin@corp",
            "error_uri": "https://idp.internal/errors/42",
            "trace_id": "abc"
        }),
    ));
    let proxy = Proxy::start(&upstream).await;
    let (status, doc, _) = proxy.refresh().await;
    assert_eq!(status, 400);
    assert_eq!(doc["error"], "invalid_grant");
    let text = doc.to_string();
    for leaked in ["admin@corp", "idp.internal", "trace_id", "rt-1"] {
        assert!(!text.contains(leaked), "{leaked} in {text}");
    }
    proxy.stop().await;
}

/// A client registered ahead (issued mode signs in without a consent page only when
/// registration is closed) and where it wants its code.
const CLIENT: &str = "fault-client";
const CLIENT_REDIRECT: &str = "http://127.0.0.1:3000/cb";

/// The proxy in issued mode on one worker, its token endpoint at `upstream`, with a verifier
/// that accepts the upstream's `at-1`.
async fn start_issued(upstream: &Faulty) -> (String, ServerHandle) {
    use actix_mcp_oauth::{proxy::ConsentMode, Claims};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let proxy = OAuthProxy::builder()
        .public_url(base.as_str())
        .auth_endpoint(upstream.url("/authorize"))
        .token_endpoint(upstream.url("/token"))
        .issuer(upstream.url(""))
        .client_id("proxy-at-upstream")
        .client_secret("upstream-secret")
        .verifier(FnVerifier::new(|token: String| async move {
            match token.as_str() {
                "at-1" => {
                    let claims = json!({ "sub": "ada", "exp": u64::MAX / 2 });
                    Ok(Claims::new(claims.as_object().cloned().unwrap_or_default()))
                }
                _ => Err(VerifyError::Rejected("not the upstream's token".into())),
            }
        }))
        .proxy_key(ProxyKey::generate())
        .upstream_timeout(TIMEOUT)
        .token_mode(TokenMode::Issued)
        .dynamic_registration(false)
        .static_client(CLIENT, [CLIENT_REDIRECT])
        .consent_mode(ConsentMode::Off)
        .build()
        .expect("proxy");
    let server = HttpServer::new(move || App::new().service(proxy.scope()))
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (base, handle)
}

/// A sign-in up to the callback: `/authorize` (which sends the browser upstream with a sealed
/// `state` and sets the browser-binding cookie), then the upstream's return to the callback
/// with a code, which the proxy redeems at the token endpoint. The callback's status, its
/// `Location`, the whole answer as text, and how long the callback took.
async fn sign_in(base: &str) -> (u16, String, String, Duration) {
    let client = awc::Client::builder()
        .disable_redirects()
        .timeout(Duration::from_secs(30))
        .finish();
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let query = format!(
        "response_type=code&client_id={CLIENT}&redirect_uri={}&code_challenge={challenge}\
         &code_challenge_method=S256&state=client-state-7",
        url::form_urlencoded::byte_serialize(CLIENT_REDIRECT.as_bytes()).collect::<String>()
    );
    let sent = client
        .get(format!("{base}/authorize?{query}"))
        .send()
        .await
        .expect("authorize answers");
    assert!(sent.status().is_redirection(), "{}", sent.status());
    let cookies: Vec<String> = sent
        .headers()
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_owned)
        .collect();
    let upstream = url::Url::parse(
        sent.headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("sent upstream"),
    )
    .expect("absolute");
    let state = upstream
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state");
    let started = Instant::now();
    let mut back = client
        .get(format!("{base}/oauth/callback"))
        .query(&[("code", "up-code-1"), ("state", state.as_str())])
        .expect("query")
        .insert_header(("cookie", cookies.join("; ")))
        .send()
        .await
        .expect("the callback answers");
    let body = back.body().await.expect("body");
    let elapsed = started.elapsed();
    let location = back
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut whole: String = back
        .headers()
        .iter()
        .map(|(name, value)| format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes())))
        .collect();
    whole.push_str(&String::from_utf8_lossy(&body));
    (back.status().as_u16(), location, whole, elapsed)
}

/// Each fault of the token endpoint at the callback: an error redirect to the client with
/// `server_error` and its `state`, in time, with nothing of the upstream's answer; then a good
/// sign-in on the same worker gets its code.
#[actix_web::test]
async fn each_fault_at_the_callback_code_exchange_is_an_error_redirect_in_time() {
    let elsewhere = Faulty::start(Mode::json(200, &tokens()));
    let html = "<html><body>Internal error at db-7.internal</body></html>";
    let faults = vec![
        (
            "slow",
            Mode::Slow(Duration::from_secs(5), tokens().to_string()),
        ),
        ("reset", Mode::Reset),
        (
            "html 500",
            Mode::Answer {
                status: 500,
                content_type: "text/html",
                body: html.into(),
            },
        ),
        (
            "huge",
            Mode::Huge {
                bytes: 50 * MIB,
                declared: false,
            },
        ),
        (
            "invalid json",
            Mode::Answer {
                status: 200,
                content_type: "application/json",
                body: r#"{"access_token": "at-1", "#.into(),
            },
        ),
        (
            "redirect",
            Mode::Redirect {
                status: 307,
                location: elsewhere.url("/token"),
            },
        ),
    ];
    let upstream = Faulty::start(Mode::json(200, &tokens()));
    let (base, handle) = start_issued(&upstream).await;
    for (name, fault) in faults {
        upstream.set(fault);
        let (status, location, whole, elapsed) = sign_in(&base).await;
        assert_eq!(status, 302, "{name}: {whole}");
        let to = url::Url::parse(&location).expect("absolute Location");
        assert!(location.starts_with(CLIENT_REDIRECT), "{name}: {location}");
        let param = |key: &str| {
            to.query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(param("error").as_deref(), Some("server_error"), "{name}");
        assert_eq!(param("state").as_deref(), Some("client-state-7"), "{name}");
        assert_eq!(param("code"), None, "{name}");
        assert!(
            elapsed < TIMEOUT + SLACK,
            "{name}: answered after {elapsed:?}"
        );
        for leaked in ["db-7.internal", "Internal error", "at-1", "rt-2", "<html"] {
            assert!(!whole.contains(leaked), "{name}: {leaked} in {whole}");
        }
        upstream.set(Mode::json(200, &tokens()));
        let (status, location, whole, _) = sign_in(&base).await;
        assert_eq!(status, 302, "{name}: the next sign-in: {whole}");
        assert!(
            location.starts_with(CLIENT_REDIRECT) && location.contains("code="),
            "{name}: the next sign-in: {location}"
        );
    }
    assert_eq!(
        upstream.requests(),
        12,
        "each sign-in reached the token endpoint once"
    );
    assert_eq!(elsewhere.requests(), 0, "the redirect was followed");
    assert!(
        upstream.written() < 50 * MIB,
        "the huge body was read to the end"
    );
    handle.stop(false).await;
}

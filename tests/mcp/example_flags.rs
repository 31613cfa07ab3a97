//! The example server's load-test switches, as the built binary reads them from its environment:
//! `LOAD_ROUTES=1` adds `/load/bare`, `MCP_STATELESS=1` answers a `tools/call` without a session
//! as plain JSON, and `ACCEPT_UPSTREAM_TOKENS=1` admits the provider's own access tokens at
//! `/mcp` in issued mode. Each is checked against the same binary without it.
//!
//! The upstream is the e2e suite's OpenID provider; `benches/sign-in.mjs` signs in through the
//! example in passthrough mode, which hands out the provider's token. Three short-lived example
//! processes on one port, one after the other. Needs `node`, `npm ci` in `tests/e2e` and the
//! example built (`cargo test --all-targets --all-features` builds it); without them the test
//! says so and passes.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::fixtures::{missing, OidcProvider};

const CLIENT_ID: &str = "example-flags-client";
const TEST_SUB: &str = "e2e-user-7f3a9c";
const WHOAMI: &str =
    r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#;

/// The example server's binary, built next to this test's by `cargo test --all-targets`.
fn example_server() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("examples/mcp_server");
    bin.is_file().then_some(bin)
}

/// The example server with `flags` on top of its provider settings, stopped when dropped.
struct Example(Child);

impl Example {
    async fn start(
        bin: &Path,
        issuer: &str,
        secret: &str,
        port: u16,
        flags: &[(&str, &str)],
    ) -> Self {
        let child = Command::new(bin)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("UPSTREAM_ISSUER", issuer)
            .env("UPSTREAM_CLIENT_ID", CLIENT_ID)
            .env("UPSTREAM_CLIENT_SECRET", secret)
            .env("UPSTREAM_AUDIENCE", CLIENT_ID)
            .env("PORT", port.to_string())
            .env("RUST_LOG", "error")
            .envs(flags.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .expect("the example server starts");
        let example = Self(child);
        let started = Instant::now();
        let client = awc::Client::default();
        while !client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the example server with {flags:?} did not answer on / within 30 s"
            );
            actix_rt::time::sleep(Duration::from_millis(100)).await;
        }
        example
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Signs in through the example at `public_url` as an MCP client does; the access token.
async fn sign_in(public_url: String) -> String {
    let out = std::env::temp_dir().join(format!("example-flags-{}.token", std::process::id()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/sign-in.mjs");
    let (status, out) = actix_web::rt::task::spawn_blocking(move || {
        // sign-in.mjs gives up after 30 s on its own.
        let status = Command::new("node")
            .arg(script)
            .arg(public_url)
            .arg(&out)
            .status();
        (status, out)
    })
    .await
    .expect("sign-in thread");
    assert!(
        status.as_ref().is_ok_and(|s| s.success()),
        "benches/sign-in.mjs: {status:?}"
    );
    let token = std::fs::read_to_string(&out).expect("the token file");
    let _ = std::fs::remove_file(&out);
    token.trim().to_owned()
}

/// POSTs `WHOAMI` to `path`, with `token` when given: the status, the content type and the body.
async fn call(port: u16, path: &str, token: Option<&str>) -> (u16, String, String) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let mut request = client
        .post(format!("http://127.0.0.1:{port}{path}"))
        .insert_header(("content-type", "application/json"))
        .insert_header(("accept", "application/json, text/event-stream"))
        .insert_header(("mcp-protocol-version", "2025-06-18"));
    if let Some(token) = token {
        request = request.insert_header(("authorization", format!("Bearer {token}")));
    }
    let mut response = request.send_body(WHOAMI).await.expect("an answer");
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.body().await.expect("a body");
    (
        response.status().as_u16(),
        kind,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn whoami_id(body: &str) -> Option<String> {
    let answer: Value = serde_json::from_str(body).ok()?;
    assert_eq!(answer["id"], 7, "{body}");
    answer["result"]["structuredContent"]["id"]
        .as_str()
        .map(str::to_owned)
}

#[actix_web::test]
async fn the_example_serves_the_load_routes_stateless_calls_and_upstream_tokens_only_when_asked() {
    if let Some(why) = missing() {
        eprintln!("skipped: {why}");
        return;
    }
    let Some(bin) = example_server() else {
        eprintln!(
            "skipped: examples/mcp_server is not built (cargo test --all-targets --all-features)"
        );
        return;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let public_url = format!("http://127.0.0.1:{port}");
    let secret = format!("example-flags-secret-{}", std::process::id());
    let provider = OidcProvider::start(CLIENT_ID, &secret, &[("PUBLIC_URL", &public_url)]);
    let issuer = provider.issuer.clone();

    // Passthrough, with both switches: the token signed in with is the provider's own.
    let example = Example::start(
        &bin,
        &issuer,
        &secret,
        port,
        &[
            ("TOKEN_MODE", "passthrough"),
            ("LOAD_ROUTES", "1"),
            ("MCP_STATELESS", "1"),
        ],
    )
    .await;
    let upstream_token = sign_in(public_url.clone()).await;
    let (status, _, body) = call(port, "/load/bare", None).await;
    assert_eq!(status, 200, "LOAD_ROUTES=1: /load/bare is served: {body}");
    assert!(whoami_id(&body).is_some(), "the whoami answer: {body}");
    let (status, kind, body) = call(port, "/mcp", Some(&upstream_token)).await;
    assert_eq!(
        status, 200,
        "MCP_STATELESS=1: a call without a session: {body}"
    );
    assert!(
        kind.starts_with("application/json"),
        "plain JSON, not SSE: {kind}"
    );
    assert_eq!(whoami_id(&body).as_deref(), Some(TEST_SUB), "{body}");
    drop(example);

    // Issued mode, accepting upstream tokens, neither switch.
    let example = Example::start(
        &bin,
        &issuer,
        &secret,
        port,
        &[("ACCEPT_UPSTREAM_TOKENS", "1")],
    )
    .await;
    let (status, _, body) = call(port, "/load/bare", None).await;
    assert_eq!(status, 404, "no LOAD_ROUTES, no /load/bare: {body}");
    let (status, _, body) = call(port, "/mcp", Some(&upstream_token)).await;
    assert!(
        status != 401 && status != 403,
        "ACCEPT_UPSTREAM_TOKENS=1: the provider's token is admitted: {status} {body}"
    );
    assert!(
        (400..500).contains(&status) && body.to_ascii_lowercase().contains("session"),
        "stateful without MCP_STATELESS: rmcp refuses a call without a session: {status} {body}"
    );
    drop(example);

    // Issued mode alone: the provider's token is not the proxy's.
    let _example = Example::start(&bin, &issuer, &secret, port, &[]).await;
    let (status, _, body) = call(port, "/mcp", Some(&upstream_token)).await;
    assert_eq!(status, 401, "without ACCEPT_UPSTREAM_TOKENS: {body}");
}

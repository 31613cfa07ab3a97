//! `RequireAuth` with a `JwksVerifier` whose key set misbehaves: down, slow, garbage, huge,
//! duplicate `kid`s. Without keys the answer is the documented 503 (`temporarily_unavailable`)
//! within the fetch timeout; keys already fetched keep serving through every fault; the next
//! good fetch is used.

use std::{
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use actix_mcp_oauth::{
    clock::{Clock, ManualClock},
    JwksVerifier, RequireAuth,
};
use actix_web::{dev::ServerHandle, web, App, HttpResponse, HttpServer};
use serde_json::json;

use crate::{
    jose::{jwks, signed, Key},
    upstream::{Faulty, Mode},
};

const ISS: &str = "https://issuer.example";
const AUD: &str = "api";
const T0: u64 = 1_700_000_000;
const FETCH_TIMEOUT: Duration = Duration::from_secs(1);
const SLACK: Duration = Duration::from_secs(2);
/// Past the default refetch interval, so that a new fetch may start.
const LATER: u64 = 61;
const MIB: usize = 1024 * 1024;

fn key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| Key::generate("ES256"))
}

fn other() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| Key::generate("ES256"))
}

fn token(kid: &str, key: &Key) -> String {
    signed(
        kid,
        key,
        &json!({ "iss": ISS, "aud": AUD, "sub": "ada", "iat": T0, "exp": T0 + 86_400 }),
    )
}

fn good() -> Mode {
    Mode::json(200, &jwks(&[("k1", key())]))
}

struct Api {
    base: String,
    handle: ServerHandle,
    clock: Arc<ManualClock>,
}

impl Api {
    /// `/api` behind `RequireAuth` on one worker, keys from `jwks_url`.
    async fn start(jwks_url: String) -> Self {
        let clock = ManualClock::at(T0);
        let verifier = Arc::new(
            JwksVerifier::builder()
                .jwks_url(jwks_url)
                .issuer(ISS)
                .audience(AUD)
                .fetch_timeout(FETCH_TIMEOUT)
                .clock(Arc::clone(&clock) as Arc<dyn Clock>)
                .build()
                .expect("verifier"),
        );
        let auth_clock = Arc::clone(&clock);
        let server = HttpServer::new(move || {
            let auth = RequireAuth::new(Arc::clone(&verifier), "http://127.0.0.1/api")
                .expect("resource")
                .clock(Arc::clone(&auth_clock) as Arc<dyn Clock>)
                // Every request reaches the verifier, so each shows what the key set does.
                .cache_capacity(0);
            App::new().service(
                web::scope("/api")
                    .wrap(auth)
                    .route("", web::get().to(HttpResponse::Ok)),
            )
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("bind");
        let base = format!("http://{}", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            base,
            handle,
            clock,
        }
    }

    /// The status, `WWW-Authenticate` and body of `GET /api` with `token`, and how long it
    /// took.
    async fn get(&self, token: &str) -> (u16, String, Duration) {
        let started = Instant::now();
        let mut res = awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .finish()
            .get(format!("{}/api", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("the API answers");
        let challenge = res
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = res.body().await.expect("body");
        let said = format!("{challenge} {}", String::from_utf8_lossy(&body));
        (res.status().as_u16(), said, started.elapsed())
    }

    fn later(&self) {
        self.clock.advance(LATER);
    }

    async fn stop(self) {
        self.handle.stop(false).await;
    }
}

fn assert_unavailable(name: &str, (status, challenge, elapsed): (u16, String, Duration)) {
    assert_eq!(status, 503, "{name}: {challenge}");
    assert!(
        challenge.contains("temporarily_unavailable"),
        "{name}: {challenge}"
    );
    assert!(
        elapsed < FETCH_TIMEOUT + SLACK,
        "{name}: answered after {elapsed:?}"
    );
}

/// The faults a key set can have, each with what it does to a verifier without keys. The
/// redirect points at `live`, a key set that would serve: the verifier must not follow it.
fn faults(live: &Faulty) -> Vec<(&'static str, Mode)> {
    vec![
        (
            "slow",
            Mode::Slow(Duration::from_secs(5), jwks(&[("k1", key())]).to_string()),
        ),
        ("reset", Mode::Reset),
        (
            "garbage",
            Mode::Answer {
                status: 200,
                content_type: "application/json",
                body: "<html>{\"keys\": [".into(),
            },
        ),
        (
            "html 500",
            Mode::Answer {
                status: 500,
                content_type: "text/html",
                body: "<h1>oops</h1>".into(),
            },
        ),
        (
            "huge, declared",
            Mode::Huge {
                bytes: 50 * MIB,
                declared: true,
            },
        ),
        (
            "huge, chunked",
            Mode::Huge {
                bytes: 50 * MIB,
                declared: false,
            },
        ),
        (
            "redirect",
            Mode::Redirect {
                status: 302,
                location: live.url("/jwks"),
            },
        ),
    ]
}

#[actix_web::test]
async fn a_key_set_that_is_down_is_a_503_in_time() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let api = Api::start(format!("http://127.0.0.1:{port}/jwks")).await;
    assert_unavailable("down", api.get(&token("k1", key())).await);
    api.stop().await;
}

#[actix_web::test]
async fn without_keys_each_fault_is_a_503_in_time_and_the_next_good_fetch_serves() {
    let live = Faulty::start(good());
    for (name, fault) in faults(&live) {
        let upstream = Faulty::start(fault);
        let api = Api::start(upstream.url("/jwks")).await;
        assert_unavailable(name, api.get(&token("k1", key())).await);
        if name.starts_with("huge") {
            assert!(upstream.written() < 50 * MIB, "{name}: read to the end");
        }
        upstream.set(good());
        api.later();
        let (status, challenge, _) = api.get(&token("k1", key())).await;
        assert_eq!(status, 200, "{name}: after the fault: {challenge}");
        api.stop().await;
    }
    assert_eq!(
        live.requests(),
        0,
        "the redirect to a live key set was not followed"
    );
}

#[actix_web::test]
async fn cached_keys_keep_serving_through_every_fault() {
    let upstream = Faulty::start(good());
    let api = Api::start(upstream.url("/jwks")).await;
    assert_eq!(api.get(&token("k1", key())).await.0, 200);
    let live = Faulty::start(good());
    for (name, fault) in faults(&live) {
        upstream.set(fault);
        // Past the cache lifetime too (ten minutes by default), so that the keys are stale
        // and every request asks for new ones.
        for _ in 0..11 {
            api.later();
        }
        // The unknown key first: its request starts the one fetch, and waits for it.
        unknown_kid_answers(&api, name, Some(&|| upstream.requests())).await;
        let (status, challenge, elapsed) = api.get(&token("k1", key())).await;
        assert_eq!(status, 200, "{name}: {challenge}");
        assert!(elapsed < FETCH_TIMEOUT + SLACK, "{name}: after {elapsed:?}");
    }
    assert_eq!(
        live.requests(),
        0,
        "the redirect to a live key set was not followed"
    );
    api.stop().await;
}

#[actix_web::test]
async fn duplicate_kids_keep_the_first_key_and_refuse_the_second() {
    let upstream = Faulty::start(Mode::json(200, &jwks(&[("k1", key()), ("k1", other())])));
    let api = Api::start(upstream.url("/jwks")).await;
    assert_eq!(api.get(&token("k1", key())).await.0, 200);
    let (status, challenge, _) = api.get(&token("k1", other())).await;
    assert_eq!(status, 401, "{challenge}");
    assert!(challenge.contains("invalid_token"), "{challenge}");
    api.stop().await;
}

/// What a token for a key nobody published gets while the key set is failing, with no fetch
/// running: past the refetch interval its refetch is tried, fails, and the answer is the
/// documented 503 (the key may have just been rotated in, so the token may be valid); within
/// the interval after that no fetch is made and it is refused, 401 `invalid_token`.
async fn unknown_kid_answers(api: &Api, name: &str, fetches: Option<&dyn Fn() -> usize>) {
    api.later();
    assert_unavailable(name, api.get(&token("k2", other())).await);
    let before = fetches.map(|f| f());
    let (status, said, elapsed) = api.get(&token("k2", other())).await;
    assert_eq!(status, 401, "{name}: within the refetch interval: {said}");
    assert!(said.contains("invalid_token"), "{name}: {said}");
    assert!(elapsed < SLACK, "{name}: after {elapsed:?}");
    if let (Some(fetches), Some(before)) = (fetches, before) {
        assert_eq!(fetches(), before, "{name}: a fetch within the interval");
    }
}

#[actix_web::test]
async fn cached_keys_keep_serving_while_the_key_set_is_down() {
    let upstream = Faulty::start(good());
    let url = upstream.url("/jwks");
    let api = Api::start(url.clone()).await;
    assert_eq!(api.get(&token("k1", key())).await.0, 200);
    let address = url
        .trim_start_matches("http://")
        .trim_end_matches("/jwks")
        .to_owned();
    drop(upstream);
    // Down: nothing listens on its port any more.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(&address).is_ok() {
        assert!(Instant::now() < deadline, "the key set is still up");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Past the cache lifetime: every request wants new keys, and none can be had.
    for _ in 0..11 {
        api.later();
    }
    // Nothing listens, so no fetch can be counted here: the interval is shown with the faults
    // that answer (`unknown_kid_answers` with their counter).
    unknown_kid_answers(&api, "down", None).await;
    for _ in 0..3 {
        let (status, said, elapsed) = api.get(&token("k1", key())).await;
        assert_eq!(status, 200, "down: {said}");
        assert!(elapsed < FETCH_TIMEOUT + SLACK, "down: after {elapsed:?}");
        api.later();
    }
    api.stop().await;
}

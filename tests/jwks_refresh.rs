//! `JwksVerifier` against a real JWKS server on 127.0.0.1 that counts its fetches: rotation,
//! rate limiting, outages, single-flight, `Cache-Control`, size and time limits, discovery.
//!
//! Time for tokens and the cache is a manual clock; only the fetches themselves are real.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_mcp_oauth::{Clock, JwksVerifier, JwksVerifierBuilder, TokenVerifier, VerifyError};
use actix_web::dev::ServerHandle;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};
use futures::future::join_all;
use futures::FutureExt as _;
use serde_json::{json, Value};
use tokio::sync::watch;

use support::jose::{jwks, Key};

mod support;

const ISS: &str = "https://issuer.test";
const T0: u64 = 1_700_000_000;
/// Bounds every wait on a real event, so a bug fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(10);

use actix_mcp_oauth::ManualClock;

// ---------------------------------------------------------------------------------------------
// Tokens

fn token_from(iss: &str, kid: &str, key: Key) -> String {
    let payload = json!({ "iss": iss, "sub": "user-1", "aud": "api", "exp": T0 + 3600, "iat": T0 });
    support::jose::token(kid, key, &payload)
}

fn token(kid: &str, key: Key) -> String {
    token_from(ISS, kid, key)
}

// ---------------------------------------------------------------------------------------------
// The provider

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Serve,
    /// Answer 500.
    Fail,
    /// Answer after this long.
    Slow(Duration),
    /// Serve the key set as a chunked stream, without `Content-Length`.
    Chunked,
}

struct Provider {
    fetches: AtomicUsize,
    fetched: watch::Sender<usize>,
    jwks: Mutex<String>,
    mode: Mutex<Mode>,
    cache_control: Mutex<Option<&'static str>>,
    base: OnceLock<String>,
}

impl Provider {
    fn serving(jwks: String) -> Arc<Self> {
        Arc::new(Self {
            fetches: AtomicUsize::new(0),
            fetched: watch::channel(0).0,
            jwks: Mutex::new(jwks),
            mode: Mutex::new(Mode::Serve),
            cache_control: Mutex::new(None),
            base: OnceLock::new(),
        })
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn set_jwks(&self, jwks: String) {
        *self.jwks.lock().unwrap() = jwks;
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Waits (bounded) until the provider has answered at least `n` fetches.
    async fn wait_for_fetches(&self, n: usize) {
        let mut seen = self.fetched.subscribe();
        tokio::time::timeout(PATIENCE, seen.wait_for(|count| *count >= n))
            .await
            .expect("the expected fetch did not happen")
            .expect("provider gone");
    }
}

async fn serve_jwks(provider: web::Data<Provider>) -> HttpResponse {
    let count = provider.fetches.fetch_add(1, Ordering::SeqCst) + 1;
    provider.fetched.send_replace(count);
    let mode = *provider.mode.lock().unwrap();
    let body = provider.jwks.lock().unwrap().clone();
    let cache_control = *provider.cache_control.lock().unwrap();
    match mode {
        Mode::Fail => return HttpResponse::InternalServerError().finish(),
        Mode::Slow(delay) => actix_rt::time::sleep(delay).await,
        Mode::Serve | Mode::Chunked => {}
    }
    let mut response = HttpResponse::Ok();
    response.content_type("application/json");
    if let Some(value) = cache_control {
        response.insert_header(("cache-control", value));
    }
    if mode == Mode::Chunked {
        let chunks: Vec<Result<Bytes, Infallible>> = body
            .into_bytes()
            .chunks(512)
            .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
            .collect();
        response.streaming(futures::stream::iter(chunks))
    } else {
        response.body(body)
    }
}

fn metadata(issuer: &str, base: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "issuer": issuer, "jwks_uri": format!("{base}/jwks") }))
}

/// Starts the provider on 127.0.0.1:0 and returns its base URL.
async fn start(provider: Arc<Provider>) -> (String, ServerHandle) {
    let data = web::Data::from(Arc::clone(&provider));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/jwks", web::get().to(serve_jwks))
            .route(
                "/.well-known/openid-configuration",
                web::get().to(|p: web::Data<Provider>| async move {
                    let base = p.base.get().cloned().unwrap_or_default();
                    metadata(&base, &base)
                }),
            )
            .route(
                "/.well-known/oauth-authorization-server/tenant",
                web::get().to(|p: web::Data<Provider>| async move {
                    let base = p.base.get().cloned().unwrap_or_default();
                    metadata(&format!("{base}/tenant"), &base)
                }),
            )
            .route(
                "/liar/.well-known/openid-configuration",
                web::get().to(|p: web::Data<Provider>| async move {
                    let base = p.base.get().cloned().unwrap_or_default();
                    metadata("https://someone-else.test", &base)
                }),
            )
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(0)
    .bind(("127.0.0.1", 0))
    .expect("bind");
    let base = format!("http://{}", server.addrs()[0]);
    provider.base.set(base.clone()).expect("base set once");
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    (base, handle)
}

fn verifier(base: &str, clock: &Arc<ManualClock>) -> JwksVerifierBuilder {
    JwksVerifier::new(format!("{base}/jwks"))
        .issuer(ISS)
        .audience("api")
        .clock(Arc::clone(clock) as Arc<dyn Clock>)
}

// ---------------------------------------------------------------------------------------------
// Tests

#[actix_rt::test]
async fn a_rotated_key_costs_exactly_one_refetch_then_is_accepted() {
    let provider = Provider::serving(jwks(&[("a", Key::Rsa)]));
    let (base, server) = start(Arc::clone(&provider)).await;
    let clock = ManualClock::at(T0);
    let verifier = verifier(&base, &clock).build().unwrap();

    for _ in 0..3 {
        verifier.verify(&token("a", Key::Rsa)).await.unwrap();
    }
    assert_eq!(provider.fetches(), 1, "keys are fetched once, then cached");

    provider.set_jwks(jwks(&[("a", Key::Rsa), ("b", Key::Ec)]));
    clock.advance(31);
    let claims = verifier.verify(&token("b", Key::Ec)).await.unwrap();
    assert_eq!(claims.get_str("sub"), Some("user-1"));
    assert_eq!(provider.fetches(), 2);

    verifier.verify(&token("b", Key::Ec)).await.unwrap();
    verifier.verify(&token("a", Key::Rsa)).await.unwrap();
    assert_eq!(provider.fetches(), 2, "the new key is cached too");
    server.stop(false).await;
}

#[actix_rt::test]
async fn a_flood_of_unknown_kids_is_rate_limited_to_one_fetch_per_interval() {
    let provider = Provider::serving(jwks(&[("a", Key::Rsa)]));
    let (base, server) = start(Arc::clone(&provider)).await;
    let clock = ManualClock::at(T0);
    let verifier = verifier(&base, &clock).build().unwrap();
    verifier.verify(&token("a", Key::Rsa)).await.unwrap();

    for i in 0..100 {
        let ghost = token(&format!("ghost-{i}"), Key::Rsa);
        assert_eq!(
            verifier.verify(&ghost).await.unwrap_err(),
            VerifyError::UnknownKey
        );
    }
    assert_eq!(
        provider.fetches(),
        1,
        "within the interval nothing is refetched"
    );

    clock.advance(29);
    let ghost = token("ghost-late", Key::Rsa);
    assert_eq!(
        verifier.verify(&ghost).await.unwrap_err(),
        VerifyError::UnknownKey
    );
    assert_eq!(provider.fetches(), 1);

    clock.advance(1);
    for _ in 0..20 {
        assert_eq!(
            verifier.verify(&ghost).await.unwrap_err(),
            VerifyError::UnknownKey
        );
    }
    assert_eq!(
        provider.fetches(),
        2,
        "one refetch once the interval has passed"
    );
    verifier.verify(&token("a", Key::Rsa)).await.unwrap();
    server.stop(false).await;
}

#[actix_rt::test]
async fn cached_keys_keep_serving_while_the_provider_is_down() {
    let provider = Provider::serving(jwks(&[("a", Key::Rsa)]));
    let (base, server) = start(Arc::clone(&provider)).await;
    let clock = ManualClock::at(T0);
    let verifier = verifier(&base, &clock).build().unwrap();
    verifier.verify(&token("a", Key::Rsa)).await.unwrap();

    provider.set_mode(Mode::Fail);
    clock.advance(601);
    // Stale keys: the request is served from them and a refresh starts in the background.
    verifier.verify(&token("a", Key::Rsa)).await.unwrap();
    provider.wait_for_fetches(2).await;
    verifier.verify(&token("a", Key::Rsa)).await.unwrap();

    // A new kid during the outage may well be valid: 503, not 401.
    clock.advance(30);
    let err = verifier.verify(&token("b", Key::Ec)).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    verifier.verify(&token("a", Key::Rsa)).await.unwrap();
    server.stop(false).await;
}

#[actix_rt::test]
async fn with_no_keys_at_all_an_outage_is_unavailable_and_retries_are_rate_limited() {
    let provider = Provider::serving(jwks(&[("a", Key::Rsa)]));
    provider.set_mode(Mode::Fail);
    let (base, server) = start(Arc::clone(&provider)).await;
    let clock = ManualClock::at(T0);
    let verifier = verifier(&base, &clock).build().unwrap();

    for _ in 0..5 {
        let err = verifier.verify(&token("a", Key::Rsa)).await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
    }
    assert_eq!(provider.fetches(), 1);

    provider.set_mode(Mode::Serve);
    clock.advance(30);
    verifier.verify(&token("a", Key::Rsa)).await.unwrap();
    assert_eq!(provider.fetches(), 2);
    server.stop(false).await;
}

#[actix_rt::test]
async fn fifty_concurrent_requests_for_a_new_kid_share_one_fetch() {
    let provider = Provider::serving(jwks(&[("a", Key::Rsa)]));
    let (base, server) = start(Arc::clone(&provider)).await;
    let clock = ManualClock::at(T0);
    let verifier = verifier(&base, &clock).build().unwrap();
    verifier.verify(&token("a", Key::Rsa)).await.unwrap();

    provider.set_jwks(jwks(&[("a", Key::Rsa), ("b", Key::Ed)]));
    // Slow enough that every request arrives while the fetch is in flight.
    provider.set_mode(Mode::Slow(Duration::from_millis(300)));
    clock.advance(31);
    let new_kid = token("b", Key::Ed);

    // 5 threads × 10 requests, as actix workers would be.
    let barrier = Arc::new(Barrier::new(5));
    let threads: Vec<_> = (0..5)
        .map(|_| {
            let (verifier, token, barrier) =
                (verifier.clone(), new_kid.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                futures::executor::block_on(join_all((0..10).map(|_| verifier.verify(&token))))
            })
        })
        .collect();
    let results = web::block(move || {
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("worker thread"))
            .collect::<Vec<_>>()
    });
    let results = tokio::time::timeout(PATIENCE, results)
        .await
        .expect("requests hang")
        .unwrap();

    assert_eq!(results.len(), 50);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(provider.fetches(), 2);
    server.stop(false).await;
}

#[actix_rt::test]
async fn a_request_dropped_while_waiting_neither_cancels_the_fetch_nor_strands_others() {
    let provider = Provider::serving(jwks(&[("a", Key::Rsa)]));
    let (base, server) = start(Arc::clone(&provider)).await;
    let clock = ManualClock::at(T0);
    let verifier = verifier(&base, &clock).build().unwrap();
    verifier.verify(&token("a", Key::Rsa)).await.unwrap();

    provider.set_jwks(jwks(&[("a", Key::Rsa), ("b", Key::Ec)]));
    provider.set_mode(Mode::Slow(Duration::from_millis(200)));
    clock.advance(31);
    let new_kid = token("b", Key::Ec);
    // Polled once: it starts the fetch and waits; then its client goes away.
    assert!(verifier.verify(&new_kid).now_or_never().is_none());

    let claims = tokio::time::timeout(PATIENCE, verifier.verify(&new_kid))
        .await
        .expect("the second request hangs");
    claims.unwrap();
    assert_eq!(provider.fetches(), 2);
    server.stop(false).await;
}

#[actix_rt::test]
async fn cache_control_max_age_shortens_the_cache_lifetime() {
    let provider = Provider::serving(jwks(&[("a", Key::Rsa)]));
    *provider.cache_control.lock().unwrap() = Some("public, max-age=120");
    let (base, server) = start(Arc::clone(&provider)).await;
    let clock = ManualClock::at(T0);
    // The configured TTL (600 s) would not refresh before T0 + 600.
    let verifier = verifier(&base, &clock).build().unwrap();
    verifier.verify(&token("a", Key::Rsa)).await.unwrap();

    provider.set_jwks(jwks(&[("a", Key::Rsa), ("c", Key::Ec)]));
    clock.advance(121);
    verifier.verify(&token("a", Key::Rsa)).await.unwrap();
    provider.wait_for_fetches(2).await;

    // `c` came with the refresh: accepted without another fetch (a refetch for it would be
    // rate-limited anyway, so this also shows the refresh was installed).
    verifier.verify(&token("c", Key::Ec)).await.unwrap();
    assert_eq!(provider.fetches(), 2);
    server.stop(false).await;
}

#[actix_rt::test]
async fn an_oversized_key_set_is_refused_with_or_without_content_length() {
    let mut padded: Value = serde_json::from_str(&jwks(&[("a", Key::Rsa)])).unwrap();
    padded["padding"] = json!("x".repeat(8 * 1024));
    for mode in [Mode::Serve, Mode::Chunked] {
        let provider = Provider::serving(padded.to_string());
        provider.set_mode(mode);
        let (base, server) = start(Arc::clone(&provider)).await;
        let clock = ManualClock::at(T0);
        let small = || {
            verifier(&base, &clock)
                .max_response_bytes(4 * 1024)
                .build()
                .unwrap()
        };

        let err = small().verify(&token("a", Key::Rsa)).await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");

        // Control: the same key set without the padding fits.
        provider.set_jwks(jwks(&[("a", Key::Rsa)]));
        small().verify(&token("a", Key::Rsa)).await.unwrap();
        server.stop(false).await;
    }
}

#[actix_rt::test]
async fn a_hanging_provider_is_unavailable_within_the_fetch_timeout() {
    let provider = Provider::serving(jwks(&[("a", Key::Rsa)]));
    provider.set_mode(Mode::Slow(Duration::from_secs(60)));
    let (base, server) = start(Arc::clone(&provider)).await;
    let clock = ManualClock::at(T0);
    let verifier = verifier(&base, &clock)
        .fetch_timeout(Duration::from_millis(300))
        .build()
        .unwrap();

    let started = Instant::now();
    let err = tokio::time::timeout(PATIENCE, verifier.verify(&token("a", Key::Rsa)))
        .await
        .expect("the verifier waited past its fetch timeout")
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    server.stop(false).await;
}

#[actix_rt::test]
async fn discovery_finds_the_jwks_uri_and_presets_the_issuer() {
    let provider = Provider::serving(jwks(&[("a", Key::Ed)]));
    let (base, server) = start(Arc::clone(&provider)).await;
    let clock = ManualClock::at(T0);

    let verifier = JwksVerifier::from_discovery(base.clone())
        .await
        .unwrap()
        .clock(Arc::clone(&clock) as Arc<dyn Clock>)
        .build()
        .unwrap();
    verifier
        .verify(&token_from(&base, "a", Key::Ed))
        .await
        .unwrap();
    let err = verifier.verify(&token("a", Key::Ed)).await.unwrap_err();
    assert_eq!(
        err,
        VerifyError::Issuer,
        "the discovered issuer is the one enforced"
    );

    // No OpenID document under /tenant: found through RFC 8414 instead.
    let tenant = format!("{base}/tenant");
    let verifier = JwksVerifier::from_discovery(tenant.clone())
        .await
        .unwrap()
        .clock(Arc::clone(&clock) as Arc<dyn Clock>)
        .build()
        .unwrap();
    verifier
        .verify(&token_from(&tenant, "a", Key::Ed))
        .await
        .unwrap();

    // A document naming another issuer is not used.
    let err = JwksVerifier::from_discovery(format!("{base}/liar"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, actix_mcp_oauth::ConfigError::Discovery(_)),
        "{err:?}"
    );
    // Nor is a plain-http issuer off loopback even asked.
    let err = JwksVerifier::from_discovery("http://issuer.example")
        .await
        .unwrap_err();
    assert!(
        matches!(err, actix_mcp_oauth::ConfigError::InsecureUrl { .. }),
        "{err:?}"
    );
    server.stop(false).await;
}

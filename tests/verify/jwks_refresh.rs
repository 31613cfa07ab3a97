//! `JwksVerifier` against a real JWKS server on 127.0.0.1 that counts its fetches: rotation,
//! rate limiting, outages, single-flight, `Cache-Control`, size and time limits, discovery.
//!
//! Time for tokens and the cache is a manual clock; only the fetches themselves are real.

use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use actix_mcp_oauth::{
    clock::Clock, clock::ManualClock, verify::JwksVerifierBuilder, JwksVerifier, TokenVerifier,
    VerifyError,
};
use actix_web::web;
use futures::future::join_all;
use futures::FutureExt as _;
use serde_json::{json, Value};

use crate::fixtures::{ec, ed, jwks, rsa, signed, Double, Key, Reply, T0};

const ISS: &str = "https://issuer.test";
/// Bounds every wait on a real event, so a bug fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Tokens

fn token_from(iss: &str, kid: &str, key: &Key) -> String {
    let payload = json!({ "iss": iss, "sub": "user-1", "aud": "api", "exp": T0 + 3600, "iat": T0 });
    signed(kid, key, &payload)
}

fn token(kid: &str, key: &Key) -> String {
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

/// What the provider's key endpoint serves, and how; the double counts its fetches.
struct KeyEndpoint {
    jwks: Mutex<String>,
    mode: Mutex<Mode>,
    cache_control: Mutex<Option<&'static str>>,
}

impl KeyEndpoint {
    fn reply(&self) -> Reply {
        let mode = *self.mode.lock().unwrap();
        if mode == Mode::Fail {
            return Reply::new(500, &[], "");
        }
        let mut headers = vec![("content-type", "application/json")];
        if let Some(value) = *self.cache_control.lock().unwrap() {
            headers.push(("cache-control", value));
        }
        let mut reply = Reply::new(200, &headers, &self.jwks.lock().unwrap());
        if let Mode::Slow(delay) = mode {
            reply.delay = Some(delay);
        }
        reply.chunked = mode == Mode::Chunked;
        reply
    }
}

struct Provider {
    double: Double,
    endpoint: Arc<KeyEndpoint>,
}

impl Provider {
    /// The provider on 127.0.0.1:0, serving `jwks` at `/jwks` and its discovery documents.
    async fn serving(jwks: Value) -> Self {
        let double = Double::start().await;
        let endpoint = Arc::new(KeyEndpoint {
            jwks: Mutex::new(jwks.to_string()),
            mode: Mutex::new(Mode::Serve),
            cache_control: Mutex::new(None),
        });
        let serving = Arc::clone(&endpoint);
        double.on_fn("/jwks", None, move |_| serving.reply());
        let base = double.url("");
        let metadata = |issuer: &str| {
            Reply::json(
                200,
                &json!({ "issuer": issuer, "jwks_uri": format!("{base}/jwks") }),
            )
        };
        double.on("/.well-known/openid-configuration", None, metadata(&base));
        double.on(
            "/.well-known/oauth-authorization-server/tenant",
            None,
            metadata(&format!("{base}/tenant")),
        );
        double.on(
            "/liar/.well-known/openid-configuration",
            None,
            metadata("https://someone-else.test"),
        );
        Self { double, endpoint }
    }

    fn base(&self) -> String {
        self.double.url("")
    }

    fn fetches(&self) -> usize {
        self.double.count("/jwks")
    }

    fn set_jwks(&self, jwks: Value) {
        *self.endpoint.jwks.lock().unwrap() = jwks.to_string();
    }

    fn set_mode(&self, mode: Mode) {
        *self.endpoint.mode.lock().unwrap() = mode;
    }

    fn set_cache_control(&self, value: &'static str) {
        *self.endpoint.cache_control.lock().unwrap() = Some(value);
    }

    /// Waits (bounded) until the provider has been asked for its keys at least `n` times.
    async fn wait_for_fetches(&self, n: usize) {
        tokio::time::timeout(PATIENCE, async {
            while self.fetches() < n {
                actix_rt::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the expected fetch did not happen");
    }

    async fn stop(self) {
        self.double.stop().await;
    }
}

fn verifier(base: &str, clock: &Arc<ManualClock>) -> JwksVerifierBuilder {
    JwksVerifier::builder()
        .jwks_url(format!("{base}/jwks"))
        .issuer(ISS)
        .audience("api")
        .clock(Arc::clone(clock) as Arc<dyn Clock>)
}

// ---------------------------------------------------------------------------------------------
// Tests

#[actix_rt::test]
async fn a_rotated_key_costs_exactly_one_refetch_then_is_accepted() {
    let provider = Provider::serving(jwks(&[("a", rsa())])).await;
    let base = provider.base();
    let clock = ManualClock::at(T0);
    let verifier = verifier(&base, &clock).build().unwrap();

    for _ in 0..3 {
        verifier.verify(&token("a", rsa())).await.unwrap();
    }
    assert_eq!(provider.fetches(), 1, "keys are fetched once, then cached");

    provider.set_jwks(jwks(&[("a", rsa()), ("b", ec())]));
    clock.advance(31);
    let claims = verifier.verify(&token("b", ec())).await.unwrap();
    assert_eq!(claims.get_str("sub"), Some("user-1"));
    assert_eq!(provider.fetches(), 2);

    verifier.verify(&token("b", ec())).await.unwrap();
    verifier.verify(&token("a", rsa())).await.unwrap();
    assert_eq!(provider.fetches(), 2, "the new key is cached too");
    provider.stop().await;
}

#[actix_rt::test]
async fn a_flood_of_unknown_kids_is_rate_limited_to_one_fetch_per_interval() {
    let provider = Provider::serving(jwks(&[("a", rsa())])).await;
    let base = provider.base();
    let clock = ManualClock::at(T0);
    let verifier = verifier(&base, &clock).build().unwrap();
    verifier.verify(&token("a", rsa())).await.unwrap();

    for i in 0..100 {
        let ghost = token(&format!("ghost-{i}"), rsa());
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
    let ghost = token("ghost-late", rsa());
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
    verifier.verify(&token("a", rsa())).await.unwrap();
    provider.stop().await;
}

#[actix_rt::test]
async fn cached_keys_keep_serving_while_the_provider_is_down() {
    let provider = Provider::serving(jwks(&[("a", rsa())])).await;
    let base = provider.base();
    let clock = ManualClock::at(T0);
    let verifier = verifier(&base, &clock).build().unwrap();
    verifier.verify(&token("a", rsa())).await.unwrap();

    provider.set_mode(Mode::Fail);
    clock.advance(601);
    // Stale keys: the request is served from them and a refresh starts in the background.
    verifier.verify(&token("a", rsa())).await.unwrap();
    provider.wait_for_fetches(2).await;
    verifier.verify(&token("a", rsa())).await.unwrap();

    // A new kid during the outage may well be valid: 503, not 401.
    clock.advance(30);
    let err = verifier.verify(&token("b", ec())).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    verifier.verify(&token("a", rsa())).await.unwrap();
    provider.stop().await;
}

#[actix_rt::test]
async fn with_no_keys_at_all_an_outage_is_unavailable_and_retries_are_rate_limited() {
    let provider = Provider::serving(jwks(&[("a", rsa())])).await;
    provider.set_mode(Mode::Fail);
    let base = provider.base();
    let clock = ManualClock::at(T0);
    let verifier = verifier(&base, &clock).build().unwrap();

    for _ in 0..5 {
        let err = verifier.verify(&token("a", rsa())).await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
    }
    assert_eq!(provider.fetches(), 1);

    provider.set_mode(Mode::Serve);
    clock.advance(30);
    verifier.verify(&token("a", rsa())).await.unwrap();
    assert_eq!(provider.fetches(), 2);
    provider.stop().await;
}

#[actix_rt::test]
async fn fifty_concurrent_requests_for_a_new_kid_share_one_fetch() {
    let provider = Provider::serving(jwks(&[("a", rsa())])).await;
    let base = provider.base();
    let clock = ManualClock::at(T0);
    let verifier = verifier(&base, &clock).build().unwrap();
    verifier.verify(&token("a", rsa())).await.unwrap();

    provider.set_jwks(jwks(&[("a", rsa()), ("b", ed())]));
    // Slow enough that every request arrives while the fetch is in flight.
    provider.set_mode(Mode::Slow(Duration::from_millis(300)));
    clock.advance(31);
    let new_kid = token("b", ed());

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
    provider.stop().await;
}

#[actix_rt::test]
async fn a_request_dropped_while_waiting_neither_cancels_the_fetch_nor_strands_others() {
    let provider = Provider::serving(jwks(&[("a", rsa())])).await;
    let base = provider.base();
    let clock = ManualClock::at(T0);
    let verifier = verifier(&base, &clock).build().unwrap();
    verifier.verify(&token("a", rsa())).await.unwrap();

    provider.set_jwks(jwks(&[("a", rsa()), ("b", ec())]));
    provider.set_mode(Mode::Slow(Duration::from_millis(200)));
    clock.advance(31);
    let new_kid = token("b", ec());
    // Polled once: it starts the fetch and waits; then its client goes away.
    assert!(verifier.verify(&new_kid).now_or_never().is_none());

    let claims = tokio::time::timeout(PATIENCE, verifier.verify(&new_kid))
        .await
        .expect("the second request hangs");
    claims.unwrap();
    assert_eq!(provider.fetches(), 2);
    provider.stop().await;
}

#[actix_rt::test]
async fn cache_control_max_age_shortens_the_cache_lifetime() {
    let provider = Provider::serving(jwks(&[("a", rsa())])).await;
    provider.set_cache_control("public, max-age=120");
    let base = provider.base();
    let clock = ManualClock::at(T0);
    // The configured TTL (600 s) would not refresh before T0 + 600.
    let verifier = verifier(&base, &clock).build().unwrap();
    verifier.verify(&token("a", rsa())).await.unwrap();

    provider.set_jwks(jwks(&[("a", rsa()), ("c", ec())]));
    clock.advance(121);
    verifier.verify(&token("a", rsa())).await.unwrap();
    provider.wait_for_fetches(2).await;

    // `c` came with the refresh: accepted without another fetch (a refetch for it would be
    // rate-limited anyway, so this also shows the refresh was installed).
    verifier.verify(&token("c", ec())).await.unwrap();
    assert_eq!(provider.fetches(), 2);
    provider.stop().await;
}

#[actix_rt::test]
async fn an_oversized_key_set_is_refused_with_or_without_content_length() {
    let mut padded = jwks(&[("a", rsa())]);
    padded["padding"] = json!("x".repeat(8 * 1024));
    for mode in [Mode::Serve, Mode::Chunked] {
        let provider = Provider::serving(padded.clone()).await;
        provider.set_mode(mode);
        let base = provider.base();
        let clock = ManualClock::at(T0);
        let small = || {
            verifier(&base, &clock)
                .max_response_bytes(4 * 1024)
                .build()
                .unwrap()
        };

        let err = small().verify(&token("a", rsa())).await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");

        // Control: the same key set without the padding fits.
        provider.set_jwks(jwks(&[("a", rsa())]));
        small().verify(&token("a", rsa())).await.unwrap();
        provider.stop().await;
    }
}

#[actix_rt::test]
async fn a_hanging_provider_is_unavailable_within_the_fetch_timeout() {
    let provider = Provider::serving(jwks(&[("a", rsa())])).await;
    provider.set_mode(Mode::Slow(Duration::from_secs(60)));
    let base = provider.base();
    let clock = ManualClock::at(T0);
    let verifier = verifier(&base, &clock)
        .fetch_timeout(Duration::from_millis(300))
        .build()
        .unwrap();

    let started = Instant::now();
    let err = tokio::time::timeout(PATIENCE, verifier.verify(&token("a", rsa())))
        .await
        .expect("the verifier waited past its fetch timeout")
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    provider.stop().await;
}

#[actix_rt::test]
async fn discovery_finds_the_jwks_uri_and_presets_the_issuer() {
    let provider = Provider::serving(jwks(&[("a", ed())])).await;
    let base = provider.base();
    let clock = ManualClock::at(T0);

    let verifier = JwksVerifier::from_discovery(base.clone())
        .await
        .unwrap()
        .audience("api")
        .clock(Arc::clone(&clock) as Arc<dyn Clock>)
        .build()
        .unwrap();
    verifier
        .verify(&token_from(&base, "a", ed()))
        .await
        .unwrap();
    let err = verifier.verify(&token("a", ed())).await.unwrap_err();
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
        .audience("api")
        .clock(Arc::clone(&clock) as Arc<dyn Clock>)
        .build()
        .unwrap();
    verifier
        .verify(&token_from(&tenant, "a", ed()))
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
    provider.stop().await;
}

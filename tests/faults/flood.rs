//! A flood of junk tokens at the API-backed verifiers (introspection, and the GitHub and Google
//! presets, which share the mechanism): concurrent requests with one token make one provider
//! call, no more than the configured number of calls run at once, and a sustained flood of
//! distinct junk starts no more calls than the configured rate allows; past either bound the
//! answer is an immediate 503, not a queue, while tokens already verified keep being served.

use std::time::{Duration, Instant};

use actix_mcp_oauth::{providers, verify::IntrospectionVerifier, RequireAuth, TokenVerifier};
use actix_web::{dev::ServerHandle, web, App, HttpResponse, HttpServer};
use futures::future::join_all;

use crate::upstream::{Faulty, Mode};

const MAX_IN_FLIGHT: usize = 4;

/// `/api` behind `RequireAuth` with introspection at `upstream`, and its token cache off, so
/// that only the single flight and the budget stand between the flood and the provider.
async fn start(upstream: &Faulty) -> (String, ServerHandle) {
    let verifier = IntrospectionVerifier::builder(upstream.url("/introspect"), "rs", "rs-secret")
        .audience("api")
        .max_calls_in_flight(MAX_IN_FLIGHT)
        .build()
        .expect("verifier");
    start_with(verifier, 0).await
}

/// `/api` behind one `RequireAuth` with `verifier` and a token cache of `cache` entries (0:
/// off), shared by the workers.
async fn start_with(verifier: impl TokenVerifier, cache: usize) -> (String, ServerHandle) {
    let auth = RequireAuth::new(verifier, "http://127.0.0.1/api")
        .expect("resource")
        .cache_capacity(cache);
    let server = HttpServer::new(move || {
        let auth = auth.clone();
        App::new().service(
            web::scope("/api")
                .wrap(auth)
                .route("", web::get().to(HttpResponse::Ok)),
        )
    })
    .workers(2)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .expect("bind");
    let base = format!("http://{}/api", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (base, handle)
}

async fn statuses(url: &str, tokens: &[String]) -> Vec<u16> {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    join_all(tokens.iter().map(|t| {
        let req = client.get(url).bearer_auth(t);
        async move { req.send().await.expect("answered").status().as_u16() }
    }))
    .await
}

fn inactive_after(delay: Duration) -> Mode {
    Mode::Slow(delay, r#"{"active": false}"#.into())
}

#[actix_web::test]
async fn fifty_concurrent_requests_with_one_junk_token_make_one_provider_call() {
    let upstream = Faulty::start(inactive_after(Duration::from_millis(500)));
    let (url, handle) = start(&upstream).await;
    let junk = vec!["junk-token-1".to_owned(); 50];
    let answered = statuses(&url, &junk).await;
    assert!(answered.iter().all(|s| *s == 401), "{answered:?}");
    assert_eq!(upstream.requests(), 1, "one call for fifty requests");
    handle.stop(false).await;
}

#[actix_web::test]
async fn a_flood_of_distinct_junk_tokens_costs_at_most_the_budget_at_once() {
    let upstream = Faulty::start(inactive_after(Duration::from_millis(500)));
    let (url, handle) = start(&upstream).await;
    let junk: Vec<String> = (0..40).map(|i| format!("junk-token-{i}")).collect();
    let answered = statuses(&url, &junk).await;
    let refused = answered.iter().filter(|s| **s == 401).count();
    let deferred = answered.iter().filter(|s| **s == 503).count();
    assert_eq!(refused + deferred, junk.len(), "{answered:?}");
    assert!(
        upstream.requests() <= MAX_IN_FLIGHT,
        "{} calls",
        upstream.requests()
    );
    assert_eq!(refused, upstream.requests());
    // Once the flood is over the budget is free again.
    upstream.set(inactive_after(Duration::ZERO));
    let again = statuses(&url, &["junk-token-after".to_owned()]).await;
    assert_eq!(again, [401]);
    handle.stop(false).await;
}

/// `count` distinct junk tokens of the shape `prefix` + 36 letters and digits, which pass a
/// preset's shape check and so reach the provider.
fn shaped_junk(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}{i:0>36}")).collect()
}

/// 40 distinct shape-valid junk tokens at once against `verifier`: at most `bound(elapsed)`
/// calls reach its provider (`upstream`), each a 401, and the rest get 503 at once.
async fn junk_costs_at_most(
    upstream: &Faulty,
    verifier: impl TokenVerifier,
    prefix: &str,
    bound: impl Fn(Duration) -> f64,
) {
    let (url, handle) = start_with(verifier, 0).await;
    let junk = shaped_junk(prefix, 40);
    let started = Instant::now();
    let answered = statuses(&url, &junk).await;
    let bound = bound(started.elapsed());
    let refused = answered.iter().filter(|s| **s == 401).count();
    let deferred = answered.iter().filter(|s| **s == 503).count();
    assert_eq!(refused + deferred, junk.len(), "{answered:?}");
    assert!(deferred > 0, "the bound was never reached: {answered:?}");
    assert!(
        (upstream.requests() as f64) <= bound,
        "{} calls (bound {bound:.1})",
        upstream.requests()
    );
    assert_eq!(refused, upstream.requests());
    handle.stop(false).await;
}

/// Against a provider answering slowly: at most the in-flight budget.
async fn the_budget_holds(upstream: &Faulty, verifier: impl TokenVerifier, prefix: &str) {
    junk_costs_at_most(upstream, verifier, prefix, |_| MAX_IN_FLIGHT as f64).await;
}

#[actix_web::test]
async fn a_flood_of_junk_github_tokens_costs_at_most_the_budget_at_once() {
    // `{}` from the token check names no app: a refusal of the token.
    let upstream = Faulty::start(Mode::Slow(Duration::from_millis(500), "{}".into()));
    let verifier = providers::github()
        .client("Iv1.flood", "flood-secret")
        .api_url(upstream.url(""))
        .max_calls_in_flight(MAX_IN_FLIGHT)
        // Only the budget is under test here.
        .max_call_rate(1000, 1000)
        .verifier()
        .expect("verifier");
    the_budget_holds(&upstream, verifier, "gho_").await;
}

#[actix_web::test]
async fn a_flood_of_junk_google_tokens_costs_at_most_the_budget_at_once() {
    // `{}` from token-info names no audience: a refusal of the token.
    let upstream = Faulty::start(Mode::Slow(Duration::from_millis(500), "{}".into()));
    let verifier = providers::google()
        .client("flood.apps.googleusercontent.com", "flood-secret")
        .tokeninfo_url(upstream.url("/tokeninfo"))
        .userinfo_url(upstream.url("/userinfo"))
        .max_calls_in_flight(MAX_IN_FLIGHT)
        .max_call_rate(1000, 1000)
        .verifier()
        .expect("verifier");
    the_budget_holds(&upstream, verifier, "ya29.").await;
}

/// Against a provider answering at once (so the in-flight budget never binds) and a preset
/// paced at `PRESET_RATE` after `PRESET_BURST`: at most the burst and what refilled meanwhile.
async fn the_rate_holds(upstream: &Faulty, verifier: impl TokenVerifier, prefix: &str) {
    junk_costs_at_most(upstream, verifier, prefix, |elapsed| {
        f64::from(PRESET_BURST) + f64::from(PRESET_RATE) * elapsed.as_secs_f64() + 1.0
    })
    .await;
}

const PRESET_RATE: u32 = 2;
const PRESET_BURST: u32 = 5;

#[actix_web::test]
async fn a_burst_of_junk_github_tokens_costs_at_most_the_presets_call_rate() {
    let upstream = Faulty::start(Mode::Slow(Duration::ZERO, "{}".into()));
    let verifier = providers::github()
        .client("Iv1.flood", "flood-secret")
        .api_url(upstream.url(""))
        .max_call_rate(PRESET_RATE, PRESET_BURST)
        .verifier()
        .expect("verifier");
    the_rate_holds(&upstream, verifier, "gho_").await;
}

#[actix_web::test]
async fn a_burst_of_junk_google_tokens_costs_at_most_the_presets_call_rate() {
    let upstream = Faulty::start(Mode::Slow(Duration::ZERO, "{}".into()));
    let verifier = providers::google()
        .client("flood.apps.googleusercontent.com", "flood-secret")
        .tokeninfo_url(upstream.url("/tokeninfo"))
        .userinfo_url(upstream.url("/userinfo"))
        .max_call_rate(PRESET_RATE, PRESET_BURST)
        .verifier()
        .expect("verifier");
    the_rate_holds(&upstream, verifier, "ya29.").await;
}

const RATE: u32 = 20;
const BURST: u32 = 10;
const FLOOD: Duration = Duration::from_millis(2500);
const FLOODERS: usize = 16;

/// The status of `GET url` with `token`, and its `WWW-Authenticate` and body.
async fn answer(client: &awc::Client, url: &str, token: &str) -> (u16, String) {
    let mut res = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("answered");
    let challenge = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = res.body().await.expect("body");
    (
        res.status().as_u16(),
        format!("{challenge} {}", String::from_utf8_lossy(&body)),
    )
}

/// A provider that answers at once (so that the in-flight budget never binds), the token cache
/// on, and sixteen tasks sending distinct junk as fast as they can for 2.5 s: the provider sees
/// at most the burst and the rate times the seconds, the excess gets 503 with
/// `temporarily_unavailable`, and meanwhile a valid token verified before keeps being accepted
/// from the cache and a repeated junk token keeps being refused from the memory of refusals,
/// its one call made before the flood.
#[actix_web::test]
async fn a_sustained_flood_of_distinct_junk_costs_at_most_the_rate_and_valid_tokens_keep_working() {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 3600;
    let active = serde_json::json!({ "active": true, "sub": "ada", "aud": "api", "exp": exp });
    let upstream = Faulty::start(Mode::json(200, &active));
    let verifier = IntrospectionVerifier::builder(upstream.url("/introspect"), "rs", "rs-secret")
        .audience("api")
        .max_call_rate(RATE, BURST)
        .build()
        .expect("verifier");
    let (url, handle) = start_with(verifier, 1000).await;
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    assert_eq!(answer(&client, &url, "valid-token").await.0, 200);
    upstream.set(Mode::json(200, &serde_json::json!({ "active": false })));
    for _ in 0..10 {
        assert_eq!(answer(&client, &url, "repeated-junk").await.0, 401);
    }
    assert_eq!(upstream.requests(), 2, "the repeated junk cost one call");

    let started = Instant::now();
    let flooders = (0..FLOODERS).map(|task| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let (mut refused, mut deferred) = (0, 0);
            let mut i = 0;
            while started.elapsed() < FLOOD {
                let token = format!("junk-{task}-{i}");
                i += 1;
                match answer(&client, &url, &token).await {
                    (401, _) => refused += 1,
                    (503, challenge) => {
                        assert!(challenge.contains("temporarily_unavailable"), "{challenge}");
                        deferred += 1;
                    }
                    other => panic!("{token}: {other:?}"),
                }
            }
            (refused, deferred)
        }
    });
    let watcher = async {
        let mut checks = 0;
        while started.elapsed() < FLOOD {
            assert_eq!(
                answer(&client, &url, "valid-token").await.0,
                200,
                "the cached token, during the flood"
            );
            assert_eq!(
                answer(&client, &url, "repeated-junk").await.0,
                401,
                "the refused token, from the memory of refusals"
            );
            checks += 1;
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        checks
    };
    let (counts, checks) = futures::join!(join_all(flooders), watcher);
    let elapsed = started.elapsed().as_secs_f64();
    let refused: usize = counts.iter().map(|c| c.0).sum();
    let deferred: usize = counts.iter().map(|c| c.1).sum();
    let calls = upstream.requests() - 2;
    let bound = f64::from(BURST) + f64::from(RATE) * elapsed;
    println!(
        "{} junk requests in {elapsed:.2} s: {calls} upstream calls (bound {bound:.1}), \
         {refused} refused, {deferred} answered 503; {checks} checks of the valid token",
        refused + deferred
    );
    assert!(checks >= 5, "{checks} checks");
    assert!(
        (calls as f64) <= bound + 1.0,
        "{calls} upstream calls in {elapsed:.2} s"
    );
    assert_eq!(refused, calls, "each call refused one junk token");
    assert!(
        deferred > 0,
        "the flood was not past the rate: {deferred} deferred, {calls} calls"
    );
    handle.stop(false).await;
}

/// The proxy in passthrough mode, its token endpoint at `upstream`, at most `max` upstream
/// calls at once, and a client registered at it.
async fn start_proxy(upstream: &Faulty, max: usize) -> (String, String, ServerHandle) {
    start_proxy_with(upstream, |b| b.max_upstream_calls_in_flight(max)).await
}

async fn start_proxy_with(
    upstream: &Faulty,
    configure: impl FnOnce(
        actix_mcp_oauth::proxy::OAuthProxyBuilder,
    ) -> actix_mcp_oauth::proxy::OAuthProxyBuilder,
) -> (String, String, ServerHandle) {
    use actix_mcp_oauth::{
        proxy::TokenMode, verify::FnVerifier, OAuthProxy, ProxyKey, VerifyError,
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let proxy = configure(OAuthProxy::builder())
        .public_url(base.as_str())
        .auth_endpoint(upstream.url("/authorize"))
        .token_endpoint(upstream.url("/token"))
        .revocation_endpoint(upstream.url("/revoke"))
        .issuer(upstream.url(""))
        .client_id("proxy-at-upstream")
        .client_secret("upstream-secret")
        .verifier(FnVerifier::new(|_t: String| async {
            Err(VerifyError::Rejected("unused".into()))
        }))
        .proxy_key(ProxyKey::generate())
        .token_mode(TokenMode::Passthrough)
        .build()
        .expect("proxy");
    let server = HttpServer::new(move || App::new().service(proxy.scope()))
        .workers(2)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let client_id = register(&base).await;
    (base, client_id, handle)
}

/// A client registered at the proxy at `base`: its id.
async fn register(base: &str) -> String {
    let mut res = awc::Client::default()
        .post(format!("{base}/register"))
        .send_json(&serde_json::json!({ "redirect_uris": ["http://127.0.0.1:3000/cb"] }))
        .await
        .expect("register");
    let doc: serde_json::Value = res.json().await.expect("registration JSON");
    doc["client_id"].as_str().expect("client_id").to_owned()
}

/// `path` posted once per form, all at once: the statuses and `error` codes.
async fn post_all(url: &str, forms: &[Vec<(&str, String)>]) -> Vec<(u16, String)> {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    join_all(forms.iter().map(|form| {
        let req = client.post(url);
        async move {
            let mut res = req.send_form(form).await.expect("answered");
            let doc: serde_json::Value = res.json().await.unwrap_or_default();
            (
                res.status().as_u16(),
                doc["error"].as_str().unwrap_or_default().to_owned(),
            )
        }
    }))
    .await
}

fn refresh_form(client_id: &str, token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", token.to_owned()),
        ("client_id", client_id.to_owned()),
    ]
}

fn refused_after(delay: Duration) -> Mode {
    Mode::Slow(delay, r#"{"error": "invalid_grant"}"#.into())
}

#[actix_web::test]
async fn fifty_concurrent_refreshes_with_one_junk_token_make_one_upstream_call() {
    let upstream = Faulty::start(refused_after(Duration::from_millis(500)));
    let (base, client_id, handle) = start_proxy(&upstream, MAX_IN_FLIGHT).await;
    let forms = vec![refresh_form(&client_id, "junk-refresh-token"); 50];
    let answered = post_all(&format!("{base}/token"), &forms).await;
    assert!(
        answered
            .iter()
            .all(|(s, e)| *s == 400 && e == "invalid_grant"),
        "{answered:?}"
    );
    assert_eq!(
        upstream.requests(),
        1,
        "one upstream call for fifty refreshes"
    );
    handle.stop(false).await;
}

/// Two clients sending one refresh token at once is a reuse the provider must see: each is
/// its own upstream call, never one answer (with the rotated tokens) shared by both.
#[actix_web::test]
async fn two_clients_with_one_refresh_token_are_two_upstream_calls_not_one_shared_answer() {
    let upstream = Faulty::start(refused_after(Duration::from_millis(500)));
    let (base, first, handle) = start_proxy(&upstream, MAX_IN_FLIGHT).await;
    let second = register(&base).await;
    assert_ne!(first, second);
    let forms = vec![
        refresh_form(&first, "stolen-refresh-token"),
        refresh_form(&second, "stolen-refresh-token"),
    ];
    let answered = post_all(&format!("{base}/token"), &forms).await;
    assert!(
        answered
            .iter()
            .all(|(s, e)| *s == 400 && e == "invalid_grant"),
        "{answered:?}"
    );
    assert_eq!(upstream.requests(), 2, "one upstream call per client");
    // The same client sending it twice at once is still one call.
    let forms = vec![refresh_form(&first, "another-refresh-token"); 2];
    post_all(&format!("{base}/token"), &forms).await;
    assert_eq!(upstream.requests(), 3);
    handle.stop(false).await;
}

#[actix_web::test]
async fn a_flood_of_distinct_junk_refreshes_and_revocations_costs_at_most_the_budget_at_once() {
    let upstream = Faulty::start(refused_after(Duration::from_millis(500)));
    let (base, client_id, handle) = start_proxy(&upstream, MAX_IN_FLIGHT).await;
    let forms: Vec<_> = (0..40)
        .map(|i| refresh_form(&client_id, &format!("junk-refresh-{i}")))
        .collect();
    let revocations: Vec<_> = (0..20)
        .map(|i| {
            vec![
                ("token", format!("junk-revoke-{i}")),
                ("client_id", client_id.clone()),
            ]
        })
        .collect();
    let (token_url, revoke_url) = (format!("{base}/token"), format!("{base}/revoke"));
    let (answered, revoked) = futures::join!(
        post_all(&token_url, &forms),
        post_all(&revoke_url, &revocations)
    );
    let refused = answered.iter().filter(|(s, _)| *s == 400).count();
    let deferred = answered
        .iter()
        .chain(&revoked)
        .filter(|(s, e)| *s == 503 && e == "temporarily_unavailable")
        .count();
    let forwarded = revoked.iter().filter(|(s, _)| *s != 503).count();
    assert_eq!(
        refused + forwarded + deferred,
        forms.len() + revocations.len(),
        "{answered:?} {revoked:?}"
    );
    assert!(
        upstream.requests() <= MAX_IN_FLIGHT,
        "{} upstream calls for {} requests",
        upstream.requests(),
        forms.len() + revocations.len()
    );
    assert_eq!(refused + forwarded, upstream.requests());
    // Once the flood is over the budget is free again.
    upstream.set(refused_after(Duration::ZERO));
    let again = post_all(
        &format!("{base}/token"),
        &[refresh_form(&client_id, "junk-after")],
    )
    .await;
    assert_eq!(again, [(400, "invalid_grant".to_owned())]);
    handle.stop(false).await;
}

#[actix_web::test]
async fn the_proxy_call_rate_bounds_distinct_junk_refreshes() {
    const PER_SECOND: u32 = 5;
    const BURST: u32 = 3;
    let upstream = Faulty::start(refused_after(Duration::ZERO));
    let (base, client_id, handle) =
        start_proxy_with(&upstream, |b| b.max_upstream_call_rate(PER_SECOND, BURST)).await;
    let url = format!("{base}/token");
    let started = std::time::Instant::now();
    let mut answers = Vec::new();
    let mut round = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        let forms: Vec<_> = (0..8)
            .map(|i| refresh_form(&client_id, &format!("junk-{round}-{i}")))
            .collect();
        answers.extend(post_all(&url, &forms).await);
        round += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    let bound = f64::from(BURST) + f64::from(PER_SECOND) * seconds + 1.0;
    let calls = upstream.requests();
    assert!(
        (calls as f64) <= bound,
        "{calls} upstream calls in {seconds:.2} s (bound {bound:.1})"
    );
    let paced = answers
        .iter()
        .filter(|(s, e)| *s == 503 && e == "temporarily_unavailable")
        .count();
    let forwarded = answers.iter().filter(|(s, _)| *s == 400).count();
    assert_eq!(paced + forwarded, answers.len(), "{answers:?}");
    assert_eq!(forwarded, calls);
    assert!(
        paced > answers.len() / 2,
        "{paced} of {} paced",
        answers.len()
    );
    handle.stop(false).await;
}

#[test]
fn a_proxy_call_rate_of_zero_is_a_configuration_error() {
    use actix_mcp_oauth::{verify::FnVerifier, OAuthProxy, ProxyKey, VerifyError};
    for (per_second, burst) in [(0, 10), (10, 0)] {
        let built = OAuthProxy::builder()
            .public_url("http://127.0.0.1:1")
            .auth_endpoint("http://127.0.0.1:2/authorize")
            .token_endpoint("http://127.0.0.1:2/token")
            .issuer("http://127.0.0.1:2")
            .client_id("c")
            .client_secret("s")
            .verifier(FnVerifier::new(|_t: String| async {
                Err(VerifyError::Rejected("unused".into()))
            }))
            .proxy_key(ProxyKey::generate())
            .max_upstream_call_rate(per_second, burst)
            .build();
        let Err(err) = built else {
            panic!("{per_second}/{burst} accepted");
        };
        assert!(err.to_string().contains("max_upstream_call_rate"), "{err}");
    }
}

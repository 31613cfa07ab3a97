//! A flood of junk tokens at an API-backed verifier (introspection here; the GitHub and Google
//! presets share the mechanism): concurrent requests with one token make one provider call,
//! and no more than the configured number of calls run at once; past it the answer is an
//! immediate 503, not a queue.

use std::{sync::Arc, time::Duration};

use actix_mcp_oauth::{verify::IntrospectionVerifier, RequireAuth};
use actix_web::{dev::ServerHandle, web, App, HttpResponse, HttpServer};
use futures::future::join_all;

use crate::upstream::{Faulty, Mode};

const MAX_IN_FLIGHT: usize = 4;

/// `/api` behind `RequireAuth` with introspection at `upstream`, and its token cache off, so
/// that only the single flight and the budget stand between the flood and the provider.
async fn start(upstream: &Faulty) -> (String, ServerHandle) {
    let verifier = Arc::new(
        IntrospectionVerifier::builder(upstream.url("/introspect"), "rs", "rs-secret")
            .audience("api")
            .max_calls_in_flight(MAX_IN_FLIGHT)
            .build()
            .expect("verifier"),
    );
    let server = HttpServer::new(move || {
        let auth = RequireAuth::new(Arc::clone(&verifier), "http://127.0.0.1/api")
            .expect("resource")
            .cache_capacity(0);
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

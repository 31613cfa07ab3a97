//! `RequireAuth` over a provider that cannot be reached: every request is the documented 503,
//! and the log gets one `error` line for the outage, then one summary per interval with the
//! count of the failures it did not log one by one: never one line per request.
//!
//! The logger is the process's: it records what every test of this binary logs, and the lines
//! of this outage are told apart by the reason they give.

use std::{
    sync::{Arc, Mutex, Once, PoisonError},
    time::Duration,
};

use actix_mcp_oauth::{
    clock::{Clock, ManualClock},
    verify::IntrospectionVerifier,
    RequireAuth,
};
use actix_web::{web, App, HttpResponse, HttpServer};
use futures::future::join_all;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Recorder;

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        LINES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(format!("{} {}", record.level(), record.args()));
    }
    fn flush(&self) {}
}

fn record_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&Recorder).unwrap();
        // Info and above: the other tests of this binary send thousands of requests.
        log::set_max_level(log::LevelFilter::Info);
    });
}

/// The lines recorded so far that contain `needle`.
fn lines_with(needle: &str) -> Vec<String> {
    LINES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|l| l.contains(needle))
        .cloned()
        .collect()
}

#[actix_web::test]
async fn an_unreachable_provider_is_one_error_line_per_interval_not_one_per_request() {
    record_logs();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let verifier = IntrospectionVerifier::builder(
        format!("http://127.0.0.1:{port}/introspect"),
        "rs",
        "rs-secret",
    )
    .audience("api")
    .build()
    .expect("verifier");
    let clock = ManualClock::at(1_700_000_000);
    let auth = RequireAuth::new(verifier, "http://127.0.0.1/api")
        .expect("resource")
        .clock(Arc::clone(&clock) as Arc<dyn Clock>);
    let server = HttpServer::new(move || {
        App::new().service(
            web::scope("/api")
                .wrap(auth.clone())
                .route("", web::get().to(HttpResponse::Ok)),
        )
    })
    .workers(2)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .expect("bind");
    let url = format!("http://{}/api", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let send = |count: usize, round: &'static str| {
        join_all((0..count).map(|i| {
            let req = client.get(&url).bearer_auth(format!("{round}-{i}"));
            async move {
                let mut res = req.send().await.expect("answered");
                let body = res.body().await.expect("body");
                (
                    res.status().as_u16(),
                    String::from_utf8_lossy(&body).into_owned(),
                )
            }
        }))
    };
    let outage =
        "cannot verify bearer tokens: token service unavailable: introspection endpoint: unreachable";

    // Fewer at once than the budget of calls in flight, so that each is a call that fails.
    let answered = send(30, "first").await;
    for (status, body) in &answered {
        assert_eq!(*status, 503, "{body}");
        assert!(
            body.contains(r#""error":"temporarily_unavailable""#),
            "{body}"
        );
    }
    let lines = lines_with(outage);
    assert_eq!(lines.len(), 1, "thirty failures, one line: {lines:#?}");
    assert!(lines[0].starts_with("ERROR "), "{}", lines[0]);

    // Within the interval: counted, not logged.
    clock.advance(29);
    send(10, "second").await;
    assert_eq!(lines_with(outage).len(), 1);

    // The first failure after it: one summary of the 39 not logged, then quiet again.
    clock.advance(1);
    send(10, "third").await;
    let lines = lines_with(outage);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[1].contains("(39 more such failures in the last 30 s or more"),
        "{}",
        lines[1]
    );
    handle.stop(false).await;
}

//! Clients identified by the https URL of their metadata document: the document served over
//! https by a server with a certificate from a CA made in the test (trusted through
//! `extra_root_certificate`), names resolved by an injected resolver, and every refusal shown
//! to the user as `invalid_client`, never redirected.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use actix_mcp_oauth::{
    clock::ManualClock,
    proxy::{ClientDocuments, ProxyLimits},
};
use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::{
    fixtures::*,
    logging::{logged, record_logs},
};

#[path = "../common/tls.rs"]
mod tls;
use tls::{HttpsServer, Page, TestCa};

const DOCS_HOST: &str = "docs.test";

/// The names whose addresses the guard must refuse. Each also resolves to 127.0.0.1 first,
/// where the document server listens with a certificate for the name: were the guard to let
/// the name through, the connection would go there and be counted (never to the refused
/// address, which nothing in these tests is ever sent to).
const REFUSED: &[(&str, &str)] = &[
    ("private.test", "10.0.0.1"),
    ("metadata.test", "169.254.169.254"),
    ("mapped.test", "::ffff:10.0.0.1"),
    ("nat64.test", "64:ff9b::a00:1"),
    ("documentation.test", "192.0.2.1"),
    ("cgnat.test", "100.64.0.1"),
];

/// The resolver of these tests: `docs.test` (and `stuck.test`, after a lookup that outlasts
/// the fetch) is the local document server, `v6-loopback.test` is `::1`, and the
/// [`REFUSED`] names as described there. Counts its calls per name.
#[derive(Clone, Default)]
struct Resolver {
    calls: Arc<Mutex<HashMap<String, usize>>>,
    /// Lookups of `stuck.test` that have returned.
    unstuck: Arc<std::sync::atomic::AtomicUsize>,
}

impl Resolver {
    fn resolve(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        *self.calls.lock().unwrap().entry(host.into()).or_default() += 1;
        let mut ips = vec!["127.0.0.1"];
        match host {
            DOCS_HOST => {}
            "stuck.test" => {
                std::thread::sleep(Duration::from_millis(6500));
                self.unstuck
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            "v6-loopback.test" => ips = vec!["::1"],
            _ => match REFUSED.iter().find(|(name, _)| *name == host) {
                Some((_, ip)) => ips.push(ip),
                None => return Err(std::io::Error::other("no such host")),
            },
        }
        Ok(ips.iter().map(|ip| ip.parse().unwrap()).collect())
    }

    fn calls(&self, host: &str) -> usize {
        self.calls.lock().unwrap().get(host).copied().unwrap_or(0)
    }

    fn seam(&self) -> impl Fn(&str) -> std::io::Result<Vec<IpAddr>> + Send + Sync + 'static {
        let me = self.clone();
        move |host| me.resolve(host)
    }
}

/// Every name the document server's certificate covers.
fn cert_names() -> Vec<&'static str> {
    let mut names = vec![DOCS_HOST, "stuck.test", "v6-loopback.test"];
    names.extend(REFUSED.iter().map(|(name, _)| *name));
    names
}

struct Setup {
    up: Upstream,
    docs: HttpsServer,
    proxy: ProxyServer,
    clock: Arc<ManualClock>,
    resolver: Resolver,
}

impl Setup {
    /// The document server, and a proxy that trusts its CA and lets `docs.test` (loopback)
    /// through, as a local test needs; `documents` adjusts the rest.
    async fn start(
        documents: impl FnOnce(
            actix_mcp_oauth::proxy::ClientDocumentsBuilder,
        ) -> actix_mcp_oauth::proxy::ClientDocumentsBuilder,
    ) -> Self {
        Self::start_with(documents, ProxyLimits::default()).await
    }

    /// [`start`](Self::start), the proxy with `limits`.
    async fn start_with(
        documents: impl FnOnce(
            actix_mcp_oauth::proxy::ClientDocumentsBuilder,
        ) -> actix_mcp_oauth::proxy::ClientDocumentsBuilder,
        limits: ProxyLimits,
    ) -> Self {
        record_logs();
        let ca = TestCa::new(&cert_names());
        let docs = HttpsServer::start(&ca).await;
        let up = Upstream::start().await;
        let clock = ManualClock::at(T0);
        let resolver = Resolver::default();
        let settings = documents(
            ClientDocuments::builder()
                .allow_loopback(true)
                .extra_root_certificate(ca.ca_pem.clone())
                .resolver(resolver.seam()),
        )
        .build()
        .unwrap();
        let proxy = ProxyServer::start(
            up.proxy(&key(1), clock.clone())
                .client_documents(settings)
                .limits(limits)
                .build()
                .unwrap(),
        )
        .await;
        Self {
            up,
            docs,
            proxy,
            clock,
            resolver,
        }
    }

    fn id(&self, path: &str) -> String {
        format!("https://{DOCS_HOST}:{}{path}", self.docs.port())
    }

    /// Serves a valid document at `path` with this `Cache-Control: max-age`.
    fn serve_for(&self, path: &str, max_age: u64) -> String {
        let id = self.id(path);
        self.docs.set(
            path,
            Page::json(
                &json!({"client_id": id, "client_name": "Docs Client", "redirect_uris": [CLIENT_REDIRECT]}),
            )
            .header("cache-control", &format!("max-age={max_age}")),
        );
        id
    }

    /// Serves a valid document at `path`, with `extra` fields set over it.
    fn serve(&self, path: &str, extra: Value) -> String {
        let id = self.id(path);
        let mut doc = json!({
            "client_id": id,
            "client_name": "Docs Client",
            "redirect_uris": [CLIENT_REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        });
        for (k, v) in extra.as_object().unwrap() {
            doc[k] = v.clone();
        }
        self.docs.set(path, Page::json(&doc));
        id
    }

    async fn authorize(&self, client_id: &str) -> Answer {
        get(&self
            .proxy
            .url(&format!("/authorize?{}", authorize_query(client_id, &[]))))
        .await
    }

    async fn stop(self) {
        self.proxy.stop().await;
        self.docs.stop().await;
        self.up.stop().await;
    }
}

/// A refusal as the user sees it: the error page, 400, `invalid_client`, no redirect.
fn assert_refused(res: &Answer, why: &str) {
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{why}: {}", res.text());
    assert!(res.location.is_none(), "{why}: redirected");
    assert!(
        res.text().contains("invalid_client"),
        "{why}: {}",
        res.text()
    );
}

#[actix_web::test]
async fn a_metadata_document_client_signs_in_with_its_domain_shown_as_verified() {
    record_logs();
    let warning = "client metadata documents may be fetched from loopback addresses";
    let before = logged(warning);
    let s = Setup::start(|d| d).await;
    // The loopback exception these tests need is never silent.
    assert!(logged(warning) > before, "the loopback exception is logged");
    let id = s.serve("/client.json", json!({}));
    let meta = get(&s.proxy.url("/.well-known/oauth-authorization-server")).await;
    assert_eq!(meta.json()["client_id_metadata_document_supported"], true);
    // /revoke authenticates clients as /token does, and the metadata says so.
    let meta = meta.json();
    assert!(meta["revocation_endpoint"].is_string(), "{meta}");
    assert_eq!(
        meta["revocation_endpoint_auth_methods_supported"],
        meta["token_endpoint_auth_methods_supported"],
    );
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        json!(["none", "client_secret_basic", "client_secret_post"])
    );

    let browser = Browser::new();
    let page = consent_page(&s.proxy, &browser, &authorize_query(&id, &[])).await;
    let html = page.text();
    assert!(html.contains("Docs Client"), "{html}");
    assert!(
        html.contains(&format!("id=\"verified-domain\">{DOCS_HOST}</span>")),
        "{html}"
    );
    let sent = decide(&s.proxy, &browser, &page, "approve").await;
    let back = through_upstream(&s.proxy, &browser, &sent).await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.text());
    let code = back.query("code").unwrap();
    let tokens = redeem(&s.proxy, &id, &code).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text());
    assert!(tokens.json()["access_token"].is_string());
    // /authorize, then /token: one fetch, the cached document served the second, and the
    // name resolved once for that fetch (by the guard; the connector resolves nothing).
    assert_eq!(s.docs.hits("/client.json"), 1);
    assert_eq!(s.resolver.calls(DOCS_HOST), 1);
    s.stop().await;
}

#[actix_web::test]
async fn documents_that_break_a_rule_are_refused_on_the_error_page() {
    let s = Setup::start(|d| d).await;
    let mut cases: Vec<(&str, String)> = Vec::new();
    cases.push(("mismatched client_id", {
        let id = s.id("/mismatch.json");
        s.docs.set(
            "/mismatch.json",
            Page::json(&json!({"client_id": format!("{id}/"), "client_name": "x", "redirect_uris": [CLIENT_REDIRECT]})),
        );
        id
    }));
    cases.push(("oversized", {
        let id = s.id("/big.json");
        s.docs.set(
            "/big.json",
            Page::json(&json!({"client_id": id, "client_name": "x", "redirect_uris": [CLIENT_REDIRECT], "pad": "x".repeat(6000)})),
        );
        id
    }));
    cases.push(("redirecting", {
        let target = s.serve("/target.json", json!({}));
        s.docs.set(
            "/redirect.json",
            Page {
                status: 302,
                headers: vec![("location".into(), target)],
                body: vec![],
                delay: None,
                chunked: None,
            },
        );
        s.id("/redirect.json")
    }));
    cases.push(("invalid JSON", {
        s.docs.set(
            "/invalid.json",
            Page {
                body: b"{\"client_id\": ".to_vec(),
                ..Page::json(&json!({}))
            },
        );
        s.id("/invalid.json")
    }));
    cases.push((
        "missing client_name",
        s.serve("/no-name.json", json!({"client_name": null})),
    ));
    cases.push((
        "missing redirect_uris",
        s.serve("/no-uris.json", json!({"redirect_uris": null})),
    ));
    cases.push((
        "a redirect URI the policy refuses",
        s.serve(
            "/bad-uri.json",
            json!({"redirect_uris": ["http://client.example/cb"]}),
        ),
    ));
    cases.push((
        "client_secret_post asked",
        s.serve(
            "/secret.json",
            json!({"token_endpoint_auth_method": "client_secret_post"}),
        ),
    ));
    cases.push((
        "a client_secret in the document",
        s.serve("/with-secret.json", json!({"client_secret": "s3cret"})),
    ));
    cases.push((
        "a client_secret_expires_at in the document",
        s.serve(
            "/with-secret-expiry.json",
            json!({"client_secret_expires_at": 0}),
        ),
    ));
    cases.push((
        "an oversized body sent chunked, without a Content-Length",
        {
            let id = s.id("/big-chunked.json");
            s.docs.set(
                "/big-chunked.json",
                Page::json(&json!({"client_id": id, "client_name": "x", "redirect_uris": [CLIENT_REDIRECT], "pad": "x".repeat(6000)}))
                    .chunked(1024, Duration::ZERO),
            );
            id
        },
    ));
    cases.push((
        "bidi characters in the name",
        s.serve("/bidi.json", json!({"client_name": "Claude\u{202e}lapyap"})),
    ));
    cases.push(("not found", s.id("/nowhere.json")));
    for (why, id) in &cases {
        assert_refused(&s.authorize(id).await, why);
    }
    assert_eq!(
        s.docs.hits("/target.json"),
        0,
        "the redirect was not followed"
    );

    // A redirect URI the document does not list.
    let id = s.serve(
        "/other-uri.json",
        json!({"redirect_uris": ["https://elsewhere.example/cb"]}),
    );
    assert_refused(&s.authorize(&id).await, "redirect_uri not listed");

    // No redirect URI sent, and the document lists several: which one is meant cannot be told.
    let id = s.serve(
        "/several.json",
        json!({"redirect_uris": [CLIENT_REDIRECT, "http://127.0.0.1:9/other"]}),
    );
    let res = get(&s.proxy.url(&format!(
        "/authorize?{}",
        authorize_query(&id, &[("redirect_uri", None)])
    )))
    .await;
    assert_refused(&res, "no redirect_uri, several listed");
    s.stop().await;
}

#[actix_web::test]
async fn the_document_bound_is_configurable_and_holds_to_the_byte() {
    let bound = 2 * 1024;
    let limits = ProxyLimits::builder()
        .client_document(bound)
        .build()
        .unwrap();
    let s = Setup::start_with(|d| d, limits).await;
    // A valid document padded with spaces to exactly `len` bytes.
    let serve = |path: &str, len: usize| {
        let id = s.id(path);
        let mut body = json!({"client_id": id, "client_name": "Docs Client", "redirect_uris": [CLIENT_REDIRECT]})
            .to_string()
            .into_bytes();
        body.resize(len, b' ');
        s.docs.set(
            path,
            Page {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body,
                delay: None,
                chunked: None,
            },
        );
        id
    };
    let at = serve("/at.json", bound);
    let res = s.authorize(&at).await;
    assert_eq!(
        res.status,
        StatusCode::SEE_OTHER,
        "at the bound: {}",
        res.text()
    );
    let past = serve("/past.json", bound + 1);
    assert_refused(&s.authorize(&past).await, "one byte past the bound");
    // The default bound (5 KiB) would have taken it: the configured one refused it.
    assert!(bound + 1 < 5 * 1024);
    s.stop().await;
}

#[actix_web::test]
async fn a_slow_document_is_given_up_after_five_seconds() {
    let s = Setup::start(|d| d).await;
    let id = s.serve("/slow.json", json!({}));
    let mut page = Page::json(&json!({}));
    page.delay = Some(Duration::from_secs(30));
    s.docs.set("/slow.json", page);
    let started = std::time::Instant::now();
    assert_refused(&s.authorize(&id).await, "slow");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(9), "took {took:?}");

    // A body that starts at once and trickles in, 8 bytes every half second: past the bound
    // well before its end.
    let id = s.id("/trickle.json");
    s.docs.set(
        "/trickle.json",
        Page::json(
            &json!({"client_id": id, "client_name": "Trickle", "redirect_uris": [CLIENT_REDIRECT]}),
        )
        .chunked(8, Duration::from_millis(500)),
    );
    let started = std::time::Instant::now();
    assert_refused(&s.authorize(&id).await, "trickling");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(9), "took {took:?}");
    assert_eq!(s.docs.hits("/trickle.json"), 1);
    s.stop().await;
}

/// The refusal the guard logs for `host`, at `debug`.
fn guard_refusal(host: &str) -> String {
    format!("`{host}` resolves to a non-public address")
}

#[actix_web::test]
async fn the_guard_refuses_names_of_non_public_addresses_without_connecting() {
    let s = Setup::start(|d| d).await;
    let port = s.docs.port();
    for (host, _) in REFUSED {
        let before = logged(&guard_refusal(host));
        let id = format!("https://{host}:{port}/client.json");
        assert_refused(&s.authorize(&id).await, host);
        assert_eq!(
            logged(&guard_refusal(host)),
            before + 1,
            "{host}: refused by the guard"
        );
        assert_eq!(s.resolver.calls(host), 1, "{host}: resolved once");
    }
    assert_eq!(
        s.docs.total_hits(),
        0,
        "no request reached the document server"
    );
    s.stop().await;
}

#[actix_web::test]
async fn without_the_loopback_exception_loopback_names_and_ip_literals_are_refused() {
    // The document server itself is the refused target here.
    record_logs();
    let ca = TestCa::new(&cert_names());
    let docs = HttpsServer::start(&ca).await;
    let up = Upstream::start().await;
    let resolver = Resolver::default();
    let settings = ClientDocuments::builder()
        .extra_root_certificate(ca.ca_pem.clone())
        .resolver(resolver.seam())
        .build()
        .unwrap();
    let proxy = ProxyServer::start(
        up.proxy(&key(1), ManualClock::at(T0))
            .client_documents(settings)
            .build()
            .unwrap(),
    )
    .await;
    let port = docs.port();
    let authorize = |id: String| {
        let url = proxy.url(&format!("/authorize?{}", authorize_query(&id, &[])));
        async move { get(&url).await }
    };
    for host in [DOCS_HOST, "v6-loopback.test"] {
        let before = logged(&guard_refusal(host));
        let res = authorize(format!("https://{host}:{port}/client.json")).await;
        assert_refused(&res, host);
        assert_eq!(logged(&guard_refusal(host)), before + 1, "{host}");
    }
    let literal = "an IP-literal host that is not allowed";
    for host in ["127.0.0.1", "[::1]", "10.0.0.1"] {
        let before = logged(literal);
        let res = authorize(format!("https://{host}:{port}/client.json")).await;
        assert_refused(&res, host);
        assert!(logged(literal) > before, "{host}: refused as a literal");
    }
    assert_eq!(resolver.calls("127.0.0.1") + resolver.calls("10.0.0.1"), 0);
    assert_eq!(
        docs.total_hits(),
        0,
        "no request reached the document server"
    );
    proxy.stop().await;
    docs.stop().await;
    up.stop().await;
}

#[actix_web::test]
async fn a_host_ending_with_a_dot_is_refused_before_the_host_lists_and_any_lookup() {
    let s = Setup::start(|d| d.deny_hosts([DOCS_HOST])).await;
    let port = s.docs.port();
    s.serve("/client.json", json!({}));
    let before = logged("ends with a dot");
    // `docs.test.` is `docs.test` to DNS, but would not match the deny list.
    let id = format!("https://{DOCS_HOST}.:{port}/client.json");
    assert_refused(&s.authorize(&id).await, "trailing dot");
    assert_eq!(logged("ends with a dot"), before + 1);
    assert_eq!(s.resolver.calls(&format!("{DOCS_HOST}.")), 0);
    assert_eq!(s.docs.total_hits(), 0);
    s.stop().await;
}

#[actix_web::test]
async fn requests_for_a_document_being_fetched_wait_for_that_one_fetch() {
    // One slot: were the waiting requests to fetch too, they would be told to come back.
    let s = Setup::start(|d| d.max_in_flight(1)).await;
    let id = s.serve("/shared.json", json!({}));
    let mut page = Page::json(
        &json!({"client_id": id, "client_name": "Shared", "redirect_uris": [CLIENT_REDIRECT]}),
    );
    page.delay = Some(Duration::from_secs(1));
    s.docs.set("/shared.json", page);
    let url = s
        .proxy
        .url(&format!("/authorize?{}", authorize_query(&id, &[])));
    let requests: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            actix_rt::spawn(async move { get(&url).await })
        })
        .collect();
    for request in requests {
        let res = request.await.unwrap();
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.text());
    }
    assert_eq!(s.docs.hits("/shared.json"), 1, "one fetch");
    assert_eq!(s.resolver.calls(DOCS_HOST), 1, "one lookup");
    s.stop().await;
}

#[actix_web::test]
async fn a_fetch_slot_is_held_until_its_name_lookup_returns() {
    let s = Setup::start(|d| d.max_in_flight(1)).await;
    let port = s.docs.port();
    s.docs.set("/client.json", Page::json(&json!({})));
    let other = s.serve("/other.json", json!({}));
    // The lookup of `stuck.test` outlasts the 5 s bound of its fetch.
    let started = std::time::Instant::now();
    let stuck = format!("https://stuck.test:{port}/client.json");
    assert_refused(&s.authorize(&stuck).await, "lookup past the bound");
    assert!(started.elapsed() < Duration::from_millis(6400));
    // The fetch is over but its lookup is not: the slot is still taken.
    let busy = s.authorize(&other).await;
    assert_eq!(
        busy.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        busy.text()
    );
    assert!(
        busy.text().contains("temporarily_unavailable"),
        "{}",
        busy.text()
    );
    // Once the lookup has returned, the slot is back. Waited for, not timed: on a loaded
    // machine the lookup starts well after the request does.
    while s.resolver.unstuck.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the lookup never returned"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    let returned = std::time::Instant::now();
    let later = loop {
        let later = s.authorize(&other).await;
        if later.status != StatusCode::SERVICE_UNAVAILABLE
            || returned.elapsed() > Duration::from_secs(5)
        {
            break later;
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(later.status, StatusCode::SEE_OTHER, "{}", later.text());
    assert_eq!(s.docs.hits("/client.json"), 0);
    s.stop().await;
}

#[actix_web::test]
async fn urls_that_are_not_https_with_a_path_or_that_the_host_lists_refuse_are_not_fetched() {
    let s = Setup::start(|d| {
        d.deny_hosts(["blocked.docs.test"])
            .allow_hosts(["*.docs.test"])
            .allow_listed_only(true)
    })
    .await;
    let port = s.docs.port();
    for id in [
        format!("https://{DOCS_HOST}:{port}/"),
        format!("https://{DOCS_HOST}:{port}"),
        format!("https://user@{DOCS_HOST}:{port}/c.json"),
        format!("https://{DOCS_HOST}:{port}/c.json#x"),
        format!("https://{DOCS_HOST}:{port}/a/../c.json"),
        format!("https://DOCS.test:{port}/c.json"),
        // On neither list while only the allow list counts.
        format!("https://{DOCS_HOST}:{port}/c.json"),
        format!("https://blocked.docs.test:{port}/c.json"),
    ] {
        assert_refused(&s.authorize(&id).await, &id);
    }
    // http is not a document URL at all: an unknown client.
    let res = s
        .authorize(&format!("http://{DOCS_HOST}:{port}/c.json"))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.location.is_none());
    assert_eq!(s.docs.total_hits(), 0);
    s.stop().await;
}

#[actix_web::test]
async fn documents_are_cached_for_their_max_age_within_bounds_and_refusals_briefly() {
    let s = Setup::start(|d| d).await;
    let a = s.serve_for("/a.json", 120);
    let page = |res: &Answer| assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.text());
    page(&s.authorize(&a).await);
    page(&s.authorize(&a).await);
    assert_eq!(s.docs.hits("/a.json"), 1, "cached");
    s.clock.advance(121);
    page(&s.authorize(&a).await);
    assert_eq!(s.docs.hits("/a.json"), 2, "max-age honoured");

    // A max-age of a year is cut to a day.
    let y = s.serve_for("/year.json", 31_536_000);
    page(&s.authorize(&y).await);
    s.clock.advance(24 * 3600 - 1);
    page(&s.authorize(&y).await);
    assert_eq!(s.docs.hits("/year.json"), 1, "cached within the day");
    s.clock.advance(2);
    page(&s.authorize(&y).await);
    assert_eq!(s.docs.hits("/year.json"), 2, "at most a day");

    // Failures are cached briefly: a bad URL is not fetched in a loop.
    let bad = s.serve("/bad.json", json!({"client_name": null}));
    for _ in 0..3 {
        assert_refused(&s.authorize(&bad).await, "bad");
    }
    assert_eq!(s.docs.hits("/bad.json"), 1);
    s.clock.advance(31);
    assert_refused(&s.authorize(&bad).await, "bad");
    assert_eq!(s.docs.hits("/bad.json"), 2);
    s.stop().await;
}

#[actix_web::test]
async fn the_cache_is_bounded_and_makes_room_by_dropping_the_entry_nearest_expiry() {
    // Lifetimes far longer than the test: only the bound can push an entry out.
    let s = Setup::start(|d| d.cache_entries(2)).await;
    let a = s.serve_for("/a.json", 600);
    let b = s.serve_for("/b.json", 1200);
    let c = s.serve_for("/c.json", 3600);
    let page = |res: &Answer| assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.text());
    let hits = |s: &Setup| ["/a.json", "/b.json", "/c.json"].map(|p| s.docs.hits(p));
    page(&s.authorize(&a).await);
    page(&s.authorize(&b).await);
    page(&s.authorize(&a).await);
    page(&s.authorize(&b).await);
    assert_eq!(hits(&s), [1, 1, 0], "both cached");
    // A third: `a`, nearest expiry, makes room.
    page(&s.authorize(&c).await);
    page(&s.authorize(&b).await);
    page(&s.authorize(&c).await);
    assert_eq!(hits(&s), [1, 1, 1], "b and c cached");
    page(&s.authorize(&a).await);
    assert_eq!(hits(&s), [2, 1, 1], "a was dropped");
    // `a` back in: `b` (1200 s) goes before `c` (3600 s); never more than two held.
    page(&s.authorize(&c).await);
    page(&s.authorize(&a).await);
    assert_eq!(hits(&s), [2, 1, 1], "a and c cached");
    page(&s.authorize(&b).await);
    assert_eq!(hits(&s), [2, 2, 1], "b was dropped");
    s.stop().await;
}

#[actix_web::test]
async fn documents_are_refused_when_turned_off_and_the_metadata_says_so() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.proxy(&key(1), ManualClock::at(T0))
            .client_documents(ClientDocuments::off())
            .build()
            .unwrap(),
    )
    .await;
    let meta = get(&proxy.url("/.well-known/oauth-authorization-server")).await;
    assert_eq!(meta.json()["client_id_metadata_document_supported"], false);
    let id = "https://docs.test/client.json";
    let res = get(&proxy.url(&format!("/authorize?{}", authorize_query(id, &[])))).await;
    assert_refused(&res, "off");
    proxy.stop().await;
    up.stop().await;
}

#[actix_web::test]
async fn fetches_in_flight_are_bounded_and_the_excess_is_told_to_come_back() {
    let s = Setup::start(|d| d.max_in_flight(1)).await;
    let slow = s.serve("/slow.json", json!({}));
    let mut page = Page::json(&json!({}));
    page.delay = Some(Duration::from_secs(30));
    s.docs.set("/slow.json", page);
    let other = s.serve("/other.json", json!({}));
    let url = s
        .proxy
        .url(&format!("/authorize?{}", authorize_query(&slow, &[])));
    let first = actix_rt::spawn(async move { get(&url).await });
    // The first fetch holds the only slot until its 5 s run out.
    while s.docs.hits("/slow.json") == 0 {
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    let busy = s.authorize(&other).await;
    assert_eq!(
        busy.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        busy.text()
    );
    assert!(busy.location.is_none());
    assert!(
        busy.text().contains("temporarily_unavailable"),
        "{}",
        busy.text()
    );
    assert_eq!(s.docs.hits("/other.json"), 0);
    assert_refused(&first.await.unwrap(), "slow");
    // The slot is given back.
    let later = s.authorize(&other).await;
    assert_eq!(later.status, StatusCode::SEE_OTHER, "{}", later.text());
    s.stop().await;
}

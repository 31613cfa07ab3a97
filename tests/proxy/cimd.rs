//! Clients identified by the https URL of their metadata document: the document served over
//! https by a server with a certificate from a CA made in the test (trusted through
//! `extra_root_certificate`), names resolved by an injected resolver, and every refusal shown
//! to the user as `invalid_client`, never redirected.

use std::{net::IpAddr, sync::Arc, time::Duration};

use actix_mcp_oauth::{clock::ManualClock, proxy::ClientDocuments};
use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::fixtures::*;

#[path = "../common/tls.rs"]
mod tls;
use tls::{HttpsServer, Page, TestCa};

const DOCS_HOST: &str = "docs.test";

/// The resolver of these tests: `docs.test` is the local document server; the other names
/// stand for hosts that resolve to addresses the guard must refuse. Nothing is ever sent to
/// those addresses: the guard refuses them before any connection.
fn resolve(host: &str) -> std::io::Result<Vec<IpAddr>> {
    let ips: &[&str] = match host {
        DOCS_HOST => &["127.0.0.1"],
        "loopback.test" => &["127.0.0.1"],
        "private.test" => &["10.0.0.1"],
        "metadata.test" => &["169.254.169.254"],
        "v6-loopback.test" => &["::1"],
        "mapped.test" => &["::ffff:10.0.0.1"],
        "nat64.test" => &["64:ff9b::a00:1"],
        "mixed.test" => &["8.8.8.8", "10.0.0.1"],
        _ => return Err(std::io::Error::other("no such host")),
    };
    Ok(ips.iter().map(|ip| ip.parse().unwrap()).collect())
}

struct Setup {
    up: Upstream,
    docs: HttpsServer,
    proxy: ProxyServer,
    clock: Arc<ManualClock>,
}

impl Setup {
    /// The document server, and a proxy that trusts its CA and lets `docs.test` (loopback)
    /// through, as a local test needs; `documents` adjusts the rest.
    async fn start(
        documents: impl FnOnce(
            actix_mcp_oauth::proxy::ClientDocumentsBuilder,
        ) -> actix_mcp_oauth::proxy::ClientDocumentsBuilder,
    ) -> Self {
        let ca = TestCa::new(&[DOCS_HOST]);
        let docs = HttpsServer::start(&ca).await;
        let up = Upstream::start().await;
        let clock = ManualClock::at(T0);
        let settings = documents(
            ClientDocuments::builder()
                .allow_loopback(true)
                .extra_root_certificate(ca.ca_pem.clone())
                .resolver(resolve),
        )
        .build()
        .unwrap();
        let proxy = ProxyServer::start(
            up.proxy(&key(1), clock.clone())
                .client_documents(settings)
                .build()
                .unwrap(),
        )
        .await;
        Self {
            up,
            docs,
            proxy,
            clock,
        }
    }

    fn id(&self, path: &str) -> String {
        format!("https://{DOCS_HOST}:{}{path}", self.docs.port())
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
    let s = Setup::start(|d| d).await;
    let id = s.serve("/client.json", json!({}));
    let meta = get(&s.proxy.url("/.well-known/oauth-authorization-server")).await;
    assert_eq!(meta.json()["client_id_metadata_document_supported"], true);

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
    // /authorize, then /token: one fetch, the cached document served the second.
    assert_eq!(s.docs.hits("/client.json"), 1);
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
    s.stop().await;
}

#[actix_web::test]
async fn the_guard_refuses_names_of_non_public_addresses_without_connecting() {
    // No loopback exception here: the document server itself is one of the refused targets.
    let ca = TestCa::new(&[DOCS_HOST]);
    let docs = HttpsServer::start(&ca).await;
    let up = Upstream::start().await;
    let settings = ClientDocuments::builder()
        .extra_root_certificate(ca.ca_pem.clone())
        .resolver(resolve)
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
    for host in [
        DOCS_HOST,
        "loopback.test",
        "private.test",
        "metadata.test",
        "v6-loopback.test",
        "mapped.test",
        "nat64.test",
        "mixed.test",
        "127.0.0.1",
        "[::1]",
        "10.0.0.1",
    ] {
        let id = format!("https://{host}:{port}/client.json");
        let res = get(&proxy.url(&format!("/authorize?{}", authorize_query(&id, &[])))).await;
        assert_refused(&res, host);
    }
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
async fn documents_are_cached_for_their_max_age_within_bounds_and_the_cache_is_bounded() {
    let s = Setup::start(|d| d.cache_entries(2)).await;
    let a = s.serve("/a.json", json!({}));
    s.docs.set(
        "/a.json",
        Page::json(
            &json!({"client_id": a, "client_name": "A", "redirect_uris": [CLIENT_REDIRECT]}),
        )
        .header("cache-control", "max-age=120"),
    );
    let page = |res: &Answer| assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.text());
    page(&s.authorize(&a).await);
    page(&s.authorize(&a).await);
    assert_eq!(s.docs.hits("/a.json"), 1, "cached");
    s.clock.advance(121);
    page(&s.authorize(&a).await);
    assert_eq!(s.docs.hits("/a.json"), 2, "max-age honoured");

    // A max-age of a year is cut to a day.
    let y = s.id("/year.json");
    s.docs.set(
        "/year.json",
        Page::json(
            &json!({"client_id": y, "client_name": "Y", "redirect_uris": [CLIENT_REDIRECT]}),
        )
        .header("cache-control", "max-age=31536000"),
    );
    page(&s.authorize(&y).await);
    s.clock.advance(24 * 3600 + 1);
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

    // Two entries at most: with /year.json and /bad.json cached, /a.json was pushed out.
    page(&s.authorize(&y).await);
    assert_eq!(s.docs.hits("/year.json"), 2, "still cached");
    page(&s.authorize(&a).await);
    assert_eq!(s.docs.hits("/a.json"), 3, "evicted, fetched again");
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
    assert_eq!(s.docs.hits("/other.json"), 0);
    assert_refused(&first.await.unwrap(), "slow");
    // The slot is given back.
    let later = s.authorize(&other).await;
    assert_eq!(later.status, StatusCode::SEE_OTHER, "{}", later.text());
    s.stop().await;
}

//! `/authorize`: errors are shown until the client and redirect URI are trusted and the user
//! has approved the client (or it is the operator's static client), and redirected to the
//! client (RFC 6749 §4.1.2.1) after.

use actix_mcp_oauth::clock::ManualClock;
use actix_web::http::StatusCode;

use crate::fixtures::*;

async fn setup() -> (Upstream, ProxyServer, String) {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT, "http://127.0.0.1:33418/cb"]).await;
    (up, proxy, client_id)
}

#[actix_web::test]
async fn untrusted_client_or_redirect_uri_errors_are_shown_never_redirected() {
    let (up, proxy, client_id) = setup().await;
    let no_client = authorize_query(&client_id, &[("client_id", None)]);
    let unknown = authorize_query("forged-client", &[]);
    let unregistered = authorize_query(
        &client_id,
        &[("redirect_uri", Some("https://evil.example/cb"))],
    );
    let no_redirect = authorize_query(&client_id, &[("redirect_uri", None)]);
    let repeated = format!(
        "{}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
        authorize_query(&client_id, &[])
    );
    let prefix = authorize_query(
        &client_id,
        &[("redirect_uri", Some("https://client.example/callback/x"))],
    );
    for query in [
        no_client,
        unknown,
        unregistered,
        no_redirect,
        repeated,
        prefix,
    ] {
        let res = get(&proxy.url(&format!("/authorize?{query}"))).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(res.location.is_none(), "{query}");
        assert!(res.header("content-type").unwrap().starts_with("text/html"));
        assert_eq!(res.header("x-frame-options"), Some("DENY"));
        assert!(
            !res.text().contains("evil.example"),
            "nothing of the request is echoed"
        );
    }
    assert_eq!(up.count("/authorize"), 0);
    up.stop().await;
}

#[actix_web::test]
async fn a_self_registered_phishing_redirect_is_not_reached_before_approval() {
    let (up, proxy, _) = setup().await;
    let evil = register(&proxy, &["https://evil.example/phish"]).await;
    let query = format!("client_id={evil}&response_type=x");
    let res = get(&proxy.url(&format!("/authorize?{query}"))).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text());
    assert!(res.location.is_none());
    assert!(res.header("location").is_none());
    assert!(res.text().contains("unsupported_response_type"));
    assert!(!res.text().contains("evil.example"));
    up.stop().await;
}

#[actix_web::test]
async fn static_client_errors_redirect_at_once_with_state_and_iss() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.proxy(&key(1), ManualClock::at(T0))
            .static_client("operator-app", [CLIENT_REDIRECT])
            .build()
            .unwrap(),
    )
    .await;
    let query = authorize_query("operator-app", &[("response_type", Some("token"))]);
    let res = get(&proxy.url(&format!("/authorize?{query}"))).await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.text());
    assert_eq!(
        res.query("error").as_deref(),
        Some("unsupported_response_type")
    );
    assert_eq!(res.query("iss").as_deref(), Some(PUBLIC_URL));
    up.stop().await;
}

#[actix_web::test]
async fn approved_client_errors_redirect_with_state_and_iss() {
    let (up, proxy, client_id) = setup().await;
    // The user approved this client and redirect URI once; the approval is remembered.
    let browser = Browser::new();
    to_upstream(&proxy, &browser, &authorize_query(&client_id, &[])).await;
    let upstream_before = up.count("/authorize");
    let cases = [
        (vec![("response_type", None)], "invalid_request"),
        (
            vec![("response_type", Some("token"))],
            "unsupported_response_type",
        ),
        (vec![("code_challenge", None)], "invalid_request"),
        (vec![("code_challenge_method", None)], "invalid_request"),
        (
            vec![("code_challenge_method", Some("plain"))],
            "invalid_request",
        ),
        (
            vec![("code_challenge", Some("too-short"))],
            "invalid_request",
        ),
        (
            vec![("resource", Some("https://other.example/mcp"))],
            "invalid_target",
        ),
        (
            vec![("resource", Some("https://mcp.example.test/mcp/x"))],
            "invalid_target",
        ),
    ];
    for (extra, error) in cases {
        let query = authorize_query(&client_id, &extra);
        let res = browser
            .get(&proxy.url(&format!("/authorize?{query}")))
            .await;
        assert_eq!(res.status, StatusCode::FOUND, "{extra:?}");
        let location = res.location.as_ref().unwrap();
        assert!(
            location.as_str().starts_with(CLIENT_REDIRECT),
            "{extra:?}: {location}"
        );
        assert_eq!(res.query("error").as_deref(), Some(error), "{extra:?}");
        assert_eq!(res.query("state").as_deref(), Some("client-state-42"));
        assert_eq!(res.query("iss").as_deref(), Some(PUBLIC_URL));
    }
    let repeated = format!("{}&scope=a&scope=b", authorize_query(&client_id, &[]));
    let res = browser
        .get(&proxy.url(&format!("/authorize?{repeated}")))
        .await;
    assert_eq!(res.query("error").as_deref(), Some("invalid_request"));
    // RFC 6749 Appendix A.5: `state` is printable ASCII.
    let odd_state = authorize_query(&client_id, &[("state", Some("caf\u{e9}"))]);
    let res = browser
        .get(&proxy.url(&format!("/authorize?{odd_state}")))
        .await;
    assert_eq!(res.status, StatusCode::FOUND);
    assert_eq!(res.query("error").as_deref(), Some("invalid_request"));
    // The same errors in a browser that never approved it: the error page, no redirect.
    let query = authorize_query(&client_id, &[("response_type", None)]);
    let res = get(&proxy.url(&format!("/authorize?{query}"))).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.location.is_none());
    assert_eq!(up.count("/authorize"), upstream_before);
    up.stop().await;
}

#[actix_web::test]
async fn the_canonical_resource_and_a_loopback_port_change_are_accepted() {
    let (up, proxy, client_id) = setup().await;
    let resource = format!("{PUBLIC_URL}/mcp");
    let ok = [
        authorize_query(&client_id, &[("resource", Some(&resource))]),
        authorize_query(
            &client_id,
            &[("redirect_uri", Some("http://127.0.0.1:50123/cb"))],
        ),
    ];
    for query in ok {
        let res = to_upstream(&proxy, &Browser::new(), &query).await;
        assert!(res
            .location
            .unwrap()
            .as_str()
            .starts_with(&up.url("/authorize")));
    }
    let other_path = authorize_query(
        &client_id,
        &[("redirect_uri", Some("http://127.0.0.1:50123/other"))],
    );
    let res = get(&proxy.url(&format!("/authorize?{other_path}"))).await;
    assert_eq!(
        res.status,
        StatusCode::BAD_REQUEST,
        "only the port may differ"
    );
    up.stop().await;
}

#[actix_web::test]
async fn the_loopback_redirect_with_its_new_port_gets_the_code() {
    let (up, proxy, client_id) = setup().await;
    let redirect = "http://127.0.0.1:50123/cb";
    let query = authorize_query(&client_id, &[("redirect_uri", Some(redirect))]);
    let browser = Browser::new();
    let auth = to_upstream(&proxy, &browser, &query).await;
    let back = through_upstream(&proxy, &browser, &auth).await;
    assert!(back
        .location
        .as_ref()
        .unwrap()
        .as_str()
        .starts_with(redirect));
    let code = back.query("code").unwrap();
    let res = post_form(
        &proxy.url("/token"),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    up.stop().await;
}

#[actix_web::test]
async fn post_authorize_works_like_get() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let query = authorize_query(&client_id, &[]);
    let res = post_raw(
        &proxy.url("/authorize"),
        "application/x-www-form-urlencoded",
        query.into_bytes(),
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.text());
    let browser = Browser::new();
    let page = browser
        .get(&at(&proxy, res.location.as_ref().unwrap()))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let sent = decide(&proxy, &browser, &page, "approve").await;
    assert_eq!(sent.query("code_challenge"), Some(challenge(VERIFIER)));
    up.stop().await;
}

#[actix_web::test]
async fn a_single_registered_redirect_uri_may_be_omitted_then_must_be_omitted_at_token_too() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let query = authorize_query(&client_id, &[("redirect_uri", None)]);
    let browser = Browser::new();
    let auth = to_upstream(&proxy, &browser, &query).await;
    let back = through_upstream(&proxy, &browser, &auth).await;
    assert!(back
        .location
        .as_ref()
        .unwrap()
        .as_str()
        .starts_with(CLIENT_REDIRECT));
    let code = back.query("code").unwrap();
    let res = post_form(
        &proxy.url("/token"),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("code", &code),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    up.stop().await;
}

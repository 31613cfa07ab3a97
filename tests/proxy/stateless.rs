//! Statelessness, tampering and expiry: everything the proxy hands out is sealed with the key.

use actix_mcp_oauth::clock::ManualClock;
use actix_web::http::StatusCode;

use crate::fixtures::*;

#[actix_web::test]
async fn replicas_sharing_a_key_serve_any_step_and_another_key_refuses_them() {
    let up = Upstream::start().await;
    let clock = ManualClock::at(T0);
    let shared = key(7);
    let first = ProxyServer::start(up.proxy(&shared, clock.clone()).build().unwrap()).await;
    let second = ProxyServer::start(up.proxy(&shared, clock.clone()).build().unwrap()).await;
    let third = ProxyServer::start(up.proxy(&shared, clock.clone()).build().unwrap()).await;
    let foreign = ProxyServer::start(up.proxy(&key(8), clock.clone()).build().unwrap()).await;

    // Register, authorize and see the consent page on the first replica; approve on the
    // second.
    let client_id = register(&first, &[CLIENT_REDIRECT]).await;
    let browser = Browser::new();
    let query = authorize_query(&client_id, &[]);
    let page = consent_page(&first, &browser, &query).await;
    let foreign_post = decide(&foreign, &browser, &page, "approve").await;
    assert_eq!(
        foreign_post.status,
        StatusCode::FORBIDDEN,
        "another key opens no CSRF cookie"
    );
    let auth = decide(&second, &browser, &page, "approve").await;
    assert_eq!(auth.status, StatusCode::SEE_OTHER, "{}", auth.text());
    let upstream = get(auth.location.as_ref().unwrap().as_str()).await;
    let callback = upstream.location.clone().unwrap();

    // Another key opens neither the client id nor the transaction.
    let res = get(&foreign.url(&format!("/authorize?{query}"))).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let res = browser.get(&at(&foreign, &callback)).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.location.is_none());

    // The callback on the third replica (the binding cookie opens there too); it redeems the
    // upstream code.
    let back = browser.get(&at(&third, &callback)).await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.text());
    let code = back.query("code").unwrap();
    assert_eq!(up.count("/token"), 1);

    // Another key cannot redeem the code; neither step reached the upstream.
    let res = redeem(&foreign, &client_id, &code).await;
    assert_eq!(
        res.status,
        StatusCode::UNAUTHORIZED,
        "the client id does not open there"
    );
    assert_eq!(res.json()["error"], "invalid_client");
    let foreign_client = register(&foreign, &[CLIENT_REDIRECT]).await;
    let res = redeem(&foreign, &foreign_client, &code).await;
    assert_eq!(res.json()["error"], "invalid_grant", "nor does the code");
    assert_eq!(up.count("/token"), 1);

    // The token on the first, a refresh on the second, the MCP endpoint on all three; the
    // foreign key opens neither token.
    let tokens = redeem(&first, &client_id, &code).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text());
    let access = tokens.json()["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens.json()["refresh_token"].as_str().unwrap().to_owned();
    let refreshed = refresh_with(&second, &client_id, &refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text());
    let newer = refreshed.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for replica in [&first, &second, &third] {
        for token in [&access, &newer] {
            assert_eq!(mcp_as(replica, token).await.status, StatusCode::OK);
        }
    }
    assert_eq!(
        mcp_as(&foreign, &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    let res = refresh_with(&foreign, &foreign_client, &refresh).await;
    assert_eq!(res.json()["error"], "invalid_grant");

    for p in [first, second, third, foreign] {
        p.stop().await;
    }
    up.stop().await;
}

#[actix_web::test]
async fn a_rotated_key_still_opens_values_sealed_with_the_old_one() {
    let up = Upstream::start().await;
    let clock = ManualClock::at(T0);
    let old = ProxyServer::start(up.proxy(&key(1), clock.clone()).build().unwrap()).await;
    let rotated = ProxyServer::start(
        up.proxy(&key(2), clock.clone())
            .proxy_keys([key(2), key(1)])
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&old, &[CLIENT_REDIRECT]).await;
    let (code, _) = code_for(&old, &client_id).await;
    let tokens = redeem(&rotated, &client_id, &code).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text());
    up.stop().await;
}

#[actix_web::test]
async fn a_flipped_character_in_any_sealed_value_is_refused() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;

    // The client id.
    for bad in tampered(&client_id) {
        let res = get(&proxy.url(&format!("/authorize?{}", authorize_query(&bad, &[])))).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        assert!(res.location.is_none());
        let res = redeem(&proxy, &bad, "whatever").await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }

    // The transaction (upstream state).
    let browser = Browser::new();
    let auth = to_upstream(&proxy, &browser, &authorize_query(&client_id, &[])).await;
    let upstream = get(auth.location.as_ref().unwrap().as_str()).await;
    let callback = upstream.location.clone().unwrap();
    let state = callback
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    for bad in tampered(&state) {
        let mut url = callback.clone();
        url.query_pairs_mut()
            .clear()
            .append_pair("code", "up-code-1")
            .append_pair("state", &bad);
        let res = browser.get(&at(&proxy, &url)).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        assert!(res.location.is_none(), "never a redirect");
    }

    // The code.
    let back = browser.get(&at(&proxy, &callback)).await;
    let code = back.query("code").unwrap();
    let redeemed = up.count("/token");
    for bad in tampered(&code) {
        let res = redeem(&proxy, &client_id, &bad).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        assert_eq!(res.json()["error"], "invalid_grant");
    }
    assert_eq!(up.count("/token"), redeemed);
    // A value of one kind is not accepted as another: the code as a client id, the client id
    // as a state.
    let res = redeem(&proxy, &code, &code).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let res = get(&proxy.url(&format!("/oauth/callback?code=x&state={client_id}"))).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);

    let res = redeem(&proxy, &client_id, &code).await;
    assert_eq!(res.status, StatusCode::OK, "the untouched code still works");
    up.stop().await;
}

#[actix_web::test]
async fn an_expired_transaction_is_refused_with_a_page() {
    let up = Upstream::start().await;
    let clock = ManualClock::at(T0);
    let proxy = ProxyServer::start(up.proxy(&key(1), clock.clone()).build().unwrap()).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let browser = Browser::new();
    let auth = to_upstream(&proxy, &browser, &authorize_query(&client_id, &[])).await;
    let upstream = get(auth.location.as_ref().unwrap().as_str()).await;
    let callback = upstream.location.clone().unwrap();

    clock.advance(10 * 60);
    let res = browser.get(&at(&proxy, &callback)).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.location.is_none());
    assert!(res.text().contains("expired"));

    // Client ids do not expire.
    clock.advance(365 * 24 * 3600);
    let (code, _) = code_for(&proxy, &client_id).await;
    assert!(!code.is_empty());
    up.stop().await;
}

#[actix_web::test]
async fn an_expired_code_is_refused() {
    let up = Upstream::start().await;
    let clock = ManualClock::at(T0);
    let proxy = ProxyServer::start(up.proxy(&key(1), clock.clone()).build().unwrap()).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let (code, _) = code_for(&proxy, &client_id).await;
    clock.advance(4 * 60 + 59);
    let (fresh, _) = code_for(&proxy, &client_id).await;
    clock.advance(1);
    let redeemed = up.count("/token");
    let res = redeem(&proxy, &client_id, &code).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.json()["error"], "invalid_grant");
    assert_eq!(up.count("/token"), redeemed);
    let res = redeem(&proxy, &client_id, &fresh).await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "a code younger than 5 minutes opens"
    );
    up.stop().await;
}

//! The access policy at sign-in: a user it refuses is told so at the callback and the client
//! gets no code; a user it admits signs in as usual. The same policy then guards `/mcp`.

use actix_mcp_oauth::{access::AccessPolicy, clock::ManualClock};
use actix_web::http::StatusCode;

use crate::fixtures::*;

fn admitting(user_id: &'static str) -> AccessPolicy {
    AccessPolicy::builder()
        .allow_if(move |user| user.user_id == user_id)
        .build()
        .unwrap()
}

#[actix_web::test]
async fn a_user_the_policy_admits_signs_in_and_reaches_the_mcp_endpoint() {
    let up = Upstream::start().await;
    let proxy = up
        .proxy(&key(1), ManualClock::at(T0))
        .access_policy(admitting(UPSTREAM_USER))
        .build()
        .unwrap();
    let proxy = ProxyServer::start(proxy).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let (code, back) = code_for(&proxy, &client_id).await;
    assert!(back.location.unwrap().as_str().starts_with(CLIENT_REDIRECT));
    let tokens = redeem(&proxy, &client_id, &code).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text());
    let access = tokens.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(mcp_as(&proxy, &access).await.status, StatusCode::OK);
    proxy.stop().await;
    up.stop().await;
}

#[actix_web::test]
async fn a_user_the_policy_refuses_gets_the_access_denied_page_and_the_client_no_code() {
    let up = Upstream::start().await;
    let proxy = up
        .proxy(&key(1), ManualClock::at(T0))
        .access_policy(admitting("someone-else"))
        .build()
        .unwrap();
    let proxy = ProxyServer::start(proxy).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let browser = Browser::new();
    let sent = to_upstream(&proxy, &browser, &authorize_query(&client_id, &[])).await;
    let back = through_upstream(&proxy, &browser, &sent).await;

    assert_eq!(back.status, StatusCode::FORBIDDEN, "{}", back.text());
    assert!(back.location.is_none(), "no redirect to the client");
    assert!(back.query("code").is_none());
    let page = back.text();
    assert!(page.contains("Access denied"), "{page}");
    assert!(page.contains("access_denied"), "{page}");
    // The page names neither the account nor the rule.
    assert!(!page.contains(UPSTREAM_USER), "{page}");
    assert_eq!(back.header("cache-control"), Some("no-store"));
    // The upstream code was redeemed (to learn who signed in), but nothing reached the client.
    assert_eq!(up.count("/token"), 1);
    proxy.stop().await;
    up.stop().await;
}

#[actix_web::test]
async fn a_user_the_policy_no_longer_admits_gets_invalid_grant_at_refresh() {
    use std::sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    };
    let up = Upstream::start().await;
    let admitted = Arc::new(AtomicBool::new(true));
    let gate = admitted.clone();
    let policy = AccessPolicy::builder()
        .allow_if(move |_user| gate.load(Ordering::SeqCst))
        .build()
        .unwrap();
    let proxy = up
        .proxy(&key(1), ManualClock::at(T0))
        .access_policy(policy)
        .build()
        .unwrap();
    let proxy = ProxyServer::start(proxy).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let tokens = sign_in(&proxy, &client_id).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    admitted.store(false, Ordering::SeqCst);
    let res = refresh_with(&proxy, &client_id, &refresh).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text());
    assert_eq!(res.json()["error"], "invalid_grant");
    assert!(res.json().get("access_token").is_none());
    proxy.stop().await;
    up.stop().await;
}

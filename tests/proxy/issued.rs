//! Issued mode, the default: the proxy's own tokens, bound to this resource and to the client,
//! opened at `/mcp` without an upstream call; refresh rotation, one-time codes, revocation.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use actix_mcp_oauth::{
    clock::ManualClock, proxy::MemoryReplayGuard, verify::FnVerifier, Claims, TokenVerifier,
    VerifyError,
};
use actix_web::http::StatusCode;

use crate::fixtures::*;

const OTHER_PUBLIC_URL: &str = "https://other.example.test";

fn refused_as_invalid_token(res: &Answer) {
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
    let challenge = res.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
}

fn field(json: &serde_json::Value, name: &str) -> String {
    json[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name}"))
        .to_owned()
}

#[actix_web::test]
async fn the_client_gets_the_proxys_own_tokens_and_tools_get_the_upstream_token() {
    let up = Upstream::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let proxy = up
        .proxy(&key(1), ManualClock::at(T0))
        .verifier(counted_upstream_tokens(calls.clone()))
        .build()
        .unwrap();
    let proxy = ProxyServer::start(proxy).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let (code, _) = code_for(&proxy, &client_id).await;

    // The upstream code was redeemed at the callback, with the proxy's own PKCE pair: the
    // client's challenge and verifier never reach the upstream.
    assert_eq!(up.count("/token"), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "verified at the callback");
    let asked = &up.seen("/authorize")[0];
    assert_ne!(
        asked.query_param("code_challenge"),
        Some(challenge(VERIFIER))
    );
    let redeemed = &up.seen("/token")[0];
    assert_ne!(
        redeemed.form_param("code_verifier").as_deref(),
        Some(VERIFIER)
    );

    let tokens = redeem(&proxy, &client_id, &code).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text());
    assert_eq!(tokens.header("cache-control"), Some("no-store"));
    let json = tokens.json();
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"], 3600);
    assert_eq!(json["scope"], "openid email profile");
    assert!(json.get("id_token").is_none());
    let access = field(&json, "access_token");
    let refresh = field(&json, "refresh_token");
    assert_eq!(access.split('.').count(), 5, "a compact JWE");
    for token in [&access, &refresh] {
        assert!(
            !token.contains("up-code"),
            "the upstream's tokens stay sealed"
        );
    }
    assert_eq!(up.count("/token"), 1, "/token made no upstream call");

    let me = mcp_as(&proxy, &access).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    let me = me.json();
    assert_eq!(me["user_id"], UPSTREAM_USER);
    assert_eq!(me["email"], "user-1@example.test");
    assert_eq!(me["bearer_token"], access.as_str());
    assert_eq!(me["upstream_access_token"], "at-up-code-1");
    assert_eq!(me["client_id_claim"], UPSTREAM_CLIENT_ID);
    assert_eq!(
        me["scopes"],
        serde_json::json!(["openid", "email", "profile"])
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "/mcp opened the token: no verifier call"
    );
    assert_eq!(up.count("/token"), 1);
    up.stop().await;
}

#[actix_web::test]
async fn tampered_foreign_key_and_expired_issued_tokens_are_refused() {
    let up = Upstream::start().await;
    let clock = ManualClock::at(T0);
    let proxy = ProxyServer::start(
        up.proxy(&key(1), clock.clone())
            .access_token_ttl(Duration::from_secs(600))
            .build()
            .unwrap(),
    )
    .await;
    let foreign = ProxyServer::start(up.proxy(&key(2), clock.clone()).build().unwrap()).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let tokens = sign_in(&proxy, &client_id).await;
    assert_eq!(tokens["expires_in"], 600, "capped by access_token_ttl");
    let access = field(&tokens, "access_token");

    for bad in tampered(&access) {
        refused_as_invalid_token(&mcp_as(&proxy, &bad).await);
    }
    refused_as_invalid_token(&mcp_as(&foreign, &access).await);
    let foreign_client = register(&foreign, &[CLIENT_REDIRECT]).await;
    let foreign_access = field(&sign_in(&foreign, &foreign_client).await, "access_token");
    refused_as_invalid_token(&mcp_as(&proxy, &foreign_access).await);

    assert_eq!(mcp_as(&proxy, &access).await.status, StatusCode::OK);
    clock.advance(599);
    assert_eq!(mcp_as(&proxy, &access).await.status, StatusCode::OK);
    clock.advance(1);
    refused_as_invalid_token(&mcp_as(&proxy, &access).await);
    proxy.stop().await;
    foreign.stop().await;
    up.stop().await;
}

#[actix_web::test]
async fn the_access_token_lives_no_longer_than_the_upstream_token() {
    let up = Upstream::start().await;
    let clock = ManualClock::at(T0);
    let proxy = ProxyServer::start(
        up.proxy(&key(1), clock.clone())
            .access_token_ttl(Duration::from_secs(24 * 3600))
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let tokens = sign_in(&proxy, &client_id).await;
    assert_eq!(
        tokens["expires_in"], 3600,
        "the upstream token's expires_in"
    );
    clock.advance(3600);
    refused_as_invalid_token(&mcp_as(&proxy, &field(&tokens, "access_token")).await);
    up.stop().await;
}

#[actix_web::test]
async fn the_access_token_lives_no_longer_than_the_verified_upstream_exp() {
    let up = Upstream::start().await;
    let clock = ManualClock::at(T0);
    // The upstream answers `expires_in: 3600`; its token itself says ten minutes.
    let verifier = actix_mcp_oauth::verify::FnVerifier::new(|_token: String| async {
        let claims = serde_json::json!({
            "sub": UPSTREAM_USER,
            "client_id": UPSTREAM_CLIENT_ID,
            "exp": T0 + 600,
        });
        Ok(actix_mcp_oauth::Claims::new(
            serde_json::from_value(claims).unwrap(),
        ))
    });
    let proxy = ProxyServer::start(
        up.proxy(&key(1), clock.clone())
            .verifier(verifier)
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let tokens = sign_in(&proxy, &client_id).await;
    assert_eq!(tokens["expires_in"], 600, "the verified token's exp");
    let access = field(&tokens, "access_token");
    clock.advance(599);
    assert_eq!(mcp_as(&proxy, &access).await.status, StatusCode::OK);
    clock.advance(1);
    refused_as_invalid_token(&mcp_as(&proxy, &access).await);
    up.stop().await;
}

#[actix_web::test]
async fn tokens_for_another_resource_under_the_same_key_are_refused() {
    let up = Upstream::start().await;
    let clock = ManualClock::at(T0);
    let ours = ProxyServer::start(up.proxy(&key(1), clock.clone()).build().unwrap()).await;
    let other = ProxyServer::start(
        up.proxy(&key(1), clock.clone())
            .public_url(OTHER_PUBLIC_URL)
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&ours, &[CLIENT_REDIRECT]).await;
    let tokens = sign_in(&ours, &client_id).await;
    let access = field(&tokens, "access_token");
    refused_as_invalid_token(&mcp_as(&other, &access).await);
    // The client id opens there (same key), the refresh token is for our resource only.
    let before = up.count("/token");
    let res = refresh_with(&other, &client_id, &field(&tokens, "refresh_token")).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text());
    assert_eq!(res.json()["error"], "invalid_grant");
    assert_eq!(up.count("/token"), before);
    assert_eq!(mcp_as(&ours, &access).await.status, StatusCode::OK);
    up.stop().await;
}

#[actix_web::test]
async fn a_refresh_token_is_not_an_access_token_nor_the_reverse() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let (code, _) = code_for(&proxy, &client_id).await;
    refused_as_invalid_token(&mcp_as(&proxy, &code).await);
    let tokens = redeem(&proxy, &client_id, &code).await.json();
    let (access, refresh) = (
        field(&tokens, "access_token"),
        field(&tokens, "refresh_token"),
    );
    refused_as_invalid_token(&mcp_as(&proxy, &refresh).await);
    refused_as_invalid_token(&mcp_as(&proxy, &client_id).await);
    let before = up.count("/token");
    let res = refresh_with(&proxy, &client_id, &access).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.json()["error"], "invalid_grant");
    assert_eq!(up.count("/token"), before);
    up.stop().await;
}

#[actix_web::test]
async fn a_refresh_token_of_another_client_is_invalid_grant_and_never_reaches_the_upstream() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let victim = register(&proxy, &[CLIENT_REDIRECT]).await;
    let thief = register(&proxy, &["https://thief.example/cb"]).await;
    let refresh = field(&sign_in(&proxy, &victim).await, "refresh_token");
    let before = up.count("/token");
    let res = refresh_with(&proxy, &thief, &refresh).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text());
    assert_eq!(res.json()["error"], "invalid_grant");
    assert_eq!(up.count("/token"), before, "no upstream call");
    // The refusal did not burn it for its own client.
    let res = refresh_with(&proxy, &victim, &refresh).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    up.stop().await;
}

#[actix_web::test]
async fn every_refresh_rotates_and_a_replayed_refresh_token_is_refused() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let first = field(&sign_in(&proxy, &client_id).await, "refresh_token");

    let res = refresh_with(&proxy, &client_id, &first).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let json = res.json();
    assert_eq!(json["token_type"], "Bearer");
    assert!(json.get("id_token").is_none());
    let second = field(&json, "refresh_token");
    assert_ne!(second, first, "a new refresh token");
    let sent = up.seen("/token").pop().unwrap();
    assert_eq!(
        sent.form_param("grant_type").as_deref(),
        Some("refresh_token")
    );
    assert_eq!(
        sent.form_param("refresh_token").as_deref(),
        Some("rt-up-code-1")
    );
    let me = mcp_as(&proxy, &field(&json, "access_token")).await.json();
    assert_eq!(me["upstream_access_token"], "at-refreshed-rt-up-code-1");

    let before = up.count("/token");
    let replay = refresh_with(&proxy, &client_id, &first).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.json()["error"], "invalid_grant");
    assert_eq!(
        up.count("/token"),
        before,
        "a replay makes no upstream call"
    );

    // The upstream kept its refresh token (it did not rotate it): the next refresh uses it.
    let res = refresh_with(&proxy, &client_id, &second).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let sent = up.seen("/token").pop().unwrap();
    assert_eq!(
        sent.form_param("refresh_token").as_deref(),
        Some("rt-up-code-1")
    );

    // A narrower scope may be asked for; a name the server does not define is ignored (the
    // scope tests cover a defined scope that was not granted: invalid_scope).
    let third = field(&res.json(), "refresh_token");
    let unknown = post_form(
        &proxy.url("/token"),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client_id),
            ("refresh_token", &third),
            ("scope", "openid admin"),
        ],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::OK, "{}", unknown.text());
    assert_eq!(unknown.json()["scope"], "openid");
    let fourth = field(&unknown.json(), "refresh_token");
    let narrower = post_form(
        &proxy.url("/token"),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client_id),
            ("refresh_token", &fourth),
            ("scope", "openid"),
            ("resource", &format!("{PUBLIC_URL}/mcp")),
        ],
    )
    .await;
    assert_eq!(narrower.status, StatusCode::OK, "{}", narrower.text());
    assert_eq!(narrower.json()["scope"], "openid");
    up.stop().await;
}

#[actix_web::test]
async fn without_an_upstream_refresh_token_a_refresh_verifies_the_upstream_token_again() {
    let up = Upstream::start().await;
    up.set_mode(TokenMode::NoRefresh);
    let calls = Arc::new(AtomicUsize::new(0));
    let proxy = up
        .proxy(&key(1), ManualClock::at(T0))
        .verifier(counted_upstream_tokens(calls.clone()))
        .build()
        .unwrap();
    let proxy = ProxyServer::start(proxy).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let tokens = sign_in(&proxy, &client_id).await;
    let before = up.count("/token");
    let res = refresh_with(&proxy, &client_id, &field(&tokens, "refresh_token")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(up.count("/token"), before, "nothing to refresh upstream");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "verified again");
    let me = mcp_as(&proxy, &field(&res.json(), "access_token")).await;
    assert_eq!(me.json()["upstream_access_token"], "at-up-code-1");
    up.stop().await;
}

#[actix_web::test]
async fn a_code_is_redeemed_once_and_its_replay_makes_no_upstream_call() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let (code, _) = code_for(&proxy, &client_id).await;
    let before = up.count("/token");
    assert_eq!(
        redeem(&proxy, &client_id, &code).await.status,
        StatusCode::OK
    );
    let replay = redeem(&proxy, &client_id, &code).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.json()["error"], "invalid_grant");
    assert_eq!(up.count("/token"), before);
    up.stop().await;
}

#[actix_web::test]
async fn a_provider_token_sent_directly_is_refused_unless_upstream_tokens_are_accepted() {
    let up = Upstream::start().await;
    let strict = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    refused_as_invalid_token(&mcp_as(&strict, "at-up-code-1").await);

    let lenient = ProxyServer::start(
        up.proxy(&key(1), ManualClock::at(T0))
            .accept_upstream_tokens(true)
            .build()
            .unwrap(),
    )
    .await;
    let me = mcp_as(&lenient, "at-up-code-1").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    assert_eq!(me.json()["upstream_access_token"], "at-up-code-1");
    // Another app's token of the same provider names another client.
    refused_as_invalid_token(&mcp_as(&lenient, "at-other-app").await);
    // Issued tokens still work there.
    let client_id = register(&lenient, &[CLIENT_REDIRECT]).await;
    let access = field(&sign_in(&lenient, &client_id).await, "access_token");
    assert_eq!(mcp_as(&lenient, &access).await.status, StatusCode::OK);
    up.stop().await;
}

#[actix_web::test]
async fn passthrough_accepts_provider_tokens_of_our_client_only() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let tokens = sign_in(&proxy, &client_id).await;
    assert_eq!(tokens["access_token"], "at-up-code-1");
    let me = mcp_as(&proxy, "at-up-code-1").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["bearer_token"], "at-up-code-1");
    refused_as_invalid_token(&mcp_as(&proxy, "at-other-app").await);
    up.stop().await;
}

#[actix_web::test]
async fn the_client_check_can_be_turned_off() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .check_upstream_client(false)
            .build()
            .unwrap(),
    )
    .await;
    assert_eq!(mcp_as(&proxy, "at-other-app").await.status, StatusCode::OK);
    up.stop().await;
}

#[actix_web::test]
async fn issued_tokens_keep_working_while_their_old_key_is_configured_to_open() {
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
    let retired = ProxyServer::start(up.proxy(&key(2), clock.clone()).build().unwrap()).await;
    let client_id = register(&old, &[CLIENT_REDIRECT]).await;
    let tokens = sign_in(&old, &client_id).await;
    let access = field(&tokens, "access_token");
    assert_eq!(mcp_as(&rotated, &access).await.status, StatusCode::OK);
    refused_as_invalid_token(&mcp_as(&retired, &access).await);
    let res = refresh_with(&rotated, &client_id, &field(&tokens, "refresh_token")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    // Sealed with the new key now: the old replica cannot open it.
    let newer = field(&res.json(), "access_token");
    refused_as_invalid_token(&mcp_as(&old, &newer).await);
    assert_eq!(mcp_as(&retired, &newer).await.status, StatusCode::OK);
    up.stop().await;
}

#[actix_web::test]
async fn revoking_a_refresh_token_revokes_it_upstream_and_here() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let refresh = field(&sign_in(&proxy, &client_id).await, "refresh_token");
    let res = post_form(
        &proxy.url("/revoke"),
        &[("client_id", &client_id), ("token", &refresh)],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let sent = up.seen("/revoke");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].form_param("token").as_deref(), Some("rt-up-code-1"));
    let res = refresh_with(&proxy, &client_id, &refresh).await;
    assert_eq!(res.json()["error"], "invalid_grant");
    up.stop().await;
}

#[actix_web::test]
async fn a_revoked_access_token_is_refused_here_and_foreign_tokens_are_ignored() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let other = register(&proxy, &[CLIENT_REDIRECT]).await;
    let access = field(&sign_in(&proxy, &client_id).await, "access_token");
    assert_eq!(
        mcp_as(&proxy, &access).await.status,
        StatusCode::OK,
        "cached"
    );

    // Unknown tokens, and another client's: 200, nothing forwarded, nothing revoked.
    for (client, token) in [
        (&client_id, "at-up-code-1"),
        (&client_id, "junk"),
        (&other, access.as_str()),
    ] {
        let res = post_form(
            &proxy.url("/revoke"),
            &[("client_id", client), ("token", token)],
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    }
    assert_eq!(up.count("/revoke"), 0);
    assert_eq!(mcp_as(&proxy, &access).await.status, StatusCode::OK);

    let res = post_form(
        &proxy.url("/revoke"),
        &[
            ("client_id", &client_id),
            ("token", &access),
            ("token_type_hint", "access_token"),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(up.count("/revoke"), 0, "an access token is revoked here");
    refused_as_invalid_token(&mcp_as(&proxy, &access).await);
    up.stop().await;
}

#[actix_web::test]
async fn an_upstream_token_the_verifier_refuses_ends_the_sign_in_with_access_denied() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.proxy(&key(1), ManualClock::at(T0))
            .verifier(no_tokens())
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let browser = Browser::new();
    let sent = to_upstream(&proxy, &browser, &authorize_query(&client_id, &[])).await;
    let back = through_upstream(&proxy, &browser, &sent).await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.text());
    assert!(back
        .location
        .as_ref()
        .unwrap()
        .as_str()
        .starts_with(CLIENT_REDIRECT));
    assert_eq!(back.query("error").as_deref(), Some("access_denied"));
    assert_eq!(back.query("state").as_deref(), Some("client-state-42"));
    assert_eq!(back.query("iss").as_deref(), Some(PUBLIC_URL));
    assert_eq!(back.query("code"), None);
    up.stop().await;
}

#[actix_web::test]
async fn an_upstream_failure_at_the_callback_goes_back_to_the_client_as_server_error() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    for mode in [TokenMode::ErrorIn200, TokenMode::Hang] {
        up.set_mode(mode);
        let browser = Browser::new();
        let sent = to_upstream(&proxy, &browser, &authorize_query(&client_id, &[])).await;
        let back = through_upstream(&proxy, &browser, &sent).await;
        assert_eq!(back.status, StatusCode::FOUND, "{mode:?}: {}", back.text());
        assert_eq!(
            back.query("error").as_deref(),
            Some("server_error"),
            "{mode:?}"
        );
        assert_eq!(back.query("state").as_deref(), Some("client-state-42"));
        assert_eq!(back.query("code"), None);
    }
    up.stop().await;
}

#[actix_web::test]
async fn a_code_minted_for_another_resource_under_the_same_key_is_refused() {
    let up = Upstream::start().await;
    let clock = ManualClock::at(T0);
    for passthrough in [false, true] {
        let build = |public: Option<&str>| {
            let b = if passthrough {
                up.passthrough(&key(1), clock.clone())
            } else {
                up.proxy(&key(1), clock.clone())
            };
            match public {
                Some(url) => b.public_url(url),
                None => b,
            }
            .build()
            .unwrap()
        };
        let ours = ProxyServer::start(build(None)).await;
        let other = ProxyServer::start(build(Some(OTHER_PUBLIC_URL))).await;
        let client_id = register(&ours, &[CLIENT_REDIRECT]).await;
        let (code, _) = code_for(&ours, &client_id).await;
        let before = up.count("/token");
        let res = redeem(&other, &client_id, &code).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text());
        assert_eq!(res.json()["error"], "invalid_grant");
        assert_eq!(up.count("/token"), before, "no upstream call");
        // Still good where it was minted.
        let res = redeem(&ours, &client_id, &code).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    }
    up.stop().await;
}

#[actix_web::test]
async fn in_passthrough_a_replayed_code_never_reaches_the_upstream_again() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let (code, _) = code_for(&proxy, &client_id).await;
    assert_eq!(up.count("/token"), 0, "passthrough redeems at /token");
    let res = redeem(&proxy, &client_id, &code).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let replay = redeem(&proxy, &client_id, &code).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{}", replay.text());
    assert_eq!(replay.json()["error"], "invalid_grant");
    assert_eq!(up.count("/token"), 1, "the replay made no upstream call");
    up.stop().await;
}

#[actix_web::test]
async fn a_revoked_access_token_is_refused_by_every_require_auth_of_the_proxy_even_when_cached() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let access = field(&sign_in(&proxy, &client_id).await, "access_token");
    let kept = field(&sign_in(&proxy, &client_id).await, "access_token");
    // `require_auth()` itself and two copies with token caches of their own, each holding
    // both tokens now.
    let endpoints = ["/mcp", "/mcp-sized", "/mcp-shared"];
    for path in endpoints {
        for token in [&access, &kept] {
            assert_eq!(
                mcp_at(&proxy, path, token).await.status,
                StatusCode::OK,
                "{path}"
            );
        }
    }
    let res = post_form(
        &proxy.url("/revoke"),
        &[("client_id", &client_id), ("token", &access)],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    for path in endpoints {
        refused_as_invalid_token(&mcp_at(&proxy, path, &access).await);
        // Asked again: refused again, not served from a cache.
        refused_as_invalid_token(&mcp_at(&proxy, path, &access).await);
        assert_eq!(
            mcp_at(&proxy, path, &kept).await.status,
            StatusCode::OK,
            "{path}: another token of the same user is not revoked"
        );
    }
    up.stop().await;
}

#[actix_web::test]
async fn an_upstream_outage_during_a_refresh_keeps_the_refresh_token_usable_once() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let refresh = field(&sign_in(&proxy, &client_id).await, "refresh_token");

    up.set_mode(TokenMode::Outage);
    for _ in 0..2 {
        let res = refresh_with(&proxy, &client_id, &refresh).await;
        assert_eq!(
            res.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            res.text()
        );
        assert_eq!(res.json()["error"], "temporarily_unavailable");
    }
    assert_eq!(
        up.count("/token"),
        3,
        "the code, then both attempts went upstream"
    );

    up.set_mode(TokenMode::Json);
    let res = refresh_with(&proxy, &client_id, &refresh).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let rotated = field(&res.json(), "refresh_token");
    let me = mcp_as(&proxy, &field(&res.json(), "access_token")).await;
    assert_eq!(
        me.json()["upstream_access_token"],
        "at-refreshed-rt-up-code-1"
    );

    // Used now: a replay is refused without an upstream call, and the new one works.
    let before = up.count("/token");
    let replay = refresh_with(&proxy, &client_id, &refresh).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.json()["error"], "invalid_grant");
    assert_eq!(up.count("/token"), before);
    let res = refresh_with(&proxy, &client_id, &rotated).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    up.stop().await;
}

/// The upstream double's access tokens, verified for `lifetime` seconds after `T0`, or
/// unavailable (its keys unreachable) while `down` is set.
fn switchable_upstream_tokens(down: Arc<AtomicBool>, lifetime: u64) -> impl TokenVerifier {
    FnVerifier::new(move |token: String| {
        let down = down.load(Ordering::SeqCst);
        async move {
            if down {
                return Err(VerifyError::Unavailable("keys unreachable".into()));
            }
            if !token.starts_with("at-") {
                return Err(VerifyError::Rejected("not the upstream's".into()));
            }
            let claims = serde_json::json!({
                "sub": UPSTREAM_USER,
                "client_id": UPSTREAM_CLIENT_ID,
                "exp": T0 + lifetime,
            });
            Ok(Claims::new(serde_json::from_value(claims).unwrap()))
        }
    })
}

#[actix_web::test]
async fn a_failure_after_the_provider_answered_new_tokens_spends_the_refresh_token() {
    let up = Upstream::start().await;
    let down = Arc::new(AtomicBool::new(false));
    let proxy = up
        .proxy(&key(1), ManualClock::at(T0))
        .verifier(switchable_upstream_tokens(down.clone(), 3600))
        .build()
        .unwrap();
    let proxy = ProxyServer::start(proxy).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let refresh = field(&sign_in(&proxy, &client_id).await, "refresh_token");

    // The provider refreshes (and may have rotated its refresh token), then its keys are
    // unreachable: the refresh fails, and the old upstream refresh token is spent.
    down.store(true, Ordering::SeqCst);
    let res = refresh_with(&proxy, &client_id, &refresh).await;
    assert_eq!(
        res.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        res.text()
    );
    let before = up.count("/token");
    down.store(false, Ordering::SeqCst);
    let retry = refresh_with(&proxy, &client_id, &refresh).await;
    assert_eq!(retry.json()["error"], "invalid_grant", "{}", retry.text());
    assert_eq!(
        up.count("/token"),
        before,
        "the spent token goes upstream no more"
    );
    up.stop().await;
}

#[actix_web::test]
async fn without_an_upstream_refresh_token_a_failed_verification_leaves_the_refresh_token_usable() {
    let up = Upstream::start().await;
    up.set_mode(TokenMode::NoRefresh);
    let down = Arc::new(AtomicBool::new(false));
    let proxy = up
        .proxy(&key(1), ManualClock::at(T0))
        .verifier(switchable_upstream_tokens(down.clone(), 3600))
        .build()
        .unwrap();
    let proxy = ProxyServer::start(proxy).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let refresh = field(&sign_in(&proxy, &client_id).await, "refresh_token");
    down.store(true, Ordering::SeqCst);
    let res = refresh_with(&proxy, &client_id, &refresh).await;
    assert_eq!(
        res.json()["error"],
        "temporarily_unavailable",
        "{}",
        res.text()
    );
    down.store(false, Ordering::SeqCst);
    let res = refresh_with(&proxy, &client_id, &refresh).await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "nothing was spent upstream: {}",
        res.text()
    );
    up.stop().await;
}

#[actix_web::test]
async fn a_refresh_token_revoked_while_its_refresh_is_in_flight_stays_revoked() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let refresh = field(&sign_in(&proxy, &client_id).await, "refresh_token");

    // The provider hangs: the refresh holds its reservation until the upstream timeout.
    up.set_mode(TokenMode::Hang);
    let before = up.count("/token");
    let in_flight = refresh_with(&proxy, &client_id, &refresh);
    let revoke = async {
        while up.count("/token") == before {
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        }
        let res = post_form(
            &proxy.url("/revoke"),
            &[("client_id", &client_id), ("token", &refresh)],
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    };
    let (res, ()) = futures::join!(in_flight, revoke);
    assert_eq!(
        res.json()["error"],
        "temporarily_unavailable",
        "{}",
        res.text()
    );

    // The outage ends: the failed refresh released its reservation, not the revocation.
    up.set_mode(TokenMode::Json);
    let res = refresh_with(&proxy, &client_id, &refresh).await;
    assert_eq!(res.json()["error"], "invalid_grant", "{}", res.text());
    up.stop().await;
}

#[actix_web::test]
async fn a_used_refresh_token_is_recorded_until_its_own_expiry_and_no_longer() {
    const DAY: u64 = 24 * 3600;
    let up = Upstream::start().await;
    let clock = ManualClock::at(T0);
    // One record: the guard is full as soon as one live record is in it.
    let proxy = up
        .proxy(&key(1), clock.clone())
        .verifier(switchable_upstream_tokens(Arc::default(), 90 * DAY))
        .replay_guard(MemoryReplayGuard::new(1))
        .build()
        .unwrap();
    let proxy = ProxyServer::start(proxy).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let first = field(&sign_in(&proxy, &client_id).await, "refresh_token");

    // Used 20 days after it was issued: recorded until its expiry, 10 days from now.
    clock.advance(20 * DAY);
    let res = refresh_with(&proxy, &client_id, &first).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let second = field(&res.json(), "refresh_token");
    clock.advance(5 * DAY);
    let res = refresh_with(&proxy, &client_id, &second).await;
    assert_eq!(
        res.json()["error"],
        "temporarily_unavailable",
        "the guard is full of the first token's live record: {}",
        res.text()
    );
    // Past the first token's expiry its record goes, and the guard has room again.
    clock.advance(5 * DAY);
    let res = refresh_with(&proxy, &client_id, &second).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    up.stop().await;
}

#[actix_web::test]
async fn revoking_a_refresh_token_the_provider_no_longer_knows_is_200_and_its_outage_503() {
    let up = Upstream::start().await;
    let revocation = Double::start().await;
    let proxy = up
        .proxy(&key(1), ManualClock::at(T0))
        .revocation_endpoint(revocation.url("/revoke"))
        .build()
        .unwrap();
    let proxy = ProxyServer::start(proxy).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let revoke = |token: String| {
        let (url, client_id) = (proxy.url("/revoke"), client_id.clone());
        async move { post_form(&url, &[("client_id", &client_id), ("token", &token)]).await }
    };

    // Expired or unknown at the provider: revoked here, and 200 (RFC 7009 §2.2).
    revocation.on(
        "/revoke",
        None,
        Reply::json(400, &serde_json::json!({"error": "invalid_grant"})),
    );
    let refresh = field(&sign_in(&proxy, &client_id).await, "refresh_token");
    let res = revoke(refresh.clone()).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(revocation.count("/revoke"), 1);
    let res = refresh_with(&proxy, &client_id, &refresh).await;
    assert_eq!(res.json()["error"], "invalid_grant");

    // The provider down: 503, revoked here already, and the retry reaches the provider.
    revocation.on(
        "/revoke",
        None,
        Reply::json(
            503,
            &serde_json::json!({"error": "temporarily_unavailable"}),
        ),
    );
    let refresh = field(&sign_in(&proxy, &client_id).await, "refresh_token");
    let res = revoke(refresh.clone()).await;
    assert_eq!(
        res.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        res.text()
    );
    assert_eq!(res.json()["error"], "temporarily_unavailable");
    let res = refresh_with(&proxy, &client_id, &refresh).await;
    assert_eq!(res.json()["error"], "invalid_grant");
    revocation.on("/revoke", None, Reply::new(200, &[], ""));
    let res = revoke(refresh).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(revocation.count("/revoke"), 3);
    revocation.stop().await;
    up.stop().await;
}

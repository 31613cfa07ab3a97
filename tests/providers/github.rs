//! The GitHub preset against stand-ins answering in GitHub's documented shapes: the token check
//! and user API behind `RequireAuth` (with its cache), and the bounds on the membership calls
//! of its access rule.

use std::{sync::Arc, time::Duration};

use actix_mcp_oauth::{
    access::AccessPolicy,
    clock::{Clock, ManualClock},
    providers, ProxyKey, RequireAuth,
};
use actix_web::http::StatusCode;
use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde_json::{json, Value};

use crate::fixtures::{call, Double, Reply, T0};

const CLIENT: &str = "Iv1.8a61f9b3a7aba766";
const SECRET: &str = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b";
const CHECK: &str = "/applications/Iv1.8a61f9b3a7aba766/token";
const TOKEN: &str = "gho_16C7e42F292c6912E7710c838347Ae178B4a";

async fn setup(clock: Arc<ManualClock>) -> (Double, RequireAuth) {
    setup_with(clock, false).await
}

/// `verified_email`: ask `/user/emails` even when the profile shows a public address.
async fn setup_with(clock: Arc<ManualClock>, verified_email: bool) -> (Double, RequireAuth) {
    let github = Double::start().await;
    let proxy = providers::github()
        .client(CLIENT, SECRET)
        .verified_email(verified_email)
        .api_url(github.url(""))
        .cache_ttl(Duration::from_secs(60))
        .user_agent("mcp-test-app")
        .clock(clock)
        .builder()
        .unwrap()
        .public_url("https://mcp.example.com")
        .proxy_key(ProxyKey::generate())
        // The preset's verifier is under test: its provider's tokens go to /mcp directly.
        .accept_upstream_tokens(true)
        .build()
        .unwrap();
    (github, proxy.require_auth())
}

/// "Check a token": the authorization of `token` by our app.
fn check(token: &str, expires_at: Value) -> Value {
    json!({
        "id": 1,
        "url": "https://api.github.com/authorizations/1",
        "scopes": ["read:user", "user:email"],
        "token": token,
        "token_last_eight": &token[token.len() - 8..],
        "hashed_token": "25f94a2a5c7fbaf499c665bc73d67c1c87e496da8985131633ee0a95819db2e8",
        "app": {"url": "http://my-github-app.com", "name": "my github app", "client_id": CLIENT},
        "note": null,
        "note_url": null,
        "updated_at": "2011-09-06T20:39:23Z",
        "created_at": "2011-09-06T17:26:27Z",
        "fingerprint": null,
        "expires_at": expires_at,
        "user": {"login": "octocat", "id": 583231, "avatar_url": "https://avatars.githubusercontent.com/u/583231", "type": "User", "site_admin": false},
    })
}

fn user(email: Value) -> Value {
    json!({
        "login": "octocat",
        "id": 583231,
        "node_id": "MDQ6VXNlcjE=",
        "avatar_url": "https://avatars.githubusercontent.com/u/583231",
        "html_url": "https://github.com/octocat",
        "type": "User",
        "site_admin": false,
        "name": "The Octocat",
        "company": "@github",
        "email": email,
        "public_repos": 8,
        "created_at": "2011-01-25T18:44:36Z",
    })
}

#[actix_web::test]
async fn a_token_of_our_app_is_mapped_and_cached_for_the_configured_ttl() {
    let clock = ManualClock::at(T0);
    let (github, auth) = setup(clock.clone()).await;
    github.on(
        CHECK,
        Some(TOKEN),
        Reply::json(200, &check(TOKEN, Value::Null)),
    );
    github.on(
        "/user",
        Some(TOKEN),
        Reply::json(200, &user(json!("octocat@github.com"))),
    );

    let res = call(&auth, TOKEN).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.user["user_id"], "583231");
    assert_eq!(res.user["username"], "octocat");
    assert_eq!(res.user["name"], "The Octocat");
    // The public profile address is not marked verified, so it is not the user's `email`
    // (it stays in the claims).
    assert_eq!(res.user["email"], Value::Null);
    assert_eq!(res.user["claims"]["email"], "octocat@github.com");
    assert_eq!(
        res.user["picture"],
        "https://avatars.githubusercontent.com/u/583231"
    );
    assert_eq!(res.user["scopes"], json!(["read:user", "user:email"]));
    assert_eq!(
        res.user["claims"]["exp"],
        Value::Null,
        "OAuth app tokens do not expire"
    );

    let checked = &github.seen(CHECK)[0];
    assert_eq!(checked.method, "POST");
    let basic = STANDARD.encode(format!("{CLIENT}:{SECRET}"));
    assert_eq!(
        checked.header("authorization"),
        Some(&*format!("Basic {basic}"))
    );
    let body: Value = serde_json::from_str(&checked.body).unwrap();
    assert_eq!(body, json!({"access_token": TOKEN}));
    let asked = &github.seen("/user")[0];
    assert_eq!(
        asked.header("authorization"),
        Some(&*format!("Bearer {TOKEN}"))
    );
    assert_eq!(asked.header("user-agent"), Some("mcp-test-app"));
    assert_eq!(asked.header("x-github-api-version"), Some("2022-11-28"));

    for _ in 0..3 {
        assert_eq!(call(&auth, TOKEN).await.status, StatusCode::OK);
    }
    clock.advance(59);
    assert_eq!(call(&auth, TOKEN).await.status, StatusCode::OK);
    assert_eq!((github.count(CHECK), github.count("/user")), (1, 1));
    clock.advance(1);
    assert_eq!(call(&auth, TOKEN).await.status, StatusCode::OK);
    assert_eq!(
        (github.count(CHECK), github.count("/user")),
        (2, 2),
        "asked again once the TTL passed"
    );
    assert_eq!(
        github.count("/user/emails"),
        0,
        "the profile shows an address and no email rule wants a verified one: not asked"
    );
    assert_eq!(
        res.user["claims"]["email_verified"],
        Value::Null,
        "the public address is kept, unmarked"
    );
    github.stop().await;
}

#[actix_web::test]
async fn a_token_github_issued_to_another_app_or_revoked_is_refused_without_asking_for_the_user() {
    let (github, auth) = setup(ManualClock::at(T0)).await;
    // GitHub answers 404 when the token is not one of this app's (or no longer exists).
    github.on(
        CHECK,
        Some("gho_otherapp"),
        Reply::json(
            404,
            &json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
        ),
    );
    let mut foreign = check("gho_foreign1", Value::Null);
    foreign["app"]["client_id"] = json!("Iv1.someoneelse");
    github.on(CHECK, Some("gho_foreign1"), Reply::json(200, &foreign));
    github.on(
        CHECK,
        Some("gho_badform"),
        Reply::json(422, &json!({"message": "Validation Failed"})),
    );
    github.on(
        "/user",
        None,
        Reply::json(200, &user(json!("octocat@github.com"))),
    );
    for token in ["gho_otherapp", "gho_foreign1", "gho_badform"] {
        let res = call(&auth, token).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{token}");
    }
    assert_eq!(github.count("/user"), 0);

    // Revoked between the two calls: `/user` says 401.
    github.on(
        CHECK,
        Some("gho_revoked"),
        Reply::json(200, &check("gho_revoked", Value::Null)),
    );
    github.on("/user", Some("gho_revoked"), Reply::json(401, &json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})));
    assert_eq!(
        call(&auth, "gho_revoked").await.status,
        StatusCode::UNAUTHORIZED
    );
    github.stop().await;
}

#[actix_web::test]
async fn rate_limits_server_errors_and_refused_app_credentials_are_503() {
    let (github, auth) = setup(ManualClock::at(T0)).await;
    let limited: &[(&str, &str)] = &[
        ("x-ratelimit-limit", "60"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "1700003600"),
        ("content-type", "application/json"),
    ];
    let body = r#"{"message":"API rate limit exceeded for user ID 583231."}"#;
    github.on(CHECK, None, Reply::json(200, &check(TOKEN, Value::Null)));
    github.on("/user", None, Reply::new(403, limited, body));
    assert_eq!(
        call(&auth, TOKEN).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    github.on(
        "/user",
        None,
        Reply::new(429, &[("retry-after", "60")], body),
    );
    assert_eq!(
        call(&auth, TOKEN).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    for status in [500, 502] {
        github.on(CHECK, None, Reply::new(status, &[], "<html>unicorn</html>"));
        assert_eq!(
            call(&auth, TOKEN).await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    // Our own credentials refused: not the token's fault.
    github.on(
        CHECK,
        None,
        Reply::json(401, &json!({"message": "Bad credentials"})),
    );
    assert_eq!(
        call(&auth, TOKEN).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    github.stop().await;
}

#[actix_web::test]
async fn an_expiring_user_token_is_cached_only_until_it_expires() {
    let clock = ManualClock::at(1_315_341_000);
    let (github, auth) = setup(clock.clone()).await;
    // 2011-09-06T20:39:23Z is 1_315_341_563.
    github.on(
        CHECK,
        None,
        Reply::json(200, &check("ghu_expiring", json!("2011-09-06T20:39:23Z"))),
    );
    github.on(
        "/user",
        None,
        Reply::json(200, &user(json!("octocat@github.com"))),
    );
    let res = call(&auth, "ghu_expiring").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.user["claims"]["exp"], json!(1_315_341_563));
    clock.advance(563);
    let expired = call(&auth, "ghu_expiring").await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(github.count(CHECK), 2, "the cache let go at expiry");
    github.stop().await;
}

#[actix_web::test]
async fn the_email_is_the_primary_verified_address_marked_verified() {
    let (github, auth) = setup(ManualClock::at(T0)).await;
    github.on(CHECK, None, Reply::json(200, &check(TOKEN, Value::Null)));
    github.on("/user", None, Reply::json(200, &user(Value::Null)));
    github.on("/user/emails", None, Reply::json(200, &json!([
            {"email": "old@example.com", "verified": true, "primary": false, "visibility": null},
            {"email": "unverified@example.com", "verified": false, "primary": true, "visibility": null},
        ])));
    let res = call(&auth, TOKEN).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.user["email"],
        Value::Null,
        "no primary verified address"
    );

    let (github2, auth2) = setup(ManualClock::at(T0)).await;
    github2.on(CHECK, None, Reply::json(200, &check(TOKEN, Value::Null)));
    github2.on("/user", None, Reply::json(200, &user(Value::Null)));
    github2.on("/user/emails", None, Reply::json(200, &json!([{"email": "octocat@github.com", "verified": true, "primary": true, "visibility": "private"}])));
    let res = call(&auth2, TOKEN).await;
    assert_eq!(res.user["email"], "octocat@github.com");
    assert_eq!(res.user["claims"]["email_verified"], true);

    // With `verified_email(true)` (an email rule), a public address gives way to the primary
    // verified one, which an access policy trusts.
    let (github3, auth3) = setup_with(ManualClock::at(T0), true).await;
    github3.on(CHECK, None, Reply::json(200, &check(TOKEN, Value::Null)));
    github3.on(
        "/user",
        None,
        Reply::json(200, &user(json!("public@example.org"))),
    );
    github3.on("/user/emails", None, Reply::json(200, &json!([{"email": "octocat@github.com", "verified": true, "primary": true, "visibility": "private"}])));
    let res = call(&auth3, TOKEN).await;
    assert_eq!(res.user["email"], "octocat@github.com");
    assert_eq!(res.user["claims"]["email_verified"], true);
    assert_eq!(github3.count("/user/emails"), 1);
    assert_eq!(github2.count("/user/emails"), 1, "no public address: asked");
    github3.stop().await;
    github.stop().await;
    github2.stop().await;
}

#[actix_web::test]
async fn junk_that_is_not_the_shape_of_a_github_token_costs_no_call_to_github() {
    let (github, auth) = setup(ManualClock::at(T0)).await;
    github.on(
        CHECK,
        Some(TOKEN),
        Reply::json(200, &check(TOKEN, Value::Null)),
    );
    github.on("/user", Some(TOKEN), Reply::json(200, &user(Value::Null)));
    for i in 0..100 {
        let junk = format!("junk-token-{i}");
        assert_eq!(call(&auth, &junk).await.status, StatusCode::UNAUTHORIZED);
    }
    for junk in ["ghr_refreshtoken0", "gho_with-dash", "eyJhbGciOi.e30.c2ln"] {
        assert_eq!(call(&auth, junk).await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        github.count(CHECK),
        0,
        "no check for a token of another shape"
    );
    assert_eq!(call(&auth, TOKEN).await.status, StatusCode::OK);
    assert_eq!(github.count(CHECK), 1, "a genuine token is checked");
}

#[actix_web::test]
async fn the_shape_check_can_be_turned_off() {
    let github = Double::start().await;
    let odd = "a-token-of-a-future-shape";
    github.on(CHECK, Some(odd), Reply::json(200, &check(odd, Value::Null)));
    github.on("/user", Some(odd), Reply::json(200, &user(Value::Null)));
    let auth = providers::github()
        .client(CLIENT, SECRET)
        .api_url(github.url(""))
        .token_shape_check(false)
        .clock(ManualClock::at(T0))
        .builder()
        .unwrap()
        .public_url("https://mcp.example.com")
        .proxy_key(ProxyKey::generate())
        .accept_upstream_tokens(true)
        .build()
        .unwrap()
        .require_auth();
    assert_eq!(call(&auth, odd).await.status, StatusCode::OK);
    assert_eq!(github.count(CHECK), 1);
}

/// The membership questions behind an organisation rule share the preset's bounds: requests
/// with one token while its question is asked wait for that answer, and distinct tokens asking
/// at once get no more calls than `max_calls_in_flight`, the rest 503 (never a pass).
#[actix_web::test]
async fn membership_calls_are_one_per_token_at_once_and_within_the_budget() {
    const ORG: &str = "/user/memberships/orgs/acme";
    let clock = ManualClock::at(T0);
    let github = Double::start().await;
    let tokens: Vec<String> = (0..6).map(|i| format!("gho_member{i:0>32}")).collect();
    for (i, token) in tokens.iter().enumerate() {
        let (login, id) = (format!("user{i}"), 1000 + i);
        let scopes = ["read:user", "user:email", "read:org"];
        github.on(
            CHECK,
            Some(token),
            Reply::json(
                200,
                &json!({"scopes": scopes, "app": {"client_id": CLIENT}, "expires_at": null,
                        "user": {"login": login, "id": id}}),
            ),
        );
        github.on(
            "/user",
            Some(token),
            Reply::json(200, &json!({"login": login, "id": id, "email": null})),
        );
    }
    let member = json!({"state": "active", "role": "member"});
    github.on(ORG, None, Reply::json(200, &member));
    let preset = providers::github()
        .client(CLIENT, SECRET)
        .api_url(github.url(""))
        .max_calls_in_flight(2)
        .clock(clock.clone());
    // No answer is kept, so that every request asks.
    let rule = preset
        .org_members("acme")
        .unwrap()
        .cache_ttl(Duration::ZERO);
    let policy = AccessPolicy::builder().allow(rule).build().unwrap();
    let auth = RequireAuth::new(preset.verifier().unwrap(), "https://mcp.example.com/mcp")
        .unwrap()
        .clock(clock as Arc<dyn Clock>)
        .access_policy(policy);
    // Each token verified (and cached) and asked about once.
    for token in &tokens {
        assert_eq!(call(&auth, token).await.status, StatusCode::OK);
    }
    assert_eq!(github.count(ORG), tokens.len());

    // GitHub slow to answer: six users at once get two questions, the rest 503.
    let slow = Reply {
        delay: Some(Duration::from_millis(300)),
        ..Reply::json(200, &member)
    };
    github.on(ORG, None, slow);
    let answered = futures::future::join_all(tokens.iter().map(|t| call(&auth, t))).await;
    let admitted = answered
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .count();
    let deferred = answered
        .iter()
        .filter(|a| a.status == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert_eq!(admitted + deferred, tokens.len());
    assert!(deferred > 0 && admitted <= 2, "{admitted} admitted");
    assert_eq!(github.count(ORG), tokens.len() + admitted);

    // Twenty requests with one token at once: one question, every request admitted.
    let before = github.count(ORG);
    let same = futures::future::join_all((0..20).map(|_| call(&auth, &tokens[0]))).await;
    assert!(same.iter().all(|a| a.status == StatusCode::OK));
    assert_eq!(github.count(ORG), before + 1);
}

//! The Google preset's verifier against a stand-in for Google's token-info and userinfo
//! endpoints answering in Google's documented shapes, through `RequireAuth` and its cache.

use std::sync::Arc;

use actix_mcp_oauth::{
    clock::ManualClock, middleware::TokenCache, providers, ProxyKey, RequireAuth, TokenVerifier,
    VerifyError,
};
use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::fixtures::{call, Double, Reply, T0};

const CLIENT: &str = "1234567890-abc.apps.googleusercontent.com";
const SUB: &str = "110169484474386276334";

async fn setup(clock: Arc<ManualClock>) -> (Double, RequireAuth) {
    let google = Double::start().await;
    let proxy = providers::google()
        .client(CLIENT, "google-client-secret")
        .tokeninfo_url(google.url("/tokeninfo"))
        .userinfo_url(google.url("/userinfo"))
        .clock(clock)
        .builder()
        .unwrap()
        .public_url("https://mcp.example.com")
        .proxy_key(ProxyKey::generate())
        // The preset's verifier is under test: its provider's tokens go to /mcp directly.
        .accept_upstream_tokens(true)
        .build()
        .unwrap();
    (google, proxy.require_auth())
}

/// Token-info's answer for an access token, as Google writes it: numbers as strings.
fn tokeninfo(scope: &str) -> Value {
    json!({
        "azp": CLIENT,
        "aud": CLIENT,
        "sub": SUB,
        "scope": scope,
        "exp": (T0 + 3599).to_string(),
        "expires_in": "3599",
        "email": "ada@example.com",
        "email_verified": "true",
        "access_type": "offline",
    })
}

const FULL_SCOPE: &str = "https://www.googleapis.com/auth/userinfo.email \
                          https://www.googleapis.com/auth/userinfo.profile openid";

fn userinfo() -> Value {
    json!({
        "sub": SUB,
        "name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "picture": "https://lh3.googleusercontent.com/a/ada",
        "email": "ada@example.com",
        "email_verified": true,
        "locale": "en",
    })
}

#[actix_web::test]
async fn a_google_token_is_accepted_with_its_profile_and_cached_until_it_expires() {
    let clock = ManualClock::at(T0);
    let (google, auth) = setup(clock.clone()).await;
    google.on(
        "/tokeninfo",
        Some("ya29.good"),
        Reply::json(200, &tokeninfo(FULL_SCOPE)),
    );
    google.on(
        "/userinfo",
        Some("ya29.good"),
        Reply::json(200, &userinfo()),
    );

    let first = call(&auth, "ya29.good").await;
    assert_eq!(first.status, StatusCode::OK);
    let user = &first.user;
    assert_eq!(user["user_id"], SUB);
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["picture"], "https://lh3.googleusercontent.com/a/ada");
    assert_eq!(user["scopes"].as_array().unwrap().len(), 3);
    assert_eq!(user["claims"]["exp"], json!(T0 + 3599), "exp made numeric");
    assert_eq!(user["claims"]["email_verified"], json!(true));
    assert_eq!(user["claims"]["iss"], "https://accounts.google.com");

    let asked = &google.seen("/tokeninfo")[0];
    assert_eq!(asked.method, "POST");
    assert_eq!(asked.header("authorization"), Some("Bearer ya29.good"));
    assert!(
        asked.body.is_empty(),
        "the token travels in the header only"
    );

    for _ in 0..3 {
        assert_eq!(call(&auth, "ya29.good").await.status, StatusCode::OK);
    }
    clock.advance(3000);
    assert_eq!(call(&auth, "ya29.good").await.status, StatusCode::OK);
    assert_eq!(google.count("/tokeninfo"), 1, "served from the cache");
    assert_eq!(google.count("/userinfo"), 1);

    // At `exp` the cache lets go, and the expired token is refused.
    clock.advance(599);
    let expired = call(&auth, "ya29.good").await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(google.count("/tokeninfo"), 2);
    google.stop().await;
}

#[actix_web::test]
async fn tokens_google_issued_to_another_client_are_refused() {
    let (google, auth) = setup(ManualClock::at(T0)).await;
    let mut other_aud = tokeninfo(FULL_SCOPE);
    other_aud["aud"] = json!("999-other.apps.googleusercontent.com");
    other_aud["azp"] = json!("999-other.apps.googleusercontent.com");
    google.on(
        "/tokeninfo",
        Some("ya29.other"),
        Reply::json(200, &other_aud),
    );
    let mut other_azp = tokeninfo(FULL_SCOPE);
    other_azp["azp"] = json!("999-other.apps.googleusercontent.com");
    google.on("/tokeninfo", Some("ya29.azp"), Reply::json(200, &other_azp));
    google.on("/userinfo", None, Reply::json(200, &userinfo()));

    for token in ["ya29.other", "ya29.azp"] {
        let res = call(&auth, token).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{token}");
        assert!(res.challenge.unwrap().contains("error=\"invalid_token\""));
    }
    assert_eq!(
        google.count("/userinfo"),
        0,
        "no profile for a refused token"
    );
    google.stop().await;
}

#[actix_web::test]
async fn the_client_google_names_in_aud_azp_or_issued_to_must_be_ours() {
    let google = Double::start().await;
    let verifier = providers::google()
        .client(CLIENT, "google-client-secret")
        .tokeninfo_url(google.url("/tokeninfo"))
        .userinfo_url(google.url("/userinfo"))
        .clock(ManualClock::at(T0))
        .verifier()
        .unwrap();
    let other = "999-other.apps.googleusercontent.com";
    let answer = |claim: &str, value: Option<&str>| {
        let mut info = tokeninfo("openid");
        match value {
            Some(value) => info[claim] = json!(value),
            None => {
                info.as_object_mut().unwrap().remove(claim);
            }
        }
        info
    };
    let cases = [
        (
            "ya29.azp",
            answer("azp", Some(other)),
            Err(VerifyError::OtherClient("azp")),
        ),
        (
            "ya29.issued-to",
            answer("issued_to", Some(other)),
            Err(VerifyError::OtherClient("issued_to")),
        ),
        (
            "ya29.aud",
            answer("aud", Some(other)),
            Err(VerifyError::Audience),
        ),
        (
            "ya29.no-aud",
            answer("aud", None),
            Err(VerifyError::Audience),
        ),
        // `aud` names the client of every Google token; `azp` may be left out.
        ("ya29.no-azp", answer("azp", None), Ok(())),
        (
            "ya29.issued-to-ours",
            answer("issued_to", Some(CLIENT)),
            Ok(()),
        ),
    ];
    for (token, info, _) in &cases {
        google.on("/tokeninfo", Some(token), Reply::json(200, info));
    }
    for (token, _, expected) in cases {
        let got = verifier.verify(token).await.map(drop);
        assert_eq!(got, expected, "{token}");
    }
    google.stop().await;
}

#[actix_web::test]
async fn revoked_and_expired_tokens_are_refused_and_asked_about_again_after_the_refusal_ttl() {
    let clock = ManualClock::at(T0);
    let (google, auth) = setup(clock.clone()).await;
    google.on(
        "/tokeninfo",
        Some("ya29.revoked"),
        Reply::json(
            400,
            &json!({"error": "invalid_token", "error_description": "Invalid Value"}),
        ),
    );
    let mut past = tokeninfo(FULL_SCOPE);
    past["exp"] = json!((T0 - 1).to_string());
    google.on("/tokeninfo", Some("ya29.expired"), Reply::json(200, &past));
    let mut no_exp = tokeninfo(FULL_SCOPE);
    no_exp.as_object_mut().unwrap().remove("exp");
    google.on("/tokeninfo", Some("ya29.noexp"), Reply::json(200, &no_exp));

    for token in ["ya29.revoked", "ya29.expired", "ya29.noexp"] {
        assert_eq!(
            call(&auth, token).await.status,
            StatusCode::UNAUTHORIZED,
            "{token}"
        );
        assert_eq!(
            call(&auth, token).await.status,
            StatusCode::UNAUTHORIZED,
            "{token}"
        );
    }
    assert_eq!(
        google.count("/tokeninfo"),
        3,
        "a repeated refusal is answered from memory"
    );
    clock.advance(TokenCache::REFUSAL_TTL);
    for token in ["ya29.revoked", "ya29.expired", "ya29.noexp"] {
        assert_eq!(call(&auth, token).await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(google.count("/tokeninfo"), 6, "and asked again after it");
    google.stop().await;
}

#[actix_web::test]
async fn rate_limits_and_outages_answer_503_and_a_later_success_works() {
    let (google, auth) = setup(ManualClock::at(T0)).await;
    let cases: [(u16, &[(&str, &str)]); 4] = [
        (429, &[]),
        (403, &[("retry-after", "30")]),
        (500, &[]),
        (503, &[]),
    ];
    for (status, headers) in cases {
        google.on(
            "/tokeninfo",
            None,
            Reply::new(status, headers, r#"{"error":"busy"}"#),
        );
        let res = call(&auth, "ya29.busy").await;
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{status}");
    }
    google.on("/tokeninfo", None, Reply::json(200, &tokeninfo(FULL_SCOPE)));
    google.on("/userinfo", None, Reply::json(200, &userinfo()));
    assert_eq!(call(&auth, "ya29.busy").await.status, StatusCode::OK);
    google.stop().await;
}

#[actix_web::test]
async fn the_profile_is_fetched_only_when_the_scopes_allow_it_and_must_be_the_same_user() {
    let (google, auth) = setup(ManualClock::at(T0)).await;
    let email_only = "openid https://www.googleapis.com/auth/userinfo.email";
    google.on(
        "/tokeninfo",
        Some("ya29.email"),
        Reply::json(200, &tokeninfo(email_only)),
    );
    let res = call(&auth, "ya29.email").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.user["email"], "ada@example.com");
    assert_eq!(res.user["name"], Value::Null);
    assert_eq!(google.count("/userinfo"), 0);

    google.on(
        "/tokeninfo",
        Some("ya29.mixup"),
        Reply::json(200, &tokeninfo(FULL_SCOPE)),
    );
    let mut someone_else = userinfo();
    someone_else["sub"] = json!("42");
    google.on(
        "/userinfo",
        Some("ya29.mixup"),
        Reply::json(200, &someone_else),
    );
    assert_eq!(
        call(&auth, "ya29.mixup").await.status,
        StatusCode::UNAUTHORIZED
    );

    google.on(
        "/tokeninfo",
        Some("ya29.gone"),
        Reply::json(200, &tokeninfo(FULL_SCOPE)),
    );
    google.on(
        "/userinfo",
        Some("ya29.gone"),
        Reply::json(401, &json!({"error": "invalid_token"})),
    );
    assert_eq!(
        call(&auth, "ya29.gone").await.status,
        StatusCode::UNAUTHORIZED
    );
    google.stop().await;
}

#[actix_web::test]
async fn an_unreachable_google_is_503() {
    let google = Double::start().await;
    let url = google.url("/tokeninfo");
    google.stop().await;
    let proxy = providers::google()
        .client(CLIENT, "s")
        .tokeninfo_url(url)
        .builder()
        .unwrap()
        .public_url("https://mcp.example.com")
        .proxy_key(ProxyKey::generate())
        // The preset's verifier is under test: its provider's tokens go to /mcp directly.
        .accept_upstream_tokens(true)
        .build()
        .unwrap();
    let res = call(&proxy.require_auth(), "ya29.any").await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[actix_web::test]
async fn junk_that_is_not_the_shape_of_a_google_token_costs_no_call_to_google() {
    let (google, auth) = setup(ManualClock::at(T0)).await;
    google.on(
        "/tokeninfo",
        Some("ya29.good"),
        Reply::json(200, &tokeninfo(FULL_SCOPE)),
    );
    for i in 0..100 {
        let junk = format!("junk-token-{i}");
        assert_eq!(call(&auth, &junk).await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(google.count("/tokeninfo"), 0, "no call for another shape");
    // Google pads its tokens with dots: still its shape.
    let padded = format!("ya29.good{}", ".".repeat(300));
    google.on(
        "/tokeninfo",
        Some(&padded),
        Reply::json(200, &tokeninfo(FULL_SCOPE)),
    );
    google.on("/userinfo", Some(&padded), Reply::json(200, &userinfo()));
    assert_eq!(call(&auth, &padded).await.status, StatusCode::OK);
    assert_eq!(google.count("/tokeninfo"), 1);
}

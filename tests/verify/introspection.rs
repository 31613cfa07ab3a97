//! `IntrospectionVerifier` against a stand-in RFC 7662 endpoint: what it sends, how each answer
//! is read, and how `RequireAuth` caches the results (counted at the endpoint).

use std::{sync::Arc, time::Duration};

use actix_mcp_oauth::{
    clock::ManualClock, http::ClientAuthMethod, middleware::TokenCache,
    verify::IntrospectionVerifier, RequireAuth,
};
use actix_web::http::StatusCode;
use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde_json::{json, Value};

use crate::fixtures::{call, Double, Reply, T0};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const CLIENT: &str = "mcp resource";
const SECRET: &str = "s3cr+t:&=";

fn auth(endpoint: &Double, clock: Arc<ManualClock>, method: ClientAuthMethod) -> RequireAuth {
    let verifier = IntrospectionVerifier::builder(endpoint.url("/introspect"), CLIENT, SECRET)
        .audience(RESOURCE)
        .issuer("https://as.example.com")
        .client_auth_method(method)
        .clock(clock.clone())
        .build()
        .unwrap();
    RequireAuth::new(verifier, RESOURCE).unwrap().clock(clock)
}

fn active(exp: Option<u64>) -> Value {
    let mut v = json!({
        "active": true,
        "client_id": "l238j323ds-23ij4",
        "username": "jdoe",
        "scope": "read write dolphin",
        "sub": "Z5O3upPC88QrAjx00dis",
        "aud": RESOURCE,
        "iss": "https://as.example.com",
        "iat": T0 - 100,
        "token_type": "Bearer",
    });
    if let Some(exp) = exp {
        v["exp"] = json!(exp);
    }
    v
}

#[actix_web::test]
async fn an_active_token_is_accepted_and_cached_until_its_exp() {
    let endpoint = Double::start().await;
    endpoint.on(
        "/introspect",
        Some("tok-live"),
        Reply::json(200, &active(Some(T0 + 120))),
    );
    let clock = ManualClock::at(T0);
    let auth = auth(
        &endpoint,
        clock.clone(),
        ClientAuthMethod::ClientSecretBasic,
    );

    let res = call(&auth, "tok-live").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.user["user_id"], "Z5O3upPC88QrAjx00dis");
    assert_eq!(res.user["scopes"], json!(["read", "write", "dolphin"]));
    assert_eq!(res.user["claims"]["active"], Value::Null);

    let seen = &endpoint.seen("/introspect")[0];
    assert_eq!(seen.method, "POST");
    // RFC 6749 §2.3.1: id and secret form-encoded, then Basic.
    let basic = STANDARD.encode("mcp+resource:s3cr%2Bt%3A%26%3D");
    assert_eq!(
        seen.header("authorization"),
        Some(&*format!("Basic {basic}"))
    );
    let form: Vec<(String, String)> = url::form_urlencoded::parse(seen.body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(
        form,
        [
            ("token".to_owned(), "tok-live".to_owned()),
            ("token_type_hint".to_owned(), "access_token".to_owned())
        ]
    );

    for _ in 0..3 {
        assert_eq!(call(&auth, "tok-live").await.status, StatusCode::OK);
    }
    clock.advance(119);
    assert_eq!(call(&auth, "tok-live").await.status, StatusCode::OK);
    assert_eq!(endpoint.count("/introspect"), 1, "cached until exp");
    clock.advance(1);
    // At exp the cache lets go; the server now says the token is inactive.
    endpoint.on(
        "/introspect",
        Some("tok-live"),
        Reply::json(200, &json!({"active": false})),
    );
    assert_eq!(
        call(&auth, "tok-live").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(endpoint.count("/introspect"), 2);
    endpoint.stop().await;
}

#[actix_web::test]
async fn a_token_without_exp_is_cached_for_the_max_ttl_only() {
    let endpoint = Double::start().await;
    endpoint.on("/introspect", None, Reply::json(200, &active(None)));
    let clock = ManualClock::at(T0);
    let auth = auth(
        &endpoint,
        clock.clone(),
        ClientAuthMethod::ClientSecretBasic,
    )
    .cache_max_ttl(Duration::from_secs(30));
    assert_eq!(call(&auth, "tok").await.status, StatusCode::OK);
    clock.advance(29);
    assert_eq!(call(&auth, "tok").await.status, StatusCode::OK);
    assert_eq!(endpoint.count("/introspect"), 1);
    clock.advance(1);
    assert_eq!(call(&auth, "tok").await.status, StatusCode::OK);
    assert_eq!(endpoint.count("/introspect"), 2);
    endpoint.stop().await;
}

#[actix_web::test]
async fn inactive_foreign_and_refresh_tokens_are_401_and_asked_again_only_after_the_refusal_ttl() {
    let endpoint = Double::start().await;
    endpoint.on(
        "/introspect",
        Some("revoked"),
        Reply::json(200, &json!({"active": false})),
    );
    let mut foreign = active(Some(T0 + 60));
    foreign["aud"] = json!(["https://other.example.com/api"]);
    endpoint.on("/introspect", Some("foreign"), Reply::json(200, &foreign));
    let mut refresh = active(Some(T0 + 60));
    refresh["token_type"] = json!("refresh_token");
    endpoint.on("/introspect", Some("refresh"), Reply::json(200, &refresh));
    let mut expired = active(Some(T0 - 300));
    expired["active"] = json!(true);
    endpoint.on("/introspect", Some("stale"), Reply::json(200, &expired));
    let clock = ManualClock::at(T0);
    let auth = auth(
        &endpoint,
        clock.clone(),
        ClientAuthMethod::ClientSecretBasic,
    );
    let tokens = ["revoked", "foreign", "refresh", "stale"];
    for token in tokens {
        for _ in 0..2 {
            let res = call(&auth, token).await;
            assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{token}");
            assert!(res.challenge.unwrap().contains("invalid_token"));
        }
    }
    assert_eq!(
        endpoint.count("/introspect"),
        4,
        "a repeated refusal is answered from memory"
    );
    clock.set(T0 + TokenCache::REFUSAL_TTL);
    for token in tokens {
        assert_eq!(call(&auth, token).await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(endpoint.count("/introspect"), 8, "and asked again after it");
    endpoint.stop().await;
}

#[actix_web::test]
async fn refused_credentials_rate_limits_and_server_errors_are_503() {
    let endpoint = Double::start().await;
    let auth = auth(
        &endpoint,
        ManualClock::at(T0),
        ClientAuthMethod::ClientSecretPost,
    );
    let cases: [(u16, &str); 5] = [
        (401, r#"{"error":"invalid_client"}"#),
        (400, r#"{"error":"invalid_request"}"#),
        (429, "{}"),
        (500, "{}"),
        (200, "<html>maintenance</html>"),
    ];
    for (status, body) in cases {
        endpoint.on("/introspect", None, Reply::new(status, &[], body));
        let res = call(&auth, "tok").await;
        assert_eq!(
            res.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{status} {body}"
        );
    }
    let form: Vec<(String, String)> =
        url::form_urlencoded::parse(endpoint.seen("/introspect")[0].body.as_bytes())
            .into_owned()
            .collect();
    assert!(form.contains(&("client_id".into(), CLIENT.into())));
    assert!(form.contains(&("client_secret".into(), SECRET.into())));
    assert!(endpoint.seen("/introspect")[0]
        .header("authorization")
        .is_none());
    endpoint.stop().await;
}

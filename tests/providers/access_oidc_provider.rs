//! The access policy at the middleware, with JWT access tokens of the e2e suite's real OpenID
//! provider (`tests/e2e/provider.mjs`, whose one test user is `ada.lovelace@example.test`, a
//! verified address): an admitted user passes, a refused one gets 403 `access_denied`, and a
//! token that passed is refused once the server runs with a policy that no longer admits it.
//!
//! Needs `node` and `tests/e2e/node_modules`; without them the test says so and passes without
//! running, unless `CI` is set: then it fails (see `tests/common/node.rs`).

use actix_mcp_oauth::{
    access::AccessPolicy, http::ProviderMetadata, AuthUser, JwksVerifier, RequireAuth,
};
use actix_web::{http::StatusCode, test, web, App, HttpResponse};
use serde_json::Value;

use crate::fixtures::{missing, OidcProvider};
use crate::introspection_oidc_provider::{
    client, json, sign_in, CLIENT_ID, CLIENT_SECRET, REDIRECT,
};

const EMAIL: &str = "ada.lovelace@example.test";

/// What `/mcp` answers to `token` behind `auth`: the status and the body.
async fn ask(auth: &RequireAuth, token: &str) -> (StatusCode, Value, bool) {
    let app = test::init_service(
        App::new().service(web::scope("/mcp").wrap(auth.clone()).route(
            "",
            web::post().to(|user: AuthUser| async move {
                HttpResponse::Ok().json(serde_json::json!({"email": user.email}))
            }),
        )),
    )
    .await;
    let req = test::TestRequest::post()
        .uri("/mcp")
        .insert_header(("authorization", format!("Bearer {token}")))
        .to_request();
    let res = test::call_service(&app, req).await;
    let status = res.status();
    let challenged = res.headers().contains_key("www-authenticate");
    let body = test::read_body(res).await;
    (
        status,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
        challenged,
    )
}

#[actix_web::test]
async fn the_policy_admits_the_listed_user_and_refuses_the_same_token_once_it_no_longer_does() {
    if let Some(why) = missing() {
        eprintln!("SKIPPED access policy against oidc-provider: {why}");
        return;
    }
    let provider = OidcProvider::start(
        CLIENT_ID,
        CLIENT_SECRET,
        &[("PROVIDER_REDIRECT_URIS", REDIRECT)],
    );
    let discovery = client()
        .get(format!(
            "{}/.well-known/openid-configuration",
            provider.issuer
        ))
        .send()
        .await
        .expect("discovery");
    let (_, meta) = json(discovery).await;
    let tokens = sign_in(&meta).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(access.split('.').count(), 3, "a JWT access token");

    let metadata = ProviderMetadata::discover(&provider.issuer).await.unwrap();
    let verifier = JwksVerifier::from_metadata(&metadata)
        .unwrap()
        .audience(CLIENT_ID)
        .build()
        .unwrap();
    let protect = |policy: AccessPolicy| {
        RequireAuth::new(verifier.clone(), "http://127.0.0.1:8080/mcp")
            .unwrap()
            .access_policy(policy)
    };

    // Admitted by address, and by domain.
    let by_email = protect(
        AccessPolicy::builder()
            .allow_emails([EMAIL])
            .build()
            .unwrap(),
    );
    let (status, body, _) = ask(&by_email, &access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["email"], EMAIL);
    let by_domain = AccessPolicy::builder()
        .allow_email_domains(["example.test"])
        .build()
        .unwrap();
    assert_eq!(ask(&protect(by_domain), &access).await.0, StatusCode::OK);

    // The same token, once the server runs with a policy that leaves the user out.
    let changed = AccessPolicy::builder()
        .allow_email_domains(["example.com"])
        .allow_emails(["grace.hopper@example.test"])
        .build()
        .unwrap();
    let (status, body, challenged) = ask(&protect(changed), &access).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "access_denied");
    assert!(
        !challenged,
        "no WWW-Authenticate: signing in again would not help"
    );
    assert!(!body.to_string().contains(&access));

    // A rule on a claim this provider does not issue admits no one.
    let workspace = AccessPolicy::builder()
        .allow_google_hosted_domains(["example.test"])
        .build()
        .unwrap();
    assert_eq!(
        ask(&protect(workspace), &access).await.0,
        StatusCode::FORBIDDEN
    );

    // Without a policy the token is fine: the refusals above are the policy's.
    let open = RequireAuth::new(verifier.clone(), "http://127.0.0.1:8080/mcp").unwrap();
    assert_eq!(ask(&open, &access).await.0, StatusCode::OK);
    drop(provider);
}

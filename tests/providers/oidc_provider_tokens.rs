//! `JwksVerifier` against the tokens of the real `oidc-provider` (the e2e suite's
//! `tests/e2e/provider.mjs`): after a real authorization-code + PKCE sign-in with a `nonce`, its
//! RFC 9068 access token (header `typ: at+jwt`, `aud` and `client_id` = our client) is accepted,
//! and its ID token, signed with the same keys for the same issuer and audience, is not; nor is
//! the access token by a verifier bound to another client.
//!
//! Needs `node` and `tests/e2e/node_modules` (`npm ci --prefix tests/e2e`); without them the
//! test says so and passes without running, as CI installs them first.

use std::time::Duration;

use actix_mcp_oauth::{JwksVerifier, TokenVerifier, VerifyError};
use actix_web::{http::StatusCode, web};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde_json::Value;

use crate::fixtures::{missing, user_agent, OidcProvider};

const CLIENT_ID: &str = "token-kinds-test-client";
const CLIENT_SECRET: &str = "token-kinds-test-secret-0123456789";
const REDIRECT: &str = "http://127.0.0.1:9/callback";
const VERIFIER: &str = "Kq7d3kE0m1p2o9Ww8vV7uU6tT5sS4rR3qQ2pP1oO0nN-_~";

fn client() -> awc::Client {
    awc::Client::builder()
        .disable_redirects()
        .timeout(Duration::from_secs(10))
        .finish()
}

async fn json(
    mut res: awc::ClientResponse<
        impl futures::Stream<Item = Result<web::Bytes, awc::error::PayloadError>> + Unpin,
    >,
) -> (StatusCode, Value) {
    let status = res.status();
    let body = res.body().limit(1 << 20).await.expect("body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// The code + PKCE flow, with a `nonce`, through the e2e suite's headless user agent: the
/// token answer.
async fn sign_in(meta: &Value) -> Value {
    let challenge = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(VERIFIER.as_bytes()));
    let mut authorize = url::Url::parse(meta["authorization_endpoint"].as_str().unwrap()).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid email profile")
        .append_pair("state", "token-kinds-test")
        .append_pair("nonce", "n-0S6_WzA2Mj")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let callback = url::Url::parse(&user_agent(authorize.as_str(), REDIRECT).await).unwrap();
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let res = client()
        .post(meta["token_endpoint"].as_str().unwrap())
        .basic_auth(CLIENT_ID, CLIENT_SECRET)
        .send_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .await
        .expect("token request");
    let (status, tokens) = json(res).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

/// The JOSE header of a compact JWS, decoded without any check (to show what the provider
/// wrote).
fn header(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

#[actix_web::test]
async fn oidc_providers_access_token_is_accepted_and_its_id_token_and_other_clients_are_not() {
    if let Some(why) = missing() {
        eprintln!("SKIPPED token kinds against oidc-provider: {why}");
        return;
    }
    let provider = OidcProvider::start(
        CLIENT_ID,
        CLIENT_SECRET,
        &[("PROVIDER_REDIRECT_URIS", REDIRECT)],
    );
    let issuer = provider.issuer.clone();
    let discovery = client()
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery");
    let (_, meta) = json(discovery).await;
    let tokens = sign_in(&meta).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    assert_eq!(header(&access)["typ"], "at+jwt", "an RFC 9068 access token");

    // The e2e provider writes the client id as the audience of both tokens.
    let ours = JwksVerifier::from_discovery(issuer.clone())
        .await
        .unwrap()
        .audience(CLIENT_ID)
        .client_id(CLIENT_ID)
        .build()
        .unwrap();
    let claims = ours.verify(&access).await.expect("the access token");
    assert_eq!(claims.client_id(), Some(CLIENT_ID));
    assert_eq!(
        ours.verify(&id_token).await.unwrap_err(),
        VerifyError::NotAccessToken("an OpenID Connect ID token (it carries `nonce`)"),
        "the ID token has the same issuer, keys and audience"
    );

    // A verifier for another application of the same provider: the token names our client.
    let theirs = JwksVerifier::from_discovery(issuer.clone())
        .await
        .unwrap()
        .audience(CLIENT_ID)
        .client_id("another-app")
        .build()
        .unwrap();
    assert!(matches!(
        theirs.verify(&access).await.unwrap_err(),
        VerifyError::OtherClient(_)
    ));

    // Requiring RFC 9068's `at+jwt` refuses an ID token even without the `nonce`.
    let typed = JwksVerifier::from_discovery(issuer.clone())
        .await
        .unwrap()
        .audience(CLIENT_ID)
        .require_typ("at+jwt")
        .build()
        .unwrap();
    assert!(typed.verify(&access).await.is_ok());
    assert_eq!(
        typed.verify(&id_token).await.unwrap_err(),
        VerifyError::InvalidClaim("typ")
    );
    drop(provider);
}

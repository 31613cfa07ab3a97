//! The sign-in flow through the GitHub preset, with GitHub's web endpoints: GitHub answers its
//! token endpoint form-encoded unless asked for JSON, and reports errors with a 200.

use actix_mcp_oauth::{providers, proxy::TokenMode};
use actix_web::http::StatusCode;
use url::Url;

use crate::fixtures::*;

const TOKEN: &str = "gho_16C7e42F292c6912E7710c838347Ae178B4a";
const ACCESS_TOKEN: &str = "/login/oauth/access_token";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// `reply` to a POST, as GitHub's token endpoint answers; 405 to any other method.
fn post_only(reply: Reply) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    move |seen| {
        if seen.method == "POST" {
            reply.clone()
        } else {
            method_not_allowed()
        }
    }
}

#[actix_web::test]
async fn githubs_form_encoded_token_answers_reach_the_client_as_json() {
    let github = Double::start().await;
    // A user signed in at GitHub already: the authorization page sends them straight back.
    github.on_fn("/login/oauth/authorize", None, |seen| {
        if seen.method != "GET" {
            return method_not_allowed();
        }
        let mut back = Url::parse(&seen.query_param("redirect_uri").unwrap()).unwrap();
        back.query_pairs_mut()
            .append_pair("code", "gh-code-1")
            .append_pair("state", &seen.query_param("state").unwrap());
        Reply::new(302, &[("location", back.as_str())], "")
    });
    // GitHub answers form-encoded unless asked otherwise; this double always does, and errors
    // come with 200.
    github.on_fn(
        ACCESS_TOKEN,
        None,
        post_only(Reply::new(
            200,
            &[("content-type", FORM)],
            "access_token=gho_16C7e42F292c6912E7710c838347Ae178B4a&scope=read%3Auser%2Cuser%3Aemail&token_type=bearer",
        )),
    );

    // The shared flow helpers expect the upstream client id of their own double.
    let proxy = providers::github()
        .client(UPSTREAM_CLIENT_ID, UPSTREAM_SECRET)
        .web_url(github.url(""))
        .builder()
        .unwrap()
        .public_url(PUBLIC_URL)
        .proxy_key(key(7))
        // The provider's answer is what is under test: passed on as it is.
        .token_mode(TokenMode::Passthrough)
        .build()
        .unwrap();
    let proxy = ProxyServer::start(proxy).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;

    let (code, _) = code_for(&proxy, &client_id).await;
    let tokens = redeem(&proxy, &client_id, &code).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text());
    assert_eq!(tokens.header("content-type"), Some("application/json"));
    let json = tokens.json();
    assert_eq!(json["access_token"], TOKEN);
    assert_eq!(json["token_type"], "bearer");
    assert_eq!(json["scope"], "read:user,user:email");
    let asked = &github.seen(ACCESS_TOKEN)[0];
    assert_eq!(asked.header("accept"), Some("application/json"));
    assert_eq!(
        asked.form_param("client_id").as_deref(),
        Some(UPSTREAM_CLIENT_ID)
    );
    assert_eq!(
        asked.form_param("client_secret").as_deref(),
        Some(UPSTREAM_SECRET)
    );
    assert_eq!(asked.form_param("code").as_deref(), Some("gh-code-1"));

    github.on_fn(
        ACCESS_TOKEN,
        None,
        post_only(Reply::new(
            200,
            &[("content-type", FORM)],
            "error=bad_verification_code&error_description=The+code+passed+is+incorrect+or+expired.",
        )),
    );
    let (code, _) = code_for(&proxy, &client_id).await;
    let refused = redeem(&proxy, &client_id, &code).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    // GitHub's own code, mapped onto RFC 6749's.
    assert_eq!(refused.json()["error"], "invalid_grant");
    proxy.stop().await;
    github.stop().await;
}

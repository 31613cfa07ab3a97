//! The sign-in flow end to end in passthrough mode (the provider's tokens go to the client),
//! against an upstream double that records what it receives.

use std::time::{Duration, Instant};

use actix_mcp_oauth::{clock::ManualClock, http::ClientAuthMethod, proxy::ResourceForwarding};
use actix_web::http::StatusCode;
use base64::Engine as _;

use crate::fixtures::*;

#[actix_web::test]
async fn the_flow_forwards_pkce_end_to_end_and_injects_post_credentials() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .extra_authorize_params([("access_type", "offline"), ("prompt", "consent")])
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;

    let browser = Browser::new();
    let auth = to_upstream(&proxy, &browser, &authorize_query(&client_id, &[])).await;
    let location = auth.location.clone().unwrap();
    assert!(location.as_str().starts_with(&up.url("/authorize")));
    let names: Vec<String> = location
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "response_type",
            "client_id",
            "redirect_uri",
            "scope",
            "state",
            "code_challenge",
            "code_challenge_method",
            "access_type",
            "prompt"
        ],
        "extra parameters come last"
    );
    assert_eq!(auth.query("client_id").as_deref(), Some(UPSTREAM_CLIENT_ID));
    assert_eq!(
        auth.query("redirect_uri").as_deref(),
        Some("https://mcp.example.test/oauth/callback")
    );
    assert_eq!(auth.query("code_challenge"), Some(challenge(VERIFIER)));
    assert_eq!(auth.query("scope").as_deref(), Some("openid email profile"));
    let state = auth.query("state").unwrap();
    assert!(
        !state.contains("client-state-42"),
        "the transaction is sealed, not readable"
    );

    let back = through_upstream(&proxy, &browser, &auth).await;
    assert_eq!(back.status, StatusCode::FOUND);
    let to_client = back.location.clone().unwrap();
    assert!(to_client.as_str().starts_with(CLIENT_REDIRECT));
    assert_eq!(back.query("state").as_deref(), Some("client-state-42"));
    assert_eq!(back.query("iss").as_deref(), Some(PUBLIC_URL));
    let code = back.query("code").unwrap();
    assert!(!code.contains("up-code"), "the upstream code is sealed");

    let tokens = redeem(&proxy, &client_id, &code).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text());
    assert_eq!(tokens.header("cache-control"), Some("no-store"));
    let json = tokens.json();
    assert_eq!(json["access_token"], "at-up-code-1");
    assert_eq!(json["expires_in"], 3600);

    let seen = up.seen("/token");
    assert_eq!(seen.len(), 1);
    let t = &seen[0];
    assert_eq!(
        t.form_param("client_id").as_deref(),
        Some(UPSTREAM_CLIENT_ID)
    );
    assert_eq!(
        t.form_param("client_secret").as_deref(),
        Some(UPSTREAM_SECRET)
    );
    assert_eq!(t.header("authorization"), None);
    assert_eq!(t.form_param("code").as_deref(), Some("up-code-1"));
    assert_eq!(t.form_param("code_verifier").as_deref(), Some(VERIFIER));
    assert_eq!(
        t.form_param("redirect_uri").as_deref(),
        Some("https://mcp.example.test/oauth/callback")
    );
    assert_eq!(
        t.form_param("resource").as_deref(),
        None,
        "resource is not forwarded by default"
    );
    assert_eq!(t.query_param("resource").as_deref(), None);
    proxy.stop().await;
    up.stop().await;
}

#[actix_web::test]
async fn basic_credentials_are_form_encoded_in_the_authorization_header() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .client_auth_method(ClientAuthMethod::ClientSecretBasic)
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let (code, _) = code_for(&proxy, &client_id).await;
    let tokens = redeem(&proxy, &client_id, &code).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text());
    let t = &up.seen("/token")[0];
    assert!(t.header("authorization").unwrap().starts_with("Basic "));
    assert_eq!(
        t.form_param("client_secret").as_deref(),
        None,
        "the secret is not also in the body"
    );
    assert_eq!(t.form_param("client_id").as_deref(), None);
    assert_eq!(
        t.query_param("client_secret").as_deref(),
        None,
        "nor in the URL"
    );
    assert_eq!(t.query_param("client_id").as_deref(), None);
    up.stop().await;
}

#[actix_web::test]
async fn resource_is_checked_then_forwarded_under_the_configured_name() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .resource_forwarding(ResourceForwarding::As("audience".into()))
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let resource = format!("{PUBLIC_URL}/mcp");
    let auth = to_upstream(
        &proxy,
        &Browser::new(),
        &authorize_query(&client_id, &[("resource", Some(&resource))]),
    )
    .await;
    assert_eq!(auth.query("audience"), Some(resource));
    assert_eq!(auth.query("resource"), None);
    up.stop().await;
}

#[actix_web::test]
async fn a_form_encoded_upstream_answer_is_converted_to_json() {
    let up = Upstream::start().await;
    up.set_mode(TokenMode::Form);
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let (code, _) = code_for(&proxy, &client_id).await;
    let tokens = redeem(&proxy, &client_id, &code).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text());
    assert!(tokens
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let json = tokens.json();
    assert_eq!(json["access_token"], "at-up-code-1");
    assert_eq!(json["expires_in"], 3600, "expires_in becomes a number");
    up.stop().await;
}

#[actix_web::test]
async fn an_upstream_error_in_a_200_becomes_a_400_invalid_grant() {
    let up = Upstream::start().await;
    up.set_mode(TokenMode::ErrorIn200);
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let (code, _) = code_for(&proxy, &client_id).await;
    let res = redeem(&proxy, &client_id, &code).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.json()["error"], "invalid_grant");
    up.stop().await;
}

#[actix_web::test]
async fn an_upstream_invalid_grant_keeps_its_code_but_not_its_text() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let (code, _) = code_for(&proxy, &client_id).await;
    assert_eq!(
        redeem(&proxy, &client_id, &code).await.status,
        StatusCode::OK
    );
    // The upstream code is single-use: replaying the sealed code reaches the upstream, which
    // refuses it: the client gets its code with our description, not the provider's.
    let replay = redeem(&proxy, &client_id, &code).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.header("cache-control"), Some("no-store"));
    let json = replay.json();
    assert_eq!(json["error"], "invalid_grant");
    assert_ne!(json["error_description"], "unknown or used code");
    assert!(json["error_description"].is_string());
    up.stop().await;
}

#[actix_web::test]
async fn wrong_upstream_credentials_are_a_server_error_not_invalid_client() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .client_secret("wrong")
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let (code, _) = code_for(&proxy, &client_id).await;
    let res = redeem(&proxy, &client_id, &code).await;
    assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(res.json()["error"], "server_error");
    assert!(!res.text().contains("wrong"));
    up.stop().await;
}

#[actix_web::test]
async fn a_hanging_upstream_gets_503_within_the_timeout() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .upstream_timeout(Duration::from_millis(500))
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let (code, _) = code_for(&proxy, &client_id).await;
    up.set_mode(TokenMode::Hang);
    let started = Instant::now();
    let res = redeem(&proxy, &client_id, &code).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.json()["error"], "server_error");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(up.count("/token"), 1, "the upstream was called");
    up.stop().await;
}

#[actix_web::test]
async fn an_unreachable_upstream_gets_503() {
    let up = Upstream::start().await;
    let builder = up.passthrough(&key(1), ManualClock::at(T0));
    let dead = up.url("/token");
    up.stop().await;
    let proxy = ProxyServer::start(builder.token_endpoint(dead).build().unwrap()).await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let res = post_form(
        &proxy.url("/token"),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client_id),
            ("refresh_token", "rt-x"),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.json()["error"], "server_error");
}

#[actix_web::test]
async fn a_code_is_bound_to_its_client_redirect_uri_and_verifier() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let other_client = register(&proxy, &[CLIENT_REDIRECT]).await;
    let (code, _) = code_for(&proxy, &client_id).await;

    let by_other = redeem(&proxy, &other_client, &code).await;
    assert_eq!(by_other.status, StatusCode::BAD_REQUEST);
    assert_eq!(by_other.json()["error"], "invalid_grant");

    let other_redirect = post_form(
        &proxy.url("/token"),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("code", &code),
            ("redirect_uri", "https://client.example/other"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(other_redirect.json()["error"], "invalid_grant");

    let no_redirect = post_form(
        &proxy.url("/token"),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("code", &code),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(no_redirect.json()["error"], "invalid_request");

    let wrong_verifier = post_form(
        &proxy.url("/token"),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("code", &code),
            ("redirect_uri", CLIENT_REDIRECT),
            (
                "code_verifier",
                "another-verifier-another-verifier-another-verifier",
            ),
        ],
    )
    .await;
    assert_eq!(wrong_verifier.json()["error"], "invalid_grant");

    assert_eq!(up.count("/token"), 0, "none of these reached the upstream");
    let good = redeem(&proxy, &client_id, &code).await;
    assert_eq!(
        good.status,
        StatusCode::OK,
        "the code still works for its own client"
    );
    up.stop().await;
}

#[actix_web::test]
async fn token_request_errors_are_rfc_shaped() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let token = proxy.url("/token");
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("client_id", &client_id)], 400, "invalid_request"),
        (
            vec![("grant_type", "password"), ("client_id", &client_id)],
            400,
            "unsupported_grant_type",
        ),
        (
            vec![("grant_type", "refresh_token"), ("refresh_token", "rt-1")],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("client_id", "not-a-client"),
                ("refresh_token", "rt-1"),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![("grant_type", "refresh_token"), ("client_id", &client_id)],
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", &client_id),
            ],
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", &client_id),
                ("code", "garbage"),
            ],
            400,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("grant_type", "refresh_token"),
                ("client_id", &client_id),
            ],
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("client_id", &client_id),
                ("refresh_token", "rt-1"),
                ("resource", "https://other.example/mcp"),
            ],
            400,
            "invalid_target",
        ),
    ];
    for (form, status, error) in cases {
        let res = post_form(&token, &form).await;
        assert_eq!(res.status.as_u16(), status, "{form:?}: {}", res.text());
        assert_eq!(res.json()["error"], error, "{form:?}");
        assert_eq!(res.header("cache-control"), Some("no-store"));
        assert_eq!(res.header("pragma"), Some("no-cache"));
        assert_eq!(res.header("www-authenticate"), None, "{form:?}");
    }
    let huge = post_raw(
        &token,
        "application/x-www-form-urlencoded",
        vec![b'a'; 100_000],
    )
    .await;
    assert_eq!(huge.status, StatusCode::BAD_REQUEST);
    assert_eq!(huge.json()["error"], "invalid_request");
    assert_eq!(up.count("/token"), 0);
    up.stop().await;
}

#[actix_web::test]
async fn refresh_and_revoke_pass_through_with_credentials() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let res = post_form(
        &proxy.url("/token"),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client_id),
            ("refresh_token", "rt-abc"),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["access_token"], "at-refreshed-rt-abc");
    let t = &up.seen("/token")[0];
    assert_eq!(t.form_param("refresh_token").as_deref(), Some("rt-abc"));
    assert_eq!(
        t.form_param("client_secret").as_deref(),
        Some(UPSTREAM_SECRET)
    );

    let revoked = post_form(
        &proxy.url("/revoke"),
        &[
            ("token", "rt-abc"),
            ("token_type_hint", "refresh_token"),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK);
    let r = &up.seen("/revoke")[0];
    assert_eq!(r.form_param("token").as_deref(), Some("rt-abc"));
    assert_eq!(
        r.form_param("token_type_hint").as_deref(),
        Some("refresh_token")
    );
    assert_eq!(
        r.form_param("client_id").as_deref(),
        Some(UPSTREAM_CLIENT_ID)
    );
    assert_eq!(
        r.form_param("client_secret").as_deref(),
        Some(UPSTREAM_SECRET)
    );

    let anonymous = post_form(&proxy.url("/revoke"), &[("token", "rt-abc")]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(up.count("/revoke"), 1);
    up.stop().await;
}

#[actix_web::test]
async fn a_static_client_signs_in_without_registering() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .static_client("my-cli", [CLIENT_REDIRECT])
            .build()
            .unwrap(),
    )
    .await;
    let (code, _) = code_for(&proxy, "my-cli").await;
    let tokens = redeem(&proxy, "my-cli", &code).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text());

    let elsewhere = get(&proxy.url(&format!(
        "/authorize?{}",
        authorize_query(
            "my-cli",
            &[("redirect_uri", Some("https://evil.example/cb"))]
        )
    )))
    .await;
    assert_eq!(elsewhere.status, StatusCode::BAD_REQUEST);
    assert!(elsewhere.location.is_none());
    up.stop().await;
}

#[actix_web::test]
async fn upstream_errors_at_the_callback_reach_the_client_as_our_code_and_our_text() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let browser = Browser::new();
    let auth = to_upstream(&proxy, &browser, &authorize_query(&client_id, &[])).await;
    let state = auth.query("state").unwrap();
    let back = browser
        .get(&proxy.url(&format!(
        "/oauth/callback?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("error", "access_denied")
            .append_pair("error_description", "The user said no")
            .append_pair("state", &state)
            .finish()
    )))
        .await;
    assert_eq!(back.status, StatusCode::FOUND);
    assert!(back
        .location
        .as_ref()
        .unwrap()
        .as_str()
        .starts_with(CLIENT_REDIRECT));
    assert_eq!(back.query("error").as_deref(), Some("access_denied"));
    assert_eq!(
        back.query("error_description").as_deref(),
        Some("the sign-in was refused")
    );
    assert_eq!(back.query("state").as_deref(), Some("client-state-42"));
    assert_eq!(back.query("iss").as_deref(), Some(PUBLIC_URL));
    assert_eq!(back.query("code"), None);

    // Any other code is ours, and the provider's text (here naming its internals) stays out.
    let other = browser
        .get(&proxy.url(&format!(
        "/oauth/callback?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("error", "interaction_required")
            .append_pair("error_description", "tenant acme-internal, request id 8f3a2c")
            .append_pair("state", &state)
            .finish()
    )))
        .await;
    assert_eq!(other.status, StatusCode::FOUND);
    assert_eq!(other.query("error").as_deref(), Some("server_error"));
    let description = other.query("error_description").unwrap_or_default();
    assert_eq!(
        description,
        "the identity provider could not complete the sign-in"
    );
    assert!(!other.location.as_ref().unwrap().as_str().contains("8f3a2c"));

    // RFC 9207: an answer that names another issuer is not passed on.
    let mixed_up = browser
        .get(&proxy.url(&format!(
        "/oauth/callback?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("code", "x")
            .append_pair("state", &state)
            .append_pair("iss", "https://attacker.example")
            .finish()
    )))
        .await;
    assert_eq!(mixed_up.status, StatusCode::BAD_REQUEST);
    assert!(mixed_up.location.is_none());
    up.stop().await;
}

/// RFC 6749 §5.2: a client id sent in the Authorization header and refused gets a 401 with a
/// challenge for that scheme, at `/token` and `/revoke`.
#[actix_web::test]
async fn a_refused_client_id_sent_with_basic_gets_a_basic_challenge() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .build()
            .unwrap(),
    )
    .await;
    for path in ["/token", "/revoke"] {
        let (status, challenge) = awc_basic(&proxy.url(path), "not-a-client").await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(
            challenge.as_deref(),
            Some("Basic realm=\"token\""),
            "{path}"
        );
    }
    assert_eq!(up.count("/token"), 0);
    assert_eq!(up.count("/revoke"), 0);
    up.stop().await;
}

/// Posts a refresh grant to `url` with `client_id` in HTTP Basic; the status and the
/// `WWW-Authenticate` header.
async fn awc_basic(url: &str, client_id: &str) -> (u16, Option<String>) {
    let res = http()
        .post(url)
        .basic_auth(client_id, "")
        .send_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt-1"),
            ("token", "rt-1"),
        ])
        .await
        .unwrap();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (res.status().as_u16(), challenge)
}

#[actix_web::test]
async fn an_upstream_code_too_long_to_redeem_gets_an_error_at_the_callback_not_a_code() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(
        up.passthrough(&key(1), ManualClock::at(T0))
            .build()
            .unwrap(),
    )
    .await;
    let client_id = register(&proxy, &[CLIENT_REDIRECT]).await;
    let browser = Browser::new();
    let sent = to_upstream(&proxy, &browser, &authorize_query(&client_id, &[])).await;
    let state = sent.query("state").unwrap();
    // Random text: a seal compresses what it carries, and a repeated character would fit.
    let mut random = [0u8; 6750];
    openssl::rand::rand_bytes(&mut random).unwrap();
    let long = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
    let back = browser
        .get(&proxy.url(&format!("/oauth/callback?code={long}&state={state}")))
        .await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.text());
    assert_eq!(back.query("error").as_deref(), Some("server_error"));
    assert_eq!(back.query("code"), None);
    // An ordinary code still goes through.
    let (code, _) = code_in(&proxy, &browser, &client_id).await;
    assert_eq!(
        redeem(&proxy, &client_id, &code).await.status,
        StatusCode::OK
    );
    up.stop().await;
}

#[actix_web::test]
async fn the_upstream_double_takes_client_credentials_from_the_form_body_only() {
    let up = Upstream::start().await;
    let credentials = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", UPSTREAM_CLIENT_ID)
        .append_pair("client_secret", UPSTREAM_SECRET)
        .finish();
    let grant = [("grant_type", "refresh_token"), ("refresh_token", "rt-abc")];

    // Client credentials in the URL are refused (RFC 6749 2.3.1 keeps them out of it): the
    // flow tests rely on this to notice a proxy that sends its secret there.
    let in_url = post_form(&up.url(&format!("/token?{credentials}")), &grant).await;
    assert_eq!(in_url.status, StatusCode::UNAUTHORIZED, "{}", in_url.text());
    assert_eq!(in_url.json()["error"], "invalid_client");

    let mut in_body = grant.to_vec();
    in_body.extend([
        ("client_id", UPSTREAM_CLIENT_ID),
        ("client_secret", UPSTREAM_SECRET),
    ]);
    let in_form = post_form(&up.url("/token"), &in_body).await;
    assert_eq!(in_form.status, StatusCode::OK, "{}", in_form.text());
    up.stop().await;
}

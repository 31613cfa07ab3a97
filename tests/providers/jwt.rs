//! The Okta, Auth0 and Keycloak presets against a stand-in serving their JWKS at the paths each
//! provider uses, with access tokens shaped as each provider issues them.

use std::sync::Arc;

use actix_mcp_oauth::{
    clock::ManualClock, providers, proxy::OAuthProxyBuilder, ProxyKey, RequireAuth, TokenVerifier,
    VerifyError,
};
use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::fixtures::{call, key_set, shared_key, signed, Double, Reply, KID, T0};

fn finish(builder: OAuthProxyBuilder) -> RequireAuth {
    builder
        .public_url("https://mcp.example.com")
        .proxy_key(ProxyKey::generate())
        // The preset's verifier is under test: its provider's tokens go to /mcp directly.
        .accept_upstream_tokens(true)
        .build()
        .unwrap()
        .require_auth()
}

#[actix_web::test]
async fn okta_access_tokens_verify_against_the_authorization_servers_keys() {
    let idp = Double::start().await;
    let key = shared_key();
    idp.on(
        "/oauth2/default/v1/keys",
        None,
        Reply::json(200, &key_set(&[(KID, key)])),
    );
    let clock = ManualClock::at(T0);
    let okta = providers::okta(idp.url(""), "default")
        .client("0oa1okta", "okta-secret")
        .clock(clock.clone());
    let issuer = okta.issuer().unwrap();
    let auth = finish(okta.builder().unwrap());

    let payload = |aud: &str, exp: u64| {
        json!({
            "ver": 1, "jti": "AT.abc", "iss": issuer, "aud": aud, "iat": T0 - 10, "exp": exp,
            "cid": "0oa1okta", "uid": "00u1ada", "scp": ["openid", "email", "mcp"],
            "auth_time": T0 - 20, "sub": "ada@example.com",
        })
    };
    let res = call(
        &auth,
        &signed(KID, key, &payload("api://default", T0 + 3600)),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.user["user_id"], "00u1ada");
    assert_eq!(res.user["username"], "ada@example.com");
    assert_eq!(res.user["scopes"], json!(["openid", "email", "mcp"]));

    let other_api = call(&auth, &signed(KID, key, &payload("api://other", T0 + 3600))).await;
    assert_eq!(other_api.status, StatusCode::UNAUTHORIZED);
    let expired = call(
        &auth,
        &signed(KID, key, &payload("api://default", T0 - 120)),
    )
    .await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    let mut org_server = payload("api://default", T0 + 3600);
    org_server["iss"] = json!(idp.url(""));
    assert_eq!(
        call(&auth, &signed(KID, key, &org_server)).await.status,
        StatusCode::UNAUTHORIZED,
        "the org authorization server's tokens are not ours to accept"
    );
    assert_eq!(idp.count("/oauth2/default/v1/keys"), 1, "one key fetch");
    idp.stop().await;
}

#[actix_web::test]
async fn auth0_tokens_for_the_api_carry_permissions_and_other_audiences_are_refused() {
    let idp = Double::start().await;
    let key = shared_key();
    idp.on(
        "/.well-known/jwks.json",
        None,
        Reply::json(200, &key_set(&[(KID, key)])),
    );
    let api = "https://mcp.example.com/mcp";
    let auth0 = providers::auth0(idp.url(""), api)
        .client("auth0-client", "auth0-secret")
        .clock(ManualClock::at(T0));
    let issuer = auth0.issuer().unwrap();
    assert!(issuer.ends_with('/'), "Auth0 issuers end with a slash");
    let auth = finish(auth0.builder().unwrap());

    let token = |aud: Value, iss: &str| {
        signed(
            KID,
            key,
            &json!({
                "iss": iss,
                "sub": "auth0|65f1c0ffee",
                "aud": aud,
                "iat": T0 - 5,
                "exp": T0 + 86_400,
                "scope": "openid profile email read:tools",
                "azp": "auth0-client",
                "permissions": ["read:tools", "write:tools"],
            }),
        )
    };
    let good = call(
        &auth,
        &token(json!([api, format!("{issuer}userinfo")]), &issuer),
    )
    .await;
    assert_eq!(good.status, StatusCode::OK);
    assert_eq!(good.user["user_id"], "auth0|65f1c0ffee");
    assert_eq!(
        good.user["permissions"],
        json!(["read:tools", "write:tools"])
    );
    assert!(good.user["scopes"]
        .as_array()
        .unwrap()
        .contains(&json!("read:tools")));

    let userinfo_only = call(&auth, &token(json!([format!("{issuer}userinfo")]), &issuer)).await;
    assert_eq!(userinfo_only.status, StatusCode::UNAUTHORIZED);
    let no_slash = call(&auth, &token(json!(api), issuer.trim_end_matches('/'))).await;
    assert_eq!(
        no_slash.status,
        StatusCode::UNAUTHORIZED,
        "issuers compare exactly"
    );
    // What Auth0 issues without the `audience` parameter: an opaque token for /userinfo.
    let opaque = call(&auth, "v2.local.c29tZS1vcGFxdWUtdG9rZW4").await;
    assert_eq!(opaque.status, StatusCode::UNAUTHORIZED);
    idp.stop().await;
}

#[actix_web::test]
async fn keycloak_tokens_need_our_audience_and_bring_their_realm_and_client_roles() {
    let idp = Double::start().await;
    let key = shared_key();
    idp.on(
        "/realms/mcp/protocol/openid-connect/certs",
        None,
        Reply::json(200, &key_set(&[(KID, key)])),
    );
    let keycloak = providers::keycloak(idp.url(""), "mcp")
        .client("mcp-proxy", "kc-secret")
        .clock(ManualClock::at(T0));
    let issuer = keycloak.issuer().unwrap();
    let auth = finish(keycloak.builder().unwrap());

    let token = |aud: Value| {
        signed(
            KID,
            key,
            &json!({
                "exp": T0 + 300, "iat": T0, "jti": "onrtac:1", "iss": issuer, "aud": aud,
                "sub": "7d3c1a52-0b4e-4c1e-9d8f-2a9b1c0e5f6a", "typ": "Bearer", "azp": "mcp-proxy",
                "sid": "s1", "scope": "openid email profile",
                "realm_access": {"roles": ["default-roles-mcp", "offline_access"]},
                "resource_access": {"mcp-proxy": {"roles": ["tools-admin"]}},
                "email_verified": true, "name": "Ada Lovelace", "preferred_username": "ada",
                "email": "ada@example.com",
            }),
        )
    };
    let good = call(&auth, &token(json!(["mcp-proxy", "account"]))).await;
    assert_eq!(good.status, StatusCode::OK);
    assert_eq!(good.user["username"], "ada");
    assert_eq!(good.user["email"], "ada@example.com");
    assert_eq!(
        good.user["roles"],
        json!([
            "default-roles-mcp",
            "offline_access",
            "mcp-proxy:tools-admin"
        ])
    );
    // The ID token Keycloak returns beside the access token: same issuer, keys and audience.
    let id_token = signed(
        KID,
        key,
        &json!({
            "exp": T0 + 300, "iat": T0, "jti": "onrtac:2", "iss": issuer, "aud": "mcp-proxy",
            "sub": "7d3c1a52-0b4e-4c1e-9d8f-2a9b1c0e5f6a", "typ": "ID", "azp": "mcp-proxy",
            "sid": "s1", "email_verified": true, "name": "Ada Lovelace", "preferred_username": "ada",
            "email": "ada@example.com",
        }),
    );
    assert_eq!(
        call(&auth, &id_token).await.status,
        StatusCode::UNAUTHORIZED,
        "an ID token is not an access token"
    );
    let default_audience = call(&auth, &token(json!("account"))).await;
    assert_eq!(
        default_audience.status,
        StatusCode::UNAUTHORIZED,
        "without the audience mapper the token is not ours"
    );
    idp.stop().await;
}

#[actix_web::test]
async fn a_jwks_outage_before_any_key_is_loaded_is_503() {
    let idp = Double::start().await;
    idp.on(
        "/oauth2/default/v1/keys",
        None,
        Reply::new(503, &[], "down"),
    );
    let clock: Arc<ManualClock> = ManualClock::at(T0);
    let okta = providers::okta(idp.url(""), "default")
        .client("0oa1okta", "okta-secret")
        .clock(clock);
    let issuer = okta.issuer().unwrap();
    let auth = finish(okta.builder().unwrap());
    let token = signed(
        KID,
        shared_key(),
        &json!({
            "iss": issuer, "aud": "api://default", "exp": T0 + 60, "sub": "ada@example.com",
        }),
    );
    assert_eq!(
        call(&auth, &token).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    idp.stop().await;
}

/// Okta, Auth0 and Keycloak name the client of every access token (`cid`, `azp`, `azp`): the
/// presets refuse a token naming another client, and one naming none, unless `any_client()`.
#[actix_web::test]
async fn jwt_presets_refuse_tokens_of_other_clients_and_tokens_naming_no_client() {
    let idp = Double::start().await;
    let key = shared_key();
    for path in [
        "/oauth2/default/v1/keys",
        "/.well-known/jwks.json",
        "/realms/mcp/protocol/openid-connect/certs",
    ] {
        idp.on(path, None, Reply::json(200, &key_set(&[(KID, key)])));
    }
    let clock = ManualClock::at(T0);
    let okta = || {
        providers::okta(idp.url(""), "default")
            .client("0oa1okta", "okta-secret")
            .clock(clock.clone())
    };
    let auth0 = || {
        providers::auth0(idp.url(""), "https://mcp.example.com/mcp")
            .client("auth0-client", "auth0-secret")
            .clock(clock.clone())
    };
    let keycloak = || {
        providers::keycloak(idp.url(""), "mcp")
            .client("mcp-proxy", "kc-secret")
            .clock(clock.clone())
    };
    struct Case {
        name: &'static str,
        verifier: Box<dyn TokenVerifier>,
        any_client: Box<dyn TokenVerifier>,
        claim: &'static str,
        ours: &'static str,
        payload: Value,
    }
    let cases = [
        Case {
            name: "okta",
            verifier: Box::new(okta().verifier().unwrap()),
            any_client: Box::new(okta().any_client().verifier().unwrap()),
            claim: "cid",
            ours: "0oa1okta",
            payload: json!({
                "iss": okta().issuer().unwrap(), "aud": "api://default", "uid": "00u1ada",
                "sub": "ada@example.com", "iat": T0 - 10, "exp": T0 + 3600, "scp": ["openid"],
            }),
        },
        Case {
            name: "auth0",
            verifier: Box::new(auth0().verifier().unwrap()),
            any_client: Box::new(auth0().any_client().verifier().unwrap()),
            claim: "azp",
            ours: "auth0-client",
            payload: json!({
                "iss": auth0().issuer().unwrap(), "aud": "https://mcp.example.com/mcp",
                "sub": "auth0|65f1c0ffee", "iat": T0 - 10, "exp": T0 + 3600, "scope": "openid",
            }),
        },
        Case {
            name: "keycloak",
            verifier: Box::new(keycloak().verifier().unwrap()),
            any_client: Box::new(keycloak().any_client().verifier().unwrap()),
            claim: "azp",
            ours: "mcp-proxy",
            payload: json!({
                "iss": keycloak().issuer().unwrap(), "aud": ["mcp-proxy", "account"],
                "sub": "7d3c1a52", "typ": "Bearer", "iat": T0 - 10, "exp": T0 + 3600,
            }),
        },
    ];
    for case in cases {
        let token = |client: Option<&str>| {
            let mut payload = case.payload.clone();
            if let Some(client) = client {
                payload[case.claim] = json!(client);
            }
            signed(KID, key, &payload)
        };
        let name = case.name;
        assert!(
            case.verifier.verify(&token(Some(case.ours))).await.is_ok(),
            "{name}: our client's token"
        );
        assert_eq!(
            case.verifier
                .verify(&token(Some("another-app")))
                .await
                .unwrap_err(),
            VerifyError::OtherClient(case.claim),
            "{name}: another client's token"
        );
        assert_eq!(
            case.verifier.verify(&token(None)).await.unwrap_err(),
            VerifyError::InvalidClaim(case.claim),
            "{name}: a token naming no client"
        );
        assert!(
            case.any_client
                .verify(&token(Some("another-app")))
                .await
                .is_ok(),
            "{name}: any_client() accepts another client's token"
        );
        assert!(
            case.any_client.verify(&token(None)).await.is_ok(),
            "{name}: any_client() accepts a token naming no client"
        );
    }
    idp.stop().await;
}

/// Auth0's machine-to-machine tokens (client credentials) carry the API's audience and the
/// client's own id in `azp`, but no user signed in to them.
#[actix_web::test]
async fn auth0_client_credentials_tokens_are_refused_even_for_our_own_client() {
    let idp = Double::start().await;
    let key = shared_key();
    idp.on(
        "/.well-known/jwks.json",
        None,
        Reply::json(200, &key_set(&[(KID, key)])),
    );
    let api = "https://mcp.example.com/mcp";
    let auth0 = || {
        providers::auth0(idp.url(""), api)
            .client("auth0-client", "auth0-secret")
            .clock(ManualClock::at(T0))
    };
    let issuer = auth0().issuer().unwrap();
    let m2m = signed(
        KID,
        key,
        &json!({
            "iss": issuer, "sub": "auth0-client@clients", "aud": api, "iat": T0 - 5,
            "exp": T0 + 86_400, "azp": "auth0-client", "gty": "client-credentials",
            "scope": "read:tools",
        }),
    );
    for verifier in [
        auth0().verifier().unwrap(),
        auth0().any_client().verifier().unwrap(),
    ] {
        assert!(matches!(
            verifier.verify(&m2m).await.unwrap_err(),
            VerifyError::NotAccessToken(reason) if reason.contains("client-credentials")
        ));
    }
    let auth = finish(auth0().builder().unwrap());
    let res = call(&auth, &m2m).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(res.challenge.unwrap().contains("error=\"invalid_token\""));
    idp.stop().await;
}

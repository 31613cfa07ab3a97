//! Codex (CLI and app, on rmcp's OAuth client): dynamic registration with a loopback callback,
//! `resource` on the authorization and the code exchange, none on the refresh
//! (openai/codex#33403).

use actix_web::http::StatusCode;
use serde_json::json;

use crate::fixtures::*;

const CALLBACK: &str = "http://127.0.0.1:33418/callback";

async fn signed_in(site: &Site) -> (String, serde_json::Value) {
    let (client_id, _) = registered(
        site,
        &json!({
            "client_name": "Codex",
            "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    let pkce = Pkce::new();
    let authorize = authorize_url(
        site,
        &pkce,
        &[
            ("client_id", &client_id),
            ("redirect_uri", CALLBACK),
            ("state", "codex"),
            ("scope", "openid profile email offline_access"),
            ("resource", &site.mcp()),
        ],
    );
    let callback = sign_in(&authorize, CALLBACK).await;
    let issued = tokens(
        &token(
            site,
            &[
                ("grant_type", "authorization_code"),
                ("code", &callback.code()),
                ("client_id", &client_id),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &pkce.verifier),
                ("resource", &site.mcp()),
            ],
        )
        .await,
    );
    (client_id, issued)
}

#[actix_web::test]
async fn codex_refreshing_without_resource_gets_a_new_token_that_reaches_the_tools() {
    row("Codex", || async {
        let site = Site::start(|b| b).await;
        let (client_id, issued) = signed_in(&site).await;
        assert_tools_reachable(&site, issued["access_token"].as_str().unwrap()).await;
        let refreshed = tokens(
            &token(
                &site,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", issued["refresh_token"].as_str().unwrap()),
                    ("client_id", &client_id),
                ],
            )
            .await,
        );
        assert_ne!(refreshed["access_token"], issued["access_token"]);
        assert_tools_reachable(&site, refreshed["access_token"].as_str().unwrap()).await;
        // Rotated: the refresh token it used is spent.
        let again = token(
            &site,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", issued["refresh_token"].as_str().unwrap()),
                ("client_id", &client_id),
            ],
        )
        .await;
        assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.text());
        assert_eq!(again.json()["error"], "invalid_grant");
        site.stop().await;
    })
    .await;
}

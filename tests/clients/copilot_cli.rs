//! GitHub Copilot CLI: dynamic registration without `scope` and with `application_type`
//! (dozigden/boardoil#11), then an authorization from another loopback port than the one it
//! registered (github/copilot-cli#1951).

use serde_json::json;

use crate::fixtures::*;

const REGISTERED: &str = "http://127.0.0.1:56679/";
const USED: &str = "http://127.0.0.1:61023/";

#[actix_web::test]
async fn copilot_cli_registering_without_scope_signs_in_from_another_loopback_port_and_refreshes() {
    row("Copilot CLI", || async {
        let site = Site::start(|b| b).await;
        let (client_id, reg) = registered(
            &site,
            &json!({
                "client_name": "GitHub Copilot CLI",
                "redirect_uris": [REGISTERED],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "application_type": "native",
            }),
        )
        .await;
        assert_eq!(reg["application_type"], "native");
        assert_eq!(reg["token_endpoint_auth_method"], "none");
        assert!(reg.get("client_secret").is_none(), "{reg}");
        let pkce = Pkce::new();
        let authorize = authorize_url(
            &site,
            &pkce,
            &[
                ("client_id", &client_id),
                ("redirect_uri", USED),
                ("state", "copilot"),
                ("resource", &site.mcp()),
            ],
        );
        let callback = sign_in(&authorize, USED).await;
        let issued = tokens(
            &token(
                &site,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &callback.code()),
                    ("redirect_uri", USED),
                    ("code_verifier", &pkce.verifier),
                    ("client_id", &client_id),
                    ("resource", &site.mcp()),
                ],
            )
            .await,
        );
        assert_tools_reachable(&site, issued["access_token"].as_str().unwrap()).await;
        refreshed(
            &site,
            &issued,
            &[("client_id", &client_id), ("resource", &site.mcp())],
        )
        .await;
        site.stop().await;
    })
    .await;
}

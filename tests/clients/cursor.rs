//! Cursor: dynamic registration with its private-use, hosted and loopback callbacks in one
//! request (erp-mafia/accounted#2225, bytebase/bytebase#20510), then the sign-in on the hosted
//! https one.

use serde_json::json;

use crate::fixtures::*;

const APP: &str = "cursor://anysphere.cursor-mcp/oauth/callback";
const HOSTED: &str = "https://www.cursor.com/agents/mcp/oauth/callback";
const LOOPBACK: &str = "http://localhost:8787/callback";

#[actix_web::test]
async fn cursor_registering_three_kinds_of_callback_signs_in_on_its_https_one_and_refreshes() {
    row("Cursor", || async {
        let site = Site::start(|b| b).await;
        let (client_id, reg) = registered(
            &site,
            &json!({
                "client_name": "Cursor",
                "redirect_uris": [APP, HOSTED, LOOPBACK],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            }),
        )
        .await;
        assert_eq!(reg["redirect_uris"], json!([APP, HOSTED, LOOPBACK]));
        // Private-use and loopback callbacks make it a native application.
        assert_eq!(reg["application_type"], "native");
        let pkce = Pkce::new();
        let authorize = authorize_url(
            &site,
            &pkce,
            &[
                ("client_id", &client_id),
                ("redirect_uri", HOSTED),
                ("state", "cursor"),
                ("resource", &site.mcp()),
            ],
        );
        let callback = sign_in(&authorize, HOSTED).await;
        let issued = tokens(
            &token(
                &site,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &callback.code()),
                    ("redirect_uri", HOSTED),
                    ("code_verifier", &pkce.verifier),
                    ("client_id", &client_id),
                ],
            )
            .await,
        );
        assert_tools_reachable(&site, issued["access_token"].as_str().unwrap()).await;
        refreshed(&site, &issued, &[("client_id", &client_id)]).await;
        site.stop().await;
    })
    .await;
}

#[actix_web::test]
async fn cursor_registering_a_dangerous_scheme_beside_its_own_is_refused_with_invalid_redirect_uri()
{
    row("Cursor schemes", || async {
        let site = Site::start(|b| b).await;
        // Private-use schemes pass (its own `cursor://` above); a scheme that runs code or
        // reads local data, registered beside Cursor's callbacks, refuses the whole request.
        for dangerous in [
            "javascript:alert(document.cookie)",
            "JavaScript://anysphere.cursor-mcp/%0aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "file:///etc/passwd",
            "vbscript:msgbox(1)",
        ] {
            let res = register(
                &site,
                &json!({
                    "client_name": "Cursor",
                    "redirect_uris": [APP, dangerous, HOSTED],
                    "token_endpoint_auth_method": "none",
                }),
            )
            .await;
            assert_eq!(
                res.status,
                actix_web::http::StatusCode::BAD_REQUEST,
                "{dangerous}: {}",
                res.text()
            );
            assert_eq!(
                res.json()["error"],
                "invalid_redirect_uri",
                "{dangerous}: {}",
                res.text()
            );
        }
        // The same request without it is accepted.
        let (_, reg) = registered(
            &site,
            &json!({
                "client_name": "Cursor",
                "redirect_uris": [APP, HOSTED],
                "token_endpoint_auth_method": "none",
            }),
        )
        .await;
        assert_eq!(reg["redirect_uris"], json!([APP, HOSTED]));
        site.stop().await;
    })
    .await;
}

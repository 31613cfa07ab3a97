//! Open WebUI: dynamic registration that sends the protected resource's scopes, and a client
//! built from the registration response alone, so the scopes it later asks for are the ones
//! the response echoes (open-webui/open-webui#29967).

use serde_json::json;

use crate::fixtures::*;

const CALLBACK: &str = "https://webui.example.com/oauth/clients/mcp:files/callback";

#[actix_web::test]
async fn open_webui_asking_for_the_scope_the_registration_echoed_signs_in_and_refreshes_with_those_scopes(
) {
    row("Open WebUI", || async {
        let site = Site::start(mcp_scopes).await;
        let prm = get(&site.url("/.well-known/oauth-protected-resource/mcp")).await;
        let scopes: Vec<String> = prm.json()["scopes_supported"]
            .as_array()
            .expect("scopes_supported in the resource metadata")
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect();
        let (client_id, reg) = registered(
            &site,
            &json!({
                "client_name": "Open WebUI",
                "redirect_uris": [CALLBACK],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "scope": scopes.join(" "),
            }),
        )
        .await;
        // What Open WebUI keeps, and so the only scope it will ever ask for.
        let echoed = reg["scope"]
            .as_str()
            .expect("the registration response echoes `scope`")
            .to_owned();
        assert!(!echoed.is_empty(), "{reg}");
        for scope in &scopes {
            assert!(
                echoed.split(' ').any(|s| s == scope),
                "{scope} not in {echoed}"
            );
        }
        let pkce = Pkce::new();
        let authorize = authorize_url(
            &site,
            &pkce,
            &[
                ("client_id", &client_id),
                ("redirect_uri", CALLBACK),
                ("scope", &echoed),
                ("state", "webui"),
                ("resource", &site.mcp()),
            ],
        );
        let callback = sign_in(&authorize, CALLBACK).await;
        let issued = tokens(
            &token(
                &site,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &callback.code()),
                    ("redirect_uri", CALLBACK),
                    ("code_verifier", &pkce.verifier),
                    ("client_id", &client_id),
                ],
            )
            .await,
        );
        assert_eq!(echoed, "mcp:tools files:read");
        assert_eq!(granted(&issued), ["files:read", "mcp:tools"], "{issued}");
        assert_tools_reachable(&site, issued["access_token"].as_str().unwrap()).await;
        let new = refreshed(&site, &issued, &[("client_id", &client_id)]).await;
        assert_eq!(granted(&new), ["files:read", "mcp:tools"], "{new}");
        site.stop().await;
    })
    .await;
}

//! mcp-remote (and the MCP TypeScript SDK's defaults it ships): registers and asks for
//! `openid email profile` whatever the server lists (punkpeye/mcp-remote#204), on a
//! `localhost` callback whose port changes each time it restarts, with the client it stored.

use serde_json::json;

use crate::fixtures::*;

fn callback(port: u16) -> String {
    format!("http://localhost:{port}/oauth/callback")
}

async fn sign_in_once(site: &Site, client_id: &str, port: u16) -> serde_json::Value {
    let redirect = callback(port);
    let pkce = Pkce::new();
    let authorize = authorize_url(
        site,
        &pkce,
        &[
            ("client_id", client_id),
            ("redirect_uri", &redirect),
            ("state", "mcp-remote"),
            ("scope", "openid email profile"),
            ("resource", &site.mcp()),
        ],
    );
    let callback = sign_in(&authorize, &redirect).await;
    tokens(
        &token(
            site,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", client_id),
                ("code", &callback.code()),
                ("code_verifier", &pkce.verifier),
                ("redirect_uri", &redirect),
                ("resource", &site.mcp()),
            ],
        )
        .await,
    )
}

/// The rest of mcp-remote's refresh request (the TypeScript SDK's `refreshAuthorization` with
/// the scope it was configured with).
fn refresh_form<'a>(client_id: &'a str, resource: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("client_id", client_id),
        ("scope", "openid email profile"),
        ("resource", resource),
    ]
}

#[actix_web::test]
async fn mcp_remote_asking_for_openid_email_profile_signs_in_again_after_a_restart_and_refreshes() {
    row("mcp-remote", || async {
        let site = Site::start(|b| b).await;
        let (client_id, _) = registered(
            &site,
            &json!({
                "redirect_uris": [callback(3334)],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "client_name": "MCP CLI Proxy",
                "client_uri": "https://github.com/modelcontextprotocol/mcp-cli",
                "software_id": "2e6dc280-f3c3-4e01-99a7-8181dbd1d23d",
                "software_version": "0.1.29",
                "scope": "openid email profile",
            }),
        )
        .await;
        let first = sign_in_once(&site, &client_id, 3334).await;
        assert_tools_reachable(&site, first["access_token"].as_str().unwrap()).await;
        // Restarted: the same stored client, another port.
        let again = sign_in_once(&site, &client_id, 18231).await;
        assert_tools_reachable(&site, again["access_token"].as_str().unwrap()).await;
        // Its refresh asks for the same `openid email profile` again, with `resource`.
        refreshed(&site, &again, &refresh_form(&client_id, &site.mcp())).await;
        site.stop().await;
    })
    .await;
}

#[actix_web::test]
async fn mcp_remote_asking_for_scopes_the_server_does_not_define_is_granted_the_default_set_and_refreshes(
) {
    row("mcp-remote scopes", || async {
        let site = Site::start(mcp_scopes).await;
        let prm = get(&site.url("/.well-known/oauth-protected-resource/mcp"))
            .await
            .json();
        assert_eq!(prm["scopes_supported"], json!(["mcp:tools", "files:read"]));
        let (client_id, _) = registered(
            &site,
            &json!({
                "redirect_uris": [callback(3334)],
                "token_endpoint_auth_method": "none",
                "client_name": "MCP CLI Proxy",
                "scope": "openid email profile",
            }),
        )
        .await;
        // None of `openid email profile` is an MCP scope here: left out, not an error, and
        // the default set granted in their place.
        let issued = sign_in_once(&site, &client_id, 3334).await;
        assert_eq!(granted(&issued), ["mcp:tools"], "{issued}");
        assert_tools_reachable(&site, issued["access_token"].as_str().unwrap()).await;
        // The refresh asks for them again: still dropped, the grant it had kept.
        let new = refreshed(&site, &issued, &refresh_form(&client_id, &site.mcp())).await;
        assert_eq!(granted(&new), ["mcp:tools"], "{new}");
        site.stop().await;
    })
    .await;
}

//! ChatGPT (connectors, developer mode): dynamic registration with its one callback, `resource`
//! on every request (authorization, code exchange, refresh), and no `scope` when it reconnects.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::fixtures::*;

const CALLBACK: &str = "https://chatgpt.com/connector_platform_oauth_redirect";

/// Signs in as ChatGPT does, with `scope` when given, `resource` always: the token answer.
async fn connect(site: &Site, client_id: &str, scope: Option<&str>) -> serde_json::Value {
    let pkce = Pkce::new();
    let resource = site.mcp();
    let mut params = vec![
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
        ("state", "chatgpt-state"),
        ("resource", resource.as_str()),
    ];
    if let Some(scope) = scope {
        params.push(("scope", scope));
    }
    let callback = sign_in(&authorize_url(site, &pkce, &params), CALLBACK).await;
    tokens(
        &token(
            site,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", client_id),
                ("code", &callback.code()),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &pkce.verifier),
                ("resource", &resource),
            ],
        )
        .await,
    )
}

#[actix_web::test]
async fn chatgpt_echoing_resource_everywhere_signs_in_refreshes_and_reconnects_without_scope() {
    row("ChatGPT", || async {
        let site = Site::start(mcp_scopes).await;
        let (client_id, _) = registered(
            &site,
            &json!({
                "client_name": "ChatGPT",
                "redirect_uris": [CALLBACK],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            }),
        )
        .await;
        let metadata = get(&site.url("/.well-known/oauth-authorization-server")).await;
        let listed: Vec<String> = metadata.json()["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect();

        let first = connect(&site, &client_id, Some(&listed.join(" "))).await;
        assert_eq!(granted(&first), ["files:read", "mcp:tools"], "{first}");
        assert_tools_reachable(&site, first["access_token"].as_str().unwrap()).await;

        // The refresh names the resource too.
        let refreshed = tokens(
            &token(
                &site,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &client_id),
                    ("refresh_token", first["refresh_token"].as_str().unwrap()),
                    ("resource", &site.mcp()),
                ],
            )
            .await,
        );
        assert_ne!(refreshed["access_token"], first["access_token"]);
        assert_tools_reachable(&site, refreshed["access_token"].as_str().unwrap()).await;

        // Reconnecting, it sends no `scope`: the default set, never an error.
        let again = connect(&site, &client_id, None).await;
        assert_eq!(granted(&again), ["mcp:tools"], "{again}");
        assert_tools_reachable(&site, again["access_token"].as_str().unwrap()).await;
        site.stop().await;
    })
    .await;
}

#[actix_web::test]
async fn chatgpt_naming_another_resource_at_the_token_endpoint_is_refused_with_invalid_target() {
    row("ChatGPT resource", || async {
        let site = Site::start(|b| b).await;
        let (client_id, _) = registered(
            &site,
            &json!({"client_name": "ChatGPT", "redirect_uris": [CALLBACK]}),
        )
        .await;
        let first = connect(&site, &client_id, None).await;
        let res = token(
            &site,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &client_id),
                ("refresh_token", first["refresh_token"].as_str().unwrap()),
                ("resource", &format!("{}/other", site.base)),
            ],
        )
        .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text());
        assert_eq!(res.json()["error"], "invalid_target");
        site.stop().await;
    })
    .await;
}

/// ChatGPT's published metadata document (`https://chatgpt.com/oauth/client.json`, as quoted
/// in cloudflare/workers-oauth-provider#293 and django-oauth/django-oauth-toolkit#1857): it
/// prefers `private_key_jwt` and lists `none` among the methods it can use.
#[actix_web::test]
async fn chatgpt_with_its_metadata_document_signs_in_as_a_public_client() {
    row("ChatGPT metadata document", || async {
        let docs = Documents::start().await;
        let client_id = docs.serve(
            "/oauth/client.json",
            json!({
                "client_uri": "https://chatgpt.com/",
                "redirect_uris": [CALLBACK],
                "token_endpoint_auth_method": "private_key_jwt",
                "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "client_name": "ChatGPT",
                "logo_uri": "https://persistent.oaistatic.com/sonic/misc/openai-logo.png",
                "token_endpoint_auth_signing_alg": "RS256",
                "jwks_uri": "https://chatgpt.com/oauth/jwks.json",
            }),
        );
        let site = Site::start(|b| b.client_documents(docs.settings())).await;
        let metadata = get(&site.url("/.well-known/oauth-authorization-server"))
            .await
            .json();
        assert_eq!(metadata["client_id_metadata_document_supported"], true);
        // The methods it may choose from: `private_key_jwt` is not one of them.
        let methods = metadata["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap();
        assert!(methods.iter().any(|m| m == "none"), "{metadata}");
        assert!(
            !methods.iter().any(|m| m == "private_key_jwt"),
            "{metadata}"
        );

        let first = connect(&site, &client_id, None).await;
        assert_tools_reachable(&site, first["access_token"].as_str().unwrap()).await;
        let refreshed = tokens(
            &token(
                &site,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &client_id),
                    ("refresh_token", first["refresh_token"].as_str().unwrap()),
                    ("resource", &site.mcp()),
                ],
            )
            .await,
        );
        assert_tools_reachable(&site, refreshed["access_token"].as_str().unwrap()).await;
        site.stop().await;
        docs.stop().await;
    })
    .await;
}

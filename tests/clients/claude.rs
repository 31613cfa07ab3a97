//! Claude (claude.ai, Claude Desktop): dynamic registration, twice per connect, with both of
//! its callback hosts and `client_secret_post`; the scope it asks for is exactly
//! `scopes_supported` (with `offline_access` when listed); it never refreshes.

use std::time::Duration;

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use crate::fixtures::*;

const CLAUDE_AI: &str = "https://claude.ai/api/mcp/auth_callback";
const CLAUDE_COM: &str = "https://claude.com/api/mcp/auth_callback";
/// The access token lifetime of the sites of these rows, in seconds.
const TTL: u64 = 900;

/// The registration body claude.ai sends (anthropics/claude-ai-mcp#1043, #966).
fn registration() -> Value {
    json!({
        "client_name": "Claude",
        "redirect_uris": [CLAUDE_AI, CLAUDE_COM],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_post",
    })
}

/// What Claude asks for: every scope the protected-resource metadata lists (`offline_access`
/// too, were it listed).
fn claude_scope(metadata: &Value) -> String {
    let supported: Vec<&str> = metadata["scopes_supported"]
        .as_array()
        .expect("scopes_supported")
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    supported.join(" ")
}

#[actix_web::test]
async fn claude_registering_twice_signs_in_with_the_second_registration_on_its_claude_com_host() {
    row("Claude", || async {
        // Claude never refreshes, so the access token's lifetime is the session's: the
        // operator's `access_token_ttl` sets it (below the provider's hour).
        let site = Site::start(|b| b.access_token_ttl(Duration::from_secs(TTL))).await;
        let prm = get(&site.url("/.well-known/oauth-protected-resource/mcp")).await;
        assert_eq!(prm.status, StatusCode::OK);
        let scope = claude_scope(&prm.json());

        // Two registrations for one connect: both are answered, each with its own secret.
        let (first_id, first) = registered(&site, &registration()).await;
        let (client_id, second) = registered(&site, &registration()).await;
        assert_ne!(first_id, client_id);
        assert_eq!(second["token_endpoint_auth_method"], "client_secret_post");
        assert_eq!(second["redirect_uris"], json!([CLAUDE_AI, CLAUDE_COM]));
        let secret = second["client_secret"]
            .as_str()
            .expect("a secret")
            .to_owned();
        let first_secret = first["client_secret"].as_str().unwrap().to_owned();

        // It authorizes with the second registration and its claude.com callback.
        let pkce = Pkce::new();
        let authorize = authorize_url(
            &site,
            &pkce,
            &[
                ("client_id", &client_id),
                ("redirect_uri", CLAUDE_COM),
                ("state", "claude-state"),
                ("scope", &scope),
                ("resource", &site.mcp()),
            ],
        );
        let callback = sign_in(&authorize, CLAUDE_COM).await;
        assert_eq!(callback.param("state").as_deref(), Some("claude-state"));
        let code = callback.code();

        // The code belongs to the registration that asked for it, not to its twin.
        let twin = token(
            &site,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CLAUDE_COM),
                ("code_verifier", &pkce.verifier),
                ("client_id", &first_id),
                ("client_secret", &first_secret),
                ("resource", &site.mcp()),
            ],
        )
        .await;
        assert_eq!(twin.status, StatusCode::BAD_REQUEST, "{}", twin.text());
        assert_eq!(twin.json()["error"], "invalid_grant", "{}", twin.text());

        let issued = tokens(
            &token(
                &site,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CLAUDE_COM),
                    ("code_verifier", &pkce.verifier),
                    ("client_id", &client_id),
                    ("client_secret", &secret),
                    ("resource", &site.mcp()),
                ],
            )
            .await,
        );
        assert_eq!(issued["token_type"], "Bearer");
        assert_eq!(issued["expires_in"], TTL, "{issued}");
        assert_tools_reachable(&site, issued["access_token"].as_str().unwrap()).await;

        // The first registration of the pair is a client of its own that works as well (a
        // connect that ends up using it signs in), and neither can use the other's tokens.
        let twin = signed_in(&site, &first_id, &first_secret, &scope).await;
        assert_tools_reachable(&site, twin["access_token"].as_str().unwrap()).await;
        let crossed = token(
            &site,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", issued["refresh_token"].as_str().unwrap()),
                ("client_id", &first_id),
                ("client_secret", &first_secret),
            ],
        )
        .await;
        assert_eq!(
            crossed.status,
            StatusCode::BAD_REQUEST,
            "{}",
            crossed.text()
        );
        assert_eq!(
            crossed.json()["error"],
            "invalid_grant",
            "{}",
            crossed.text()
        );
        site.stop().await;
    })
    .await;
}

#[actix_web::test]
async fn claude_asking_for_every_listed_scope_with_or_without_offline_access_is_granted_what_the_server_lists(
) {
    row("Claude scopes", || async {
        let site = Site::start(mcp_scopes).await;
        let prm = get(&site.url("/.well-known/oauth-protected-resource/mcp")).await;
        let prm = prm.json();
        // `offline_access` is never listed, so Claude does not ask for it.
        assert!(
            !prm["scopes_supported"]
                .as_array()
                .expect("scopes_supported")
                .iter()
                .any(|s| s == "offline_access"),
            "{prm}"
        );
        let scope = claude_scope(&prm);
        assert_eq!(scope, "mcp:tools files:read");
        // Every listed scope is granted: more than the default set (`mcp:tools`).
        let mut listed: Vec<String> = scope.split(' ').map(str::to_owned).collect();
        listed.sort();
        let (client_id, reg) = registered(&site, &registration()).await;
        let secret = reg["client_secret"].as_str().unwrap().to_owned();
        let issued = signed_in(&site, &client_id, &secret, &scope).await;
        assert_eq!(granted(&issued), listed, "{issued}");
        assert_tools_reachable(&site, issued["access_token"].as_str().unwrap()).await;
        site.stop().await;

        // Claude never refreshes, so a server may offer it no refresh grant. Where a server
        // lists `offline_access`, Claude adds it: tolerated, not granted as an MCP scope, and
        // it does not bring back the refresh token the server does not issue.
        let site = Site::start(|b| mcp_scopes(b).grant_types(["authorization_code"])).await;
        let (client_id, reg) = registered(&site, &registration()).await;
        // It registers for `refresh_token` all the same: answered without it, not refused.
        assert_eq!(reg["grant_types"], json!(["authorization_code"]), "{reg}");
        let secret = reg["client_secret"].as_str().unwrap().to_owned();
        let with_offline = format!("{scope} offline_access");
        let issued = signed_in(&site, &client_id, &secret, &with_offline).await;
        assert_eq!(granted(&issued), listed, "{issued}");
        assert!(issued.get("refresh_token").is_none(), "{issued}");
        assert_tools_reachable(&site, issued["access_token"].as_str().unwrap()).await;
        site.stop().await;
    })
    .await;
}

/// Claude's authorization on its claude.ai callback with `scope`, and its code exchange.
async fn signed_in(site: &Site, client_id: &str, secret: &str, scope: &str) -> Value {
    let pkce = Pkce::new();
    let resource = site.mcp();
    let authorize = authorize_url(
        site,
        &pkce,
        &[
            ("client_id", client_id),
            ("redirect_uri", CLAUDE_AI),
            ("state", "s"),
            ("scope", scope),
            ("resource", &resource),
        ],
    );
    let callback = sign_in(&authorize, CLAUDE_AI).await;
    tokens(
        &token(
            site,
            &[
                ("grant_type", "authorization_code"),
                ("code", &callback.code()),
                ("redirect_uri", CLAUDE_AI),
                ("code_verifier", &pkce.verifier),
                ("client_id", client_id),
                ("client_secret", secret),
                ("resource", &resource),
            ],
        )
        .await,
    )
}

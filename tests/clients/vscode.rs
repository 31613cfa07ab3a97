//! VS Code (GitHub Copilot Chat): dynamic registration with four redirect URIs, then an
//! authorization from a loopback port it never registered when its default port is taken
//! (microsoft/vscode#278512); the metadata's `resource` compared with its own URL byte for
//! byte, trailing slash included (microsoft/vscode#255255, RFC 9728 §3.3).

use actix_web::http::StatusCode;
use serde_json::json;

use crate::fixtures::*;

/// The redirect URIs VS Code registers (microsoft/vscode#278512).
const REGISTERED: [&str; 4] = [
    "https://insiders.vscode.dev/redirect",
    "https://vscode.dev/redirect",
    "http://127.0.0.1/",
    "http://127.0.0.1:33418/",
];
/// What it redirects to when 33418 is taken: a port of the moment.
const USED: &str = "http://127.0.0.1:59656/";

fn registration(uris: &[&str]) -> serde_json::Value {
    json!({
        "client_name": "Visual Studio Code",
        "redirect_uris": uris,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

/// Discovery as VS Code does it for the URL it was given: an unauthenticated `initialize`, the
/// 401, then the protected-resource metadata its challenge names: that URL and the answer.
async fn discover(given: &str) -> (String, Answer) {
    let unauthenticated = send(
        "POST",
        given,
        &[("accept", "application/json, text/event-stream")],
        Some((
            "application/json",
            br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#.to_vec(),
        )),
    )
    .await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED, "{given}");
    let challenge = unauthenticated
        .header("www-authenticate")
        .unwrap()
        .to_owned();
    let metadata_url = challenge
        .split("resource_metadata=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no resource_metadata in {challenge}"))
        .to_owned();
    let prm = get(&metadata_url).await;
    (metadata_url, prm)
}

#[actix_web::test]
async fn vscode_finds_the_resource_equal_to_its_url_and_signs_in_on_an_unregistered_loopback_port()
{
    row("VS Code", || async {
        let site = Site::start(|b| b).await;
        // Given `…/mcp`: the document its challenge names has that URL as `resource`, byte
        // for byte, so VS Code goes on.
        let given = site.mcp();
        let (named, prm) = discover(&given).await;
        assert_eq!(named, site.url("/.well-known/oauth-protected-resource/mcp"));
        assert_eq!(prm.status, StatusCode::OK, "{}", prm.text());
        let prm = prm.json();
        assert_eq!(prm["resource"].as_str(), Some(given.as_str()), "{prm}");
        assert_eq!(
            prm["authorization_servers"][0].as_str(),
            Some(site.issuer())
        );

        let (client_id, reg) = registered(&site, &registration(&REGISTERED)).await;
        assert_eq!(reg["redirect_uris"], json!(REGISTERED));
        let pkce = Pkce::new();
        let authorize = authorize_url(
            &site,
            &pkce,
            &[
                ("client_id", &client_id),
                ("scope", "openid profile email"),
                ("resource", &site.mcp()),
                ("redirect_uri", USED),
                ("state", "vscode"),
            ],
        );
        let callback = sign_in(&authorize, USED).await;
        let issued = tokens(
            &token(
                &site,
                &[
                    ("client_id", &client_id),
                    ("code", &callback.code()),
                    ("grant_type", "authorization_code"),
                    ("code_verifier", &pkce.verifier),
                    ("redirect_uri", USED),
                    ("resource", &site.mcp()),
                ],
            )
            .await,
        );
        assert_tools_reachable(&site, issued["access_token"].as_str().unwrap()).await;
        // Its refresh: the client id and the resource again.
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

/// Given `…/mcp/`, VS Code finds no resource equal to it: the challenge names the one canonical
/// resource's document, whose `resource` has no trailing slash, and RFC 9728's well-known URL
/// for the slashed path is not served. VS Code stops there (see docs/clients.md).
#[actix_web::test]
async fn vscode_given_the_url_with_a_trailing_slash_finds_only_the_resource_without_it() {
    row("VS Code trailing slash", || async {
        let site = Site::start(|b| b).await;
        let given = format!("{}/", site.mcp());
        let (named, prm) = discover(&given).await;
        assert_eq!(named, site.url("/.well-known/oauth-protected-resource/mcp"));
        assert_eq!(prm.status, StatusCode::OK, "{}", prm.text());
        let prm = prm.json();
        assert_eq!(prm["resource"].as_str(), Some(site.mcp().as_str()), "{prm}");
        assert_ne!(prm["resource"].as_str(), Some(given.as_str()));
        let derived = get(&site.url("/.well-known/oauth-protected-resource/mcp/")).await;
        assert_eq!(derived.status, StatusCode::NOT_FOUND, "{}", derived.text());
        site.stop().await;
    })
    .await;
}

#[actix_web::test]
async fn a_loopback_port_is_refused_for_a_client_that_registered_no_loopback_uri() {
    row("VS Code web-only", || async {
        let site = Site::start(|b| b).await;
        let (client_id, _) = registered(&site, &registration(&REGISTERED[..2])).await;
        let pkce = Pkce::new();
        let res = get(&authorize_url(
            &site,
            &pkce,
            &[
                ("client_id", &client_id),
                ("redirect_uri", USED),
                ("state", "vscode"),
            ],
        ))
        .await;
        // Shown to the user, never redirected to the unregistered URI.
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text());
        assert!(res.header("location").is_none());
        assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
        let page = res.text();
        assert!(page.contains("<title>Sign-in failed</title>"), "{page}");
        assert!(
            page.contains("`redirect_uri` is not registered for this client"),
            "{page}"
        );
        assert!(page.contains("<code>invalid_request</code>"), "{page}");
        site.stop().await;
    })
    .await;
}

/// VS Code's published metadata document (`https://vscode.dev/oauth/client-metadata.json`),
/// which it uses instead of registering when the server advertises documents: a native client
/// with a device-code grant the proxy does not serve, signing in on a loopback port it did not
/// list.
#[actix_web::test]
async fn vscode_with_its_metadata_document_signs_in_on_another_loopback_port() {
    row("VS Code metadata document", || async {
        let docs = Documents::start().await;
        let client_id = docs.serve(
            "/oauth/client-metadata.json",
            json!({
                "client_name": "Visual Studio Code",
                "logo_uri": "https://code.visualstudio.com/assets/branding/code-stable.png",
                "grant_types": [
                    "authorization_code",
                    "refresh_token",
                    "urn:ietf:params:oauth:grant-type:device_code"
                ],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "application_type": "native",
                "client_uri": "https://vscode.dev/product",
                "redirect_uris": ["http://127.0.0.1:33418/", "https://vscode.dev/redirect"],
            }),
        );
        let site = Site::start(|b| b.client_documents(docs.settings())).await;
        let pkce = Pkce::new();
        let authorize = authorize_url(
            &site,
            &pkce,
            &[
                ("client_id", &client_id),
                ("scope", "openid profile email"),
                ("resource", &site.mcp()),
                ("redirect_uri", USED),
                ("state", "vscode"),
            ],
        );
        let callback = sign_in(&authorize, USED).await;
        let issued = tokens(
            &token(
                &site,
                &[
                    ("client_id", &client_id),
                    ("code", &callback.code()),
                    ("grant_type", "authorization_code"),
                    ("code_verifier", &pkce.verifier),
                    ("redirect_uri", USED),
                    ("resource", &site.mcp()),
                ],
            )
            .await,
        );
        assert_tools_reachable(&site, issued["access_token"].as_str().unwrap()).await;
        site.stop().await;
        docs.stop().await;
    })
    .await;
}

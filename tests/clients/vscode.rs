//! VS Code (GitHub Copilot Chat): dynamic registration with four redirect URIs, then an
//! authorization from a loopback port it never registered when its default port is taken
//! (microsoft/vscode#278512); the metadata's `resource` compared with its own URL byte for
//! byte, trailing slash included (microsoft/vscode#255255, RFC 9728 §3.3).

use actix_web::http::StatusCode;
use serde_json::{json, Value};
use url::Url;

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

/// What VS Code settled on for the URL it was given.
struct Discovery {
    /// The metadata URL its 401 named.
    named: String,
    /// The protected-resource metadata, kept only when its `resource` is the URL given.
    metadata: Option<Value>,
    /// The scopes it asks for: the challenge's, else the metadata's `scopes_supported`.
    scopes: String,
}

impl Discovery {
    /// The `resource` it sends: the kept metadata's, or none.
    fn resource(&self) -> Option<&str> {
        self.metadata.as_ref().and_then(|m| m["resource"].as_str())
    }
}

/// VS Code keeps a metadata document only when its `resource`, parsed as a URL and written
/// back (`new URL(..).toString()`), equals the URL it was given written back the same way: the
/// host's case does not matter, a trailing slash does (src/vs/base/common/oauth.ts,
/// `fetchResourceMetadata`).
fn vscode_keeps(metadata: &Value, given: &str) -> bool {
    let written = |s: &str| Url::parse(s).map(String::from).ok();
    metadata["resource"]
        .as_str()
        .and_then(written)
        .is_some_and(|r| Some(r) == written(given))
}

/// Discovery as VS Code does it for the URL it was given (`_populateAuthMetadata` in
/// src/vs/workbench/api/common/extHostMcp.ts): an unauthenticated `initialize`, the 401, the
/// protected-resource metadata its challenge names, kept when [`vscode_keeps`] it; otherwise
/// the authorization server is the URL's origin and no `resource` is sent. Then the
/// authorization server's metadata, which must be this proxy's.
async fn discover(site: &Site, given: &str) -> Discovery {
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
    let param = |name: &str| {
        challenge
            .split(&format!("{name}=\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_owned)
    };
    let named =
        param("resource_metadata").unwrap_or_else(|| panic!("no resource_metadata in {challenge}"));
    let prm = get(&named).await;
    assert_eq!(prm.status, StatusCode::OK, "{named}: {}", prm.text());
    let prm = prm.json();
    let metadata = vscode_keeps(&prm, given).then_some(prm);
    let authorization_server = match &metadata {
        Some(m) => m["authorization_servers"][0].as_str().unwrap().to_owned(),
        None => Url::parse(given).unwrap().origin().ascii_serialization(),
    };
    let asm = get(&format!(
        "{authorization_server}/.well-known/oauth-authorization-server"
    ))
    .await;
    assert_eq!(asm.status, StatusCode::OK, "{}", asm.text());
    assert_eq!(asm.json()["issuer"].as_str(), Some(site.issuer()));
    let scopes = param("scope")
        .or_else(|| {
            metadata.as_ref().map(|m| {
                let listed = m["scopes_supported"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let names: Vec<&str> = listed.iter().filter_map(Value::as_str).collect();
                names.join(" ")
            })
        })
        .unwrap_or_default();
    Discovery {
        named,
        metadata,
        scopes,
    }
}

/// VS Code's sign-in after `discovery`: it registers its four URIs, authorizes from a loopback
/// port it never registered, sends `resource` (when it kept one) on the authorization, the
/// code exchange and the refresh, and calls the tools at the URL it was given. The tokens.
async fn vscode_signs_in(site: &Site, discovery: &Discovery, given: &str) -> Value {
    let (client_id, reg) = registered(site, &registration(&REGISTERED)).await;
    assert_eq!(reg["redirect_uris"], json!(REGISTERED));
    let pkce = Pkce::new();
    let mut params = vec![("client_id", client_id.as_str())];
    if !discovery.scopes.is_empty() {
        params.push(("scope", &discovery.scopes));
    }
    params.extend(discovery.resource().map(|r| ("resource", r)));
    params.extend([("redirect_uri", USED), ("state", "vscode")]);
    let callback = sign_in(&authorize_url(site, &pkce, &params), USED).await;
    let code = callback.code();
    let mut form = vec![
        ("client_id", client_id.as_str()),
        ("code", &code),
        ("grant_type", "authorization_code"),
        ("code_verifier", &pkce.verifier),
        ("redirect_uri", USED),
    ];
    form.extend(discovery.resource().map(|r| ("resource", r)));
    let issued = tokens(&token(site, &form).await);
    assert_tools_reachable_at(site, given, issued["access_token"].as_str().unwrap()).await;
    // Its refresh: the client id and the resource again.
    let mut again = vec![("client_id", client_id.as_str())];
    again.extend(discovery.resource().map(|r| ("resource", r)));
    let refreshed = refreshed(site, &issued, &again).await;
    assert_tools_reachable_at(site, given, refreshed["access_token"].as_str().unwrap()).await;
    refreshed
}

#[actix_web::test]
async fn vscode_finds_the_resource_equal_to_its_url_and_signs_in_on_an_unregistered_loopback_port()
{
    row("VS Code", || async {
        let site = Site::start(|b| b).await;
        // Given `…/mcp`: the document its challenge names has that URL as `resource`, byte
        // for byte, so VS Code keeps it and sends `resource` everywhere.
        let given = site.mcp();
        let discovery = discover(&site, &given).await;
        assert_eq!(
            discovery.named,
            site.url("/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(discovery.resource(), Some(given.as_str()));
        let metadata = discovery.metadata.as_ref().unwrap();
        assert_eq!(
            metadata["authorization_servers"][0].as_str(),
            Some(site.issuer())
        );
        vscode_signs_in(&site, &discovery, &given).await;
        site.stop().await;
    })
    .await;
}

/// Given `…/mcp/`, VS Code signs in for it and reaches the tools there, by either of its
/// paths. The 401 at `…/mcp/` names RFC 9728 §3.1's document for that path,
/// `/.well-known/oauth-protected-resource/mcp/`, which serves the canonical metadata with
/// `resource` spelled `…/mcp/`: VS Code keeps it (byte for byte its URL) and sends that
/// `resource` on the authorization, the code exchange and the refresh, which the proxy takes
/// as its own resource; the token it issues names the canonical one and works at both
/// spellings. The 401 at `…/mcp` still names the canonical document.
#[actix_web::test]
async fn vscode_given_the_url_with_a_trailing_slash_signs_in_for_it_and_reaches_the_tools() {
    row("VS Code trailing slash", || async {
        let site = Site::start(|b| b).await;
        let given = format!("{}/", site.mcp());
        let canonical = site.url("/.well-known/oauth-protected-resource/mcp");
        let slashed_url = site.url("/.well-known/oauth-protected-resource/mcp/");

        let discovery = discover(&site, &given).await;
        assert_eq!(discovery.named, slashed_url);
        assert_eq!(discovery.resource(), Some(given.as_str()));
        assert_eq!(discover(&site, &site.mcp()).await.named, canonical);

        let slashed = get(&slashed_url).await;
        assert_eq!(slashed.status, StatusCode::OK, "{}", slashed.text());
        assert_eq!(slashed.header("content-type"), Some("application/json"));
        let slashed = slashed.json();
        assert!(vscode_keeps(&slashed, &given));
        // Everything else as the canonical document says it.
        let mut plain = get(&canonical).await.json();
        plain["resource"] = json!(given);
        assert_eq!(slashed, plain);

        let issued = vscode_signs_in(&site, &discovery, &given).await;
        assert_tools_reachable(&site, issued["access_token"].as_str().unwrap()).await;
        site.stop().await;
    })
    .await;
}

/// The trailing slash is the one other spelling the proxy takes for its resource (RFC 8707):
/// another path, a query, a fragment, another case, scheme, host or port is refused with
/// `invalid_target` at `/authorize` (on the error page, before any approval), at the code exchange (which
/// leaves the code unspent) and at the refresh; the metadata is served for no other variant.
#[actix_web::test]
async fn resource_spellings_other_than_the_trailing_slash_are_refused_with_invalid_target() {
    row("VS Code near-miss resources", || async {
        let site = Site::start(|b| b).await;
        let base = &site.base;
        let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
        let near_misses = [
            format!("{base}/mcp//"),
            format!("{base}/mcp/x"),
            format!("{base}/mcp/?"),
            format!("{base}/mcp?x=1"),
            format!("{base}/mcp/?x=1"),
            format!("{base}/mcp/#"),
            format!("{base}/MCP/"),
            format!("{base}/mcp%2F"),
            format!("{base}/"),
            base.to_string(),
            format!("http://localhost:{port}/mcp/"),
            format!("https://127.0.0.1:{port}/mcp/"),
            format!("http://127.0.0.1:{}/mcp/", port + 1),
        ];
        let (client_id, _) = registered(&site, &registration(&REGISTERED)).await;
        for resource in &near_misses {
            let res = get(&authorize_url(
                &site,
                &Pkce::new(),
                &[
                    ("client_id", &client_id),
                    ("resource", resource),
                    ("redirect_uri", USED),
                    ("state", "vscode"),
                ],
            ))
            .await;
            // Shown to the user: the client is not one this browser approved before.
            assert_eq!(res.status, StatusCode::BAD_REQUEST, "{resource}");
            assert!(res.header("location").is_none(), "{resource}");
            assert!(
                res.text().contains("<code>invalid_target</code>"),
                "{resource}: {}",
                res.text()
            );
        }
        let given = format!("{}/", site.mcp());
        let pkce = Pkce::new();
        let authorize = authorize_url(
            &site,
            &pkce,
            &[
                ("client_id", &client_id),
                ("resource", &given),
                ("redirect_uri", USED),
                ("state", "vscode"),
            ],
        );
        let code = sign_in(&authorize, USED).await.code();
        let exchange = |resource: String| {
            let (client_id, code, verifier) = (client_id.clone(), code.clone(), &pkce.verifier);
            let site = &site;
            async move {
                token(
                    site,
                    &[
                        ("client_id", &client_id),
                        ("code", &code),
                        ("grant_type", "authorization_code"),
                        ("code_verifier", verifier),
                        ("redirect_uri", USED),
                        ("resource", &resource),
                    ],
                )
                .await
            }
        };
        for resource in &near_misses {
            let res = exchange(resource.clone()).await;
            assert_eq!(
                res.status,
                StatusCode::BAD_REQUEST,
                "{resource}: {}",
                res.text()
            );
            assert_eq!(res.json()["error"], "invalid_target", "{resource}");
        }
        let issued = tokens(&exchange(given.clone()).await);
        for resource in &near_misses {
            let res = token(
                &site,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", issued["refresh_token"].as_str().unwrap()),
                    ("client_id", &client_id),
                    ("resource", resource),
                ],
            )
            .await;
            assert_eq!(
                res.status,
                StatusCode::BAD_REQUEST,
                "{resource}: {}",
                res.text()
            );
            assert_eq!(res.json()["error"], "invalid_target", "{resource}");
        }
        refreshed(
            &site,
            &issued,
            &[("client_id", &client_id), ("resource", &given)],
        )
        .await;
        for path in ["/mcp//", "/mcp/x", "/MCP/", "/mcp/x/"] {
            let url = site.url(&format!("/.well-known/oauth-protected-resource{path}"));
            assert_eq!(get(&url).await.status, StatusCode::NOT_FOUND, "{url}");
        }
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

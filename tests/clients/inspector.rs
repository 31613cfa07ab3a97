//! The MCP Inspector: a web page on `http://localhost:6274` that runs the whole flow from the
//! browser, so discovery, registration, the token endpoint and the MCP endpoint must answer
//! CORS, preflight included (modelcontextprotocol/inspector; routecraftjs/routecraft#320,
//! envoyproxy/ai-gateway#2307 show what it requests).

use actix_web::http::StatusCode;
use serde_json::json;

use crate::fixtures::*;

const ORIGIN: &str = "http://localhost:6274";
const CALLBACK: &str = "http://localhost:6274/oauth/callback";

/// The preflight a browser sends before `method` with `headers` from the Inspector's page.
async fn preflight(url: &str, method: &str, headers: &str) -> Answer {
    let res = send(
        "OPTIONS",
        url,
        &[
            ("origin", ORIGIN),
            ("access-control-request-method", method),
            ("access-control-request-headers", headers),
        ],
        None,
    )
    .await;
    assert!(
        res.status.is_success(),
        "{url}: {} {}",
        res.status,
        res.text()
    );
    assert_allowed_origin(&res, url);
    let methods = res
        .header("access-control-allow-methods")
        .unwrap_or_else(|| panic!("{url}: no Access-Control-Allow-Methods"))
        .to_ascii_uppercase();
    assert!(methods.contains(method), "{url}: {methods}");
    let allowed = res
        .header("access-control-allow-headers")
        .unwrap_or_else(|| panic!("{url}: no Access-Control-Allow-Headers"))
        .to_ascii_lowercase();
    for header in headers.split(',') {
        assert!(
            allowed.contains(header.trim()),
            "{url}: {header} not in {allowed}"
        );
    }
    res
}

fn assert_allowed_origin(res: &Answer, url: &str) {
    let allowed = res
        .header("access-control-allow-origin")
        .unwrap_or_else(|| panic!("{url}: no Access-Control-Allow-Origin"));
    assert!(allowed == ORIGIN || allowed == "*", "{url}: {allowed}");
    // No cookies across origins: the proxy's own cookies are for its pages only.
    assert_ne!(
        res.header("access-control-allow-credentials"),
        Some("true"),
        "{url}"
    );
}

/// The actual request from the page, with its `Origin`.
async fn from_page(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, Vec<u8>)>,
) -> Answer {
    let mut all = vec![("origin", ORIGIN)];
    all.extend_from_slice(headers);
    let res = send(method, url, &all, body).await;
    assert_allowed_origin(&res, url);
    res
}

/// `notifications/initialized`, then `tools/call ping` from the page in the session the
/// initialize opened, each answer readable there (CORS): the tool's text.
async fn call_from_page(site: &Site, access_token: &str, session: &str) -> String {
    let auth = format!("Bearer {access_token}");
    let headers = [
        ("authorization", auth.as_str()),
        ("accept", "application/json, text/event-stream"),
        ("mcp-session-id", session),
        ("mcp-protocol-version", "2025-06-18"),
    ];
    let initialized = from_page(
        "POST",
        &site.mcp(),
        &headers,
        Some((
            "application/json",
            br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec(),
        )),
    )
    .await;
    assert!(
        initialized.status.is_success(),
        "{} {}",
        initialized.status,
        initialized.text()
    );
    let called = from_page(
        "POST",
        &site.mcp(),
        &headers,
        Some((
            "application/json",
            br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ping","arguments":{}}}"#.to_vec(),
        )),
    )
    .await;
    assert_eq!(called.status, StatusCode::OK, "{}", called.text());
    // JSON, or server-sent events (a priming one without data first) one of whose `data`
    // is the JSON-RPC answer.
    let text = called.text();
    let json = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find(|d| !d.is_empty())
        .unwrap_or(text.trim());
    let answer: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|_| panic!("not JSON-RPC: {text}"));
    assert_eq!(answer["id"], 2, "{answer}");
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {answer}"))
        .to_owned()
}

#[actix_web::test]
async fn the_inspector_in_a_browser_gets_cors_on_discovery_registration_token_refresh_and_tool_calls(
) {
    row("MCP Inspector", || async {
        let site = Site::start(|b| b).await;

        // The MCP endpoint first: preflight, then the 401 whose challenge the page must read.
        preflight(&site.mcp(), "POST", "authorization,content-type,mcp-protocol-version").await;
        let unauthenticated = from_page(
            "POST",
            &site.mcp(),
            &[("accept", "application/json, text/event-stream")],
            Some(("application/json", br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#.to_vec())),
        )
        .await;
        assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
        let exposed = unauthenticated
            .header("access-control-expose-headers")
            .expect("Access-Control-Expose-Headers")
            .to_ascii_lowercase();
        assert!(exposed.contains("www-authenticate"), "{exposed}");

        for path in [
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-authorization-server",
        ] {
            let url = site.url(path);
            preflight(&url, "GET", "mcp-protocol-version").await;
            let doc = from_page("GET", &url, &[("mcp-protocol-version", "2025-11-25")], None).await;
            assert_eq!(doc.status, StatusCode::OK, "{path}");
        }

        preflight(&site.url("/register"), "POST", "content-type").await;
        let body = serde_json::to_vec(&json!({
            "redirect_uris": [CALLBACK, "http://localhost:6274/oauth/callback/debug"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "client_name": "MCP Inspector",
            "client_uri": "https://github.com/modelcontextprotocol/inspector",
        }))
        .unwrap();
        let reg = from_page("POST", &site.url("/register"), &[], Some(("application/json", body))).await;
        assert_eq!(reg.status, StatusCode::CREATED, "{}", reg.text());
        let client_id = reg.json()["client_id"].as_str().unwrap().to_owned();

        let pkce = Pkce::new();
        let authorize = authorize_url(
            &site,
            &pkce,
            &[
                ("client_id", &client_id),
                ("redirect_uri", CALLBACK),
                ("state", "inspector"),
                ("resource", &site.mcp()),
            ],
        );
        // The pages the user's own browser navigates to are not readable from the page.
        let page = send("GET", &authorize, &[("origin", ORIGIN)], None).await;
        assert!(page.status.is_redirection(), "{}", page.text());
        assert!(page.header("access-control-allow-origin").is_none());
        let callback = sign_in(&authorize, CALLBACK).await;

        preflight(&site.url("/token"), "POST", "content-type").await;
        preflight(&site.url("/revoke"), "POST", "content-type").await;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "authorization_code"),
                ("client_id", client_id.as_str()),
                ("code", &callback.code()),
                ("code_verifier", &pkce.verifier),
                ("redirect_uri", CALLBACK),
                ("resource", &site.mcp()),
            ])
            .finish();
        let issued = tokens(
            &from_page(
                "POST",
                &site.url("/token"),
                &[],
                Some(("application/x-www-form-urlencoded", form.into_bytes())),
            )
            .await,
        );
        let access_token = issued["access_token"].as_str().unwrap();

        // With the token, from the page: the answer is readable too.
        let auth = format!("Bearer {access_token}");
        let listed = from_page(
            "POST",
            &site.mcp(),
            &[
                ("authorization", &auth),
                ("accept", "application/json, text/event-stream"),
            ],
            Some((
                "application/json",
                br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"inspector","version":"0"}}}"#.to_vec(),
            )),
        )
        .await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
        let exposed = listed
            .header("access-control-expose-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(exposed.contains("mcp-session-id"), "{exposed}");
        let session = listed
            .header("mcp-session-id")
            .expect("Mcp-Session-Id")
            .to_owned();
        assert_eq!(call_from_page(&site, access_token, &session).await, "pong");
        assert_tools_reachable(&site, access_token).await;

        // The refresh, from the page too.
        let form = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "refresh_token"),
                ("client_id", client_id.as_str()),
                ("refresh_token", issued["refresh_token"].as_str().unwrap()),
                ("resource", &site.mcp()),
            ])
            .finish();
        let refreshed = tokens(
            &from_page(
                "POST",
                &site.url("/token"),
                &[],
                Some(("application/x-www-form-urlencoded", form.into_bytes())),
            )
            .await,
        );
        let new_token = refreshed["access_token"].as_str().unwrap();
        assert_ne!(new_token, access_token);
        // The session it had goes on with the new token.
        assert_eq!(call_from_page(&site, new_token, &session).await, "pong");
        assert_tools_reachable(&site, new_token).await;
        site.stop().await;
    })
    .await;
}

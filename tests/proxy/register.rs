//! `POST /register` (RFC 7591): a sealed client id, the redirect-URI policy, RFC error codes.

use actix_mcp_oauth::clock::ManualClock;
use actix_web::http::StatusCode;
use serde_json::json;

use crate::fixtures::*;

#[actix_web::test]
async fn registration_answers_201_with_a_sealed_public_client() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let res = post_json(
        &proxy.url("/register"),
        &json!({
            "client_name": "Claude",
            "redirect_uris": ["https://claude.ai/api/mcp/auth_callback", "cursor://anysphere.cursor-retrieval/oauth/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_post",
            "logo_uri": "https://claude.ai/logo.png"
        }),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let doc = res.json();
    let client_id = doc["client_id"].as_str().unwrap();
    assert!(
        !client_id.contains("claude"),
        "the registration is sealed, not readable"
    );
    assert_eq!(doc["client_id_issued_at"], T0);
    assert_eq!(doc["client_name"], "Claude");
    assert_eq!(doc["token_endpoint_auth_method"], "none");
    assert!(doc.get("client_secret").is_none());
    assert_eq!(
        doc["redirect_uris"][1],
        "cursor://anysphere.cursor-retrieval/oauth/callback"
    );
    assert_eq!(doc["response_types"], json!(["code"]));

    // The client id opens on the same proxy: /authorize accepts it with a registered URI and
    // asks the user.
    let query = authorize_query(
        client_id,
        &[(
            "redirect_uri",
            Some("https://claude.ai/api/mcp/auth_callback"),
        )],
    );
    let auth = get(&proxy.url(&format!("/authorize?{query}"))).await;
    assert_eq!(auth.status, StatusCode::SEE_OTHER, "{}", auth.text());
    assert_eq!(auth.location.unwrap().path(), "/consent");
    up.stop().await;
}

#[actix_web::test]
async fn bad_redirect_uris_get_invalid_redirect_uri() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let long = format!("https://client.example/{}", "a".repeat(2000));
    let bad: Vec<serde_json::Value> = vec![
        json!({}),
        json!({"redirect_uris": []}),
        json!({"redirect_uris": ["javascript:alert(1)"]}),
        json!({"redirect_uris": ["data:text/html,hi"]}),
        json!({"redirect_uris": ["http://client.example/cb"]}),
        json!({"redirect_uris": ["https://client.example/cb#frag"]}),
        json!({"redirect_uris": ["https://user@client.example/cb"]}),
        json!({"redirect_uris": ["https://client.example/cb", "file:///etc/passwd"]}),
        json!({"redirect_uris": [long]}),
        json!({"redirect_uris": (0..11).map(|i| format!("https://c.example/{i}")).collect::<Vec<_>>()}),
    ];
    for body in bad {
        let res = post_json(&proxy.url("/register"), &body).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(res.json()["error"], "invalid_redirect_uri", "{body}");
        assert!(res.json()["error_description"].is_string());
    }
    up.stop().await;
}

#[actix_web::test]
async fn bad_metadata_gets_invalid_client_metadata() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let url = proxy.url("/register");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("application/json", b"{not json".to_vec()),
        ("application/json", b"[1,2]".to_vec()),
        ("application/json", br#"{"redirect_uris": "https://c.example/cb"}"#.to_vec()),
        ("application/json", br#"{"redirect_uris": ["https://c.example/cb"], "grant_types": ["client_credentials"]}"#.to_vec()),
        ("application/json", br#"{"redirect_uris": ["https://c.example/cb"], "response_types": ["token"]}"#.to_vec()),
        ("application/json", br#"{"redirect_uris": ["https://c.example/cb"], "client_name": "a\u0000b"}"#.to_vec()),
        ("application/json", format!(r#"{{"redirect_uris": ["https://c.example/cb"], "client_name": "{}"}}"#, "x".repeat(300)).into_bytes()),
        ("application/json", format!(r#"{{"redirect_uris": ["https://c.example/cb"], "pad": "{}"}}"#, "x".repeat(100_000)).into_bytes()),
        (
            "application/json",
            serde_json::to_vec(&json!({
                "redirect_uris": (0..10).map(|i| format!("https://c.example/{i}/{}", "p".repeat(1000))).collect::<Vec<_>>()
            }))
            .unwrap(),
        ),
    ];
    for (content_type, body) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        let res = post_raw(&url, content_type, body).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{shown}");
        assert_eq!(res.json()["error"], "invalid_client_metadata", "{shown}");
    }
    up.stop().await;
}

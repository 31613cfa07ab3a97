//! `POST /register` (RFC 7591): a sealed client id, the redirect-URI policy, RFC error codes,
//! `application_type`, and secrets derived for the clients that ask for one.

use actix_mcp_oauth::clock::ManualClock;
use actix_web::http::StatusCode;
use base64::{engine::general_purpose::STANDARD, Engine as _};
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
        doc["application_type"], "native",
        "a private-use scheme is native"
    );
    assert_eq!(doc["scope"], "openid email profile");
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
    ];
    for (content_type, body) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        let res = post_raw(&url, content_type, body).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{shown}");
        assert_eq!(res.json()["error"], "invalid_client_metadata", "{shown}");
    }
    up.stop().await;
}

#[actix_web::test]
async fn the_redirect_uris_of_real_clients_are_accepted() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let clients: [(&str, &[&str], &str); 3] = [
        (
            "Claude",
            &[
                "https://claude.ai/api/mcp/auth_callback",
                "https://claude.com/api/mcp/auth_callback",
            ],
            "web",
        ),
        (
            "Cursor",
            &[
                "cursor://anysphere.cursor-retrieval/oauth/user-mcp/callback",
                "https://www.cursor.com/api/auth/mcp/callback",
                "http://127.0.0.1:51872/callback",
            ],
            "native",
        ),
        (
            "Visual Studio Code",
            &[
                "https://insiders.vscode.dev/redirect",
                "https://vscode.dev/redirect",
                "http://127.0.0.1:33418/",
                "http://localhost:33418/",
            ],
            "native",
        ),
    ];
    for (name, uris, application_type) in clients {
        let res = post_json(
            &proxy.url("/register"),
            &json!({"client_name": name, "redirect_uris": uris}),
        )
        .await;
        assert_eq!(res.status, StatusCode::CREATED, "{name}: {}", res.text());
        assert_eq!(res.json()["redirect_uris"], json!(uris), "{name}");
        assert_eq!(res.json()["application_type"], application_type, "{name}");
    }
    up.stop().await;
}

#[actix_web::test]
async fn application_type_is_echoed_and_web_needs_https_redirect_uris_off_loopback() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    let url = proxy.url("/register");
    let ok = [
        (
            json!({"application_type": "web", "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"]}),
            "web",
        ),
        (
            json!({"application_type": "native", "redirect_uris": ["http://127.0.0.1/cb"]}),
            "native",
        ),
        (
            json!({"application_type": "native", "redirect_uris": ["https://app.example/cb"]}),
            "native",
        ),
    ];
    for (body, expected) in ok {
        let res = post_json(&url, &body).await;
        assert_eq!(res.status, StatusCode::CREATED, "{body}: {}", res.text());
        assert_eq!(res.json()["application_type"], expected, "{body}");
    }
    let bad = [
        json!({"application_type": "web", "redirect_uris": ["http://127.0.0.1/cb"]}),
        json!({"application_type": "web", "redirect_uris": ["https://localhost/cb"]}),
        json!({"application_type": "web", "redirect_uris": ["https://a.example/cb", "cursor://x/cb"]}),
        json!({"application_type": "browser", "redirect_uris": ["https://a.example/cb"]}),
        json!({"token_endpoint_auth_method": "private_key_jwt", "redirect_uris": ["https://a.example/cb"]}),
        json!({"client_name": "Claude\u{202e}lapyap", "redirect_uris": ["https://a.example/cb"]}),
        json!({"client_name": "a\u{2067}b", "redirect_uris": ["https://a.example/cb"]}),
    ];
    for body in bad {
        let res = post_json(&url, &body).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(res.json()["error"], "invalid_client_metadata", "{body}");
    }
    up.stop().await;
}

#[actix_web::test]
async fn a_client_that_asks_for_a_secret_gets_one_and_must_use_it_at_the_token_endpoint() {
    let up = Upstream::start().await;
    let proxy = ProxyServer::start(up.proxy(&key(1), ManualClock::at(T0)).build().unwrap()).await;
    for method in ["client_secret_post", "client_secret_basic"] {
        let res = post_json(
            &proxy.url("/register"),
            &json!({"redirect_uris": [CLIENT_REDIRECT], "token_endpoint_auth_method": method}),
        )
        .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
        let doc = res.json();
        assert_eq!(doc["token_endpoint_auth_method"], method);
        assert_eq!(doc["client_secret_expires_at"], 0);
        let client_id = doc["client_id"].as_str().unwrap().to_owned();
        let secret = doc["client_secret"].as_str().unwrap().to_owned();
        assert!(secret.len() >= 43, "256 bits");

        // Without the secret, or with a wrong one: invalid_client, and the code is not spent.
        let (code, _) = code_for(&proxy, &client_id).await;
        let form = |secret: Option<&str>| {
            let mut form = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("client_id", client_id.clone()),
                ("code", code.clone()),
                ("redirect_uri", CLIENT_REDIRECT.to_owned()),
                ("code_verifier", VERIFIER.to_owned()),
            ];
            if let Some(secret) = secret {
                form.push(("client_secret", secret.to_owned()));
            }
            form
        };
        for wrong in [None, Some("not-the-secret"), Some(&secret[1..])] {
            let f = form(wrong);
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let res = post_form(&proxy.url("/token"), &pairs).await;
            assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{wrong:?}");
            assert_eq!(res.json()["error"], "invalid_client");
        }
        let res = if method == "client_secret_post" {
            let f = form(Some(&secret));
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(&proxy.url("/token"), &pairs).await
        } else {
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let basic = STANDARD.encode(format!("{}:{}", encode(&client_id), encode(&secret)));
            let f = form(None);
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let res = http()
                .post(proxy.url("/token"))
                .insert_header(("authorization", format!("Basic {basic}")))
                .send_form(&pairs)
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{method}");
            continue;
        };
        assert_eq!(res.status, StatusCode::OK, "{method}: {}", res.text());
        assert!(res.json()["access_token"].is_string());
    }
    up.stop().await;
}

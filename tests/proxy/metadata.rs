//! Discovery documents, mounting next to the MCP scope, CORS, and `from_discovery`.

use actix_mcp_oauth::{clock::ManualClock, proxy::TokenMode, ConfigError, OAuthProxy};
use actix_web::{http::StatusCode, test, web, App, HttpResponse};
use serde_json::json;

use crate::fixtures::*;

#[actix_web::test]
async fn protected_resource_metadata_is_served_at_both_paths() {
    let up = Upstream::start().await;
    let proxy = up.proxy(&key(1), ManualClock::at(T0)).build().unwrap();
    let app = test::init_service(App::new().service(proxy.scope())).await;
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let req = test::TestRequest::get().uri(path).to_request();
        let doc: serde_json::Value = test::call_and_read_body_json(&app, req).await;
        assert_eq!(
            doc,
            json!({
                "resource": "https://mcp.example.test/mcp",
                "authorization_servers": ["https://mcp.example.test"],
                "scopes_supported": ["openid", "email", "profile"],
                "bearer_methods_supported": ["header"],
            }),
            "{path}"
        );
    }
    assert_eq!(proxy.resource(), "https://mcp.example.test/mcp");
    up.stop().await;
}

#[actix_web::test]
async fn authorization_server_metadata_is_served_at_both_paths() {
    let up = Upstream::start().await;
    let proxy = up.proxy(&key(1), ManualClock::at(T0)).build().unwrap();
    let app = test::init_service(App::new().service(proxy.scope())).await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let req = test::TestRequest::get().uri(path).to_request();
        let doc: serde_json::Value = test::call_and_read_body_json(&app, req).await;
        assert_eq!(doc["issuer"], PUBLIC_URL, "{path}");
        assert_eq!(
            doc["authorization_endpoint"],
            "https://mcp.example.test/authorize"
        );
        assert_eq!(doc["token_endpoint"], "https://mcp.example.test/token");
        assert_eq!(
            doc["registration_endpoint"],
            "https://mcp.example.test/register"
        );
        assert_eq!(
            doc["revocation_endpoint"],
            "https://mcp.example.test/revoke"
        );
        assert_eq!(doc["response_types_supported"], json!(["code"]));
        assert_eq!(
            doc["grant_types_supported"],
            json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            json!(["none", "client_secret_basic", "client_secret_post"])
        );
        assert_eq!(doc["client_id_metadata_document_supported"], true);
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert_eq!(
            doc["scopes_supported"],
            json!(["openid", "email", "profile"])
        );
    }
    up.stop().await;
}

#[actix_web::test]
async fn without_a_revocation_endpoint_revoke_is_served_for_issued_tokens_only() {
    for (mode, served) in [(TokenMode::Passthrough, false), (TokenMode::Issued, true)] {
        let proxy = OAuthProxy::builder()
            .public_url("http://localhost:8080")
            .mcp_path("/api/mcp/")
            .auth_endpoint("https://idp.example/authorize")
            .token_endpoint("https://idp.example/token")
            .client_id("id")
            .verifier(no_tokens())
            .proxy_key(key(1))
            .token_mode(mode)
            .build()
            .unwrap();
        let app = test::init_service(App::new().service(proxy.scope())).await;
        let req = test::TestRequest::get()
            .uri("/.well-known/oauth-authorization-server")
            .to_request();
        let doc: serde_json::Value = test::call_and_read_body_json(&app, req).await;
        assert_eq!(doc.get("revocation_endpoint").is_some(), served, "{mode:?}");
        let req = test::TestRequest::post().uri("/revoke").to_request();
        let status = test::call_service(&app, req).await.status();
        assert_eq!(
            status == StatusCode::NOT_FOUND,
            !served,
            "{mode:?}: {status}"
        );
        let req = test::TestRequest::get()
            .uri("/.well-known/oauth-protected-resource/api/mcp")
            .to_request();
        let body = test::call_and_read_body(&app, req).await;
        assert!(
            body.starts_with(br#"{"resource":"http://localhost:8080/api/mcp","#),
            "the canonical resource, byte for byte: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

async fn mcp() -> HttpResponse {
    HttpResponse::Ok().body("mcp")
}

#[actix_web::test]
async fn mounted_at_the_root_the_scope_shadows_nothing_and_mcp_is_served_with_and_without_slash() {
    let up = Upstream::start().await;
    let proxy = up.proxy(&key(1), ManualClock::at(T0)).build().unwrap();
    // The documented pattern (with RequireAuth in `mcp_scope`); the proxy scope comes
    // first on purpose: it must let the MCP scope and the app's own routes through.
    let app = test::init_service(
        App::new()
            .service(proxy.scope())
            .service(
                web::scope("/mcp")
                    .wrap(proxy.cors())
                    .route("", web::post().to(mcp))
                    .route("/", web::post().to(mcp)),
            )
            .route("/health", web::get().to(HttpResponse::Ok))
            .route("/registered-users", web::get().to(HttpResponse::Ok)),
    )
    .await;
    for path in ["/mcp", "/mcp/"] {
        let req = test::TestRequest::post().uri(path).to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{path} is served, not redirected"
        );
        assert_eq!(test::read_body(res).await, "mcp");
    }
    for path in ["/health", "/registered-users"] {
        let req = test::TestRequest::get().uri(path).to_request();
        assert_eq!(
            test::call_service(&app, req).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }
    let req = test::TestRequest::get().uri("/nothing-here").to_request();
    assert_eq!(
        test::call_service(&app, req).await.status(),
        StatusCode::NOT_FOUND
    );
    up.stop().await;
}

#[actix_web::test]
async fn cors_answers_preflights_and_exposes_the_mcp_headers() {
    let up = Upstream::start().await;
    let proxy = up.proxy(&key(1), ManualClock::at(T0)).build().unwrap();
    let app = test::init_service(
        App::new().service(proxy.scope()).service(
            web::scope("/mcp")
                .wrap(proxy.cors())
                .route("", web::post().to(mcp)),
        ),
    )
    .await;
    for path in ["/token", "/register", "/mcp"] {
        let req = test::TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri(path)
            .insert_header(("origin", "https://inspector.example"))
            .insert_header(("access-control-request-method", "POST"))
            .insert_header((
                "access-control-request-headers",
                "authorization, content-type",
            ))
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(
            res.headers().contains_key("access-control-allow-origin"),
            "{path}"
        );
    }
    let req = test::TestRequest::post()
        .uri("/mcp")
        .insert_header(("origin", "https://inspector.example"))
        .to_request();
    let res = test::call_service(&app, req).await;
    let exposed = res
        .headers()
        .get("access-control-expose-headers")
        .unwrap()
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("www-authenticate"), "{exposed}");
    assert!(exposed.contains("mcp-session-id"), "{exposed}");
    let req = test::TestRequest::get()
        .uri("/.well-known/oauth-authorization-server")
        .insert_header(("origin", "https://inspector.example"))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert!(res.headers().contains_key("access-control-allow-origin"));
    assert!(!res
        .headers()
        .contains_key("access-control-allow-credentials"));
    up.stop().await;
}

#[actix_web::test]
async fn browser_pages_have_no_cors() {
    let up = Upstream::start().await;
    let proxy = up.proxy(&key(1), ManualClock::at(T0)).build().unwrap();
    let app = test::init_service(App::new().service(proxy.scope())).await;
    for path in [
        "/authorize?client_id=x",
        "/consent?request=x",
        "/oauth/callback?state=x&code=y",
    ] {
        let req = test::TestRequest::get()
            .uri(path)
            .insert_header(("origin", "https://evil.example"))
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(
            !res.headers().contains_key("access-control-allow-origin"),
            "{path}"
        );
        let req = test::TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri(path)
            .insert_header(("origin", "https://evil.example"))
            .insert_header(("access-control-request-method", "GET"))
            .to_request();
        let res = test::call_service(&app, req).await;
        assert!(
            !res.headers().contains_key("access-control-allow-origin"),
            "preflight {path}"
        );
    }
    up.stop().await;
}

#[actix_web::test]
async fn from_discovery_fills_the_endpoints_and_insists_on_the_exact_issuer() {
    let up = Upstream::start().await;
    let builder = OAuthProxy::from_discovery(&up.issuer).await.unwrap();
    let proxy = builder
        .public_url(PUBLIC_URL)
        .client_id("id")
        .verifier(no_tokens())
        .proxy_key(key(1))
        .build()
        .unwrap();
    let app = test::init_service(App::new().service(proxy.scope())).await;
    let req = test::TestRequest::get()
        .uri("/.well-known/oauth-authorization-server")
        .to_request();
    let doc: serde_json::Value = test::call_and_read_body_json(&app, req).await;
    assert_eq!(
        doc["revocation_endpoint"], "https://mcp.example.test/revoke",
        "revocation found"
    );

    let with_slash = format!("{}/", up.issuer);
    let err = OAuthProxy::from_discovery(&with_slash).await.unwrap_err();
    assert!(matches!(err, ConfigError::Discovery(_)), "{err}");
    let err = OAuthProxy::from_discovery("http://example.com")
        .await
        .unwrap_err();
    assert!(matches!(err, ConfigError::InsecureUrl { .. }), "{err}");
    up.stop().await;
}

#[actix_web::test]
async fn the_issuer_is_byte_for_byte_the_authorization_server_clients_derive_it_from() {
    let up = Upstream::start().await;
    let proxy = up.proxy(&key(1), ManualClock::at(T0)).build().unwrap();
    let app = test::init_service(App::new().service(proxy.scope())).await;
    let req = test::TestRequest::get()
        .uri("/.well-known/oauth-protected-resource/mcp")
        .to_request();
    let prm: serde_json::Value = test::call_and_read_body_json(&app, req).await;
    let server = prm["authorization_servers"][0].as_str().unwrap().to_owned();
    // The 2025-11-25 discovery order for an issuer without a path: RFC 8414, then OpenID.
    let issuer = url::Url::parse(&server).unwrap();
    assert_eq!(
        issuer.path(),
        "/",
        "no path, so the path-inserted forms are these two"
    );
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let req = test::TestRequest::get().uri(path).to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let doc: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(doc["issuer"].as_str(), Some(server.as_str()), "{path}");
        assert!(!server.ends_with('/'), "no trailing slash drift");
    }
    up.stop().await;
}

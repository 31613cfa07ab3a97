//! The MCP scope behind `proxy.require_auth()` and `proxy.cors()`, mounted as documented.

use actix_mcp_oauth::{
    clock::ManualClock, verify::FnVerifier, AuthUser, Claims, TokenVerifier, UserInfo, VerifyError,
};
use actix_web::{http::StatusCode, test, web, App, HttpResponse};
use serde_json::json;

use crate::fixtures::*;

/// Accepts one token.
fn one_token() -> impl TokenVerifier {
    FnVerifier::new(|token: String| async move {
        if token != "good-token" {
            return Err(VerifyError::Rejected("unknown".into()));
        }
        let claims = json!({"sub": "u1", "login": "octo", "exp": 4_000_000_000u64});
        Ok(Claims::new(serde_json::from_value(claims).unwrap()))
    })
}

async fn whoami(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().body(format!("{} {:?}", user.user_id, user.username))
}

#[actix_web::test]
async fn the_mcp_scope_is_protected_served_with_and_without_slash_and_points_at_the_metadata() {
    let up = Upstream::start().await;
    let proxy = up
        .proxy(&key(1), ManualClock::at(T0))
        .verifier(one_token())
        // The provider's own token, sent directly: accepted only because this says so.
        .accept_upstream_tokens(true)
        .user_info(|claims: &Claims| {
            Ok(UserInfo {
                user_id: format!("gh:{}", claims.get_str("sub").unwrap_or_default()),
                username: claims.get_str("login").map(str::to_owned),
                ..Default::default()
            })
        })
        .build()
        .unwrap();
    let app = test::init_service(
        App::new().service(proxy.scope()).service(
            web::scope("/mcp")
                .wrap(proxy.require_auth())
                .wrap(proxy.cors())
                .route("", web::post().to(whoami))
                .route("/", web::post().to(whoami)),
        ),
    )
    .await;

    let req = test::TestRequest::post()
        .uri("/mcp")
        .insert_header(("origin", "https://inspector.example"))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge = res
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        challenge.contains(
            r#"resource_metadata="https://mcp.example.test/.well-known/oauth-protected-resource/mcp""#
        ),
        "{challenge}"
    );
    let exposed = res
        .headers()
        .get("access-control-expose-headers")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(exposed.to_ascii_lowercase().contains("www-authenticate"));

    // The metadata the challenge points at is the proxy's.
    let req = test::TestRequest::get()
        .uri("/.well-known/oauth-protected-resource/mcp")
        .to_request();
    let doc: serde_json::Value = test::call_and_read_body_json(&app, req).await;
    assert_eq!(doc["resource"], proxy.resource());

    for path in ["/mcp", "/mcp/"] {
        let req = test::TestRequest::post()
            .uri(path)
            .insert_header(("authorization", "Bearer good-token"))
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(
            test::read_body(res).await,
            r#"gh:u1 Some("octo")"#,
            "the user_info mapping applies"
        );
    }

    let req = test::TestRequest::post()
        .uri("/mcp")
        .insert_header(("authorization", "Bearer forged"))
        .to_request();
    assert_eq!(
        test::call_service(&app, req).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let req = test::TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/mcp")
        .insert_header(("origin", "https://inspector.example"))
        .insert_header(("access-control-request-method", "POST"))
        .insert_header(("access-control-request-headers", "authorization"))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "a preflight carries no token and is answered"
    );
    up.stop().await;
}

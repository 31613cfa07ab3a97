//! `RequireAuth` + `AuthUser` against in-test verifiers, through `actix_web::test`.

use std::sync::{Arc, Mutex};

use actix_mcp_oauth::{
    middleware::TokenCache, AuthUser, AuthUserExt, Claims, ConfigError, RequireAuth, UserInfo,
    VerifyError,
};
use actix_web::{
    body::MessageBody,
    dev::{Service, ServiceResponse},
    http::{
        header::{AUTHORIZATION, WWW_AUTHENTICATE},
        StatusCode,
    },
    test, web, App, HttpMessage, HttpRequest, HttpResponse,
};
use serde_json::{json, Value};

use crate::fixtures::Calls;

const RESOURCE: &str = "https://api.example.com/mcp";
const METADATA: &str = "https://api.example.com/.well-known/oauth-protected-resource/mcp";
/// Text the verifier double puts in its errors; none of it may reach a response.
const LEAKY_KID: &str = "kid-7f3a9c";
const LEAKY_URL: &str = "https://idp.internal.example/jwks";
const FAR_FUTURE: u64 = 4_000_000_000;

fn claims(value: Value) -> Claims {
    match value {
        Value::Object(map) => Claims::new(map),
        other => panic!("not an object: {other}"),
    }
}

/// What the verifier double answers for each token.
fn table(token: &str) -> Result<Claims, VerifyError> {
    match token {
        "good" => Ok(claims(json!({
            "sub": "alice", "email": "alice@example.com",
            "scope": "mcp:read mcp:write", "exp": FAR_FUTURE,
        }))),
        "scp-array" => Ok(claims(json!({
            "sub": "bob", "scp": ["mcp:read", "mcp:write"], "exp": FAR_FUTURE,
        }))),
        "read-only" => Ok(claims(json!({"sub": "carol", "scope": "mcp:read"}))),
        "no-sub" => Ok(claims(json!({"scope": "mcp:read"}))),
        "down" => Err(VerifyError::Unavailable(format!(
            "GET {LEAKY_URL} timed out while looking for {LEAKY_KID}"
        ))),
        _ => Err(VerifyError::Rejected(format!(
            "{LEAKY_KID} is not in the key set at {LEAKY_URL}"
        ))),
    }
}

async fn whoami(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().body(format!("{}|{}", user.user_id, user.scopes.join(" ")))
}

async fn maybe_whoami(user: Option<AuthUser>) -> HttpResponse {
    match user {
        Some(user) => HttpResponse::Ok().body(user.user_id.clone()),
        None => HttpResponse::Ok().body("anonymous"),
    }
}

async fn call(auth: RequireAuth, req: test::TestRequest) -> ServiceResponse {
    let app = test::init_service(
        App::new().service(
            web::scope("/mcp")
                .wrap(auth)
                .route("/whoami", web::get().to(whoami))
                .route("/whoami", web::post().to(whoami))
                .route("/maybe", web::get().to(maybe_whoami)),
        ),
    )
    .await;
    test::call_service(&app, req.to_request()).await
}

fn get(authorization: &str) -> test::TestRequest {
    test::TestRequest::get()
        .uri("/mcp/whoami")
        .insert_header((AUTHORIZATION, authorization))
}

fn auth(calls: &Calls) -> RequireAuth {
    RequireAuth::new(calls.verifier(table), RESOURCE).expect("valid resource")
}

fn challenge(res: &ServiceResponse) -> String {
    res.headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("<none>")
        .to_owned()
}

async fn body_text<B: MessageBody>(res: ServiceResponse<B>) -> String {
    String::from_utf8(test::read_body(res).await.to_vec()).expect("utf-8 body")
}

async fn json_body(res: ServiceResponse) -> Value {
    serde_json::from_str(&body_text(res).await).expect("JSON body")
}

#[actix_web::test]
async fn valid_token_reaches_the_handler_as_auth_user() {
    let v = Calls::default();
    let res = call(auth(&v), get("Bearer good")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_text(res).await, "alice|mcp:read mcp:write");
}

#[actix_web::test]
async fn no_header_gets_401_challenge_without_error_and_with_resource_metadata() {
    let v = Calls::default();
    let res = call(auth(&v), test::TestRequest::get().uri("/mcp/whoami")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&res),
        format!("Bearer resource_metadata=\"{METADATA}\"")
    );
    assert_eq!(json_body(res).await["error"], "unauthorized");
    assert_eq!(v.count(), 0);
}

#[actix_web::test]
async fn invalid_token_gets_401_invalid_token() {
    let v = Calls::default();
    let res = call(auth(&v), get("Bearer forged.token.value")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&res),
        format!("Bearer error=\"invalid_token\", resource_metadata=\"{METADATA}\"")
    );
    assert_eq!(json_body(res).await["error"], "invalid_token");
}

#[actix_web::test]
async fn scheme_is_case_insensitive() {
    for header in ["bearer good", "BEARER good", "bEaReR good"] {
        let res = call(auth(&Calls::default()), get(header)).await;
        assert_eq!(res.status(), StatusCode::OK, "{header}");
    }
}

#[actix_web::test]
async fn other_schemes_get_401_without_error() {
    for header in ["Basic YWxpY2U6c2VjcmV0", "Bearergood", "Token good"] {
        let v = Calls::default();
        let res = call(auth(&v), get(header)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{header}");
        assert_eq!(
            challenge(&res),
            format!("Bearer resource_metadata=\"{METADATA}\""),
            "{header}"
        );
        assert_eq!(v.count(), 0);
    }
}

#[actix_web::test]
async fn two_authorization_headers_get_400_invalid_request() {
    let v = Calls::default();
    let req = get("Bearer good").append_header((AUTHORIZATION, "Bearer good"));
    let res = call(auth(&v), req).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        challenge(&res),
        format!("Bearer error=\"invalid_request\", resource_metadata=\"{METADATA}\"")
    );
    assert_eq!(json_body(res).await["error"], "invalid_request");
    assert_eq!(v.count(), 0);
}

#[actix_web::test]
async fn empty_or_malformed_bearer_values_get_400() {
    for header in [
        "Bearer",
        "Bearer ",
        "Bearer    ",
        "Bearer a b",
        "Bearer tok\"en",
        "Bearer tok,en",
        "Bearer ====",
        "Bearer ab=c",
    ] {
        let v = Calls::default();
        let res = call(auth(&v), get(header)).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{header:?}");
        assert!(
            challenge(&res).contains("error=\"invalid_request\""),
            "{header:?}"
        );
        assert_eq!(v.count(), 0, "{header:?}");
    }
}

#[actix_web::test]
async fn b64token_characters_and_padding_are_accepted_syntax() {
    // Not "good", so the double refuses it: what matters is that it reached the verifier.
    let v = Calls::default();
    let res = call(auth(&v), get("Bearer aZ09-._~+/==")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(v.count(), 1);
}

#[actix_web::test]
async fn token_in_query_or_form_body_is_not_read() {
    let v = Calls::default();
    let res = call(
        auth(&v),
        test::TestRequest::get().uri("/mcp/whoami?access_token=good"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(!challenge(&res).contains("error="));

    let res = call(
        auth(&v),
        test::TestRequest::post()
            .uri("/mcp/whoami")
            .set_form([("access_token", "good")]),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(!challenge(&res).contains("error="));
    assert_eq!(v.count(), 0);
}

#[actix_web::test]
async fn token_over_16_kib_is_refused_without_reaching_the_verifier() {
    let v = Calls::default();
    let at_limit = format!("Bearer {}", "a".repeat(16 * 1024));
    let res = call(auth(&v), get(&at_limit)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(v.count(), 1, "a 16 KiB token is still checked");

    let over = format!("Bearer {}", "a".repeat(16 * 1024 + 1));
    let res = call(auth(&v), get(&over)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&res).contains("error=\"invalid_token\""));
    assert_eq!(
        v.count(),
        1,
        "the oversized token never reached the verifier"
    );
}

#[actix_web::test]
async fn missing_required_scope_gets_403_with_scope() {
    let v = Calls::default();
    let auth = auth(&v).require_scopes(["mcp:read", "mcp:admin"]);
    let res = call(auth, get("Bearer good")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // The token's scopes, then the one it lacks: re-authorizing with exactly this list keeps
    // what the token had (MCP "Scope Challenge Handling").
    assert_eq!(
        challenge(&res),
        format!(
            "Bearer error=\"insufficient_scope\", scope=\"mcp:read mcp:write mcp:admin\", \
             resource_metadata=\"{METADATA}\""
        )
    );
    assert_eq!(json_body(res).await["error"], "insufficient_scope");
}

#[actix_web::test]
async fn scope_string_and_scp_array_both_satisfy_required_scopes() {
    for token in ["good", "scp-array"] {
        let auth = auth(&Calls::default()).require_scopes(["mcp:read", "mcp:write"]);
        let res = call(auth, get(&format!("Bearer {token}"))).await;
        assert_eq!(res.status(), StatusCode::OK, "{token}");
    }
    let auth = auth(&Calls::default()).require_scopes(["mcp:write"]);
    let res = call(auth, get("Bearer read-only")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn unavailable_verifier_gets_503_not_401() {
    let v = Calls::default();
    let res = call(auth(&v), get("Bearer down")).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().get(WWW_AUTHENTICATE).is_none());
    assert_eq!(json_body(res).await["error"], "temporarily_unavailable");
}

#[actix_web::test]
async fn responses_never_carry_the_verifiers_error_text() {
    for token in ["forged", "down", "no-sub"] {
        let res = call(auth(&Calls::default()), get(&format!("Bearer {token}"))).await;
        assert!(res.status().is_client_error() || res.status().is_server_error());
        let headers = format!("{:?}", res.headers());
        let body = body_text(res).await;
        for secret in [LEAKY_KID, LEAKY_URL, "idp.internal", "key set", "claim"] {
            assert!(!body.contains(secret), "{token}: body has {secret}: {body}");
            assert!(!headers.contains(secret), "{token}: headers have {secret}");
        }
        let parsed: Value = serde_json::from_str(&body).expect("JSON body");
        assert!(parsed["error"].is_string() && parsed["error_description"].is_string());
    }
}

#[actix_web::test]
async fn token_without_sub_is_refused_by_the_default_mapping() {
    let res = call(auth(&Calls::default()), get("Bearer no-sub")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&res).contains("invalid_token"));
}

#[actix_web::test]
async fn outer_middleware_sees_the_rejection_as_a_response() {
    let seen: Arc<Mutex<Vec<u16>>> = Arc::default();
    let recorder = Arc::clone(&seen);
    let app = test::init_service(
        App::new()
            .wrap_fn(move |req, srv| {
                let recorder = Arc::clone(&recorder);
                let fut = srv.call(req);
                async move {
                    // An `Err` from inside would skip this line.
                    let res = fut.await?;
                    recorder
                        .lock()
                        .expect("recorder lock")
                        .push(res.status().as_u16());
                    Ok(res)
                }
            })
            .service(
                web::scope("/mcp")
                    .wrap(auth(&Calls::default()))
                    .route("/whoami", web::get().to(whoami)),
            ),
    )
    .await;
    for (header, _) in [("Bearer nope", 401), ("Bearer", 400), ("Bearer down", 503)] {
        let req = get(header).to_request();
        let res = app.call(req).await;
        assert!(res.is_ok(), "{header}: the middleware returned Err");
    }
    assert_eq!(*seen.lock().expect("recorder lock"), [401, 400, 503]);
}

#[actix_web::test]
async fn extractor_without_the_middleware_answers_500() {
    let app = test::init_service(App::new().route("/whoami", web::get().to(whoami))).await;
    let req = test::TestRequest::get()
        .uri("/whoami")
        .insert_header((AUTHORIZATION, "Bearer good"))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = body_text(res).await;
    assert!(!body.contains("good"));
}

#[actix_web::test]
async fn allow_anonymous_passes_requests_without_a_token_as_none() {
    let v = Calls::default();
    let anon = || auth(&v).allow_anonymous();
    let maybe = |h: Option<&str>| {
        let req = test::TestRequest::get().uri("/mcp/maybe");
        match h {
            Some(h) => req.insert_header((AUTHORIZATION, h)),
            None => req,
        }
    };

    let res = call(anon(), maybe(None)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_text(res).await, "anonymous");

    let res = call(anon(), maybe(Some("Bearer good"))).await;
    assert_eq!(body_text(res).await, "alice");

    let res = call(anon(), maybe(Some("Bearer forged"))).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "a bad token is refused"
    );

    let res = call(anon(), maybe(Some("Bearer"))).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn plain_auth_user_on_an_anonymous_route_gets_the_401_challenge() {
    let auth = auth(&Calls::default()).allow_anonymous();
    let res = call(auth, test::TestRequest::get().uri("/mcp/whoami")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&res),
        format!("Bearer resource_metadata=\"{METADATA}\"")
    );
}

#[actix_web::test]
async fn custom_user_info_mapping_is_used() {
    let auth = auth(&Calls::default()).user_info(|claims: &Claims| {
        Ok(UserInfo {
            user_id: format!("custom:{}", claims.get_str("email").unwrap_or("?")),
            scopes: vec!["mapped".into()],
            ..Default::default()
        })
    });
    let res = call(auth, get("Bearer good")).await;
    assert_eq!(body_text(res).await, "custom:alice@example.com|mapped");
}

#[actix_web::test]
async fn mapping_errors_refuse_the_token_or_answer_503() {
    let refuse =
        auth(&Calls::default()).user_info(|_: &Claims| Err(VerifyError::InvalidClaim("org")));
    assert_eq!(
        call(refuse, get("Bearer good")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let down = auth(&Calls::default())
        .user_info(|_: &Claims| Err(VerifyError::Unavailable("profile API".into())));
    assert_eq!(
        call(down, get("Bearer good")).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[actix_web::test]
async fn auth_user_ext_reads_the_user_from_http_request() {
    async fn via_ext(req: HttpRequest) -> HttpResponse {
        let id = req.auth_user().map(|u| u.user_id.clone());
        let has_ext = req.extensions().get::<AuthUser>().is_some();
        HttpResponse::Ok().body(format!("{id:?} {has_ext}"))
    }
    let app = test::init_service(
        App::new().service(
            web::scope("/mcp")
                .wrap(auth(&Calls::default()))
                .route("/ext", web::get().to(via_ext)),
        ),
    )
    .await;
    let req = test::TestRequest::get()
        .uri("/mcp/ext")
        .insert_header((AUTHORIZATION, "Bearer good"))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(body_text(res).await, "Some(\"alice\") true");
}

#[actix_web::test]
async fn debug_of_auth_user_does_not_show_the_token() {
    async fn debug(user: AuthUser) -> HttpResponse {
        HttpResponse::Ok().body(format!("{user:?}"))
    }
    let app = test::init_service(
        App::new().service(
            web::scope("/mcp")
                .wrap(auth(&Calls::default()))
                .route("/debug", web::get().to(debug)),
        ),
    )
    .await;
    let req = test::TestRequest::get()
        .uri("/mcp/debug")
        .insert_header((AUTHORIZATION, "Bearer good"))
        .to_request();
    let text = body_text(test::call_service(&app, req).await).await;
    assert!(text.contains("alice"), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
    assert!(!text.contains("\"good\""), "{text}");
}

#[actix_web::test]
async fn resource_metadata_url_is_path_aware() {
    let url = |resource: &str| {
        RequireAuth::new(Calls::default().verifier(table), resource)
            .map(|a| a.resource_metadata_url().to_owned())
    };
    assert_eq!(url(RESOURCE).as_deref(), Ok(METADATA));
    assert_eq!(
        url("https://api.example.com").as_deref(),
        Ok("https://api.example.com/.well-known/oauth-protected-resource")
    );
    assert_eq!(
        url("https://api.example.com/").as_deref(),
        Ok("https://api.example.com/.well-known/oauth-protected-resource")
    );
    assert_eq!(
        url("http://127.0.0.1:8080/tenant/a/mcp").as_deref(),
        Ok("http://127.0.0.1:8080/.well-known/oauth-protected-resource/tenant/a/mcp")
    );
}

#[actix_web::test]
async fn insecure_or_odd_resource_urls_are_refused() {
    let err = |resource: &str| RequireAuth::new(Calls::default().verifier(table), resource).err();
    assert!(matches!(
        err("http://api.example.com/mcp"),
        Some(ConfigError::InsecureUrl { .. })
    ));
    assert!(matches!(err("/mcp"), Some(ConfigError::InvalidUrl { .. })));
    assert!(matches!(
        err("https://api.example.com/mcp?x=1"),
        Some(ConfigError::InvalidUrl { .. })
    ));
    assert!(matches!(
        err("https://api.example.com/mcp#f"),
        Some(ConfigError::InvalidUrl { .. })
    ));
}

#[actix_web::test]
async fn a_shared_token_cache_serves_a_token_verified_by_another_instance() {
    let v = Calls::default();
    let cache = Arc::new(TokenCache::new(16));
    let first = auth(&v).token_cache(Arc::clone(&cache));
    let second = auth(&v).token_cache(Arc::clone(&cache));
    assert_eq!(
        call(first, get("Bearer good")).await.status(),
        StatusCode::OK
    );
    assert_eq!(v.count(), 1);
    assert_eq!(cache.len(), 1);
    let res = call(second, get("Bearer good")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_text(res).await, "alice|mcp:read mcp:write");
    assert_eq!(v.count(), 1, "the second instance verified the token again");

    // Without the shared cache, a separately built instance has to verify it itself.
    assert_eq!(
        call(auth(&v), get("Bearer good")).await.status(),
        StatusCode::OK
    );
    assert_eq!(v.count(), 2);
}

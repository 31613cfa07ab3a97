//! Every size bound, at the bound and past it: request bodies of each proxy endpoint, bearer
//! tokens, redirect URIs (number and length), the key set's size and key count, the metadata
//! document's size. Past a bound the answer is the protocol's error, never a 5xx.

use std::{sync::Arc, time::Duration};

use actix_mcp_oauth::{
    http::ProviderMetadata, proxy::ProxyLimits, verify::FnVerifier, Claims, JwksVerifier,
    OAuthProxy, ProxyKey, RequireAuth, TokenVerifier, VerifyError,
};
use actix_web::{test, web, App, HttpResponse};
use serde_json::{json, Map, Value};

use crate::{
    jose::{jwks, signed, Key},
    upstream::{Faulty, Mode},
};

const KIB: usize = 1024;

fn proxy() -> OAuthProxy {
    proxy_with(ProxyLimits::default())
}

fn proxy_with(limits: ProxyLimits) -> OAuthProxy {
    OAuthProxy::builder()
        .limits(limits)
        .public_url("http://127.0.0.1:8080")
        .auth_endpoint("http://127.0.0.1:9/authorize")
        .token_endpoint("http://127.0.0.1:9/token")
        .revocation_endpoint("http://127.0.0.1:9/revoke")
        .issuer("http://127.0.0.1:9")
        .client_id("proxy")
        .client_secret("secret")
        .verifier(FnVerifier::new(|_t: String| async {
            Err(VerifyError::Rejected("unused".into()))
        }))
        .proxy_key(ProxyKey::generate())
        .build()
        .expect("proxy")
}

/// A form body of exactly `len` bytes.
fn form_of(len: usize) -> Vec<u8> {
    let mut body = b"grant_type=refresh_token&refresh_token=rt&pad=".to_vec();
    body.resize(len, b'a');
    body
}

#[actix_web::test]
async fn a_body_past_16_kib_is_refused_by_every_proxy_endpoint() {
    let app = test::init_service(App::new().service(proxy().scope())).await;
    for path in ["/register", "/token", "/revoke", "/authorize", "/consent"] {
        let content_type = if path == "/register" {
            "application/json"
        } else {
            "application/x-www-form-urlencoded"
        };
        let req = test::TestRequest::post()
            .uri(path)
            .insert_header(("content-type", content_type))
            .set_payload(form_of(16 * KIB + 1))
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status().as_u16(), 400, "{path}");
        let body = test::read_body(res).await;
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("too large"), "{path} says why: {text}");
        // At the bound, the body is read and judged on its content instead: exactly the
        // answer the same request gets without the padding.
        let answer = |len: usize| {
            let req = test::TestRequest::post()
                .uri(path)
                .insert_header(("content-type", content_type))
                .set_payload(form_of(len))
                .to_request();
            let app = &app;
            async move {
                let res = test::call_service(app, req).await;
                let status = res.status().as_u16();
                (
                    status,
                    String::from_utf8_lossy(&test::read_body(res).await).into_owned(),
                )
            }
        };
        let (small, small_body) = answer(64).await;
        let (at, at_body) = answer(16 * KIB).await;
        assert!(at < 500, "{path} at the bound: {at} {at_body}");
        assert_eq!((at, &at_body), (small, &small_body), "{path} at the bound");
    }
}

#[actix_web::test]
async fn redirect_uris_are_bounded_in_number_and_length() {
    let app = test::init_service(App::new().service(proxy().scope())).await;
    let register = |uris: Vec<String>| {
        test::TestRequest::post()
            .uri("/register")
            .set_json(json!({ "redirect_uris": uris }))
            .to_request()
    };
    let uri = |i: usize| format!("http://127.0.0.1:3000/cb{i}");
    let ten: Vec<String> = (0..10).map(uri).collect();
    let res = test::call_service(&app, register(ten)).await;
    assert_eq!(res.status().as_u16(), 201);
    let eleven: Vec<String> = (0..11).map(uri).collect();
    let res: Value = test::call_and_read_body_json(&app, register(eleven)).await;
    assert_eq!(res["error"], "invalid_redirect_uri", "{res}");

    let long = |len: usize| {
        let mut u = "https://app.example.com/".to_owned();
        u.push_str(&"a".repeat(len - u.len()));
        u
    };
    let res = test::call_service(&app, register(vec![long(1024)])).await;
    assert_eq!(res.status().as_u16(), 201);
    let res: Value = test::call_and_read_body_json(&app, register(vec![long(1025)])).await;
    assert_eq!(res["error"], "invalid_redirect_uri", "{res}");
}

#[actix_web::test]
async fn a_bearer_token_past_16_kib_is_an_invalid_token() {
    let accept_all = Arc::new(FnVerifier::new(|_t: String| async {
        let mut claims = Map::new();
        claims.insert("sub".into(), json!("ada"));
        Ok(Claims::new(claims))
    }));
    let verifier: Arc<dyn TokenVerifier> = accept_all;
    let auth = RequireAuth::new(verifier, "http://127.0.0.1/api").expect("resource");
    let app = test::init_service(
        App::new().service(
            web::scope("/api")
                .wrap(auth)
                .route("", web::get().to(HttpResponse::Ok)),
        ),
    )
    .await;
    let get = |token: String| {
        test::TestRequest::get()
            .uri("/api")
            .insert_header(("authorization", format!("Bearer {token}")))
            .to_request()
    };
    let res = test::call_service(&app, get("a".repeat(16 * KIB))).await;
    assert_eq!(res.status().as_u16(), 200);
    let res = test::call_service(&app, get("a".repeat(16 * KIB + 1))).await;
    assert_eq!(res.status().as_u16(), 401);
    let challenge = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(challenge.contains("invalid_token"), "{challenge}");
}

/// `doc` followed by whitespace up to `len` bytes: still the same JSON document.
fn padded(doc: &Value, len: usize) -> String {
    let mut text = doc.to_string();
    text.push_str(&" ".repeat(len.saturating_sub(text.len())));
    text
}

#[actix_web::test]
async fn a_metadata_document_past_256_kib_is_refused() {
    let upstream = Faulty::start(Mode::Reset);
    let issuer = upstream.url("");
    let doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
    });
    let serve = |len: usize| Mode::Answer {
        status: 200,
        content_type: "application/json",
        body: padded(&doc, len),
    };
    upstream.set(serve(256 * KIB));
    let found = ProviderMetadata::discover(&issuer)
        .await
        .expect("at the bound");
    assert_eq!(found.issuer(), issuer);
    upstream.set(serve(256 * KIB + 1));
    let err = ProviderMetadata::discover(&issuer)
        .await
        .expect_err("past the bound");
    assert!(err.to_string().contains("larger than"), "{err}");
}

#[actix_web::test]
async fn a_key_set_past_its_configured_size_is_unavailable_and_at_it_serves() {
    let key = Key::generate("ES256");
    let set = jwks(&[("k1", &key)]);
    // Signed by the key, for another issuer: refused for its claims once the keys are loaded.
    let token = signed(
        "k1",
        &key,
        &json!({ "iss": "https://elsewhere.example", "sub": "x" }),
    );
    let upstream = Faulty::start(Mode::Reset);
    let verifier = |limit: usize| {
        JwksVerifier::builder()
            .jwks_url(upstream.url("/jwks"))
            .issuer("https://issuer.example")
            .audience("api")
            .max_response_bytes(limit)
            .fetch_timeout(Duration::from_secs(2))
            .build()
            .expect("verifier")
    };
    upstream.set(Mode::Answer {
        status: 200,
        content_type: "application/json",
        body: padded(&set, 8 * KIB),
    });
    let at = verifier(8 * KIB).verify(&token).await.unwrap_err();
    assert!(!at.is_unavailable(), "{at}");
    let past = verifier(8 * KIB - 1).verify(&token).await.unwrap_err();
    assert!(past.is_unavailable(), "{past}");
}

#[actix_web::test]
async fn a_key_set_is_used_up_to_its_configured_key_count() {
    let keys = [
        Key::generate("ES256"),
        Key::generate("ES256"),
        Key::generate("ES256"),
    ];
    let set = jwks(&[("k0", &keys[0]), ("k1", &keys[1]), ("k2", &keys[2])]);
    let verifier = JwksVerifier::builder()
        .jwks(set.to_string())
        .issuer("https://issuer.example")
        .audience("api")
        .max_keys(2)
        .build()
        .expect("verifier");
    let token = |i: usize| {
        signed(
            &format!("k{i}"),
            &keys[i],
            &json!({ "iss": "https://issuer.example", "aud": "api", "sub": "ada", "exp": 4_000_000_000u64 }),
        )
    };
    assert!(verifier.verify(&token(0)).await.is_ok());
    assert!(verifier.verify(&token(1)).await.is_ok());
    let past = verifier.verify(&token(2)).await.unwrap_err();
    assert!(!past.is_unavailable(), "{past}");
    assert!(JwksVerifier::builder()
        .jwks(set.to_string())
        .issuer("https://issuer.example")
        .audience("api")
        .max_keys(0)
        .build()
        .is_err());
}

/// `body` padded to exactly `len` bytes: a form gets an ignored `pad` parameter, JSON trailing
/// spaces.
fn pad_to(body: &str, len: usize) -> Vec<u8> {
    let mut out = body.as_bytes().to_vec();
    if body.starts_with('{') {
        out.resize(len, b' ');
    } else {
        out.extend_from_slice(b"&pad=");
        out.resize(len, b'a');
    }
    assert_eq!(out.len(), len);
    out
}

#[actix_web::test]
async fn each_endpoint_has_its_own_configurable_body_bound_and_succeeds_at_it() {
    let limits = ProxyLimits::builder()
        .register_body(3 * KIB)
        .token_body(2 * KIB)
        .revoke_body(4 * KIB)
        .authorize_body(5 * KIB)
        .consent_body(6 * KIB)
        .build()
        .expect("limits");
    let app = test::init_service(App::new().service(proxy_with(limits).scope())).await;
    let post = |path: &str, content_type: &str, body: Vec<u8>| {
        test::TestRequest::post()
            .uri(path)
            .insert_header(("content-type", content_type.to_owned()))
            .set_payload(body)
            .to_request()
    };
    const FORM: &str = "application/x-www-form-urlencoded";
    let registration = r#"{"redirect_uris":["http://127.0.0.1:3000/cb"]}"#;
    let res = test::call_service(
        &app,
        post(
            "/register",
            "application/json",
            pad_to(registration, 3 * KIB),
        ),
    )
    .await;
    assert_eq!(res.status().as_u16(), 201, "/register at its bound");
    let doc: Value = test::read_body_json(res).await;
    let client_id = doc["client_id"].as_str().expect("client_id").to_owned();
    let cid: String = url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let authorize = format!(
        "response_type=code&client_id={cid}&redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Fcb\
         &code_challenge={challenge}&code_challenge_method=S256&state=s"
    );
    let revoke = format!("token=not-a-token-of-ours&client_id={cid}");
    let token = format!("grant_type=refresh_token&refresh_token=junk&client_id={cid}");
    // Each at its bound gets the answer of a request that fits; one byte more is refused.
    let cases: [(&str, &str, String, usize, u16); 5] = [
        (
            "/register",
            "application/json",
            registration.to_owned(),
            3 * KIB,
            201,
        ),
        // RFC 7009: a token the server does not know is revoked with 200.
        ("/revoke", FORM, revoke, 4 * KIB, 200),
        // To the consent page.
        ("/authorize", FORM, authorize, 5 * KIB, 303),
        // A refresh token that does not open: the grant is judged, not the size.
        ("/token", FORM, token, 2 * KIB, 400),
        // No CSRF anchor: the answer is judged on its content too.
        ("/consent", FORM, "action=approve".to_owned(), 6 * KIB, 403),
    ];
    for (path, content_type, body, bound, success) in cases {
        let res = test::call_service(&app, post(path, content_type, pad_to(&body, bound))).await;
        assert_eq!(res.status().as_u16(), success, "{path} at its bound");
        // Same status or not, the answer at the bound is never the size refusal.
        let at_bound = String::from_utf8_lossy(&test::read_body(res).await).into_owned();
        assert!(
            !at_bound.contains("too large"),
            "{path} at its bound: {at_bound}"
        );
        let res =
            test::call_service(&app, post(path, content_type, pad_to(&body, bound + 1))).await;
        assert_eq!(res.status().as_u16(), 400, "{path} past its bound");
        let text = String::from_utf8_lossy(&test::read_body(res).await).into_owned();
        assert!(text.contains("too large"), "{path} says why: {text}");
        if path == "/token" {
            // Both are 400: the codes tell the judged grant from the refused size.
            let code = |body: &str| {
                serde_json::from_str::<Value>(body).expect("JSON error")["error"]
                    .as_str()
                    .map(str::to_owned)
            };
            assert_eq!(
                code(&at_bound).as_deref(),
                Some("invalid_grant"),
                "{at_bound}"
            );
            assert_eq!(code(&text).as_deref(), Some("invalid_request"), "{text}");
        }
    }
}

#[actix_web::test]
async fn the_redirect_uri_bounds_are_configurable() {
    let limits = ProxyLimits::builder()
        .redirect_uris(3)
        .redirect_uri_length(64)
        .build()
        .expect("limits");
    let app = test::init_service(App::new().service(proxy_with(limits).scope())).await;
    let register = |uris: Vec<String>| {
        test::TestRequest::post()
            .uri("/register")
            .set_json(json!({ "redirect_uris": uris }))
            .to_request()
    };
    let uri = |i: usize| format!("http://127.0.0.1:3000/cb{i}");
    let res = test::call_service(&app, register((0..3).map(uri).collect())).await;
    assert_eq!(res.status().as_u16(), 201);
    let res: Value = test::call_and_read_body_json(&app, register((0..4).map(uri).collect())).await;
    assert_eq!(res["error"], "invalid_redirect_uri", "{res}");
    let long = |len: usize| {
        let mut u = "https://app.example.com/".to_owned();
        u.push_str(&"a".repeat(len - u.len()));
        u
    };
    let res = test::call_service(&app, register(vec![long(64)])).await;
    assert_eq!(res.status().as_u16(), 201);
    let res: Value = test::call_and_read_body_json(&app, register(vec![long(65)])).await;
    assert_eq!(res["error"], "invalid_redirect_uri", "{res}");
}

#[actix_web::test]
async fn the_bearer_token_bound_is_configurable_within_16_kib() {
    let accept_all: Arc<dyn TokenVerifier> = Arc::new(FnVerifier::new(|_t: String| async {
        let mut claims = Map::new();
        claims.insert("sub".into(), json!("ada"));
        Ok(Claims::new(claims))
    }));
    let auth =
        || RequireAuth::new(Arc::clone(&accept_all), "http://127.0.0.1/api").expect("resource");
    assert!(auth().max_token_bytes(16 * KIB + 1).is_err());
    assert!(auth().max_token_bytes(255).is_err());
    let app = test::init_service(
        App::new().service(
            web::scope("/api")
                .wrap(auth().max_token_bytes(KIB).expect("within bounds"))
                .route("", web::get().to(HttpResponse::Ok)),
        ),
    )
    .await;
    let get = |token: String| {
        test::TestRequest::get()
            .uri("/api")
            .insert_header(("authorization", format!("Bearer {token}")))
            .to_request()
    };
    let res = test::call_service(&app, get("a".repeat(KIB))).await;
    assert_eq!(res.status().as_u16(), 200, "at the bound");
    let res = test::call_service(&app, get("a".repeat(KIB + 1))).await;
    assert_eq!(res.status().as_u16(), 401, "past the bound");
}

//! Every size bound, at the bound and past it: request bodies of each proxy endpoint, bearer
//! tokens, redirect URIs (number and length, and all of them together in one client id), the
//! client `state`, the key set's size and key count (pinned, fetched, and through the
//! presets), the provider metadata document's size, the upstream's token answers and the
//! provider API answers. Past a bound the answer is the protocol's error, never a 5xx.

use std::{sync::Arc, time::Duration};

use actix_mcp_oauth::{
    http::ProviderMetadata,
    providers,
    proxy::{ProxyLimits, TokenMode},
    verify::{FnVerifier, IntrospectionVerifier},
    Claims, JwksVerifier, OAuthProxy, ProxyKey, RequireAuth, TokenVerifier, VerifyError,
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
    proxy_keyed(limits, ProxyKey::generate())
}

fn proxy_keyed(limits: ProxyLimits, key: ProxyKey) -> OAuthProxy {
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
        .proxy_key(key)
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

/// `count` redirect URIs of exactly `len` bytes each, their paths pseudo-random characters
/// that deflate barely shrinks: the longest client id the limits let a registration make.
fn uncompressible_uris(count: usize, len: usize) -> Vec<String> {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..count)
        .map(|_| {
            let mut uri = "https://app.example.com/".to_owned();
            while uri.len() < len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                uri.push(CHARS[(seed % CHARS.len() as u64) as usize] as char);
            }
            uri
        })
        .collect()
}

fn register(uris: &[String], name: &str) -> test::TestRequest {
    test::TestRequest::post()
        .uri("/register")
        .set_json(json!({ "redirect_uris": uris, "client_name": name }))
}

/// `/authorize` for `client_id` and its redirect URI `redirect`, with `state`.
fn authorize(client_id: &str, redirect: &str, state: &str) -> test::TestRequest {
    let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    test::TestRequest::get().uri(&format!(
        "/authorize?response_type=code&client_id={}&redirect_uri={}\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
             &code_challenge_method=S256&state={}",
        enc(client_id),
        enc(redirect),
        enc(state)
    ))
}

fn location(res: &actix_web::dev::ServiceResponse) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[actix_web::test]
async fn the_most_redirect_uris_of_the_longest_length_register_together_and_sign_in() {
    // A 200-character name of four-byte characters: the longest the name check lets through.
    let name = "\u{1F600}".repeat(200);
    let raised = ProxyLimits::builder()
        .redirect_uris(16)
        .redirect_uri_length(2048)
        // 32 KiB of redirect URIs need a registration body to carry them, and their client id
        // a token body.
        .register_body(64 * KIB)
        .token_body(64 * KIB)
        .build()
        .expect("at the 32 KiB ceiling");
    for (limits, count, len) in [(ProxyLimits::default(), 10, 1024), (raised, 16, 2048)] {
        let app = test::init_service(App::new().service(proxy_with(limits).scope())).await;
        let uris = uncompressible_uris(count, len);
        let res = test::call_service(&app, register(&uris, &name).to_request()).await;
        assert_eq!(res.status().as_u16(), 201, "{count} × {len} bytes");
        let doc: Value = test::read_body_json(res).await;
        let client_id = doc["client_id"].as_str().expect("client_id");
        // Every one of them is the client's: the id opens and the request goes on to consent.
        for uri in [&uris[0], &uris[count - 1]] {
            let res = test::call_service(&app, authorize(client_id, uri, "s").to_request()).await;
            assert_eq!(
                res.status().as_u16(),
                303,
                "{count} × {len}: {}",
                location(&res)
            );
            assert!(location(&res).contains("/consent?"), "{}", location(&res));
        }
        // At `/token` too the client is known (its body bound carries the id): the grant is
        // judged, not the client or the size.
        let req = test::TestRequest::post()
            .uri("/token")
            .set_form([
                ("grant_type", "refresh_token"),
                ("refresh_token", "junk"),
                ("client_id", client_id),
            ])
            .to_request();
        let res: Value = test::call_and_read_body_json(&app, req).await;
        assert_eq!(res["error"], "invalid_grant", "{count} × {len}: {res}");
        // One more, or one byte longer, is refused as RFC 7591 says.
        let more = uncompressible_uris(count + 1, len);
        let res: Value =
            test::call_and_read_body_json(&app, register(&more, &name).to_request()).await;
        assert_eq!(res["error"], "invalid_redirect_uri", "{res}");
        let mut longer = uris.clone();
        longer[count - 1].push('a');
        let res: Value =
            test::call_and_read_body_json(&app, register(&longer, &name).to_request()).await;
        assert_eq!(res["error"], "invalid_redirect_uri", "{res}");
    }
    // Past the ceiling the configuration itself is refused.
    let err = ProxyLimits::builder()
        .redirect_uris(17)
        .redirect_uri_length(2048)
        .build()
        .expect_err("past 32 KiB of redirect URIs");
    assert!(err.to_string().contains("redirect_uris"), "{err}");
}

#[actix_web::test]
async fn realistic_registrations_deflate_into_short_client_ids() {
    let app = test::init_service(App::new().service(proxy().scope())).await;
    // Ten redirect URIs of one app, 100 bytes each (1000 bytes in all).
    let uris: Vec<String> = (0..10)
        .map(|i| {
            let mut u = format!("https://app.example.com/oauth/callback/{i}/");
            u.push_str(&"x".repeat(100 - u.len()));
            u
        })
        .collect();
    let res = test::call_service(&app, register(&uris, "Example App").to_request()).await;
    assert_eq!(res.status().as_u16(), 201);
    let doc: Value = test::read_body_json(res).await;
    let len = doc["client_id"].as_str().expect("client_id").len();
    assert!(len < 500, "a deflated client id of {len} bytes");
}

#[actix_web::test]
async fn a_client_id_past_the_bound_of_the_limits_is_an_unknown_client() {
    let key = ProxyKey::generate();
    let raised = ProxyLimits::builder()
        .redirect_uris(16)
        .redirect_uri_length(2048)
        // 32 KiB of redirect URIs need a registration body to carry them.
        .register_body(64 * KIB)
        .build()
        .expect("limits");
    let wide =
        test::init_service(App::new().service(proxy_keyed(raised, key.clone()).scope())).await;
    let narrow =
        test::init_service(App::new().service(proxy_keyed(ProxyLimits::default(), key).scope()))
            .await;
    let id = |uris: Vec<String>| {
        let wide = &wide;
        async move {
            let res = test::call_service(wide, register(&uris, "x").to_request()).await;
            assert_eq!(res.status().as_u16(), 201);
            let doc: Value = test::read_body_json(res).await;
            (
                doc["client_id"].as_str().expect("client_id").to_owned(),
                uris,
            )
        }
    };
    // Sealed by the same key, a short id opens under the default limits...
    let (short, uris) = id(uncompressible_uris(1, 64)).await;
    let res = test::call_service(&narrow, authorize(&short, &uris[0], "s").to_request()).await;
    assert_eq!(res.status().as_u16(), 303, "{}", location(&res));
    // ...and one longer than their bound (about 15 KiB) is refused before it is decrypted:
    // an unknown client, shown on the error page and never redirected.
    let (long, uris) = id(uncompressible_uris(16, 2048)).await;
    assert!(long.len() > 16 * KIB, "{}", long.len());
    let res = test::call_service(&narrow, authorize(&long, &uris[0], "s").to_request()).await;
    assert_eq!(res.status().as_u16(), 400);
    assert!(location(&res).is_empty());
    let text = String::from_utf8_lossy(&test::read_body(res).await).into_owned();
    assert!(text.contains("invalid_client"), "{text}");
    // The same id opens where the limits allow it.
    let res = test::call_service(&wide, authorize(&long, &uris[0], "s").to_request()).await;
    assert_eq!(res.status().as_u16(), 303, "{}", location(&res));
}

#[actix_web::test]
async fn a_client_state_past_1024_bytes_is_an_invalid_request() {
    let app = test::init_service(App::new().service(proxy().scope())).await;
    let uri = "http://127.0.0.1:3000/cb".to_owned();
    let res =
        test::call_service(&app, register(std::slice::from_ref(&uri), "x").to_request()).await;
    let doc: Value = test::read_body_json(res).await;
    let client_id = doc["client_id"].as_str().expect("client_id");
    let res = test::call_service(
        &app,
        authorize(client_id, &uri, &"s".repeat(1024)).to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 303, "at the bound");
    assert!(location(&res).contains("/consent?"), "{}", location(&res));
    // Past it: refused before the client is trusted with a redirect, on the error page.
    let res = test::call_service(
        &app,
        authorize(client_id, &uri, &"s".repeat(1025)).to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 400);
    assert!(location(&res).is_empty(), "{}", location(&res));
    let text = String::from_utf8_lossy(&test::read_body(res).await).into_owned();
    assert!(
        text.contains("invalid_request") && text.contains("`state` is too long"),
        "{text}"
    );
}

#[actix_web::test]
async fn an_upstream_token_answer_is_read_up_to_64_kib() {
    let tokens = json!({ "access_token": "at-1", "token_type": "Bearer", "expires_in": 3600 });
    let upstream = Faulty::start(Mode::json(200, &tokens));
    // Passthrough mode: a refresh grant is one call to the token endpoint, answered as it is.
    let proxy = OAuthProxy::builder()
        .public_url("http://127.0.0.1:8080")
        .auth_endpoint(upstream.url("/authorize"))
        .token_endpoint(upstream.url("/token"))
        .issuer(upstream.url(""))
        .client_id("proxy")
        .client_secret("secret")
        .verifier(FnVerifier::new(|_t: String| async {
            Err(VerifyError::Rejected("unused".into()))
        }))
        .proxy_key(ProxyKey::generate())
        .token_mode(TokenMode::Passthrough)
        .build()
        .expect("proxy");
    let app = test::init_service(App::new().service(proxy.scope())).await;
    let res = test::call_service(
        &app,
        register(&["http://127.0.0.1:3000/cb".to_owned()], "x").to_request(),
    )
    .await;
    let doc: Value = test::read_body_json(res).await;
    let client_id = doc["client_id"].as_str().expect("client_id").to_owned();
    let refresh = || {
        test::TestRequest::post()
            .uri("/token")
            .set_form([
                ("grant_type", "refresh_token"),
                ("refresh_token", "rt-1"),
                ("client_id", client_id.as_str()),
            ])
            .to_request()
    };
    let serve = |len: usize| Mode::Answer {
        status: 200,
        content_type: "application/json",
        body: padded(&tokens, len),
    };
    upstream.set(serve(64 * KIB));
    let res = test::call_service(&app, refresh()).await;
    assert_eq!(res.status().as_u16(), 200, "at the bound");
    let doc: Value = test::read_body_json(res).await;
    assert_eq!(doc["access_token"], "at-1");
    upstream.set(serve(64 * KIB + 1));
    let res = test::call_service(&app, refresh()).await;
    assert_eq!(res.status().as_u16(), 502, "past the bound");
    let doc: Value = test::read_body_json(res).await;
    assert_eq!(doc["error"], "server_error", "{doc}");
}

#[actix_web::test]
async fn a_provider_api_answer_is_read_up_to_64_kib() {
    let active = json!({ "active": true, "sub": "ada", "aud": "api", "exp": 4_000_000_000u64 });
    let upstream = Faulty::start(Mode::json(200, &active));
    let verifier = IntrospectionVerifier::builder(upstream.url("/introspect"), "rs", "secret")
        .audience("api")
        .build()
        .expect("verifier");
    upstream.set(Mode::Answer {
        status: 200,
        content_type: "application/json",
        body: padded(&active, 64 * KIB),
    });
    let claims = verifier.verify("token-1").await.expect("at the bound");
    assert_eq!(claims.get("sub"), Some(&json!("ada")));
    upstream.set(Mode::Answer {
        status: 200,
        content_type: "application/json",
        body: padded(&active, 64 * KIB + 1),
    });
    let past = verifier.verify("token-2").await.unwrap_err();
    assert!(past.is_unavailable(), "{past}");
}

#[actix_web::test]
async fn the_metadata_document_bound_is_configurable() {
    let upstream = Faulty::start(Mode::Reset);
    let issuer = upstream.url("");
    let doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
    });
    upstream.set(Mode::Answer {
        status: 200,
        content_type: "application/json",
        body: padded(&doc, 4 * KIB),
    });
    let found = ProviderMetadata::discover_within(&issuer, 4 * KIB)
        .await
        .expect("at the bound");
    assert_eq!(found.issuer(), issuer);
    let err = ProviderMetadata::discover_within(&issuer, 4 * KIB - 1)
        .await
        .expect_err("past the bound");
    assert!(err.to_string().contains("larger than"), "{err}");
    for bad in [KIB - 1, 4 * 1024 * KIB + 1] {
        let err = ProviderMetadata::discover_within(&issuer, bad)
            .await
            .expect_err("outside the range");
        assert!(err.to_string().contains("max_bytes"), "{err}");
    }
}

#[actix_web::test]
async fn a_fetched_key_set_is_used_up_to_its_configured_key_count() {
    let keys = [
        Key::generate("ES256"),
        Key::generate("ES256"),
        Key::generate("ES256"),
    ];
    let set = jwks(&[("k0", &keys[0]), ("k1", &keys[1]), ("k2", &keys[2])]);
    let upstream = Faulty::start(Mode::json(200, &set));
    let verifier = JwksVerifier::builder()
        .jwks_url(upstream.url("/jwks"))
        .issuer("https://issuer.example")
        .audience("api")
        .max_keys(2)
        .fetch_timeout(Duration::from_secs(2))
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
    // The third key was not taken: its token is refused as any unknown key's, never a 503.
    let past = verifier.verify(&token(2)).await.unwrap_err();
    assert!(!past.is_unavailable(), "{past}");
    // While the set cannot be fetched at all, the keys taken keep serving.
    upstream.set(Mode::Reset);
    assert!(verifier.verify(&token(2)).await.is_err());
    assert!(verifier.verify(&token(0)).await.is_ok());
}

#[actix_web::test]
async fn the_key_set_bounds_have_ceilings() {
    let builder = || {
        JwksVerifier::builder()
            .jwks_url("https://issuer.example/jwks")
            .issuer("https://issuer.example")
            .audience("api")
    };
    assert!(builder().max_response_bytes(KIB).build().is_ok());
    assert!(builder().max_response_bytes(4 * 1024 * KIB).build().is_ok());
    assert!(builder().max_keys(1000).build().is_ok());
    for (err, field) in [
        (
            builder().max_response_bytes(0).build().err(),
            "max_response_bytes",
        ),
        (
            builder().max_response_bytes(KIB - 1).build().err(),
            "max_response_bytes",
        ),
        (
            builder()
                .max_response_bytes(4 * 1024 * KIB + 1)
                .build()
                .err(),
            "max_response_bytes",
        ),
        (builder().max_keys(0).build().err(), "max_keys"),
        (builder().max_keys(1001).build().err(), "max_keys"),
    ] {
        let err = err.expect("refused");
        assert!(err.to_string().contains(field), "{err}");
    }
}

const TENANT: &str = "11111111-2222-3333-4444-555555555555";

/// Each preset whose tokens are JWTs, its key set at `base` (the test server answers every
/// path alike), with the key-set bounds `bytes` and `keys`.
/// A preset's verifier, or why it was not built.
type Built = Result<Arc<dyn TokenVerifier>, actix_mcp_oauth::ConfigError>;

fn presets(base: &str, bytes: usize, keys: usize) -> Vec<(&'static str, Built)> {
    fn boxed<V: TokenVerifier + 'static>(v: Result<V, actix_mcp_oauth::ConfigError>) -> Built {
        v.map(|v| Arc::new(v) as Arc<dyn TokenVerifier>)
    }
    vec![
        (
            "okta",
            boxed(
                providers::okta(base, "default")
                    .client("cid", "secret")
                    .jwks_max_response_bytes(bytes)
                    .jwks_max_keys(keys)
                    .verifier(),
            ),
        ),
        (
            "auth0",
            boxed(
                providers::auth0(base, "api")
                    .client("cid", "secret")
                    .jwks_max_response_bytes(bytes)
                    .jwks_max_keys(keys)
                    .verifier(),
            ),
        ),
        (
            "keycloak",
            boxed(
                providers::keycloak(base, "realm")
                    .client("cid", "secret")
                    .jwks_max_response_bytes(bytes)
                    .jwks_max_keys(keys)
                    .verifier(),
            ),
        ),
        (
            "entra_id",
            boxed(
                providers::entra_id(TENANT)
                    .authority_host(base)
                    .client("cid", "secret")
                    .jwks_max_response_bytes(bytes)
                    .jwks_max_keys(keys)
                    .verifier(),
            ),
        ),
    ]
}

#[actix_web::test]
async fn the_jwt_presets_take_the_key_set_bounds() {
    let keys = [Key::generate("ES256"), Key::generate("ES256")];
    let set = jwks(&[("k0", &keys[0]), ("k1", &keys[1])]);
    // Signed by a key of the set, for another issuer: refused for its claims once the keys
    // are loaded, and unavailable while they cannot be.
    let token = |i: usize| {
        signed(
            &format!("k{i}"),
            &keys[i],
            &json!({ "iss": "https://elsewhere.example", "tid": TENANT, "sub": "x", "exp": 4_000_000_000u64 }),
        )
    };
    let upstream = Faulty::start(Mode::Answer {
        status: 200,
        content_type: "application/json",
        body: padded(&set, 8 * KIB),
    });
    let base = upstream.url("");
    let at = presets(&base, 8 * KIB, 100);
    let past = presets(&base, 8 * KIB - 1, 100);
    for ((name, at), (_, past)) in at.into_iter().zip(past) {
        let err = at.expect(name).verify(&token(0)).await.unwrap_err();
        assert!(!err.is_unavailable(), "{name} at the size bound: {err}");
        let err = past.expect(name).verify(&token(0)).await.unwrap_err();
        assert!(err.is_unavailable(), "{name} past the size bound: {err}");
    }
    // One key taken: the second key's token is refused as unknown, not for its claims.
    for (name, one) in presets(&base, 8 * KIB, 1) {
        let one = one.expect(name);
        let first = one.verify(&token(0)).await.unwrap_err();
        let second = one.verify(&token(1)).await.unwrap_err();
        assert!(!second.is_unavailable(), "{name}: {second}");
        assert_ne!(first.to_string(), second.to_string(), "{name}");
    }
    for (name, bad) in
        presets(&base, 8 * KIB, 1001)
            .into_iter()
            .chain(presets(&base, 4 * 1024 * KIB + 1, 100))
    {
        let err = bad
            .err()
            .unwrap_or_else(|| panic!("{name} refuses the bound"));
        let text = err.to_string();
        assert!(
            text.contains("max_keys") || text.contains("max_response_bytes"),
            "{name}: {text}"
        );
    }
}

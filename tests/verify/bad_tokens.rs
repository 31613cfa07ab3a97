//! One table of bad tokens and bad requests, each driven through `RequireAuth` wrapping a route,
//! with a `JwksVerifier` holding pinned keys generated in the test, an issuer and an audience.
//!
//! Every row states the exact status, the `error` of the `WWW-Authenticate` challenge (or its
//! absence), the `resource_metadata` URL and the JSON body's `error`, and proves the handler was
//! not reached and that no response header or body names the issuer, a JWKS URL or a key id.
//! The good-token controls prove the same setup lets each algorithm's token through.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use actix_mcp_oauth::{clock::ManualClock, AuthUser, JwksVerifier, RequireAuth};
use actix_web::{
    dev::ServiceResponse,
    http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE},
    test, web, App, HttpResponse,
};
use josekit::jwe::{JweHeader, RSA_OAEP};
use josekit::jws;
use josekit::jwt::{self, JwtPayload};
use serde_json::{json, Value};

use crate::fixtures::{
    b64, ec, ec384, ed, jwks, other_rsa, rsa, sign, sign_raw, Double, Reply, ANY_PATH, T0,
};

const ISS: &str = "https://issuer.bad-tokens.test";
const AUD: &str = "mcp-api-bad-tokens";
const RESOURCE: &str = "https://mcp.bad-tokens.test/mcp";
const METADATA: &str = "https://mcp.bad-tokens.test/.well-known/oauth-protected-resource/mcp";

// Key ids distinctive enough that finding one in a response can only be a leak.
const KID_RSA: &str = "kid-rsa-5e1f0b";
const KID_EC: &str = "kid-ec256-a93c";
const KID_EC384: &str = "kid-ec384-77d2";
const KID_ED: &str = "kid-ed25519-0c4e";
const KID_UNKNOWN: &str = "kid-unknown-3b8d";
const KID_ATTACKER: &str = "kid-attacker-f00d";

fn verifier() -> JwksVerifier {
    let keys = jwks(&[
        (KID_RSA, rsa()),
        (KID_EC, ec()),
        (KID_EC384, ec384()),
        (KID_ED, ed()),
    ]);
    JwksVerifier::builder()
        .jwks(keys.to_string())
        .issuer(ISS)
        .audience(AUD)
        .clock(ManualClock::at(T0))
        .build()
        .expect("verifier")
}

/// Counts the requests that reach it and answers with the user it was handed.
async fn whoami(user: AuthUser, reached: web::Data<AtomicUsize>) -> HttpResponse {
    reached.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().json(json!({
        "user_id": user.user_id,
        "email": user.email,
        "name": user.name,
        "username": user.username,
        "scopes": user.scopes,
        "permissions": user.permissions,
        "roles": user.roles,
        "iss": user.claims().get_str("iss"),
        "access_token": user.bearer_token().secret(),
    }))
}

/// A fresh app (and so a fresh token cache) per request, so no row can depend on another.
async fn send(verifier: &JwksVerifier, reached: &Arc<AtomicUsize>, req: Request) -> Response {
    let auth = RequireAuth::new(verifier.clone(), RESOURCE)
        .expect("resource")
        .clock(ManualClock::at(T0));
    let app = test::init_service(
        App::new()
            .app_data(web::Data::from(Arc::clone(reached)))
            .service(
                web::scope("/mcp")
                    .wrap(auth)
                    .route("/whoami", web::get().to(whoami))
                    .route("/whoami", web::post().to(whoami)),
            ),
    )
    .await;
    Response::read(test::call_service(&app, req.into_test_request().to_request()).await).await
}

// ---------------------------------------------------------------------------------------------
// Requests and what came back

/// A request to the protected route, described so each row reads as what a client sent.
#[derive(Clone)]
struct Request {
    /// Raw `Authorization` values, one header each.
    authorization: Vec<Vec<u8>>,
    query: Option<String>,
    form: Option<String>,
}

impl Request {
    fn header(value: impl Into<Vec<u8>>) -> Self {
        Self {
            authorization: vec![value.into()],
            query: None,
            form: None,
        }
    }

    fn bearer(token: &str) -> Self {
        Self::header(format!("Bearer {token}"))
    }

    fn into_test_request(self) -> test::TestRequest {
        let uri = match &self.query {
            Some(query) => format!("/mcp/whoami?{query}"),
            None => "/mcp/whoami".to_owned(),
        };
        let mut req = match &self.form {
            Some(_) => test::TestRequest::post().uri(&uri),
            None => test::TestRequest::get().uri(&uri),
        };
        for value in self.authorization {
            let value = HeaderValue::from_bytes(&value).expect("a value a client could send");
            req = req.append_header((AUTHORIZATION, value));
        }
        if let Some(form) = self.form {
            req = req
                .insert_header((CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .set_payload(form);
        }
        req
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    async fn read(res: ServiceResponse<impl actix_web::body::MessageBody>) -> Self {
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = String::from_utf8_lossy(&test::read_body(res).await).into_owned();
        Self {
            status,
            headers,
            body,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        let mut values = self.headers.iter().filter(|(n, _)| n == name);
        let first = values.next().map(|(_, v)| v.as_str());
        assert!(values.next().is_none(), "one {name} header at most");
        first
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// The parameters of a `Bearer` challenge: `Bearer k="v", k2="v2"` (our values hold no `,`).
fn challenge_params(challenge: &str) -> Result<Vec<(String, String)>, String> {
    let rest = match challenge.split_once(' ') {
        Some(("Bearer", rest)) => rest,
        None if challenge == "Bearer" => return Ok(Vec::new()),
        _ => return Err(format!("not a Bearer challenge: {challenge:?}")),
    };
    rest.split(", ")
        .map(|param| {
            let (name, value) = param
                .split_once('=')
                .ok_or_else(|| format!("not a parameter: {param:?}"))?;
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or_else(|| format!("not quoted: {param:?}"))?;
            Ok((name.to_owned(), value.to_owned()))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Expected refusals

#[derive(Clone, Copy, Debug)]
struct Refusal {
    status: u16,
    /// The challenge's `error`; `None`: the challenge must not carry one.
    error: Option<&'static str>,
    body_error: &'static str,
}

/// 401 `invalid_token` (RFC 6750 §3.1): a token was sent and it is not acceptable.
const INVALID_TOKEN: Refusal = Refusal {
    status: 401,
    error: Some("invalid_token"),
    body_error: "invalid_token",
};
/// 400 `invalid_request`: the Authorization header itself is malformed.
const INVALID_REQUEST: Refusal = Refusal {
    status: 400,
    error: Some("invalid_request"),
    body_error: "invalid_request",
};
/// 401 without `error`: no bearer token was presented at all.
const NO_TOKEN: Refusal = Refusal {
    status: 401,
    error: None,
    body_error: "unauthorized",
};

/// What is wrong with `res` as the refusal `expect`, if anything.
fn mismatches(res: &Response, expect: Refusal, secrets: &[&str]) -> Vec<String> {
    let mut wrong = Vec::new();
    if res.status != expect.status {
        wrong.push(format!(
            "status {} instead of {}",
            res.status, expect.status
        ));
    }
    match res.header("www-authenticate").map(challenge_params) {
        None => wrong.push("no WWW-Authenticate".into()),
        Some(Err(e)) => wrong.push(e),
        Some(Ok(params)) => {
            let get = |name: &str| {
                params
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
            };
            if get("error") != expect.error {
                wrong.push(format!(
                    "challenge error {:?} instead of {:?}",
                    get("error"),
                    expect.error
                ));
            }
            if get("resource_metadata") != Some(METADATA) {
                wrong.push(format!(
                    "resource_metadata {:?} instead of {METADATA:?}",
                    get("resource_metadata")
                ));
            }
        }
    }
    if res.header("content-type") != Some("application/json") {
        wrong.push(format!("content-type {:?}", res.header("content-type")));
    }
    let body = res.json();
    if body["error"] != expect.body_error || !body["error_description"].is_string() {
        wrong.push(format!(
            "body {:?}",
            res.body.chars().take(120).collect::<String>()
        ));
    }
    for secret in secrets {
        if res.body.contains(secret) {
            wrong.push(format!("the body names {secret:?}"));
        }
        for (name, value) in &res.headers {
            if value.contains(secret) {
                wrong.push(format!("header {name} names {secret:?}"));
            }
        }
    }
    wrong
}

// ---------------------------------------------------------------------------------------------
// Tokens

fn header(alg: &str, kid: &str) -> Value {
    json!({ "alg": alg, "kid": kid, "typ": "at+jwt" })
}

fn good_payload() -> Value {
    json!({
        "iss": ISS, "sub": "user-42", "aud": AUD,
        "exp": T0 + 600, "iat": T0 - 10, "nbf": T0 - 10,
        "scope": "mcp:tools mcp:read",
    })
}

fn with(claim: &str, value: Value) -> Value {
    let mut payload = good_payload();
    payload[claim] = value;
    payload
}

fn without(claim: &str) -> Value {
    let mut payload = good_payload();
    payload.as_object_mut().expect("an object").remove(claim);
    payload
}

/// A token the verifier accepts: RS256 with our RSA key. Rows spoil it one way each.
fn rs256(payload: &Value) -> String {
    sign(&header("RS256", KID_RSA), payload, rsa(), "RS256")
}

fn good() -> String {
    rs256(&good_payload())
}

/// HS256 "signed" with `secret` (the classic key-confusion attack uses the public key bytes).
fn hs256(secret: &[u8]) -> String {
    let signer = jws::HS256.signer_from_bytes(secret).expect("hmac signer");
    sign_raw(
        &header("HS256", KID_RSA).to_string(),
        &good_payload().to_string(),
        &signer,
    )
}

/// A real JWE (RSA-OAEP, A128GCM) carrying the good claims, encrypted to our RSA key.
fn jwe() -> String {
    let mut header = JweHeader::new();
    header.set_content_encryption("A128GCM");
    header.set_key_id(KID_RSA);
    let encrypter = RSA_OAEP
        .encrypter_from_jwk(&rsa().pair().to_jwk_public_key())
        .expect("encrypter");
    let Value::Object(claims) = good_payload() else {
        unreachable!("the payload is an object")
    };
    let payload = JwtPayload::from_map(claims).expect("payload");
    jwt::encode_with_encrypter(&payload, &header, &encrypter).expect("jwe")
}

/// `token` with its `n`-th segment (0-based) replaced.
fn replace_segment(token: &str, n: usize, segment: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[n] = segment;
    parts.join(".")
}

// ---------------------------------------------------------------------------------------------
// The table

struct Row {
    name: &'static str,
    request: Request,
    expect: Refusal,
}

fn row(name: &'static str, request: Request, expect: Refusal) -> Row {
    Row {
        name,
        request,
        expect,
    }
}

/// `jku_base`: the URL of a server on 127.0.0.1 that counts every request and would serve the
/// attacker's key set.
fn table(jku_base: &str) -> Vec<Row> {
    let good = good();
    let (signing_input, signature) = good.rsplit_once('.').expect("three segments");
    let rsa_public = rsa().pair();
    let attacker_jwk = other_rsa().jwk(KID_ATTACKER);
    let bearer = Request::bearer;
    vec![
        // --- algorithms and keys
        row(
            "alg none, empty signature",
            bearer(&format!(
                "{}.{}.",
                b64(json!({ "alg": "none", "kid": KID_RSA }).to_string()),
                b64(good_payload().to_string())
            )),
            INVALID_TOKEN,
        ),
        row(
            "alg NONE in capitals",
            bearer(&format!(
                "{}.{}.",
                b64(json!({ "alg": "NONE" }).to_string()),
                b64(good_payload().to_string())
            )),
            INVALID_TOKEN,
        ),
        row(
            "HS256 keyed with the RSA public key PEM",
            bearer(&hs256(&rsa_public.to_pem_public_key())),
            INVALID_TOKEN,
        ),
        row(
            "HS256 keyed with the RSA public key DER",
            bearer(&hs256(&rsa_public.to_der_public_key())),
            INVALID_TOKEN,
        ),
        row(
            "unknown kid",
            bearer(&sign(
                &header("RS256", KID_UNKNOWN),
                &good_payload(),
                rsa(),
                "RS256",
            )),
            INVALID_TOKEN,
        ),
        row(
            "kid of the EC key in an RS256 header",
            bearer(&sign(
                &header("RS256", KID_EC),
                &good_payload(),
                rsa(),
                "RS256",
            )),
            INVALID_TOKEN,
        ),
        row(
            "kid of the RSA key in an ES256 header",
            bearer(&sign(
                &header("ES256", KID_RSA),
                &good_payload(),
                ec(),
                "ES256",
            )),
            INVALID_TOKEN,
        ),
        row(
            "signature from another RSA key under our kid",
            bearer(&sign(
                &header("RS256", KID_RSA),
                &good_payload(),
                other_rsa(),
                "RS256",
            )),
            INVALID_TOKEN,
        ),
        row(
            "truncated signature",
            bearer(&good[..good.len() - 12]),
            INVALID_TOKEN,
        ),
        row(
            "signature of another payload spliced on",
            bearer(&format!(
                "{signing_input}.{}",
                rs256(&with("sub", json!("user-43")))
                    .rsplit_once('.')
                    .expect("three segments")
                    .1
            )),
            INVALID_TOKEN,
        ),
        row(
            "jku header pointing at another key set",
            bearer(&sign(
                &json!({ "alg": "RS256", "kid": KID_ATTACKER, "jku": format!("{jku_base}/jwks.json") }),
                &good_payload(),
                other_rsa(),
                "RS256",
            )),
            INVALID_TOKEN,
        ),
        row(
            "x5u header pointing at another certificate",
            bearer(&sign(
                &json!({ "alg": "RS256", "kid": KID_ATTACKER, "x5u": format!("{jku_base}/cert.pem") }),
                &good_payload(),
                other_rsa(),
                "RS256",
            )),
            INVALID_TOKEN,
        ),
        row(
            "embedded jwk header with the signing key, under our kid",
            bearer(&sign(
                &json!({ "alg": "RS256", "kid": KID_RSA, "jwk": attacker_jwk }),
                &good_payload(),
                other_rsa(),
                "RS256",
            )),
            INVALID_TOKEN,
        ),
        row(
            "crit header",
            bearer(&sign(
                &json!({ "alg": "RS256", "kid": KID_RSA, "crit": ["exp"] }),
                &good_payload(),
                rsa(),
                "RS256",
            )),
            INVALID_TOKEN,
        ),
        // --- times
        row(
            "expired an hour ago",
            bearer(&rs256(&with("exp", json!(T0 - 3600)))),
            INVALID_TOKEN,
        ),
        row(
            "expired just beyond the 60 s leeway",
            bearer(&rs256(&with("exp", json!(T0 - 61)))),
            INVALID_TOKEN,
        ),
        row(
            "nbf in the future",
            bearer(&rs256(&with("nbf", json!(T0 + 3600)))),
            INVALID_TOKEN,
        ),
        row(
            "iat in the future",
            bearer(&rs256(&with("iat", json!(T0 + 3600)))),
            INVALID_TOKEN,
        ),
        row("no exp", bearer(&rs256(&without("exp"))), INVALID_TOKEN),
        row(
            "exp as a string",
            bearer(&rs256(&with("exp", json!((T0 + 600).to_string())))),
            INVALID_TOKEN,
        ),
        row(
            "exp as 1e20",
            bearer(&rs256(&with("exp", json!(1e20)))),
            INVALID_TOKEN,
        ),
        // --- issuer, audience, subject
        row(
            "wrong iss",
            bearer(&rs256(&with("iss", json!("https://evil.example")))),
            INVALID_TOKEN,
        ),
        row(
            "iss with a trailing slash",
            bearer(&rs256(&with("iss", json!(format!("{ISS}/"))))),
            INVALID_TOKEN,
        ),
        row("no iss", bearer(&rs256(&without("iss"))), INVALID_TOKEN),
        row(
            "wrong aud",
            bearer(&rs256(&with("aud", json!("another-api")))),
            INVALID_TOKEN,
        ),
        row("no aud", bearer(&rs256(&without("aud"))), INVALID_TOKEN),
        row(
            "aud array without ours",
            bearer(&rs256(&with("aud", json!(["another-api", "userinfo"])))),
            INVALID_TOKEN,
        ),
        row(
            "no sub (the default mapping refuses it)",
            bearer(&rs256(&without("sub"))),
            INVALID_TOKEN,
        ),
        // --- not an access token
        row(
            "an ID token (nonce)",
            bearer(&rs256(&with("nonce", json!("n-0S6_WzA2Mj")))),
            INVALID_TOKEN,
        ),
        row(
            "an ID token with typ header JWT and a nonce",
            bearer(&sign(
                &json!({ "alg": "RS256", "kid": KID_RSA, "typ": "JWT" }),
                &with("nonce", json!("n-0S6_WzA2Mj")),
                rsa(),
                "RS256",
            )),
            INVALID_TOKEN,
        ),
        row(
            "a Keycloak ID token (typ claim ID)",
            bearer(&rs256(&with("typ", json!("ID")))),
            INVALID_TOKEN,
        ),
        row(
            "a logout token (typ header logout+jwt)",
            bearer(&sign(
                &json!({ "alg": "RS256", "kid": KID_RSA, "typ": "logout+jwt" }),
                &good_payload(),
                rsa(),
                "RS256",
            )),
            INVALID_TOKEN,
        ),
        // --- structure
        row(
            "extra segment",
            bearer(&format!("{good}.{signature}")),
            INVALID_TOKEN,
        ),
        row("two segments", bearer(signing_input), INVALID_TOKEN),
        row("JWE, five segments", bearer(&jwe()), INVALID_TOKEN),
        row("only dots", bearer(".."), INVALID_TOKEN),
        row(
            "standard base64 characters + and / in the signature",
            bearer(&format!("{signing_input}.+/{}", &signature[2..])),
            INVALID_TOKEN,
        ),
        row(
            "character outside the b64token alphabet",
            bearer(&replace_segment(&good, 1, "e30*")),
            INVALID_REQUEST,
        ),
        row(
            "padding = at the end",
            bearer(&format!("{good}=")),
            INVALID_TOKEN,
        ),
        row(
            "padding = inside, after the header",
            bearer(&replace_segment(
                &good,
                0,
                &format!("{}=", good.split('.').next().unwrap_or_default()),
            )),
            INVALID_REQUEST,
        ),
        row(
            "oversized token (> 16 KiB), validly signed",
            bearer(&rs256(&with("pad", json!("x".repeat(17 * 1024))))),
            INVALID_TOKEN,
        ),
        row(
            "header not JSON",
            bearer(&sign_raw(
                "not json",
                &good_payload().to_string(),
                &*rsa().signer("RS256"),
            )),
            INVALID_TOKEN,
        ),
        row(
            "payload a JSON array",
            bearer(&sign(
                &header("RS256", KID_RSA),
                &json!([good_payload()]),
                rsa(),
                "RS256",
            )),
            INVALID_TOKEN,
        ),
        // --- the Authorization header
        row(
            "two Authorization headers, both good",
            Request {
                authorization: vec![
                    format!("Bearer {good}").into_bytes(),
                    format!("Bearer {good}").into_bytes(),
                ],
                query: None,
                form: None,
            },
            INVALID_REQUEST,
        ),
        row(
            "Basic scheme",
            Request::header("Basic dXNlcjpwYXNzd29yZA=="),
            NO_TOKEN,
        ),
        row(
            "scheme glued to the token",
            Request::header(format!("Bearer{good}")),
            NO_TOKEN,
        ),
        row("empty bearer", Request::header("Bearer "), INVALID_REQUEST),
        row("bare Bearer", Request::header("Bearer"), INVALID_REQUEST),
        row(
            "tab instead of the space after Bearer",
            Request::header(format!("Bearer\t{good}")),
            NO_TOKEN,
        ),
        row(
            "two tokens separated by a space",
            Request::header(format!("Bearer {good} {good}")),
            INVALID_REQUEST,
        ),
        row(
            "a tab inside the token",
            Request::header(format!("Bearer {signing_input}\t.{signature}")),
            INVALID_REQUEST,
        ),
        row(
            "non-ASCII bytes in the header",
            Request::header(format!("Bearer {good}\u{e9}")),
            INVALID_REQUEST,
        ),
        row(
            "token in the query string only",
            Request {
                authorization: Vec::new(),
                query: Some(format!("access_token={good}")),
                form: None,
            },
            NO_TOKEN,
        ),
        row(
            "token in a form body only",
            Request {
                authorization: Vec::new(),
                query: None,
                form: Some(format!("access_token={good}")),
            },
            NO_TOKEN,
        ),
        row(
            "no Authorization header",
            Request {
                authorization: Vec::new(),
                query: None,
                form: None,
            },
            NO_TOKEN,
        ),
    ]
}

/// A server on 127.0.0.1:0 that answers every path with the attacker's key set (so following
/// `jku` would let the attacker's token in), and counts every request.
async fn start_attackers_server() -> Double {
    let server = Double::start().await;
    let attacker_jwks = jwks(&[(KID_ATTACKER, other_rsa())]);
    server.on(ANY_PATH, None, Reply::json(200, &attacker_jwks));
    server
}

#[actix_web::test]
async fn every_bad_token_or_request_is_refused_before_the_handler() {
    let server = start_attackers_server().await;
    let jku_base = server.url("");
    let verifier = verifier();
    let reached = Arc::new(AtomicUsize::new(0));
    let secrets = [
        ISS,
        jku_base.as_str(),
        KID_RSA,
        KID_EC,
        KID_EC384,
        KID_ED,
        KID_UNKNOWN,
        KID_ATTACKER,
    ];

    let rows = table(&jku_base);
    assert!(rows.len() >= 25, "the table holds {} rows", rows.len());
    let mut failures = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        assert!(
            rows[..i].iter().all(|other| other.name != row.name),
            "two rows are named {:?}",
            row.name
        );
        let before = reached.load(Ordering::SeqCst);
        let res = send(&verifier, &reached, row.request.clone()).await;
        let mut wrong = mismatches(&res, row.expect, &secrets);
        if reached.load(Ordering::SeqCst) != before {
            wrong.push("the handler was reached".into());
        }
        if !wrong.is_empty() {
            failures.push(format!("{}: {}", row.name, wrong.join("; ")));
        }
    }
    assert_eq!(
        server.count(ANY_PATH),
        0,
        "a token header made the verifier fetch from {jku_base}"
    );
    // The server does count: a request of our own is its first hit.
    let res = awc::Client::new()
        .get(format!("{jku_base}/jwks.json"))
        .send()
        .await
        .expect("the counting server answers");
    assert!(res.status().is_success());
    assert_eq!(server.count(ANY_PATH), 1);
    server.stop().await;

    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n  {}",
        failures.len(),
        rows.len(),
        failures.join("\n  ")
    );
}

#[actix_web::test]
async fn good_tokens_of_every_algorithm_reach_the_handler_as_their_user() {
    let verifier = verifier();
    let reached = Arc::new(AtomicUsize::new(0));
    let controls = [
        ("RS256", rsa(), KID_RSA, "Bearer "),
        ("PS256", rsa(), KID_RSA, "Bearer "),
        ("ES256", ec(), KID_EC, "Bearer "),
        ("ES384", ec384(), KID_EC384, "Bearer "),
        ("EdDSA", ed(), KID_ED, "Bearer "),
        // RFC 6750 §2.1: `"Bearer" 1*SP b64token`, and the scheme is case-insensitive.
        ("RS256", rsa(), KID_RSA, "bearer  "),
    ];
    let mut failures = Vec::new();
    for (alg, key, kid, prefix) in controls {
        let name = format!("{alg} via {prefix:?}");
        let payload = json!({
            "iss": ISS, "sub": format!("user-{alg}"), "aud": [AUD, "userinfo"],
            "exp": T0 + 600, "iat": T0 - 10,
            "email": "ada@example.com", "email_verified": true, "name": "Ada",
            "preferred_username": "ada", "scope": "mcp:tools mcp:read", "permissions": ["docs:read"], "roles": ["admin"],
        });
        let token = sign(&header(alg, kid), &payload, key, alg);
        let before = reached.load(Ordering::SeqCst);
        let res = send(
            &verifier,
            &reached,
            Request::header(format!("{prefix}{token}")),
        )
        .await;
        let expected = json!({
            "user_id": format!("user-{alg}"),
            "email": "ada@example.com",
            "name": "Ada",
            "username": "ada",
            "scopes": ["mcp:tools", "mcp:read"],
            "permissions": ["docs:read"],
            "roles": ["admin"],
            "iss": ISS,
            "access_token": token,
        });
        if res.status != 200 || res.json() != expected {
            failures.push(format!("{name}: {} {}", res.status, res.body));
        }
        if reached.load(Ordering::SeqCst) != before + 1 {
            failures.push(format!("{name}: the handler was not reached once"));
        }
    }
    assert!(failures.is_empty(), "\n  {}", failures.join("\n  "));
}

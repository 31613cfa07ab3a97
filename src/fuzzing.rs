//! Entry points for the fuzz targets of `fuzz/` (feature `fuzzing`); not part of the API and
//! not covered by semver.
//!
//! Each entry point feeds its input to the crate's own code and panics when something that must
//! hold for every input does not: a 5xx answer to a client's request, a token accepted that
//! should not be, a value opened as two kinds.

use std::{rc::Rc, sync::Arc};

use actix_web::{
    body::MessageBody,
    dev::{Service, ServiceResponse},
    http::StatusCode,
    test, web, App, HttpResponse,
};
use futures::{executor::block_on, future::LocalBoxFuture, FutureExt};
use josekit::{
    jwk::{
        alg::{ec::EcCurve, ec::EcKeyPair, ed::EdCurve, ed::EdKeyPair, rsa::RsaKeyPair},
        KeyPair,
    },
    jws::{self, JwsSigner},
};
use serde_json::{json, Value};

pub use crate::proxy::fuzzing::{client_document, params, redirect_uris, SealedValues};
use crate::{
    clock::ManualClock,
    http::ProviderMetadata,
    verify::{FnVerifier, VerifyError},
    JwksVerifier, OAuthProxy, ProxyKey, RequireAuth, TokenVerifier,
};

const ISS: &str = "https://issuer.example";
const AUD: &str = "api";
const NOW: u64 = 1_700_000_000;

/// The per-tool scope check's reading of a `POST` body: its fast scan and its serde path
/// agree on every body the fast scan answers for.
pub fn tool_scan(body: &[u8]) {
    crate::middleware::fast_scan_agrees(body);
}

/// The provider metadata-document parser on `body`.
pub fn metadata(body: &[u8]) {
    if let Ok(doc) = ProviderMetadata::from_json(body) {
        assert!(
            serde_json::from_slice::<Value>(body).is_ok(),
            "a document that is not JSON parsed"
        );
        let _ = doc.issuer();
    }
}

/// Verifies tokens against a key set of fresh keys (RSA, P-256, Ed25519) generated per run.
pub struct Jwt {
    verifier: JwksVerifier,
    signers: Vec<(&'static str, Box<dyn JwsSigner>)>,
    /// The public keys by kid, to check on their own what the verifier accepted.
    public: Vec<(&'static str, josekit::jwk::Jwk)>,
    jwks: String,
}

impl Default for Jwt {
    fn default() -> Self {
        Self::new()
    }
}

impl Jwt {
    /// Fresh keys and a verifier for them (issuer, audience, and the clock at a fixed time).
    pub fn new() -> Self {
        let rsa = RsaKeyPair::generate(2048).expect("rsa key");
        let ec = EcKeyPair::generate(EcCurve::P256).expect("ec key");
        let ed = EdKeyPair::generate(EdCurve::Ed25519).expect("ed key");
        let jwk = |pair: &dyn KeyPair, kid: &'static str| {
            let mut jwk = pair.to_jwk_public_key();
            jwk.set_key_id(kid);
            (kid, jwk)
        };
        let public = vec![jwk(&rsa, "rsa"), jwk(&ec, "ec"), jwk(&ed, "ed")];
        let keys: Vec<Value> = public
            .iter()
            .map(|(_, jwk)| Value::Object(jwk.clone().into()))
            .collect();
        let jwks = json!({ "keys": keys }).to_string();
        let signers: Vec<(&'static str, Box<dyn JwsSigner>)> = vec![
            (
                "ec",
                Box::new(
                    jws::ES256
                        .signer_from_jwk(&ec.to_jwk_private_key())
                        .expect("es256"),
                ),
            ),
            (
                "ed",
                Box::new(
                    jws::EdDSA
                        .signer_from_jwk(&ed.to_jwk_private_key())
                        .expect("eddsa"),
                ),
            ),
        ];
        Self {
            verifier: Self::verifier(&jwks).expect("the generated key set builds"),
            signers,
            public,
            jwks,
        }
    }

    fn verifier(jwks: &str) -> Result<JwksVerifier, crate::ConfigError> {
        JwksVerifier::builder()
            .jwks(jwks)
            .issuer(ISS)
            .audience(AUD)
            .clock(ManualClock::at(NOW))
            .build()
    }

    /// `token` verified: accepted or refused, never a panic or a server fault.
    pub fn verify(&self, token: &str) -> bool {
        match block_on(self.verifier.verify(token)) {
            Ok(claims) => {
                self.check_accepted(token, &claims);
                true
            }
            Err(e) => {
                assert!(
                    !e.is_unavailable(),
                    "a static key set is never unavailable: {e}"
                );
                false
            }
        }
    }

    /// What an accepted token must be: signed by the key its header names (or, without a
    /// `kid`, the set's one key for its algorithm), with an algorithm of that key, for our issuer and audience, within its lifetime (the 60 s leeway), and
    /// its claims exactly its payload.
    fn check_accepted(&self, token: &str, claims: &crate::Claims) {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "an accepted token is a JWS in three parts");
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).expect("accepted base64url");
        let header: serde_json::Map<String, Value> =
            serde_json::from_slice(&decode(parts[0])).expect("an accepted header is an object");
        let payload: serde_json::Map<String, Value> =
            serde_json::from_slice(&decode(parts[1])).expect("an accepted payload is an object");
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // Without a `kid` the verifier uses the one key of the set for the algorithm.
        let kid = header.get("kid").and_then(Value::as_str).or(match alg {
            "ES256" => Some("ec"),
            "EdDSA" => Some("ed"),
            a if a.starts_with("RS") || a.starts_with("PS") => Some("rsa"),
            _ => None,
        });
        let jwk = self
            .public
            .iter()
            .find(|(k, _)| Some(*k) == kid)
            .map(|(_, jwk)| jwk)
            .unwrap_or_else(|| panic!("accepted under kid {kid:?}, not a key of the set"));
        let verifier: Box<dyn josekit::jws::JwsVerifier> = match (kid, alg) {
            (Some("ec"), "ES256") => Box::new(jws::ES256.verifier_from_jwk(jwk).expect("es256")),
            (Some("ed"), "EdDSA") => Box::new(jws::EdDSA.verifier_from_jwk(jwk).expect("eddsa")),
            (Some("rsa"), "RS256") => Box::new(jws::RS256.verifier_from_jwk(jwk).expect("rs256")),
            (Some("rsa"), "PS256") => Box::new(jws::PS256.verifier_from_jwk(jwk).expect("ps256")),
            other => panic!("accepted with {other:?}, an algorithm not of its key"),
        };
        let input = format!("{}.{}", parts[0], parts[1]);
        assert!(
            verifier.verify(input.as_bytes(), &decode(parts[2])).is_ok(),
            "accepted with a signature the key does not verify"
        );
        assert_eq!(claims.get_str("iss"), Some(ISS));
        let aud_ok = match payload.get("aud") {
            Some(Value::String(aud)) => aud == AUD,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(AUD)),
            _ => false,
        };
        assert!(aud_ok, "accepted without our audience");
        let date = |name: &str| payload.get(name).and_then(Value::as_f64);
        let exp = date("exp").expect("accepted without exp");
        assert!((NOW as f64) < exp + 60.0, "accepted after exp");
        if let Some(nbf) = date("nbf") {
            assert!(nbf <= NOW as f64 + 60.0, "accepted before nbf");
        }
        assert_eq!(claims.as_map(), &payload, "the claims are not the payload");
    }

    /// `header` and `payload` (any bytes) signed with one of the run's keys, `which` choosing
    /// it: a token whose signature is right, so the fuzzer reaches the header and claim checks.
    pub fn signed(&self, which: u8, header: &[u8], payload: &[u8]) -> String {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
        let (_, signer) = &self.signers[usize::from(which) % self.signers.len()];
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = signer.sign(input.as_bytes()).expect("sign");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// The kid and algorithm header of key `which`, for targets that sign JSON payloads.
    pub fn header(&self, which: u8) -> Value {
        let (kid, _) = &self.signers[usize::from(which) % self.signers.len()];
        let alg = if *kid == "ec" { "ES256" } else { "EdDSA" };
        json!({ "alg": alg, "kid": kid, "typ": "JWT" })
    }

    /// `jwks` (any bytes) as the key set of a verifier: refused at build or a verifier that
    /// refuses a token signed with another key.
    pub fn key_set(&self, jwks: &[u8]) {
        let Ok(text) = std::str::from_utf8(jwks) else {
            return;
        };
        if text == self.jwks {
            return;
        }
        if let Ok(verifier) = Self::verifier(text) {
            let token = self.signed(0, b"{\"alg\":\"ES256\",\"kid\":\"ec\"}", b"{}");
            let _ = block_on(verifier.verify(&token));
        }
    }
}

type Call = Box<dyn Fn(test::TestRequest) -> LocalBoxFuture<'static, (StatusCode, Vec<u8>)>>;

/// The proxy's endpoints and `RequireAuth` in an actix test service, called in process.
pub struct Endpoints {
    runtime: actix_web::rt::SystemRunner,
    call: Call,
    /// The values a fuzz input names with a placeholder (see [`Endpoints::fill`]).
    client_id: String,
    request: String,
    csrf: String,
    /// The consent page's CSRF cookie, `name=value`, sent with every post to `/consent`.
    csrf_cookie: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self::new()
    }
}

/// The redirect URI of the client the fuzzing proxy registers.
const REDIRECT_URI: &str = "http://127.0.0.1:3000/cb";

impl Endpoints {
    /// The proxy with dynamic registration, an upstream nobody listens on (no input reaches
    /// it: every flow value must first open), and `/mcp` behind `RequireAuth` with a verifier
    /// that refuses every token. A client is registered and one authorization request taken
    /// to its consent page, so that inputs can carry a valid client id, a valid sealed
    /// request and its CSRF pair and reach the checks behind them.
    pub fn new() -> Self {
        let runtime = actix_web::rt::System::new();
        let refuse_all = || {
            FnVerifier::new(|_token: String| async {
                Err(VerifyError::Rejected("no tokens".into()))
            })
        };
        let proxy = OAuthProxy::builder()
            .public_url("http://127.0.0.1:8080")
            .auth_endpoint("http://127.0.0.1:9/authorize")
            .token_endpoint("http://127.0.0.1:9/token")
            .revocation_endpoint("http://127.0.0.1:9/revoke")
            .issuer("http://127.0.0.1:9")
            .client_id("fuzz-client")
            .client_secret("fuzz-secret")
            .verifier(refuse_all())
            .proxy_key(ProxyKey::from_bytes(&[9; 32]).expect("32 bytes"))
            .clock(ManualClock::at(NOW))
            .build()
            .expect("the fuzzing proxy builds");
        let auth = RequireAuth::new(Arc::new(refuse_all()), "http://127.0.0.1:8080/mcp")
            .expect("resource");
        let app = runtime.block_on(test::init_service(
            App::new().service(proxy.scope()).service(
                web::scope("/mcp")
                    .wrap(auth)
                    .route("", web::post().to(HttpResponse::Ok)),
            ),
        ));
        let (client_id, request, csrf, csrf_cookie) = runtime.block_on(async {
            let registered: Value = test::call_and_read_body_json(
                &app,
                test::TestRequest::post()
                    .uri("/register")
                    .set_json(json!({ "redirect_uris": [REDIRECT_URI] }))
                    .to_request(),
            )
            .await;
            let client_id = registered["client_id"]
                .as_str()
                .expect("a client id")
                .to_owned();
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("response_type", "code"),
                    ("client_id", &client_id),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_challenge", CHALLENGE),
                    ("code_challenge_method", "S256"),
                    ("state", "fuzz"),
                ])
                .finish();
            let res = test::call_service(
                &app,
                test::TestRequest::get()
                    .uri(&format!("/authorize?{query}"))
                    .to_request(),
            )
            .await;
            let location = header(&res, "location");
            let consent = url::Url::parse("http://127.0.0.1:8080")
                .and_then(|base| base.join(&location))
                .expect("a consent URL");
            let request = consent
                .query_pairs()
                .find(|(k, _)| k == "request")
                .map(|(_, v)| v.into_owned())
                .expect("the consent page's request");
            let res = test::call_service(
                &app,
                test::TestRequest::get()
                    .uri(&format!(
                        "{}?{}",
                        consent.path(),
                        consent.query().unwrap_or("")
                    ))
                    .to_request(),
            )
            .await;
            let cookie = header(&res, "set-cookie");
            let cookie = cookie.split(';').next().unwrap_or_default().to_owned();
            let page = String::from_utf8(test::read_body(res).await.to_vec()).expect("HTML");
            let csrf = page
                .split("name=\"csrf\" value=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .expect("the page's CSRF token")
                .to_owned();
            (client_id, request, csrf, cookie)
        });
        let app = Rc::new(app);
        let call: Call = Box::new(move |req: test::TestRequest| {
            let app = Rc::clone(&app);
            async move {
                match app.call(req.to_request()).await {
                    Ok(res) => answer(res).await,
                    Err(e) => (e.as_response_error().status_code(), Vec::new()),
                }
            }
            .boxed_local()
        });
        Self {
            runtime,
            call,
            client_id,
            request,
            csrf,
            csrf_cookie,
        }
    }

    /// `raw` with its placeholders replaced, form-encoded: `$C` the registered client's id,
    /// `$R` the sealed request of its consent page, `$X` that page's CSRF token, `$U` the
    /// client's redirect URI, `$P` a PKCE challenge and `$V` its verifier. The seeds use them so that the fuzzer
    /// starts from requests that pass the first checks.
    pub fn fill(&self, raw: &[u8]) -> Vec<u8> {
        let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let values = [
            (b'C', enc(&self.client_id)),
            (b'R', enc(&self.request)),
            (b'X', enc(&self.csrf)),
            (b'U', enc(REDIRECT_URI)),
            (b'P', CHALLENGE.to_owned()),
            (b'V', VERIFIER.to_owned()),
        ];
        let mut out = Vec::with_capacity(raw.len());
        let mut bytes = raw.iter().copied().peekable();
        while let Some(b) = bytes.next() {
            if b == b'$' {
                if let Some((_, value)) = bytes
                    .peek()
                    .and_then(|next| values.iter().find(|(k, _)| k == next))
                {
                    out.extend_from_slice(value.as_bytes());
                    bytes.next();
                    continue;
                }
            }
            out.push(b);
        }
        out
    }

    /// The CSRF cookie of the consent page, as a `Cookie` header.
    pub fn consent_cookie(&self) -> (&'static str, String) {
        ("cookie", self.csrf_cookie.clone())
    }

    /// Sends `req`; a client's input never makes the server fail (5xx).
    pub fn send(&self, req: test::TestRequest) -> (StatusCode, Vec<u8>) {
        let (status, body) = self.runtime.block_on((self.call)(req));
        assert!(
            !status.is_server_error(),
            "{status}: {}",
            String::from_utf8_lossy(&body)
        );
        (status, body)
    }
}

/// The S256 challenge of the verifier `fuzz-verifier-fuzz-verifier-fuzz-verifier-1`.
const CHALLENGE: &str = "LmyWEdbzzO3VlwcJyBVBRY5uJDiGQ2WV6VyuTFyMvSs";
const VERIFIER: &str = "fuzz-verifier-fuzz-verifier-fuzz-verifier-1";

fn header<B>(res: &ServiceResponse<B>, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header ({})", res.status()))
        .to_owned()
}

async fn answer<B: MessageBody>(res: ServiceResponse<B>) -> (StatusCode, Vec<u8>) {
    let status = res.status();
    let body = actix_web::body::to_bytes(res.into_body())
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    (status, body)
}

pub use actix_web::{
    http::{header::HeaderValue, Uri},
    test::TestRequest,
};

#[cfg(test)]
mod tests {
    use super::*;

    /// The jwt target's first finding, a false alarm of its own check: a token without `kid`
    /// is verified with the set's one key for its algorithm (as documented), and the check
    /// now looks for that key.
    #[::core::prelude::v1::test]
    fn a_token_without_kid_is_checked_against_the_one_key_for_its_algorithm() {
        let jwt = Jwt::new();
        let token = jwt.signed(
            0,
            br#"{"alg": "ES256", "typ": "JWT"}"#,
            br#"{"iss": "https://issuer.example", "aud": ["api", "x"], "sub": "u1", "exp": 1700000600, "nbf": 1699999000}"#,
        );
        assert!(
            jwt.verify(&token),
            "accepted, and what was accepted checks out"
        );
    }

    const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

    #[::core::prelude::v1::test]
    fn the_seeds_placeholders_get_past_the_client_request_and_csrf_checks() {
        let e = Endpoints::new();
        let authorize = e.fill(
            b"response_type=code&client_id=$C&redirect_uri=$U&code_challenge=$P\
              &code_challenge_method=S256&state=s",
        );
        let query = String::from_utf8(authorize).expect("ASCII");
        let (status, _) = e.send(TestRequest::get().uri(&format!("/authorize?{query}")));
        assert_eq!(status, StatusCode::SEE_OTHER, "to the consent page");
        let approve = TestRequest::post()
            .uri("/consent")
            .insert_header(FORM)
            .insert_header(e.consent_cookie())
            .set_payload(e.fill(b"csrf=$X&request=$R&action=approve"));
        assert_eq!(
            e.send(approve).0,
            StatusCode::SEE_OTHER,
            "approved, upstream"
        );
        let forged = TestRequest::post()
            .uri("/consent")
            .insert_header(FORM)
            .set_payload(e.fill(b"csrf=$X&request=$R&action=approve"));
        assert_eq!(
            e.send(forged).0,
            StatusCode::FORBIDDEN,
            "no cookie, no approval"
        );
        let token = TestRequest::post()
            .uri("/token")
            .insert_header(FORM)
            .set_payload(
                e.fill(b"grant_type=authorization_code&code=x&code_verifier=$V&client_id=$C"),
            );
        let (status, body) = e.send(token);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            String::from_utf8_lossy(&body).contains("invalid_grant"),
            "the client was authenticated and the code checked"
        );
    }
}

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

pub use crate::proxy::fuzzing::{params, redirect_uris, SealedValues};
use crate::{
    clock::ManualClock,
    http::ProviderMetadata,
    verify::{FnVerifier, VerifyError},
    JwksVerifier, OAuthProxy, ProxyKey, RequireAuth, TokenVerifier,
};

const ISS: &str = "https://issuer.example";
const AUD: &str = "api";
const NOW: u64 = 1_700_000_000;

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
        let public = |pair: &dyn KeyPair, kid: &str| {
            let mut jwk = pair.to_jwk_public_key();
            jwk.set_key_id(kid);
            Value::Object(jwk.into())
        };
        let jwks = json!({ "keys": [public(&rsa, "rsa"), public(&ec, "ec"), public(&ed, "ed")] })
            .to_string();
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
                // Whatever was accepted was signed by a key of the set for our issuer and
                // audience, and is within its lifetime.
                assert_eq!(claims.get_str("iss"), Some(ISS));
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
}

impl Default for Endpoints {
    fn default() -> Self {
        Self::new()
    }
}

impl Endpoints {
    /// The proxy with dynamic registration, an upstream nobody listens on (no input reaches
    /// it: every flow value must first open), and `/mcp` behind `RequireAuth` with a verifier
    /// that refuses every token.
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
        Self { runtime, call }
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

//! Shared by the `provider_*` tests: a scripted stand-in for a provider's API on 127.0.0.1:0
//! that records and counts what it receives, a manual clock, ES256 keys and tokens, and a
//! protected route to send tokens to.
#![allow(dead_code)] // each test file uses a part

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, OnceLock},
};

use actix_mcp_oauth::{AuthUser, RequireAuth};
use actix_web::{
    dev::ServerHandle, http::StatusCode, test, web, App, HttpRequest, HttpResponse, HttpServer,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use josekit::{
    jwk::{
        alg::ec::{EcCurve, EcKeyPair},
        KeyPair,
    },
    jws::{JwsSigner, ES256},
};
use serde_json::{json, Value};

pub const T0: u64 = 1_700_000_000;

pub use actix_mcp_oauth::ManualClock;

/// One canned answer: for requests to `path` whose `Authorization` header or body contains
/// `when` (any request when `None`). The latest matching rule wins.
#[derive(Clone)]
struct Rule {
    path: String,
    when: Option<String>,
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Script {
    rules: Vec<Rule>,
    seen: Vec<Seen>,
}

/// A provider's API on 127.0.0.1, answering from rules the test sets.
pub struct StandIn {
    pub addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    handle: ServerHandle,
}

impl StandIn {
    pub async fn start() -> Self {
        let script = Arc::new(Mutex::new(Script::default()));
        let shared = script.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::from(shared.clone()))
                .default_service(web::to(answer))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("bind");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Self {
            addr,
            script,
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers `path` with `status` and a JSON body, for requests carrying `when`.
    pub fn on(&self, path: &str, when: Option<&str>, status: u16, body: Value) {
        self.on_raw(
            path,
            when,
            status,
            &[("content-type", "application/json")],
            &body.to_string(),
        );
    }

    pub fn on_raw(
        &self,
        path: &str,
        when: Option<&str>,
        status: u16,
        headers: &[(&str, &str)],
        body: &str,
    ) {
        self.script.lock().unwrap().rules.push(Rule {
            path: path.into(),
            when: when.map(Into::into),
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            body: body.into(),
        });
    }

    /// How many requests reached `path`.
    pub fn count(&self, path: &str) -> usize {
        self.seen(path).len()
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        let script = self.script.lock().unwrap();
        script
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

async fn answer(
    req: HttpRequest,
    body: web::Bytes,
    script: web::Data<Mutex<Script>>,
) -> HttpResponse {
    let seen = Seen {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let mut script = script.lock().unwrap();
    let auth = seen.header("authorization").unwrap_or("").to_owned();
    let rule = script
        .rules
        .iter()
        .rev()
        .find(|r| {
            r.path == seen.path
                && r.when
                    .as_deref()
                    .is_none_or(|w| auth.contains(w) || seen.body.contains(w))
        })
        .cloned();
    script.seen.push(seen);
    match rule {
        Some(rule) => {
            let mut res = HttpResponse::build(StatusCode::from_u16(rule.status).unwrap());
            for (k, v) in &rule.headers {
                res.insert_header((k.as_str(), v.as_str()));
            }
            res.body(rule.body)
        }
        None => HttpResponse::NotFound().json(json!({"error": "no rule"})),
    }
}

/// What the protected route answered: the status, and the user as JSON on success.
pub struct Outcome {
    pub status: StatusCode,
    pub user: Value,
    pub challenge: Option<String>,
}

/// Sends `token` to a route behind `auth` and returns what it answered. The app is built for
/// each call; the token cache lives in `auth` and so persists across calls.
pub async fn call(auth: &RequireAuth, token: &str) -> Outcome {
    let app = test::init_service(
        App::new().service(
            web::scope("/mcp")
                .wrap(auth.clone())
                .route("/whoami", web::get().to(whoami)),
        ),
    )
    .await;
    let req = test::TestRequest::get()
        .uri("/mcp/whoami")
        .insert_header(("authorization", format!("Bearer {token}")))
        .to_request();
    let res = test::call_service(&app, req).await;
    let status = res.status();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = test::read_body(res).await;
    let user = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Outcome {
        status,
        user,
        challenge,
    }
}

async fn whoami(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "user_id": user.user_id,
        "email": user.email,
        "name": user.name,
        "picture": user.picture,
        "username": user.username,
        "scopes": user.scopes,
        "permissions": user.permissions,
        "roles": user.roles,
        "claims": user.claims().as_map(),
    }))
}

/// An ES256 key whose public half the stand-ins publish.
pub struct Key {
    pair: EcKeyPair,
    pub kid: String,
}

impl Key {
    pub fn new(kid: &str) -> Self {
        Self {
            pair: EcKeyPair::generate(EcCurve::P256).expect("ec key"),
            kid: kid.into(),
        }
    }

    pub fn jwk(&self) -> Value {
        let mut jwk = self.pair.to_jwk_public_key();
        jwk.set_key_id(&self.kid);
        jwk.set_algorithm("ES256");
        Value::Object(jwk.into())
    }

    /// A compact JWS of `payload`, `typ` as given.
    pub fn sign(&self, payload: &Value) -> String {
        let header = json!({"alg": "ES256", "kid": self.kid, "typ": "JWT"});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        let signer = ES256
            .signer_from_jwk(&self.pair.to_jwk_private_key())
            .expect("signer");
        let signature = signer.sign(input.as_bytes()).expect("sign");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// A JWKS document of `keys`.
pub fn jwks(keys: &[&Key]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
}

/// One key shared by the tests of a file (generation is cheap for EC, but stable kids help).
pub fn shared_key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| Key::new("k1"))
}

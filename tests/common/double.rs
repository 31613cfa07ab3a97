//! A stand-in for whatever the code under test calls over HTTP (a key set, an introspection or
//! user API, an identity provider): a server on 127.0.0.1:0 that answers from rules the test
//! sets and records every request, so a test can count and inspect what reached it.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use actix_web::{
    dev::ServerHandle,
    http::StatusCode,
    web::{self, Bytes},
    App, HttpRequest, HttpResponse, HttpServer,
};
use serde_json::{json, Value};

/// Stands for every path, in a rule and in [`Double::count`].
pub const ANY_PATH: &str = "*";

/// An answer of the double.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Answer only after this long (the request is recorded at once).
    pub delay: Option<Duration>,
    /// Send the body in chunks, without `Content-Length`.
    pub chunked: bool,
}

impl Reply {
    pub fn new(status: u16, headers: &[(&str, &str)], body: &str) -> Self {
        Self {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            body: body.into(),
            delay: None,
            chunked: false,
        }
    }

    pub fn json(status: u16, body: &Value) -> Self {
        Self::new(
            status,
            &[("content-type", "application/json")],
            &body.to_string(),
        )
    }
}

/// One request the double received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query, as requested.
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Respond = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

struct Rule {
    path: String,
    when: Option<String>,
    respond: Respond,
}

impl Rule {
    fn matches(&self, seen: &Seen) -> bool {
        (self.path == ANY_PATH || self.path == seen.path())
            && self.when.as_deref().is_none_or(|w| {
                seen.header("authorization").unwrap_or("").contains(w) || seen.body.contains(w)
            })
    }
}

#[derive(Default)]
struct Script {
    rules: Vec<Rule>,
    seen: Vec<Seen>,
}

pub struct Double {
    base: String,
    script: Arc<Mutex<Script>>,
    handle: ServerHandle,
}

impl Double {
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
        .shutdown_timeout(0)
        .bind(("127.0.0.1", 0))
        .expect("bind");
        let base = format!("http://{}", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Self {
            base,
            script,
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answers requests to `path` with `reply`; with `when`, only those whose `Authorization`
    /// header or body contains it. The latest matching rule wins, so a test can change an
    /// answer by adding a rule.
    pub fn on(&self, path: &str, when: Option<&str>, reply: Reply) {
        self.on_fn(path, when, move |_| reply.clone());
    }

    /// Like [`Double::on`], with an answer made from the request.
    pub fn on_fn(
        &self,
        path: &str,
        when: Option<&str>,
        respond: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) {
        self.script.lock().unwrap().rules.push(Rule {
            path: path.into(),
            when: when.map(Into::into),
            respond: Arc::new(respond),
        });
    }

    /// The requests that reached `path` ([`ANY_PATH`]: all of them), in order, answered or not.
    pub fn seen(&self, path: &str) -> Vec<Seen> {
        let script = self.script.lock().unwrap();
        script
            .seen
            .iter()
            .filter(|s| path == ANY_PATH || s.path() == path)
            .cloned()
            .collect()
    }

    pub fn count(&self, path: &str) -> usize {
        self.seen(path).len()
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

async fn answer(req: HttpRequest, body: Bytes, script: web::Data<Mutex<Script>>) -> HttpResponse {
    let seen = Seen {
        method: req.method().to_string(),
        uri: req.uri().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let respond = {
        let mut script = script.lock().unwrap();
        let respond = script
            .rules
            .iter()
            .rev()
            .find(|r| r.matches(&seen))
            .map(|r| r.respond.clone());
        script.seen.push(seen.clone());
        respond
    };
    let Some(respond) = respond else {
        return HttpResponse::NotFound().json(json!({"error": "no rule"}));
    };
    let reply = respond(&seen);
    if let Some(delay) = reply.delay {
        actix_rt::time::sleep(delay).await;
    }
    let mut res = HttpResponse::build(StatusCode::from_u16(reply.status).unwrap());
    for (k, v) in &reply.headers {
        res.insert_header((k.as_str(), v.as_str()));
    }
    if reply.chunked {
        let chunks: Vec<Result<Bytes, Infallible>> = reply
            .body
            .into_bytes()
            .chunks(512)
            .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
            .collect();
        res.streaming(futures::stream::iter(chunks))
    } else {
        res.body(reply.body)
    }
}

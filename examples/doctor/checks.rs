//! The doctor's checks: what an MCP client reads before it signs in, fetched the way clients
//! fetch it, and every place where a deployment answers differently from what they expect.
//!
//! 1. A POST to the MCP URL without a token: a 401 whose `WWW-Authenticate: Bearer` carries an
//!    absolute `resource_metadata` URL (the first thing the MCP SDKs, Claude and VS Code read).
//! 2. The protected-resource metadata (RFC 9728) at that URL, at the path-inserted well-known
//!    and at the root well-known (the SDK's fallbacks): `resource` equal to the MCP URL, byte
//!    for byte, and `authorization_servers`.
//! 3. The authorization-server metadata at every location the 2025-11-25 discovery order tries
//!    (RFC 8414 path-inserted, OpenID path-inserted, OpenID path-appended; without a path in the
//!    issuer, the two root well-knowns): the `issuer` exactly the URL it was derived from, S256,
//!    `none` among the token endpoint methods, and a way for clients to register.
//! 4. CORS on the browser-facing endpoints: browser-based clients read the metadata and the
//!    401 from another origin.

use std::time::Duration;

use awc::Client;
use serde_json::Value;
use url::Url;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Worth knowing; clients still work.
    Warn,
    /// A client will fail, or sign in to the wrong place.
    Fail,
}

/// One row of the report.
#[derive(Debug, Clone)]
pub struct Check {
    pub status: Status,
    pub name: String,
    pub detail: String,
}

/// The report: every row, in the order they were checked.
#[derive(Debug, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    fn add(&mut self, status: Status, name: impl Into<String>, detail: impl Into<String>) {
        self.checks.push(Check {
            status,
            name: name.into(),
            detail: detail.into(),
        });
    }

    fn check(&mut self, ok: bool, name: &str, good: impl Into<String>, bad: impl Into<String>) {
        if ok {
            self.add(Status::Ok, name, good);
        } else {
            self.add(Status::Fail, name, bad);
        }
    }

    /// The failed checks.
    pub fn problems(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count()
    }

    /// The report as a table.
    pub fn table(&self) -> String {
        let width = self
            .checks
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut out = format!("{:<6} {:<width$}  {}\n", "", "check", "detail");
        for c in &self.checks {
            let status = match c.status {
                Status::Ok => "ok",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            out.push_str(&format!("{status:<6} {:<width$}  {}\n", c.name, c.detail));
        }
        out.push_str(&format!(
            "\n{} checks, {} problems\n",
            self.checks.len(),
            self.problems()
        ));
        out
    }
}

/// An origin that is none of the server's: what a browser-based client sends.
const ORIGIN: &str = "https://client.doctor.invalid";

fn client() -> Client {
    Client::builder()
        .disable_redirects()
        .timeout(Duration::from_secs(10))
        .finish()
}

/// An answer, read whole (bounded).
struct Got {
    status: u16,
    headers: actix_web::http::header::HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    fn cors(&self) -> bool {
        self.header("access-control-allow-origin").is_some()
    }
}

async fn get(url: &str) -> Result<Got, String> {
    let req = client()
        .get(url)
        .insert_header(("accept", "application/json"))
        .insert_header(("origin", ORIGIN));
    read(req.send().await.map_err(|e| e.to_string())?).await
}

async fn read(
    mut res: awc::ClientResponse<
        impl futures::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>> + Unpin,
    >,
) -> Result<Got, String> {
    let body = res
        .body()
        .limit(256 * 1024)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Got {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: body.to_vec(),
    })
}

/// http is accepted only on loopback hosts: for a server under test on this machine.
fn usable(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")),
        _ => false,
    }
}

/// `/.well-known/{name}` inserted before the path of `url` (RFC 8414 §3, RFC 9728 §3).
fn path_inserted(url: &Url, name: &str) -> String {
    let path = url.path().trim_end_matches('/');
    format!(
        "{}/.well-known/{name}{path}",
        url.origin().ascii_serialization()
    )
}

/// The `resource_metadata` parameter of a Bearer challenge.
fn resource_metadata(challenge: &str) -> Option<String> {
    let at = challenge.find("resource_metadata=\"")? + "resource_metadata=\"".len();
    let len = challenge[at..].find('"')?;
    Some(challenge[at..at + len].to_owned())
}

/// Runs every check against the MCP endpoint at `mcp_url`.
pub async fn run(mcp_url: &str) -> Report {
    let mut r = Report::default();
    let url = match Url::parse(mcp_url) {
        Ok(url) if usable(&url) => url,
        Ok(_) => {
            r.add(
                Status::Fail,
                "MCP URL",
                "https is required (http only on loopback)",
            );
            return r;
        }
        Err(e) => {
            r.add(Status::Fail, "MCP URL", format!("not a URL: {e}"));
            return r;
        }
    };
    let prm_url = challenge(&mut r, &url).await;
    let Some(servers) = resource_metadata_documents(&mut r, &url, prm_url).await else {
        return r;
    };
    match servers.first() {
        Some(issuer) => authorization_server(&mut r, issuer).await,
        None => r.add(
            Status::Fail,
            "authorization_servers",
            "the protected-resource metadata names no authorization server",
        ),
    }
    r
}

/// Step 1: the 401 and its challenge; the `resource_metadata` URL when there is a usable one.
async fn challenge(r: &mut Report, url: &Url) -> Option<String> {
    let req = client()
        .post(url.as_str())
        .insert_header(("content-type", "application/json"))
        .insert_header(("accept", "application/json, text/event-stream"))
        .insert_header(("origin", ORIGIN));
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"doctor","version":"1"}}}"#;
    let got = match req.send_body(body).await {
        Ok(res) => read(res).await,
        Err(e) => Err(e.to_string()),
    };
    let got = match got {
        Ok(got) => got,
        Err(e) => {
            r.add(
                Status::Fail,
                "401 without a token",
                format!("no answer: {e}"),
            );
            return None;
        }
    };
    r.check(
        got.status == 401,
        "401 without a token",
        "401",
        format!("answered {} instead", got.status),
    );
    r.check(
        got.cors(),
        "CORS on the MCP endpoint",
        "Access-Control-Allow-Origin set",
        "no Access-Control-Allow-Origin: browser-based clients cannot read the 401",
    );
    let header = got
        .header("www-authenticate")
        .unwrap_or_default()
        .to_owned();
    r.check(
        header.len() >= 6 && header[..6].eq_ignore_ascii_case("bearer"),
        "Bearer challenge",
        "WWW-Authenticate: Bearer",
        format!("WWW-Authenticate is {header:?}"),
    );
    let Some(metadata) = resource_metadata(&header) else {
        r.add(
            Status::Warn,
            "resource_metadata",
            "the challenge has no resource_metadata: clients fall back to the well-known URLs",
        );
        return None;
    };
    match Url::parse(&metadata) {
        Ok(abs) if usable(&abs) => {
            r.add(Status::Ok, "resource_metadata", metadata.clone());
            Some(metadata)
        }
        Ok(_) => {
            r.add(
                Status::Fail,
                "resource_metadata",
                format!("{metadata} is not https"),
            );
            None
        }
        Err(_) => {
            r.add(
                Status::Fail,
                "resource_metadata",
                format!("{metadata:?} is relative: RFC 9728 wants an absolute URL"),
            );
            None
        }
    }
}

/// Step 2: the protected-resource metadata wherever clients look; the authorization servers.
async fn resource_metadata_documents(
    r: &mut Report,
    url: &Url,
    from_challenge: Option<String>,
) -> Option<Vec<String>> {
    let mut locations = Vec::new();
    if let Some(u) = from_challenge {
        locations.push(("PRM (from the challenge)", u));
    }
    locations.push((
        "PRM (path-inserted well-known)",
        path_inserted(url, "oauth-protected-resource"),
    ));
    locations.push((
        "PRM (root well-known)",
        format!(
            "{}/.well-known/oauth-protected-resource",
            url.origin().ascii_serialization()
        ),
    ));
    let mut servers = None;
    for (name, location) in locations {
        let doc = match get(&location).await {
            Ok(got) if got.status == 200 => {
                r.check(
                    got.cors(),
                    &format!("CORS on {name}"),
                    "Access-Control-Allow-Origin set",
                    "no Access-Control-Allow-Origin: browser-based clients cannot read it",
                );
                got.json()
            }
            Ok(got) => {
                r.add(
                    Status::Warn,
                    name,
                    format!("{location}: HTTP {}", got.status),
                );
                continue;
            }
            Err(e) => {
                r.add(Status::Warn, name, format!("{location}: {e}"));
                continue;
            }
        };
        let Some(doc) = doc else {
            r.add(Status::Fail, name, format!("{location}: not JSON"));
            continue;
        };
        let resource = doc["resource"].as_str().unwrap_or_default();
        r.check(
            resource == url.as_str(),
            name,
            format!("resource = {resource}"),
            format!("resource is {resource:?}, not the MCP URL {url} (clients compare exactly)"),
        );
        if servers.is_none() {
            servers = doc["authorization_servers"].as_array().map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            });
        }
    }
    if servers.is_none() {
        r.add(
            Status::Fail,
            "protected-resource metadata",
            "found at none of the locations clients try",
        );
    }
    servers
}

/// Step 3: the authorization-server metadata at every location of the discovery order.
async fn authorization_server(r: &mut Report, issuer: &str) {
    let Ok(url) = Url::parse(issuer) else {
        r.add(Status::Fail, "issuer", format!("{issuer:?} is not a URL"));
        return;
    };
    let origin = url.origin().ascii_serialization();
    let has_path = url.path() != "/";
    let locations = if has_path {
        vec![
            path_inserted(&url, "oauth-authorization-server"),
            path_inserted(&url, "openid-configuration"),
            format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            ),
        ]
    } else {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ]
    };
    let mut found = None;
    for location in locations {
        let name = format!("AS metadata {}", &location[origin.len()..]);
        match get(&location).await {
            Ok(got) if got.status == 200 => match got.json() {
                Some(doc) => {
                    let got_issuer = doc["issuer"].as_str().unwrap_or_default();
                    r.check(
                        got_issuer == issuer,
                        &name,
                        format!("issuer = {got_issuer}"),
                        format!(
                            "issuer is {got_issuer:?}, but clients derived {issuer:?} (compared exactly)"
                        ),
                    );
                    r.check(
                        got.cors(),
                        &format!("CORS on {name}"),
                        "Access-Control-Allow-Origin set",
                        "no Access-Control-Allow-Origin: browser-based clients cannot read it",
                    );
                    found.get_or_insert(doc);
                }
                None => r.add(Status::Fail, name, "not JSON"),
            },
            Ok(got) => r.add(Status::Warn, name, format!("HTTP {}", got.status)),
            Err(e) => r.add(Status::Warn, name, e),
        }
    }
    let Some(doc) = found else {
        r.add(
            Status::Fail,
            "authorization-server metadata",
            "found at none of the locations clients try",
        );
        return;
    };
    let listed = |field: &str, value: &str| {
        doc[field]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(value)))
    };
    r.check(
        listed("code_challenge_methods_supported", "S256"),
        "PKCE S256",
        "code_challenge_methods_supported has S256",
        "S256 is not in code_challenge_methods_supported: MCP clients refuse the server",
    );
    r.check(
        listed("token_endpoint_auth_methods_supported", "none"),
        "public clients",
        "token_endpoint_auth_methods_supported has none",
        "`none` is not in token_endpoint_auth_methods_supported: public clients cannot use /token",
    );
    let registration = doc["registration_endpoint"].is_string();
    let documents = doc["client_id_metadata_document_supported"] == Value::Bool(true);
    r.check(
        registration || documents,
        "client registration",
        match (registration, documents) {
            (true, true) => "metadata documents and dynamic registration",
            (false, true) => "metadata documents",
            _ => "dynamic registration (no metadata documents: Goose cannot sign in)",
        },
        "neither a registration_endpoint nor client_id_metadata_document_supported",
    );
}

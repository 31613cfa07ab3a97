//! `examples/doctor`: its checks pass against a proxy in front of an MCP endpoint set up as the
//! README says and against the example server itself (`examples/mcp_server.rs` in front of the
//! e2e suite's local provider), and name each problem of a deliberately misconfigured server.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use actix_mcp_oauth::clock::ManualClock;
use actix_web::{dev::ServerHandle, web, App, HttpResponse, HttpServer};
use serde_json::json;

use crate::fixtures::*;

#[path = "../../examples/doctor/checks.rs"]
mod checks;
use checks::{Check, Report, Status};

use crate::fixtures::node;

/// The check named `name`, if it ran.
fn find<'a>(report: &'a Report, name: &str) -> Option<&'a Check> {
    report.checks.iter().find(|c| c.name == name)
}

/// Binds 127.0.0.1:0 first, so that the public URL can name the port.
fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

fn start<F, T>(listener: TcpListener, factory: F) -> ServerHandle
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
{
    let server = HttpServer::new(factory)
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    handle
}

#[actix_web::test]
async fn the_doctor_finds_nothing_wrong_with_the_proxy_in_front_of_an_mcp_endpoint() {
    let up = Upstream::start().await;
    let (listener, public_url) = listener();
    let proxy = up
        .proxy(&key(1), ManualClock::at(T0))
        .public_url(&public_url)
        .build()
        .unwrap();
    let handle = start(listener, move || {
        App::new().service(proxy.scope()).service(
            web::scope("/mcp")
                .wrap(proxy.require_auth())
                .wrap(proxy.cors())
                .route("", web::post().to(HttpResponse::Ok)),
        )
    });
    let report = checks::run(&format!("{public_url}/mcp")).await;
    let table = report.table();
    assert_eq!(report.problems(), 0, "{table}");
    for name in [
        "401 without a token",
        "CORS preflight on the MCP endpoint",
        "resource_metadata",
        "PRM (path-inserted well-known)",
        "AS metadata /.well-known/oauth-authorization-server",
        "AS metadata /.well-known/openid-configuration",
        "PKCE S256",
        "public clients",
        "client registration",
    ] {
        let check = find(&report, name).unwrap_or_else(|| panic!("no {name} in\n{table}"));
        assert_eq!(check.status, Status::Ok, "{table}");
    }
    handle.stop(false).await;
    up.stop().await;
}

#[actix_web::test]
async fn the_doctor_names_every_problem_of_a_misconfigured_server() {
    let (listener, base) = listener();
    let b = base.clone();
    // Everything clients trip over, at once: a relative resource_metadata, a resource with a
    // trailing slash, an issuer with a trailing slash, no S256, no `none`, no registration,
    // and no CORS anywhere.
    let handle = start(listener, move || {
        let b = b.clone();
        let (b1, b2) = (b.clone(), b.clone());
        App::new()
            .route(
                "/mcp",
                web::post().to(|| async {
                    HttpResponse::Unauthorized()
                        .insert_header((
                            "www-authenticate",
                            "Bearer resource_metadata=\"/.well-known/oauth-protected-resource\"",
                        ))
                        .finish()
                }),
            )
            .route(
                "/.well-known/oauth-protected-resource/mcp",
                web::get().to(move || {
                    let b = b1.clone();
                    async move {
                        HttpResponse::Ok().json(json!({
                            "resource": format!("{b}/mcp/"),
                            "authorization_servers": [b],
                        }))
                    }
                }),
            )
            .route(
                "/.well-known/oauth-authorization-server",
                web::get().to(move || {
                    let b = b2.clone();
                    async move {
                        HttpResponse::Ok().json(json!({
                            "issuer": format!("{b}/"),
                            "authorization_endpoint": format!("{b}/authorize"),
                            "token_endpoint": format!("{b}/token"),
                            "code_challenge_methods_supported": ["plain"],
                            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                        }))
                    }
                }),
            )
    });
    let report = checks::run(&format!("{base}/mcp")).await;
    let table = report.table();
    let failed = |name: &str| {
        let check = find(&report, name).unwrap_or_else(|| panic!("no {name} in\n{table}"));
        assert_eq!(check.status, Status::Fail, "{name}\n{table}");
    };
    failed("resource_metadata");
    failed("CORS on the MCP endpoint");
    failed("CORS preflight on the MCP endpoint");
    failed("PRM (path-inserted well-known)");
    failed("CORS on PRM (path-inserted well-known)");
    failed("AS metadata /.well-known/oauth-authorization-server");
    failed("PKCE S256");
    failed("public clients");
    failed("client registration");
    // The OpenID location is not served: a warning (clients try the RFC 8414 one first).
    let openid = find(&report, "AS metadata /.well-known/openid-configuration")
        .unwrap_or_else(|| panic!("no OpenID location in\n{table}"));
    assert_eq!(openid.status, Status::Warn, "{table}");
    assert!(report.problems() >= 9, "{table}");
    // An https-only rule, and http for loopback only.
    let remote = checks::run("http://mcp.example.com/mcp").await;
    assert_eq!(find(&remote, "MCP URL").unwrap().status, Status::Fail);
    handle.stop(false).await;
}

/// The example server's binary, built next to this test's by `cargo test --all-targets`.
fn example_server() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("examples/mcp_server");
    bin.is_file().then_some(bin)
}

/// The example server, stopped when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_web::test]
async fn the_doctor_finds_nothing_wrong_with_the_example_server() {
    if let Some(why) = node::missing() {
        eprintln!("skipped: {why}");
        return;
    }
    let Some(bin) = example_server() else {
        eprintln!(
            "skipped: examples/mcp_server is not built (cargo test --all-targets --all-features)"
        );
        return;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let public_url = format!("http://127.0.0.1:{port}");
    let (client_id, secret) = ("doctor-client", "doctor-secret-0123456789");
    let provider = node::OidcProvider::start(client_id, secret, &[("PUBLIC_URL", &public_url)]);
    let _server = Running(
        Command::new(bin)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("UPSTREAM_ISSUER", &provider.issuer)
            .env("UPSTREAM_CLIENT_ID", client_id)
            .env("UPSTREAM_CLIENT_SECRET", secret)
            .env("UPSTREAM_AUDIENCE", client_id)
            .env("PORT", port.to_string())
            .env("PUBLIC_URL", &public_url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("the example server starts"),
    );
    let started = Instant::now();
    let client = awc::Client::default();
    while !client
        .get(format!("{public_url}/"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the example server did not answer on / within 30 s"
        );
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    }
    let report = checks::run(&format!("{public_url}/mcp")).await;
    let table = report.table();
    assert_eq!(report.problems(), 0, "{table}");
    for name in [
        "401 without a token",
        "CORS on the MCP endpoint",
        "CORS preflight on the MCP endpoint",
        "resource_metadata",
        "PRM (path-inserted well-known)",
        "AS metadata /.well-known/oauth-authorization-server",
        "AS metadata /.well-known/openid-configuration",
        "PKCE S256",
        "public clients",
    ] {
        let check = find(&report, name).unwrap_or_else(|| panic!("no {name} in\n{table}"));
        assert_eq!(check.status, Status::Ok, "{name}\n{table}");
    }
}

#[actix_web::test]
async fn the_doctor_tries_every_location_of_an_issuer_with_a_path_and_compares_each_issuer() {
    let (listener, base) = listener();
    let b = base.clone();
    // The issuer `{base}/tenant`: right at the RFC 8414 location, drifted (a trailing slash) at
    // the OpenID path-inserted one, and missing at the OpenID path-appended one.
    let handle = start(listener, move || {
        let b = b.clone();
        let (b1, b2, b3) = (b.clone(), b.clone(), b.clone());
        let metadata = |b: &str, issuer: String| {
            json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{b}/tenant/authorize"),
                "token_endpoint": format!("{b}/tenant/token"),
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["none"],
                "client_id_metadata_document_supported": true,
            })
        };
        App::new()
            .route(
                "/mcp",
                web::post().to(move || {
                    let b = b1.clone();
                    async move {
                        HttpResponse::Unauthorized()
                            .insert_header((
                                "www-authenticate",
                                format!(
                                    "Bearer resource_metadata=\"{b}/.well-known/oauth-protected-resource/mcp\""
                                ),
                            ))
                            .finish()
                    }
                }),
            )
            .route(
                "/.well-known/oauth-protected-resource/mcp",
                web::get().to(move || {
                    let b = b2.clone();
                    async move {
                        HttpResponse::Ok().json(json!({
                            "resource": format!("{b}/mcp"),
                            "authorization_servers": [format!("{b}/tenant")],
                        }))
                    }
                }),
            )
            .route(
                "/.well-known/oauth-authorization-server/tenant",
                web::get().to(move || {
                    let b = b3.clone();
                    let doc = metadata(&b, format!("{b}/tenant"));
                    async move { HttpResponse::Ok().json(doc) }
                }),
            )
            .route(
                "/.well-known/openid-configuration/tenant",
                web::get().to(move || {
                    let doc = metadata(&b, format!("{b}/tenant/"));
                    async move { HttpResponse::Ok().json(doc) }
                }),
            )
    });
    let report = checks::run(&format!("{base}/mcp")).await;
    let table = report.table();
    let status = |name: &str| {
        find(&report, name)
            .unwrap_or_else(|| panic!("no {name} in\n{table}"))
            .status
    };
    assert_eq!(
        status("AS metadata /.well-known/oauth-authorization-server/tenant"),
        Status::Ok,
        "{table}"
    );
    assert_eq!(
        status("AS metadata /.well-known/openid-configuration/tenant"),
        Status::Fail,
        "issuer drift: {table}"
    );
    assert_eq!(
        status("AS metadata /tenant/.well-known/openid-configuration"),
        Status::Warn,
        "{table}"
    );
    // The root locations are not where an issuer with a path is looked up.
    assert!(
        find(
            &report,
            "AS metadata /.well-known/oauth-authorization-server"
        )
        .is_none(),
        "{table}"
    );
    assert_eq!(status("PKCE S256"), Status::Ok, "{table}");
    handle.stop(false).await;
}

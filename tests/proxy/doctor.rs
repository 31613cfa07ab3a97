//! `examples/doctor`: its checks pass against a proxy in front of an MCP endpoint set up as the
//! README says, and name each problem of a deliberately misconfigured server.

use std::net::TcpListener;

use actix_mcp_oauth::clock::ManualClock;
use actix_web::{dev::ServerHandle, web, App, HttpResponse, HttpServer};
use serde_json::json;

use crate::fixtures::*;

#[path = "../../examples/doctor/checks.rs"]
mod checks;
use checks::{Check, Report, Status};

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
    failed("PRM (path-inserted well-known)");
    failed("CORS on PRM (path-inserted well-known)");
    failed("AS metadata /.well-known/oauth-authorization-server");
    failed("PKCE S256");
    failed("public clients");
    failed("client registration");
    assert!(report.problems() >= 8, "{table}");
    // An https-only rule, and http for loopback only.
    let remote = checks::run("http://mcp.example.com/mcp").await;
    assert_eq!(find(&remote, "MCP URL").unwrap().status, Status::Fail);
    handle.stop(false).await;
}

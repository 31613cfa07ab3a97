//! `ProviderMetadata::discover` against a provider on 127.0.0.1 that logs every path asked
//! for: the two locations and their order, the exact-issuer rule, size limits, redirects, and
//! the two builders made from one document.

use std::sync::{Arc, Mutex, OnceLock};

use actix_mcp_oauth::{http::ProviderMetadata, ConfigError, JwksVerifier, OAuthProxy};
use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

/// The largest document `discover` reads is 256 KiB; these are larger.
const OVERSIZE: usize = 300 * 1024;

#[derive(Default)]
struct Provider {
    base: OnceLock<String>,
    asked: Mutex<Vec<String>>,
}

impl Provider {
    fn base(&self) -> &str {
        self.base.get().expect("started")
    }

    /// The paths asked for since the last call.
    fn asked(&self) -> Vec<String> {
        std::mem::take(&mut *self.asked.lock().unwrap())
    }

    fn document(&self, issuer: &str) -> Value {
        let base = self.base();
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "revocation_endpoint": format!("{base}/revoke"),
            "jwks_uri": format!("{base}/jwks"),
            "response_types_supported": ["code"],
            "scopes_supported": ["openid", "email"],
        })
    }
}

async fn serve(req: HttpRequest, provider: web::Data<Provider>) -> HttpResponse {
    let path = req.path().to_owned();
    provider.asked.lock().unwrap().push(path.clone());
    let base = provider.base().to_owned();
    let huge = || {
        let mut doc = provider.document(&format!("{base}/huge"));
        doc["padding"] = Value::String("x".repeat(OVERSIZE));
        doc.to_string()
    };
    match path.as_str() {
        "/.well-known/openid-configuration" => HttpResponse::Ok().json(provider.document(&base)),
        // RFC 8414 only, under a path.
        "/.well-known/oauth-authorization-server/tenant" => {
            HttpResponse::Ok().json(provider.document(&format!("{base}/tenant")))
        }
        // Opaque tokens: no key set.
        "/opaque/.well-known/openid-configuration" => {
            let mut doc = provider.document(&format!("{base}/opaque"));
            doc.as_object_mut().unwrap().remove("jwks_uri");
            HttpResponse::Ok().json(doc)
        }
        // Documents naming another issuer, and one that differs only by a trailing slash.
        "/liar/.well-known/openid-configuration" => {
            HttpResponse::Ok().json(provider.document("https://someone-else.test"))
        }
        "/.well-known/oauth-authorization-server/liar" => {
            HttpResponse::Ok().json(provider.document(&format!("{base}/liar/")))
        }
        // Too large: announced in Content-Length at one location, streamed at the other.
        "/huge/.well-known/openid-configuration" => HttpResponse::Ok()
            .content_type("application/json")
            .body(huge()),
        "/.well-known/oauth-authorization-server/huge" => {
            let chunks: Vec<Result<Bytes, std::convert::Infallible>> = huge()
                .into_bytes()
                .chunks(4096)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            HttpResponse::Ok()
                .content_type("application/json")
                .streaming(futures::stream::iter(chunks))
        }
        // Both locations redirect to a document that would match.
        "/moved/.well-known/openid-configuration" => HttpResponse::Found()
            .insert_header((header::LOCATION, format!("{base}/target")))
            .finish(),
        "/.well-known/oauth-authorization-server/moved" => HttpResponse::TemporaryRedirect()
            .insert_header((header::LOCATION, format!("{base}/target")))
            .finish(),
        "/target" => HttpResponse::Ok().json(provider.document(&format!("{base}/moved"))),
        _ => HttpResponse::NotFound().finish(),
    }
}

async fn start() -> (Arc<Provider>, ServerHandle) {
    let provider = Arc::new(Provider::default());
    let data = web::Data::from(Arc::clone(&provider));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(serve))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(0)
    .bind(("127.0.0.1", 0))
    .expect("bind");
    let base = format!("http://{}", server.addrs()[0]);
    provider.base.set(base).expect("base set once");
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    (provider, handle)
}

fn discovery_error(err: ConfigError) -> String {
    match err {
        ConfigError::Discovery(reason) => reason,
        other => panic!("expected a discovery error, got {other:?}"),
    }
}

#[actix_rt::test]
async fn the_openid_configuration_is_read_once_and_feeds_both_builders() {
    let (provider, server) = start().await;
    let base = provider.base().to_owned();

    let meta = ProviderMetadata::discover(&base).await.unwrap();
    assert_eq!(provider.asked(), ["/.well-known/openid-configuration"]);
    assert_eq!(meta.issuer(), base);
    assert_eq!(
        meta.authorization_endpoint(),
        Some(&*format!("{base}/authorize"))
    );
    assert_eq!(meta.token_endpoint(), Some(&*format!("{base}/token")));
    assert_eq!(meta.revocation_endpoint(), Some(&*format!("{base}/revoke")));
    assert_eq!(meta.jwks_uri(), Some(&*format!("{base}/jwks")));
    assert_eq!(meta.introspection_endpoint(), None);
    assert_eq!(meta.scopes_supported(), ["openid", "email"]);

    let verifier = JwksVerifier::from_metadata(&meta).unwrap().build().unwrap();
    let shown = format!("{verifier:?}");
    assert!(shown.contains(&format!("{base}/jwks")), "{shown}");
    assert!(shown.contains(&format!("issuer: {base:?}")), "{shown}");

    let proxy = OAuthProxy::from_metadata(&meta)
        .public_url("https://mcp.example.test")
        .client_id("id")
        .verifier(verifier)
        .build()
        .unwrap();
    let app = actix_web::test::init_service(App::new().service(proxy.scope())).await;
    let req = actix_web::test::TestRequest::get()
        .uri("/.well-known/oauth-authorization-server")
        .to_request();
    let doc: Value = actix_web::test::call_and_read_body_json(&app, req).await;
    assert_eq!(
        doc["revocation_endpoint"], "https://mcp.example.test/revoke",
        "the upstream's revocation endpoint was taken"
    );
    assert!(provider.asked().is_empty(), "nothing fetched a second time");
    server.stop(false).await;
}

#[actix_rt::test]
async fn without_an_openid_configuration_the_rfc8414_location_is_used() {
    let (provider, server) = start().await;
    let tenant = format!("{}/tenant", provider.base());
    let meta = ProviderMetadata::discover(&tenant).await.unwrap();
    assert_eq!(meta.issuer(), tenant);
    assert_eq!(
        provider.asked(),
        [
            "/tenant/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server/tenant",
        ]
    );
    server.stop(false).await;
}

#[actix_rt::test]
async fn a_document_naming_another_issuer_is_not_used_even_by_a_trailing_slash() {
    let (provider, server) = start().await;
    let base = provider.base().to_owned();
    let reason = discovery_error(
        ProviderMetadata::discover(&format!("{base}/liar"))
            .await
            .unwrap_err(),
    );
    assert!(reason.contains("\"https://someone-else.test\""), "{reason}");
    assert!(reason.contains(&format!("\"{base}/liar/\"")), "{reason}");
    assert_eq!(provider.asked().len(), 2, "both locations were tried");

    // The issuer asked for is compared as given: its own trailing slash counts too.
    let reason = discovery_error(
        ProviderMetadata::discover(&format!("{base}/"))
            .await
            .unwrap_err(),
    );
    assert!(reason.contains("names the issuer"), "{reason}");
    server.stop(false).await;
}

#[actix_rt::test]
async fn the_verifier_needs_a_jwks_uri_and_the_proxy_does_not() {
    let (provider, server) = start().await;
    let opaque = format!("{}/opaque", provider.base());
    let meta = ProviderMetadata::discover(&opaque).await.unwrap();
    assert_eq!(meta.jwks_uri(), None);
    let reason = discovery_error(JwksVerifier::from_metadata(&meta).unwrap_err());
    assert!(reason.contains("jwks_uri"), "{reason}");
    let reason = discovery_error(JwksVerifier::from_discovery(opaque).await.unwrap_err());
    assert!(reason.contains("jwks_uri"), "{reason}");

    let builder = OAuthProxy::from_metadata(&meta);
    assert!(format!("{builder:?}").contains(&format!("{}/authorize", provider.base())));
    server.stop(false).await;
}

#[actix_rt::test]
async fn an_oversized_document_is_refused_with_or_without_content_length() {
    let (provider, server) = start().await;
    let reason = discovery_error(
        ProviderMetadata::discover(&format!("{}/huge", provider.base()))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        reason.matches("larger than 262144 bytes").count(),
        2,
        "{reason}"
    );
    server.stop(false).await;
}

#[actix_rt::test]
async fn redirects_are_not_followed() {
    let (provider, server) = start().await;
    let reason = discovery_error(
        ProviderMetadata::discover(&format!("{}/moved", provider.base()))
            .await
            .unwrap_err(),
    );
    assert!(reason.contains("302") && reason.contains("307"), "{reason}");
    assert!(
        !provider.asked().iter().any(|p| p == "/target"),
        "the redirect target was never asked"
    );
    server.stop(false).await;
}

#[actix_rt::test]
async fn discovery_runs_from_a_thread_without_an_actix_runtime() {
    let (provider, server) = start().await;
    let base = provider.base().to_owned();
    let (sender, receiver) = futures::channel::oneshot::channel();
    std::thread::spawn(move || {
        let found = futures::executor::block_on(ProviderMetadata::discover(&base));
        let _ = sender.send(found.map(|m| m.issuer().to_owned()));
    });
    let issuer = receiver.await.expect("the thread answered").unwrap();
    assert_eq!(issuer, provider.base());
    server.stop(false).await;
}

#[actix_rt::test]
async fn only_https_or_loopback_issuers_without_query_are_asked() {
    let err = ProviderMetadata::discover("http://issuer.example")
        .await
        .unwrap_err();
    assert!(matches!(err, ConfigError::InsecureUrl { .. }), "{err:?}");
    let err = ProviderMetadata::discover("https://issuer.example/?tenant=1")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::InvalidUrl {
                field: "issuer",
                ..
            }
        ),
        "{err:?}"
    );
    let err = ProviderMetadata::discover("not a url").await.unwrap_err();
    assert!(matches!(err, ConfigError::InvalidUrl { .. }), "{err:?}");
}

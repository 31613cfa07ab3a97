//! `ProviderMetadata::discover` against a provider played by the HTTP double, which logs every
//! path asked for: the two locations and their order, the exact-issuer rule, size limits,
//! redirects, and the two builders made from one document.

use std::cell::Cell;

use actix_mcp_oauth::{http::ProviderMetadata, ConfigError, JwksVerifier, OAuthProxy};
use actix_web::App;
use serde_json::{json, Value};

use crate::fixtures::{Double, Reply, ANY_PATH};

/// The largest document `discover` reads is 256 KiB; these are larger.
const OVERSIZE: usize = 300 * 1024;

/// A provider with documents at both discovery locations, under several issuers, each issuer
/// standing for one case.
struct Provider {
    double: Double,
    /// How many of the requests the double saw were already returned by [`Provider::asked`].
    told: Cell<usize>,
}

impl Provider {
    async fn start() -> Self {
        let double = Double::start().await;
        let base = double.url("");
        let document = |issuer: &str| {
            json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{base}/authorize"),
                "token_endpoint": format!("{base}/token"),
                "revocation_endpoint": format!("{base}/revoke"),
                "jwks_uri": format!("{base}/jwks"),
                "response_types_supported": ["code"],
                "scopes_supported": ["openid", "email"],
            })
        };
        let serve = |path: &str, doc: Value| double.on(path, None, Reply::json(200, &doc));

        serve("/.well-known/openid-configuration", document(&base));
        // RFC 8414 only, under a path.
        serve(
            "/.well-known/oauth-authorization-server/tenant",
            document(&format!("{base}/tenant")),
        );
        // Opaque tokens: no key set.
        let mut opaque = document(&format!("{base}/opaque"));
        opaque.as_object_mut().unwrap().remove("jwks_uri");
        serve("/opaque/.well-known/openid-configuration", opaque);
        // Documents naming another issuer, and one that differs only by a trailing slash.
        serve(
            "/liar/.well-known/openid-configuration",
            document("https://someone-else.test"),
        );
        serve(
            "/.well-known/oauth-authorization-server/liar",
            document(&format!("{base}/liar/")),
        );
        // Too large: announced in Content-Length at one location, streamed at the other.
        let mut huge = document(&format!("{base}/huge"));
        huge["padding"] = Value::String("x".repeat(OVERSIZE));
        let huge = Reply::json(200, &huge);
        double.on("/huge/.well-known/openid-configuration", None, huge.clone());
        double.on(
            "/.well-known/oauth-authorization-server/huge",
            None,
            Reply {
                chunked: true,
                ..huge
            },
        );
        // Both locations redirect to a document that would match.
        let target = format!("{base}/target");
        double.on(
            "/moved/.well-known/openid-configuration",
            None,
            Reply::new(302, &[("location", &target)], ""),
        );
        double.on(
            "/.well-known/oauth-authorization-server/moved",
            None,
            Reply::new(307, &[("location", &target)], ""),
        );
        serve("/target", document(&format!("{base}/moved")));

        Self {
            double,
            told: Cell::new(0),
        }
    }

    fn base(&self) -> String {
        self.double.url("")
    }

    /// The paths asked for since the last call.
    fn asked(&self) -> Vec<String> {
        let seen = self.double.seen(ANY_PATH);
        let new = seen[self.told.replace(seen.len())..]
            .iter()
            .map(|s| s.path().to_owned())
            .collect();
        new
    }

    async fn stop(self) {
        self.double.stop().await;
    }
}

fn discovery_error(err: ConfigError) -> String {
    match err {
        ConfigError::Discovery(reason) => reason,
        other => panic!("expected a discovery error, got {other:?}"),
    }
}

#[actix_rt::test]
async fn the_openid_configuration_is_read_once_and_feeds_both_builders() {
    let provider = Provider::start().await;
    let base = provider.base();

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

    let verifier = JwksVerifier::from_metadata(&meta)
        .unwrap()
        .audience("api")
        .build()
        .unwrap();
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
    provider.stop().await;
}

#[actix_rt::test]
async fn without_an_openid_configuration_the_rfc8414_location_is_used() {
    let provider = Provider::start().await;
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
    provider.stop().await;
}

#[actix_rt::test]
async fn a_document_naming_another_issuer_is_not_used_even_by_a_trailing_slash() {
    let provider = Provider::start().await;
    let base = provider.base();
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
    provider.stop().await;
}

#[actix_rt::test]
async fn the_verifier_needs_a_jwks_uri_and_the_proxy_does_not() {
    let provider = Provider::start().await;
    let opaque = format!("{}/opaque", provider.base());
    let meta = ProviderMetadata::discover(&opaque).await.unwrap();
    assert_eq!(meta.jwks_uri(), None);
    let reason = discovery_error(JwksVerifier::from_metadata(&meta).unwrap_err());
    assert!(reason.contains("jwks_uri"), "{reason}");
    let reason = discovery_error(JwksVerifier::from_discovery(opaque).await.unwrap_err());
    assert!(reason.contains("jwks_uri"), "{reason}");

    let builder = OAuthProxy::from_metadata(&meta);
    assert!(format!("{builder:?}").contains(&format!("{}/authorize", provider.base())));
    provider.stop().await;
}

#[actix_rt::test]
async fn an_oversized_document_is_refused_with_or_without_content_length() {
    let provider = Provider::start().await;
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
    provider.stop().await;
}

#[actix_rt::test]
async fn redirects_are_not_followed() {
    let provider = Provider::start().await;
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
    provider.stop().await;
}

#[actix_rt::test]
async fn discovery_runs_from_a_thread_without_an_actix_runtime() {
    let provider = Provider::start().await;
    let base = provider.base();
    let (sender, receiver) = futures::channel::oneshot::channel();
    std::thread::spawn(move || {
        let found = futures::executor::block_on(ProviderMetadata::discover(&base));
        let _ = sender.send(found.map(|m| m.issuer().to_owned()));
    });
    let issuer = receiver.await.expect("the thread answered").unwrap();
    assert_eq!(issuer, provider.base());
    provider.stop().await;
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

//! The protected resource (RFC 9728) in front of an MCP endpoint, whichever authorization
//! server issues its tokens (the OAuth proxy or the provider itself): its canonical URL, its
//! metadata document and the routes that serve it, the bearer check, and the CORS policy for
//! browser-based clients.

use std::{sync::Arc, time::Duration};

use actix_cors::Cors;
use actix_web::{
    guard::{self, Guard},
    http::{header, Method},
    web, HttpResponse, Route, Scope,
};
use serde_json::{json, Value};
use url::Url;

use crate::{
    access::AccessPolicy,
    clock::Clock,
    middleware::Authenticate,
    user::UserInfoFn,
    validate::{mcp_path, resource_metadata_path, ConfigError},
    RequireAuth, TokenVerifier,
};

/// The MCP path when none is configured.
pub(crate) const DEFAULT_MCP_PATH: &str = "/mcp";

/// `Cache-Control` of every discovery document: long enough to spare clients repeated
/// fetches, short enough that a configuration change shows soon.
pub(crate) const METADATA_CACHE: &str = "public, max-age=300";

/// Where the resource is: this server's public origin and the MCP path under it.
pub(crate) struct ResourceUrl {
    public: Url,
    origin: String,
    mcp_path: String,
}

impl ResourceUrl {
    /// `public` is a URL accepted by [`public_origin`](crate::validate::public_origin);
    /// `mcp_path` is checked here, and a trailing slash dropped.
    pub(crate) fn new(public: Url, path: &str) -> Result<Self, ConfigError> {
        let mcp_path = mcp_path(path)?;
        Ok(Self {
            origin: public.origin().ascii_serialization(),
            public,
            mcp_path,
        })
    }

    /// The public URL as given, for its host and scheme.
    pub(crate) fn public_url(&self) -> &Url {
        &self.public
    }

    /// The canonical resource: `origin + mcp path`.
    pub(crate) fn resource(&self) -> String {
        format!("{}{}", self.origin, self.mcp_path)
    }

    /// The public origin without a trailing slash, e.g. `https://mcp.example.com`.
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }
}

/// How the metadata document lists `scopes_supported`. Each document keeps one field order
/// from release to release, so the bytes a client or a cache sees stay the same.
pub(crate) enum ScopesSupported {
    /// Right after `authorization_servers`, even when empty: the server is its own
    /// authorization server and these are the scopes it grants.
    Always(Vec<String>),
    /// Last, and only when there is at least one: the authorization server is someone else's,
    /// which may document its scopes itself.
    IfAny(Vec<String>),
}

/// How bearer tokens for the resource are checked and turned into users.
pub(crate) struct TokenCheck {
    pub(crate) verifier: Arc<dyn TokenVerifier>,
    /// Takes over from `verifier` and `user_info` when set (the proxy's issued tokens).
    pub(crate) authenticator: Option<Arc<dyn Authenticate>>,
    pub(crate) user_info: Option<Arc<UserInfoFn>>,
    pub(crate) cache_max_ttl: Option<Duration>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) access_policy: Option<AccessPolicy>,
    /// The hierarchy of required scopes, and the default set the 401 challenge asks for.
    pub(crate) scope_model: Option<crate::scope::ScopeModel>,
}

/// The protected resource at `public origin + mcp path`, built once: every worker serves the
/// same metadata bytes and shares one token cache.
pub(crate) struct ProtectedResource {
    mcp_path: String,
    resource: String,
    document: Value,
    /// `document`, serialised once.
    body: web::Bytes,
    /// The document for the MCP path with a trailing slash, when that spelling names this
    /// resource too (see [`with_trailing_slash`](Self::with_trailing_slash)).
    slashed: Option<web::Bytes>,
    require_auth: RequireAuth,
}

impl ProtectedResource {
    /// The resource at `url`, whose tokens `authorization_server` issues.
    pub(crate) fn new(
        url: ResourceUrl,
        authorization_server: &str,
        scopes: ScopesSupported,
        tokens: TokenCheck,
    ) -> Result<Self, ConfigError> {
        let resource = url.resource();
        let mut require_auth = RequireAuth::new(tokens.verifier, &resource)?.clock(tokens.clock);
        if let Some(f) = tokens.user_info {
            require_auth = require_auth.user_info(move |claims| f(claims));
        }
        if let Some(ttl) = tokens.cache_max_ttl {
            require_auth = require_auth.cache_max_ttl(ttl);
        }
        if let Some(authenticator) = tokens.authenticator {
            require_auth = require_auth.authenticator(authenticator);
        }
        if let Some(policy) = tokens.access_policy {
            require_auth = require_auth.access_policy(policy);
        }
        if let Some(model) = &tokens.scope_model {
            require_auth = require_auth.scope_model(model);
        }
        let document = match scopes {
            ScopesSupported::Always(scopes) => json!({
                "resource": resource,
                "authorization_servers": [authorization_server],
                "scopes_supported": scopes,
                "bearer_methods_supported": ["header"],
            }),
            ScopesSupported::IfAny(scopes) => {
                let mut document = json!({
                    "resource": resource,
                    "authorization_servers": [authorization_server],
                    "bearer_methods_supported": ["header"],
                });
                if !scopes.is_empty() {
                    document["scopes_supported"] = json!(scopes);
                }
                document
            }
        };
        let body = document.to_string().into();
        Ok(Self {
            mcp_path: url.mcp_path,
            resource,
            document,
            body,
            slashed: None,
            require_auth,
        })
    }

    /// Serves the metadata for the MCP path with a trailing slash too, with `resource` spelled
    /// that way, and lets [`names`](Self::names) take that spelling for this resource. The MCP
    /// endpoint answers at both paths, and clients compare the metadata's `resource` with the
    /// URL they were given byte for byte (RFC 9728 §3.3), so a user who configured `…/mcp/`
    /// needs a document that says `…/mcp/`. Only for an authorization server that issues the
    /// tokens itself: it treats both spellings as one resource, and the tokens it issues name
    /// the canonical one, which is what the bearer check expects. Another authorization server
    /// would issue tokens for `…/mcp/` that the bearer check refuses.
    pub(crate) fn with_trailing_slash(mut self) -> Self {
        let mut document = self.document.clone();
        document["resource"] = json!(format!("{}/", self.resource));
        self.slashed = Some(document.to_string().into());
        self.require_auth = self.require_auth.with_trailing_slash();
        self
    }

    /// Whether a client's `resource` parameter (RFC 8707) names this resource: the canonical
    /// URL exactly, or with the trailing slash when that spelling is served. Nothing else: no
    /// other path, query, case, scheme, host or port.
    pub(crate) fn names(&self, resource: &str) -> bool {
        resource == self.resource
            || (self.slashed.is_some()
                && resource.len() == self.resource.len() + 1
                && resource.starts_with(self.resource.as_str())
                && resource.ends_with('/'))
    }

    /// The canonical resource: `public origin + mcp path`.
    pub(crate) fn resource(&self) -> &str {
        &self.resource
    }

    /// The RFC 9728 metadata document.
    pub(crate) fn document(&self) -> &Value {
        &self.document
    }

    /// The bearer check for the MCP scope; every clone shares the token cache.
    pub(crate) fn require_auth(&self) -> RequireAuth {
        self.require_auth.clone()
    }

    /// Where the metadata is served: the well-known path followed by the MCP path (RFC 9728
    /// §3.1, where the challenges of [`require_auth`](Self::require_auth) point), the bare
    /// well-known path, and with [`with_trailing_slash`](Self::with_trailing_slash) the
    /// well-known path followed by the MCP path and `/`.
    pub(crate) fn paths(&self) -> Vec<String> {
        let mut paths = vec![
            resource_metadata_path("/"),
            resource_metadata_path(&self.mcp_path),
        ];
        if self.slashed.is_some() {
            paths.push(self.slashed_path());
        }
        paths
    }

    fn slashed_path(&self) -> String {
        resource_metadata_path(&format!("{}/", self.mcp_path))
    }

    /// `scope` with the metadata routes added, for a scope that also serves other routes.
    pub(crate) fn routes(&self, scope: Scope) -> Scope {
        let scope = scope
            .route(&resource_metadata_path("/"), metadata_route(&self.body))
            .route(
                &resource_metadata_path(&self.mcp_path),
                metadata_route(&self.body),
            );
        match &self.slashed {
            Some(body) => scope.route(&self.slashed_path(), metadata_route(body)),
            None => scope,
        }
    }

    /// The metadata routes alone, with CORS, to mount at the application root.
    pub(crate) fn scope(&self) -> Scope {
        web::scope("")
            .guard(only_paths(self.paths()))
            .service(self.routes(web::scope("")).wrap(cors()))
    }
}

/// A `GET` route answering `body`, a serialised metadata document.
fn metadata_route(body: &web::Bytes) -> Route {
    let body = body.clone();
    web::get().to(move || {
        let body = body.clone();
        async move {
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, METADATA_CACHE))
                .insert_header(header::ContentType::json())
                .body(body)
        }
    })
}

/// A guard for a scope mounted at the application root that answers `paths` only: every
/// other request goes on to the services registered after it, so the order of `.service`
/// calls does not matter.
pub(crate) fn only_paths(paths: Vec<String>) -> impl Guard {
    guard::fn_guard(move |ctx| {
        let path = ctx.head().uri.path();
        paths.iter().any(|p| p == path)
    })
}

/// CORS for browser-based clients: any origin, no cookies, `WWW-Authenticate` and
/// `Mcp-Session-Id` readable by scripts.
pub(crate) fn cors() -> Cors {
    Cors::default()
        .allow_any_origin()
        .allowed_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_any_header()
        .expose_headers([
            header::WWW_AUTHENTICATE,
            header::HeaderName::from_static("mcp-session-id"),
            header::HeaderName::from_static("mcp-protocol-version"),
        ])
        .max_age(3600)
}

#[cfg(test)]
mod tests {
    use actix_web::{http::StatusCode, test, App};

    use super::*;
    use crate::{clock::SystemClock, verify::FnVerifier, VerifyError};

    fn resource(scopes: ScopesSupported) -> ProtectedResource {
        let public = Url::parse("https://mcp.example.com").unwrap();
        let tokens = TokenCheck {
            verifier: Arc::new(FnVerifier::new(|_: String| async {
                Err(VerifyError::Expired)
            })),
            authenticator: None,
            user_info: None,
            cache_max_ttl: None,
            clock: Arc::new(SystemClock),
            access_policy: None,
            scope_model: None,
        };
        let url = ResourceUrl::new(public, "/api/mcp/").unwrap();
        ProtectedResource::new(url, "https://idp.example.com", scopes, tokens).unwrap()
    }

    #[actix_web::test]
    async fn the_document_is_served_byte_for_byte_at_both_paths_only() {
        let head = r#"{"resource":"https://mcp.example.com/api/mcp","authorization_servers":["https://idp.example.com"]"#;
        let cases = [
            (
                ScopesSupported::Always(vec![]),
                format!(r#"{head},"scopes_supported":[],"bearer_methods_supported":["header"]}}"#),
            ),
            (
                ScopesSupported::IfAny(vec![]),
                format!(r#"{head},"bearer_methods_supported":["header"]}}"#),
            ),
            (
                ScopesSupported::IfAny(vec!["mcp:tools".into()]),
                format!(
                    r#"{head},"bearer_methods_supported":["header"],"scopes_supported":["mcp:tools"]}}"#
                ),
            ),
        ];
        for (scopes, expected) in cases {
            let resource = resource(scopes);
            assert_eq!(resource.resource(), "https://mcp.example.com/api/mcp");
            assert_eq!(resource.document().to_string(), expected);
            let app = test::init_service(App::new().service(resource.scope())).await;
            for path in [
                "/.well-known/oauth-protected-resource",
                "/.well-known/oauth-protected-resource/api/mcp",
            ] {
                let req = test::TestRequest::get().uri(path).to_request();
                let res = test::call_service(&app, req).await;
                assert_eq!(res.status(), StatusCode::OK, "{path}");
                let headers = res.headers();
                assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), METADATA_CACHE);
                assert_eq!(
                    headers.get(header::CONTENT_TYPE).unwrap(),
                    "application/json"
                );
                assert_eq!(test::read_body(res).await, expected.as_bytes(), "{path}");
            }
            for path in ["/.well-known/oauth-protected-resource/mcp", "/api/mcp"] {
                let req = test::TestRequest::get().uri(path).to_request();
                let res = test::call_service(&app, req).await;
                assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
            }
        }
    }

    #[actix_web::test]
    async fn with_the_trailing_slash_served_its_document_says_so_and_that_spelling_alone_is_named()
    {
        let slashed = "/.well-known/oauth-protected-resource/api/mcp/";
        let plain = resource(ScopesSupported::Always(vec!["mcp".into()]));
        assert!(plain.names("https://mcp.example.com/api/mcp"));
        assert!(!plain.names("https://mcp.example.com/api/mcp/"));
        let app = test::init_service(App::new().service(plain.scope())).await;
        let req = test::TestRequest::get().uri(slashed).to_request();
        assert_eq!(
            test::call_service(&app, req).await.status(),
            StatusCode::NOT_FOUND
        );

        let resource = resource(ScopesSupported::Always(vec!["mcp".into()])).with_trailing_slash();
        assert_eq!(resource.resource(), "https://mcp.example.com/api/mcp");
        for named in [
            "https://mcp.example.com/api/mcp",
            "https://mcp.example.com/api/mcp/",
        ] {
            assert!(resource.names(named), "{named}");
        }
        for other in [
            "https://mcp.example.com/api/mcp//",
            "https://mcp.example.com/api/mcpx",
            "https://mcp.example.com/api/mcp/x",
            "https://mcp.example.com/api/mc/",
            "https://mcp.example.com/api/mcp/?",
            "https://mcp.example.com/api/mcp?",
            "https://mcp.example.com/api/",
            "https://MCP.example.com/api/mcp/",
            "http://mcp.example.com/api/mcp/",
            "https://mcp.example.com:8443/api/mcp/",
            "",
        ] {
            assert!(!resource.names(other), "{other}");
        }
        let app = test::init_service(App::new().service(resource.scope())).await;
        let req = test::TestRequest::get().uri(slashed).to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers().get(header::CACHE_CONTROL).unwrap(),
            METADATA_CACHE
        );
        assert_eq!(
            test::read_body(res).await,
            r#"{"resource":"https://mcp.example.com/api/mcp/","authorization_servers":["https://idp.example.com"],"scopes_supported":["mcp"],"bearer_methods_supported":["header"]}"#
        );
        // The canonical document is unchanged.
        let req = test::TestRequest::get()
            .uri("/.well-known/oauth-protected-resource/api/mcp")
            .to_request();
        let body = test::read_body(test::call_service(&app, req).await).await;
        assert_eq!(body, resource.document().to_string().as_bytes());
        assert_eq!(
            resource.document()["resource"],
            "https://mcp.example.com/api/mcp"
        );
    }
}

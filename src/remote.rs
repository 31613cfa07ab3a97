//! [`RemoteAuth`]: for providers that register MCP clients themselves, only the protected
//! resource metadata and the token check; no proxy.

use std::{fmt, sync::Arc, time::Duration};

use actix_cors::Cors;
use actix_web::Scope;
use serde_json::Value;

use crate::{
    access::AccessPolicy,
    clock::Clock,
    clock::SystemClock,
    resource::{self, ProtectedResource, ResourceUrl, ScopesSupported, TokenCheck},
    validate::{public_origin, scope_tokens, secure_url},
    Claims, ConfigError, RequireAuth, TokenVerifier, UserInfo, VerifyError,
};

/// An MCP server whose clients sign in at the provider directly.
///
/// When the identity provider supports dynamic client registration (Keycloak, Auth0 with DCR
/// enabled, WorkOS, ...), MCP clients can register, authorize and get tokens there with no
/// proxy in between. The server then needs only two things, which this type provides:
/// - [`scope`](Self::scope): the protected resource metadata (RFC 9728) at
///   `/.well-known/oauth-protected-resource{mcp_path}` (and without the path), naming the
///   provider's issuer in `authorization_servers`; clients find its metadata there.
/// - [`require_auth`](Self::require_auth): the bearer check for the MCP scope, with the
///   verifier you give (usually the provider's [`JwksVerifier`](crate::JwksVerifier), or an
///   [`IntrospectionVerifier`](crate::verify::IntrospectionVerifier) for opaque tokens).
///
/// Check that the verifier insists on an audience that is this server's: with dynamic
/// registration every client gets tokens from the same issuer, so only `aud` says the token is
/// meant for this resource.
///
/// ```no_run
/// use actix_mcp_oauth::{JwksVerifier, RemoteAuth};
/// use actix_web::{web, App, HttpResponse, HttpServer};
///
/// #[actix_web::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let issuer = "https://keycloak.example.com/realms/mcp";
///     let verifier = JwksVerifier::from_discovery(issuer)
///         .await?
///         .audience("https://mcp.example.com/mcp")
///         .build()?;
///     let auth = RemoteAuth::builder("https://mcp.example.com", issuer, verifier)
///         .scopes(["openid", "mcp:tools"])
///         .build()?;
///     HttpServer::new(move || {
///         App::new().service(auth.scope()).service(
///             web::scope("/mcp")
///                 .wrap(auth.require_auth())
///                 .wrap(auth.cors())
///                 .route("", web::post().to(HttpResponse::Ok)),
///         )
///     })
///     .tcp_nodelay(true)
///     .bind(("127.0.0.1", 8080))?
///     .run()
///     .await?;
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct RemoteAuth {
    resource: Arc<ProtectedResource>,
}

/// Configures a [`RemoteAuth`]; see [`RemoteAuth::builder`].
#[must_use]
pub struct RemoteAuthBuilder {
    public_url: String,
    issuer: String,
    verifier: Arc<dyn TokenVerifier>,
    mcp_path: String,
    scopes: Vec<String>,
    user_info: Option<Arc<crate::user::UserInfoFn>>,
    cache_max_ttl: Option<Duration>,
    clock: Option<Arc<dyn Clock>>,
    access_policy: Option<AccessPolicy>,
}

impl RemoteAuth {
    /// Starts the configuration: `public_url` is this server's origin
    /// (`https://mcp.example.com`), `issuer` the provider's issuer identifier exactly as in its
    /// metadata, `verifier` the token check.
    pub fn builder(
        public_url: impl Into<String>,
        issuer: impl Into<String>,
        verifier: impl TokenVerifier,
    ) -> RemoteAuthBuilder {
        RemoteAuthBuilder {
            public_url: public_url.into(),
            issuer: issuer.into(),
            verifier: Arc::new(verifier),
            mcp_path: resource::DEFAULT_MCP_PATH.into(),
            scopes: Vec::new(),
            user_info: None,
            cache_max_ttl: None,
            clock: None,
            access_policy: None,
        }
    }

    /// The routes of the protected resource metadata, with CORS, to mount at the application
    /// root. Like the proxy's scope, it answers only its own paths.
    pub fn scope(&self) -> Scope {
        self.resource.scope()
    }

    /// The bearer-token check for the MCP scope. Every clone shares one token cache; add
    /// `.require_scopes([..])` to demand scopes.
    pub fn require_auth(&self) -> RequireAuth {
        self.resource.require_auth()
    }

    /// CORS for browser-based clients, as [`OAuthProxy::cors`](crate::OAuthProxy::cors); wrap
    /// the MCP scope with it (outside [`require_auth`](Self::require_auth)).
    pub fn cors(&self) -> Cors {
        resource::cors()
    }

    /// The metadata document served by [`scope`](Self::scope).
    pub fn metadata(&self) -> &Value {
        self.resource.document()
    }
}

impl fmt::Debug for RemoteAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteAuth")
            .field("metadata", self.resource.document())
            .finish_non_exhaustive()
    }
}

impl RemoteAuthBuilder {
    /// The path of the MCP endpoint (default `/mcp`).
    pub fn mcp_path(mut self, path: impl Into<String>) -> Self {
        self.mcp_path = path.into();
        self
    }

    /// The scopes advertised as `scopes_supported` (default: none advertised).
    /// `offline_access` is left out: it asks for a refresh token and is not a permission of
    /// this server, so it is never listed (clients that see it listed add it to every
    /// request); a client may still ask the provider for it.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Maps verified claims to the user, as [`RequireAuth::user_info`].
    pub fn user_info<F>(mut self, f: F) -> Self
    where
        F: Fn(&Claims) -> Result<UserInfo, VerifyError> + Send + Sync + 'static,
    {
        self.user_info = Some(Arc::new(f));
        self
    }

    /// As [`RequireAuth::cache_max_ttl`] (default 5 minutes).
    pub fn cache_max_ttl(mut self, ttl: Duration) -> Self {
        self.cache_max_ttl = Some(ttl);
        self
    }

    /// Who may use the server, checked on every request: see
    /// [`RequireAuth::access_policy`] (default: every user with a valid token).
    pub fn access_policy(mut self, policy: AccessPolicy) -> Self {
        self.access_policy = Some(policy);
        self
    }

    /// The clock of the token cache (default the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<RemoteAuth, ConfigError> {
        let public = public_origin(&self.public_url)?;
        secure_url("issuer", &self.issuer)?;
        let url = ResourceUrl::new(public, &self.mcp_path)?;
        scope_tokens(&self.scopes)?;
        let mut scopes = self.scopes;
        scopes.retain(|s| s != crate::scope::OFFLINE_ACCESS);
        let tokens = TokenCheck {
            authenticator: None,
            verifier: self.verifier,
            user_info: self.user_info,
            cache_max_ttl: self.cache_max_ttl,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            access_policy: self.access_policy,
            scope_model: None,
        };
        let resource =
            ProtectedResource::new(url, &self.issuer, ScopesSupported::IfAny(scopes), tokens)?;
        Ok(RemoteAuth {
            resource: Arc::new(resource),
        })
    }
}

impl fmt::Debug for RemoteAuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteAuthBuilder")
            .field("public_url", &self.public_url)
            .field("issuer", &self.issuer)
            .field("mcp_path", &self.mcp_path)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{
        http::{header, StatusCode},
        test as web_test, web, App, HttpResponse,
    };
    use serde_json::json;

    use super::*;
    use crate::verify::FnVerifier;

    /// Accepts the token `good` as user `u1`, and nothing else.
    fn accept() -> impl TokenVerifier {
        FnVerifier::new(|token: String| async move {
            if token != "good" {
                return Err(VerifyError::Rejected("test".into()));
            }
            let mut map = serde_json::Map::new();
            map.insert("sub".into(), json!("u1"));
            Ok(Claims::new(map))
        })
    }

    fn auth() -> RemoteAuth {
        RemoteAuth::builder(
            "https://mcp.example.com",
            "https://idp.example.com/realms/r",
            accept(),
        )
        .scopes(["openid", "mcp:tools"])
        .build()
        .unwrap()
    }

    #[actix_web::test]
    async fn only_the_resource_metadata_is_served_naming_the_upstream_issuer() {
        let auth = auth();
        let app = web_test::init_service(App::new().service(auth.scope()).service(
            web::scope("/mcp").wrap(auth.require_auth()).route(
                "",
                web::get().to(|| async { HttpResponse::Ok().body("tools") }),
            ),
        ))
        .await;
        for path in [
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-protected-resource",
        ] {
            let res =
                web_test::call_service(&app, web_test::TestRequest::get().uri(path).to_request())
                    .await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            let doc: Value = web_test::read_body_json(res).await;
            assert_eq!(doc["resource"], "https://mcp.example.com/mcp");
            assert_eq!(
                doc["authorization_servers"],
                json!(["https://idp.example.com/realms/r"])
            );
            assert_eq!(doc["scopes_supported"], json!(["openid", "mcp:tools"]));
        }
        for path in [
            "/.well-known/oauth-authorization-server",
            "/register",
            "/authorize",
            "/token",
            "/oauth/callback",
        ] {
            let res =
                web_test::call_service(&app, web_test::TestRequest::get().uri(path).to_request())
                    .await;
            assert_eq!(
                res.status(),
                StatusCode::NOT_FOUND,
                "{path}: no proxy routes"
            );
        }
        let anonymous =
            web_test::call_service(&app, web_test::TestRequest::get().uri("/mcp").to_request())
                .await;
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        let challenge = anonymous
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(challenge.contains(
            "resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\""
        ));
        let ok = web_test::call_service(
            &app,
            web_test::TestRequest::get()
                .uri("/mcp")
                .insert_header((header::AUTHORIZATION, "Bearer good"))
                .to_request(),
        )
        .await;
        assert_eq!(ok.status(), StatusCode::OK);
    }

    #[test]
    fn bad_settings_are_refused() {
        let base = || {
            RemoteAuth::builder(
                "https://mcp.example.com",
                "https://idp.example.com",
                accept(),
            )
        };
        assert!(base().build().is_ok());
        assert!(RemoteAuth::builder(
            "http://mcp.example.com",
            "https://idp.example.com",
            accept()
        )
        .build()
        .is_err());
        assert!(RemoteAuth::builder(
            "https://mcp.example.com/x",
            "https://idp.example.com",
            accept()
        )
        .build()
        .is_err());
        assert!(RemoteAuth::builder(
            "https://mcp.example.com",
            "http://idp.example.com",
            accept()
        )
        .build()
        .is_err());
        assert!(base().mcp_path("mcp").build().is_err());
        assert!(base().mcp_path("/a/../b").build().is_err());
        assert!(base().scopes(["two words"]).build().is_err());
        // Accepted, and never listed.
        let listed = base()
            .scopes(["openid", "offline_access", "mcp:tools"])
            .build()
            .unwrap();
        assert_eq!(
            listed.metadata()["scopes_supported"],
            json!(["openid", "mcp:tools"])
        );
        let only = base().scopes(["offline_access"]).build().unwrap();
        assert!(only.metadata().get("scopes_supported").is_none());
        assert_eq!(
            base().mcp_path("/api/mcp/").build().unwrap().metadata()["resource"],
            "https://mcp.example.com/api/mcp"
        );
    }
}

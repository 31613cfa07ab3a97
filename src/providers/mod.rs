//! Presets for common identity providers, each verifying the access tokens that provider
//! really issues.
//!
//! A preset is a small struct made by one function here ([`google`](google()), [`github`](github()), [`okta`](okta()),
//! [`auth0`](auth0()), [`entra_id`](entra_id()), [`keycloak`](keycloak())), which takes what locates the provider (a domain, a
//! realm, a tenant; nothing for Google and GitHub). Every preset takes the client registered
//! with the provider as `.client(id, secret)`, and `.scopes(..)` and `.clock(..)` alike. Its
//! other setters change anything the provider lets you change, including **every upstream
//! URL** (so tests can aim it at a double on 127.0.0.1), and then:
//! - `builder()` gives an [`OAuthProxyBuilder`] filled with the provider's endpoints, scopes,
//!   authorization parameters, verifier, user mapping and cache lifetime; add your
//!   `public_url` and `proxy_key` and build;
//! - `verifier()` gives the verifier alone, for [`RequireAuth`](crate::RequireAuth) or
//!   [`RemoteAuth`](crate::RemoteAuth).
//!
//! | preset | access token | verified by | refresh tokens |
//! |---|---|---|---|
//! | [`google`](google()) | opaque (`ya29.`) | Google's token-info endpoint (`aud`/`azp` = our client id), profile from userinfo | yes (`access_type=offline`, `prompt=consent`) |
//! | [`github`](github()) | opaque (`gho_`, `ghu_`) | GitHub's token check for our app, then `GET /user` | OAuth apps: no; GitHub Apps with expiring tokens: yes |
//! | [`okta`](okta()) | JWT (custom authorization server) | JWKS, `aud` = the server's audience, `cid` = our client id | yes (`offline_access`) |
//! | [`auth0`](auth0()) | JWT (with the `audience` parameter) | JWKS, `aud` = the API identifier, `azp` = our client id, no client-credentials tokens | yes (`offline_access`) |
//! | [`entra_id`](entra_id()) | JWT v2 for the app's own API scope | JWKS, issuer per tenant (`tid`), `azp` = our client id, no app-only tokens | yes (`offline_access`) |
//! | [`keycloak`](keycloak()) | JWT | JWKS, `aud` = our client id (audience mapper), `azp` = our client id | yes |
//!
//! What to register in each provider's console is in `docs/providers.md`. For a provider that
//! supports dynamic client registration itself, skip the proxy: see [`RemoteAuth`](crate::RemoteAuth).
//!
//! ```no_run
//! use actix_mcp_oauth::{providers, ProxyKey};
//! use actix_web::{web, App, HttpServer, Responder};
//!
//! async fn whoami(user: actix_mcp_oauth::AuthUser) -> impl Responder {
//!     format!("hello {}", user.user_id)
//! }
//!
//! #[actix_web::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let env = |name: &str| std::env::var(name).unwrap_or_default();
//!     let proxy = providers::google()
//!         .client(env("GOOGLE_CLIENT_ID"), env("GOOGLE_CLIENT_SECRET"))
//!         .builder()?
//!         .public_url("https://mcp.example.com")
//!         .proxy_key(ProxyKey::from_base64url(&env("PROXY_KEY"))?)
//!         .build()?;
//!
//!     HttpServer::new(move || {
//!         App::new().service(proxy.scope()).service(
//!             web::scope("/mcp")
//!                 .wrap(proxy.require_auth())
//!                 .wrap(proxy.cors())
//!                 .route("/whoami", web::get().to(whoami)),
//!         )
//!     })
//!     .tcp_nodelay(true)
//!     .bind(("127.0.0.1", 8080))?
//!     .run()
//!     .await?;
//!     Ok(())
//! }
//! ```

mod auth0;
mod entra_id;
mod github;
mod google;
mod keycloak;
mod okta;
mod shape;

pub use auth0::{auth0, Auth0};
pub use entra_id::{entra_id, EntraId, EntraIdVerifier};
pub use github::{github, GitHub, GitHubMembership, GitHubVerifier};
pub use google::{google, Google, GoogleVerifier};
pub use keycloak::{keycloak, Keycloak};
pub use okta::{okta, Okta};

use std::sync::Arc;

use crate::{
    clock::Clock,
    clock::SystemClock,
    proxy::OAuthProxyBuilder,
    secret::ClientSecret,
    user::UserInfo,
    validate::{invalid, is_path_segment, secure_url},
    verify::JwksVerifierBuilder,
    Claims, ConfigError, JwksVerifier, OAuthProxy, VerifyError,
};

/// A provider's upstream URLs as data: paths under the preset's base URL (its issuer, for most
/// providers), or full URLs under the base `""` for a provider with fixed hosts.
struct Endpoints {
    authorize: &'static str,
    token: &'static str,
    revocation: Option<&'static str>,
    /// The key set, for a provider whose access tokens are JWTs.
    keys: Option<&'static str>,
    /// Requested unless the user sets others.
    scopes: &'static [&'static str],
}

impl Endpoints {
    /// The endpoints under `base`.
    fn at(&self, base: &str) -> Urls {
        let url = |path: &str| format!("{base}{path}");
        Urls {
            authorize: url(self.authorize),
            token: url(self.token),
            revocation: self.revocation.map(url),
            keys: self.keys.map(url),
        }
    }
}

/// A provider's endpoints, resolved.
struct Urls {
    authorize: String,
    token: String,
    revocation: Option<String>,
    keys: Option<String>,
}

/// What every preset has: the client's credentials, the scopes when the user replaces the
/// provider's, and the clock for token times, which the proxy gets too.
struct Common {
    credentials: Credentials,
    scopes: Option<Vec<String>>,
    clock: Arc<dyn Clock>,
    /// Set by `any_client()`: the verifier does not check which client a token was issued to.
    any_client: bool,
    /// Set by `jwks_max_response_bytes(..)`, for the presets whose tokens are JWTs.
    jwks_max_response_bytes: Option<usize>,
    /// Set by `jwks_max_keys(..)`, likewise.
    jwks_max_keys: Option<usize>,
}

impl Common {
    fn new() -> Self {
        Self {
            credentials: Credentials::default(),
            scopes: None,
            clock: Arc::new(SystemClock),
            any_client: false,
            jwks_max_response_bytes: None,
            jwks_max_keys: None,
        }
    }

    /// A proxy builder with `urls`, the client, the scopes (the user's, or `defaults`) and the
    /// clock; the preset adds its issuer, verifier and provider-specific settings.
    fn proxy(self, urls: Urls, defaults: &[&str]) -> Result<OAuthProxyBuilder, ConfigError> {
        let scopes = self
            .scopes
            .unwrap_or_else(|| defaults.iter().map(|s| (*s).to_owned()).collect());
        let mut builder = OAuthProxy::builder()
            .auth_endpoint(urls.authorize)
            .token_endpoint(urls.token)
            .client_id(self.credentials.id()?)
            .scopes(scopes)
            .clock(self.clock);
        if let Some(url) = urls.revocation {
            builder = builder.revocation_endpoint(url);
        }
        if let Some(secret) = self.credentials.secret {
            builder = builder.client_secret(secret);
        }
        Ok(builder)
    }

    /// The proxy builder of a provider whose access tokens are JWTs of one issuer: its
    /// endpoints under `issuer`, the issuer (checked in `iss` at the callback), the verifier
    /// and the user mapping.
    fn issuer_proxy(
        self,
        endpoints: &Endpoints,
        issuer: String,
        verifier: JwksVerifier,
        user_info: fn(&Claims) -> Result<UserInfo, VerifyError>,
    ) -> Result<OAuthProxyBuilder, ConfigError> {
        Ok(self
            .proxy(endpoints.at(&issuer), endpoints.scopes)?
            .issuer(issuer)
            .verifier(verifier)
            .user_info(user_info))
    }

    /// A verifier of the JWTs signed with the key set at `urls`, on the preset's clock, that
    /// refuses a token issued to another client than ours, and one naming no client as missing
    /// `client_claim` (the claim this provider names the client in), unless `any_client()`.
    fn jwks(
        &self,
        urls: &Urls,
        client_claim: &'static str,
    ) -> Result<JwksVerifierBuilder, ConfigError> {
        let url = urls.keys.clone().ok_or(ConfigError::Missing("jwks_url"))?;
        let mut builder = JwksVerifier::builder()
            .jwks_url(url)
            .clock(self.clock.clone());
        if let Some(bytes) = self.jwks_max_response_bytes {
            builder = builder.max_response_bytes(bytes);
        }
        if let Some(keys) = self.jwks_max_keys {
            builder = builder.max_keys(keys);
        }
        Ok(if self.any_client {
            builder
        } else {
            builder.required_client_id(self.credentials.id()?, client_claim)
        })
    }
}

/// The setters of the [`Common`] part of a preset, with the preset's words for its client and
/// its default scopes.
macro_rules! common_setters {
    (client: $client:literal, scopes: $scopes:literal $(,)?) => {
        #[doc = $client]
        pub fn client(
            mut self,
            id: impl Into<String>,
            secret: impl Into<$crate::secret::ClientSecret>,
        ) -> Self {
            self.common.credentials = super::Credentials::new(id, secret);
            self
        }

        #[doc = $scopes]
        pub fn scopes<I, S>(mut self, scopes: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.common.scopes = Some(scopes.into_iter().map(Into::into).collect());
            self
        }

        /// The clock for token times and cache expiry, given to the proxy too (default the
        /// system clock).
        pub fn clock(mut self, clock: std::sync::Arc<dyn $crate::clock::Clock>) -> Self {
            self.common.clock = clock;
            self
        }
    };
}
use common_setters;

/// The opt-out of the client check, for the presets whose tokens are JWTs.
macro_rules! any_client_setter {
    ($claim:literal) => {
        #[doc = concat!(
            "Accepts tokens issued to any client of the provider, as long as their audience is \
             ours. By default a token must name our client id (`.client(id, ..)`) in `",
            $claim,
            "` (and in every other client claim it carries, see \
             [`check_client`](crate::verify::check_client)), and a token naming no client is \
             refused. Opting out lets every other application of the provider whose tokens \
             share our audience (and their users) in: only for a deployment where those \
             applications are all yours and meant to call this server."
        )]
        pub fn any_client(mut self) -> Self {
            self.common.any_client = true;
            self
        }
    };
}
use any_client_setter;

/// The key-set bounds, for the presets whose tokens are JWTs: the same settings as
/// [`JwksVerifierBuilder`]'s, checked when the verifier is built.
macro_rules! jwks_limit_setters {
    () => {
        /// The largest key set (JWKS) response accepted, in bytes: a larger one is refused and
        /// the keys already loaded keep serving. Default 256 KiB; 1 KiB to 4 MiB (see
        /// [`JwksVerifierBuilder::max_response_bytes`](crate::verify::JwksVerifierBuilder::max_response_bytes)).
        pub fn jwks_max_response_bytes(mut self, bytes: usize) -> Self {
            self.common.jwks_max_response_bytes = Some(bytes);
            self
        }

        /// The most keys used from the key set; further keys are ignored. Default 100; 1 to
        /// 1000 (see [`JwksVerifierBuilder::max_keys`](crate::verify::JwksVerifierBuilder::max_keys)).
        pub fn jwks_max_keys(mut self, keys: usize) -> Self {
            self.common.jwks_max_keys = Some(keys);
            self
        }
    };
}
use jwks_limit_setters;

/// `dev-123.okta.com` → `https://dev-123.okta.com`; a full URL (`http://127.0.0.1:8080` for a
/// test double) is kept. The result is an origin, or with `allow_path` an origin and path,
/// without a trailing slash.
fn base_url(field: &'static str, value: &str, allow_path: bool) -> Result<String, ConfigError> {
    let value = value.trim().trim_end_matches('/');
    let full = if value.contains("://") {
        value.to_owned()
    } else {
        format!("https://{value}")
    };
    let url = secure_url(field, &full)?;
    if url.query().is_some() || (!allow_path && url.path() != "/") {
        return Err(invalid(
            field,
            if allow_path {
                "no query, please"
            } else {
                "give the host only (or scheme and host), without a path"
            },
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A path segment given by the user (a realm, a tenant, an authorization server id).
fn segment(field: &'static str, value: &str) -> Result<String, ConfigError> {
    if !is_path_segment(value) {
        return Err(invalid(
            field,
            "letters, digits, `-`, `.`, `_` and `~` only",
        ));
    }
    Ok(value.to_owned())
}

/// A preset's client credentials, set with its `client(id, secret)`.
#[derive(Clone, Default)]
struct Credentials {
    id: Option<String>,
    secret: Option<ClientSecret>,
}

impl Credentials {
    fn new(id: impl Into<String>, secret: impl Into<ClientSecret>) -> Self {
        Self {
            id: Some(id.into()),
            secret: Some(secret.into()),
        }
    }

    fn id(&self) -> Result<&str, ConfigError> {
        match self.id.as_deref() {
            Some(id) if !id.trim().is_empty() => Ok(id),
            _ => Err(ConfigError::Missing("client_id")),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("id", &self.id)
            .field("secret", &self.secret)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::{ConsentMode, TokenMode};

    /// The upstream authorization request a preset's proxy sends the browser to (consent off,
    /// one static client) when the client asks for `scope`.
    pub(super) async fn upstream_authorize(
        builder: OAuthProxyBuilder,
        scope: Option<&str>,
    ) -> url::Url {
        const REDIRECT: &str = "https://client.example/cb";
        let proxy = builder
            .public_url("https://mcp.example.com")
            .static_client("static-client", [REDIRECT])
            .dynamic_registration(false)
            .consent_mode(ConsentMode::Off)
            .build()
            .expect("proxy");
        let app = actix_web::test::init_service(actix_web::App::new().service(proxy.scope())).await;
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", "static-client")
            .append_pair("redirect_uri", REDIRECT)
            .append_pair(
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            )
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", "s");
        if let Some(scope) = scope {
            query.append_pair("scope", scope);
        }
        let req = actix_web::test::TestRequest::get()
            .uri(&format!("/authorize?{}", query.finish()))
            .to_request();
        let res = actix_web::test::call_service(&app, req).await;
        let location = res
            .headers()
            .get(actix_web::http::header::LOCATION)
            .unwrap_or_else(|| panic!("{}: no redirect upstream", res.status()));
        url::Url::parse(location.to_str().unwrap()).expect("an absolute URL")
    }

    /// The parameter `name` of `url`.
    pub(super) fn param(url: &url::Url, name: &str) -> Option<String> {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The scopes of the upstream authorization request.
    pub(super) fn upstream_scope(url: &url::Url) -> Vec<String> {
        param(url, "scope")
            .unwrap_or_default()
            .split(' ')
            .map(str::to_owned)
            .collect()
    }

    /// A preset that gets refresh tokens with the scope `offline_access` asks for it exactly
    /// when a refresh token is wanted: on every sign-in in issued mode with the refresh grant,
    /// otherwise only for a client that asked; and never lists it in `scopes_supported`.
    pub(super) async fn offline_access_is_asked_only_when_wanted(
        preset: impl Fn() -> OAuthProxyBuilder,
    ) {
        let asks = |url: &url::Url| upstream_scope(url).iter().any(|s| s == "offline_access");
        let issued = upstream_authorize(preset(), Some("openid")).await;
        assert!(asks(&issued), "issued mode needs a refresh token: {issued}");
        for builder in [
            preset().token_mode(TokenMode::Passthrough),
            preset().grant_types(["authorization_code"]),
        ] {
            let asked = upstream_authorize(builder, Some("openid offline_access")).await;
            assert!(asks(&asked), "{asked}");
        }
        for builder in [
            preset().token_mode(TokenMode::Passthrough),
            preset().grant_types(["authorization_code"]),
        ] {
            let not_asked = upstream_authorize(builder, Some("openid")).await;
            assert!(!asks(&not_asked), "{not_asked}");
            assert!(upstream_scope(&not_asked).iter().any(|s| s == "openid"));
        }
        let proxy = preset()
            .public_url("https://mcp.example.com")
            .build()
            .expect("proxy");
        let listed = proxy.cfg.protected.document().to_string();
        assert!(!listed.contains("offline_access"), "{listed}");
    }

    #[test]
    fn domains_become_https_origins_and_urls_are_checked() {
        assert_eq!(
            base_url("domain", "dev-1.okta.com/", false).unwrap(),
            "https://dev-1.okta.com"
        );
        assert_eq!(
            base_url("domain", "http://127.0.0.1:9000", false).unwrap(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            base_url("base", "https://kc.example/auth/", true).unwrap(),
            "https://kc.example/auth"
        );
        assert!(base_url("domain", "https://dev-1.okta.com/x", false).is_err());
        assert!(base_url("domain", "http://dev-1.okta.com", false).is_err());
        assert!(base_url("base", "https://kc.example/?a", true).is_err());
        assert!(segment("realm", "my-realm").is_ok());
        for bad in ["", "a/b", "..", "a?b", "a b"] {
            assert!(segment("realm", bad).is_err(), "{bad}");
        }
    }
}

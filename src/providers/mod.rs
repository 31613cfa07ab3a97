//! Presets for common identity providers, each verifying the access tokens that provider
//! really issues.
//!
//! A preset is a small struct made by one function here ([`google`], [`github`], [`okta`],
//! [`auth0`], [`entra_id`], [`keycloak`]). Its setters change anything the provider lets you
//! change, including **every upstream URL** (so tests can aim it at a double on 127.0.0.1),
//! and then:
//! - `builder()` gives an [`OAuthProxyBuilder`](crate::OAuthProxyBuilder) filled with the
//!   provider's endpoints, scopes, authorization parameters, verifier, user mapping and cache
//!   lifetime; add your `public_url` and `proxy_key` and build;
//! - `verifier()` gives the verifier alone, for [`RequireAuth`](crate::RequireAuth) or
//!   [`RemoteAuth`](crate::RemoteAuth).
//!
//! | preset | access token | verified by | refresh tokens |
//! |---|---|---|---|
//! | [`google`] | opaque (`ya29.`) | Google's token-info endpoint (`aud`/`azp` = our client id), profile from userinfo | yes (`access_type=offline`, `prompt=consent`) |
//! | [`github`] | opaque (`gho_`, `ghu_`) | GitHub's token check for our app, then `GET /user` | OAuth apps: no; GitHub Apps with expiring tokens: yes |
//! | [`okta`] | JWT (custom authorization server) | JWKS, `aud` = the server's audience | yes (`offline_access`) |
//! | [`auth0`] | JWT (with the `audience` parameter) | JWKS, `aud` = the API identifier | yes (`offline_access`) |
//! | [`entra_id`] | JWT v2 for the app's own API scope | JWKS, issuer per tenant (`tid`) | yes (`offline_access`) |
//! | [`keycloak`] | JWT | JWKS, `aud` = our client id (audience mapper) | yes |
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
//!     let proxy = providers::google(env("GOOGLE_CLIENT_ID"), env("GOOGLE_CLIENT_SECRET"))
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

pub use auth0::{auth0, Auth0};
pub use entra_id::{entra_id, EntraId, EntraIdVerifier};
pub use github::{github, GitHub, GitHubVerifier};
pub use google::{google, Google, GoogleVerifier};
pub use keycloak::{keycloak, Keycloak};
pub use okta::{okta, Okta};

use crate::{config::secure_url, ClientSecret, ConfigError};

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
        return Err(ConfigError::Invalid {
            field,
            reason: if allow_path {
                "no query, please".into()
            } else {
                "give the host only (or scheme and host), without a path".into()
            },
        });
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A path segment given by the user (a realm, a tenant, an authorization server id).
fn segment(field: &'static str, value: &str) -> Result<String, ConfigError> {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        && value != "."
        && value != "..";
    if !plain {
        return Err(ConfigError::Invalid {
            field,
            reason: "letters, digits, `-`, `.`, `_` and `~` only".into(),
        });
    }
    Ok(value.to_owned())
}

/// The client credentials of a preset whose constructor does not take them.
#[derive(Clone, Default)]
struct Credentials {
    id: Option<String>,
    secret: Option<ClientSecret>,
}

impl Credentials {
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

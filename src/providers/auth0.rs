//! Auth0: JWT access tokens for an API (the `audience` parameter), checked against the tenant's
//! JWKS.

use std::fmt;

use super::{base_url, Common, Endpoints};
use crate::{proxy::OAuthProxyBuilder, user::default_user_info, ConfigError, JwksVerifier};

/// Under the tenant's issuer, which ends with a slash.
const ENDPOINTS: Endpoints = Endpoints {
    authorize: "authorize",
    token: "oauth/token",
    revocation: Some("oauth/revoke"),
    keys: Some(".well-known/jwks.json"),
    scopes: &["openid", "profile", "email"],
};

/// Auth0, for a "Regular Web Application" and an API registered in the tenant:
/// `providers::auth0(domain, audience).client(id, secret)`.
///
/// - `domain`: `your-tenant.us.auth0.com` or a custom domain (or a full URL); `audience`: the
///   API's identifier (Applications → APIs), e.g. `https://mcp.example.com/mcp`.
/// - Endpoints: `{domain}/authorize`, `/oauth/token`, `/oauth/revoke`; issuer `https://{domain}/`
///   (with the trailing slash, as Auth0 writes it).
/// - The authorization request carries `audience`: without it Auth0 issues an opaque token
///   meant only for its `/userinfo`, which nothing else can verify. With it, the access token is
///   a JWT for the API.
/// - Scopes `openid profile email`, and `offline_access` when a refresh token is wanted (in
///   issued mode with the refresh grant, on every sign-in; otherwise when the client asks for
///   `offline_access`);
///   refresh tokens also need "Allow Offline Access" on the API.
/// - Verifier: [`JwksVerifier`] on `{domain}/.well-known/jwks.json`, `iss` = the issuer, `aud`
///   containing the API identifier (Auth0 adds its `/userinfo` audience alongside). Every
///   application authorized for the API gets tokens with that audience, so the token's `azp`
///   must be our client id; a token without `azp` (Auth0 writes it in every access token) is
///   refused ([`any_client`](Auth0::any_client) turns this off). Machine-to-machine tokens
///   (`gty` = `client-credentials`) are always refused: no user signed in to them.
/// - User mapping: [`default_user_info`], which maps `permissions` (turn on "RBAC" and "Add
///   Permissions in the Access Token" on the API) and `scope`.
pub fn auth0(domain: impl Into<String>, audience: impl Into<String>) -> Auth0 {
    Auth0 {
        domain: domain.into(),
        audience: audience.into(),
        common: Common::new(),
    }
}

/// The Auth0 preset; see [`auth0`].
#[must_use]
pub struct Auth0 {
    domain: String,
    audience: String,
    common: Common,
}

impl Auth0 {
    super::common_setters! {
        client: "The application's client id and secret (required).",
        scopes: "The scopes requested (default `openid profile email`; `offline_access` is added \
                 when a refresh token is wanted); add \
                 your API's permissions to have them granted as scopes.",
    }
    super::any_client_setter!("azp");
    super::jwks_limit_setters!();

    /// The tenant's issuer, `https://{domain}/`.
    pub fn issuer(&self) -> Result<String, ConfigError> {
        Ok(format!("{}/", base_url("domain", &self.domain, false)?))
    }

    /// The verifier alone.
    pub fn verifier(&self) -> Result<JwksVerifier, ConfigError> {
        if self.audience.is_empty() {
            return Err(ConfigError::Missing("audience"));
        }
        let issuer = self.issuer()?;
        self.common
            .jwks(&ENDPOINTS.at(&issuer), "azp")?
            .issuer(issuer)
            .audience(&self.audience)
            .refuse_client_credentials()
            .build()
    }

    /// The proxy builder, filled in; add `public_url` and `proxy_key`.
    pub fn builder(self) -> Result<OAuthProxyBuilder, ConfigError> {
        let verifier = self.verifier()?;
        let issuer = self.issuer()?;
        Ok(self
            .common
            .issuer_proxy(&ENDPOINTS, issuer, verifier, default_user_info)?
            .offline_access(crate::proxy::OfflineAccess::Scope)
            .extra_authorize_params([("audience", self.audience)]))
    }
}

impl fmt::Debug for Auth0 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth0")
            .field("domain", &self.domain)
            .field("audience", &self.audience)
            .field("credentials", &self.common.credentials)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preset_sends_the_audience_and_uses_the_tenant_endpoints() {
        let proxy = auth0("tenant.us.auth0.com", "https://mcp.example.com/mcp")
            .client("abc", "auth0-secret-value")
            .builder()
            .unwrap()
            .public_url("https://mcp.example.com")
            .build()
            .unwrap();
        let c = &proxy.cfg;
        assert_eq!(
            c.upstream_issuer.as_deref(),
            Some("https://tenant.us.auth0.com/")
        );
        assert_eq!(
            c.auth_endpoint.as_str(),
            "https://tenant.us.auth0.com/authorize"
        );
        assert_eq!(
            c.token_endpoint.as_str(),
            "https://tenant.us.auth0.com/oauth/token"
        );
        assert_eq!(
            c.extra_authorize_params,
            [(
                "audience".to_owned(),
                "https://mcp.example.com/mcp".to_owned()
            )]
        );
        assert!(!format!("{proxy:?}").contains("auth0-secret-value"));
    }

    #[actix_web::test]
    async fn offline_access_is_asked_for_only_when_a_refresh_token_is_wanted() {
        crate::providers::tests::offline_access_is_asked_only_when_wanted(|| {
            auth0("tenant.us.auth0.com", "https://mcp.example.com/mcp")
                .client("abc", "s")
                .builder()
                .unwrap()
        })
        .await;
    }

    #[test]
    fn the_audience_and_the_client_are_required() {
        assert_eq!(
            auth0("t.auth0.com", "").verifier().unwrap_err(),
            ConfigError::Missing("audience")
        );
        assert_eq!(
            auth0("t.auth0.com", "api").verifier().unwrap_err(),
            ConfigError::Missing("client_id"),
            "the verifier checks `azp` against the client id"
        );
        assert!(auth0("t.auth0.com", "api").any_client().verifier().is_ok());
        assert_eq!(
            auth0("t.auth0.com", "api").builder().unwrap_err(),
            ConfigError::Missing("client_id")
        );
        assert!(auth0("http://t.auth0.com", "api")
            .any_client()
            .verifier()
            .is_err());
    }
}

//! Okta: JWT access tokens from a custom authorization server, checked against its JWKS.

use std::fmt;

use serde_json::Value;

use super::{base_url, segment, Common, Endpoints};
use crate::{
    proxy::OAuthProxyBuilder, user::default_user_info, Claims, ConfigError, JwksVerifier, UserInfo,
    VerifyError,
};

/// Under the authorization server's issuer.
const ENDPOINTS: Endpoints = Endpoints {
    authorize: "/v1/authorize",
    token: "/v1/token",
    revocation: Some("/v1/revoke"),
    keys: Some("/v1/keys"),
    scopes: &["openid", "email", "profile"],
};

/// Okta, for an app integration of type "OIDC – Web Application":
/// `providers::okta(domain, authorization_server).client(id, secret)`.
///
/// - `domain`: `dev-123456.okta.com` (or a full URL); `authorization_server`: `default` or the
///   id of a custom authorization server (Security → API). Tokens of Okta's *org* authorization
///   server (`https://{domain}` without `/oauth2/...`) are meant for Okta's own APIs and cannot
///   be verified by anyone else; a custom server (the free `default` one will do) is needed.
/// - Endpoints: `{domain}/oauth2/{server}/v1/authorize`, `/v1/token`, `/v1/revoke`; issuer
///   `{domain}/oauth2/{server}`.
/// - Scopes `openid email profile`, and `offline_access` when a refresh token is wanted (in
///   issued mode with the refresh grant, on every sign-in; otherwise when the client asks for
///   `offline_access`);
///   refresh tokens also need the "Refresh Token" grant enabled on the app.
/// - Verifier: [`JwksVerifier`] on `{issuer}/v1/keys`, `iss` = the issuer, `aud` = the
///   server's audience: `api://default` for the `default` server; for another server, set it
///   with [`audience`](Okta::audience). Every app of the org gets tokens with that audience,
///   so the token's `cid` must be our client id; a token without `cid` (Okta writes it in
///   every access token) is refused. [`any_client`](Okta::any_client) turns this off.
/// - User mapping: [`Okta::user_info`].
pub fn okta(domain: impl Into<String>, authorization_server: impl Into<String>) -> Okta {
    Okta {
        domain: domain.into(),
        server: authorization_server.into(),
        common: Common::new(),
        audience: None,
    }
}

/// The Okta preset; see [`okta`].
#[must_use]
pub struct Okta {
    domain: String,
    server: String,
    common: Common,
    audience: Option<String>,
}

impl Okta {
    super::common_setters! {
        client: "The app integration's client id and secret (required).",
        scopes: "The scopes requested (default `openid email profile`; `offline_access` is added \
                 when a refresh token is wanted).",
    }
    super::any_client_setter!("cid");
    super::jwks_limit_setters!();

    /// The audience of the authorization server (Security → API → the server's "Audience").
    /// Default `api://default` for the `default` server; required for any other.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The authorization server's issuer, `{domain}/oauth2/{server}`.
    pub fn issuer(&self) -> Result<String, ConfigError> {
        let domain = base_url("domain", &self.domain, false)?;
        let server = segment("authorization_server", &self.server)?;
        Ok(format!("{domain}/oauth2/{server}"))
    }

    fn audience_or_default(&self) -> Result<String, ConfigError> {
        match (&self.audience, self.server.as_str()) {
            (Some(aud), _) if !aud.is_empty() => Ok(aud.clone()),
            (None, "default") => Ok("api://default".into()),
            _ => Err(ConfigError::Missing("audience")),
        }
    }

    /// The verifier alone.
    pub fn verifier(&self) -> Result<JwksVerifier, ConfigError> {
        let issuer = self.issuer()?;
        self.common
            .jwks(&ENDPOINTS.at(&issuer), "cid")?
            .issuer(issuer)
            .audience(self.audience_or_default()?)
            .build()
    }

    /// The proxy builder, filled in; add `public_url` and `proxy_key`.
    pub fn builder(self) -> Result<OAuthProxyBuilder, ConfigError> {
        let verifier = self.verifier()?;
        let issuer = self.issuer()?;
        Ok(self
            .common
            .issuer_proxy(&ENDPOINTS, issuer, verifier, Okta::user_info)?
            .offline_access(crate::proxy::OfflineAccess::Scope))
    }

    /// Okta's access-token claims as a user: `uid` (the Okta user id, `00u...`) as `user_id`,
    /// falling back to `sub`; `sub` (the login, usually an email address) as `username`;
    /// `scp` as the scopes; a `groups` claim, if you add one to the server, as the roles.
    /// Everything else as [`default_user_info`].
    pub fn user_info(claims: &Claims) -> Result<UserInfo, VerifyError> {
        let mut info = default_user_info(claims)?;
        if let Some(login) = claims.get_str("sub") {
            info.username = Some(login.to_owned());
        }
        if let Some(uid) = claims.get_str("uid").filter(|u| !u.is_empty()) {
            info.user_id = uid.to_owned();
        }
        if let Some(Value::Array(groups)) = claims.get("groups") {
            info.roles = groups
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
        }
        Ok(info)
    }
}

impl fmt::Debug for Okta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Okta")
            .field("domain", &self.domain)
            .field("authorization_server", &self.server)
            .field("credentials", &self.common.credentials)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_preset_uses_the_custom_authorization_server() {
        let proxy = okta("dev-1.okta.com", "default")
            .client("0oa1", "okta-secret-value")
            .builder()
            .unwrap()
            .public_url("https://mcp.example.com")
            .build()
            .unwrap();
        let c = &proxy.cfg;
        let issuer = "https://dev-1.okta.com/oauth2/default";
        assert_eq!(c.upstream_issuer.as_deref(), Some(issuer));
        assert_eq!(c.auth_endpoint.as_str(), format!("{issuer}/v1/authorize"));
        assert_eq!(c.token_endpoint.as_str(), format!("{issuer}/v1/token"));
        assert!(!c.scopes.iter().any(|s| s == "offline_access"));
        assert!(!format!("{proxy:?}").contains("okta-secret-value"));
        assert!(!format!(
            "{:?}",
            okta("d.okta.com", "default").client("i", "okta-secret-value")
        )
        .contains("okta-secret-value"));
    }

    #[actix_web::test]
    async fn offline_access_is_asked_for_only_when_a_refresh_token_is_wanted() {
        crate::providers::tests::offline_access_is_asked_only_when_wanted(|| {
            okta("dev-1.okta.com", "default")
                .client("0oa1", "s")
                .builder()
                .unwrap()
        })
        .await;
    }

    #[test]
    fn a_custom_server_needs_its_audience_and_the_client_is_required() {
        assert_eq!(
            okta("dev-1.okta.com", "aus123")
                .client("0oa1", "s")
                .verifier()
                .unwrap_err(),
            ConfigError::Missing("audience")
        );
        assert!(okta("dev-1.okta.com", "aus123")
            .client("0oa1", "s")
            .audience("api://mcp")
            .verifier()
            .is_ok());
        assert_eq!(
            okta("dev-1.okta.com", "default").verifier().unwrap_err(),
            ConfigError::Missing("client_id"),
            "the verifier checks `cid` against the client id"
        );
        assert!(okta("dev-1.okta.com", "default")
            .any_client()
            .verifier()
            .is_ok());
        assert_eq!(
            okta("dev-1.okta.com", "default").builder().unwrap_err(),
            ConfigError::Missing("client_id")
        );
        assert!(okta("dev-1.okta.com", "../x").verifier().is_err());
    }

    #[test]
    fn okta_claims_map_uid_login_scp_and_groups() {
        let claims = Claims::new(
            json!({
                "sub": "ada@example.com", "uid": "00u1", "scp": ["openid", "mcp"],
                "groups": ["Everyone", "Admins"], "cid": "0oa1",
            })
            .as_object()
            .unwrap()
            .clone(),
        );
        let info = Okta::user_info(&claims).unwrap();
        assert_eq!(info.user_id, "00u1");
        assert_eq!(info.username.as_deref(), Some("ada@example.com"));
        assert_eq!(info.scopes, ["openid", "mcp"]);
        assert_eq!(info.roles, ["Everyone", "Admins"]);
        let no_uid = Claims::new(json!({"sub": "s"}).as_object().unwrap().clone());
        assert_eq!(Okta::user_info(&no_uid).unwrap().user_id, "s");
    }
}

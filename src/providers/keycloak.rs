//! Keycloak: JWT access tokens of a realm, checked against the realm's JWKS.

use std::fmt;

use serde_json::Value;

use super::{base_url, segment, Common, Endpoints};
use crate::{
    proxy::OAuthProxyBuilder, user::default_user_info, Claims, ConfigError, JwksVerifier, UserInfo,
    VerifyError,
};

/// Under the realm's issuer.
const ENDPOINTS: Endpoints = Endpoints {
    authorize: "/protocol/openid-connect/auth",
    token: "/protocol/openid-connect/token",
    revocation: Some("/protocol/openid-connect/revoke"),
    keys: Some("/protocol/openid-connect/certs"),
    scopes: &["openid", "email", "profile"],
};

/// Keycloak, for a confidential OpenID Connect client of a realm:
/// `providers::keycloak(base, realm).client(id, secret)`.
///
/// - `base`: the server's URL, `https://keycloak.example.com` (Keycloak 17 and later), or with
///   the `/auth` prefix of older servers; `realm`: the realm's name.
/// - Endpoints: `{base}/realms/{realm}/protocol/openid-connect/auth`, `/token`, `/revoke`;
///   issuer `{base}/realms/{realm}`.
/// - Scopes `openid email profile` (Keycloak issues refresh tokens without `offline_access`).
/// - Verifier: [`JwksVerifier`] on `.../protocol/openid-connect/certs`, `iss` = the issuer, `aud`
///   = our client id unless [`audience`](Keycloak::audience) says otherwise. Keycloak does not put
///   the requesting client in `aud` by default: add an "Audience" mapper (Client scopes → the
///   client's dedicated scope → Add mapper → Audience, "Included Client Audience" = the client).
///   Such a mapper also adds our client id to the tokens of the other clients that share the
///   scope, so the token's `azp` must be our client id too; a token without `azp` (Keycloak
///   writes it in every access token) is refused ([`any_client`](Keycloak::any_client) turns
///   this off). Keycloak's ID tokens (`typ` claim `ID`) share issuer, keys and audience: the
///   [`JwksVerifier`] refuses them, as it refuses every ID token.
/// - User mapping: [`Keycloak::user_info`].
///
/// Keycloak also supports dynamic client registration, so MCP clients can register with it
/// directly; then serve only the resource metadata with [`RemoteAuth`](crate::RemoteAuth) and
/// this preset's [`verifier`](Keycloak::verifier).
pub fn keycloak(base: impl Into<String>, realm: impl Into<String>) -> Keycloak {
    Keycloak {
        base: base.into(),
        realm: realm.into(),
        common: Common::new(),
        audience: None,
    }
}

/// The Keycloak preset; see [`keycloak`].
#[must_use]
pub struct Keycloak {
    base: String,
    realm: String,
    common: Common,
    audience: Option<String>,
}

impl Keycloak {
    super::common_setters! {
        client: "The client's id and secret (Credentials tab). The id is required for the \
                 proxy, and is the default audience.",
        scopes: "The scopes requested (default `openid email profile`).",
    }
    super::any_client_setter!("azp");
    super::jwks_limit_setters!();

    /// The audience tokens must carry (default: the client id).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The realm's issuer, `{base}/realms/{realm}`.
    pub fn issuer(&self) -> Result<String, ConfigError> {
        let base = base_url("base", &self.base, true)?;
        let realm = segment("realm", &self.realm)?;
        Ok(format!("{base}/realms/{realm}"))
    }

    /// The verifier alone.
    pub fn verifier(&self) -> Result<JwksVerifier, ConfigError> {
        let issuer = self.issuer()?;
        let audience = match &self.audience {
            Some(aud) if !aud.is_empty() => aud.clone(),
            Some(_) => return Err(ConfigError::Missing("audience")),
            None => self.common.credentials.id()?.to_owned(),
        };
        self.common
            .jwks(&ENDPOINTS.at(&issuer), "azp")?
            .issuer(issuer)
            .audience(audience)
            .build()
    }

    /// The proxy builder, filled in; add `public_url` and `proxy_key`.
    pub fn builder(self) -> Result<OAuthProxyBuilder, ConfigError> {
        let verifier = self.verifier()?;
        let issuer = self.issuer()?;
        self.common
            .issuer_proxy(&ENDPOINTS, issuer, verifier, Keycloak::user_info)
    }

    /// Keycloak's claims as a user: [`default_user_info`], with the roles taken from
    /// `realm_access.roles` and every `resource_access.<client>.roles` (client roles written
    /// `client:role`), since Keycloak nests them there rather than in `roles`. (That the token
    /// is an access token, not one of Keycloak's ID tokens, is the verifier's check.)
    pub fn user_info(claims: &Claims) -> Result<UserInfo, VerifyError> {
        let mut info = default_user_info(claims)?;
        let names = |v: &Value| -> Vec<String> {
            v.get("roles")
                .and_then(Value::as_array)
                .map(|roles| {
                    roles
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        if let Some(realm) = claims.get("realm_access") {
            info.roles.extend(names(realm));
        }
        if let Some(Value::Object(clients)) = claims.get("resource_access") {
            for (client, access) in clients {
                info.roles
                    .extend(names(access).into_iter().map(|r| format!("{client}:{r}")));
            }
        }
        Ok(info)
    }
}

impl fmt::Debug for Keycloak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keycloak")
            .field("base", &self.base)
            .field("realm", &self.realm)
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
    fn the_preset_uses_the_realm_endpoints() {
        let proxy = keycloak("https://kc.example/auth/", "mcp")
            .client("mcp-proxy", "kc-secret-value")
            .builder()
            .unwrap()
            .public_url("https://mcp.example.com")
            .build()
            .unwrap();
        let c = &proxy.cfg;
        let issuer = "https://kc.example/auth/realms/mcp";
        assert_eq!(c.upstream_issuer.as_deref(), Some(issuer));
        assert_eq!(
            c.auth_endpoint.as_str(),
            format!("{issuer}/protocol/openid-connect/auth")
        );
        assert_eq!(
            c.revocation_endpoint
                .as_ref()
                .map(|u| u.as_str().to_owned()),
            Some(format!("{issuer}/protocol/openid-connect/revoke"))
        );
        assert!(!format!("{proxy:?}").contains("kc-secret-value"));
    }

    #[test]
    fn the_audience_defaults_to_the_client_id_which_is_then_required() {
        assert_eq!(
            keycloak("https://kc.example", "r").verifier().unwrap_err(),
            ConfigError::Missing("client_id")
        );
        assert_eq!(
            keycloak("https://kc.example", "r")
                .audience("mcp")
                .verifier()
                .unwrap_err(),
            ConfigError::Missing("client_id"),
            "the verifier checks `azp` against the client id"
        );
        assert!(keycloak("https://kc.example", "r")
            .audience("mcp")
            .any_client()
            .verifier()
            .is_ok());
        assert!(keycloak("https://kc.example", "a/b").verifier().is_err());
    }

    #[test]
    fn realm_and_client_roles_are_mapped() {
        let claims = Claims::new(
            json!({
                "sub": "f:1", "preferred_username": "ada", "scope": "openid email",
                "realm_access": {"roles": ["offline_access", "mcp-user"]},
                "resource_access": {"mcp-proxy": {"roles": ["admin"]}, "odd": {"roles": "x"}},
            })
            .as_object()
            .unwrap()
            .clone(),
        );
        let info = Keycloak::user_info(&claims).unwrap();
        assert_eq!(info.username.as_deref(), Some("ada"));
        assert_eq!(
            info.roles,
            ["offline_access", "mcp-user", "mcp-proxy:admin"]
        );
    }
}

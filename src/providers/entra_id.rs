//! Microsoft Entra ID (Azure AD): v2.0 JWT access tokens for the app's own API, checked against
//! Microsoft's keys with the issuer of the token's tenant.

use std::{collections::HashSet, fmt, sync::Arc, time::Duration};

use futures::future::LocalBoxFuture;
use serde::Deserialize;

use super::{base_url, segment, Common, Endpoints};
use crate::validate::invalid;
use crate::{
    proxy::OAuthProxyBuilder, proxy::ResourceForwarding, user::default_user_info,
    verify::api::DEFAULT_API_TIMEOUT, verify::peek_payload, verify::IssuerPolicy, Claims,
    ConfigError, JwksVerifier, TokenVerifier, UserInfo, VerifyError,
};

const AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// Under `{authority host}/{tenant}`. No revocation endpoint; the app's API scope is added to
/// these scopes.
const ENDPOINTS: Endpoints = Endpoints {
    authorize: "/oauth2/v2.0/authorize",
    token: "/oauth2/v2.0/token",
    revocation: None,
    keys: Some("/discovery/v2.0/keys"),
    scopes: &["openid", "profile", "email"],
};
/// The tenant of personal Microsoft accounts, named in their tokens' `tid` and issuer.
const CONSUMERS_TID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
const DEFAULT_API_SCOPE: &str = "access_as_user";
/// How long Microsoft's keys are used before a refresh (they also are refetched, at most every
/// [`KEYS_REFETCH_INTERVAL`], for a token signed with a key they lack).
const KEYS_TTL: Duration = Duration::from_secs(60 * 60);
const KEYS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// Microsoft Entra ID, for an app registration (Entra admin center → App registrations):
/// `providers::entra_id(tenant).client(id, secret)`.
///
/// - `tenant`: the Directory (tenant) ID, a GUID, for a single-tenant app; `organizations` or
///   `common` for a multi-tenant app (any work or school tenant; `common` adds personal
///   accounts); `consumers` for personal Microsoft accounts only. A tenant's domain name is not
///   accepted: tokens name the tenant by its GUID.
/// - Endpoints: the v2.0 ones, `{host}/{tenant}/oauth2/v2.0/authorize` and `/token`. Entra has
///   no revocation endpoint.
/// - Scopes `openid profile email api://{client id}/access_as_user`, and `offline_access`
///   when a refresh token is wanted (in issued mode with the refresh grant, on every sign-in;
///   otherwise when the client asks for `offline_access`). The `api://` one
///   is **the app's own API scope** (App registration → Expose an API → add the scope; change
///   its name with [`api_scope`](EntraId::api_scope), the `api://...` prefix with
///   [`app_id_uri`](EntraId::app_id_uri)), and in the manifest set
///   `"requestedAccessTokenVersion": 2` so that Entra issues v2.0 tokens.
/// - The `resource` parameter is never forwarded: the v2.0 endpoints refuse it alongside
///   scopes.
/// - Verifier: [`EntraIdVerifier`].
/// - User mapping: [`default_user_info`]: `sub` (pairwise, stable for this app), `name`,
///   `preferred_username`, `scp` as scopes, `roles` (app roles); `oid` and `tid` are in the
///   claims. `email` only if added as an optional claim, and only when Entra marks its domain
///   as verified by the tenant: the optional claim `xms_edov` ("email domain owner verified")
///   is `true` (add it to the token configuration too). Entra sends no `email_verified`, and its
///   `email` is whatever the account's mail attribute says.
///
/// **Microsoft Graph tokens cannot be verified by anyone but Graph**: a token requested for
/// `User.Read` (or any Graph scope) is signed for Graph in a way third parties cannot check.
/// That is why this preset asks for a scope of your own API. If your tools also call Graph,
/// get a Graph token on the user's behalf with the on-behalf-of flow.
pub fn entra_id(tenant: impl Into<String>) -> EntraId {
    EntraId {
        tenant: tenant.into(),
        common: Common::new(),
        api_scope: DEFAULT_API_SCOPE.into(),
        app_id_uri: None,
        allowed_tenants: Vec::new(),
        authority_host: AUTHORITY_HOST.into(),
        timeout: DEFAULT_API_TIMEOUT,
    }
}

/// The Entra ID preset; see [`entra_id`].
#[must_use]
pub struct EntraId {
    tenant: String,
    common: Common,
    api_scope: String,
    app_id_uri: Option<String>,
    allowed_tenants: Vec<String>,
    authority_host: String,
    timeout: Duration,
}

/// Which tenants' tokens are accepted.
#[derive(Debug, Clone)]
enum Tenancy {
    One(String),
    Any,
    Listed(HashSet<String>),
}

impl EntraId {
    super::common_setters! {
        client: "The app's Application (client) ID and a client secret (required).",
        scopes: "Replaces the scopes requested. Keep one scope of your API in them, or the \
                 access token will be Graph's, which cannot be verified.",
    }
    super::any_client_setter!("azp");
    super::jwks_limit_setters!();

    /// The name of the scope the app exposes (default `access_as_user`).
    pub fn api_scope(mut self, name: impl Into<String>) -> Self {
        self.api_scope = name.into();
        self
    }

    /// The Application ID URI (default `api://{client id}`); also accepted as `aud`.
    pub fn app_id_uri(mut self, uri: impl Into<String>) -> Self {
        self.app_id_uri = Some(uri.into());
        self
    }

    /// For a multi-tenant app: accept tokens of these tenant GUIDs only (default: any tenant).
    ///
    /// A verification setting: the verifier trusts the issuers (and so the keys' signatures)
    /// of these tenants only, and a token of another tenant is an invalid token (`401
    /// invalid_token`, the client asked to sign in again). To say **who may use the server**,
    /// use the access policy's
    /// [`allow_entra_tenants`](crate::access::AccessPolicyBuilder::allow_entra_tenants): a user
    /// of another tenant then gets `403 access_denied` and, at sign-in, the access-denied
    /// page. Setting both keeps other tenants' tokens out of verification as well.
    pub fn allowed_tenants<I, S>(mut self, tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_tenants = tenants.into_iter().map(Into::into).collect();
        self
    }

    /// The authority host (default `https://login.microsoftonline.com`; national clouds use
    /// their own).
    pub fn authority_host(mut self, url: impl Into<String>) -> Self {
        self.authority_host = url.into();
        self
    }

    /// The time allowed for fetching Microsoft's keys (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn tenancy(&self) -> Result<Tenancy, ConfigError> {
        let multi = matches!(self.tenant.as_str(), "organizations" | "common");
        if !self.allowed_tenants.is_empty() && !multi {
            return Err(invalid(
                "allowed_tenants",
                "only for a multi-tenant app (tenant `organizations` or `common`)",
            ));
        }
        if let Some(bad) = self.allowed_tenants.iter().find(|t| !is_guid(t)) {
            return Err(invalid(
                "allowed_tenants",
                &format!("`{bad}` is not a tenant id (GUID)"),
            ));
        }
        Ok(match self.tenant.as_str() {
            _ if multi && self.allowed_tenants.is_empty() => Tenancy::Any,
            _ if multi => Tenancy::Listed(
                self.allowed_tenants
                    .iter()
                    .map(|t| t.to_ascii_lowercase())
                    .collect(),
            ),
            "consumers" => Tenancy::One(CONSUMERS_TID.into()),
            t if is_guid(t) => Tenancy::One(t.to_ascii_lowercase()),
            _ => {
                return Err(invalid(
                    "tenant",
                    "the Directory (tenant) ID (a GUID), `organizations`, `common` or `consumers`",
                ))
            }
        })
    }

    fn app_id_uri_or_default(&self) -> Result<String, ConfigError> {
        Ok(match &self.app_id_uri {
            Some(uri) if !uri.is_empty() => uri.trim_end_matches('/').to_owned(),
            Some(_) => return Err(ConfigError::Missing("app_id_uri")),
            None => format!("api://{}", self.common.credentials.id()?),
        })
    }

    /// The verifier alone.
    pub fn verifier(&self) -> Result<EntraIdVerifier, ConfigError> {
        let host = base_url("authority_host", &self.authority_host, false)?;
        let tenant = segment("tenant", &self.tenant)?;
        let tenancy = self.tenancy()?;
        if self.timeout.is_zero() {
            return Err(invalid("timeout", "must be positive"));
        }
        let audiences = [
            self.common.credentials.id()?.to_owned(),
            self.app_id_uri_or_default()?,
        ];
        // One key set for every tenant, and the issuer of the tenant the signed token names.
        let jwks = self
            .common
            .jwks(&ENDPOINTS.at(&format!("{host}/{tenant}")), "azp")?
            .issuer_policy(IssuerPolicy::per_tenant(
                format!("{host}/{{tenant}}/v2.0"),
                "tid",
            ))
            .audiences(audiences)
            .cache_ttl(KEYS_TTL)
            .refetch_interval(KEYS_REFETCH_INTERVAL)
            .fetch_timeout(self.timeout)
            .build()?;
        Ok(EntraIdVerifier {
            inner: Arc::new(Inner {
                jwks,
                tenancy,
                host,
            }),
        })
    }

    /// The proxy builder, filled in; add `public_url` and `proxy_key`.
    pub fn builder(mut self) -> Result<OAuthProxyBuilder, ConfigError> {
        let verifier = self.verifier()?;
        if self.common.scopes.is_none() {
            let api = format!("{}/{}", self.app_id_uri_or_default()?, self.api_scope);
            let defaults = ENDPOINTS.scopes.iter().map(|s| (*s).to_owned());
            self.common.scopes = Some(defaults.chain([api]).collect());
        }
        let host = &verifier.inner.host;
        let urls = ENDPOINTS.at(&format!("{host}/{}", self.tenant));
        let mut builder = self
            .common
            .proxy(urls, ENDPOINTS.scopes)?
            .resource_forwarding(ResourceForwarding::Omit)
            .offline_access(crate::proxy::OfflineAccess::Scope)
            .user_info(entra_user_info);
        if let Tenancy::One(tid) = &verifier.inner.tenancy {
            builder = builder.issuer(format!("{host}/{tid}/v2.0"));
        }
        Ok(builder.verifier(verifier))
    }
}

impl fmt::Debug for EntraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraId")
            .field("tenant", &self.tenant)
            .field("credentials", &self.common.credentials)
            .field("api_scope", &self.api_scope)
            .field("allowed_tenants", &self.allowed_tenants)
            .finish_non_exhaustive()
    }
}

/// Verifies Entra ID v2.0 access tokens issued for the app's own API; made by
/// [`EntraId::verifier`].
///
/// A token is accepted when:
/// - its tenant (`tid`) is the configured one, or for a multi-tenant app any tenant (or one of
///   [`allowed_tenants`](EntraId::allowed_tenants));
/// - its signature verifies with Microsoft's keys (`{host}/{tenant}/discovery/v2.0/keys`): one
///   [`JwksVerifier`] key set shared by all tenants, so a token naming a tenant never seen
///   before costs no fetch and no more work than any other token. The keys are refreshed
///   after an hour (or the response's `Cache-Control: max-age`) and on an unknown `kid` at
///   most every 30 s; a fetch runs on its own thread and is never cancelled by a request
///   going away;
/// - `iss` is `{host}/{tid}/v2.0` for the token's own `tid`: the templated issuer of the
///   multi-tenant metadata, filled from the signed `tid` ([`IssuerPolicy::per_tenant`]);
/// - `aud` is our client id (or the Application ID URI);
/// - `azp` is our client id too: any client app a user consents to can get tokens for our API
///   (unless the API lists its authorized client applications), and those are not ours to
///   accept. A token without `azp` is refused ([`EntraId::any_client`] turns both off);
/// - `ver` is `2.0` (a v1.0 token means the manifest still asks for v1 tokens);
/// - `scp` grants a delegated scope: an application-only token (`idtyp` = `app`, or `roles`
///   without `scp`: a client's own token, with no user signed in) is refused, and so is the
///   app's ID token, which has the same issuer, audience and keys but is no access token (the
///   [`JwksVerifier`] also refuses any token carrying `nonce`);
/// - `exp`, `nbf` and `iat` hold, with 60 s of leeway.
#[derive(Clone)]
pub struct EntraIdVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    jwks: JwksVerifier,
    tenancy: Tenancy,
    host: String,
}

/// What the token says before its signature is checked: only used to refuse, without a
/// signature check, tokens of tenants we do not serve. The signed `tid` is checked again.
#[derive(Deserialize)]
struct Unverified {
    tid: Option<String>,
}

impl Inner {
    fn tenant_of(&self, token: &str) -> Result<String, VerifyError> {
        let claims: Unverified = peek_payload(token)?;
        let tid = claims
            .tid
            .filter(|t| is_guid(t))
            .ok_or(VerifyError::InvalidClaim("tid"))?;
        let allowed = match &self.tenancy {
            Tenancy::One(ours) => &tid == ours,
            Tenancy::Any => true,
            Tenancy::Listed(set) => set.contains(&tid),
        };
        if !allowed {
            return Err(VerifyError::Issuer);
        }
        Ok(tid)
    }

    async fn check(&self, token: &str) -> Result<Claims, VerifyError> {
        let tid = self.tenant_of(token)?;
        let claims = self.jwks.verify(token).await?;
        if claims.get_str("tid") != Some(tid.as_str()) {
            return Err(VerifyError::Issuer);
        }
        // A user's token for our API carries delegated scopes (`scp`). One with application
        // permissions (`roles`) and no `scp` is a client's own (client credentials): no user
        // signed in to it. The app's own ID tokens share this issuer, audience (the client id)
        // and keys, and carry neither.
        let grants = |name: &str| match claims.get(name) {
            Some(serde_json::Value::String(s)) => !s.trim().is_empty(),
            Some(serde_json::Value::Array(items)) => !items.is_empty(),
            _ => false,
        };
        if claims.get_str("idtyp") == Some("app") || (!grants("scp") && grants("roles")) {
            return Err(VerifyError::NotAccessToken(
                "an application-only token (`roles` without `scp`): no user signed in",
            ));
        }
        if !grants("scp") {
            return Err(VerifyError::Rejected(
                "no `scp`: not a delegated access token for this API (an ID token?)".into(),
            ));
        }
        if claims.get_str("ver") != Some("2.0") {
            return Err(VerifyError::Rejected(
                "not a v2.0 access token: set \"requestedAccessTokenVersion\": 2 in the app \
                 manifest"
                    .into(),
            ));
        }
        Ok(claims)
    }
}

impl TokenVerifier for EntraIdVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> LocalBoxFuture<'a, Result<Claims, VerifyError>> {
        Box::pin(self.inner.check(token))
    }
}

impl fmt::Debug for EntraIdVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraIdVerifier")
            .field("jwks", &self.inner.jwks)
            .field("tenancy", &self.inner.tenancy)
            .finish_non_exhaustive()
    }
}

/// `8-4-4-4-12` hexadecimal digits, as Entra writes tenant ids (lowercase).
fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// [`default_user_info`], with `email` taken when Entra's `xms_edov` says the address's domain
/// is verified by the tenant that owns it (Entra's own equivalent of `email_verified`).
fn entra_user_info(claims: &Claims) -> Result<UserInfo, VerifyError> {
    let mut info = default_user_info(claims)?;
    let domain_verified = matches!(claims.get("xms_edov"), Some(serde_json::Value::Bool(true)))
        || matches!(claims.get_str("xms_edov"), Some("true" | "1"));
    if info.email.is_none() && domain_verified {
        info.email = claims.get_str("email").map(str::to_owned);
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    #[test]
    fn entra_email_is_mapped_only_when_its_domain_is_owner_verified() {
        let claims = |edov: serde_json::Value| {
            let mut map = serde_json::Map::new();
            map.insert("sub".into(), "s".into());
            map.insert("email".into(), "ada@contoso.com".into());
            if !edov.is_null() {
                map.insert("xms_edov".into(), edov);
            }
            crate::Claims::new(map)
        };
        let email = |edov| super::entra_user_info(&claims(edov)).unwrap().email;
        assert_eq!(email(true.into()), Some("ada@contoso.com".into()));
        assert_eq!(email("true".into()), Some("ada@contoso.com".into()));
        assert_eq!(email(false.into()), None);
        assert_eq!(email(serde_json::Value::Null), None);
        assert_eq!(email("yes".into()), None);
    }

    use super::*;

    const TID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const CLIENT: &str = "11111111-2222-3333-4444-555555555555";

    #[test]
    fn a_single_tenant_preset_uses_v2_endpoints_its_api_scope_and_never_forwards_resource() {
        let proxy = entra_id(TID)
            .client(CLIENT, "entra-secret-value")
            .builder()
            .unwrap()
            .public_url("https://mcp.example.com")
            .build()
            .unwrap();
        let c = &proxy.cfg;
        let base = format!("https://login.microsoftonline.com/{TID}");
        assert_eq!(
            c.auth_endpoint.as_str(),
            format!("{base}/oauth2/v2.0/authorize")
        );
        assert_eq!(
            c.token_endpoint.as_str(),
            format!("{base}/oauth2/v2.0/token")
        );
        assert_eq!(c.upstream_issuer.as_deref(), Some(&*format!("{base}/v2.0")));
        assert!(c.revocation_endpoint.is_none());
        assert_eq!(
            c.scopes.last().map(String::as_str),
            Some(&*format!("api://{CLIENT}/access_as_user"))
        );
        assert_eq!(c.resource_forwarding, ResourceForwarding::Omit);
        assert!(!format!("{proxy:?}").contains("entra-secret-value"));
    }

    #[actix_web::test]
    async fn offline_access_is_asked_for_only_when_a_refresh_token_is_wanted() {
        crate::providers::tests::offline_access_is_asked_only_when_wanted(|| {
            entra_id(TID).client(CLIENT, "s").builder().unwrap()
        })
        .await;
    }

    #[test]
    fn a_multi_tenant_preset_names_no_fixed_issuer() {
        let proxy = entra_id("organizations")
            .client(CLIENT, "s")
            .api_scope("mcp.tools")
            .builder()
            .unwrap()
            .public_url("https://mcp.example.com")
            .build()
            .unwrap();
        assert!(proxy.cfg.upstream_issuer.is_none());
        assert!(proxy
            .cfg
            .auth_endpoint
            .as_str()
            .contains("/organizations/oauth2/v2.0/authorize"));
        assert_eq!(
            proxy.cfg.scopes.last().map(String::as_str),
            Some(&*format!("api://{CLIENT}/mcp.tools"))
        );
    }

    #[test]
    fn tenants_must_be_guids_or_the_multi_tenant_names() {
        let build = |tenant: &str| entra_id(tenant).client(CLIENT, "s").verifier();
        assert!(build(TID).is_ok());
        assert!(build("common").is_ok());
        assert!(build("consumers").is_ok());
        assert!(build("contoso.onmicrosoft.com").is_err());
        assert!(build("../x").is_err());
        assert!(entra_id(TID)
            .client(CLIENT, "s")
            .allowed_tenants([TID])
            .verifier()
            .is_err());
        assert!(entra_id("organizations")
            .client(CLIENT, "s")
            .allowed_tenants(["contoso"])
            .verifier()
            .is_err());
        assert_eq!(
            entra_id(TID).verifier().unwrap_err(),
            ConfigError::Missing("client_id")
        );
    }

    #[test]
    fn guids_are_recognised() {
        assert!(is_guid(TID));
        assert!(!is_guid("72f988bf86f141af91ab2d7cd011db47"));
        assert!(!is_guid("72f988bf-86f1-41af-91ab-2d7cd011db4g"));
        assert!(!is_guid(""));
    }
}

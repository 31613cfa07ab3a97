//! The tokens the proxy issues itself ([`TokenMode::Issued`](super::TokenMode::Issued)), seen
//! from both ends: how an upstream token becomes the identity they carry, and how the MCP
//! endpoint's [`RequireAuth`](crate::RequireAuth) turns one back into an [`AuthUser`].
//!
//! At `/mcp` an issued token is recognised by its shape (a compact JWE: five parts), opened
//! with any configured proxy key (one AES-GCM decryption), and checked for kind, expiry,
//! audience (this server's canonical resource) and issuer: no signature check and no upstream
//! call. A provider's own token sent directly is refused with `invalid_token` unless the proxy
//! is configured to accept upstream tokens (or runs in passthrough mode); it is then verified
//! with the configured verifier and mapped as usual.

use std::{fmt, sync::Arc};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use futures::future::LocalBoxFuture;
use serde_json::{Map, Value};

use super::{
    revocations::Revocations,
    seal::{SealError, Sealer},
    state::{CarriedToken, Identity, IssuedAccess},
};
use crate::{
    clock::Clock,
    middleware::Authenticate,
    secret::AccessToken,
    user::UserInfoFn,
    verify::{check_client, peek_payload},
    AuthUser, Claims, TokenVerifier, UserInfo, VerifyError,
};

/// Largest claims object an issued value carries as JSON; larger sets keep only the claims
/// below. Claims that are the upstream JWT's own payload cost nothing: they are read from it.
const MAX_CLAIMS_BYTES: usize = 2048;

/// The claims kept from a verified claims set too large to carry whole.
const KEPT_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "azp",
    "client_id",
    "cid",
    "appid",
    "tid",
    "oid",
    "scope",
    "scp",
    "email",
    "email_verified",
    "name",
    "preferred_username",
    "login",
    "roles",
    "permissions",
];

/// How an upstream access token becomes a user: the configured verifier, then the mapping.
/// The same check runs at the callback, at each refresh, and at `/mcp` for provider tokens
/// where those are accepted.
pub(crate) struct UpstreamCheck {
    pub(crate) verifier: Arc<dyn TokenVerifier>,
    pub(crate) user_info: Arc<UserInfoFn>,
    /// The proxy's upstream client id, which a token naming its client must name; `None`
    /// when the operator turned the check off.
    pub(crate) client_id: Option<String>,
}

impl UpstreamCheck {
    /// The verified claims of `token` and the user they map to.
    pub(crate) async fn verify(&self, token: &str) -> Result<(Claims, UserInfo), VerifyError> {
        let claims = self.verifier.verify(token).await?;
        if let Some(client_id) = &self.client_id {
            check_client(&claims, client_id)?;
        }
        let user = (self.user_info)(&claims)?;
        Ok((claims, user))
    }
}

/// The identity an issued value carries for `user`, verified from `upstream_token` with
/// `claims`: the claims are left out when they are the token's own JWT payload, and bounded
/// otherwise. The scopes are not kept here: the issued value carries the granted ones.
pub(crate) fn identity(claims: &Claims, mut user: UserInfo, upstream_token: &str) -> Identity {
    user.scopes.clear();
    let exp = claims.expires_at();
    let map = claims.as_map();
    let in_token =
        peek_payload::<Map<String, Value>>(upstream_token).is_ok_and(|payload| payload == *map);
    let claims = if in_token { None } else { Some(bounded(map)) };
    Identity { user, claims, exp }
}

fn bounded(map: &Map<String, Value>) -> Map<String, Value> {
    let size = serde_json::to_vec(map).map_or(usize::MAX, |json| json.len());
    if size <= MAX_CLAIMS_BYTES {
        return map.clone();
    }
    let kept: Map<String, Value> = map
        .iter()
        .filter(|(name, _)| KEPT_CLAIMS.contains(&name.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if serde_json::to_vec(&kept).map_or(usize::MAX, |json| json.len()) <= MAX_CLAIMS_BYTES {
        return kept;
    }
    // Even the registered claims are too large (a huge `roles`): keep the few that are small.
    kept.into_iter()
        .filter(|(_, v)| !v.is_array() && !v.is_object())
        .collect()
}

/// The claims `identity` stands for: its own, or the payload of the upstream token, parsed
/// only when a handler reads them.
pub(crate) fn claims_of(identity: &Identity, upstream: &CarriedToken) -> Claims {
    match &identity.claims {
        Some(map) => Claims::new(map.clone()),
        None => {
            let payload = match upstream.payload() {
                Some(json) => json.to_vec(),
                None => upstream
                    .token()
                    .split('.')
                    .nth(1)
                    .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
                    .unwrap_or_else(|| b"{}".to_vec()),
            };
            // Verified when the identity was sealed; the seal keeps it as it was.
            Claims::from_verified_json(payload, identity.exp)
        }
    }
}

/// A compact JWE has five parts; a JWS (a provider's JWT) three, an opaque token one.
pub(crate) fn has_issued_shape(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 4
}

/// The bearer check of the MCP endpoint behind an [`OAuthProxy`](super::OAuthProxy).
pub(crate) struct McpTokens {
    pub(crate) sealer: Sealer,
    pub(crate) upstream: Arc<UpstreamCheck>,
    /// Issued tokens are looked for (issued mode).
    pub(crate) issued: bool,
    /// Provider tokens are verified (passthrough mode, or `accept_upstream_tokens`).
    pub(crate) accept_upstream: bool,
    pub(crate) issuer: String,
    pub(crate) resource: String,
    /// The access tokens revoked here, refused on a cache miss and on every cache hit.
    pub(crate) revocations: Arc<Revocations>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl fmt::Debug for McpTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpTokens")
            .field("issued", &self.issued)
            .field("accept_upstream", &self.accept_upstream)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

impl McpTokens {
    /// The user of an issued access token, and its expiry.
    async fn open(&self, token: &str) -> Result<(AuthUser, Option<u64>), SealOrVerify> {
        let access = self
            .sealer
            .open::<IssuedAccess>(token)
            .map_err(SealOrVerify::Seal)?;
        let now = self.clock.now();
        check_access(&access, &self.resource, &self.issuer, now).map_err(SealOrVerify::Verify)?;
        if self.revocations.is_revoked(&access.id, now) {
            return Err(SealOrVerify::Verify(VerifyError::Rejected(
                "the access token was revoked".into(),
            )));
        }
        let claims = claims_of(&access.identity, &access.upstream_access_token);
        let mut info = access.identity.user;
        info.scopes = access.scopes;
        let upstream = access.upstream_access_token;
        let user = AuthUser::issued(
            info,
            claims,
            AccessToken::new(token),
            move || upstream.token(),
            access.id,
        );
        Ok((user, Some(access.exp)))
    }

    async fn upstream_user(&self, token: &str) -> Result<(AuthUser, Option<u64>), VerifyError> {
        let (claims, info) = self.upstream.verify(token).await?;
        let exp = claims.expires_at();
        Ok((AuthUser::new(info, claims, AccessToken::new(token)), exp))
    }
}

/// What an opened access token must say to be accepted here: this resource, this issuer, and
/// an expiry still ahead. The expiry is the token's own, checked whatever the seal says.
fn check_access(
    access: &IssuedAccess,
    resource: &str,
    issuer: &str,
    now: u64,
) -> Result<(), VerifyError> {
    if access.aud != resource {
        return Err(VerifyError::Audience);
    }
    if access.iss != issuer {
        return Err(VerifyError::Issuer);
    }
    if access.exp <= now {
        return Err(VerifyError::Expired);
    }
    Ok(())
}

enum SealOrVerify {
    Seal(SealError),
    Verify(VerifyError),
}

impl Authenticate for McpTokens {
    fn authenticate<'a>(
        &'a self,
        token: &'a str,
    ) -> LocalBoxFuture<'a, Result<(AuthUser, Option<u64>), VerifyError>> {
        Box::pin(async move {
            if self.issued && has_issued_shape(token) {
                match self.open(token).await {
                    Ok(found) => return Ok(found),
                    Err(SealOrVerify::Verify(e)) => return Err(e),
                    Err(SealOrVerify::Seal(SealError::Expired)) => {
                        return Err(VerifyError::Expired)
                    }
                    Err(SealOrVerify::Seal(SealError::WrongKind)) => {
                        return Err(VerifyError::Rejected(
                            "a value sealed by this proxy that is not an access token".into(),
                        ))
                    }
                    // Not sealed with a key of ours: a provider may issue JWE tokens too.
                    Err(SealOrVerify::Seal(e)) if !self.accept_upstream => {
                        return Err(VerifyError::Rejected(format!("issued token refused: {e}")))
                    }
                    Err(SealOrVerify::Seal(_)) => {}
                }
            }
            if !self.accept_upstream {
                return Err(VerifyError::Rejected(
                    "not a token this proxy issued (provider tokens are not accepted)".into(),
                ));
            }
            self.upstream_user(token).await
        })
    }

    fn revoked(&self, user: &AuthUser, now: u64) -> bool {
        user.issued_id()
            .is_some_and(|id| self.revocations.is_revoked(id, now))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::{
        clock::ManualClock,
        proxy::{
            seal::MAX_SEALED_BYTES,
            state::{random_id, ClientBinding, IssuedAccess},
        },
        ProxyKey,
    };

    /// A JWS with `payload`, a header like the provider's and an RS256-sized signature.
    fn jwt(header: serde_json::Value, payload: &serde_json::Value) -> String {
        let part = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let signature = URL_SAFE_NO_PAD.encode(josekit::util::random_bytes(256));
        format!("{}.{}.{signature}", part(&header), part(payload))
    }

    /// The access token oidc-provider issues in the end-to-end suite (JWT access tokens with a
    /// resource indicator).
    fn e2e_provider_token() -> (String, serde_json::Value) {
        let payload = json!({
            "jti": "Pq1zhmQ4XvWAXl3t6NQQWLZ1qfVtuIRmJpTZCtPnMWi",
            "sub": "user-1",
            "iat": 1_700_000_000u64,
            "exp": 1_700_003_600u64,
            "scope": "openid email profile",
            "client_id": "mcp-proxy",
            "iss": "http://127.0.0.1:45678",
            "aud": "http://127.0.0.1:45679/mcp",
            "email": "user-1@example.test",
        });
        let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "XwtTyr7RC1MUEyIlmGw2FfgKxJO1pq3K0WxN3VEzJeU"});
        (jwt(header, &payload), payload)
    }

    /// An Entra ID v1 access token for Microsoft Graph, with the claims such tokens carry.
    fn entra_sized_token() -> (String, serde_json::Value) {
        let payload = json!({
            "aud": "00000003-0000-0000-c000-000000000000",
            "iss": "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
            "iat": 1_700_000_000u64, "nbf": 1_700_000_000u64, "exp": 1_700_004_772u64,
            "acct": 0, "acr": "1",
            "aio": "AVQAq/8VAAAAX3DsLBm6Pu4YQ6KZkTmdzRUkGqHVBqAkgR1FGxWv9wRkGLXeS1w1jmJMbHi9+HyZ4VWRpDXJ8GfrNn4ZSOQb5ZQkpS1lm3X2C6NiEN5EJIk=",
            "amr": ["pwd", "mfa"],
            "app_displayname": "MCP Server Proxy",
            "appid": "6731de76-14a6-49ae-97bc-6eba6914391e",
            "appidacr": "1",
            "family_name": "Lovelace", "given_name": "Ada",
            "idtyp": "user",
            "ipaddr": "2001:db8:85a3::8a2e:370:7334",
            "name": "Ada Lovelace",
            "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474",
            "onprem_sid": "S-1-5-21-2127521184-1604012920-1887927527-1234567",
            "platf": "14",
            "puid": "10032001A2B3C4D5",
            "rh": "0.ARoAv4j5cvGGr0GRqy180BHbRwMAAAAAAAAAwAAAAAAAAAAaAKI.",
            "scp": "email openid profile User.Read Mail.Read Calendars.Read Files.Read.All",
            "signin_state": ["kmsi"],
            "sub": "l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA",
            "tenant_region_scope": "WW",
            "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "unique_name": "ada@contoso.com",
            "upn": "ada@contoso.com",
            "uti": "fqiBqXLPj0eQa82S-IYFAA",
            "ver": "1.0",
            "wids": ["b79fbf4d-3ef9-4689-8143-76b194e85509", "62e90394-69f5-4237-9190-012177145e10"],
            "xms_cc": ["CP1"],
            "xms_ftd": "zIx0SODdS3lUV1m4bF2ofFiDEnpiaMhZNzJqsW-gNyUBdXNlYXN0LWRzbXM",
            "xms_idrel": "1 24",
            "xms_st": {"sub": "7Zg2lO3ZoyH2HSbWzEmNq7FgvMGIPnQSD0UKFj3Z2sY"},
            "xms_tcdt": 1_289_241_547u64,
            "xms_tdbr": "EU",
        });
        let header = json!({
            "typ": "JWT", "nonce": "Fz6E0oPzWkKrY1v5e9xq4uZ3BHlKpbGbqLQ-uFhXbQA",
            "alg": "RS256", "x5t": "L1KfKFI_jnXbwWc22xZxw1sUHH0", "kid": "L1KfKFI_jnXbwWc22xZxw1sUHH0",
        });
        (jwt(header, &payload), payload)
    }

    fn issued_size(token: &str, payload: &serde_json::Value) -> usize {
        let key = ProxyKey::from_bytes(&[1; 32]).unwrap();
        let sealer = Sealer::new(vec![key], ManualClock::at(1_700_000_000)).unwrap();
        let claims = Claims::new(payload.as_object().unwrap().clone());
        let user = crate::user::default_user_info(&claims).unwrap();
        let identity = identity(&claims, user, token);
        assert!(identity.claims.is_none(), "the claims are the token's own");
        let access = IssuedAccess {
            iss: "https://mcp.example.com".into(),
            aud: "https://mcp.example.com/mcp".into(),
            client: ClientBinding::of(&"c".repeat(600)),
            scopes: ["openid", "email", "profile"].map(String::from).to_vec(),
            identity,
            upstream_access_token: CarriedToken::of(token),
            iat: 1_700_000_000,
            exp: 1_700_003_600,
            id: random_id(),
        };
        let sealed = sealer.seal_for(&access, Duration::from_secs(3600)).unwrap();
        let opened = sealer.open::<IssuedAccess>(&sealed).unwrap();
        assert_eq!(opened.upstream_access_token.token(), token);
        let claims = claims_of(&opened.identity, &opened.upstream_access_token);
        assert_eq!(claims.as_map(), payload.as_object().unwrap());
        assert_eq!(claims.expires_at(), payload["exp"].as_u64());
        sealed.len()
    }

    #[test]
    fn a_carried_token_rebuilds_exactly_whatever_its_form() {
        let (jwt, _) = e2e_provider_token();
        for token in [
            jwt.as_str(),
            "gho_16C7e42F292c6912E7710c838347Ae178B4a",
            "a.b.c",
            "eyJ9.e30.sig",
            "e30.e30.sig.extra",
            "",
        ] {
            let carried = CarriedToken::of(token);
            assert_eq!(carried.token(), token);
        }
        // Non-canonical base64 (trailing bits set) is carried as it is, not normalised.
        let odd = "e30.e31.sig";
        assert_eq!(CarriedToken::of(odd).token(), odd);
        assert!(CarriedToken::of(&jwt).payload().is_some());
    }

    #[test]
    fn issued_access_tokens_stay_within_their_size_bounds() {
        let (token, payload) = e2e_provider_token();
        let size = issued_size(&token, &payload);
        assert!(
            size <= 1536,
            "e2e provider: {size} bytes (upstream {})",
            token.len()
        );
        let (token, payload) = entra_sized_token();
        assert!(token.len() > 2000, "an Entra-sized token: {}", token.len());
        let size = issued_size(&token, &payload);
        assert!(
            size <= 4096,
            "Entra-sized: {size} bytes (upstream {})",
            token.len()
        );
        assert!(size < MAX_SEALED_BYTES);
    }

    #[test]
    fn claims_other_than_the_tokens_own_are_carried_and_bounded() {
        let small = Claims::new(
            json!({"sub": "u", "login": "octo"})
                .as_object()
                .unwrap()
                .clone(),
        );
        let carried = identity(&small, UserInfo::default(), "gho_opaque");
        assert_eq!(carried.claims.as_ref(), Some(small.as_map()));
        let roles: Vec<String> = (0..400).map(|i| format!("role-{i}")).collect();
        let huge = json!({"sub": "u", "email": "a@b", "blob": "x".repeat(5000), "roles": roles});
        let huge = Claims::new(huge.as_object().unwrap().clone());
        let kept = identity(&huge, UserInfo::default(), "opaque")
            .claims
            .unwrap();
        assert_eq!(kept.get("sub"), Some(&json!("u")));
        assert_eq!(kept.get("email"), Some(&json!("a@b")));
        assert!(kept.get("blob").is_none() && kept.get("roles").is_none());
        assert!(serde_json::to_vec(&kept).unwrap().len() <= MAX_CLAIMS_BYTES);
    }

    #[test]
    fn an_access_token_past_its_own_expiry_is_refused_whatever_its_seal_says() {
        let (token, payload) = e2e_provider_token();
        let claims = Claims::new(payload.as_object().unwrap().clone());
        let user = crate::user::default_user_info(&claims).unwrap();
        let access = IssuedAccess {
            iss: "https://as".into(),
            aud: "https://as/mcp".into(),
            client: ClientBinding::of("c"),
            scopes: Vec::new(),
            identity: identity(&claims, user, &token),
            upstream_access_token: CarriedToken::of(&token),
            iat: 100,
            exp: 200,
            id: random_id(),
        };
        let check = |now| check_access(&access, "https://as/mcp", "https://as", now);
        assert_eq!(check(199), Ok(()));
        assert_eq!(check(200), Err(VerifyError::Expired));
        assert_eq!(check(10_000), Err(VerifyError::Expired));
        assert_eq!(
            check_access(&access, "https://other/mcp", "https://as", 150),
            Err(VerifyError::Audience)
        );
        // Never sealed without an expiry on the envelope.
        let sealer = Sealer::new(
            vec![ProxyKey::from_bytes(&[1; 32]).unwrap()],
            ManualClock::at(100),
        )
        .unwrap();
        assert!(sealer.seal(&access).is_err());
    }

    #[test]
    fn the_issued_shape_is_five_parts() {
        assert!(has_issued_shape("a.b.c.d.e"));
        assert!(has_issued_shape("a..c.d.e"));
        assert!(!has_issued_shape("a.b.c"));
        assert!(!has_issued_shape("opaque"));
        assert!(!has_issued_shape("a.b.c.d.e.f"));
    }
}

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
    replay::ReplayGuard,
    seal::{SealError, Sealer},
    state::{Identity, IssuedAccess},
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

/// The claims `identity` stands for: its own, or the payload of `upstream_token`, parsed only
/// when a handler reads them.
pub(crate) fn claims_of(identity: &Identity, upstream_token: &str) -> Claims {
    match &identity.claims {
        Some(map) => Claims::new(map.clone()),
        None => {
            let payload = upstream_token
                .split('.')
                .nth(1)
                .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
                .unwrap_or_else(|| b"{}".to_vec());
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
    pub(crate) replay: Arc<dyn ReplayGuard>,
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
        if access.aud != self.resource {
            return Err(SealOrVerify::Verify(VerifyError::Audience));
        }
        if access.iss != self.issuer {
            return Err(SealOrVerify::Verify(VerifyError::Issuer));
        }
        if self.replay.is_used(&access.id, self.clock.now()).await {
            return Err(SealOrVerify::Verify(VerifyError::Rejected(
                "the access token was revoked".into(),
            )));
        }
        let claims = claims_of(&access.identity, &access.upstream_access_token);
        let mut info = access.identity.user;
        info.scopes = access.scopes;
        let user = AuthUser::issued(
            info,
            claims,
            AccessToken::new(token),
            AccessToken::new(access.upstream_access_token),
        );
        Ok((user, Some(access.exp)))
    }

    async fn upstream_user(&self, token: &str) -> Result<(AuthUser, Option<u64>), VerifyError> {
        let (claims, info) = self.upstream.verify(token).await?;
        let exp = claims.expires_at();
        Ok((AuthUser::new(info, claims, AccessToken::new(token)), exp))
    }
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
}

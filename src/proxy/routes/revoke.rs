//! `POST /revoke` (RFC 7009).
//!
//! In issued mode the proxy revokes its own tokens: a refresh token is recorded as revoked in
//! the [`ReplayGuard`](crate::proxy::ReplayGuard), a mark that a refresh in flight cannot clear
//! when it fails, until the refresh token's expiry (and its upstream refresh token revoked
//! upstream when a revocation endpoint is configured: when the provider refuses that token,
//! expired or unknown there, the answer is still 200, as RFC 7009 §2.2 says of invalid tokens;
//! only a provider that cannot be reached or fails answers 503 `temporarily_unavailable`, so
//! that the client retries and the revocation reaches the provider, which is what makes it
//! hold on the replicas that do not share this one's guard); an access token goes on the proxy's revocation
//! list, which every `RequireAuth` built from the proxy consults on every request, cache hit
//! or not, until the token expires. Both are per instance with the built-in guard. A token that is not one of the client's own is answered 200 and nothing is
//! forwarded (RFC 7009 §2.2). In passthrough mode the request goes to the upstream revocation
//! endpoint with the proxy's credentials; it is served then only when one is configured.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{read_body, Params, ProxyState, State};
use crate::proxy::{
    clients,
    config::TokenMode,
    error::{no_store, OAuthError},
    state::{ClientBinding, IssuedAccess, IssuedRefresh, REFRESH_TTL},
    upstream::ProviderAnswer,
};

pub(crate) async fn revoke(
    state: State,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let cfg = &state.cfg;
    let body = read_body(payload, cfg.limits.revoke_body)
        .await
        .map_err(|e| OAuthError::InvalidRequest(e.into()))?;
    let params = Params::parse(&body);
    params.check_repeated(&[])?;
    let client = match clients::authenticate(
        cfg,
        &req,
        params.get("client_id"),
        params.get("client_secret"),
    )
    .await
    {
        Ok(client) => client,
        Err(refusal) => return refusal.answer(),
    };
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::InvalidRequest("`token` is required".into()))?;
    match (cfg.token_mode, &cfg.revocation_endpoint) {
        (TokenMode::Passthrough, Some(endpoint)) => {
            let mut form = vec![("token", token)];
            if let Some(hint) = params.get("token_type_hint") {
                form.push(("token_type_hint", hint));
            }
            state
                .upstream
                .post_form(cfg, &client.binding, endpoint, form)
                .await?
                .into_revocation_response()
        }
        (TokenMode::Passthrough, None) => Err(OAuthError::InvalidRequest(
            "revocation is not supported".into(),
        )),
        _ => revoke_issued(&state, token, &client.binding).await,
    }
}

async fn revoke_issued(
    state: &ProxyState,
    token: &str,
    client: &ClientBinding,
) -> Result<HttpResponse, OAuthError> {
    let cfg = &state.cfg;
    let now = cfg.clock.now();
    if let Ok((refresh, expires_at)) = cfg.sealer.open_expiring::<IssuedRefresh>(token) {
        if refresh.client == *client {
            let until = expires_at.unwrap_or_else(|| now.saturating_add(REFRESH_TTL.as_secs()));
            // Revoked whether or not a refresh with it is in flight: that refresh's release,
            // should it fail, leaves the revocation in place. RFC 7009 §2.2.1: a revocation
            // that cannot be kept is answered 503.
            cfg.replay
                .revoke(&refresh.id, until, now)
                .await
                .map_err(super::replay_unavailable)?;
            if let (Some(endpoint), Some(upstream)) =
                (&cfg.revocation_endpoint, &refresh.upstream_refresh_token)
            {
                let form = vec![
                    ("token", upstream.as_str()),
                    ("token_type_hint", "refresh_token"),
                ];
                let revoked = state
                    .upstream
                    .post_form(cfg, client, endpoint, form)
                    .await
                    .and_then(|answer| answer.into_revocation_response());
                match revoked {
                    Err(
                        e @ (OAuthError::Unavailable(_)
                        | OAuthError::TemporarilyUnavailable(_)
                        | OAuthError::BadGateway(_)),
                    ) => {
                        log::warn!(
                            "a refresh token is revoked here, but not yet at the identity \
                             provider: {e}"
                        );
                        return Err(OAuthError::TemporarilyUnavailable(
                            "the identity provider is unavailable: retry the revocation in a \
                             moment"
                                .into(),
                        ));
                    }
                    // Expired or unknown upstream (or refused for the proxy's own
                    // credentials, logged as such): revoked here, nothing to retry.
                    Err(e) => log::debug!(
                        "the identity provider refused to revoke an upstream refresh token, \
                         revoked here: {e}"
                    ),
                    Ok(_) => {}
                }
            }
        }
    } else if let Ok(access) = cfg.sealer.open::<IssuedAccess>(token) {
        if access.client == *client && access.aud == cfg.resource {
            // Every `RequireAuth` of this proxy consults the list, on cache hits too.
            cfg.revocations
                .revoke(&access.id, access.exp, now)
                .map_err(super::replay_unavailable)?;
        }
    }
    let mut res = HttpResponse::Ok();
    no_store(&mut res);
    Ok(res.finish())
}

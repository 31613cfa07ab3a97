//! `POST /revoke` (RFC 7009): passed to the upstream revocation endpoint with the proxy's
//! credentials. Served only when a revocation endpoint is configured.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{read_body, Params, State};
use crate::proxy::{clients, error::OAuthError, upstream::ProviderAnswer};

pub(crate) async fn revoke(
    state: State,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let cfg = &state.cfg;
    let Some(endpoint) = &cfg.revocation_endpoint else {
        return Err(OAuthError::InvalidRequest(
            "revocation is not supported".into(),
        ));
    };
    let body = read_body(payload)
        .await
        .map_err(|e| OAuthError::InvalidRequest(e.into()))?;
    let params = Params::parse(&body);
    params.check_repeated(&[])?;
    if let Err(refusal) = clients::authenticate(
        cfg,
        &req,
        params.get("client_id"),
        params.get("client_secret"),
    )
    .await
    {
        return refusal.answer();
    }
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::InvalidRequest("`token` is required".into()))?;
    let mut form = vec![("token", token)];
    if let Some(hint) = params.get("token_type_hint") {
        form.push(("token_type_hint", hint));
    }
    state
        .upstream
        .post_form(cfg, endpoint, form)
        .await?
        .into_revocation_response()
}

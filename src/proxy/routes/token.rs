//! `POST /token`: opens the sealed code, checks what it is bound to, and forwards the grant to
//! the upstream with the proxy's credentials; refresh tokens pass through the same way.

use actix_web::{web, HttpRequest, HttpResponse};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};

use super::{read_body, Params, State};
use crate::proxy::{
    clients,
    config::{ProxyConfig, ResourceForwarding},
    error::OAuthError,
    state::{ClientBinding, Code},
    upstream::ProviderAnswer,
};

pub(crate) async fn token(
    state: State,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let cfg = &state.cfg;
    let body = read_body(payload)
        .await
        .map_err(|e| OAuthError::InvalidRequest(e.into()))?;
    let params = Params::parse(&body);
    params.check_repeated(&[])?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::InvalidRequest("`grant_type` is required".into()))?;
    if !cfg.grant_types.iter().any(|g| g == grant_type) {
        return Err(OAuthError::UnsupportedGrantType(
            format!("`{}` is not supported", truncate(grant_type)).into(),
        ));
    }
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
    // RFC 8707 §2.2: the token request names the same resource as the authorization request.
    cfg.check_resource(params.get("resource"))?;

    let mut form: Vec<(&str, &str)> = Vec::new();
    let code: Code;
    match grant_type {
        "authorization_code" => {
            code = redeem(cfg, &params, &client.binding)?;
            let verifier = params.get("code_verifier").unwrap_or_default();
            form.extend([
                ("grant_type", "authorization_code"),
                ("code", code.upstream_code.as_str()),
                ("redirect_uri", cfg.callback.as_str()),
                ("code_verifier", verifier),
            ]);
        }
        _ => {
            let refresh = params
                .get("refresh_token")
                .ok_or_else(|| OAuthError::InvalidRequest("`refresh_token` is required".into()))?;
            form.extend([("grant_type", "refresh_token"), ("refresh_token", refresh)]);
            if let Some(scope) = params.get("scope") {
                form.push(("scope", scope));
            }
        }
    }
    if cfg.resource_forwarding == ResourceForwarding::AsIs {
        form.push(("resource", &cfg.resource));
    }
    state
        .upstream
        .post_form(cfg, &cfg.token_endpoint, form)
        .await?
        .into_token_response()
}

/// Opens the code and checks it against this request: same client, same redirect URI, and a
/// PKCE verifier that matches the challenge.
fn redeem(cfg: &ProxyConfig, params: &Params, client: &ClientBinding) -> Result<Code, OAuthError> {
    let sealed = params
        .get("code")
        .ok_or_else(|| OAuthError::InvalidRequest("`code` is required".into()))?;
    let code = cfg.sealer.open::<Code>(sealed).map_err(|e| {
        log::debug!("code refused: {e}");
        OAuthError::InvalidGrant("the code is invalid or has expired".into())
    })?;
    if code.client != *client {
        return Err(OAuthError::InvalidGrant(
            "the code was issued to another client".into(),
        ));
    }
    match params.get("redirect_uri") {
        Some(uri) if uri != code.redirect_uri => {
            return Err(OAuthError::InvalidGrant(
                "`redirect_uri` differs from the authorization request".into(),
            ))
        }
        None if code.redirect_uri_sent => {
            return Err(OAuthError::InvalidRequest(
                "`redirect_uri` is required".into(),
            ))
        }
        _ => {}
    }
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| OAuthError::InvalidRequest("`code_verifier` is required".into()))?;
    // RFC 7636 §4.6, checked here as well as upstream: some providers ignore PKCE silently.
    if URL_SAFE_NO_PAD.encode(openssl::sha::sha256(verifier.as_bytes())) != code.code_challenge {
        return Err(OAuthError::InvalidGrant("PKCE verification failed".into()));
    }
    Ok(code)
}

/// A client-chosen value echoed in an error description is kept short.
fn truncate(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

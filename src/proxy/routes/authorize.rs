//! `GET|POST /authorize`: checks the client's request and sends the browser upstream with the
//! flow sealed into `state`.
//!
//! Until the client and its redirect URI are trusted, errors are shown to the user (400):
//! redirecting to an unchecked URI would make the proxy an open redirector. After that, errors
//! go to the client (RFC 6749 §4.1.2.1), but only for the operator's static clients and for
//! clients this browser has approved before: anyone can register a client, or publish a
//! metadata document, with a phishing page as its redirect URI, and a redirect to it from this
//! server's own domain, before any consent, would lend that page this server's name.

use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use url::Url;

use super::{error_page, read_body, Params, State};
use crate::logged::Logged;
use crate::proxy::{
    clients, config::ProxyConfig, error::OAuthError, flow, state::PendingAuthorization,
};

/// The client's `state` travels inside ours, so it is bounded.
const MAX_STATE: usize = 1024;

pub(crate) async fn authorize_get(state: State, req: HttpRequest) -> HttpResponse {
    let params = Params::parse(req.query_string().as_bytes());
    authorize(&state.cfg, &req, &params, false).await
}

pub(crate) async fn authorize_post(
    state: State,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match read_body(payload).await {
        Ok(body) => authorize(&state.cfg, &req, &Params::parse(&body), true).await,
        Err(e) => error_page(
            StatusCode::BAD_REQUEST,
            &OAuthError::InvalidRequest(e.into()),
        ),
    }
}

async fn authorize(
    cfg: &ProxyConfig,
    req: &HttpRequest,
    params: &Params,
    post: bool,
) -> HttpResponse {
    let (pending, redirect) = match trusted(cfg, params).await {
        Ok(found) => found,
        Err(e) => {
            log::debug!(
                "authorization request refused before trust: {}",
                Logged(&e.to_string())
            );
            let status = match e {
                OAuthError::Unavailable(_) | OAuthError::TemporarilyUnavailable(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                _ => StatusCode::BAD_REQUEST,
            };
            return error_page(status, &e);
        }
    };
    // The token gets what this request asks for (and the user approves, and the provider
    // grants), never more: a step-up keeps earlier scopes because the 403 challenge lists
    // them, not because this browser once approved them (least privilege; and a client
    // signing in from another browser, or registered anew, must get the same answer).
    let state = params.get("state");
    let approved = pending.static_client || flow::remembered(cfg, req, &pending);
    match check(cfg, params, pending) {
        // The transaction is sealed only once the user has approved (or consent is
        // remembered or off), right before the upstream redirect.
        Ok(pending) => flow::begin(cfg, req, pending, &redirect, post),
        Err(e) if approved => {
            log::debug!("authorization request refused: {}", Logged(&e.to_string()));
            e.redirect(&redirect, state.filter(|s| s.len() <= MAX_STATE), &cfg.base)
        }
        Err(e) => {
            log::debug!(
                "authorization request refused before approval: {}",
                Logged(&e.to_string())
            );
            error_page(StatusCode::BAD_REQUEST, &e)
        }
    }
}

/// Checks the client and its redirect URI: the part whose failures are shown, not redirected.
async fn trusted(
    cfg: &ProxyConfig,
    params: &Params,
) -> Result<(PendingAuthorization, Url), OAuthError> {
    params.check_repeated(&["client_id", "redirect_uri"])?;
    let client_id = params
        .get("client_id")
        .ok_or_else(|| OAuthError::InvalidRequest("`client_id` is required".into()))?;
    let client = clients::resolve(cfg, client_id).await?;
    let sent = params.get("redirect_uri");
    let redirect_uri = client.redirect_uri(sent).ok_or_else(|| match sent {
        // The document is the client's registration: a URI it does not list is a client that
        // does not match its own metadata.
        Some(_) if client.verified_domain().is_some() => OAuthError::InvalidClient(
            "`redirect_uri` is not listed in the client's metadata document".into(),
        ),
        Some(_) => {
            OAuthError::InvalidRequest("`redirect_uri` is not registered for this client".into())
        }
        // With several URIs listed, which one is meant cannot be told: for a document client
        // that is a client that does not match its metadata, like any other mismatch.
        None if client.verified_domain().is_some() => OAuthError::InvalidClient(
            "`redirect_uri` is required: the client's metadata document lists several".into(),
        ),
        None => OAuthError::InvalidRequest("`redirect_uri` is required".into()),
    })?;
    let url = Url::parse(&redirect_uri)
        .map_err(|_| OAuthError::InvalidRequest("`redirect_uri` is not a URI".into()))?;
    let pending = PendingAuthorization {
        static_client: client.is_static(),
        verified_domain: client.verified_domain().map(str::to_owned),
        local_only: client.local_only(),
        client: client.binding,
        client_name: client.name,
        redirect_uri,
        redirect_uri_sent: sent.is_some(),
        state: None,
        code_challenge: String::new(),
        scopes: Vec::new(),
        offline: false,
    };
    // Unknown scopes are left out rather than refused (RFC 6749 §3.3): clients such as
    // mcp-remote always ask for `openid email profile`. The token answer says what was granted.
    let requested = cfg.model.requested(params.get("scope"));
    let pending = PendingAuthorization {
        scopes: requested.scopes,
        offline: requested.offline,
        ..pending
    };
    Ok((pending, url))
}

/// The rest of the request, answered by redirect to the client.
fn check(
    cfg: &ProxyConfig,
    params: &Params,
    mut pending: PendingAuthorization,
) -> Result<PendingAuthorization, OAuthError> {
    params.check_repeated(&[])?;
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(OAuthError::UnsupportedResponseType(
                "only `response_type=code` is supported".into(),
            ))
        }
        None => {
            return Err(OAuthError::InvalidRequest(
                "`response_type` is required".into(),
            ))
        }
    }
    let challenge = params.get("code_challenge").ok_or_else(|| {
        OAuthError::InvalidRequest("PKCE is required: send `code_challenge`".into())
    })?;
    if params.get("code_challenge_method") != Some("S256") {
        return Err(OAuthError::InvalidRequest(
            "`code_challenge_method` must be S256".into(),
        ));
    }
    // RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is always 43 characters.
    if challenge.len() != 43
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(OAuthError::InvalidRequest(
            "`code_challenge` is not an S256 challenge".into(),
        ));
    }
    cfg.check_resource(params.get("resource"))?;
    let state = params.get("state");
    if state.is_some_and(|s| s.len() > MAX_STATE) {
        return Err(OAuthError::InvalidRequest("`state` is too long".into()));
    }
    // RFC 6749 Appendix A.5: 1*VSCHAR. It also bounds what `state` adds to the sealed values
    // that carry it (no six-byte JSON escapes).
    if state.is_some_and(|s| !s.bytes().all(|b| (0x20..=0x7e).contains(&b))) {
        return Err(OAuthError::InvalidRequest(
            "`state` must be printable ASCII".into(),
        ));
    }
    pending.state = state.map(str::to_owned);
    pending.code_challenge = challenge.to_owned();
    Ok(pending)
}

//! `GET|POST /consent`: the consent page, the confused-deputy defense.
//!
//! `/authorize` checks the request, then sends the browser either upstream at once (consent
//! remembered, or off) or to `GET /consent?request=<sealed request>`. The page's form posts the
//! sealed request back with a CSRF token that must match the sealed CSRF cookie. On Approve the
//! browser goes upstream with its transaction bound to this browser; on Deny the client gets
//! `access_denied`.

use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use url::Url;

use super::{error_page, read_body, Params, State};
use crate::proxy::{
    config::ProxyConfig,
    consent::{ConsentMode, ConsentView, ViewInput},
    cookies,
    error::OAuthError,
    flow::{approve, approved_before, harden, BARE_CSP},
    seal::SealError,
    state::{random_token, CsrfNonce, PendingAuthorization},
};
use crate::scope::{known_description, OFFLINE_ACCESS};

/// `GET /consent`: the page, with a CSRF token anchored in a sealed cookie.
pub(crate) async fn page(state: State, req: HttpRequest) -> HttpResponse {
    let cfg = &state.cfg;
    let params = Params::parse(req.query_string().as_bytes());
    let pending = match open_request(cfg, &params) {
        Ok(pending) => pending,
        Err(res) => return *res,
    };
    // One token per browser, reused by every consent tab open at once.
    let csrf = cookies::open_all::<CsrfNonce>(cfg, &req)
        .into_iter()
        .next()
        .unwrap_or_else(CsrfNonce::random);
    let style_nonce = random_token();
    let request = params.get("request").unwrap_or_default();
    let approved_before = approved_before(cfg, &req, &pending);
    let describe = |s: &str| {
        cfg.model
            .description(s)
            .or_else(|| known_description(s))
            .map(str::to_owned)
    };
    // A refresh token keeps the client signed in for a long time: the page says so when one
    // is asked for (in issued mode, always: the proxy issues its own).
    let mut scopes = pending.scopes.clone();
    if cfg.wants_offline(pending.offline) {
        scopes.push(OFFLINE_ACCESS.to_owned());
    }
    let view = ConsentView::new(ViewInput {
        branding: &cfg.consent.branding,
        client_name: pending.client_name.as_deref(),
        static_client: pending.static_client,
        verified_domain: pending.verified_domain.as_deref(),
        local_only: pending.local_only,
        redirect_uri: &pending.redirect_uri,
        scopes: &scopes,
        describe: &describe,
        approved_before: &approved_before,
        request,
        csrf: &csrf.value,
        style_nonce: &style_nonce,
        remember: (cfg.consent.mode == ConsentMode::Remember).then_some(cfg.consent.remember_for),
    });
    let mut res = HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(cfg.consent.render(&view));
    harden(&mut res, &page_csp(cfg, &style_nonce));
    match cookies::set(cfg, &mut res, &csrf) {
        Ok(()) => res,
        Err(e) => error_page(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

/// `POST /consent`: Approve or Deny, from this browser's own consent page only.
pub(crate) async fn answer(state: State, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let cfg = &state.cfg;
    let params = match read_body(payload).await {
        Ok(body) => Params::parse(&body),
        Err(e) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &OAuthError::InvalidRequest(e.into()),
            )
        }
    };
    if let Err(e) = params.check_repeated(&[]) {
        return error_page(StatusCode::BAD_REQUEST, &e);
    }
    // The CSRF check comes first: nothing of a forged post is acted upon, not even a Deny.
    let anchored = params.get("csrf").is_some_and(|token| {
        cookies::open_all::<CsrfNonce>(cfg, &req)
            .iter()
            .any(|n| n.matches(token))
    });
    if !anchored {
        log::debug!("consent post refused: CSRF token missing or not this browser's");
        return error_page(
            StatusCode::FORBIDDEN,
            &OAuthError::AccessDenied(
                "this answer did not come from this browser's consent page, or the page \
                 expired: start the sign-in again from your application"
                    .into(),
            ),
        );
    }
    let pending = match open_request(cfg, &params) {
        Ok(pending) => pending,
        Err(res) => return *res,
    };
    let Ok(redirect) = Url::parse(&pending.redirect_uri) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            &OAuthError::InvalidRequest("the redirect URI is not a URI".into()),
        );
    };
    let state = pending.state.as_deref();
    let mut res = match params.get("action") {
        Some("approve") => {
            let remember = cfg.consent.mode == ConsentMode::Remember;
            approve(cfg, &req, &pending, remember)
                .unwrap_or_else(|e| e.redirect(&redirect, state, &cfg.base))
        }
        Some("deny") => OAuthError::AccessDenied("the user denied access".into())
            .redirect(&redirect, state, &cfg.base),
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &OAuthError::InvalidRequest("choose Approve or Deny".into()),
            )
        }
    };
    // A redirect after a form post is a 303 (RFC 9700 §4.11).
    *res.status_mut() = StatusCode::SEE_OTHER;
    harden(&mut res, BARE_CSP);
    res
}

/// The request sealed into the page, or the page that says it is gone.
fn open_request(
    cfg: &ProxyConfig,
    params: &Params,
) -> Result<PendingAuthorization, Box<HttpResponse>> {
    let opened = params
        .get("request")
        .ok_or(SealError::Malformed)
        .and_then(|sealed| cfg.sealer.open::<PendingAuthorization>(sealed));
    opened.map_err(|e| {
        log::debug!("consent request refused: {e}");
        Box::new(error_page(
            StatusCode::BAD_REQUEST,
            &OAuthError::InvalidRequest(
                "this sign-in request is invalid or has expired: start again from your \
                 application"
                    .into(),
            ),
        ))
    })
}

/// The page's policy: no script, styles only with this answer's nonce, images only from the
/// logo's origin, never framed.
///
/// No `form-action`: browsers apply it to every redirect that follows the form post, and the
/// Approve post is followed by the upstream's own redirects (across its sign-in domains) and
/// the client's redirect URI, none of which the page can list. The form's target is fixed
/// markup, and no value reaches the page unescaped.
fn page_csp(cfg: &ProxyConfig, style_nonce: &str) -> String {
    let mut csp = format!("default-src 'none'; style-src 'nonce-{style_nonce}'; ");
    if let Some(logo) = &cfg.consent.branding.logo_url {
        csp.push_str(&format!(
            "img-src {}; ",
            logo.origin().ascii_serialization()
        ));
    }
    csp.push_str("base-uri 'none'; frame-ancestors 'none'");
    csp
}

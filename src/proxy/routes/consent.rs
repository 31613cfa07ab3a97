//! The consent step between `/authorize` and the upstream: the confused-deputy defense.
//!
//! `/authorize` checks the request, then sends the browser either upstream at once (consent
//! remembered, or off) or to `GET /consent?request=<sealed request>`. The page's form posts the
//! sealed request back with a CSRF token that must match the sealed CSRF cookie. On Approve the
//! transaction is sealed, only now, with the nonce of the binding cookie set on the same
//! answer, and the browser goes upstream; `/oauth/callback` refuses a browser without that
//! cookie. On Deny the client gets `access_denied`.

use actix_web::{
    http::{
        header::{self, HeaderValue},
        StatusCode,
    },
    web, HttpRequest, HttpResponse,
};
use url::Url;

use super::{authorize::redirect_upstream, error_page, read_body, Params, State};
use crate::proxy::{
    config::ProxyConfig,
    consent::{ConsentMode, ConsentView, ViewInput},
    cookies,
    error::{redirect_with, OAuthError},
    seal::SealError,
    state::{random_token, BindingNonce, CsrfNonce, PendingAuthorization, Remembered},
};

/// For answers that are not the page: nothing may load, nothing may frame them.
const BARE_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Where `/authorize` hands over once the request is checked and trusted: the consent page, or
/// straight upstream when consent is remembered or off. `post`: the request came as a form
/// post, so the redirect is a 303 (RFC 9700 §4.11).
pub(super) fn begin(
    cfg: &ProxyConfig,
    req: &HttpRequest,
    pending: PendingAuthorization,
    redirect: &Url,
    post: bool,
) -> HttpResponse {
    let ask = match cfg.consent.mode {
        ConsentMode::Always => true,
        ConsentMode::Remember => !remembered(cfg, req, &pending),
        ConsentMode::Off => false,
    };
    let answer = if ask {
        to_page(cfg, &pending)
    } else {
        approve(cfg, req, &pending, false).map(|mut res| {
            if post {
                *res.status_mut() = StatusCode::SEE_OTHER;
            }
            res
        })
    };
    answer.unwrap_or_else(|e| e.redirect(redirect, pending.state.as_deref(), &cfg.base))
}

/// 303 to `GET /consent` with the request sealed for the page.
fn to_page(cfg: &ProxyConfig, pending: &PendingAuthorization) -> Result<HttpResponse, OAuthError> {
    let sealed = cfg
        .sealer
        .seal(pending)
        .map_err(|_| OAuthError::ServerError("the request could not be sealed".into()))?;
    let page = Url::parse(&format!("{}/consent", cfg.base))
        .map_err(|_| OAuthError::ServerError("the consent URL is not a URL".into()))?;
    let mut res = redirect_with(&page, &[("request", Some(&sealed))]);
    *res.status_mut() = StatusCode::SEE_OTHER;
    harden(&mut res, BARE_CSP);
    Ok(res)
}

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
    let view = ConsentView::new(ViewInput {
        branding: &cfg.consent.branding,
        client_name: pending.client_name.as_deref(),
        static_client: pending.static_client,
        redirect_uri: &pending.redirect_uri,
        scopes: &pending.scopes,
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

/// The transaction sealed with this browser's binding nonce, the binding cookie set, the
/// approval remembered when `remember`, and the browser sent upstream.
fn approve(
    cfg: &ProxyConfig,
    req: &HttpRequest,
    pending: &PendingAuthorization,
    remember: bool,
) -> Result<HttpResponse, OAuthError> {
    // One binding per browser, so that two sign-ins in flight at once (two clients, two tabs)
    // do not break each other; its lifetime is renewed with each transaction.
    let binding = cookies::open_all::<BindingNonce>(cfg, req)
        .into_iter()
        .next()
        .unwrap_or_else(BindingNonce::random);
    let mut res = redirect_upstream(cfg, pending, &binding)?;
    cookies::set(cfg, &mut res, &binding)?;
    if remember {
        remember_approval(cfg, req, pending, &mut res)?;
    }
    harden(&mut res, BARE_CSP);
    Ok(res)
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

/// Whether this browser approved this client and redirect URI before, and still remembers.
fn remembered(cfg: &ProxyConfig, req: &HttpRequest, pending: &PendingAuthorization) -> bool {
    let key = pending.grant_key();
    let now = cfg.clock.now();
    cookies::open_all::<Remembered>(cfg, req)
        .iter()
        .any(|r| r.approves(&key, now))
}

/// Adds this approval to the browser's remembered ones, for the configured time.
fn remember_approval(
    cfg: &ProxyConfig,
    req: &HttpRequest,
    pending: &PendingAuthorization,
    res: &mut HttpResponse,
) -> Result<(), OAuthError> {
    let now = cfg.clock.now();
    let remember_for = cfg.consent.remember_for;
    let mut remembered = cookies::open_all::<Remembered>(cfg, req)
        .into_iter()
        .next()
        .unwrap_or_default();
    remembered.approve(
        pending.grant_key(),
        now,
        now.saturating_add(remember_for.as_secs()),
    );
    cookies::set_for(cfg, res, &remembered, remember_for)
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

/// The headers of every consent answer: not framed, not cached, no referrer, no sniffing.
fn harden(res: &mut HttpResponse, csp: &str) {
    let headers = res.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    for (name, value) in [
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

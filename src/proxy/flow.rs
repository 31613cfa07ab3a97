//! The step between a trusted authorization request and the upstream sign-in, which both
//! `/authorize` and the consent page's Approve take: whether the user is asked, the approval
//! (the browser binding, remembered consent), and the redirect upstream with the transaction
//! sealed into `state`.
//!
//! The transaction is sealed only here, once the user has approved (or consent is remembered
//! or off), with the nonce of the binding cookie set on the same answer: `/oauth/callback`
//! refuses a browser without that cookie.

use actix_web::{
    http::{
        header::{self, HeaderValue},
        StatusCode,
    },
    HttpRequest, HttpResponse,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use url::Url;

use super::{
    config::{OfflineAccess, ProxyConfig, ResourceForwarding, TokenMode},
    consent::ConsentMode,
    cookies,
    error::{redirect_with, OAuthError},
    state::{random_token, BindingNonce, PendingAuthorization, Remembered, Transaction},
};

/// For answers that are not the consent page: nothing may load, nothing may frame them.
pub(crate) const BARE_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Where `/authorize` hands over once the request is checked and trusted: the consent page, or
/// straight upstream when consent is remembered or off. `post`: the request came as a form
/// post, so the redirect is a 303 (RFC 9700 §4.11).
pub(crate) fn begin(
    cfg: &ProxyConfig,
    req: &HttpRequest,
    pending: PendingAuthorization,
    redirect: &Url,
    post: bool,
) -> HttpResponse {
    let ask = match cfg.consent.mode {
        ConsentMode::Always => true,
        // A remembered approval does not hold for a navigation another site started: a page
        // elsewhere cannot sign the user in to a client with a single link.
        ConsentMode::Remember => cross_site(req) || !remembered(cfg, req, &pending),
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

/// The transaction sealed with this browser's binding nonce, the binding cookie set, the
/// approval remembered when `remember`, and the browser sent upstream.
pub(crate) fn approve(
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

/// Seals the transaction, bound to the browser whose binding nonce is `browser`, and sends the
/// browser to the upstream authorization endpoint: the upstream client id, our callback, a
/// PKCE challenge (the proxy's own in issued mode, the client's in passthrough), the scopes, the sealed transaction as `state`, and the
/// configured extra parameters last.
fn redirect_upstream(
    cfg: &ProxyConfig,
    pending: &PendingAuthorization,
    browser: &BindingNonce,
) -> Result<HttpResponse, OAuthError> {
    let mut transaction = Transaction::new(pending, browser);
    // In issued mode the proxy redeems the upstream code itself, with a PKCE pair of its own;
    // the client's challenge is checked by the proxy at `/token`.
    let challenge = match cfg.token_mode {
        TokenMode::Issued => {
            let verifier = random_token();
            let challenge = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(verifier.as_bytes()));
            transaction.upstream_verifier = Some(verifier);
            challenge
        }
        _ => pending.code_challenge.clone(),
    };
    let sealed = cfg
        .sealer
        .seal(&transaction)
        .map_err(|_| OAuthError::ServerError("the transaction could not be sealed".into()))?;
    let offline = cfg.wants_offline(pending.offline);
    let scope = cfg.upstream_scopes(&pending.scopes, offline);
    let mut params: Vec<(&str, Option<&str>)> = vec![
        ("response_type", Some("code")),
        ("client_id", Some(cfg.credentials.id())),
        ("redirect_uri", Some(&cfg.callback)),
        ("scope", Some(&scope)),
        ("state", Some(&sealed)),
        ("code_challenge", Some(&challenge)),
        ("code_challenge_method", Some("S256")),
    ];
    match &cfg.resource_forwarding {
        ResourceForwarding::Omit => {}
        ResourceForwarding::AsIs => params.push(("resource", Some(&cfg.resource))),
        ResourceForwarding::As(name) => params.push((name, Some(&cfg.resource))),
    }
    params.extend(
        cfg.extra_authorize_params
            .iter()
            .map(|(k, v)| (k.as_str(), Some(v.as_str()))),
    );
    if let (true, OfflineAccess::Params(offline_params)) = (offline, &cfg.offline_access) {
        params.extend(
            offline_params
                .iter()
                .map(|(k, v)| (k.as_str(), Some(v.as_str()))),
        );
    }
    Ok(redirect_with(&cfg.auth_endpoint, &params))
}

/// `Sec-Fetch-Site: cross-site`: another site sent the browser here.
fn cross_site(req: &HttpRequest) -> bool {
    req.headers()
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
}

/// Whether this browser approved this client, redirect URI, resource and scopes before, and
/// still remembers.
pub(crate) fn remembered(
    cfg: &ProxyConfig,
    req: &HttpRequest,
    pending: &PendingAuthorization,
) -> bool {
    let key = pending.grant_key(&cfg.resource);
    let now = cfg.clock.now();
    cookies::open_all::<Remembered>(cfg, req)
        .iter()
        .any(|r| r.approves(&key, now))
}

/// The MCP scopes this browser approved before for the client, redirect URI and resource of
/// `pending`, which the consent page marks "(approved before)". They are shown, never added:
/// the new token carries what this request asks for, which is the union of the old and the
/// added scopes when a client re-authorizes with a 403 challenge's list (held, then lacking).
/// Only a browser with the remembered-approval cookie has any ([`ConsentMode::Remember`]), and
/// only for the same client id, so a client that registers anew on each connect has none.
pub(crate) fn approved_before(
    cfg: &ProxyConfig,
    req: &HttpRequest,
    pending: &PendingAuthorization,
) -> Vec<String> {
    let party = pending.party_key(&cfg.resource);
    let now = cfg.clock.now();
    let mut out: Vec<String> = Vec::new();
    for remembered in cookies::open_all::<Remembered>(cfg, req) {
        for scope in remembered.approved_scopes(&party, now) {
            if !out.contains(&scope) {
                out.push(scope);
            }
        }
    }
    out
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
        pending,
        &cfg.resource,
        now,
        now.saturating_add(remember_for.as_secs()),
    );
    cookies::set_for(cfg, res, &remembered, remember_for)
}

/// The headers of every consent answer: not framed, not cached, no referrer, no sniffing.
pub(crate) fn harden(res: &mut HttpResponse, csp: &str) {
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

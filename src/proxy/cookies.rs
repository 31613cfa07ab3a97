//! The proxy's cookies: the CSRF anchor of the consent form, the browser binding of a
//! transaction, and remembered consent. Each holds one type of value from
//! [`state`](super::state), sealed with the proxy key, so any replica reads it and nobody can
//! forge one.
//!
//! All are `HttpOnly` and `SameSite=Lax` (sent on the top-level navigations of the flow, not
//! on a cross-site form post). With an https public URL they are `Secure` and named with the
//! `__Host-` prefix, which also pins them to this exact host and path `/`: a sibling subdomain
//! cannot plant or shadow one. On a loopback http public URL (development) the names are
//! plain and `Secure` is left out, or the browser would drop them.

use std::time::Duration;

use actix_web::{
    http::header::{self, HeaderValue},
    HttpRequest, HttpResponse,
};

use super::{
    config::ProxyConfig,
    error::OAuthError,
    seal::{SealError, Sealed},
    state::{BindingNonce, CsrfNonce, Remembered},
};

/// At most this many values of one cookie are tried.
const MAX_VALUES: usize = 4;

/// One of the proxy's cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BrowserCookie {
    /// The consent form's CSRF anchor.
    Csrf,
    /// The browser binding checked at the callback.
    Binding,
    /// Remembered approvals.
    Consent,
}

impl BrowserCookie {
    fn base_name(self) -> &'static str {
        match self {
            Self::Csrf => "mcp-oauth-csrf",
            Self::Binding => "mcp-oauth-binding",
            Self::Consent => "mcp-oauth-consent",
        }
    }

    /// The cookie's name under `cfg`: `__Host-` prefixed when the public URL is https.
    fn name(self, cfg: &ProxyConfig) -> String {
        if cfg.secure_cookies {
            format!("__Host-{}", self.base_name())
        } else {
            self.base_name().to_owned()
        }
    }
}

/// A sealed value that travels in one of the proxy's cookies, and only in that one.
pub(crate) trait InCookie: Sealed {
    const COOKIE: BrowserCookie;
}

impl InCookie for CsrfNonce {
    const COOKIE: BrowserCookie = BrowserCookie::Csrf;
}

impl InCookie for BindingNonce {
    const COOKIE: BrowserCookie = BrowserCookie::Binding;
}

impl InCookie for Remembered {
    const COOKIE: BrowserCookie = BrowserCookie::Consent;
}

/// Every value of `T`'s cookie that opens, in the order the browser sent them. Several may
/// come (another app on the same host, an old value): each is tried, and one that does not
/// open is ignored rather than shadowing a good one.
pub(crate) fn open_all<T: InCookie>(cfg: &ProxyConfig, req: &HttpRequest) -> Vec<T> {
    let name = T::COOKIE.name(cfg);
    values(req, &name)
        // Each is a decryption: a request stuffed with copies gets no more work than this.
        .take(MAX_VALUES)
        .filter_map(|value| match cfg.sealer.open::<T>(value) {
            Ok(opened) => Some(opened),
            Err(e) => {
                log::debug!("cookie {name} refused: {e}");
                None
            }
        })
        .collect()
}

/// Seals `value` into its cookie on `res`, for the lifetime of its kind.
pub(crate) fn set<T: InCookie>(
    cfg: &ProxyConfig,
    res: &mut HttpResponse,
    value: &T,
) -> Result<(), OAuthError> {
    put::<T>(cfg, res, cfg.sealer.seal(value), T::TTL)
}

/// Seals `value` into its cookie on `res`, for the lifetime the operator configured.
pub(crate) fn set_for<T: InCookie>(
    cfg: &ProxyConfig,
    res: &mut HttpResponse,
    value: &T,
    ttl: Duration,
) -> Result<(), OAuthError> {
    let sealed = cfg.sealer.seal_for(value, ttl);
    put::<T>(cfg, res, sealed, Some(T::bounded(ttl)))
}

/// Sets `T`'s cookie to `sealed`, to expire with it (or, for a value without expiry, when the
/// browser closes).
fn put<T: InCookie>(
    cfg: &ProxyConfig,
    res: &mut HttpResponse,
    sealed: Result<String, SealError>,
    ttl: Option<Duration>,
) -> Result<(), OAuthError> {
    let sealed =
        sealed.map_err(|_| OAuthError::ServerError("a cookie could not be sealed".into()))?;
    let mut cookie = format!("{}={sealed}; Path=/", T::COOKIE.name(cfg));
    if let Some(ttl) = ttl {
        cookie.push_str(&format!("; Max-Age={}", ttl.as_secs()));
    }
    cookie.push_str("; HttpOnly; SameSite=Lax");
    if cfg.secure_cookies {
        cookie.push_str("; Secure");
    }
    let value = HeaderValue::from_str(&cookie)
        .map_err(|_| OAuthError::ServerError("a cookie could not be set".into()))?;
    res.headers_mut().append(header::SET_COOKIE, value);
    Ok(())
}

/// The values of the cookies named `name`. Parsed by hand: one malformed cookie of another
/// application on the same host must not hide ours (actix's parser gives up on all of them).
fn values<'a>(req: &'a HttpRequest, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(move |pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"'))
        })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn cookie_values_are_found_among_others_and_malformed_ones() {
        let req = TestRequest::default()
            .insert_header((header::COOKIE, "junk; a=1; __Host-x=first ;b=\"q\""))
            .append_header((header::COOKIE, "=; __Host-x=second"))
            .to_http_request();
        let found: Vec<&str> = values(&req, "__Host-x").collect();
        assert_eq!(found, ["first", "second"]);
        assert_eq!(values(&req, "b").collect::<Vec<_>>(), ["q"]);
        assert_eq!(values(&req, "x").count(), 0, "names match exactly");
    }
}

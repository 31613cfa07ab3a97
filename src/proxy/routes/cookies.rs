//! The consent step's cookies: the CSRF anchor of the consent form, the browser binding of a
//! transaction, and remembered consent. Each holds a value sealed with the proxy key, so any
//! replica reads it and nobody can forge one.
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
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::proxy::{
    config::ProxyConfig,
    error::OAuthError,
    seal::{Kind, SealError},
};

/// At most this many values of one cookie are tried.
const MAX_VALUES: usize = 4;

/// One of the proxy's cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Jar {
    /// The consent form's CSRF anchor.
    Csrf,
    /// The browser binding checked at the callback.
    Binding,
    /// Remembered approvals.
    Consent,
}

impl Jar {
    fn base_name(self) -> &'static str {
        match self {
            Self::Csrf => "mcp-oauth-csrf",
            Self::Binding => "mcp-oauth-binding",
            Self::Consent => "mcp-oauth-consent",
        }
    }

    fn kind(self) -> Kind {
        match self {
            Self::Csrf => Kind::ConsentCsrf,
            Self::Binding => Kind::Binding,
            Self::Consent => Kind::Consent,
        }
    }

    /// The cookie's name under `cfg`: `__Host-` prefixed when the public URL is https.
    pub(crate) fn name(self, cfg: &ProxyConfig) -> String {
        if cfg.secure_cookies {
            format!("__Host-{}", self.base_name())
        } else {
            self.base_name().to_owned()
        }
    }

    /// Every value of this cookie that opens, in the order the browser sent them. Several
    /// may come (another app on the same host, an old value): each is tried, and one that does
    /// not open is ignored rather than shadowing a good one.
    pub(crate) fn open_all<T: DeserializeOwned>(
        self,
        cfg: &ProxyConfig,
        req: &HttpRequest,
    ) -> Vec<T> {
        let name = self.name(cfg);
        values(req, &name)
            // Each is a decryption: a request stuffed with copies gets no more work than this.
            .take(MAX_VALUES)
            .filter_map(|value| match cfg.sealer.open::<T>(self.kind(), value) {
                Ok(opened) => Some(opened),
                Err(e) => {
                    log::debug!("cookie {name} refused: {e}");
                    None
                }
            })
            .collect()
    }

    /// Seals `value` as this cookie's kind and sets it on `res` for `ttl`.
    pub(crate) fn set<T: Serialize>(
        self,
        cfg: &ProxyConfig,
        res: &mut HttpResponse,
        ttl: Duration,
        value: &T,
    ) -> Result<(), OAuthError> {
        let sealed = cfg
            .sealer
            .seal(self.kind(), Some(ttl), value)
            .map_err(|_: SealError| {
                OAuthError::ServerError("a cookie could not be sealed".into())
            })?;
        let mut cookie = format!(
            "{}={sealed}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax",
            self.name(cfg),
            ttl.as_secs()
        );
        if cfg.secure_cookies {
            cookie.push_str("; Secure");
        }
        let value = HeaderValue::from_str(&cookie)
            .map_err(|_| OAuthError::ServerError("a cookie could not be set".into()))?;
        res.headers_mut().append(header::SET_COOKIE, value);
        Ok(())
    }
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

/// A random value, sealed into the CSRF and binding cookies.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Nonce {
    #[serde(rename = "n")]
    pub(crate) value: String,
}

impl Nonce {
    /// 256 random bits.
    pub(crate) fn random() -> Self {
        Self {
            value: URL_SAFE_NO_PAD.encode(josekit::util::random_bytes(32)),
        }
    }

    /// Constant-time comparison with what a form or a transaction carries.
    pub(crate) fn matches(&self, other: &str) -> bool {
        self.value.len() == other.len()
            && openssl::memcmp::eq(self.value.as_bytes(), other.as_bytes())
    }
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

    #[test]
    fn nonces_are_random_and_compared_exactly() {
        let a = Nonce::random();
        let b = Nonce::random();
        assert_ne!(a.value, b.value);
        assert_eq!(a.value.len(), 43);
        assert!(a.matches(&a.value.clone()));
        assert!(!a.matches(&b.value));
        assert!(!a.matches(""));
        assert!(!a.matches(&a.value[..42]));
    }
}

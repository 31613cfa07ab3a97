//! The proxy's endpoints, one file each, and what their handlers share.

pub(super) mod authorize;
pub(super) mod callback;
pub(super) mod consent;
pub(super) mod metadata;
pub(super) mod register;
pub(super) mod revoke;
pub(super) mod token;

use std::{collections::HashMap, sync::Arc};

use actix_web::{
    http::{header, StatusCode},
    web, HttpResponse,
};

use super::{
    config::ProxyConfig,
    consent::escape_html,
    error::{no_store, OAuthError},
    upstream::Upstream,
};

/// What the handlers of one worker share: the configuration and that worker's HTTP client.
pub(crate) struct ProxyState {
    pub(crate) cfg: Arc<ProxyConfig>,
    pub(crate) upstream: Upstream,
}

type State = web::Data<ProxyState>;

/// Request parameters, where a repeated name is an error (RFC 6749 §3.1) and an empty value
/// counts as absent.
pub(crate) struct Params {
    map: HashMap<String, String>,
    repeated: Option<String>,
}

impl Params {
    pub(crate) fn parse(raw: &[u8]) -> Self {
        let mut map = HashMap::new();
        let mut repeated = None;
        for (k, v) in url::form_urlencoded::parse(raw) {
            if v.is_empty() {
                continue;
            }
            if map.insert(k.to_string(), v.into_owned()).is_some() && repeated.is_none() {
                repeated = Some(k.into_owned());
            }
        }
        Self { map, repeated }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// `invalid_request` when `name` was sent more than once.
    pub(crate) fn check_repeated(&self, names: &[&str]) -> Result<(), OAuthError> {
        match &self.repeated {
            Some(name) if names.is_empty() || names.contains(&name.as_str()) => Err(
                OAuthError::InvalidRequest(format!("`{name}` is given more than once").into()),
            ),
            _ => Ok(()),
        }
    }
}

/// Reads a request body of at most `limit` bytes (the endpoint's bound in
/// [`ProxyLimits`](crate::proxy::ProxyLimits)).
pub(crate) async fn read_body(
    payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, &'static str> {
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err("the request body could not be read"),
        Err(_) => Err("the request body is too large"),
    }
}

/// A small HTML page for errors shown to the user's browser instead of redirected: the
/// client or the redirect URI is not trusted, or a transaction did not open.
pub(crate) fn error_page(status: StatusCode, err: &OAuthError) -> HttpResponse {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sign-in failed</title></head><body><main>\
         <h1>Sign-in failed</h1><p>{}</p><p><code>{}</code></p>\
         <p>Return to your application and start the sign-in again.</p></main></body></html>\n",
        escape_html(err.description()),
        escape_html(err.code()),
    );
    let mut res = HttpResponse::build(status);
    no_store(&mut res);
    res.insert_header((
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ))
    .insert_header((header::X_FRAME_OPTIONS, "DENY"))
    .insert_header((header::REFERRER_POLICY, "no-referrer"))
    .content_type("text/html; charset=utf-8")
    .body(body)
}

/// A value whose use cannot be recorded is not honoured: the guard fails closed.
pub(crate) fn replay_unavailable(
    e: crate::proxy::ReplayGuardError,
) -> crate::proxy::error::OAuthError {
    log::error!("cannot record a one-time use: {e}");
    crate::proxy::error::OAuthError::TemporarilyUnavailable(
        "the server is busy: try again in a moment".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_caught_and_empty_ones_ignored() {
        let p = Params::parse(b"a=1&b=&a=2&c=3");
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("3"));
        assert!(p.check_repeated(&["a"]).is_err());
        assert!(p.check_repeated(&["c"]).is_ok());
        assert!(Params::parse(b"a=1&b=2").check_repeated(&[]).is_ok());
    }
}

//! The OAuth error responses the proxy gives: RFC 6749 §5.2 (token endpoint), §4.1.2.1
//! (authorization endpoint), RFC 7591 §3.2.2 (registration), RFC 8707 (`invalid_target`).

use std::borrow::Cow;

use actix_web::{
    http::{
        header::{self, HeaderValue},
        StatusCode,
    },
    HttpResponse, ResponseError,
};
use derive_more::{Display, Error};
use serde::Serialize;
use url::Url;

use crate::access::AccessRefusal;

type Description = Cow<'static, str>;

/// An OAuth error answered by the proxy.
///
/// Answered as JSON `{"error", "error_description"}` with `Cache-Control: no-store`. The
/// description is always the proxy's own text: it never carries a token, a code or a secret.
#[derive(Debug, Display, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum OAuthError {
    /// `invalid_request` (400): a parameter is missing, repeated, or malformed.
    #[display("invalid_request: {_0}")]
    InvalidRequest(#[error(not(source))] Description),
    /// `invalid_client` (401): the client id is missing or not one the proxy issued. Clients
    /// register again when they get it.
    #[display("invalid_client: {_0}")]
    InvalidClient(#[error(not(source))] Description),
    /// `invalid_grant` (400): the code or refresh token is invalid, expired, or bound to
    /// another client or redirect URI.
    #[display("invalid_grant: {_0}")]
    InvalidGrant(#[error(not(source))] Description),
    /// `unsupported_grant_type` (400).
    #[display("unsupported_grant_type: {_0}")]
    UnsupportedGrantType(#[error(not(source))] Description),
    /// `unsupported_response_type` (400, authorization endpoint).
    #[display("unsupported_response_type: {_0}")]
    UnsupportedResponseType(#[error(not(source))] Description),
    /// `access_denied` (403, authorization endpoint).
    #[display("access_denied: {_0}")]
    AccessDenied(#[error(not(source))] Description),
    /// `invalid_scope` (400): a refresh asked for a scope that was not granted, or the
    /// provider refused the scope asked for.
    #[display("invalid_scope: {_0}")]
    InvalidScope(#[error(not(source))] Description),
    /// `invalid_target` (400, RFC 8707): the `resource` is not this server's.
    #[display("invalid_target: {_0}")]
    InvalidTarget(#[error(not(source))] Description),
    /// `invalid_redirect_uri` (400, RFC 7591).
    #[display("invalid_redirect_uri: {_0}")]
    InvalidRedirectUri(#[error(not(source))] Description),
    /// `invalid_client_metadata` (400, RFC 7591).
    #[display("invalid_client_metadata: {_0}")]
    InvalidClientMetadata(#[error(not(source))] Description),
    /// `server_error` (500): a fault of this server, e.g. rejected upstream credentials.
    #[display("server_error: {_0}")]
    ServerError(#[error(not(source))] Description),
    /// `server_error` (502): the upstream answered something that cannot be read.
    #[display("server_error: {_0}")]
    BadGateway(#[error(not(source))] Description),
    /// `server_error` (503): the upstream could not be reached in time.
    #[display("server_error: {_0}")]
    Unavailable(#[error(not(source))] Description),
    /// `temporarily_unavailable` (503, RFC 6749 §4.1.2.1): the proxy is too busy right now
    /// (too many client metadata documents being fetched at once); the same request works
    /// again in a moment.
    #[display("temporarily_unavailable: {_0}")]
    TemporarilyUnavailable(#[error(not(source))] Description),
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl OAuthError {
    /// The RFC error code, e.g. `invalid_grant`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient(_) => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::UnsupportedResponseType(_) => "unsupported_response_type",
            Self::AccessDenied(_) => "access_denied",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::InvalidRedirectUri(_) => "invalid_redirect_uri",
            Self::InvalidClientMetadata(_) => "invalid_client_metadata",
            Self::ServerError(_) | Self::BadGateway(_) | Self::Unavailable(_) => "server_error",
            Self::TemporarilyUnavailable(_) => "temporarily_unavailable",
        }
    }

    /// The human-readable `error_description`.
    pub fn description(&self) -> &str {
        match self {
            Self::InvalidRequest(d)
            | Self::InvalidClient(d)
            | Self::InvalidGrant(d)
            | Self::UnsupportedGrantType(d)
            | Self::UnsupportedResponseType(d)
            | Self::AccessDenied(d)
            | Self::InvalidScope(d)
            | Self::InvalidTarget(d)
            | Self::InvalidRedirectUri(d)
            | Self::InvalidClientMetadata(d)
            | Self::ServerError(d)
            | Self::BadGateway(d)
            | Self::Unavailable(d)
            | Self::TemporarilyUnavailable(d) => d,
        }
    }

    /// The authorization error response of RFC 6749 §4.1.2.1: a redirect to the client's
    /// (already trusted) redirect URI, with its `state` and our `iss` (RFC 9207).
    pub(crate) fn redirect(
        &self,
        redirect_uri: &Url,
        state: Option<&str>,
        iss: &str,
    ) -> HttpResponse {
        redirect_with(
            redirect_uri,
            &[
                ("error", Some(self.code())),
                ("error_description", Some(self.description())),
                ("state", state),
                ("iss", Some(iss)),
            ],
        )
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidClient(_) => StatusCode::UNAUTHORIZED,
            Self::AccessDenied(_) => StatusCode::FORBIDDEN,
            Self::ServerError(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) | Self::TemporarilyUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        no_store(&mut res);
        res.json(Body {
            error: self.code(),
            error_description: self.description(),
        })
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache`, for every answer that carries a token,
/// a code or an error about one.
pub(crate) fn no_store(res: &mut actix_web::HttpResponseBuilder) {
    res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
}

/// A 302 to `base` with `params` added to its query (those that are `Some`).
pub(crate) fn redirect_with(base: &Url, params: &[(&str, Option<&str>)]) -> HttpResponse {
    let mut url = base.clone();
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
    }
    let mut res = HttpResponse::Found();
    no_store(&mut res);
    res.insert_header((header::LOCATION, url.as_str())).finish()
}

/// The page a browser gets at sign-in when the [access policy](crate::access) does not let the
/// user in (403), or could not get an answer (503). Shown instead of the redirect to the
/// client, so the client gets no code; the page names no rule and no account.
pub(crate) fn access_refused_page(refusal: &AccessRefusal) -> HttpResponse {
    let (status, title, text) = match refusal {
        AccessRefusal::Refused(_) => (
            StatusCode::FORBIDDEN,
            "Access denied",
            "You signed in, but this account may not use this server. Ask its administrator \
             for access, or sign in with another account.",
        ),
        AccessRefusal::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again later",
            "Whether this account may use this server cannot be checked right now. Start the \
             sign-in again in a few minutes.",
        ),
    };
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body><main><h1>{title}</h1><p>{text}</p>\
         <p><code>access_denied</code></p></main></body></html>\n"
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

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;

    use super::*;

    #[actix_web::test]
    async fn a_refused_sign_in_gets_a_page_that_names_no_rule_and_cannot_be_framed() {
        let reason = "user 42 (ada@example.com) matches no rule".to_owned();
        for (refusal, status, title) in [
            (AccessRefusal::Refused(reason.clone()), 403, "Access denied"),
            (AccessRefusal::Unavailable, 503, "Try again later"),
        ] {
            let res = access_refused_page(&refusal);
            assert_eq!(res.status().as_u16(), status);
            let headers = res.headers();
            assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
            assert_eq!(headers.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
            assert!(
                headers.get(header::LOCATION).is_none(),
                "no redirect, no code"
            );
            let body = to_bytes(res.into_body()).await.unwrap();
            let body = std::str::from_utf8(&body).unwrap();
            assert!(body.contains(title), "{body}");
            assert!(!body.contains("ada@example.com") && !body.contains("42"));
        }
    }

    #[actix_web::test]
    async fn errors_are_json_with_no_store_and_the_rfc_status() {
        let cases = [
            (
                OAuthError::InvalidClient("unknown client".into()),
                401,
                "invalid_client",
            ),
            (
                OAuthError::InvalidGrant("expired".into()),
                400,
                "invalid_grant",
            ),
            (
                OAuthError::InvalidTarget("other".into()),
                400,
                "invalid_target",
            ),
            (
                OAuthError::Unavailable("timeout".into()),
                503,
                "server_error",
            ),
        ];
        for (err, status, code) in cases {
            let res = err.error_response();
            assert_eq!(res.status().as_u16(), status);
            assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
            let body = to_bytes(res.into_body()).await.unwrap();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(json["error"], code);
            assert_eq!(json["error_description"], err.description());
        }
    }

    #[test]
    fn error_redirect_keeps_the_clients_query_and_adds_state_and_iss() {
        let uri = Url::parse("https://client.example/cb?x=1").unwrap();
        let res =
            OAuthError::AccessDenied("denied".into()).redirect(&uri, Some("s t"), "https://as");
        assert_eq!(res.status(), StatusCode::FOUND);
        let loc = Url::parse(res.headers().get("location").unwrap().to_str().unwrap()).unwrap();
        let pairs: Vec<(String, String)> = loc.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [
                ("x", "1"),
                ("error", "access_denied"),
                ("error_description", "denied"),
                ("state", "s t"),
                ("iss", "https://as"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }
}

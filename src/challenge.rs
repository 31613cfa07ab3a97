//! The `WWW-Authenticate: Bearer ...` challenge (RFC 6750 §3, RFC 9728 §5.1) and [`AuthError`],
//! the rejections of [`RequireAuth`](crate::RequireAuth) as HTTP responses.

use std::fmt;

use actix_web::{
    http::{
        header::{self, HeaderValue},
        StatusCode,
    },
    HttpResponse, ResponseError,
};
use derive_more::{Display, Error};

/// The error codes of RFC 6750 §3.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BearerErrorCode {
    /// `invalid_request`: the request is malformed (400).
    InvalidRequest,
    /// `invalid_token`: the token is expired, revoked, malformed or otherwise invalid (401).
    InvalidToken,
    /// `insufficient_scope`: the token is valid but lacks a required scope (403).
    InsufficientScope,
}

impl BearerErrorCode {
    /// The code as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            BearerErrorCode::InvalidRequest => "invalid_request",
            BearerErrorCode::InvalidToken => "invalid_token",
            BearerErrorCode::InsufficientScope => "insufficient_scope",
        }
    }
}

/// A builder for a `WWW-Authenticate: Bearer ...` header value; start one with
/// [`Challenge::builder`].
///
/// Values are written as RFC 9110 quoted strings: `"` and `\` are escaped with a backslash, and
/// control characters (which a header cannot carry) are dropped. Parameters appear in a fixed
/// order: `error`, `error_description`, `scope`, `resource_metadata`.
///
/// ```
/// use actix_mcp_oauth::challenge::{BearerErrorCode, Challenge};
///
/// let challenge = Challenge::builder()
///     .error(BearerErrorCode::InsufficientScope)
///     .scope(["files:read", "files:write"])
///     .resource_metadata("https://api.example.com/.well-known/oauth-protected-resource/mcp")
///     .build();
/// assert_eq!(
///     challenge.header_value(),
///     "Bearer error=\"insufficient_scope\", scope=\"files:read files:write\", \
///      resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource/mcp\""
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct ChallengeBuilder {
    error: Option<BearerErrorCode>,
    error_description: Option<String>,
    scope: Option<String>,
    resource_metadata: Option<String>,
}

impl ChallengeBuilder {
    /// Sets `error`.
    pub fn error(mut self, code: BearerErrorCode) -> Self {
        self.error = Some(code);
        self
    }

    /// Sets `error_description`, a human-readable text for the client developer.
    ///
    /// [`RequireAuth`](crate::RequireAuth) does not send one: a description helps nobody at run
    /// time and is one more place where internals could leak.
    pub fn error_description(mut self, description: impl Into<String>) -> Self {
        self.error_description = Some(description.into());
        self
    }

    /// Sets `scope` to the given scopes, joined by spaces; none leaves `scope` out (an
    /// empty `scope=""` names no scope-token, RFC 6750 §3).
    pub fn scope<I>(mut self, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut joined = String::new();
        for scope in scopes {
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(scope.as_ref());
        }
        self.scope = (!joined.is_empty()).then_some(joined);
        self
    }

    /// Sets `resource_metadata`, the URL of the protected resource metadata (RFC 9728 §5.1).
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// Renders the header value once, so that answering with it later formats nothing.
    pub fn build(&self) -> Challenge {
        let rendered = self.to_string();
        // Rendering drops every byte a header value cannot hold, so this cannot fail; the
        // fallback keeps the function total all the same.
        let value =
            HeaderValue::from_str(&rendered).unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
        Challenge(value)
    }
}

impl fmt::Display for ChallengeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer")?;
        let params = [
            ("error", self.error.map(BearerErrorCode::as_str)),
            ("error_description", self.error_description.as_deref()),
            ("scope", self.scope.as_deref()),
            ("resource_metadata", self.resource_metadata.as_deref()),
        ];
        let mut first = true;
        for (name, value) in params {
            let Some(value) = value else { continue };
            f.write_str(if first { " " } else { ", " })?;
            first = false;
            f.write_str(name)?;
            f.write_str("=")?;
            write_quoted(f, value)?;
        }
        Ok(())
    }
}

/// Writes `value` as a quoted-string (RFC 9110 §5.6.4).
fn write_quoted(f: &mut impl fmt::Write, value: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                f.write_char('\\')?;
                f.write_char(c)?;
            }
            // HTAB is allowed in a quoted-string; no other control character is.
            '\t' => f.write_char(c)?,
            c if c.is_control() => {}
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// A rendered `WWW-Authenticate` value; cloning it does not copy the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge(HeaderValue);

impl Challenge {
    /// Starts a `Bearer` challenge; with no parameter set it is the bare `Bearer`.
    pub fn builder() -> ChallengeBuilder {
        ChallengeBuilder {
            error: None,
            error_description: None,
            scope: None,
            resource_metadata: None,
        }
    }

    /// The header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

/// Why [`RequireAuth`](crate::RequireAuth) refused a request; each variant is answered as its
/// own response (RFC 6750 §3.1).
///
/// The challenges are rendered once when the middleware is built and carried here, so a
/// rejection costs no formatting. Bodies are JSON `{"error", "error_description"}` with fixed,
/// generic descriptions: why a token failed (issuer, key id, the verifier's message) is logged at
/// `debug` level and never sent.
///
/// A handler can answer with one too, in the same shape as the middleware's own refusals, for
/// example when one operation needs a scope the rest of the route does not:
///
/// ```
/// use actix_mcp_oauth::{
///     challenge::{AuthError, BearerErrorCode, Challenge},
///     AuthUser,
/// };
///
/// async fn delete_file(user: AuthUser) -> Result<String, AuthError> {
///     if !user.has_scope("files:write") {
///         return Err(AuthError::InsufficientScope(
///             Challenge::builder()
///                 .error(BearerErrorCode::InsufficientScope)
///                 .scope(["files:write"])
///                 .resource_metadata(
///                     "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
///                 )
///                 .build(),
///         ));
///     }
///     Ok(format!("deleted for {}", user.user_id))
/// }
/// ```
#[derive(Debug, Clone, Display, Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No bearer token was sent (no `Authorization` header, or another scheme such as `Basic`):
    /// 401 with a challenge that carries no `error`.
    #[display("no bearer token in the request")]
    MissingToken(#[error(not(source))] Challenge),
    /// The token is invalid or expired: 401 `error="invalid_token"`.
    #[display("the bearer token is invalid or expired")]
    InvalidToken(#[error(not(source))] Challenge),
    /// The request is malformed (two `Authorization` headers, an empty or malformed bearer
    /// value): 400 `error="invalid_request"`.
    #[display("malformed authorization in the request")]
    InvalidRequest(#[error(not(source))] Challenge),
    /// The token is valid but lacks a required scope: 403 `error="insufficient_scope"` with the
    /// `scope` the resource needs.
    #[display("the token lacks a required scope")]
    InsufficientScope(#[error(not(source))] Challenge),
    /// The token could not be checked because the provider is unreachable: 503. Whoever
    /// produces this logs the cause at `error` level.
    #[display("the token service is unavailable")]
    Unavailable,
    /// The token is valid but the [access policy](crate::access) does not admit its user: 403
    /// `{"error":"access_denied"}`, without a challenge, since signing in again as the same
    /// user would not help.
    #[display("the access policy does not admit this user")]
    AccessDenied,
    /// A `POST` whose body has a `Content-Encoding` other than `identity`, on a route with
    /// [tool requirements](crate::RequireAuth::tool_scopes): 415 with `Accept-Encoding:
    /// identity`, since the tool a compressed body calls cannot be checked (RFC 7694 §3).
    #[display("a compressed body cannot be checked for tool calls")]
    UnsupportedEncoding,
}

impl AuthError {
    fn body(&self) -> &'static str {
        match self {
            AuthError::MissingToken(_) => {
                r#"{"error":"unauthorized","error_description":"A bearer access token is required."}"#
            }
            AuthError::InvalidToken(_) => {
                r#"{"error":"invalid_token","error_description":"The access token is invalid or has expired."}"#
            }
            AuthError::InvalidRequest(_) => {
                r#"{"error":"invalid_request","error_description":"The request must carry exactly one well-formed Authorization: Bearer header."}"#
            }
            AuthError::InsufficientScope(_) => {
                r#"{"error":"insufficient_scope","error_description":"The access token does not grant the scope this resource requires."}"#
            }
            AuthError::Unavailable => {
                r#"{"error":"temporarily_unavailable","error_description":"The token service is unavailable; try again later."}"#
            }
            AuthError::AccessDenied => {
                r#"{"error":"access_denied","error_description":"This account may not use this server; ask its administrator for access."}"#
            }
            AuthError::UnsupportedEncoding => {
                r#"{"error":"invalid_request","error_description":"Send the body uncompressed (Content-Encoding: identity): this server checks which tool it calls."}"#
            }
        }
    }

    fn challenge(&self) -> Option<&Challenge> {
        match self {
            AuthError::MissingToken(c)
            | AuthError::InvalidToken(c)
            | AuthError::InvalidRequest(c)
            | AuthError::InsufficientScope(c) => Some(c),
            AuthError::Unavailable | AuthError::AccessDenied | AuthError::UnsupportedEncoding => {
                None
            }
        }
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::MissingToken(_) | AuthError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            AuthError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            AuthError::InsufficientScope(_) | AuthError::AccessDenied => StatusCode::FORBIDDEN,
            AuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::UnsupportedEncoding => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        if let Some(challenge) = self.challenge() {
            res.insert_header((header::WWW_AUTHENTICATE, challenge.0.clone()));
        }
        if matches!(self, AuthError::UnsupportedEncoding) {
            res.insert_header((
                header::ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            ));
        }
        res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .content_type(header::ContentType::json())
            .body(self.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_challenge_is_just_the_scheme() {
        assert_eq!(Challenge::builder().build().header_value(), "Bearer");
    }

    #[test]
    fn parameters_come_in_a_fixed_order_separated_by_commas() {
        let challenge = Challenge::builder()
            .resource_metadata("https://h/.well-known/oauth-protected-resource")
            .scope(["a"])
            .error_description("bad")
            .error(BearerErrorCode::InvalidToken)
            .build();
        assert_eq!(
            challenge.header_value(),
            "Bearer error=\"invalid_token\", error_description=\"bad\", scope=\"a\", \
             resource_metadata=\"https://h/.well-known/oauth-protected-resource\""
        );
    }

    #[test]
    fn quotes_and_backslashes_are_escaped_and_controls_dropped() {
        let challenge = Challenge::builder()
            .error_description("say \"hi\" \\ then\r\nInjected: 1\tend")
            .build();
        assert_eq!(
            challenge.header_value(),
            "Bearer error_description=\"say \\\"hi\\\" \\\\ thenInjected: 1\tend\""
        );
    }

    #[test]
    fn non_ascii_text_survives_as_is() {
        let challenge = Challenge::builder().error_description("é").build();
        assert_eq!(
            challenge.header_value().as_bytes(),
            "Bearer error_description=\"é\"".as_bytes()
        );
    }

    #[test]
    fn each_error_maps_to_its_status_and_only_unavailable_has_no_challenge() {
        let c = Challenge::builder().build();
        let cases = [
            (AuthError::MissingToken(c.clone()), 401, true),
            (AuthError::InvalidToken(c.clone()), 401, true),
            (AuthError::InvalidRequest(c.clone()), 400, true),
            (AuthError::InsufficientScope(c), 403, true),
            (AuthError::Unavailable, 503, false),
            (AuthError::UnsupportedEncoding, 415, false),
        ];
        for (err, status, has_challenge) in cases {
            let res = err.error_response();
            assert_eq!(res.status().as_u16(), status, "{err}");
            assert_eq!(
                res.headers().contains_key(header::WWW_AUTHENTICATE),
                has_challenge,
                "{err}"
            );
            assert_eq!(
                res.headers()
                    .get(header::CONTENT_TYPE)
                    .map(|v| v.as_bytes()),
                Some(&b"application/json"[..])
            );
            let body: serde_json::Value = serde_json::from_str(err.body()).expect("valid JSON");
            assert!(body["error"].is_string() && body["error_description"].is_string());
        }
    }
}

//! The calls to the upstream identity provider: bounded in time and size, with failures mapped
//! onto OAuth errors. Nothing here logs a token, a code or a secret.
//!
//! Every call is made with the proxy's own credentials and counts against its rate limit at
//! the provider, and the code exchange, the refresh and the revocation forwarding all carry
//! values a client chose: identical calls of one client running at once share one answer
//! (never two clients': two clients sending the same refresh token are two calls, so the
//! provider's reuse detection sees the reuse), and at most
//! [`max_upstream_calls_in_flight`](super::OAuthProxyBuilder::max_upstream_calls_in_flight)
//! run at once (shared by every worker); past that the answer is an immediate 503
//! (`temporarily_unavailable`), so a flood of junk refresh tokens cannot use up the app's
//! rate limit and lock out real users.

use std::time::Duration;

use actix_web::{
    http::{header, StatusCode},
    web::Bytes,
    HttpResponse,
};
use awc::Client;
use serde_json::{Map, Value};
use url::{form_urlencoded, Url};

use super::{
    calls::UpstreamCalls,
    config::ProxyConfig,
    error::{no_store, OAuthError},
    state::{ClientBinding, UpstreamTokens},
};
use crate::{
    http::{call, client, Answer, CallFailure},
    logged::Logged,
};

/// Largest upstream body read: token responses with an ID token are a few KiB.
const MAX_BODY: usize = 64 * 1024;

/// The HTTP client of one worker (awc clients are not `Send`), with the configured timeout.
pub(crate) struct Upstream {
    client: Client,
    timeout: Duration,
}

impl Upstream {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self {
            client: client(),
            timeout,
        }
    }

    /// POSTs `form` to `url` with the proxy's upstream credentials added as configured: the
    /// answer of the identical call of the same `caller` already running, if any, within the
    /// budget of calls.
    ///
    /// The caller is part of the flight key: merging the same refresh token sent by two clients
    /// would hand both the rotated tokens and hide the reuse from the provider.
    pub(crate) async fn post_form(
        &self,
        cfg: &ProxyConfig,
        caller: &ClientBinding,
        url: &Url,
        form: Vec<(&str, &str)>,
    ) -> Result<Answer, OAuthError> {
        let req = self
            .client
            .post(url.as_str())
            .insert_header((header::ACCEPT, "application/json"));
        let (req, body) = cfg.credentials.form_post(req, &form);
        let key = [
            caller.as_bytes(),
            b"\n",
            url.as_str().as_bytes(),
            b"\n",
            body.as_bytes(),
        ]
        .concat();
        let timeout = self.timeout;
        let calls = &cfg.upstream_calls;
        let now = cfg.clock.now();
        calls
            .run(&key, now, || {
                Self::send(calls, now, req, body, url, timeout)
            })
            .await
    }

    async fn send(
        calls: &UpstreamCalls,
        now: u64,
        req: awc::ClientRequest,
        body: String,
        url: &Url,
        timeout: Duration,
    ) -> Result<Answer, OAuthError> {
        call(req, Some(body), timeout, MAX_BODY)
            .await
            .map_err(|failure| {
                calls.outage(now, &format!("upstream {} {failure}", url.path()));
                match failure {
                    CallFailure::Unreadable(_) => OAuthError::BadGateway(
                        "the identity provider's answer could not be read".into(),
                    ),
                    CallFailure::TimedOut(_) => OAuthError::Unavailable(
                        "the identity provider did not answer in time".into(),
                    ),
                    CallFailure::Unreachable(_) => {
                        OAuthError::Unavailable("the identity provider could not be reached".into())
                    }
                }
            })
    }
}

/// What an answer of the provider's token or revocation endpoint means for the client.
pub(crate) trait ProviderAnswer: Sized {
    /// The answer as a JSON object and the bytes to pass on.
    fn json(&self) -> Result<(Map<String, Value>, Bytes), OAuthError>;
    /// The answer of `/token`.
    fn into_token_response(self) -> Result<HttpResponse, OAuthError>;
    /// The answer of `/revoke`.
    fn into_revocation_response(self) -> Result<HttpResponse, OAuthError>;
    /// The tokens of a successful token answer received at `now`, and the `scope` it
    /// granted; an upstream refusal is `invalid_grant` (its code is logged, not passed on).
    fn into_tokens(self, now: u64) -> Result<(UpstreamTokens, Option<String>), OAuthError>;
}

impl ProviderAnswer for Answer {
    /// The upstream's answer as a JSON object: JSON kept as is, a form-encoded body (GitHub
    /// without `Accept: application/json`) converted.
    fn json(&self) -> Result<(Map<String, Value>, Bytes), OAuthError> {
        let unreadable =
            || OAuthError::BadGateway("the identity provider's answer is not OAuth JSON".into());
        let mime = self.content_type.split(';').next().unwrap_or("").trim();
        if mime == "application/x-www-form-urlencoded" || mime == "text/plain" {
            let mut map = Map::new();
            for (k, v) in form_urlencoded::parse(&self.body) {
                let value = match (k.as_ref(), v.parse::<u64>()) {
                    ("expires_in" | "refresh_token_expires_in", Ok(n)) => Value::from(n),
                    _ => Value::String(v.into_owned()),
                };
                map.insert(k.into_owned(), value);
            }
            if map.is_empty() {
                return Err(unreadable());
            }
            let bytes = serde_json::to_vec(&map).map_err(|_| unreadable())?;
            return Ok((map, bytes.into()));
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(map)) => Ok((map, self.body.clone())),
            _ => Err(unreadable()),
        }
    }

    /// The answer of `/token`: the upstream's tokens with `Cache-Control: no-store`, or its
    /// error mapped onto ours (the upstream's own text goes to the log only).
    fn into_token_response(self) -> Result<HttpResponse, OAuthError> {
        let (map, body) = self.json()?;
        if let Some(code) = map.get("error") {
            return Err(upstream_error("token", self.status, code, &map));
        }
        if !(self.status.is_success() && map.contains_key("access_token")) {
            log::warn!(
                "upstream token endpoint answered {} without an error code",
                self.status
            );
            return Err(OAuthError::BadGateway(
                "the identity provider answered without a token".into(),
            ));
        }
        let mut res = HttpResponse::Ok();
        no_store(&mut res);
        Ok(res.content_type("application/json").body(body))
    }

    fn into_tokens(self, now: u64) -> Result<(UpstreamTokens, Option<String>), OAuthError> {
        let (map, _) = self.json()?;
        if let Some(code) = map.get("error") {
            return Err(upstream_error("token", self.status, code, &map));
        }
        let string = |name: &str| map.get(name).and_then(Value::as_str).map(str::to_owned);
        let access_token = match string("access_token") {
            Some(token) if self.status.is_success() && !token.is_empty() => token,
            _ => {
                log::warn!(
                    "upstream token endpoint answered {} without an access token",
                    self.status
                );
                return Err(OAuthError::BadGateway(
                    "the identity provider answered without a token".into(),
                ));
            }
        };
        let expires_at = map
            .get("expires_in")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .map(|secs| now.saturating_add(secs));
        let tokens = UpstreamTokens {
            access_token,
            refresh_token: string("refresh_token").filter(|t| !t.is_empty()),
            expires_at,
        };
        Ok((tokens, string("scope")))
    }

    /// The answer of `/revoke` (RFC 7009): 200 passes as an empty 200, errors mapped onto ours.
    fn into_revocation_response(self) -> Result<HttpResponse, OAuthError> {
        if self.status.is_success() {
            let mut res = HttpResponse::Ok();
            no_store(&mut res);
            return Ok(res.finish());
        }
        let (map, _) = self.json()?;
        match map.get("error") {
            Some(code) => Err(upstream_error("revocation", self.status, code, &map)),
            None => Err(OAuthError::BadGateway(
                "the identity provider's revocation failed".into(),
            )),
        }
    }
}

/// An upstream error as one of ours. The client gets our code and our text, never the
/// provider's: its descriptions and URIs are its own vocabulary, may name its internals, and
/// are not ours to vouch for. They go to the log at debug, escaped.
///
/// An upstream `invalid_client` is the proxy's own fault (its credentials are wrong): passing it
/// on would send the client into re-registering forever, so it is a server error.
fn upstream_error(
    endpoint: &str,
    status: StatusCode,
    code: &Value,
    map: &Map<String, Value>,
) -> OAuthError {
    let code = code.as_str().unwrap_or("");
    let description = map.get("error_description").and_then(Value::as_str);
    log::debug!(
        "upstream {endpoint} error `{}` ({status}): {}",
        Logged(code),
        Logged(description.unwrap_or(""))
    );
    match code {
        // GitHub: incorrect_client_credentials, redirect_uri_mismatch.
        "invalid_client"
        | "unauthorized_client"
        | "incorrect_client_credentials"
        | "redirect_uri_mismatch" => {
            log::error!(
                "the upstream refused the proxy's own client credentials (`{}`): check \
                 client_id, client_secret, client_auth_method and the redirect URI registered \
                 there",
                Logged(code)
            );
            OAuthError::ServerError("the proxy's upstream credentials were refused".into())
        }
        "temporarily_unavailable" => {
            OAuthError::Unavailable("the identity provider is unavailable".into())
        }
        "server_error" => OAuthError::BadGateway("the identity provider failed".into()),
        "unsupported_grant_type" => OAuthError::UnsupportedGrantType(
            "the identity provider does not support this grant".into(),
        ),
        "invalid_scope" => {
            OAuthError::InvalidScope("the identity provider refused the requested scope".into())
        }
        "invalid_request" => {
            OAuthError::InvalidRequest("the identity provider refused the request".into())
        }
        // invalid_grant, GitHub's bad_verification_code and bad_refresh_token, and any code
        // of the provider's own: the grant did not work and the client must start over.
        _ => OAuthError::InvalidGrant(
            "the identity provider refused the code or refresh token".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{http::header::HeaderMap, ResponseError};

    use super::*;

    fn answer(status: u16, content_type: &str, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            content_type: content_type.into(),
            headers: HeaderMap::new(),
            body: Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    #[test]
    fn form_encoded_token_answers_become_json_with_numeric_expiry() {
        let a = answer(
            200,
            "application/x-www-form-urlencoded; charset=utf-8",
            "access_token=gho_x&scope=read%3Auser&token_type=bearer&expires_in=3600",
        );
        let (map, bytes) = a.json().unwrap();
        assert_eq!(map["access_token"], "gho_x");
        assert_eq!(map["scope"], "read:user");
        assert_eq!(map["expires_in"], 3600);
        let reparsed: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(reparsed["token_type"], "bearer");
    }

    #[test]
    fn an_error_in_a_200_becomes_invalid_grant_and_bad_bodies_a_502() {
        let err = answer(
            200,
            "application/json",
            r#"{"error":"bad_verification_code","error_description":"<b>internal</b>"}"#,
        )
        .into_token_response()
        .unwrap_err();
        assert_eq!(err.code(), "invalid_grant");
        assert!(!err.description().contains("internal"));
        let err = answer(200, "text/html", "<html>oops</html>").into_token_response();
        assert!(matches!(err, Err(OAuthError::BadGateway(_))));
        let err = answer(500, "application/json", "{}").into_token_response();
        assert!(matches!(err, Err(OAuthError::BadGateway(_))));
    }

    #[test]
    fn upstream_errors_are_mapped_onto_our_codes_with_our_text() {
        let cases = [
            (
                400,
                "invalid_grant",
                "invalid_grant",
                StatusCode::BAD_REQUEST,
            ),
            (
                400,
                "invalid_scope",
                "invalid_scope",
                StatusCode::BAD_REQUEST,
            ),
            (
                400,
                "invalid_request",
                "invalid_request",
                StatusCode::BAD_REQUEST,
            ),
            (
                400,
                "unsupported_grant_type",
                "unsupported_grant_type",
                StatusCode::BAD_REQUEST,
            ),
            (
                503,
                "temporarily_unavailable",
                "server_error",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (500, "server_error", "server_error", StatusCode::BAD_GATEWAY),
            (
                418,
                "provider_specific_thing",
                "invalid_grant",
                StatusCode::BAD_REQUEST,
            ),
            (
                401,
                "invalid_client",
                "server_error",
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (status, upstream, ours, answered) in cases {
            let body = format!(
                r#"{{"error":"{upstream}","error_description":"secret detail","error_uri":"https://idp.internal/x"}}"#
            );
            for err in [
                answer(status, "application/json", &body)
                    .into_token_response()
                    .unwrap_err(),
                answer(status, "application/json", &body)
                    .into_revocation_response()
                    .unwrap_err(),
            ] {
                assert_eq!(err.code(), ours, "{upstream}");
                assert_eq!(err.status_code(), answered, "{upstream}");
                assert!(!err.description().contains("secret"), "{upstream}");
            }
        }
    }

    #[test]
    fn an_upstream_invalid_client_is_the_proxys_fault_not_the_clients() {
        let err =
            answer(401, "application/json", r#"{"error":"invalid_client"}"#).into_token_response();
        assert!(matches!(err, Err(OAuthError::ServerError(_))));
    }
}

//! Calls to a provider's API made while verifying a token (token-info, user, introspection and
//! key endpoints), and what their answers mean for the token.
//!
//! The HTTP side is [`crate::http`]'s: bounded in time and size, no redirects. Here an
//! answer becomes a JSON object, a refusal of the token ([`VerifyError::Rejected`]), or a
//! failure of the provider ([`VerifyError::Unavailable`], answered with 503 so the client
//! retries instead of throwing its token away). Nothing here logs or returns the token.

use std::time::Duration;

use actix_web::http::StatusCode;
use awc::ClientRequest;
use serde_json::{Map, Value};

use crate::{
    http::{call, Answer, Busy, FlightOutcome},
    Claims, VerifyError,
};

/// Largest answer read from a provider's API: user and token-info objects are a few KiB.
pub(crate) const MAX_API_BODY: usize = 64 * 1024;
/// The default time allowed for one call, body included.
pub(crate) const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(5);

/// The default number of provider calls one verifier makes at once.
pub(crate) const DEFAULT_MAX_CALLS_IN_FLIGHT: usize = 32;
pub(crate) use crate::http::Rate;

/// The calls of one API-backed verifier: single flight per token, a budget of calls at once
/// and a rate of new ones ([`crate::http::Flights`]); a verification that cannot be made now is
/// `Unavailable`.
pub(crate) type Flights = crate::http::Flights<Result<Claims, VerifyError>>;

impl FlightOutcome for Result<Claims, VerifyError> {
    fn busy(why: Busy) -> Self {
        Err(VerifyError::Unavailable(why.to_string()))
    }

    fn abandoned() -> Self {
        Err(VerifyError::Unavailable(
            "the provider call this request waited on was abandoned".into(),
        ))
    }
}

/// Sends `req` and reads the answer; a provider that cannot be reached is `Unavailable`.
pub(crate) async fn send(
    what: &'static str,
    req: ClientRequest,
    body: Option<String>,
    timeout: Duration,
) -> Result<Answer, VerifyError> {
    send_limited(what, req, body, timeout, MAX_API_BODY).await
}

/// [`send`] with another body limit.
pub(crate) async fn send_limited(
    what: &'static str,
    req: ClientRequest,
    body: Option<String>,
    timeout: Duration,
    limit: usize,
) -> Result<Answer, VerifyError> {
    call(req, body, timeout, limit)
        .await
        .map_err(|failure| VerifyError::Unavailable(format!("{what}: {failure}")))
}

/// What an answer of the provider's API says.
///
/// - 2xx with a JSON object: the object.
/// - Rate limited (429, or 403 with `Retry-After` or `X-RateLimit-Remaining: 0`) or 5xx:
///   `Unavailable`; the token may be fine.
/// - A status in `token_refused` (the statuses this endpoint uses for a bad, expired or revoked
///   token): `Rejected`, with the provider's error code if it gave one.
/// - Anything else, a 2xx that is not a JSON object included: `Unavailable`. These are faults
///   of the provider or of our configuration (credentials refused), not of the token.
pub(crate) fn classify(
    what: &'static str,
    answer: &Answer,
    token_refused: &[u16],
) -> Result<Map<String, Value>, VerifyError> {
    let status = answer.status;
    if status.is_success() {
        return answer.json_object().ok_or_else(|| {
            VerifyError::Unavailable(format!("{what} answered {status} without a JSON object"))
        });
    }
    if is_rate_limited(answer) {
        return Err(VerifyError::Unavailable(format!(
            "{what} is rate limiting us ({status})"
        )));
    }
    if status.is_server_error() {
        return Err(VerifyError::Unavailable(format!(
            "{what} answered {status}"
        )));
    }
    if token_refused.contains(&status.as_u16()) {
        return Err(VerifyError::Rejected(format!(
            "{what} refused the token ({status}{})",
            error_code(answer)
                .map(|code| format!(", {code}"))
                .unwrap_or_default()
        )));
    }
    Err(VerifyError::Unavailable(format!(
        "{what} answered an unexpected {status}{}",
        error_code(answer)
            .map(|code| format!(" ({code})"))
            .unwrap_or_default()
    )))
}

fn is_rate_limited(answer: &Answer) -> bool {
    answer.status == StatusCode::TOO_MANY_REQUESTS
        || (answer.status == StatusCode::FORBIDDEN
            && (answer.header("retry-after").is_some()
                || answer.header("x-ratelimit-remaining") == Some("0")))
}

/// The OAuth `error` code of an error body, or GitHub's `message`, cut short and limited to
/// printable ASCII so that a provider cannot write arbitrary text into our logs.
fn error_code(answer: &Answer) -> Option<String> {
    let map = answer.json_object()?;
    let code = map
        .get("error")
        .or_else(|| map.get("message"))
        .and_then(Value::as_str)?;
    Some(
        code.chars()
            .filter(|c| c.is_ascii_graphic() || *c == ' ')
            .take(80)
            .collect(),
    )
}

/// A JSON value that should be a count of seconds (`exp`, `expires_in`): a non-negative
/// integer, or a string of digits (Google's token-info writes numbers as strings).
pub(crate) fn seconds(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{
        http::header::{HeaderMap, HeaderName, HeaderValue},
        web::Bytes,
    };
    use serde_json::json;

    use super::*;

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Answer::for_tests(
            StatusCode::from_u16(status).unwrap(),
            map,
            Bytes::from(body.to_owned()),
        )
    }

    #[test]
    fn a_json_object_in_a_2xx_is_the_answer_and_anything_else_is_the_providers_fault() {
        let ok = classify("api", &answer(200, &[], r#"{"sub":"1"}"#), &[401]).unwrap();
        assert_eq!(ok["sub"], "1");
        for body in ["[1]", "<html>", ""] {
            assert!(classify("api", &answer(200, &[], body), &[401])
                .unwrap_err()
                .is_unavailable());
        }
    }

    #[test]
    fn rate_limits_and_server_errors_are_unavailable_and_token_statuses_rejected() {
        let unavailable = [
            answer(429, &[], "{}"),
            answer(403, &[("x-ratelimit-remaining", "0")], "{}"),
            answer(403, &[("retry-after", "60")], "{}"),
            answer(500, &[], "{}"),
            answer(503, &[], "oops"),
            answer(401, &[], r#"{"error":"invalid_client"}"#),
        ];
        for a in &unavailable {
            assert!(
                classify("api", a, &[400]).unwrap_err().is_unavailable(),
                "{}",
                a.status
            );
        }
        let refused = classify(
            "api",
            &answer(400, &[], r#"{"error":"invalid_token\u0007\n"}"#),
            &[400],
        )
        .unwrap_err();
        assert_eq!(
            refused,
            VerifyError::Rejected("api refused the token (400 Bad Request, invalid_token)".into())
        );
        let plain_403 = classify("api", &answer(403, &[], "{}"), &[401, 403]).unwrap_err();
        assert!(matches!(plain_403, VerifyError::Rejected(_)));
    }

    #[test]
    fn seconds_accept_integers_and_digit_strings_only() {
        assert_eq!(seconds(&json!(17)), Some(17));
        assert_eq!(seconds(&json!("1700000000")), Some(1_700_000_000));
        for bad in [
            json!(-1),
            json!(1.5),
            json!(""),
            json!("12a"),
            json!("-3"),
            json!(null),
        ] {
            assert_eq!(seconds(&bad), None, "{bad}");
        }
    }
}

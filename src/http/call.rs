//! One request, one answer: the bounded exchange every call to a provider goes through.

use std::time::Duration;

use actix_web::{
    http::{
        header::{self, HeaderMap},
        StatusCode,
    },
    web::Bytes,
};
use awc::{error::PayloadError, ClientRequest};
use serde_json::{Map, Value};

/// What the provider answered, before interpretation.
#[derive(Clone)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    /// Lowercased `Content-Type`, empty when absent.
    pub(crate) content_type: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// Why a call to the identity provider got no answer. The text is for logs; it never holds
/// the request's credentials.
#[derive(Debug, derive_more::Display)]
pub(crate) enum CallFailure {
    /// No connection, or the request could not be sent.
    #[display("unreachable: {_0}")]
    Unreachable(String),
    /// The answer's body was too large or broke off.
    #[display("answer unreadable: {_0}")]
    Unreadable(String),
    /// No complete answer within the timeout.
    #[display("timed out after {_0:?}")]
    TimedOut(Duration),
}

/// Sends `req` (with `body`, if any) and reads the answer: at most `limit` bytes, everything
/// within `timeout`, so that a slow body cannot hang the caller. An answer that declares a
/// larger `Content-Length` is refused before any of its body is read.
pub(crate) async fn call(
    req: ClientRequest,
    body: Option<String>,
    timeout: Duration,
    limit: usize,
) -> Result<Answer, CallFailure> {
    let req = req.timeout(timeout);
    let too_large = || CallFailure::Unreadable(format!("larger than {limit} bytes"));
    let exchange = async {
        let sent = match body {
            Some(body) => req.send_body(body).await,
            None => req.send().await,
        };
        let mut res = sent.map_err(|e| CallFailure::Unreachable(e.to_string()))?;
        let declared = res
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(too_large());
        }
        let body = res.body().limit(limit).await.map_err(|e| match e {
            PayloadError::Overflow => too_large(),
            e => CallFailure::Unreadable(e.to_string()),
        })?;
        let headers = res.headers().clone();
        Ok(Answer {
            status: res.status(),
            content_type: content_type(&headers),
            headers,
            body,
        })
    };
    actix_rt::time::timeout(timeout, exchange)
        .await
        .map_err(|_| CallFailure::TimedOut(timeout))?
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

impl Answer {
    /// The header `name`, when present and visible ASCII.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as a JSON object, when it is one (whatever the content type says).
    pub(crate) fn json_object(&self) -> Option<Map<String, Value>> {
        match serde_json::from_slice(&self.body) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        }
    }
}

#[cfg(test)]
impl Answer {
    /// An answer as a test double would give it.
    pub(crate) fn for_tests(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        Self {
            status,
            content_type: content_type(&headers),
            headers,
            body,
        }
    }
}

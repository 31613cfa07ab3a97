//! The crate's HTTP calls to identity providers: bounded in time and size, never following a
//! redirect (it would carry a token or a credential elsewhere), with failures classified so
//! that callers can tell "the provider is down" from "the provider said no".
//!
//! Nothing here logs a token, a code or a secret.

use std::{cell::RefCell, time::Duration};

use actix_web::{
    http::{
        header::{self, HeaderMap},
        StatusCode,
    },
    web::Bytes,
};
use awc::{Client, ClientRequest};
use serde_json::{Map, Value};

pub(crate) const USER_AGENT: &str = "actix-mcp-oauth";

/// How the proxy authenticates itself to the upstream token and revocation endpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// `client_id` and `client_secret` in the form body (RFC 6749 §2.3.1). The default.
    #[default]
    ClientSecretPost,
    /// HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
}

/// What the upstream answered, before interpretation.
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
/// within `timeout`, so that a slow body cannot hang the caller.
pub(crate) async fn call(
    req: ClientRequest,
    body: Option<String>,
    timeout: Duration,
    limit: usize,
) -> Result<Answer, CallFailure> {
    let req = req.timeout(timeout);
    let exchange = async {
        let sent = match body {
            Some(body) => req.send_body(body).await,
            None => req.send().await,
        };
        let mut res = sent.map_err(|e| CallFailure::Unreachable(e.to_string()))?;
        let content_type = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let body = res
            .body()
            .limit(limit)
            .await
            .map_err(|e| CallFailure::Unreadable(e.to_string()))?;
        Ok(Answer {
            status: res.status(),
            content_type,
            headers: res.headers().clone(),
            body,
        })
    };
    actix_rt::time::timeout(timeout, exchange)
        .await
        .map_err(|_| CallFailure::TimedOut(timeout))?
}

thread_local! {
    /// The verifiers' client on this thread, with the id of the actix system it was made in:
    /// an awc client belongs to the runtime that made it, and is not `Send`.
    static API_CLIENT: RefCell<Option<(usize, Client)>> = const { RefCell::new(None) };
}

/// The HTTP client for calls made while verifying a token (token-info, user, introspection
/// and key endpoints): one per worker thread, so connections to the provider are reused across
/// requests. Redirects are not followed: they would carry the token elsewhere.
pub(crate) fn api_client() -> Client {
    let make = || {
        Client::builder()
            .disable_redirects()
            .add_default_header((header::USER_AGENT, USER_AGENT))
            .finish()
    };
    let Some(system) = actix_rt::System::try_current().map(|s| s.id()) else {
        return make();
    };
    API_CLIENT.with(|cell| {
        let mut slot = cell.borrow_mut();
        match &*slot {
            Some((id, client)) if *id == system => client.clone(),
            _ => {
                let client = make();
                *slot = Some((system, client.clone()));
                client
            }
        }
    })
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
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        Self {
            status,
            content_type,
            headers,
            body,
        }
    }
}

//! The HTTP side: fetching a key set or a metadata document with awc (timeouts, size limit,
//! 2xx only, no redirects) on a thread of its own, and issuer discovery.

use std::future::Future;
use std::thread;
use std::time::Duration;

use awc::error::PayloadError;
use awc::http::header::{HeaderMap, ACCEPT, CACHE_CONTROL, CONTENT_LENGTH};
use futures::channel::oneshot;
use serde::Deserialize;
use url::Url;

use super::builder::{DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES};
use crate::validate::ConfigError;

/// The `max-age` directive of `Cache-Control`, if any.
fn max_age(headers: &HeaderMap) -> Option<u64> {
    headers
        .get_all(CACHE_CONTROL)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|directive| {
            let (name, value) = directive.trim().split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("max-age") {
                return None;
            }
            value.trim().trim_matches('"').parse().ok()
        })
}

/// Runs `make()`'s future to completion on a new thread with its own actix runtime: `awc` needs
/// one, and its client is not `Send`, so the future is created there.
pub(super) fn on_fetch_thread<F, Fut, T>(make: F) -> oneshot::Receiver<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let (sender, receiver) = oneshot::channel();
    let spawned = thread::Builder::new()
        .name("jwks-fetch".into())
        .spawn(move || {
            if let Ok(value) = block_on_fresh_runtime(make()) {
                let _ = sender.send(value);
            }
        });
    if let Err(e) = spawned {
        // The sender was dropped with the closure: the receiver reports cancellation.
        log::error!("cannot start a fetch thread: {e}");
    }
    receiver
}

pub(super) fn block_on_fresh_runtime<T>(future: impl Future<Output = T>) -> Result<T, String> {
    let runtime = actix_rt::Runtime::new()
        .map_err(|e| format!("cannot start a runtime for the fetch: {e}"))?;
    Ok(runtime.block_on(future))
}

pub(super) struct Fetched {
    pub(super) body: Vec<u8>,
    pub(super) max_age: Option<u64>,
}

/// GETs `url`: no redirects, 2xx only, at most `limit` bytes, all within `timeout`.
pub(super) async fn fetch(url: Url, timeout: Duration, limit: usize) -> Result<Fetched, String> {
    let work = async {
        let client = awc::Client::builder()
            .timeout(timeout)
            .disable_redirects()
            .finish();
        let mut response = client
            .get(url.as_str())
            .insert_header((ACCEPT, "application/json"))
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("HTTP status {}", response.status()));
        }
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(format!("response larger than {limit} bytes"));
        }
        let max_age = max_age(response.headers());
        let body = response.body().limit(limit).await.map_err(|e| match e {
            PayloadError::Overflow => format!("response larger than {limit} bytes"),
            e => format!("reading the response failed: {e}"),
        })?;
        Ok(Fetched {
            body: body.to_vec(),
            max_age,
        })
    };
    actix_rt::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("no complete answer within {timeout:?}"))?
}

/// The metadata URLs to try for `issuer`: OpenID Connect Discovery first, then RFC 8414.
pub(super) fn discovery_urls(issuer: &str, issuer_url: &Url) -> Vec<String> {
    let oidc = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let path = issuer_url.path().trim_end_matches('/');
    let origin = issuer_url.origin().ascii_serialization();
    let rfc8414 = format!("{origin}/.well-known/oauth-authorization-server{path}");
    if rfc8414 == oidc {
        vec![oidc]
    } else {
        vec![oidc, rfc8414]
    }
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: Option<String>,
}

pub(super) async fn discover(
    candidates: Vec<String>,
    issuer: String,
) -> Result<String, ConfigError> {
    let mut failures = Vec::new();
    for candidate in candidates {
        let found = async {
            let url = Url::parse(&candidate).map_err(|e| e.to_string())?;
            let fetched = fetch(url, DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES).await?;
            let metadata: Metadata =
                serde_json::from_slice(&fetched.body).map_err(|e| format!("not metadata: {e}"))?;
            if metadata.issuer != issuer {
                return Err(format!("its issuer is {:?}", metadata.issuer));
            }
            metadata
                .jwks_uri
                .ok_or_else(|| "it has no jwks_uri".to_owned())
        };
        match found.await {
            Ok(jwks_uri) => return Ok(jwks_uri),
            Err(reason) => failures.push(format!("{candidate}: {reason}")),
        }
    }
    Err(ConfigError::Discovery(failures.join("; ")))
}

#[cfg(test)]
mod tests {
    use awc::http::header::HeaderValue;

    use super::*;

    #[test]
    fn max_age_is_read_from_any_cache_control_directive() {
        let parse = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for v in values {
                headers.append(CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
            }
            max_age(&headers)
        };
        assert_eq!(parse(&["public, max-age=300, must-revalidate"]), Some(300));
        assert_eq!(parse(&["no-transform", "Max-Age=\"42\""]), Some(42));
        assert_eq!(parse(&["s-maxage=10, no-cache"]), None);
        assert_eq!(parse(&["max-age=soon"]), None);
        assert_eq!(parse(&[]), None);
    }

    #[test]
    fn discovery_tries_openid_then_rfc8414_urls() {
        let urls = |issuer: &str| discovery_urls(issuer, &Url::parse(issuer).unwrap());
        assert_eq!(
            urls("https://id.example/tenant/"),
            [
                "https://id.example/tenant/.well-known/openid-configuration",
                "https://id.example/.well-known/oauth-authorization-server/tenant",
            ]
        );
        assert_eq!(
            urls("https://id.example"),
            [
                "https://id.example/.well-known/openid-configuration",
                "https://id.example/.well-known/oauth-authorization-server",
            ]
        );
    }
}

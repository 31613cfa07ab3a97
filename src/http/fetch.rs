//! GETs of provider documents (key sets, metadata), and running them away from the caller's
//! executor: awc needs an actix runtime, which a caller on another executor does not have, and
//! a fetch run on a request's future would end when the request is dropped.

use std::{future::Future, thread, time::Duration};

use actix_web::{
    http::header::{HeaderMap, ACCEPT, CACHE_CONTROL},
    web::Bytes,
};
use futures::channel::oneshot;
use url::Url;

use super::{call, client};

/// A fetched document and how long its server says it may be cached.
pub(crate) struct Fetched {
    pub(crate) body: Bytes,
    /// The `max-age` of `Cache-Control`, if any.
    pub(crate) max_age: Option<u64>,
}

/// GETs `url`: no redirects, 2xx only, at most `limit` bytes, all within `timeout`. The error
/// says why, for logs.
pub(crate) async fn fetch(url: Url, timeout: Duration, limit: usize) -> Result<Fetched, String> {
    let req = client()
        .get(url.as_str())
        .insert_header((ACCEPT, "application/json"));
    let answer = call(req, None, timeout, limit)
        .await
        .map_err(|failure| failure.to_string())?;
    if !answer.status.is_success() {
        return Err(format!("HTTP status {}", answer.status));
    }
    Ok(Fetched {
        max_age: max_age(&answer.headers),
        body: answer.body,
    })
}

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

/// Runs `make()`'s future to completion on a new thread with its own actix runtime, and
/// returns its output through the receiver, which any executor can await. The future is
/// created on that thread because awc's client is not `Send`. If the thread cannot be started
/// the receiver reports cancellation.
pub(super) fn on_fetch_thread<F, Fut, T>(make: F) -> oneshot::Receiver<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let (sender, receiver) = oneshot::channel();
    let spawned = thread::Builder::new()
        .name("provider-fetch".into())
        .spawn(move || match block_on_fresh_runtime(make()) {
            Ok(value) => {
                let _ = sender.send(value);
            }
            Err(e) => log::error!("{e}"),
        });
    if let Err(e) = spawned {
        // The sender was dropped with the closure: the receiver reports cancellation.
        log::error!("cannot start a fetch thread: {e}");
    }
    receiver
}

/// Runs `future` to completion on a new actix runtime on the current thread, which must not be
/// running one already.
pub(crate) fn block_on_fresh_runtime<T>(future: impl Future<Output = T>) -> Result<T, String> {
    let runtime = actix_rt::Runtime::new()
        .map_err(|e| format!("cannot start a runtime for the fetch: {e}"))?;
    Ok(runtime.block_on(future))
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

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
}

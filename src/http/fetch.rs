//! GETs of provider documents (key sets, metadata), and running them away from the caller's
//! executor: awc needs an actix runtime, which a caller on another executor does not have, and
//! a fetch run on a request's future would end when the request is dropped.

use std::{
    future::Future,
    io,
    panic::{self, AssertUnwindSafe},
    thread,
    time::Duration,
};

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
    fetch_with(&client(), url, timeout, limit).await
}

/// [`fetch`] with a client of the caller's (a [guarded](super::guarded_client) one).
pub(crate) async fn fetch_with(
    client: &awc::Client,
    url: Url,
    timeout: Duration,
    limit: usize,
) -> Result<Fetched, String> {
    let req = client
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

/// Runs `make()`'s future to completion on a new thread named `name`, with an actix runtime of
/// its own, and gives the outcome to `done` on that thread. The future is created on that
/// thread because awc's client is not `Send`; nothing the caller drops can cancel it, and it
/// occupies no worker however slow the provider is.
///
/// Once the thread has started, `done` is called exactly once: with the future's output, or
/// with the reason there is none (no runtime could be started, or the fetch panicked), so
/// whoever waits for the fetch is always answered. If the thread cannot be started, the error
/// is returned and `done` is dropped uncalled on the caller's thread, which may hold a lock
/// that `done` takes.
pub(crate) fn spawn_fetch<M, Fut, T, D>(name: &str, make: M, done: D) -> io::Result<()>
where
    M: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    D: FnOnce(Result<T, String>) + Send + 'static,
{
    thread::Builder::new().name(name.into()).spawn(move || {
        // Nothing of the fetch is used after a panic: its state is dropped with the runtime.
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            block_on_fresh_runtime(async move { make().await })
        }))
        .unwrap_or_else(|_| Err("the fetch panicked".into()));
        done(outcome);
    })?;
    Ok(())
}

/// [`spawn_fetch`] on a thread named `provider-fetch`, with the output delivered through the
/// receiver, which any executor can await. If there is no output (no thread, no runtime, a
/// panic), the reason is logged and the receiver reports cancellation.
pub(super) fn on_fetch_thread<F, Fut, T>(make: F) -> oneshot::Receiver<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let (sender, receiver) = oneshot::channel();
    let spawned = spawn_fetch("provider-fetch", make, move |outcome| match outcome {
        Ok(value) => {
            let _ = sender.send(value);
        }
        Err(e) => log::error!("{e}"),
    });
    if let Err(e) = spawned {
        // The sender was dropped with `done`: the receiver reports cancellation.
        log::error!("cannot start a fetch thread: {e}");
    }
    receiver
}

/// Runs `future` to completion on a new actix runtime on the current thread, which must not be
/// running one already.
fn block_on_fresh_runtime<T>(future: impl Future<Output = T>) -> Result<T, String> {
    let runtime = actix_rt::Runtime::new()
        .map_err(|e| format!("cannot start a runtime for the fetch: {e}"))?;
    Ok(runtime.block_on(future))
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use actix_web::http::header::HeaderValue;
    use futures::future::LocalBoxFuture;

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
    fn done_gets_the_outcome_on_the_named_thread_even_when_the_fetch_panics() {
        type Seen = (Option<String>, Result<u8, String>);
        let run = |make: fn() -> LocalBoxFuture<'static, u8>| {
            let (sender, receiver) = mpsc::channel::<Seen>();
            spawn_fetch("test-fetch", make, move |outcome| {
                let name = thread::current().name().map(str::to_owned);
                sender.send((name, outcome)).unwrap();
            })
            .unwrap();
            receiver.recv_timeout(Duration::from_secs(10)).unwrap()
        };
        let name = Some("test-fetch".to_owned());
        assert_eq!(run(|| Box::pin(async { 7 })), (name.clone(), Ok(7)));
        assert_eq!(
            run(|| Box::pin(async { panic!("a provider's answer broke the parser") })),
            (name, Err("the fetch panicked".into()))
        );
    }
}

//! Calls to a provider's API made while verifying a token (token-info, user, introspection and
//! key endpoints), and what their answers mean for the token.
//!
//! The HTTP side is [`crate::http`]'s: bounded in time and size, no redirects. Here an
//! answer becomes a JSON object, a refusal of the token ([`VerifyError::Rejected`]), or a
//! failure of the provider ([`VerifyError::Unavailable`], answered with 503 so the client
//! retries instead of throwing its token away). Nothing here logs or returns the token.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use actix_web::http::StatusCode;
use awc::ClientRequest;
use futures::channel::oneshot;
use serde_json::{Map, Value};

use crate::{
    http::{call, Answer},
    Claims, VerifyError,
};

/// Largest answer read from a provider's API: user and token-info objects are a few KiB.
pub(crate) const MAX_API_BODY: usize = 64 * 1024;
/// The default time allowed for one call, body included.
pub(crate) const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(5);

/// The default number of provider calls one verifier makes at once.
pub(crate) const DEFAULT_MAX_CALLS_IN_FLIGHT: usize = 32;

/// The verifications of one API-backed verifier that are waiting on the provider.
///
/// Two bounds on what junk tokens cost upstream, where every verification is a call made with
/// the app's own credentials (and counted against its rate limit): requests that carry the
/// same token while its call is running wait for that call instead of making their own (single
/// flight), and at most `max` calls run at once; past that a request is answered
/// `Unavailable` (503, retry) at once rather than queued behind a provider that is not keeping
/// up. If the request that made a call goes away, the call is dropped with it and the
/// requests waiting on it get `Unavailable` too.
pub(crate) struct Flights {
    running: Mutex<Running>,
    max: usize,
}

/// The calls running, by the SHA-256 of their token, each with the requests waiting on it.
type Running = HashMap<[u8; 32], Vec<Waiter>>;
type Waiter = oneshot::Sender<Result<Claims, VerifyError>>;

impl Flights {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            running: Mutex::new(HashMap::new()),
            max,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Running> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `call()`'s answer for `token`: from the call already running for it, or from a new one.
    pub(crate) async fn run<F, Fut>(&self, token: &str, call: F) -> Result<Claims, VerifyError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Claims, VerifyError>>,
    {
        let key = openssl::sha::sha256(token.as_bytes());
        let waiting = {
            let mut running = self.lock();
            let in_flight = running.len();
            match running.get_mut(&key) {
                Some(waiters) => {
                    let (sender, receiver) = oneshot::channel();
                    waiters.push(sender);
                    Some(receiver)
                }
                None if in_flight >= self.max => {
                    return Err(VerifyError::Unavailable(format!(
                        "{} provider calls already in flight",
                        self.max
                    )))
                }
                None => {
                    running.insert(key, Vec::new());
                    None
                }
            }
        };
        if let Some(receiver) = waiting {
            return receiver.await.unwrap_or_else(|_| {
                Err(VerifyError::Unavailable(
                    "the provider call this request waited on was abandoned".into(),
                ))
            });
        }
        let leader = Leader { flights: self, key };
        let outcome = call().await;
        for waiter in leader.finish() {
            // A waiter whose request went away has dropped its receiver.
            let _ = waiter.send(outcome.clone());
        }
        outcome
    }
}

/// The request that makes the call: its entry goes when it finishes or is dropped.
struct Leader<'a> {
    flights: &'a Flights,
    key: [u8; 32],
}

impl Leader<'_> {
    fn finish(self) -> Vec<Waiter> {
        let waiters = self.flights.lock().remove(&self.key).unwrap_or_default();
        std::mem::forget(self);
        waiters
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        // Dropped unfinished (the request went away): the waiters' senders go with the entry.
        self.flights.lock().remove(&self.key);
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
    use std::{cell::Cell, rc::Rc};

    use actix_web::{
        http::header::{HeaderMap, HeaderName, HeaderValue},
        web::Bytes,
    };
    use futures::{future::join_all, FutureExt};
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

    fn claims() -> Claims {
        let mut map = Map::new();
        map.insert("sub".into(), json!("ada"));
        Claims::new(map)
    }

    type Outcome = Result<Claims, VerifyError>;

    #[test]
    fn requests_with_one_token_share_one_call_and_the_budget_refuses_past_it() {
        let flights = Flights::new(2);
        let calls = Rc::new(Cell::new(0));
        let (open, gate) = oneshot::channel::<()>();
        let gate = gate.shared();
        let run = |token: &'static str| {
            let (calls, gate) = (Rc::clone(&calls), gate.clone());
            flights
                .run(token, move || {
                    calls.set(calls.get() + 1);
                    async move {
                        let _ = gate.await;
                        Ok(claims())
                    }
                })
                .boxed_local()
        };
        let mut all: Vec<futures::future::LocalBoxFuture<'_, Outcome>> =
            (0..5).map(|_| run("same")).collect();
        all.push(run("other"));
        all.push(run("third"));
        all.push(
            async move {
                let _ = open.send(());
                Ok(claims())
            }
            .boxed_local(),
        );
        let outcomes = futures::executor::block_on(join_all(all));
        assert_eq!(
            calls.get(),
            2,
            "one call per token, two tokens within the budget"
        );
        assert!(outcomes[..6].iter().all(Result::is_ok));
        assert!(matches!(&outcomes[6], Err(VerifyError::Unavailable(_))));
        assert!(flights.lock().is_empty(), "nothing left in flight");
    }

    #[test]
    fn waiters_of_an_abandoned_call_are_answered_unavailable() {
        let flights = Flights::new(4);
        let mut leader = Box::pin(flights.run("t", futures::future::pending::<Outcome>));
        assert!((&mut leader).now_or_never().is_none());
        let mut waiter = Box::pin(flights.run("t", || async { Ok(claims()) }));
        assert!((&mut waiter).now_or_never().is_none());
        drop(leader);
        let outcome = futures::executor::block_on(waiter);
        assert!(
            matches!(outcome, Err(VerifyError::Unavailable(_))),
            "{outcome:?}"
        );
        assert!(flights.lock().is_empty());
    }
}

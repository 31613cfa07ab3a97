//! Single flight and a budget for calls made to a provider with the app's own credentials.
//!
//! Every such call (verifying a token at a token-info, user or introspection endpoint; the
//! proxy's refresh, code exchange and revocation forwarding) is counted against the app's
//! rate limit at the provider, so junk input must not be able to multiply them: requests that
//! need the same call while it is running wait for it instead of making their own, and at most
//! `max` calls run at once; past that a request is answered "busy" at once (503, retry) rather
//! than queued behind a provider that is not keeping up. If the request that made a call goes
//! away, the call is dropped with it and the requests waiting on it are answered "abandoned".
//!
//! The budget bounds the calls *at once*, not over time: against a provider that answers in
//! 10 ms, 32 calls in flight are 3 200 calls a second, and a flood of distinct junk tokens
//! (each a miss of every cache) would spend the app's rate limit at the provider within
//! minutes, after which every real user gets 503 too. So new calls are also paced by a token
//! bucket ([`Rate`]): at most `burst` at once after a quiet spell, then `per_second`; past it a
//! request is answered "busy" the same way. Joining a call already running costs nothing.

use std::{
    collections::HashMap,
    fmt,
    future::Future,
    sync::{Mutex, MutexGuard, PoisonError},
    time::Instant,
};

use futures::channel::oneshot;

use crate::validate::{invalid, ConfigError};

/// What a flight answers: shared with every request that waited on it, or made up when no
/// call could be made for it.
pub(crate) trait FlightOutcome: Clone {
    /// The answer when no new call may start now (`why` says which bound refused it).
    fn busy(why: Busy) -> Self;
    /// The answer of a waiter whose call was dropped before it finished.
    fn abandoned() -> Self;
}

/// Why a new call was refused: for the log line behind the 503.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Busy {
    /// This many calls are already running.
    InFlight(usize),
    /// The calls started lately have spent the rate.
    Rate(Rate),
}

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Busy::InFlight(max) => write!(f, "{max} provider calls already in flight"),
            Busy::Rate(rate) => write!(
                f,
                "more than {} provider calls a second (burst {})",
                rate.per_second, rate.burst
            ),
        }
    }
}

/// How fast new calls may start: `burst` at once, refilled at `per_second`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rate {
    per_second: u32,
    burst: u32,
}

impl Rate {
    /// The default for a verifier or the proxy: 10 calls a second, 100 at once. A sign-in or
    /// a new token costs one; a cached token none.
    pub(crate) const DEFAULT: Rate = Rate {
        per_second: 10,
        burst: 100,
    };

    /// `per_second` and `burst`, both at least 1 (`field` names the setter in the error).
    pub(crate) fn new(
        field: &'static str,
        per_second: u32,
        burst: u32,
    ) -> Result<Self, ConfigError> {
        if per_second == 0 || burst == 0 {
            return Err(invalid(
                field,
                "calls per second and burst must be at least 1",
            ));
        }
        Ok(Self { per_second, burst })
    }
}

/// A token bucket: `burst` tokens when full, one more every `1 / per_second`.
#[derive(Debug)]
struct Bucket {
    /// Tokens left, in millionths, so that refills need no floating point.
    micros: u64,
    refilled: Instant,
}

const MICROS: u64 = 1_000_000;

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Self {
        Self {
            micros: u64::from(rate.burst) * MICROS,
            refilled: now,
        }
    }

    /// Takes one token at `now` if there is one.
    fn take(&mut self, rate: Rate, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled);
        let earned = elapsed
            .as_micros()
            .saturating_mul(u128::from(rate.per_second));
        let cap = u64::from(rate.burst) * MICROS;
        self.micros = u64::try_from(u128::from(self.micros).saturating_add(earned))
            .unwrap_or(cap)
            .min(cap);
        self.refilled = now;
        if self.micros < MICROS {
            return false;
        }
        self.micros -= MICROS;
        true
    }
}

/// The calls running and the bucket they start from.
struct State<O> {
    running: HashMap<[u8; 32], Vec<oneshot::Sender<O>>>,
    bucket: Bucket,
}

/// The calls running, keyed by a SHA-256 of what makes two calls the same.
pub(crate) struct Flights<O> {
    state: Mutex<State<O>>,
    max: usize,
    rate: Rate,
}

impl<O: FlightOutcome> Flights<O> {
    /// At most `max` calls at once, started no faster than `rate`.
    pub(crate) fn new(max: usize, rate: Rate) -> Self {
        Self {
            state: Mutex::new(State {
                running: HashMap::new(),
                bucket: Bucket::full(rate, Instant::now()),
            }),
            max,
            rate,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<O>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The number of distinct calls running now.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.lock().running.len()
    }

    /// `call()`'s answer for `key` (hashed, never kept): from the call already running for
    /// it, or from a new one.
    pub(crate) async fn run<F, Fut>(&self, key: &[u8], call: F) -> O
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = O>,
    {
        self.run_at(key, Instant::now(), call).await
    }

    /// [`run`](Self::run) at `now`, the bucket's time.
    async fn run_at<F, Fut>(&self, key: &[u8], now: Instant, call: F) -> O
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = O>,
    {
        let key = openssl::sha::sha256(key);
        let waiting = {
            let mut state = self.lock();
            let State { running, bucket } = &mut *state;
            let in_flight = running.len();
            match running.get_mut(&key) {
                Some(waiters) => {
                    let (sender, receiver) = oneshot::channel();
                    waiters.push(sender);
                    Some(receiver)
                }
                None if in_flight >= self.max => return O::busy(Busy::InFlight(self.max)),
                None if !bucket.take(self.rate, now) => return O::busy(Busy::Rate(self.rate)),
                None => {
                    running.insert(key, Vec::new());
                    None
                }
            }
        };
        if let Some(receiver) = waiting {
            return receiver.await.unwrap_or_else(|_| O::abandoned());
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
struct Leader<'a, O: FlightOutcome> {
    flights: &'a Flights<O>,
    key: [u8; 32],
}

impl<O: FlightOutcome> Leader<'_, O> {
    fn finish(self) -> Vec<oneshot::Sender<O>> {
        let waiters = self
            .flights
            .lock()
            .running
            .remove(&self.key)
            .unwrap_or_default();
        std::mem::forget(self);
        waiters
    }
}

impl<O: FlightOutcome> Drop for Leader<'_, O> {
    fn drop(&mut self) {
        // Dropped unfinished (the request went away): the waiters' senders go with the entry.
        self.flights.lock().running.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, rc::Rc, time::Duration};

    use futures::{future::join_all, FutureExt};

    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    enum Outcome {
        Done,
        Busy,
        Abandoned,
    }

    impl FlightOutcome for Outcome {
        fn busy(_: Busy) -> Self {
            Outcome::Busy
        }
        fn abandoned() -> Self {
            Outcome::Abandoned
        }
    }

    #[test]
    fn requests_with_one_key_share_one_call_and_the_budget_refuses_past_it() {
        let flights = Flights::<Outcome>::new(2, Rate::DEFAULT);
        let calls = Rc::new(Cell::new(0));
        let (open, gate) = oneshot::channel::<()>();
        let gate = gate.shared();
        let run = |key: &'static str| {
            let (calls, gate) = (Rc::clone(&calls), gate.clone());
            flights
                .run(key.as_bytes(), move || {
                    calls.set(calls.get() + 1);
                    async move {
                        let _ = gate.await;
                        Outcome::Done
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
                Outcome::Done
            }
            .boxed_local(),
        );
        let outcomes = futures::executor::block_on(join_all(all));
        assert_eq!(
            calls.get(),
            2,
            "one call per key, two keys within the budget"
        );
        assert!(outcomes[..6].iter().all(|o| *o == Outcome::Done));
        assert_eq!(outcomes[6], Outcome::Busy);
        assert_eq!(flights.in_flight(), 0, "nothing left in flight");
    }

    #[test]
    fn waiters_of_an_abandoned_call_are_answered_abandoned() {
        let flights = Flights::<Outcome>::new(4, Rate::DEFAULT);
        let mut leader = Box::pin(flights.run(b"t", futures::future::pending::<Outcome>));
        assert!((&mut leader).now_or_never().is_none());
        let mut waiter = Box::pin(flights.run(b"t", || async { Outcome::Done }));
        assert!((&mut waiter).now_or_never().is_none());
        drop(leader);
        assert_eq!(futures::executor::block_on(waiter), Outcome::Abandoned);
        assert_eq!(flights.in_flight(), 0);
    }

    #[test]
    fn new_calls_start_no_faster_than_the_rate_after_the_burst() {
        let rate = Rate::new("rate", 10, 5).unwrap();
        let flights = Flights::<Outcome>::new(100, rate);
        let start = Instant::now();
        let run = |i: u32, at: Duration| {
            futures::executor::block_on(flights.run_at(
                format!("token-{i}").as_bytes(),
                start + at,
                || async { Outcome::Done },
            ))
        };
        // The burst at once, then nothing until a tenth of a second has passed.
        let burst: Vec<_> = (0..6).map(|i| run(i, Duration::ZERO)).collect();
        assert!(burst[..5].iter().all(|o| *o == Outcome::Done));
        assert_eq!(burst[5], Outcome::Busy);
        assert_eq!(run(6, Duration::from_millis(99)), Outcome::Busy);
        assert_eq!(run(7, Duration::from_millis(100)), Outcome::Done);
        assert_eq!(run(8, Duration::from_millis(100)), Outcome::Busy);
        // A sustained flood over ten seconds: ten a second, whatever it sends.
        let mut started = 0;
        for tick in 1..=1000u32 {
            let at = Duration::from_millis(100) + Duration::from_millis(10) * tick;
            for i in 0..10 {
                if run(tick * 100 + i, at) == Outcome::Done {
                    started += 1;
                }
            }
        }
        assert_eq!(started, 100, "10 a second for 10 s");
        // A quiet spell refills the bucket to the burst, never past it.
        let quiet = Duration::from_secs(3600);
        let after: Vec<_> = (0..6).map(|i| run(1_000_000 + i, quiet)).collect();
        assert_eq!(after.iter().filter(|o| **o == Outcome::Done).count(), 5);
    }

    #[test]
    fn a_rate_of_zero_is_a_configuration_error() {
        assert!(Rate::new("max_call_rate", 0, 1).is_err());
        assert!(Rate::new("max_call_rate", 1, 0).is_err());
        assert!(Rate::new("max_call_rate", 1, 1).is_ok());
    }
}

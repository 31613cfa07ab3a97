//! Single flight and a budget for calls made to a provider with the app's own credentials.
//!
//! Every such call (verifying a token at a token-info, user or introspection endpoint; the
//! proxy's refresh, code exchange and revocation forwarding) is counted against the app's
//! rate limit at the provider, so junk input must not be able to multiply them: requests that
//! need the same call while it is running wait for it instead of making their own, and at most
//! `max` calls run at once; past that a request is answered "busy" at once (503, retry) rather
//! than queued behind a provider that is not keeping up. If the request that made a call goes
//! away, the call is dropped with it and the requests waiting on it are answered "abandoned".

use std::{
    collections::HashMap,
    future::Future,
    sync::{Mutex, MutexGuard, PoisonError},
};

use futures::channel::oneshot;

/// What a flight answers: shared with every request that waited on it, or made up when no
/// call could be made for it.
pub(crate) trait FlightOutcome: Clone {
    /// The answer when `max` calls are already running.
    fn busy(max: usize) -> Self;
    /// The answer of a waiter whose call was dropped before it finished.
    fn abandoned() -> Self;
}

/// The calls running, keyed by a SHA-256 of what makes two calls the same.
pub(crate) struct Flights<O> {
    running: Mutex<HashMap<[u8; 32], Vec<oneshot::Sender<O>>>>,
    max: usize,
}

impl<O: FlightOutcome> Flights<O> {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            running: Mutex::new(HashMap::new()),
            max,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<[u8; 32], Vec<oneshot::Sender<O>>>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The number of distinct calls running now.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.lock().len()
    }

    /// `call()`'s answer for `key` (hashed, never kept): from the call already running for
    /// it, or from a new one.
    pub(crate) async fn run<F, Fut>(&self, key: &[u8], call: F) -> O
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = O>,
    {
        let key = openssl::sha::sha256(key);
        let waiting = {
            let mut running = self.lock();
            let in_flight = running.len();
            match running.get_mut(&key) {
                Some(waiters) => {
                    let (sender, receiver) = oneshot::channel();
                    waiters.push(sender);
                    Some(receiver)
                }
                None if in_flight >= self.max => return O::busy(self.max),
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
        let waiters = self.flights.lock().remove(&self.key).unwrap_or_default();
        std::mem::forget(self);
        waiters
    }
}

impl<O: FlightOutcome> Drop for Leader<'_, O> {
    fn drop(&mut self) {
        // Dropped unfinished (the request went away): the waiters' senders go with the entry.
        self.flights.lock().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, rc::Rc};

    use futures::{future::join_all, FutureExt};

    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    enum Outcome {
        Done,
        Busy,
        Abandoned,
    }

    impl FlightOutcome for Outcome {
        fn busy(_: usize) -> Self {
            Outcome::Busy
        }
        fn abandoned() -> Self {
            Outcome::Abandoned
        }
    }

    #[test]
    fn requests_with_one_key_share_one_call_and_the_budget_refuses_past_it() {
        let flights = Flights::<Outcome>::new(2);
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
        let flights = Flights::<Outcome>::new(4);
        let mut leader = Box::pin(flights.run(b"t", futures::future::pending::<Outcome>));
        assert!((&mut leader).now_or_never().is_none());
        let mut waiter = Box::pin(flights.run(b"t", || async { Outcome::Done }));
        assert!((&mut waiter).now_or_never().is_none());
        drop(leader);
        assert_eq!(futures::executor::block_on(waiter), Outcome::Abandoned);
        assert_eq!(flights.in_flight(), 0);
    }
}

//! The budget, rate and single flight of the proxy's upstream calls ([`crate::http::Flights`]),
//! shared by every worker through the configuration, and the one log of their failures
//! ([`OutageLog`]); the calls themselves are [`super::upstream`]'s.
//!
//! A failing or saturated provider fails every request the same way, and a flood of junk
//! refresh tokens is the attacker's to start: the failures are logged once per interval, with
//! a count, never once per request.

use std::future::Future;

use super::error::OAuthError;
use crate::http::{Answer, Busy, FlightOutcome, Flights, OutageLog, Rate};

/// The default number of upstream calls the proxy makes at once.
pub(crate) const DEFAULT_MAX_CALLS_IN_FLIGHT: usize = 32;

/// The proxy's upstream calls running now and the log of their failures, shared by every
/// worker.
pub(crate) struct UpstreamCalls {
    flights: Flights<Flight>,
    outages: OutageLog,
}

/// What one flight answers: the call's result, or why there was none.
#[derive(Clone)]
enum Flight {
    Done(Result<Answer, OAuthError>),
    Busy(Busy),
    Abandoned,
}

impl FlightOutcome for Flight {
    fn busy(why: Busy) -> Self {
        Self::Busy(why)
    }

    fn abandoned() -> Self {
        Self::Abandoned
    }
}

impl UpstreamCalls {
    /// At most `max` calls at once, and new ones no faster than `rate`: a flood of junk
    /// refresh tokens costs at most that many calls with the app's credentials.
    pub(crate) fn new(max: usize, rate: Rate) -> Self {
        Self {
            flights: Flights::new(max, rate),
            outages: OutageLog::new("the identity provider is unavailable to the proxy"),
        }
    }

    /// `call()`'s answer for `key` at `now` (seconds): shared with the identical call running,
    /// or an immediate 503 past the budget or the rate.
    pub(crate) async fn run<F, Fut>(
        &self,
        key: &[u8],
        now: u64,
        call: F,
    ) -> Result<Answer, OAuthError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Answer, OAuthError>>,
    {
        match self
            .flights
            .run(key, || async { Flight::Done(call().await) })
            .await
        {
            Flight::Done(answer) => answer,
            Flight::Busy(why) => {
                self.outage(now, &format!("{why}: answered 503"));
                Err(OAuthError::TemporarilyUnavailable(
                    "the identity provider is busy, retry later".into(),
                ))
            }
            Flight::Abandoned => Err(OAuthError::Unavailable(
                "the identity provider call this request waited on was abandoned".into(),
            )),
        }
    }

    /// Logs an upstream failure at `now`: the first at once, the rest once per interval.
    pub(crate) fn outage(&self, now: u64, reason: &str) {
        self.outages.record(now, reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{OutageLog, Written};

    #[actix_web::test]
    async fn budget_refusals_are_logged_once_per_interval() {
        let calls = UpstreamCalls::new(1, Rate::DEFAULT);
        let (release, held) = futures::channel::oneshot::channel::<()>();
        let now = 1_700_000_000;
        let leader = calls.run(b"leader", now, || async {
            let _ = held.await;
            Err(OAuthError::Unavailable("released".into()))
        });
        let refusals = async {
            for _ in 0..100 {
                let refused = calls.run(b"other", now, || async { unreachable!() }).await;
                assert!(matches!(
                    refused,
                    Err(OAuthError::TemporarilyUnavailable(_))
                ));
            }
            // The hundred refusals were one line: the next within the interval is counted,
            // the first after it is the summary of all of them.
            assert_eq!(calls.outages.record(now + 1, "probe"), Written::Counted);
            assert_eq!(
                calls.outages.record(now + OutageLog::INTERVAL, "probe"),
                Written::Summary(100)
            );
            let _ = release.send(());
        };
        let (led, ()) = futures::join!(leader, refusals);
        assert!(led.is_err());
    }
}

//! A "the provider is unavailable" log line, once per interval rather than once per request:
//! `RequireAuth`'s "cannot verify bearer tokens" and the proxy's upstream failures.
//!
//! While the provider is down every request that misses the cache fails the same way: one
//! `error` line per request would flood the log (and whatever alerts on it) exactly when it
//! matters most. The first failure is logged at once; the failures within the next
//! [`OutageLog::INTERVAL`] are counted, and the first failure after it logs one line with that
//! count (and the latest reason), which starts the next interval.

use std::sync::{Mutex, PoisonError};

use crate::logged::Logged;

/// Failures logged at most once per interval, shared by every worker of one `RequireAuth` or
/// one proxy.
#[derive(Debug)]
pub(crate) struct OutageLog {
    /// What failing means, the start of every line.
    subject: &'static str,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// When the last line was written; `None` before the first failure.
    logged_at: Option<u64>,
    /// Failures since that line.
    suppressed: u64,
}

/// What [`OutageLog::record`] wrote, for tests.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// The first failure: logged as it is.
    First,
    /// The first failure after the interval: logged with the count of those not logged.
    Summary(u64),
    /// Counted, not logged.
    Counted,
}

impl OutageLog {
    /// The shortest time between two lines, in seconds.
    pub(crate) const INTERVAL: u64 = 30;

    /// A log whose lines start with `subject`.
    pub(crate) fn new(subject: &'static str) -> Self {
        Self {
            subject,
            state: Mutex::default(),
        }
    }

    /// Records a failure at `now` (seconds), logging it when it is the first or the
    /// interval has passed.
    pub(crate) fn record(&self, now: u64, reason: &str) -> Written {
        let written = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            match state.logged_at {
                Some(at) if now < at.saturating_add(Self::INTERVAL) => {
                    state.suppressed += 1;
                    Written::Counted
                }
                logged_at => {
                    let suppressed = std::mem::take(&mut state.suppressed);
                    state.logged_at = Some(now);
                    if logged_at.is_none() {
                        Written::First
                    } else {
                        Written::Summary(suppressed)
                    }
                }
            }
        };
        match written {
            Written::First => log::error!("{}: {}", self.subject, Logged(reason)),
            Written::Summary(n) => log::error!(
                "{}: {} ({n} more such failures in the last {} s or more, not logged one by one)",
                self.subject,
                Logged(reason),
                Self::INTERVAL
            ),
            Written::Counted => {}
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};

    #[test]
    fn a_flood_of_failures_is_one_line_then_one_summary_per_interval() {
        let clock = ManualClock::at(1_700_000_000);
        let log = OutageLog::new("cannot verify bearer tokens");
        assert_eq!(log.record(clock.now(), "down"), Written::First);
        for _ in 0..999 {
            assert_eq!(log.record(clock.now(), "down"), Written::Counted);
        }
        clock.advance(OutageLog::INTERVAL - 1);
        assert_eq!(log.record(clock.now(), "down"), Written::Counted);
        clock.advance(1);
        assert_eq!(
            log.record(clock.now(), "still down"),
            Written::Summary(1000)
        );
        assert_eq!(log.record(clock.now(), "down"), Written::Counted);
        // A long quiet spell (the provider came back) and a new failure: one line with the
        // one failure counted since the last line.
        clock.advance(3600);
        assert_eq!(log.record(clock.now(), "down again"), Written::Summary(1));
        clock.advance(OutageLog::INTERVAL);
        assert_eq!(log.record(clock.now(), "down"), Written::Summary(0));
    }
}

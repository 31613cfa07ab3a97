//! Time as the crate sees it: a [`Clock`] seam, so that tests (yours too) drive token expiry,
//! key refreshes and sealed-value lifetimes by hand with [`ManualClock`] instead of sleeping.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{SystemTime, UNIX_EPOCH},
};

/// Source of the current time, so that expiry can be tested without sleeping.
///
/// The crate reads time only through this trait. [`SystemClock`] is the default everywhere.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        // A clock before 1970 is a broken host; treating it as the epoch makes every token
        // look not-yet-valid or expired rather than panicking.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to: for tests of expiry, key rotation and caching in your
/// own application, without sleeping.
///
/// ```
/// use actix_mcp_oauth::{clock::Clock, clock::ManualClock};
///
/// let clock = ManualClock::at(1_700_000_000);
/// clock.advance(60);
/// assert_eq!(clock.now(), 1_700_000_060);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock reading `now` (seconds since the epoch), shared as the builders take it.
    pub fn at(now: u64) -> Arc<Self> {
        Arc::new(Self(AtomicU64::new(now)))
    }

    /// Moves the clock `secs` seconds forward.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    /// Sets the clock to `now`.
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

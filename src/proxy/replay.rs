//! One-time use of the values the proxy hands out: codes and refresh tokens (and refresh
//! tokens revoked at `/revoke`).
//!
//! Every such value carries a random id inside its seal. The [`ReplayGuard`] records an id when
//! the value is used; a second use finds the record and is refused. The proxy keeps no other
//! state, so this is the one place where "stateless" meets "single use": the built-in
//! [`MemoryReplayGuard`] remembers ids in this process only, which makes a code or refresh
//! token single-use **per instance**. Behind a load balancer, a replay that reaches another
//! replica is not caught by it; plug a shared store in with
//! [`OAuthProxyBuilder::replay_guard`](super::OAuthProxyBuilder::replay_guard) to close that.

use std::{
    collections::HashMap,
    fmt,
    sync::{Mutex, PoisonError},
};

use derive_more::{Display, Error};
use futures::future::{ready, LocalBoxFuture};

/// Why a [`ReplayGuard`] could not record an id. The proxy then fails closed: the code or
/// refresh token is not honoured and the client gets 503 `temporarily_unavailable`.
#[derive(Debug, Display, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayGuardError {
    /// Every record is still live and there is no room for another.
    #[display("the replay guard is full of live records")]
    Full,
    /// The store behind the guard could not be reached.
    #[display("the replay guard's store is unavailable")]
    Unavailable,
}

/// Records the ids of values that may be used once (codes, refresh tokens), each until the
/// value expires anyway.
///
/// Object-safe and asynchronous, so a store shared by every replica (Redis, a database) can
/// implement it; the futures are local, as everything on an actix worker is.
pub trait ReplayGuard: Send + Sync + 'static {
    /// Records `id` until `expires_at` (seconds since the epoch) and answers `Ok(true)` when
    /// it was not recorded before: the caller may go on. `Ok(false)`: a replay, refuse it.
    /// `Err`: it could not be recorded, and the caller refuses the value too (fails closed),
    /// since a record that is not kept cannot stop a replay.
    fn first_use<'a>(
        &'a self,
        id: &'a str,
        expires_at: u64,
        now: u64,
    ) -> LocalBoxFuture<'a, Result<bool, ReplayGuardError>>;

    /// Whether `id` is recorded (and its record not yet expired at `now`).
    fn is_used<'a>(&'a self, id: &'a str, now: u64) -> LocalBoxFuture<'a, bool>;

    /// Forgets the record [`first_use`](Self::first_use) just made for `id`, because the use
    /// it reserved did not happen: the proxy calls it when a refresh fails for a reason that
    /// is not the token's (the provider unreachable, timing out or answering
    /// `temporarily_unavailable`, its keys or the access policy's answers unavailable), so
    /// that the client's retry with the same refresh token works once the provider is back.
    /// Between `first_use` and `release` the id counts as used, so a concurrent replay is
    /// still refused. Called only by the request whose `first_use` answered `Ok(true)`, and
    /// never after a use that succeeded.
    ///
    /// The default keeps the record: a guard that does not implement it stays one-time, but a
    /// provider outage during a refresh then ends the client's session (it must sign in
    /// again).
    fn release<'a>(&'a self, id: &'a str, now: u64) -> LocalBoxFuture<'a, ()> {
        let _ = (id, now);
        Box::pin(ready(()))
    }
}

/// The built-in [`ReplayGuard`]: a bounded map in this process's memory.
///
/// Per instance: a restart forgets every record, and another replica has records of its own.
/// When the map is full, expired records are dropped; a live record is never dropped (that
/// would let a flood of sign-ins make a used code or refresh token, or a revocation, be
/// forgotten), so a map full of live records refuses to record more
/// ([`ReplayGuardError::Full`]) and the proxy answers 503 until records expire. Size the
/// capacity above the number of codes, refresh tokens and revocations one instance sees
/// within a refresh-token lifetime.
pub struct MemoryReplayGuard {
    entries: Mutex<HashMap<String, u64>>,
    capacity: usize,
}

impl MemoryReplayGuard {
    /// The capacity of the guard a proxy gets by default.
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// A guard holding at most `capacity` records (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn record(&self, id: &str, expires_at: u64, now: u64) -> Result<bool, ReplayGuardError> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.get(id).is_some_and(|&exp| exp > now) {
            return Ok(false);
        }
        if entries.len() >= self.capacity && !entries.contains_key(id) {
            entries.retain(|_, &mut exp| exp > now);
            if entries.len() >= self.capacity {
                return Err(ReplayGuardError::Full);
            }
        }
        entries.insert(id.to_owned(), expires_at);
        Ok(true)
    }

    fn forget(&self, id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.remove(id);
    }

    fn recorded(&self, id: &str, now: u64) -> bool {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(id).is_some_and(|&exp| exp > now)
    }
}

impl Default for MemoryReplayGuard {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

impl fmt::Debug for MemoryReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("MemoryReplayGuard")
            .field("capacity", &self.capacity)
            .field("len", &len)
            .finish()
    }
}

impl ReplayGuard for MemoryReplayGuard {
    fn first_use<'a>(
        &'a self,
        id: &'a str,
        expires_at: u64,
        now: u64,
    ) -> LocalBoxFuture<'a, Result<bool, ReplayGuardError>> {
        Box::pin(ready(self.record(id, expires_at, now)))
    }

    fn is_used<'a>(&'a self, id: &'a str, now: u64) -> LocalBoxFuture<'a, bool> {
        Box::pin(ready(self.recorded(id, now)))
    }

    fn release<'a>(&'a self, id: &'a str, _now: u64) -> LocalBoxFuture<'a, ()> {
        self.forget(id);
        Box::pin(ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_used_once_until_its_record_expires() {
        let g = MemoryReplayGuard::new(10);
        assert_eq!(g.record("a", 100, 0), Ok(true));
        assert_eq!(g.record("a", 100, 50), Ok(false));
        assert!(g.recorded("a", 99) && !g.recorded("a", 100));
        assert_eq!(
            g.record("a", 200, 100),
            Ok(true),
            "an expired record no longer counts"
        );
    }

    #[test]
    fn a_released_id_may_be_used_again_and_a_reserved_one_may_not() {
        let g = MemoryReplayGuard::new(10);
        assert_eq!(g.record("a", 100, 0), Ok(true));
        assert_eq!(g.record("a", 100, 1), Ok(false), "reserved: a replay");
        g.forget("a");
        assert_eq!(g.record("a", 100, 2), Ok(true));
        assert_eq!(g.record("a", 100, 3), Ok(false));
    }

    #[test]
    fn a_full_guard_drops_expired_records_and_never_a_live_one() {
        let g = MemoryReplayGuard::new(2);
        assert_eq!(g.record("a", 10, 0), Ok(true));
        assert_eq!(g.record("b", 30, 0), Ok(true));
        assert_eq!(g.record("c", 20, 15), Ok(true), "a (expired) made room");
        assert!(g.recorded("b", 15) && g.recorded("c", 15) && !g.recorded("a", 5));
        // Full of live records: the new one is refused, and every live record stays.
        assert_eq!(g.record("d", 40, 16), Err(ReplayGuardError::Full));
        assert!(g.recorded("b", 16) && g.recorded("c", 16) && !g.recorded("d", 16));
        assert_eq!(
            g.record("c", 20, 16),
            Ok(false),
            "a replay is still a replay"
        );
        // Once one expires, there is room again.
        assert_eq!(g.record("d", 40, 20), Ok(true));
        assert!(g.recorded("b", 20) && g.recorded("d", 20));
    }
}

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
    fmt,
    sync::{Mutex, PoisonError},
};

use derive_more::{Display, Error};
use futures::future::{ready, LocalBoxFuture};

use super::expiring::{ExpiringMap, Full};

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

    /// Forgets the reservation [`first_use`](Self::first_use) just made for `id`, because the
    /// use it reserved did not happen and spent nothing: the proxy calls it when a refresh
    /// fails before or at its call to the provider (the provider unreachable, timing out,
    /// failing or answering `temporarily_unavailable`), or, for a refresh token that carries
    /// no upstream refresh token, when the provider's keys or the access policy's answers are
    /// unavailable. The client's retry with the same refresh token then works once the
    /// provider is back. Never after the provider answered new tokens (it may have rotated its
    /// refresh token, so the old one is spent), and never after a use that succeeded. Between
    /// `first_use` and `release` the id counts as used, so a concurrent replay is still
    /// refused. Called only by the request whose `first_use` answered `Ok(true)`.
    ///
    /// A release must never forget a [`revoke`](Self::revoke): a guard that implements
    /// `release` implements `revoke` too, with a mark that `release` leaves alone.
    ///
    /// The default keeps the record: a guard that does not implement it stays one-time, but a
    /// provider outage during a refresh then ends the client's session (it must sign in
    /// again).
    fn release<'a>(&'a self, id: &'a str, now: u64) -> LocalBoxFuture<'a, ()> {
        let _ = (id, now);
        Box::pin(ready(()))
    }

    /// Records `id` as revoked until `expires_at`, whether or not it was used or reserved:
    /// unlike a reservation, a revocation is never [`release`](Self::release)d, so a refresh
    /// in flight that fails for a moment does not bring a revoked refresh token back.
    ///
    /// The default records it as [`first_use`](Self::first_use) does, which is right for a
    /// guard that keeps the default `release`.
    fn revoke<'a>(
        &'a self,
        id: &'a str,
        expires_at: u64,
        now: u64,
    ) -> LocalBoxFuture<'a, Result<(), ReplayGuardError>> {
        Box::pin(async move { self.first_use(id, expires_at, now).await.map(|_| ()) })
    }
}

/// What the built-in guard knows of an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Record {
    /// Used, or in use: [`ReplayGuard::release`] may free it again.
    Reserved,
    /// Revoked at `/revoke`: stays until its expiry, whatever is released.
    Revoked,
}

/// The built-in [`ReplayGuard`]: a bounded map in this process's memory.
///
/// Per instance: a restart forgets every record, and another replica has records of its own.
/// Each record lives until the value it stands for expires (a code: 5 minutes; a refresh
/// token: its own expiry, at most 30 days after it was issued), since an expired value is
/// refused anyway. Expired records are swept out when the map is full (before it refuses
/// anything, and without a scan when none can have expired) and otherwise at most once a
/// minute. A live record is never dropped (that would let a flood of sign-ins make a used code
/// or refresh token, or a revocation, be forgotten), so a map full of live records refuses to
/// record more ([`ReplayGuardError::Full`]) and the proxy answers 503 until the earliest
/// records expire.
///
/// Sizing: the live records are about the sign-ins of the last 5 minutes plus the refreshes
/// made within one refresh-token lifetime (each refresh records the id of the refresh token
/// it spends until that token's expiry; every refresh token rotated away expires at most 30
/// days after it was issued, so nothing is kept longer), plus the refresh tokens revoked
/// within that lifetime. A server whose clients refresh an hourly access token holds about
/// `clients × 24 × 30` records at steady state: the default capacity suits about 140 clients
/// refreshing around the clock; give [`MemoryReplayGuard::new`] more for more (a record costs
/// about 100 bytes).
pub struct MemoryReplayGuard {
    entries: Mutex<ExpiringMap<Record>>,
}

impl MemoryReplayGuard {
    /// The capacity of the guard a proxy gets by default.
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// A guard holding at most `capacity` records (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(ExpiringMap::new(capacity)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ExpiringMap<Record>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, id: &str, expires_at: u64, now: u64) -> Result<bool, ReplayGuardError> {
        let mut entries = self.lock();
        if entries.contains(id, now) {
            return Ok(false);
        }
        entries
            .insert(id, expires_at, Record::Reserved, now)
            .map_err(|Full| ReplayGuardError::Full)?;
        Ok(true)
    }

    fn mark_revoked(&self, id: &str, expires_at: u64, now: u64) -> Result<(), ReplayGuardError> {
        let mut entries = self.lock();
        if let Some((exp, record)) = entries.get_mut(id, now) {
            *exp = (*exp).max(expires_at);
            *record = Record::Revoked;
            return Ok(());
        }
        if expires_at <= now {
            return Ok(());
        }
        entries
            .insert(id, expires_at, Record::Revoked, now)
            .map_err(|Full| ReplayGuardError::Full)
    }

    fn forget(&self, id: &str, now: u64) {
        let mut entries = self.lock();
        if entries
            .get_mut(id, now)
            .is_some_and(|(_, record)| *record == Record::Reserved)
        {
            entries.remove(id);
        }
    }

    fn recorded(&self, id: &str, now: u64) -> bool {
        self.lock().contains(id, now)
    }
}

impl Default for MemoryReplayGuard {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

impl fmt::Debug for MemoryReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.lock();
        f.debug_struct("MemoryReplayGuard")
            .field("capacity", &entries.capacity())
            .field("len", &entries.len())
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

    fn release<'a>(&'a self, id: &'a str, now: u64) -> LocalBoxFuture<'a, ()> {
        self.forget(id, now);
        Box::pin(ready(()))
    }

    fn revoke<'a>(
        &'a self,
        id: &'a str,
        expires_at: u64,
        now: u64,
    ) -> LocalBoxFuture<'a, Result<(), ReplayGuardError>> {
        Box::pin(ready(self.mark_revoked(id, expires_at, now)))
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
        g.forget("a", 1);
        assert_eq!(g.record("a", 100, 2), Ok(true));
        assert_eq!(g.record("a", 100, 3), Ok(false));
    }

    #[test]
    fn a_release_does_not_forget_a_revocation() {
        let g = MemoryReplayGuard::new(10);
        // Reserved by a refresh in flight, then revoked: the refresh's release is ignored.
        assert_eq!(g.record("a", 100, 0), Ok(true));
        g.mark_revoked("a", 50, 1).unwrap();
        g.forget("a", 2);
        assert_eq!(g.record("a", 100, 3), Ok(false), "still revoked");
        assert!(
            g.recorded("a", 99),
            "kept until the later of the two expiries"
        );
        // Revoked before any use: refused at the first use.
        g.mark_revoked("b", 100, 0).unwrap();
        g.forget("b", 1);
        assert_eq!(g.record("b", 100, 2), Ok(false));
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

//! The access tokens revoked at `/revoke`, refused at `/mcp` until they expire.
//!
//! One list per proxy, held by its bearer check, so every [`RequireAuth`](crate::RequireAuth)
//! built from the proxy ([`require_auth`](super::OAuthProxy::require_auth) and any copy of it,
//! whatever its own token cache) refuses a revoked token, on a cache hit as on a miss. It is
//! consulted on every cache hit of an issued token: while no revocation is live (none was
//! made, or every revoked token has expired since) that costs one atomic load, and otherwise a
//! shared read lock and one hash lookup, with no allocation.
//!
//! Per instance, as the built-in [`ReplayGuard`](super::ReplayGuard) is: another replica does
//! not know of a revocation made here, and a restart forgets them. An entry lives until the
//! token's own expiry, after which the token is refused anyway, and the list is bounded: full
//! of live entries, it refuses to record more, and `/revoke` answers 503 (RFC 7009 §2.2.1)
//! rather than forget a live revocation. Expired entries are swept out as the
//! [`expiring`](super::expiring) map does it: never a scan per `/revoke` while nothing can
//! have expired, so a flood of revocations against a full list holds the write lock only for a
//! lookup.

use std::{
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        PoisonError, RwLock,
    },
};

use super::{
    expiring::{ExpiringMap, Full},
    replay::ReplayGuardError,
};

/// The capacity of a proxy's list: above the access tokens revoked on one instance within an
/// access-token lifetime.
pub(crate) const MAX_REVOKED: usize = 100_000;

/// The ids of revoked access tokens, each until the token's expiry.
pub(crate) struct Revocations {
    entries: RwLock<ExpiringMap<()>>,
    /// The map's [`latest`](ExpiringMap::latest), read without the lock: from it on, no entry
    /// is live (0 on a server that never revoked a token).
    live_until: AtomicU64,
}

impl Revocations {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: RwLock::new(ExpiringMap::new(capacity)),
            live_until: AtomicU64::new(0),
        }
    }

    /// Refuses the token whose id is `id` until `expires_at`.
    pub(crate) fn revoke(
        &self,
        id: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<(), ReplayGuardError> {
        if expires_at <= now {
            return Ok(());
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let done = entries.insert(id, expires_at, (), now);
        self.live_until.store(entries.latest(), Ordering::Release);
        done.map_err(|Full| ReplayGuardError::Full)
    }

    /// Whether the token whose id is `id` is revoked at `now`.
    pub(crate) fn is_revoked(&self, id: &str, now: u64) -> bool {
        if now >= self.live_until.load(Ordering::Acquire) {
            return false;
        }
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries.contains(id, now)
    }
}

impl fmt::Debug for Revocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Revocations")
            .field("len", &entries.len())
            .field("capacity", &entries.capacity())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_id_is_refused_until_its_expiry() {
        let r = Revocations::new(10);
        assert!(!r.is_revoked("a", 0));
        r.revoke("a", 100, 0).unwrap();
        assert!(r.is_revoked("a", 99) && !r.is_revoked("a", 100) && !r.is_revoked("b", 0));
        // Already expired: nothing to remember.
        r.revoke("c", 5, 5).unwrap();
        assert!(!r.is_revoked("c", 4));
    }

    #[test]
    fn a_full_list_drops_expired_entries_and_never_a_live_one() {
        let r = Revocations::new(2);
        r.revoke("a", 10, 0).unwrap();
        r.revoke("b", 30, 0).unwrap();
        r.revoke("c", 20, 15).unwrap();
        assert!(r.is_revoked("b", 15) && r.is_revoked("c", 15));
        assert_eq!(r.revoke("d", 40, 16), Err(ReplayGuardError::Full));
        assert!(r.is_revoked("b", 16) && r.is_revoked("c", 16) && !r.is_revoked("d", 16));
        r.revoke("c", 25, 16).unwrap();
        r.revoke("d", 40, 26).unwrap();
        assert!(r.is_revoked("b", 26) && r.is_revoked("d", 26));
    }

    #[test]
    fn once_every_revocation_has_expired_the_check_takes_no_lock() {
        let r = Revocations::new(10);
        r.revoke("a", 100, 0).unwrap();
        r.revoke("b", 50, 0).unwrap();
        assert!(r.is_revoked("a", 60));
        // Past the latest expiry, the check answers without the lock: held for writing here,
        // a check that took it would never return.
        let _writer = r.entries.write().unwrap();
        assert!(!r.is_revoked("a", 100) && !r.is_revoked("b", 200));
    }
}

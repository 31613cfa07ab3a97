//! A bounded map of ids, each kept until its own expiry: the one home of the bookkeeping that
//! the built-in [`MemoryReplayGuard`](super::MemoryReplayGuard) and the access-token
//! revocation list share.
//!
//! A live entry is never dropped to make room (that would let a flood of new entries make a
//! used code or a revocation be forgotten), so a map full of live entries refuses more. Expired
//! entries are swept out, under the caller's lock, in one pass over the map, and only when one
//! can have expired (the map keeps a lower bound of the earliest expiry): when the map is full,
//! before it refuses an entry, and otherwise at most once per [`SWEEP_INTERVAL`] seconds. A
//! full map whose entries are all live answers a refusal without scanning, however often it
//! is asked.

use std::collections::HashMap;

/// How often, at most, a map that is not full sweeps its expired entries out.
const SWEEP_INTERVAL: u64 = 60;

/// The map was full of live entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

pub(crate) struct ExpiringMap<V> {
    entries: HashMap<Box<str>, (u64, V)>,
    capacity: usize,
    /// At most the earliest expiry of an entry (`u64::MAX` when there is none): before it,
    /// nothing has expired and a sweep would find nothing.
    earliest: u64,
    /// At least the latest expiry of an entry (0 when there is none): from it on, every entry
    /// has expired.
    latest: u64,
    next_sweep: u64,
}

impl<V> ExpiringMap<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            earliest: u64::MAX,
            latest: 0,
            next_sweep: 0,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// From this time on, no entry is live.
    pub(crate) fn latest(&self) -> u64 {
        self.latest
    }

    /// The live entry for `id` at `now`, with its expiry.
    pub(crate) fn get_mut(&mut self, id: &str, now: u64) -> Option<(&mut u64, &mut V)> {
        self.entries
            .get_mut(id)
            .filter(|(exp, _)| *exp > now)
            .map(|(exp, v)| (exp, v))
    }

    /// Whether `id` has a live entry at `now`.
    pub(crate) fn contains(&self, id: &str, now: u64) -> bool {
        self.entries.get(id).is_some_and(|(exp, _)| *exp > now)
    }

    /// Records `id` until `expires_at`, replacing any entry it had; refused when the map is
    /// full of live entries.
    pub(crate) fn insert(
        &mut self,
        id: &str,
        expires_at: u64,
        value: V,
        now: u64,
    ) -> Result<(), Full> {
        let full = self.entries.len() >= self.capacity;
        if (full || now >= self.next_sweep) && !self.entries.contains_key(id) {
            self.sweep(now);
            if self.entries.len() >= self.capacity {
                return Err(Full);
            }
        }
        self.earliest = self.earliest.min(expires_at);
        self.latest = self.latest.max(expires_at);
        self.entries.insert(id.into(), (expires_at, value));
        Ok(())
    }

    pub(crate) fn remove(&mut self, id: &str) {
        self.entries.remove(id);
        if self.entries.is_empty() {
            (self.earliest, self.latest) = (u64::MAX, 0);
        }
    }

    /// Drops the expired entries, when one can have expired.
    fn sweep(&mut self, now: u64) {
        self.next_sweep = now.saturating_add(SWEEP_INTERVAL);
        if now < self.earliest {
            return;
        }
        self.entries.retain(|_, (exp, _)| *exp > now);
        let (earliest, latest) = self
            .entries
            .values()
            .fold((u64::MAX, 0), |(lo, hi), (exp, _)| {
                (lo.min(*exp), hi.max(*exp))
            });
        (self.earliest, self.latest) = (earliest, latest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_map_sweeps_expired_entries_and_never_drops_a_live_one() {
        let mut m = ExpiringMap::new(2);
        m.insert("a", 10, (), 0).unwrap();
        m.insert("b", 30, (), 0).unwrap();
        m.insert("c", 20, (), 15).unwrap();
        assert!(m.contains("b", 15) && m.contains("c", 15) && !m.contains("a", 5));
        assert_eq!(m.insert("d", 40, (), 16), Err(Full));
        assert!(m.contains("b", 16) && m.contains("c", 16) && !m.contains("d", 16));
        m.insert("d", 40, (), 20).unwrap();
        assert!(m.contains("b", 20) && m.contains("d", 20) && m.len() == 2);
    }

    #[test]
    fn a_full_map_of_live_entries_refuses_without_a_scan() {
        let mut m = ExpiringMap::new(2);
        m.insert("a", 100, (), 0).unwrap();
        m.insert("b", 200, (), 0).unwrap();
        // Nothing can have expired before 100: the refusal does not look at the entries.
        for now in 1..100 {
            assert_eq!(m.insert("x", 300, (), now), Err(Full));
            assert_eq!(m.earliest, 100);
        }
        // At 100, "a" has expired: swept out before refusing, and the lower bound moves on.
        m.insert("x", 300, (), 100).unwrap();
        assert_eq!((m.earliest, m.latest), (200, 300));
    }

    #[test]
    fn a_map_that_is_not_full_sweeps_at_most_once_per_interval() {
        let mut m = ExpiringMap::new(100);
        m.insert("a", 5, (), 0).unwrap();
        m.insert("b", 6, (), 1).unwrap();
        assert_eq!(m.len(), 2, "no sweep within the interval");
        m.insert("c", 500, (), SWEEP_INTERVAL).unwrap();
        assert_eq!(m.len(), 1, "the expired entries went at the next sweep");
        assert_eq!((m.earliest, m.latest), (500, 500));
        m.remove("c");
        assert_eq!((m.len(), m.latest), (0, 0));
    }
}

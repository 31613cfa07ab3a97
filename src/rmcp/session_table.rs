//! The table behind [`SessionBinding`](super::SessionBinding): who owns each session, within
//! three bounds (in total, per user, idle time). Every operation costs `O(log n)` plus the
//! user's own few sessions; nothing scans the whole table while holding its lock.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use crate::AuthUser;

/// The most idle bindings one operation drops; the rest go on the next ones, so a request
/// after a quiet hour does not pay for every session that expired meanwhile.
const SWEEP_AT_MOST: usize = 64;

/// Who owns a session: the issuer (when the token names one) and the user id, so that equal
/// user ids at two issuers of one verifier are still two users.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) struct Owner(Arc<(Option<String>, String)>);

impl Owner {
    pub(super) fn of(user: &AuthUser) -> Self {
        let issuer = user.claims().get_str("iss").map(str::to_owned);
        Self(Arc::new((issuer, user.user_id.clone())))
    }

    /// Whether `user` is this owner; copies nothing, so checking a request costs no allocation.
    pub(super) fn is(&self, user: &AuthUser) -> bool {
        let (issuer, id) = &*self.0;
        *id == user.user_id && issuer.as_deref() == user.claims().get_str("iss")
    }
}

struct Entry {
    owner: Owner,
    /// Its key in [`Table::by_use`]: the second of its last use, and the order of the use
    /// that moved it there.
    used: (u64, u64),
    /// The order of its last use, for least-recently-used eviction within one second.
    seq: u64,
}

/// Why a new session was not bound.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Unbound {
    /// Its id is bound to another user already.
    Taken,
    /// The table is full of live bindings; the idle ones dropped on the way are given back.
    Full(Vec<String>),
}

/// The bindings and their bounds; every operation is given the time.
pub(super) struct Table {
    by_id: HashMap<Arc<str>, Entry>,
    /// Every binding by its last use, oldest first: the idle ones are always at the front.
    by_use: BTreeMap<(u64, u64), Arc<str>>,
    /// Each user's sessions, at most `max_per_owner`.
    per_owner: HashMap<Owner, Vec<Arc<str>>>,
    pub(super) max_sessions: usize,
    pub(super) max_per_owner: usize,
    pub(super) idle_secs: u64,
    seq: u64,
    /// The latest time seen: a clock that steps back cannot reorder `by_use`.
    latest: u64,
}

impl Table {
    pub(super) fn new(max_sessions: usize, max_per_owner: usize, idle_secs: u64) -> Self {
        Self {
            by_id: HashMap::new(),
            by_use: BTreeMap::new(),
            per_owner: HashMap::new(),
            max_sessions,
            max_per_owner,
            idle_secs,
            seq: 0,
            latest: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// The owner of session `id` when `is_owner` recognises them, the binding's last use now
    /// refreshed; `None` for an unknown, idle or foreign session. Bindings gone idle are
    /// removed on the way and given back in `dropped` (to be closed).
    pub(super) fn admit(
        &mut self,
        id: &str,
        is_owner: impl FnOnce(&Owner) -> bool,
        now: u64,
        dropped: &mut Vec<String>,
    ) -> Option<Owner> {
        let now = self.advance(now);
        self.drop_idle(now, dropped);
        let entry = self.by_id.get_mut(id)?;
        if !is_owner(&entry.owner) {
            return None;
        }
        self.seq += 1;
        entry.seq = self.seq;
        // Within the second of its last use the binding keeps its place: a busy session
        // costs one map lookup a request, not a move in the tree.
        if entry.used.0 != now {
            if let Some(key) = self.by_use.remove(&entry.used) {
                entry.used = (now, self.seq);
                self.by_use.insert(entry.used, key);
            }
        }
        Some(entry.owner.clone())
    }

    /// Binds `id` to `owner`, returning the sessions dropped to stay within the bounds, or why
    /// it cannot be bound (the new session must then be closed, not served).
    pub(super) fn bind(
        &mut self,
        id: String,
        owner: Owner,
        now: u64,
    ) -> Result<Vec<String>, Unbound> {
        if let Some(entry) = self.by_id.get(id.as_str()) {
            // A session id is never reissued by the transport. If one were, the session stays
            // with its first owner: handing it to whoever answered last would let a response
            // take a session from its user.
            return if entry.owner == owner {
                Ok(Vec::new())
            } else {
                Err(Unbound::Taken)
            };
        }
        let now = self.advance(now);
        let mut dropped = Vec::new();
        self.drop_idle(now, &mut dropped);
        let oldest = self.per_owner.get(&owner).and_then(|ids| {
            if ids.len() < self.max_per_owner {
                return None;
            }
            ids.iter()
                .min_by_key(|id| self.by_id.get(&***id).map_or(0, |e| e.seq))
                .cloned()
        });
        if let Some(oldest) = oldest {
            self.remove(&oldest);
            dropped.push(oldest.to_string());
        }
        if self.by_id.len() >= self.max_sessions {
            return Err(Unbound::Full(dropped));
        }
        let id: Arc<str> = id.into();
        self.seq += 1;
        let used = (now, self.seq);
        self.per_owner
            .entry(owner.clone())
            .or_default()
            .push(Arc::clone(&id));
        self.by_use.insert(used, Arc::clone(&id));
        self.by_id.insert(
            id,
            Entry {
                owner,
                used,
                seq: self.seq,
            },
        );
        Ok(dropped)
    }

    /// Server-to-client traffic of `owner` on session `id`: its last use is now.
    pub(super) fn touch(&mut self, id: &str, owner: &Owner, now: u64) {
        let now = self.advance(now);
        let Some(entry) = self.by_id.get_mut(id) else {
            return;
        };
        if entry.owner != *owner || entry.used.0 >= now {
            return;
        }
        self.seq += 1;
        entry.seq = self.seq;
        if let Some(key) = self.by_use.remove(&entry.used) {
            entry.used = (now, self.seq);
            self.by_use.insert(entry.used, key);
        }
    }

    /// Forgets session `id`, if bound.
    pub(super) fn remove(&mut self, id: &str) {
        let Some(entry) = self.by_id.remove(id) else {
            return;
        };
        self.by_use.remove(&entry.used);
        if let Some(ids) = self.per_owner.get_mut(&entry.owner) {
            ids.retain(|other| &**other != id);
            if ids.is_empty() {
                self.per_owner.remove(&entry.owner);
            }
        }
    }

    /// Removes bindings unused for the idle timeout, oldest first, at most [`SWEEP_AT_MOST`].
    fn drop_idle(&mut self, now: u64, dropped: &mut Vec<String>) {
        for _ in 0..SWEEP_AT_MOST {
            let Some((&(used, _), id)) = self.by_use.first_key_value() else {
                return;
            };
            if now.saturating_sub(used) < self.idle_secs {
                return;
            }
            let id = Arc::clone(id);
            self.remove(&id);
            dropped.push(id.to_string());
        }
    }

    fn advance(&mut self, now: u64) -> u64 {
        self.latest = self.latest.max(now);
        self.latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(id: &str) -> Owner {
        Owner(Arc::new((Some("https://issuer.example".into()), id.into())))
    }

    fn admits(t: &mut Table, id: &str, who: &str, now: u64) -> bool {
        t.admit(id, |o| *o == owner(who), now, &mut Vec::new())
            .is_some()
    }

    /// The three indexes agree: every binding once in each, each user within the bound.
    fn consistent(t: &Table) {
        assert_eq!(t.by_use.len(), t.by_id.len());
        for (key, id) in &t.by_use {
            assert_eq!(t.by_id[id].used, *key);
        }
        let listed: usize = t.per_owner.values().map(Vec::len).sum();
        assert_eq!(listed, t.by_id.len());
        for (o, ids) in &t.per_owner {
            assert!(!ids.is_empty() && ids.len() <= t.max_per_owner);
            assert!(ids.iter().all(|id| t.by_id[id].owner == *o));
        }
        assert!(t.by_id.len() <= t.max_sessions);
    }

    #[test]
    fn only_the_owner_is_admitted() {
        let mut t = Table::new(10, 10, 60);
        assert_eq!(t.bind("s1".into(), owner("ada"), 0), Ok(vec![]));
        assert!(admits(&mut t, "s1", "ada", 1));
        assert!(!admits(&mut t, "s1", "bob", 1));
        assert!(!admits(&mut t, "unknown", "ada", 1));
        consistent(&t);
    }

    #[test]
    fn a_bound_id_is_never_bound_to_another_user() {
        let mut t = Table::new(10, 10, 60);
        t.bind("s1".into(), owner("ada"), 0).unwrap();
        assert_eq!(t.bind("s1".into(), owner("bob"), 1), Err(Unbound::Taken));
        assert!(admits(&mut t, "s1", "ada", 2));
        assert!(!admits(&mut t, "s1", "bob", 2));
        assert_eq!(t.bind("s1".into(), owner("ada"), 3), Ok(vec![]));
        assert_eq!(t.per_owner[&owner("ada")].len(), 1);
        consistent(&t);
    }

    #[test]
    fn the_same_user_id_at_another_issuer_is_another_user() {
        let mut t = Table::new(10, 10, 60);
        t.bind("s1".into(), owner("ada"), 0).unwrap();
        let elsewhere = Owner(Arc::new((
            Some("https://other.example".into()),
            "ada".into(),
        )));
        assert!(t
            .admit("s1", |o| *o == elsewhere, 1, &mut Vec::new())
            .is_none());
    }

    #[test]
    fn an_idle_binding_is_dropped_and_refused() {
        let mut t = Table::new(10, 10, 60);
        t.bind("s1".into(), owner("ada"), 0).unwrap();
        let mut dropped = Vec::new();
        assert!(t
            .admit("s1", |o| *o == owner("ada"), 59, &mut dropped)
            .is_some());
        assert!(t
            .admit("s1", |o| *o == owner("ada"), 119, &mut dropped)
            .is_none());
        assert_eq!(dropped, ["s1"]);
        assert!(t.by_id.is_empty() && t.per_owner.is_empty() && t.by_use.is_empty());
    }

    #[test]
    fn idle_bindings_are_dropped_by_a_request_to_any_session() {
        let mut t = Table::new(10, 10, 60);
        t.bind("old-1".into(), owner("ada"), 0).unwrap();
        t.bind("old-2".into(), owner("bob"), 1).unwrap();
        t.bind("live".into(), owner("carol"), 50).unwrap();
        let mut dropped = Vec::new();
        assert!(t
            .admit("live", |o| *o == owner("carol"), 70, &mut dropped)
            .is_some());
        assert_eq!(dropped, ["old-1", "old-2"]);
        assert_eq!(t.len(), 1);
        consistent(&t);
    }

    #[test]
    fn one_request_drops_a_bounded_number_of_idle_bindings() {
        let mut t = Table::new(1000, 1, 60);
        for i in 0..200 {
            t.bind(format!("s{i}"), owner(&format!("user{i}")), 0)
                .unwrap();
        }
        let mut dropped = Vec::new();
        t.admit("s0", |_| true, 100, &mut dropped);
        assert_eq!(dropped.len(), SWEEP_AT_MOST);
        assert_eq!(t.len(), 200 - SWEEP_AT_MOST);
        consistent(&t);
    }

    #[test]
    fn stream_traffic_keeps_a_binding_from_going_idle() {
        let mut t = Table::new(10, 10, 60);
        t.bind("s1".into(), owner("ada"), 0).unwrap();
        t.touch("s1", &owner("ada"), 50);
        t.touch("s1", &owner("bob"), 100);
        assert!(admits(&mut t, "s1", "ada", 105));
        assert!(!admits(&mut t, "s1", "ada", 200));
        consistent(&t);
    }

    #[test]
    fn a_user_past_the_per_user_bound_loses_their_own_oldest_session() {
        let mut t = Table::new(100, 2, 600);
        t.bind("bob-1".into(), owner("bob"), 0).unwrap();
        t.bind("ada-1".into(), owner("ada"), 1).unwrap();
        t.bind("ada-2".into(), owner("ada"), 2).unwrap();
        assert_eq!(
            t.bind("ada-3".into(), owner("ada"), 3),
            Ok(vec!["ada-1".into()])
        );
        assert_eq!(t.per_owner[&owner("ada")].len(), 2);
        assert!(admits(&mut t, "bob-1", "bob", 4));
        consistent(&t);
    }

    #[test]
    fn the_least_recently_used_goes_even_within_one_second() {
        let mut t = Table::new(100, 2, 600);
        t.bind("ada-1".into(), owner("ada"), 5).unwrap();
        t.bind("ada-2".into(), owner("ada"), 5).unwrap();
        assert!(admits(&mut t, "ada-1", "ada", 5));
        assert_eq!(
            t.bind("ada-3".into(), owner("ada"), 5),
            Ok(vec!["ada-2".into()])
        );
        consistent(&t);
    }

    #[test]
    fn when_full_of_live_sessions_a_new_one_is_refused_and_nobody_is_evicted() {
        let mut t = Table::new(3, 3, 600);
        for i in 0..3u64 {
            t.bind(format!("s{i}"), owner(&format!("user{i}")), 5)
                .unwrap();
        }
        for i in 3..50u64 {
            // Many accounts, each within its own quota: none pushes another user out.
            assert_eq!(
                t.bind(format!("s{i}"), owner(&format!("user{i}")), 5),
                Err(Unbound::Full(vec![]))
            );
        }
        assert_eq!(t.len(), 3);
        for i in 0..3u64 {
            assert!(admits(&mut t, &format!("s{i}"), &format!("user{i}"), 6));
        }
        // At the global bound, a user's second session is refused too (their first stays).
        assert_eq!(
            t.bind("s0-b".into(), owner("user0"), 7),
            Err(Unbound::Full(vec![]))
        );
        assert!(t.by_id.contains_key("s0"));
        consistent(&t);
    }

    #[test]
    fn when_full_idle_bindings_go_before_live_ones() {
        let mut t = Table::new(2, 2, 10);
        t.bind("old".into(), owner("ada"), 0).unwrap();
        t.bind("live".into(), owner("bob"), 5).unwrap();
        let dropped = t.bind("new".into(), owner("carol"), 12);
        assert_eq!(dropped, Ok(vec!["old".into()]));
        assert!(t.by_id.contains_key("live") && t.by_id.contains_key("new"));
        consistent(&t);
    }

    #[test]
    fn a_clock_stepping_back_keeps_the_indexes_consistent() {
        let mut t = Table::new(10, 10, 60);
        t.bind("s1".into(), owner("ada"), 100).unwrap();
        t.bind("s2".into(), owner("ada"), 40).unwrap();
        assert!(admits(&mut t, "s1", "ada", 30));
        t.touch("s2", &owner("ada"), 20);
        consistent(&t);
        let mut dropped = Vec::new();
        t.admit("s1", |_| true, 170, &mut dropped);
        assert_eq!(dropped, ["s1", "s2"]);
    }

    #[test]
    fn any_mix_of_operations_keeps_the_indexes_consistent() {
        let mut t = Table::new(40, 3, 20);
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut now = 0;
        for _ in 0..5_000 {
            // xorshift: a fixed sequence, so a failure repeats.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            now += x % 3;
            let (user, id) = (format!("u{}", x % 17), format!("s{}", (x >> 8) % 90));
            match (x >> 20) % 4 {
                0 => {
                    let _ = t.bind(id, owner(&user), now);
                }
                1 => {
                    admits(&mut t, &id, &user, now);
                }
                2 => t.touch(&id, &owner(&user), now),
                _ => t.remove(&id),
            }
            consistent(&t);
        }
    }
}

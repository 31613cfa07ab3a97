//! The verified-token cache that sits in front of any [`TokenVerifier`](crate::TokenVerifier).

use std::{
    collections::HashMap,
    fmt,
    hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState},
    sync::{PoisonError, RwLock},
};

use crate::AuthUser;

/// Most shards a cache is split into; more buys nothing on the core counts actix runs on.
const MAX_SHARDS: usize = 16;
/// Bytes of the token's end that are hashed: for a JWT they lie in the signature.
const TAIL: usize = 32;
/// Bytes around the token's middle that are hashed too, so that tokens sharing a fixed suffix
/// (some opaque formats end in a checksum or a constant) still spread.
const MIDDLE: usize = 16;

/// A bounded map from bearer token to the [`AuthUser`] it was verified as, each entry living
/// until its own expiry.
///
/// [`RequireAuth`](crate::RequireAuth) puts one in front of its verifier, so a token is checked
/// cryptographically once and then served from memory until it expires (or the configured
/// maximum TTL passes).
///
/// - **Lookup cost.** The key is a keyed (per-cache random) hash of the token's length, its
///   last 32 bytes and 16 bytes from its middle, not of the whole token, so a lookup does not
///   pay for hashing a kilobyte of JWT. A hit is then confirmed by comparing the *full* token
///   with the one the entry was verified for; a token that merely shares the sampled bytes is
///   a miss, never another user. A hit takes one read lock and clones one `Arc`; it does not
///   allocate.
/// - **Expiry.** An entry whose expiry is at or before `now` is never served.
/// - **Bound and eviction.** The cache is split into up to 16 shards behind their own
///   `RwLock`, and the capacity is divided among them exactly, so the total never exceeds
///   it. When a new token lands in a full shard, the shard first drops its expired entries;
///   if it is still full, it evicts the entry that expires soonest (for tokens of one
///   provider, the oldest issued). Tokens whose sampled bytes collide replace each other.
///
/// A capacity of 0 disables the cache: nothing is stored and every lookup misses.
pub struct TokenCache {
    shards: Box<[RwLock<Shard>]>,
    hasher: RandomState,
    capacity: usize,
}

struct Shard {
    entries: HashMap<u64, Entry, BuildHasherDefault<PreHashed>>,
    capacity: usize,
}

struct Entry {
    user: AuthUser,
    expires_at: u64,
}

impl TokenCache {
    /// The default capacity of [`RequireAuth`](crate::RequireAuth)'s cache.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// A cache holding at most `capacity` tokens.
    pub fn new(capacity: usize) -> Self {
        let shard_count = match capacity {
            0 => 0,
            // The largest power of two not above the capacity, so that no shard is empty.
            n => 1 << n.min(MAX_SHARDS).ilog2(),
        };
        Self::with_shards(capacity, shard_count)
    }

    /// `shard_count` must be 0 or a power of two not above `capacity`.
    fn with_shards(capacity: usize, shard_count: usize) -> Self {
        let base = capacity.checked_div(shard_count).unwrap_or(0);
        let extra = capacity.checked_rem(shard_count).unwrap_or(0);
        let shards = (0..shard_count)
            .map(|i| {
                RwLock::new(Shard {
                    entries: HashMap::default(),
                    capacity: base + usize::from(i < extra),
                })
            })
            .collect();
        Self {
            shards,
            hasher: RandomState::new(),
            capacity,
        }
    }

    /// The user `token` was verified as, unless it is absent or expired at `now` (seconds since
    /// the epoch).
    pub fn get(&self, token: &str, now: u64) -> Option<AuthUser> {
        let hash = self.hash(token);
        let shard = self
            .shard(hash)?
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = shard.entries.get(&hash)?;
        // No constant-time comparison is needed: reaching it requires a keyed-hash match on the
        // token's own signature bytes, which an attacker probing for a token does not know.
        (entry.expires_at > now && entry.user.bearer_token().secret() == token)
            .then(|| entry.user.clone())
    }

    /// Stores `user` under the token it carries ([`AuthUser::bearer_token`]) until
    /// `expires_at`. Nothing is stored when `expires_at` is not after `now`.
    pub fn insert(&self, user: AuthUser, expires_at: u64, now: u64) {
        if expires_at <= now {
            return;
        }
        let hash = self.hash(user.bearer_token().secret());
        let Some(lock) = self.shard(hash) else { return };
        let mut shard = lock.write().unwrap_or_else(PoisonError::into_inner);
        if !shard.entries.contains_key(&hash) && shard.entries.len() >= shard.capacity {
            shard.entries.retain(|_, e| e.expires_at > now);
            if shard.entries.len() >= shard.capacity {
                let soonest = shard
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires_at)
                    .map(|(k, _)| *k);
                if let Some(key) = soonest {
                    shard.entries.remove(&key);
                }
            }
        }
        shard.entries.insert(hash, Entry { user, expires_at });
    }

    /// Drops the entry of `token`, if there is one: a revoked token is no longer served.
    pub fn remove(&self, token: &str) {
        let hash = self.hash(token);
        let Some(lock) = self.shard(hash) else { return };
        let mut shard = lock.write().unwrap_or_else(PoisonError::into_inner);
        if shard
            .entries
            .get(&hash)
            .is_some_and(|e| e.user.bearer_token().secret() == token)
        {
            shard.entries.remove(&hash);
        }
    }

    /// Entries held, expired ones included until they are dropped.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entries
                    .len()
            })
            .sum()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most entries the cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn hash(&self, token: &str) -> u64 {
        let bytes = token.as_bytes();
        let tail = bytes.get(bytes.len().saturating_sub(TAIL)..).unwrap_or(&[]);
        let mid_start = (bytes.len() / 2).saturating_sub(MIDDLE / 2);
        let mid_end = (mid_start + MIDDLE).min(bytes.len());
        let middle = bytes.get(mid_start..mid_end).unwrap_or(&[]);
        self.hasher.hash_one((bytes.len(), tail, middle))
    }

    fn shard(&self, hash: u64) -> Option<&RwLock<Shard>> {
        // The map consumes the low bits, so the shard is picked with the high ones.
        let index = (hash >> 48) as usize & self.shards.len().wrapping_sub(1);
        self.shards.get(index)
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

/// The map's keys are already keyed hashes; hashing them again would only cost time.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is reached for `u64` keys; this keeps the hasher correct regardless.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{secret::AccessToken, Claims, UserInfo};

    fn user(token: &str) -> AuthUser {
        let info = UserInfo {
            user_id: format!("user-of-{token}"),
            ..Default::default()
        };
        AuthUser::new(info, Claims::default(), AccessToken::new(token))
    }

    fn served(cache: &TokenCache, token: &str, now: u64) -> bool {
        cache
            .get(token, now)
            .is_some_and(|u| u.user_id == format!("user-of-{token}"))
    }

    #[test]
    fn full_shard_drops_expired_entries_before_evicting_live_ones() {
        let cache = TokenCache::with_shards(3, 1);
        cache.insert(user("a"), 10, 0);
        cache.insert(user("b"), 20, 0);
        cache.insert(user("c"), 30, 0);
        cache.insert(user("d"), 40, 15);
        assert_eq!(cache.len(), 3);
        assert!(
            !served(&cache, "a", 0),
            "the expired entry was the one dropped"
        );
        assert!(served(&cache, "b", 15) && served(&cache, "c", 15) && served(&cache, "d", 15));
    }

    #[test]
    fn full_shard_without_expired_entries_evicts_the_soonest_to_expire() {
        let cache = TokenCache::with_shards(3, 1);
        cache.insert(user("late"), 300, 0);
        cache.insert(user("soon"), 100, 0);
        cache.insert(user("mid"), 200, 0);
        cache.insert(user("new"), 150, 0);
        assert_eq!(cache.len(), 3);
        assert!(!served(&cache, "soon", 0));
        assert!(served(&cache, "late", 0) && served(&cache, "mid", 0) && served(&cache, "new", 0));
    }

    #[test]
    fn refreshing_a_present_token_evicts_nothing() {
        let cache = TokenCache::with_shards(2, 1);
        cache.insert(user("a"), 100, 0);
        cache.insert(user("b"), 100, 0);
        cache.insert(user("a"), 200, 0);
        assert!(served(&cache, "a", 150) && served(&cache, "b", 50));
    }

    #[test]
    fn capacity_is_split_exactly_among_shards() {
        for capacity in [1, 2, 3, 7, 16, 17, 10_000] {
            let cache = TokenCache::new(capacity);
            let total: usize = cache
                .shards
                .iter()
                .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).capacity)
                .sum();
            assert_eq!(total, capacity);
            assert!(cache.shards.len().is_power_of_two() && cache.shards.len() <= MAX_SHARDS);
        }
    }
}

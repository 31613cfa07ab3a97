//! The verified-token cache that sits in front of any [`TokenVerifier`](crate::TokenVerifier).

use std::{
    collections::HashMap,
    fmt,
    hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState},
    sync::{
        atomic::{AtomicUsize, Ordering},
        PoisonError, RwLock,
    },
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
///   `RwLock`; the capacity bounds their total, not each shard, so a cache of 10 000 holds
///   10 000 tokens however the hash spreads them. When a new token arrives at a full cache,
///   its shard first drops its expired entries; if none had expired, it evicts the entry that
///   expires soonest (for tokens of one provider, the oldest issued), or, when the shard is
///   empty, another shard does. Tokens whose sampled bytes collide replace each other.
/// - **Refusals.** Tokens the verifier refused are remembered too, for
///   [`REFUSAL_TTL`](Self::REFUSAL_TTL), in a second map of the same shape (same sampled hash,
///   same eviction) bounded apart from the verified tokens
///   ([`refusal_capacity`](Self::refusal_capacity)), so a flood of bad tokens can neither
///   evict signed-in users nor grow memory past the bound. A repeated bad token then costs one
///   lookup instead of a signature check or a call to the provider. A refusal entry holds no
///   copy of its token, only a 128-bit digest of the whole token keyed with a per-cache random
///   key (a few dozen bytes an entry, under 100 KiB at the 1024-entry bound); a hit must match
///   that digest, so a token that merely shares the sampled bytes of a refused one is not
///   refused, and without the key no one can craft a token whose digest collides.
///   [`RequireAuth`](crate::RequireAuth) remembers only refusals that will not change within
///   the TTL (a bad signature, an expired token, the wrong audience, ...), never "the provider
///   could not be reached", a key it does not know yet, a token not yet valid, or a token that
///   is not even well-formed (finding that out costs less than remembering it).
///
/// A capacity of 0 disables the cache: nothing is stored and every lookup misses.
pub struct TokenCache {
    users: Map<AuthUser>,
    refused: Map<Digest>,
    hasher: RandomState,
    /// The key of refusal digests, apart from `hasher`'s.
    digest_key: RandomState,
}

/// Shards under one bound: `held` counts the entries of all of them, reserved before an entry
/// is inserted and released after one is removed, so it is never below the true count and the
/// shards together never hold more than `capacity`.
struct Map<V> {
    shards: Box<[RwLock<Shard<V>>]>,
    held: AtomicUsize,
    capacity: usize,
}

struct Shard<V> {
    entries: HashMap<u64, Entry<V>, BuildHasherDefault<PreHashed>>,
}

struct Entry<V> {
    value: V,
    expires_at: u64,
}

/// A keyed 128-bit digest of a whole token: what a refusal entry keeps instead of the token.
type Digest = u128;

/// The sampled hash of a token, and its digest once computed, so that a request missing both
/// maps hashes its token once for each.
pub(crate) struct Key {
    hash: u64,
    digest: Option<Digest>,
}

/// What the cache knows of a token.
pub(crate) enum Lookup {
    /// Verified as this user, and not expired.
    User(AuthUser),
    /// Refused less than [`TokenCache::REFUSAL_TTL`] ago.
    Refused,
    /// Neither: verify it, then store the outcome under this key.
    Miss(Key),
}

impl<V> Shard<V> {
    /// The live entry at `hash` whose value passes `matches`.
    fn get(&self, hash: u64, now: u64, matches: impl FnOnce(&V) -> bool) -> Option<&V> {
        let entry = self.entries.get(&hash)?;
        (entry.expires_at > now && matches(&entry.value)).then_some(&entry.value)
    }

    /// Drops the expired entries, or else the one that expires soonest; how many went.
    fn make_room(&mut self, now: u64) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, e| e.expires_at > now);
        if self.entries.len() < before {
            return before - self.entries.len();
        }
        let soonest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.expires_at)
            .map(|(k, _)| *k);
        soonest.map_or(0, |key| usize::from(self.entries.remove(&key).is_some()))
    }
}

impl<V> Map<V> {
    /// `count` must be 0 or a power of two not above `capacity`.
    fn new(capacity: usize, count: usize) -> Self {
        Self {
            shards: (0..count)
                .map(|_| {
                    RwLock::new(Shard {
                        entries: HashMap::default(),
                    })
                })
                .collect(),
            held: AtomicUsize::new(0),
            capacity,
        }
    }

    fn pick(&self, hash: u64) -> Option<&RwLock<Shard<V>>> {
        // The map consumes the low bits, so the shard is picked with the high ones.
        let index = (hash >> 48) as usize & self.shards.len().wrapping_sub(1);
        self.shards.get(index)
    }

    fn insert(&self, hash: u64, value: V, expires_at: u64, now: u64) {
        let Some(lock) = self.pick(hash) else {
            return;
        };
        let mut shard = lock.write().unwrap_or_else(PoisonError::into_inner);
        if !shard.entries.contains_key(&hash)
            && self.held.fetch_add(1, Ordering::AcqRel) >= self.capacity
        {
            // Full: the reservation just made is paid for by what this shard drops, or by
            // another shard when this one is empty (`try_write`, so that two inserts never
            // wait on each other's shards), or it is given back and nothing is stored.
            let mut freed = shard.make_room(now);
            if freed == 0 {
                freed = self.make_room_elsewhere(lock, now);
            }
            self.held.fetch_sub(freed, Ordering::AcqRel);
            if freed == 0 {
                self.held.fetch_sub(1, Ordering::AcqRel);
                return;
            }
        }
        shard.entries.insert(hash, Entry { value, expires_at });
    }

    fn make_room_elsewhere(&self, mine: &RwLock<Shard<V>>, now: u64) -> usize {
        for other in self.shards.iter().filter(|s| !std::ptr::eq(*s, mine)) {
            if let Ok(mut shard) = other.try_write() {
                let freed = shard.make_room(now);
                if freed > 0 {
                    return freed;
                }
            }
        }
        0
    }

    /// Drops the entry at `hash` if its value passes `matches`.
    fn remove(&self, hash: u64, matches: impl FnOnce(&V) -> bool) {
        let Some(lock) = self.pick(hash) else {
            return;
        };
        let mut shard = lock.write().unwrap_or_else(PoisonError::into_inner);
        if shard.entries.get(&hash).is_some_and(|e| matches(&e.value)) {
            shard.entries.remove(&hash);
            self.held.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn len(&self) -> usize {
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
}

impl TokenCache {
    /// The default capacity of [`RequireAuth`](crate::RequireAuth)'s cache.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// How long a refused token is answered from memory (10 seconds): long enough that a
    /// client or attacker repeating it costs no signature check, short enough that a refusal
    /// the provider has since reversed (a token revoked and then reinstated) does not linger.
    pub const REFUSAL_TTL: u64 = 10;

    /// The most refused tokens held by a cache of the default capacity or larger.
    const MAX_REFUSALS: usize = 1024;

    /// A cache holding at most `capacity` verified tokens, and at most
    /// `min(capacity, 1024)` refused ones.
    pub fn new(capacity: usize) -> Self {
        let refusals = capacity.min(Self::MAX_REFUSALS);
        Self::with_shards(capacity, shard_count(capacity), refusals)
    }

    /// `count` must be 0 or a power of two not above `capacity`.
    fn with_shards(capacity: usize, count: usize, refusals: usize) -> Self {
        Self {
            users: Map::new(capacity, count),
            refused: Map::new(refusals, shard_count(refusals)),
            hasher: RandomState::new(),
            digest_key: RandomState::new(),
        }
    }

    /// The user `token` was verified as, unless it is absent or expired at `now` (seconds since
    /// the epoch).
    pub fn get(&self, token: &str, now: u64) -> Option<AuthUser> {
        let token = token.as_bytes();
        self.user(self.hash(token), token, now)
    }

    /// What the cache knows of `token` at `now`: its user, a recent refusal, or the key to
    /// store the outcome under. Hashes the token once for both maps; the digest of the whole
    /// token is computed only when a refusal entry shares its sampled hash. Does not allocate.
    /// Takes the header's bytes: a hit proves them equal to a token that was valid UTF-8 (and
    /// a b64token) when verified, so only a miss needs to check them.
    pub(crate) fn lookup(&self, token: &[u8], now: u64) -> Lookup {
        let mut key = Key {
            hash: self.hash(token),
            digest: None,
        };
        if let Some(user) = self.user(key.hash, token, now) {
            return Lookup::User(user);
        }
        if self.refused_at(&mut key, token, now) {
            return Lookup::Refused;
        }
        Lookup::Miss(key)
    }

    fn user(&self, hash: u64, token: &[u8], now: u64) -> Option<AuthUser> {
        let shard = self
            .users
            .pick(hash)?
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        // No constant-time comparison is needed: reaching it requires a keyed-hash match on the
        // token's own signature bytes, which an attacker probing for a token does not know.
        shard
            .get(hash, now, |user| {
                user.bearer_token().secret().as_bytes() == token
            })
            .cloned()
    }

    fn refused_at(&self, key: &mut Key, token: &[u8], now: u64) -> bool {
        let Some(lock) = self.refused.pick(key.hash) else {
            return false;
        };
        let shard = lock.read().unwrap_or_else(PoisonError::into_inner);
        shard
            .get(key.hash, now, |digest| {
                *digest == *key.digest.get_or_insert_with(|| self.digest(token))
            })
            .is_some()
    }

    /// Stores `user` under the token it carries ([`AuthUser::bearer_token`]) until
    /// `expires_at`. Nothing is stored when `expires_at` is not after `now`.
    pub fn insert(&self, user: AuthUser, expires_at: u64, now: u64) {
        let hash = self.hash(user.bearer_token().secret().as_bytes());
        self.insert_at(hash, user, expires_at, now);
    }

    /// [`insert`](Self::insert) under the key a [`lookup`](Self::lookup) of the user's token
    /// returned.
    pub(crate) fn insert_keyed(&self, key: Key, user: AuthUser, expires_at: u64, now: u64) {
        self.insert_at(key.hash, user, expires_at, now);
    }

    fn insert_at(&self, hash: u64, user: AuthUser, expires_at: u64, now: u64) {
        if expires_at <= now {
            return;
        }
        self.users.insert(hash, user, expires_at, now);
    }

    /// Drops the entry of `token`, if there is one: a revoked token is no longer served.
    pub fn remove(&self, token: &str) {
        let hash = self.hash(token.as_bytes());
        self.users
            .remove(hash, |user| user.bearer_token().secret() == token);
    }

    /// True when `token` was refused less than [`REFUSAL_TTL`](Self::REFUSAL_TTL) seconds
    /// before `now`. Does not allocate.
    pub fn is_refused(&self, token: &str, now: u64) -> bool {
        let token = token.as_bytes();
        let mut key = Key {
            hash: self.hash(token),
            digest: None,
        };
        self.refused_at(&mut key, token, now)
    }

    /// Remembers that `token` was refused, until `now +` [`REFUSAL_TTL`](Self::REFUSAL_TTL).
    /// Record only refusals that will not change within that time, never a failure to reach
    /// the provider.
    pub fn insert_refused(&self, token: &str, now: u64) {
        let key = Key {
            hash: self.hash(token.as_bytes()),
            digest: None,
        };
        self.insert_refused_keyed(key, token, now);
    }

    /// [`insert_refused`](Self::insert_refused) under the key a [`lookup`](Self::lookup) of
    /// `token` returned.
    pub(crate) fn insert_refused_keyed(&self, key: Key, token: &str, now: u64) {
        let digest = key.digest.unwrap_or_else(|| self.digest(token.as_bytes()));
        self.refused
            .insert(key.hash, digest, now.saturating_add(Self::REFUSAL_TTL), now);
    }

    /// Verified tokens held, expired ones included until they are dropped.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when no verified token is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Refused tokens held, expired ones included until they are dropped.
    pub fn refused_len(&self) -> usize {
        self.refused.len()
    }

    /// The most verified tokens the cache holds.
    pub fn capacity(&self) -> usize {
        self.users.capacity
    }

    /// The most refused tokens the cache holds.
    pub fn refusal_capacity(&self) -> usize {
        self.refused.capacity
    }

    fn hash(&self, bytes: &[u8]) -> u64 {
        let tail = bytes.get(bytes.len().saturating_sub(TAIL)..).unwrap_or(&[]);
        let mid_start = (bytes.len() / 2).saturating_sub(MIDDLE / 2);
        let mid_end = (mid_start + MIDDLE).min(bytes.len());
        let middle = bytes.get(mid_start..mid_end).unwrap_or(&[]);
        // The samples' lengths follow from the token's, so they need no length prefixes.
        let mut hasher = self.hasher.build_hasher();
        hasher.write_usize(bytes.len());
        hasher.write(tail);
        hasher.write(middle);
        hasher.finish()
    }

    /// Two keyed SipHash values of the whole token, apart by a domain byte: 128 bits no one
    /// without `digest_key` can steer, so a refusal is matched as surely as by the token itself.
    fn digest(&self, token: &[u8]) -> Digest {
        let high = self.digest_key.hash_one((1u8, token));
        let low = self.digest_key.hash_one((2u8, token));
        (Digest::from(high) << 64) | Digest::from(low)
    }
}

/// The largest power of two not above the capacity (at most [`MAX_SHARDS`]), so that a small
/// cache has no more shards than entries; 0 for a disabled cache.
fn shard_count(capacity: usize) -> usize {
    match capacity {
        0 => 0,
        n => 1 << n.min(MAX_SHARDS).ilog2(),
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("capacity", &self.users.capacity)
            .field("len", &self.len())
            .field("refused_len", &self.refused_len())
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
        let cache = TokenCache::with_shards(3, 1, 0);
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
        let cache = TokenCache::with_shards(3, 1, 0);
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
        let cache = TokenCache::with_shards(2, 1, 0);
        cache.insert(user("a"), 100, 0);
        cache.insert(user("b"), 100, 0);
        cache.insert(user("a"), 200, 0);
        assert!(served(&cache, "a", 150) && served(&cache, "b", 50));
    }

    #[test]
    fn a_refusal_is_remembered_for_its_ttl_and_not_after() {
        let cache = TokenCache::new(10);
        cache.insert_refused("bad", 100);
        assert!(cache.is_refused("bad", 100));
        assert!(cache.is_refused("bad", 100 + TokenCache::REFUSAL_TTL - 1));
        assert!(!cache.is_refused("bad", 100 + TokenCache::REFUSAL_TTL));
        assert!(!cache.is_refused("other", 100));
    }

    #[test]
    fn a_refusal_is_never_served_as_a_user_nor_a_user_as_a_refusal() {
        let cache = TokenCache::new(10);
        cache.insert_refused("bad", 0);
        cache.insert(user("good"), 100, 0);
        assert!(cache.get("bad", 0).is_none());
        assert!(!cache.is_refused("good", 0));
        assert_eq!((cache.len(), cache.refused_len()), (1, 1));
    }

    #[test]
    fn tokens_sharing_every_sampled_byte_are_told_apart_in_both_maps() {
        // Same length, same tail, same middle: only the first bytes differ, so the sampled
        // hash is the same and only the full compare (users) or the digest (refusals) can
        // tell them apart.
        let body = format!("{}.{}", "m".repeat(40), "s".repeat(40));
        let (refused, good) = (format!("AAAA{body}"), format!("BBBB{body}"));
        let cache = TokenCache::new(10);
        assert_eq!(
            cache.hash(refused.as_bytes()),
            cache.hash(good.as_bytes()),
            "the sampled bytes agree"
        );
        cache.insert_refused(&refused, 0);
        assert!(cache.is_refused(&refused, 0));
        assert!(!cache.is_refused(&good, 0), "a look-alike is not refused");
        cache.insert(user(&good), 100, 0);
        assert!(served(&cache, &good, 0));
        assert!(
            cache.get(&refused, 0).is_none(),
            "nor served as the look-alike's user"
        );
        assert!(
            cache.is_refused(&refused, 0),
            "the maps do not disturb each other"
        );
    }

    #[test]
    fn refusals_are_bounded_apart_from_verified_tokens() {
        let cache = TokenCache::with_shards(4, 1, 2);
        for t in ["a", "b", "c", "d"] {
            cache.insert(user(t), 1000, 0);
        }
        for i in 0..100 {
            cache.insert_refused(&format!("bad-{i}"), i);
            assert!(cache.refused_len() <= 2);
        }
        assert!(cache.is_refused("bad-99", 99), "the newest refusal is kept");
        assert_eq!(cache.len(), 4, "a flood of refusals evicts no user");
        assert!(["a", "b", "c", "d"].iter().all(|t| served(&cache, t, 99)));
    }

    #[test]
    fn the_refusal_bound_is_at_most_the_capacity_and_at_most_1024() {
        assert_eq!(TokenCache::new(0).refusal_capacity(), 0);
        assert_eq!(TokenCache::new(5).refusal_capacity(), 5);
        assert_eq!(TokenCache::new(10_000).refusal_capacity(), 1024);
        let disabled = TokenCache::new(0);
        disabled.insert_refused("bad", 0);
        assert!(!disabled.is_refused("bad", 0));
    }

    #[test]
    fn a_cache_holds_as_many_tokens_as_its_capacity_however_they_spread_over_shards() {
        // 10 000 tokens over 16 shards: the fullest shard gets dozens more than a 16th, which
        // a bound per shard would have evicted.
        let cache = TokenCache::new(TokenCache::DEFAULT_CAPACITY);
        let tokens: Vec<String> = (0..TokenCache::DEFAULT_CAPACITY)
            .map(|i| format!("token-{i:05}-{}", i * 7919))
            .collect();
        for t in &tokens {
            cache.insert(user(t), 1000, 0);
        }
        assert_eq!(cache.len(), TokenCache::DEFAULT_CAPACITY);
        assert!(tokens.iter().all(|t| served(&cache, t, 0)), "none evicted");
        cache.insert(user("one more"), 2000, 0);
        assert_eq!(cache.len(), TokenCache::DEFAULT_CAPACITY, "the bound holds");
        assert!(served(&cache, "one more", 0), "the newcomer is stored");
    }

    #[test]
    fn an_empty_shard_of_a_full_cache_takes_the_room_from_another() {
        // Two shards; fill the cache through whichever shard the first tokens hash to, then
        // insert tokens until one lands in the other (empty) shard.
        let cache = TokenCache::with_shards(2, 2, 0);
        let shard_of = |t: &str| {
            cache
                .users
                .pick(cache.hash(t.as_bytes()))
                .map(|s| s as *const _)
        };
        let first = shard_of("t-0");
        let same = (1..)
            .map(|i| format!("t-{i}"))
            .find(|t| shard_of(t) == first)
            .unwrap();
        let other = (1..)
            .map(|i| format!("u-{i}"))
            .find(|t| shard_of(t) != first)
            .unwrap();
        cache.insert(user("t-0"), 100, 0);
        cache.insert(user(&same), 200, 0);
        cache.insert(user(&other), 300, 0);
        assert_eq!(cache.len(), 2);
        assert!(served(&cache, &other, 0), "the newcomer is stored");
        assert!(!served(&cache, "t-0", 0), "the soonest to expire made room");
        assert!(served(&cache, &same, 0));
    }

    #[test]
    fn concurrent_inserts_never_exceed_the_capacity() {
        let cache = std::sync::Arc::new(TokenCache::new(1000));
        let threads: Vec<_> = (0..4)
            .map(|n| {
                let cache = std::sync::Arc::clone(&cache);
                std::thread::spawn(move || {
                    for i in 0..5000u64 {
                        cache.insert(user(&format!("t{n}-{i}")), 10_000 + i, 0);
                        assert!(cache.len() <= 1000);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(cache.len(), 1000);
        assert_eq!(cache.users.held.load(Ordering::Acquire), 1000);
    }
}

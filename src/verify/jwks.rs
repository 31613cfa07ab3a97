//! [`JwksVerifier`]: JWT access tokens checked against the issuer's JSON Web Key Set.
//!
//! The key set is cached as prebuilt verifiers behind an `RwLock<Arc<_>>` whose lock is held
//! only to clone the `Arc`. Fetches never run on a request's future: a fetch runs on a short-lived
//! thread with its own actix runtime, so it works from any executor, cannot be cancelled by a
//! request being dropped, and a slow provider never stalls a worker. Requests that need the
//! fetch's result (unknown `kid`, nothing loaded yet) wait on a oneshot channel; everyone else
//! keeps using the keys they have.

use std::fmt;
use std::mem;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::LocalBoxFuture;
use url::Url;

pub use self::builder::JwksVerifierBuilder;
pub use super::jwt::{Algorithm, IssuerPolicy};
use super::jwt::{Jws, KeySet, Policy};
use super::{Claims, TokenVerifier, VerifyError};
use crate::clock::Clock;
use crate::http::{fetch, spawn_fetch, Fetched, ProviderMetadata};
use crate::validate::ConfigError;

mod builder;

/// A provider's `max-age` is honoured within these bounds: `max-age=0` must not turn every
/// request into a fetch, and a year-long cache must not outlive a key rotation.
const MIN_MAX_AGE_SECS: u64 = 60;
const MAX_MAX_AGE_SECS: u64 = 24 * 60 * 60;

/// Verifies JWT access tokens with the keys of a JSON Web Key Set (JWKS).
///
/// Built with [`JwksVerifier::builder`] (keys fetched from a URL, or pinned), or
/// [`JwksVerifier::from_metadata`] / [`JwksVerifier::from_discovery`] (the key set and issuer
/// named in the provider's metadata), then configured on the returned [`JwksVerifierBuilder`].
/// Cloning is cheap and clones share the key cache.
///
/// # What a token must satisfy
/// - Compact JWS, at most 16 KiB, strict unpadded base64url, no `crit` header.
/// - `alg` in the allow-list (by default every [`Algorithm`]); `none` and `HS*` are always
///   refused. `jku`, `x5u`, `jwk` and `x5c` headers are ignored: keys come only from the key set.
/// - A key chosen by `kid` (without `kid`, the only key that fits `alg`). A `kid` naming a key of
///   another type, curve or JWK `alg` is [`VerifyError::Algorithm`].
/// - `exp` required; `exp`, `nbf`, `iat` checked with the leeway (default 60 s).
/// - `iss` equal to the configured issuer, byte for byte; or, with a per-tenant
///   [`IssuerPolicy`], to the issuer of the tenant the verified payload names.
/// - `aud` holding one of the configured audiences; an audience is required, unless
///   [`any_audience`](JwksVerifierBuilder::any_audience) says otherwise.
/// - An access token, not an OpenID Connect ID token or another kind of JWT: refused with
///   [`VerifyError::NotAccessToken`] are a token carrying `nonce`, `at_hash`, `c_hash` or
///   `s_hash` (claims OpenID Connect defines for ID tokens only), one whose
///   `typ` claim is Keycloak's `ID`, `Refresh`, `Offline` or `Logout`, and one whose header
///   `typ` is set to anything but `JWT` or `at+jwt` (case-insensitive, `application/`
///   optional). With [`require_typ`](JwksVerifierBuilder::require_typ), the header `typ` must
///   be that type instead.
/// - When a [`client_id`](JwksVerifierBuilder::client_id) is set, each of `azp`, `cid`, `appid`
///   and `client_id` the token carries names that client ([`check_client`](super::check_client)).
///
/// # Key cache
/// Keys are fetched on first use and kept for `cache_ttl` (default 10 min) or the response's
/// `Cache-Control: max-age` (clamped to 1 min – 1 day). After that, requests keep using the
/// cached keys while one background refresh runs. A token with an unknown `kid` triggers one
/// refetch, at most once per `refetch_interval` (default 30 s), shared by all concurrent requests.
/// If the provider is down the last good keys keep serving; with no keys at all, or for a token
/// whose `kid` a failed refetch was meant to find, verification fails with
/// [`VerifyError::Unavailable`] (the token may be valid; a 503 lets the client retry).
///
/// Fetches run on a short-lived thread of their own (one at a time per verifier), so the
/// verifier works from any executor and a slow provider never occupies a worker.
#[derive(Clone)]
pub struct JwksVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    policy: Policy,
    /// `None` for pinned keys: nothing is ever fetched.
    remote: Option<Remote>,
    clock: Arc<dyn Clock>,
    keys: RwLock<Option<Arc<CachedKeys>>>,
    flight: Mutex<Flight>,
}

struct Remote {
    url: Url,
    cache_ttl: u64,
    refetch_interval: u64,
    fetch_timeout: Duration,
    max_response_bytes: usize,
    max_keys: usize,
}

struct CachedKeys {
    set: KeySet,
    /// `None`: pinned keys, never stale.
    stale_at: Option<u64>,
}

type FetchOutcome = Result<Arc<CachedKeys>, VerifyError>;

/// The single fetch in progress, if any, and who waits for it.
#[derive(Default)]
struct Flight {
    running: bool,
    last_started: Option<u64>,
    waiters: Vec<oneshot::Sender<FetchOutcome>>,
}

impl JwksVerifier {
    /// Starts the configuration of a verifier: give it its keys, either fetched
    /// ([`jwks_url`](JwksVerifierBuilder::jwks_url)) or pinned
    /// ([`jwks`](JwksVerifierBuilder::jwks)), and its [`issuer`](JwksVerifierBuilder::issuer).
    /// [`from_metadata`](Self::from_metadata) fills both in from the provider's metadata.
    ///
    /// ```
    /// use actix_mcp_oauth::JwksVerifier;
    ///
    /// # fn main() -> Result<(), actix_mcp_oauth::ConfigError> {
    /// let verifier = JwksVerifier::builder()
    ///     .jwks_url("https://idp.example.com/.well-known/jwks.json")
    ///     .issuer("https://idp.example.com/")
    ///     .audience("https://mcp.example.com/mcp")
    ///     .build()?;
    /// # let _ = verifier; Ok(()) }
    /// ```
    pub fn builder() -> JwksVerifierBuilder {
        JwksVerifierBuilder::default()
    }

    /// Starts a verifier for the key set named in the provider's metadata, with the issuer
    /// already set; an error when the document names no `jwks_uri` (a provider that issues
    /// opaque tokens: use its introspection endpoint or API instead).
    ///
    /// ```no_run
    /// use actix_mcp_oauth::{JwksVerifier, http::ProviderMetadata};
    ///
    /// # async fn run() -> Result<(), actix_mcp_oauth::ConfigError> {
    /// let provider = ProviderMetadata::discover("https://idp.example.com").await?;
    /// let verifier = JwksVerifier::from_metadata(&provider)?
    ///     .audience("https://mcp.example.com/mcp")
    ///     .build()?;
    /// # let _ = verifier; Ok(()) }
    /// ```
    pub fn from_metadata(metadata: &ProviderMetadata) -> Result<JwksVerifierBuilder, ConfigError> {
        let jwks_uri = metadata.jwks_uri().ok_or_else(|| {
            ConfigError::Discovery(format!(
                "the metadata of {:?} names no jwks_uri",
                metadata.issuer()
            ))
        })?;
        Ok(Self::builder().jwks_url(jwks_uri).issuer(metadata.issuer()))
    }

    /// [`ProviderMetadata::discover`] then [`from_metadata`](Self::from_metadata). When the
    /// proxy is built from the same provider, discover once and give the document to both.
    pub async fn from_discovery(
        issuer: impl Into<String>,
    ) -> Result<JwksVerifierBuilder, ConfigError> {
        Self::from_metadata(&ProviderMetadata::discover(&issuer.into()).await?)
    }

    async fn verify_token(&self, token: &str) -> Result<Claims, VerifyError> {
        let inner = &self.inner;
        // Structure, header and algorithm first: a malformed token never costs a key fetch.
        let jws = Jws::decode(token, &inner.policy)?;
        let now = inner.clock.now();
        let current = inner.current_keys();
        if let Some(keys) = &current {
            if keys.stale_at.is_some_and(|at| now >= at) {
                Inner::refresh_in_background(inner, now);
            }
            match keys.set.select(jws.kid(), jws.alg()) {
                Ok(verifier) => return jws.verify(verifier, &inner.policy, now),
                Err(VerifyError::UnknownKey) if inner.remote.is_some() => {}
                Err(e) => return Err(e),
            }
        }
        let keys = Inner::refetch(inner, now, current.as_ref()).await?;
        let verifier = keys.set.select(jws.kid(), jws.alg())?;
        jws.verify(verifier, &inner.policy, now)
    }
}

impl TokenVerifier for JwksVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> LocalBoxFuture<'a, Result<Claims, VerifyError>> {
        Box::pin(self.verify_token(token))
    }
}

impl fmt::Debug for JwksVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        let keys = inner.current_keys().map_or(0, |k| k.set.len());
        f.debug_struct("JwksVerifier")
            .field("jwks_url", &inner.remote.as_ref().map(|r| r.url.as_str()))
            .field("issuer", &inner.policy.issuer)
            .field("audiences", &inner.policy.audiences)
            .field("algorithms", &inner.policy.algorithms)
            .field("leeway_secs", &inner.policy.leeway)
            .field("typ", &inner.policy.typ)
            .field("keys", &keys)
            .finish()
    }
}

impl Inner {
    fn current_keys(&self) -> Option<Arc<CachedKeys>> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn flight(&self) -> MutexGuard<'_, Flight> {
        self.flight.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a refresh unless one is running or one started less than `refetch_interval` ago.
    /// The caller does not wait for it.
    fn refresh_in_background(this: &Arc<Self>, now: u64) {
        let Some(remote) = &this.remote else { return };
        let mut flight = this.flight();
        if !flight.running && !flight.rate_limited(now, remote.refetch_interval) {
            // A failure to start was logged; the cached keys keep serving.
            Self::start_fetch(this, remote, &mut flight, now);
        }
    }

    /// Waits for fresh keys: joins the running fetch or starts one, unless the last one started
    /// less than `refetch_interval` ago. `seen` is the key set the caller found wanting.
    async fn refetch(
        this: &Arc<Self>,
        now: u64,
        seen: Option<&Arc<CachedKeys>>,
    ) -> Result<Arc<CachedKeys>, VerifyError> {
        let Some(remote) = &this.remote else {
            return Err(VerifyError::UnknownKey);
        };
        let receiver = {
            let mut flight = this.flight();
            if !flight.running {
                // A fetch may have completed between our look at the keys and this lock.
                if let Some(latest) = this.current_keys() {
                    if seen.is_none_or(|seen| !Arc::ptr_eq(seen, &latest)) {
                        return Ok(latest);
                    }
                }
                if flight.rate_limited(now, remote.refetch_interval) {
                    return Err(match seen {
                        Some(_) => VerifyError::UnknownKey,
                        None => VerifyError::Unavailable(
                            "no keys loaded yet; refetch is rate-limited".into(),
                        ),
                    });
                }
                if !Self::start_fetch(this, remote, &mut flight, now) {
                    return Err(VerifyError::Unavailable(
                        "could not start the key fetch".into(),
                    ));
                }
            }
            let (sender, receiver) = oneshot::channel();
            flight.waiters.push(sender);
            receiver
        };
        // Cancelled only if the fetch thread ended without completing the flight, which even a
        // panicking fetch does not; answering rather than hanging costs nothing.
        receiver.await.unwrap_or_else(|_| {
            Err(VerifyError::Unavailable(
                "the key fetch was abandoned".into(),
            ))
        })
    }

    /// Marks a fetch as running and starts it on its own thread. Called with the flight locked.
    fn start_fetch(this: &Arc<Self>, remote: &Remote, flight: &mut Flight, now: u64) -> bool {
        let url = remote.url.clone();
        let timeout = remote.fetch_timeout;
        let limit = remote.max_response_bytes;
        let loader = Arc::clone(this);
        let inner = Arc::clone(this);
        // The key set is built inside the fetch, so that a panic there too answers the waiters.
        let spawned = spawn_fetch(
            "jwks-fetch",
            move || async move {
                let fetched = fetch(url, timeout, limit).await.map_err(fetch_failed)?;
                loader.load(fetched)
            },
            move |outcome| inner.complete(outcome.unwrap_or_else(|e| Err(fetch_failed(e)))),
        );
        match spawned {
            Ok(()) => {
                flight.running = true;
                flight.last_started = Some(now);
                true
            }
            Err(e) => {
                log::error!("cannot start a JWKS fetch thread: {e}");
                false
            }
        }
    }

    /// Builds the verifiers of a fetched key set and its cache lifetime.
    fn load(&self, fetched: Fetched) -> FetchOutcome {
        let Some(remote) = &self.remote else {
            return Err(VerifyError::UnknownKey);
        };
        let set = KeySet::from_jwks(&fetched.body, self.policy.algorithms, remote.max_keys)
            .map_err(|e| VerifyError::Unavailable(format!("JWKS unusable: {e}")))?;
        let lifetime = cache_lifetime(fetched.max_age, remote.cache_ttl);
        Ok(Arc::new(CachedKeys {
            set,
            stale_at: Some(self.clock.now().saturating_add(lifetime)),
        }))
    }

    /// Publishes a fetch's outcome: new keys replace the old ones, a failure keeps them.
    fn complete(&self, outcome: FetchOutcome) {
        let url = self.remote.as_ref().map_or("", |r| r.url.as_str());
        match &outcome {
            Ok(keys) => {
                log::debug!("JWKS from {url} loaded: {} keys", keys.set.len());
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(keys));
            }
            Err(e) if self.current_keys().is_some() => {
                log::warn!("{e} ({url}); the last good keys keep serving");
            }
            Err(e) => log::error!("{e} ({url}); no keys to verify tokens with"),
        }
        // Keys are published before `running` is cleared, so a request that finds no fetch
        // running also finds the newest keys.
        let waiters = {
            let mut flight = self.flight();
            flight.running = false;
            mem::take(&mut flight.waiters)
        };
        for waiter in waiters {
            // A waiter whose request went away has dropped its receiver; nothing to do.
            let _ = waiter.send(outcome.clone());
        }
    }
}

impl Flight {
    fn rate_limited(&self, now: u64, interval: u64) -> bool {
        self.last_started
            .is_some_and(|last| now < last.saturating_add(interval))
    }
}

fn fetch_failed(reason: String) -> VerifyError {
    VerifyError::Unavailable(format!("JWKS fetch failed: {reason}"))
}

/// How long a fetched key set is used before a background refresh.
fn cache_lifetime(max_age: Option<u64>, cache_ttl: u64) -> u64 {
    max_age.map_or(cache_ttl, |age| {
        age.clamp(MIN_MAX_AGE_SECS, MAX_MAX_AGE_SECS)
    })
}

#[cfg(test)]
pub(super) mod tests {
    use futures::executor::block_on;
    use serde_json::json;

    use super::super::jwt::testing::{good_payload, jwks, keys, sign_with, ISS, NOW};
    use super::*;
    use crate::clock::ManualClock;

    pub(super) fn pinned() -> JwksVerifierBuilder {
        JwksVerifier::builder()
            .jwks(jwks())
            .issuer(ISS)
            .audience("api")
            .clock(ManualClock::at(NOW))
    }

    #[test]
    fn pinned_keys_verify_without_any_fetch() {
        let verifier = pinned().build().unwrap();
        let token = sign_with(
            &json!({ "alg": "ES256", "kid": "ec" }),
            &good_payload(),
            "ES256",
        );
        let claims = block_on(verifier.verify(&token)).unwrap();
        assert_eq!(claims.get_str("sub"), Some("user-1"));
        let unknown = sign_with(
            &json!({ "alg": "ES256", "kid": "new" }),
            &good_payload(),
            "ES256",
        );
        assert_eq!(
            block_on(verifier.verify(&unknown)).unwrap_err(),
            VerifyError::UnknownKey
        );
    }

    #[test]
    fn debug_prints_no_key_material() {
        let verifier = pinned().build().unwrap();
        let printed = format!("{verifier:?} {:?}", pinned());
        let n = keys()
            .rsa
            .to_jwk_public_key()
            .parameter("n")
            .and_then(|n| n.as_str())
            .unwrap()
            .to_owned();
        assert!(!printed.contains(&n[..16]), "{printed}");
        assert!(printed.contains("keys: 3"), "{printed}");
        assert!(!printed.contains("\"kty\""), "{printed}");
    }

    const TENANT_ISSUER: &str = "https://login.example/{tenant}/v2.0";

    fn per_tenant() -> JwksVerifier {
        JwksVerifier::builder()
            .jwks(jwks())
            .issuer_policy(IssuerPolicy::per_tenant(TENANT_ISSUER, "tid"))
            .audience("api")
            .clock(ManualClock::at(NOW))
            .build()
            .unwrap()
    }

    /// A good token with `iss` and `tid` as given (`tid` left out when `None`).
    fn tenant_token(iss: &str, tid: Option<serde_json::Value>) -> String {
        let mut payload = good_payload();
        payload["iss"] = json!(iss);
        if let Some(tid) = tid {
            payload["tid"] = tid;
        }
        sign_with(&json!({ "alg": "ES256", "kid": "ec" }), &payload, "ES256")
    }

    #[test]
    fn a_per_tenant_issuer_is_filled_from_the_verified_payload() {
        let verifier = per_tenant();
        for tid in ["t-1", "72f988bf-86f1-41af-91ab-2d7cd011db47"] {
            let iss = format!("https://login.example/{tid}/v2.0");
            let claims = block_on(verifier.verify(&tenant_token(&iss, Some(json!(tid))))).unwrap();
            assert_eq!(claims.get_str("tid"), Some(tid));
        }
        let refused = [
            // Signed for one tenant, naming another's issuer.
            ("https://login.example/t-2/v2.0", Some(json!("t-1"))),
            (TENANT_ISSUER, Some(json!("t-1"))),
            ("https://login.example/t-1/v2.0", None),
            ("https://login.example/t-1/v2.0", Some(json!(null))),
            ("https://login.example/t-1/v2.0", Some(json!(["t-1"]))),
            ("https://login.example//v2.0", Some(json!(""))),
            ("https://login.example/a/b/v2.0", Some(json!("a/b"))),
            ("https://login.example/../v2.0", Some(json!(".."))),
            (ISS, Some(json!("t-1"))),
        ];
        for (iss, tid) in refused {
            assert_eq!(
                block_on(verifier.verify(&tenant_token(iss, tid.clone()))).unwrap_err(),
                VerifyError::Issuer,
                "{iss} / {tid:?}"
            );
        }
    }

    #[test]
    fn a_tenant_claim_given_twice_is_malformed() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;

        use super::super::jwt::testing::signer;

        let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "RS256", "kid": "rsa" }).to_string());
        let payload = format!(
            r#"{{"iss":"https://login.example/a/v2.0","aud":"api","exp":{},"tid":"a","tid":"b"}}"#,
            NOW + 600
        );
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let signature = signer("RS256").sign(input.as_bytes()).unwrap();
        let twice = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
        assert_eq!(
            block_on(per_tenant().verify(&twice)).unwrap_err(),
            VerifyError::Malformed("payload is not a JSON object")
        );
    }

    #[test]
    fn the_signature_is_checked_before_the_tenant_is_read() {
        let t1 = tenant_token("https://login.example/t-1/v2.0", Some(json!("t-1")));
        let t2 = tenant_token("https://login.example/t-2/v2.0", Some(json!("t-2")));
        let (input, _) = t2.rsplit_once('.').unwrap();
        let (_, signature) = t1.rsplit_once('.').unwrap();
        assert_eq!(
            block_on(per_tenant().verify(&format!("{input}.{signature}"))).unwrap_err(),
            VerifyError::Signature
        );
    }

    #[test]
    fn the_cache_lifetime_honours_max_age_within_bounds() {
        assert_eq!(cache_lifetime(None, 600), 600);
        assert_eq!(cache_lifetime(Some(120), 600), 120);
        assert_eq!(cache_lifetime(Some(0), 600), MIN_MAX_AGE_SECS);
        assert_eq!(cache_lifetime(Some(u64::MAX), 600), MAX_MAX_AGE_SECS);
    }
}

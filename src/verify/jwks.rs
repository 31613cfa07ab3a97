//! [`JwksVerifier`]: JWT access tokens checked against the issuer's JSON Web Key Set.
//!
//! The key set is cached as prebuilt verifiers behind an `RwLock<Arc<_>>` whose lock is held
//! only to clone the `Arc`. Fetches never run on a request's future: a fetch runs on a short-lived
//! thread with its own actix runtime, so it works from any executor, cannot be cancelled by a
//! request being dropped, and a slow provider never stalls a worker. Requests that need the
//! fetch's result (unknown `kid`, nothing loaded yet) wait on a oneshot channel; everyone else
//! keeps using the keys they have.

use std::fmt;
use std::future::Future;
use std::mem;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread;
use std::time::Duration;

use awc::error::PayloadError;
use awc::http::header::{HeaderMap, ACCEPT, CACHE_CONTROL, CONTENT_LENGTH};
use futures::channel::oneshot;
use futures::future::LocalBoxFuture;
use serde::Deserialize;
use url::Url;

pub use super::jwt::Algorithm;
use super::jwt::{normalize_typ, AlgSet, Jws, KeySet, Policy};
use super::{Claims, TokenVerifier, VerifyError};
use crate::clock::{Clock, SystemClock};
use crate::config::{secure_url, ConfigError};

const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(10 * 60);
const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// More leeway than this stops being clock skew and starts being a longer token lifetime.
const MAX_LEEWAY: Duration = Duration::from_secs(10 * 60);
/// A provider's `max-age` is honoured within these bounds: `max-age=0` must not turn every
/// request into a fetch, and a year-long cache must not outlive a key rotation.
const MIN_MAX_AGE_SECS: u64 = 60;
const MAX_MAX_AGE_SECS: u64 = 24 * 60 * 60;

/// Verifies JWT access tokens with the keys of a JSON Web Key Set (JWKS).
///
/// Built with [`JwksVerifier::new`] (keys fetched from a URL), [`JwksVerifier::from_discovery`]
/// (the URL found in the issuer's metadata) or [`JwksVerifier::from_jwks`] (pinned keys), then
/// configured on the returned [`JwksVerifierBuilder`]. Cloning is cheap and clones share the
/// key cache.
///
/// # What a token must satisfy
/// - Compact JWS, at most 16 KiB, strict unpadded base64url, no `crit` header.
/// - `alg` in the allow-list (by default every [`Algorithm`]); `none` and `HS*` are always
///   refused. `jku`, `x5u`, `jwk` and `x5c` headers are ignored: keys come only from the key set.
/// - A key chosen by `kid` (without `kid`, the only key that fits `alg`). A `kid` naming a key of
///   another type, curve or JWK `alg` is [`VerifyError::Algorithm`].
/// - `exp` required; `exp`, `nbf`, `iat` checked with the leeway (default 60 s).
/// - `iss` equal to the configured issuer, byte for byte.
/// - `aud` holding one of the configured audiences, when any are configured.
/// - header `typ` equal to [`require_typ`](JwksVerifierBuilder::require_typ), when set.
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

/// Configures a [`JwksVerifier`]. Every setting but the issuer has a secure default.
#[must_use]
pub struct JwksVerifierBuilder {
    source: SourceSpec,
    issuer: Option<String>,
    audiences: Vec<String>,
    algorithms: Option<Vec<Algorithm>>,
    leeway: Duration,
    typ: Option<String>,
    cache_ttl: Duration,
    refetch_interval: Duration,
    fetch_timeout: Duration,
    max_response_bytes: usize,
    clock: Arc<dyn Clock>,
}

enum SourceSpec {
    Url(String),
    Static(String),
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
    /// Starts a verifier whose keys are fetched from `jwks_url` (https, or http on loopback).
    #[allow(clippy::new_ret_no_self)] // the seed's `jwksVerifier(url)` spelling; a builder follows
    pub fn new(jwks_url: impl Into<String>) -> JwksVerifierBuilder {
        JwksVerifierBuilder::with_source(SourceSpec::Url(jwks_url.into()))
    }

    /// Starts a verifier with a fixed key set given as JWKS JSON. Nothing is ever fetched; a
    /// token whose key is not in the set is refused.
    pub fn from_jwks(jwks_json: &str) -> JwksVerifierBuilder {
        JwksVerifierBuilder::with_source(SourceSpec::Static(jwks_json.to_owned()))
    }

    /// Finds the issuer's `jwks_uri` in its metadata and starts a verifier for it, with the
    /// issuer already set.
    ///
    /// Tries OpenID Connect Discovery (`{issuer}/.well-known/openid-configuration`), then
    /// RFC 8414 (`{origin}/.well-known/oauth-authorization-server{path}`). The document's
    /// `issuer` must equal `issuer` exactly (RFC 8414 §3.3), or it is not used.
    pub async fn from_discovery(
        issuer: impl Into<String>,
    ) -> Result<JwksVerifierBuilder, ConfigError> {
        let issuer = issuer.into();
        let issuer_url = secure_url("issuer", &issuer)?;
        let candidates = discovery_urls(&issuer, &issuer_url);
        let expected = issuer.clone();
        let found = on_fetch_thread(move || discover(candidates, expected))
            .await
            .map_err(|_| ConfigError::Discovery("the discovery fetch was abandoned".into()))?;
        Ok(Self::new(found?).issuer(issuer))
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
        // Cancelled only if the fetch thread vanished without completing, which its guard
        // prevents; answering rather than hanging costs nothing.
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
        let inner = Arc::clone(this);
        let spawned = thread::Builder::new()
            .name("jwks-fetch".into())
            .spawn(move || {
                // Built on the thread: if the spawn fails, no completion runs under our lock.
                let completion = Completion { inner, done: false };
                let outcome = block_on_fresh_runtime(fetch(url, timeout, limit))
                    .and_then(|fetched| fetched)
                    .map_err(|reason| {
                        VerifyError::Unavailable(format!("JWKS fetch failed: {reason}"))
                    })
                    .and_then(|fetched| completion.inner.load(fetched));
                completion.finish(outcome);
            });
        match spawned {
            Ok(_) => {
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
        let set = KeySet::from_jwks(&fetched.body, self.policy.algorithms)
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

/// Completes the flight when the fetch thread ends, even by unwinding, so no waiter hangs.
struct Completion {
    inner: Arc<Inner>,
    done: bool,
}

impl Completion {
    fn finish(mut self, outcome: FetchOutcome) {
        self.done = true;
        self.inner.complete(outcome);
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if !self.done {
            self.inner.complete(Err(VerifyError::Unavailable(
                "the key fetch ended unexpectedly".into(),
            )));
        }
    }
}

/// How long a fetched key set is used before a background refresh.
fn cache_lifetime(max_age: Option<u64>, cache_ttl: u64) -> u64 {
    max_age.map_or(cache_ttl, |age| {
        age.clamp(MIN_MAX_AGE_SECS, MAX_MAX_AGE_SECS)
    })
}

/// The `max-age` directive of `Cache-Control`, if any.
fn max_age(headers: &HeaderMap) -> Option<u64> {
    headers
        .get_all(CACHE_CONTROL)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|directive| {
            let (name, value) = directive.trim().split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("max-age") {
                return None;
            }
            value.trim().trim_matches('"').parse().ok()
        })
}

/// Runs `make()`'s future to completion on a new thread with its own actix runtime: `awc` needs
/// one, and its client is not `Send`, so the future is created there.
fn on_fetch_thread<F, Fut, T>(make: F) -> oneshot::Receiver<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let (sender, receiver) = oneshot::channel();
    let spawned = thread::Builder::new()
        .name("jwks-fetch".into())
        .spawn(move || {
            if let Ok(value) = block_on_fresh_runtime(make()) {
                let _ = sender.send(value);
            }
        });
    if let Err(e) = spawned {
        // The sender was dropped with the closure: the receiver reports cancellation.
        log::error!("cannot start a fetch thread: {e}");
    }
    receiver
}

fn block_on_fresh_runtime<T>(future: impl Future<Output = T>) -> Result<T, String> {
    let runtime = actix_rt::Runtime::new()
        .map_err(|e| format!("cannot start a runtime for the fetch: {e}"))?;
    Ok(runtime.block_on(future))
}

struct Fetched {
    body: Vec<u8>,
    max_age: Option<u64>,
}

/// GETs `url`: no redirects, 2xx only, at most `limit` bytes, all within `timeout`.
async fn fetch(url: Url, timeout: Duration, limit: usize) -> Result<Fetched, String> {
    let work = async {
        let client = awc::Client::builder()
            .timeout(timeout)
            .disable_redirects()
            .finish();
        let mut response = client
            .get(url.as_str())
            .insert_header((ACCEPT, "application/json"))
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("HTTP status {}", response.status()));
        }
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(format!("response larger than {limit} bytes"));
        }
        let max_age = max_age(response.headers());
        let body = response.body().limit(limit).await.map_err(|e| match e {
            PayloadError::Overflow => format!("response larger than {limit} bytes"),
            e => format!("reading the response failed: {e}"),
        })?;
        Ok(Fetched {
            body: body.to_vec(),
            max_age,
        })
    };
    actix_rt::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("no complete answer within {timeout:?}"))?
}

/// The metadata URLs to try for `issuer`: OpenID Connect Discovery first, then RFC 8414.
fn discovery_urls(issuer: &str, issuer_url: &Url) -> Vec<String> {
    let oidc = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let path = issuer_url.path().trim_end_matches('/');
    let origin = issuer_url.origin().ascii_serialization();
    let rfc8414 = format!("{origin}/.well-known/oauth-authorization-server{path}");
    if rfc8414 == oidc {
        vec![oidc]
    } else {
        vec![oidc, rfc8414]
    }
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: Option<String>,
}

async fn discover(candidates: Vec<String>, issuer: String) -> Result<String, ConfigError> {
    let mut failures = Vec::new();
    for candidate in candidates {
        let found = async {
            let url = Url::parse(&candidate).map_err(|e| e.to_string())?;
            let fetched = fetch(url, DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES).await?;
            let metadata: Metadata =
                serde_json::from_slice(&fetched.body).map_err(|e| format!("not metadata: {e}"))?;
            if metadata.issuer != issuer {
                return Err(format!("its issuer is {:?}", metadata.issuer));
            }
            metadata
                .jwks_uri
                .ok_or_else(|| "it has no jwks_uri".to_owned())
        };
        match found.await {
            Ok(jwks_uri) => return Ok(jwks_uri),
            Err(reason) => failures.push(format!("{candidate}: {reason}")),
        }
    }
    Err(ConfigError::Discovery(failures.join("; ")))
}

impl JwksVerifierBuilder {
    fn with_source(source: SourceSpec) -> Self {
        Self {
            source,
            issuer: None,
            audiences: Vec::new(),
            algorithms: None,
            leeway: DEFAULT_LEEWAY,
            typ: None,
            cache_ttl: DEFAULT_CACHE_TTL,
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            clock: Arc::new(SystemClock),
        }
    }

    /// The issuer tokens must name in `iss`, compared as an exact string. Required.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Adds an accepted audience. Once any is set, `aud` must contain one of them. Without any,
    /// `aud` is not checked; set one whenever the issuer serves more than this resource.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Adds several accepted audiences, as [`audience`](Self::audience).
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences.extend(audiences.into_iter().map(Into::into));
        self
    }

    /// The allowed algorithms. Default: all of [`Algorithm::ALL`], which in effect means those
    /// the key set holds keys for.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in whole seconds. Default 60 s, at
    /// most 10 min.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Requires the header `typ`, compared case-insensitively, `application/` optional
    /// (`require_typ("at+jwt")` for RFC 9068 access tokens). Default: not checked.
    pub fn require_typ(mut self, typ: &str) -> Self {
        self.typ = Some(typ.to_owned());
        self
    }

    /// How long fetched keys are used when the response has no `Cache-Control: max-age`.
    /// Default 10 min.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// The least time between two fetches started by tokens with an unknown `kid` (or by
    /// refreshes). Default 30 s.
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// The time allowed for a whole fetch, from connecting to the last byte. Default 5 s.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// The largest key set response accepted. Default 256 KiB.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// The clock for token times and cache expiry. Default [`SystemClock`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the settings and builds the verifier. Pinned keys are parsed here; fetched keys
    /// are loaded on first use.
    pub fn build(self) -> Result<JwksVerifier, ConfigError> {
        let issuer = self
            .issuer
            .filter(|issuer| !issuer.is_empty())
            .ok_or(ConfigError::Missing("issuer"))?;
        if self.audiences.iter().any(String::is_empty) {
            return Err(invalid("audience", "an audience cannot be empty"));
        }
        let algorithms = self.algorithms.map_or_else(AlgSet::all, AlgSet::from_iter);
        if algorithms.is_empty() {
            return Err(invalid("algorithms", "the allow-list is empty"));
        }
        if self.leeway > MAX_LEEWAY {
            return Err(invalid("leeway", "more than 10 minutes"));
        }
        let typ = match self.typ.as_deref().map(normalize_typ) {
            Some(typ) if typ.is_empty() => return Err(invalid("typ", "empty")),
            typ => typ,
        };
        let policy = Policy {
            issuer,
            audiences: self.audiences,
            algorithms,
            leeway: self.leeway.as_secs(),
            typ,
        };
        let (remote, keys) = match self.source {
            SourceSpec::Url(url) => {
                if self.cache_ttl.as_secs() == 0 {
                    return Err(invalid("cache_ttl", "less than a second"));
                }
                if self.fetch_timeout.is_zero() {
                    return Err(invalid("fetch_timeout", "zero"));
                }
                if self.max_response_bytes == 0 {
                    return Err(invalid("max_response_bytes", "zero"));
                }
                let remote = Remote {
                    url: secure_url("jwks_url", &url)?,
                    cache_ttl: self.cache_ttl.as_secs(),
                    refetch_interval: self.refetch_interval.as_secs(),
                    fetch_timeout: self.fetch_timeout,
                    max_response_bytes: self.max_response_bytes,
                };
                (Some(remote), None)
            }
            SourceSpec::Static(json) => {
                let set = KeySet::from_jwks(json.as_bytes(), algorithms)
                    .map_err(|e| invalid("jwks", &e.to_string()))?;
                let keys = CachedKeys {
                    set,
                    stale_at: None,
                };
                (None, Some(Arc::new(keys)))
            }
        };
        Ok(JwksVerifier {
            inner: Arc::new(Inner {
                policy,
                remote,
                clock: self.clock,
                keys: RwLock::new(keys),
                flight: Mutex::new(Flight::default()),
            }),
        })
    }
}

fn invalid(field: &'static str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        field,
        reason: reason.to_owned(),
    }
}

impl fmt::Debug for JwksVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            SourceSpec::Url(url) => url.as_str(),
            SourceSpec::Static(_) => "<pinned JWKS>",
        };
        f.debug_struct("JwksVerifierBuilder")
            .field("source", &source)
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("algorithms", &self.algorithms)
            .field("leeway", &self.leeway)
            .field("typ", &self.typ)
            .field("cache_ttl", &self.cache_ttl)
            .field("refetch_interval", &self.refetch_interval)
            .field("fetch_timeout", &self.fetch_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use awc::http::header::HeaderValue;
    use futures::executor::block_on;
    use serde_json::json;

    use super::super::jwt::tests::{good_payload, jwks, keys, sign_with, ISS, NOW};
    use super::*;

    struct Fixed(u64);
    impl Clock for Fixed {
        fn now(&self) -> u64 {
            self.0
        }
    }

    fn pinned() -> JwksVerifierBuilder {
        JwksVerifier::from_jwks(&jwks())
            .issuer(ISS)
            .audience("api")
            .clock(Arc::new(Fixed(NOW)))
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
    fn build_refuses_a_missing_issuer_and_bad_settings() {
        let no_issuer = JwksVerifier::from_jwks(&jwks()).build().unwrap_err();
        assert_eq!(no_issuer, ConfigError::Missing("issuer"));
        assert!(matches!(
            pinned().algorithms([]).build(),
            Err(ConfigError::Invalid {
                field: "algorithms",
                ..
            })
        ));
        assert!(matches!(
            pinned().leeway(Duration::from_secs(3600)).build(),
            Err(ConfigError::Invalid {
                field: "leeway",
                ..
            })
        ));
        assert!(matches!(
            pinned().audience("").build(),
            Err(ConfigError::Invalid {
                field: "audience",
                ..
            })
        ));
        assert!(matches!(
            pinned().require_typ("application/").build(),
            Err(ConfigError::Invalid { field: "typ", .. })
        ));
        let remote = |url: &str| JwksVerifier::new(url).issuer(ISS).build();
        assert!(matches!(
            remote("http://keys.example/jwks"),
            Err(ConfigError::InsecureUrl { .. })
        ));
        assert!(matches!(
            remote("jwks.json"),
            Err(ConfigError::InvalidUrl { .. })
        ));
        assert!(remote("https://keys.example/jwks").is_ok());
        assert!(matches!(
            JwksVerifier::new("https://keys.example/jwks")
                .issuer(ISS)
                .cache_ttl(Duration::ZERO)
                .build(),
            Err(ConfigError::Invalid {
                field: "cache_ttl",
                ..
            })
        ));
    }

    #[test]
    fn pinned_keys_must_parse_and_hold_a_usable_key() {
        let build = |json: &str| JwksVerifier::from_jwks(json).issuer(ISS).build();
        assert!(matches!(
            build("not json"),
            Err(ConfigError::Invalid { field: "jwks", .. })
        ));
        assert!(matches!(
            build(r#"{"keys":[]}"#),
            Err(ConfigError::Invalid { field: "jwks", .. })
        ));
        let hmac_only = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#;
        assert!(matches!(
            build(hmac_only),
            Err(ConfigError::Invalid { field: "jwks", .. })
        ));
        let mut ec = keys().ec.to_jwk_public_key();
        ec.set_key_id("ec");
        let ec_only = json!({ "keys": [serde_json::Value::Object(ec.into())] }).to_string();
        let rsa_only_allowed = JwksVerifier::from_jwks(&ec_only)
            .issuer(ISS)
            .algorithms([Algorithm::RS256]);
        assert!(matches!(
            rsa_only_allowed.build(),
            Err(ConfigError::Invalid { field: "jwks", .. })
        ));
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

    #[test]
    fn the_cache_lifetime_honours_max_age_within_bounds() {
        assert_eq!(cache_lifetime(None, 600), 600);
        assert_eq!(cache_lifetime(Some(120), 600), 120);
        assert_eq!(cache_lifetime(Some(0), 600), MIN_MAX_AGE_SECS);
        assert_eq!(cache_lifetime(Some(u64::MAX), 600), MAX_MAX_AGE_SECS);
    }

    #[test]
    fn max_age_is_read_from_any_cache_control_directive() {
        let parse = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for v in values {
                headers.append(CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
            }
            max_age(&headers)
        };
        assert_eq!(parse(&["public, max-age=300, must-revalidate"]), Some(300));
        assert_eq!(parse(&["no-transform", "Max-Age=\"42\""]), Some(42));
        assert_eq!(parse(&["s-maxage=10, no-cache"]), None);
        assert_eq!(parse(&["max-age=soon"]), None);
        assert_eq!(parse(&[]), None);
    }

    #[test]
    fn discovery_tries_openid_then_rfc8414_urls() {
        let urls = |issuer: &str| discovery_urls(issuer, &Url::parse(issuer).unwrap());
        assert_eq!(
            urls("https://id.example/tenant/"),
            [
                "https://id.example/tenant/.well-known/openid-configuration",
                "https://id.example/.well-known/oauth-authorization-server/tenant",
            ]
        );
        assert_eq!(
            urls("https://id.example"),
            [
                "https://id.example/.well-known/openid-configuration",
                "https://id.example/.well-known/oauth-authorization-server",
            ]
        );
    }
}

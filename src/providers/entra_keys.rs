//! The Entra ID signing keys, fetched once and shared by the verifiers of every tenant.
//!
//! A multi-tenant app accepts tokens whose issuer depends on the token's own tenant (`tid`),
//! while [`JwksVerifier`] checks one fixed issuer. So each tenant gets its own verifier, built
//! from the one key set fetched here (`JwksVerifier::from_jwks`): a new tenant costs building
//! a verifier from keys in memory, never a fetch, so tokens naming made-up tenants cannot make
//! us hammer Microsoft.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use actix_web::http::header;
use futures::channel::oneshot;

use crate::{
    http::api_client,
    verify::api::{classify, send_limited},
    Clock, JwksVerifier, VerifyError,
};

/// Keys are refetched after this long (and on an unknown `kid`).
const KEYS_TTL: u64 = 60 * 60;
/// The least time between two fetches for an unknown `kid`, and before a retry after a failure.
const RETRY_INTERVAL: u64 = 30;
/// Microsoft's key set carries certificates; a few dozen KiB.
const MAX_KEYS_BODY: usize = 256 * 1024;
/// Tenants whose verifier is kept; beyond this the map is emptied and refilled on demand.
/// Only tenants with a token that verified are kept, so made-up tenants fill nothing.
const MAX_TENANTS: usize = 1024;

/// One fetched key set.
pub(super) struct KeySet {
    json: String,
    pub(super) generation: u64,
    fetched_at: u64,
}

pub(super) struct TenantKeys {
    url: String,
    timeout: Duration,
    audiences: Vec<String>,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    generation: u64,
    /// A fetch is running: with keys, others keep using those; without, they wait for it.
    refreshing: bool,
    /// Requests waiting for the first key set, answered when the running fetch ends.
    waiters: Vec<oneshot::Sender<Result<Arc<KeySet>, VerifyError>>>,
    last_attempt: Option<u64>,
    last_failed: bool,
    /// Per tenant: the verifier built from the key set of that generation.
    verifiers: HashMap<String, (u64, JwksVerifier)>,
}

impl TenantKeys {
    pub(super) fn new(
        url: String,
        timeout: Duration,
        audiences: Vec<String>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            url,
            timeout,
            audiences,
            clock,
            state: Mutex::default(),
        }
    }

    pub(super) fn url(&self) -> &str {
        &self.url
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The keys to verify with now: the cached ones while fresh; otherwise one request
    /// refreshes them while the others keep the stale set. Before any keys are loaded, one
    /// request fetches and the others wait for it, so a burst of tokens (forged ones included)
    /// costs one fetch, not one each.
    pub(super) async fn current(&self) -> Result<Arc<KeySet>, VerifyError> {
        let now = self.clock.now();
        let stale = {
            let mut state = self.state();
            match state.keys.clone() {
                Some(keys) if now < keys.fetched_at.saturating_add(KEYS_TTL) => return Ok(keys),
                Some(keys) if state.refreshing || state.recently_tried(now) => return Ok(keys),
                Some(keys) => Ok(Some(keys)),
                None if state.refreshing => {
                    let (sender, receiver) = oneshot::channel();
                    state.waiters.push(sender);
                    Err(receiver)
                }
                None if state.last_failed && state.recently_tried(now) => {
                    return Err(VerifyError::Unavailable(
                        "Entra ID keys could not be fetched; retrying shortly".into(),
                    ))
                }
                None => Ok(None),
            }
        };
        let stale = match stale {
            Ok(stale) => stale,
            // Cancelled when the fetching request went away before the answer.
            Err(receiver) => {
                return receiver.await.unwrap_or_else(|_| {
                    Err(VerifyError::Unavailable(
                        "the Entra ID key fetch was abandoned".into(),
                    ))
                })
            }
        };
        match (self.fetch(now).await, stale) {
            (Ok(keys), _) => Ok(keys),
            (Err(e), Some(stale)) => {
                log::warn!("{e}; the last good Entra ID keys keep serving");
                Ok(stale)
            }
            (Err(e), None) => Err(e),
        }
    }

    /// Newer keys than generation `seen`, for a token whose `kid` it lacks: fetched unless a
    /// fetch was tried less than 30 s ago (then `None`).
    pub(super) async fn newer_than(&self, seen: u64) -> Result<Option<Arc<KeySet>>, VerifyError> {
        let now = self.clock.now();
        {
            let state = self.state();
            if let Some(keys) = state.keys.as_ref().filter(|k| k.generation != seen) {
                return Ok(Some(keys.clone()));
            }
            if state.refreshing || state.recently_tried(now) {
                return Ok(None);
            }
        }
        self.fetch(now).await.map(Some)
    }

    /// The verifier of tenant `tid` for `keys`: the kept one, or a new one that is kept only
    /// once [`verified`](Self::verified) says a token of that tenant passed it. Keeping it at
    /// once would let unsigned tokens naming made-up tenants fill the map with key sets and
    /// evict the verifiers of real tenants.
    pub(super) fn verifier(
        &self,
        keys: &KeySet,
        tid: &str,
        issuer: String,
    ) -> Result<JwksVerifier, VerifyError> {
        if let Some((generation, verifier)) = self.state().verifiers.get(tid) {
            if *generation == keys.generation {
                return Ok(verifier.clone());
            }
        }
        // Built outside the lock: parsing a key set takes longer than a lookup should wait.
        self.build(&keys.json, issuer)
    }

    /// Keeps `verifier`, of key set `generation`, for tenant `tid`, whose token it accepted.
    pub(super) fn verified(&self, tid: &str, generation: u64, verifier: &JwksVerifier) {
        let mut state = self.state();
        if state
            .verifiers
            .get(tid)
            .is_some_and(|(kept, _)| *kept == generation)
        {
            return;
        }
        if state.verifiers.len() >= MAX_TENANTS {
            state.verifiers.clear();
        }
        state
            .verifiers
            .insert(tid.to_owned(), (generation, verifier.clone()));
    }

    fn build(&self, json: &str, issuer: String) -> Result<JwksVerifier, VerifyError> {
        JwksVerifier::from_jwks(json)
            .issuer(issuer)
            .audiences(self.audiences.iter().cloned())
            .clock(self.clock.clone())
            .build()
            .map_err(|e| VerifyError::Unavailable(format!("Entra ID key set unusable: {e}")))
    }

    async fn fetch(&self, now: u64) -> Result<Arc<KeySet>, VerifyError> {
        {
            let mut state = self.state();
            state.last_attempt = Some(now);
            state.refreshing = true;
        }
        let guard = Refreshing {
            keys: self,
            active: true,
        };
        let outcome = self.download().await;
        let mut state = self.state();
        drop(guard.disarm(&mut state));
        state.last_failed = outcome.is_err();
        let outcome = outcome.map(|json| {
            state.generation += 1;
            let keys = Arc::new(KeySet {
                json,
                generation: state.generation,
                fetched_at: now,
            });
            log::debug!("Entra ID keys loaded from {}", self.url);
            state.keys = Some(keys.clone());
            keys
        });
        for waiter in std::mem::take(&mut state.waiters) {
            // A waiter whose request went away has dropped its receiver; nothing to do.
            let _ = waiter.send(outcome.clone());
        }
        outcome
    }

    async fn download(&self) -> Result<String, VerifyError> {
        let req = api_client()
            .get(self.url.as_str())
            .insert_header((header::ACCEPT, "application/json"));
        let answer = send_limited("Entra ID keys", req, None, self.timeout, MAX_KEYS_BODY).await?;
        let doc = classify("Entra ID keys", &answer, &[])?;
        let json = serde_json::Value::Object(doc).to_string();
        // A set that builds no verifier must not replace one that does.
        self.build(&json, "https://check.invalid".into())?;
        Ok(json)
    }
}

impl State {
    fn recently_tried(&self, now: u64) -> bool {
        self.last_attempt
            .is_some_and(|at| now < at.saturating_add(RETRY_INTERVAL))
    }
}

/// Clears `refreshing` when a fetch ends, or when the request running it goes away (then the
/// waiters are let go, with an error rather than a hang).
struct Refreshing<'a> {
    keys: &'a TenantKeys,
    active: bool,
}

impl Refreshing<'_> {
    fn disarm(mut self, state: &mut State) -> Self {
        if self.active {
            state.refreshing = false;
            self.active = false;
        }
        self
    }
}

impl Drop for Refreshing<'_> {
    fn drop(&mut self) {
        if self.active {
            let mut state = self.keys.state();
            state.refreshing = false;
            state.waiters.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemClock;

    const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k","alg":"ES256",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

    fn loaded() -> (TenantKeys, Arc<KeySet>) {
        let keys = TenantKeys::new(
            "https://login.invalid/keys".into(),
            Duration::from_secs(5),
            vec!["api".into()],
            Arc::new(SystemClock),
        );
        let set = Arc::new(KeySet {
            json: JWKS.into(),
            generation: 1,
            fetched_at: 0,
        });
        keys.state().keys = Some(set.clone());
        (keys, set)
    }

    fn tid(i: usize) -> String {
        format!("00000000-0000-0000-0000-{i:012}")
    }

    #[test]
    fn tenants_whose_tokens_never_verify_keep_no_verifier_and_evict_none() {
        let (keys, set) = loaded();
        let real = tid(0);
        let verifier = keys.verifier(&set, &real, "https://iss/0".into()).unwrap();
        keys.verified(&real, set.generation, &verifier);
        for i in 1..=MAX_TENANTS + 10 {
            keys.verifier(&set, &tid(i), format!("https://iss/{i}"))
                .unwrap();
        }
        let state = keys.state();
        assert_eq!(state.verifiers.len(), 1, "only the verified tenant is kept");
        assert!(state.verifiers.contains_key(&real));
    }
}

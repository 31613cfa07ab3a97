//! Clients identified by the https URL of their metadata document (Client ID Metadata
//! Documents, MCP authorization 2025-11-25): the document is fetched through the SSRF guard
//! (`http::guarded_client`), checked, and cached within bounds.
//!
//! What is refused, with `invalid_client` shown to the user and never a redirect:
//! - a URL that is not https with a path, that carries user information, a fragment or an
//!   IP-literal host (unless the operator allowed that host), a host ending with a dot (which
//!   would slip past the host lists), that is not exactly the text the
//!   URL parser gives back, or whose host the allow and deny lists refuse;
//! - a host that resolves to any non-public address; an answer that is a redirect, not 2xx,
//!   larger than 5 KiB (by default; [`ProxyLimits`]) or slower than 5 s in all;
//! - a document that is not a JSON object, whose `client_id` is not the URL exactly, without a
//!   `client_name` or `redirect_uris`, with redirect URIs the registration policy refuses, or
//!   that asks for a `token_endpoint_auth_method` other than `none` (unless its
//!   `token_endpoint_auth_methods_supported` lists `none`: it then signs in as a public client)
//!   or carries a `client_secret` (or `client_secret_expires_at`): a published document holds
//!   no secret.
//!
//! Documents are cached for their `Cache-Control: max-age` between 1 minute and 24 hours
//! (5 minutes without one), refusals for 30 seconds, so that a bad URL cannot make the proxy
//! fetch it in a loop; the cache is bounded, and so is the number of fetches in flight. A
//! fetch holds its slot until its name lookup has returned too (a lookup cannot be cancelled,
//! so giving the slot back at the 5 s bound would let stuck lookups pile up), and requests for
//! a document already being fetched wait for that fetch rather than starting another.

mod config;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use futures::channel::oneshot;
use openssl::ssl::SslConnector;
use serde_json::Value;
use url::{Host, Url};

use config::HostPattern;
pub use config::{ClientDocuments, ClientDocumentsBuilder};

use super::{
    client_metadata::{check_client_name, check_redirect_uris},
    error::OAuthError,
    limits::ProxyLimits,
};
use crate::{
    clock::Clock,
    http::{fetch_with, guarded_client, tls_connector, AddressGuard},
    validate::{invalid, ConfigError},
};

/// The whole fetch: connection, TLS, answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest client id URL accepted.
const MAX_URL: usize = 1024;
const MIN_TTL: u64 = 60;
const DEFAULT_TTL: u64 = 5 * 60;
const MAX_TTL: u64 = 24 * 3600;
const FAILURE_TTL: u64 = 30;

/// A `client_id` that names a metadata document rather than a registration: an https URL.
/// Sealed client ids and the operator's ids never start this way.
pub(crate) fn is_document_id(client_id: &str) -> bool {
    client_id.starts_with("https://")
}

/// A checked metadata document.
#[derive(Debug)]
pub(crate) struct ClientDocument {
    pub(crate) name: String,
    pub(crate) redirect_uris: Vec<String>,
    /// The URL's host: what the consent page shows as the verified domain.
    pub(crate) host: String,
}

/// The resolver of metadata-document clients that a built proxy shares across its workers.
pub(crate) struct DocumentClients {
    settings: ClientDocuments,
    guard: AddressGuard,
    tls: SslConnector,
    cache: Mutex<Cache>,
    in_flight: Arc<AtomicUsize>,
    clock: Arc<dyn Clock>,
    /// The document's size and its redirect URIs' number and length.
    limits: ProxyLimits,
}

type Outcome = Result<Arc<ClientDocument>, String>;

/// The checked outcomes, and the fetches under way with whoever waits for each. One lock for
/// both, so a request either finds the outcome, joins the fetch, or starts the only one.
#[derive(Default)]
struct Cache {
    entries: HashMap<String, Entry>,
    flights: HashMap<String, Vec<oneshot::Sender<Outcome>>>,
}

struct Entry {
    outcome: Outcome,
    expires: u64,
}

/// What a request does about a document it needs.
enum Step {
    Done(Outcome),
    Wait(oneshot::Receiver<Outcome>),
    Fetch(Arc<InFlight>),
    Busy,
}

impl DocumentClients {
    /// The resolver for `settings`, or `None` when they are [off](ClientDocuments::off).
    pub(crate) fn new(
        settings: ClientDocuments,
        clock: Arc<dyn Clock>,
        limits: ProxyLimits,
    ) -> Result<Option<Self>, ConfigError> {
        if !settings.enabled {
            return Ok(None);
        }
        let tls =
            tls_connector(&settings.extra_roots).map_err(|e| invalid("client_documents", &e))?;
        if settings.allow_loopback {
            log::warn!(
                "client metadata documents may be fetched from loopback addresses: for local \
                 testing only"
            );
        }
        Ok(Some(Self {
            guard: AddressGuard::new(settings.allow_loopback, settings.resolve.clone()),
            tls,
            cache: Mutex::new(Cache::default()),
            in_flight: Arc::new(AtomicUsize::new(0)),
            clock,
            settings,
            limits,
        }))
    }

    /// The checked document of `client_id`, from the cache or fetched.
    pub(crate) async fn resolve(&self, client_id: &str) -> Result<Arc<ClientDocument>, OAuthError> {
        let refused = |why: String| {
            log::debug!("client metadata document refused: {why}");
            OAuthError::InvalidClient(
                "the client's metadata document could not be used: check its URL and contents"
                    .into(),
            )
        };
        let url = self.document_url(client_id).map_err(refused)?;
        loop {
            let slot = match self.next_step(client_id) {
                Step::Done(outcome) => return outcome.map_err(refused),
                // A fetch that was given up (its request went away) sends nothing: try again.
                Step::Wait(receiver) => match receiver.await {
                    Ok(outcome) => return outcome.map_err(refused),
                    Err(oneshot::Canceled) => continue,
                },
                Step::Fetch(slot) => slot,
                Step::Busy => {
                    return Err(OAuthError::TemporarilyUnavailable(
                        "too many sign-ins at once: try again in a moment".into(),
                    ))
                }
            };
            let flight = Flight {
                clients: self,
                client_id,
                landed: false,
            };
            let now = self.clock.now();
            let (outcome, ttl) = match self.fetch(url, slot).await {
                Ok((document, ttl)) => (Ok(Arc::new(document)), ttl),
                Err(why) => (Err(why), FAILURE_TTL),
            };
            flight.land(&outcome, now.saturating_add(ttl));
            return outcome.map_err(refused);
        }
    }

    /// Under the cache's lock: the cached outcome, the fetch under way to wait for, or a slot
    /// for a new fetch (registered as under way), or none free.
    fn next_step(&self, client_id: &str) -> Step {
        let now = self.clock.now();
        let mut cache = self.lock();
        if let Some(entry) = cache.entries.get(client_id).filter(|e| e.expires > now) {
            return Step::Done(entry.outcome.clone());
        }
        if let Some(waiting) = cache.flights.get_mut(client_id) {
            let (sender, receiver) = oneshot::channel();
            waiting.push(sender);
            return Step::Wait(receiver);
        }
        match InFlight::take(&self.in_flight, self.settings.in_flight) {
            Some(slot) => {
                cache.flights.insert(client_id.to_owned(), Vec::new());
                Step::Fetch(Arc::new(slot))
            }
            None => Step::Busy,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The checks on the URL itself, before anything is fetched.
    fn document_url(&self, client_id: &str) -> Result<Url, String> {
        if client_id.len() > MAX_URL {
            return Err("the URL is too long".into());
        }
        let url = Url::parse(client_id).map_err(|e| format!("not a URL: {e}"))?;
        // No normalisation: the id is compared with the document's `client_id` as a string.
        if url.as_str() != client_id {
            return Err("the URL is not in its canonical form".into());
        }
        if url.scheme() != "https" {
            return Err("not https".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("the URL has user information".into());
        }
        if url.fragment().is_some() {
            return Err("the URL has a fragment".into());
        }
        if url.path() == "/" {
            return Err("the URL has no path".into());
        }
        let host = url.host_str().ok_or("the URL has no host")?.to_owned();
        // `evil.example.` is the same name as `evil.example` to DNS but not to the host
        // lists: refused rather than normalised, since the document's `client_id` must be the
        // URL as sent anyway.
        if host.ends_with('.') {
            return Err("the URL's host ends with a dot".into());
        }
        let s = &self.settings;
        if s.deny.iter().any(|p| p.matches(&host)) {
            return Err(format!("`{host}` is on the deny list"));
        }
        let listed = s.allow.iter().any(|p| p.matches(&host));
        if s.allow_listed_only && !listed {
            return Err(format!("`{host}` is not on the allow list"));
        }
        // An IP literal skips name resolution: it must be allowed by name, and public.
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(ip.into()),
            Some(Host::Ipv6(ip)) => Some(ip.into()),
            _ => None,
        };
        if let Some(ip) = literal {
            let named = s
                .allow
                .iter()
                .any(|p| matches!(p, HostPattern::Exact(_)) && p.matches(&host));
            if !named || !self.guard.allows(ip) {
                return Err("an IP-literal host that is not allowed".into());
            }
        }
        Ok(url)
    }

    /// Caches `outcome`, making room first: the expired entries go, then those closest to
    /// expiry, so the cache never holds more than its bound.
    fn store(&self, cache: &mut Cache, client_id: &str, outcome: &Outcome, expires: u64) {
        let now = self.clock.now();
        let cache = &mut cache.entries;
        if !cache.contains_key(client_id) && cache.len() >= self.settings.cache_entries {
            cache.retain(|_, e| e.expires > now);
            while cache.len() >= self.settings.cache_entries {
                let Some(first) = cache
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                cache.remove(&first);
            }
        }
        cache.insert(
            client_id.to_owned(),
            Entry {
                outcome: outcome.clone(),
                expires,
            },
        );
    }

    /// Fetches and checks the document; its cache lifetime comes with it. The name lookup
    /// holds `slot` too, so the slot is given back once both the fetch and its lookup are over.
    async fn fetch(&self, url: Url, slot: Arc<InFlight>) -> Result<(ClientDocument, u64), String> {
        let guard = self.guard.holding(slot);
        let client = guarded_client(&guard, &self.tls, FETCH_TIMEOUT);
        let fetched = fetch_with(
            &client,
            url.clone(),
            FETCH_TIMEOUT,
            self.limits.client_document,
        )
        .await?;
        let document = check_document(&url, &fetched.body, &self.limits)?;
        let ttl = fetched
            .max_age
            .unwrap_or(DEFAULT_TTL)
            .clamp(MIN_TTL, MAX_TTL);
        Ok((document, ttl))
    }
}

/// The document's rules (see the module docs). The error says why, for the log.
pub(super) fn check_document(
    url: &Url,
    body: &[u8],
    limits: &ProxyLimits,
) -> Result<ClientDocument, String> {
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(body) else {
        return Err("the document is not a JSON object".into());
    };
    if doc.get("client_id").and_then(Value::as_str) != Some(url.as_str()) {
        return Err("the document's `client_id` is not its URL".into());
    }
    let name = match doc.get("client_name") {
        Some(Value::String(name)) => check_client_name(Some(name))
            .map_err(|e| e.description().to_owned())?
            .ok_or("`client_name` is empty")?,
        _ => return Err("`client_name` is missing".into()),
    };
    let redirect_uris: Vec<String> = match doc.get("redirect_uris") {
        Some(Value::Array(uris)) => uris
            .iter()
            .map(|u| u.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or("`redirect_uris` holds a non-string")?,
        _ => return Err("`redirect_uris` is missing".into()),
    };
    check_redirect_uris(&redirect_uris, limits).map_err(|e| e.description().to_owned())?;
    // A document is public for anyone to read: a symmetric secret in it is no secret, and the
    // specification forbids one.
    if doc.contains_key("client_secret") || doc.contains_key("client_secret_expires_at") {
        return Err("the document carries a `client_secret`".into());
    }
    // A client may name the method it prefers and list the others it can use
    // (`token_endpoint_auth_methods_supported`, OpenID Connect RP Metadata Choices): ChatGPT's
    // document prefers `private_key_jwt` and lists `none`, which is the one method this
    // server has for documents, so such a client signs in as the public client it can be.
    let can_use_none = doc
        .get("token_endpoint_auth_methods_supported")
        .and_then(Value::as_array)
        .is_some_and(|methods| methods.iter().any(|m| m.as_str() == Some("none")));
    match doc.get("token_endpoint_auth_method") {
        None => {}
        Some(Value::String(m)) if m == "none" => {}
        Some(Value::String(_)) if can_use_none => {}
        Some(_) => return Err("only `token_endpoint_auth_method: none` is supported".into()),
    }
    Ok(ClientDocument {
        name,
        redirect_uris,
        host: url.host_str().unwrap_or_default().to_owned(),
    })
}

/// The fetch under way for one client id. Landing it caches the outcome and hands it to every
/// request that waited; dropping it unlanded (the request went away mid-fetch) only removes
/// it, so the waiters try again.
struct Flight<'a> {
    clients: &'a DocumentClients,
    client_id: &'a str,
    landed: bool,
}

impl Flight<'_> {
    fn land(mut self, outcome: &Outcome, expires: u64) {
        self.landed = true;
        let waiting = {
            let mut cache = self.clients.lock();
            self.clients
                .store(&mut cache, self.client_id, outcome, expires);
            cache.flights.remove(self.client_id)
        };
        for waiter in waiting.into_iter().flatten() {
            let _ = waiter.send(outcome.clone());
        }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        if !self.landed {
            self.clients.lock().flights.remove(self.client_id);
        }
    }
}

/// One of the bounded fetch slots, given back when dropped.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn take(counter: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(Arc::clone(counter)))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_document_default(url: &Url, body: &[u8]) -> Result<ClientDocument, String> {
        check_document(url, body, &ProxyLimits::default())
    }

    fn url() -> Url {
        Url::parse("https://app.example.com/oauth/client.json").unwrap()
    }

    fn doc(extra: Value) -> Vec<u8> {
        let mut d = serde_json::json!({
            "client_id": "https://app.example.com/oauth/client.json",
            "client_name": "App",
            "redirect_uris": ["http://127.0.0.1/cb"],
        });
        for (k, v) in extra.as_object().unwrap() {
            d[k] = v.clone();
        }
        serde_json::to_vec(&d).unwrap()
    }

    #[test]
    fn documents_are_checked_field_by_field() {
        assert!(check_document_default(&url(), &doc(serde_json::json!({}))).is_ok());
        let bad = [
            serde_json::json!({"client_id": "https://app.example.com/oauth/client.json/"}),
            serde_json::json!({"client_id": "https://APP.example.com/oauth/client.json"}),
            serde_json::json!({"client_name": null}),
            serde_json::json!({"client_name": "a\u{202e}b"}),
            serde_json::json!({"redirect_uris": []}),
            serde_json::json!({"redirect_uris": ["javascript:alert(1)"]}),
            serde_json::json!({"redirect_uris": "http://127.0.0.1/cb"}),
            serde_json::json!({"token_endpoint_auth_method": "client_secret_post"}),
            serde_json::json!({"token_endpoint_auth_method": "private_key_jwt"}),
            serde_json::json!({
                "token_endpoint_auth_method": "private_key_jwt",
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }),
            serde_json::json!({
                "token_endpoint_auth_method": "private_key_jwt",
                "token_endpoint_auth_methods_supported": "none",
            }),
            serde_json::json!({"client_secret": "s3cret"}),
            serde_json::json!({"client_secret_expires_at": 0}),
        ];
        for extra in bad {
            assert!(
                check_document_default(&url(), &doc(extra.clone())).is_err(),
                "{extra}"
            );
        }
        // ChatGPT's document: it prefers `private_key_jwt` and can use `none`.
        let chatgpt = serde_json::json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
            "token_endpoint_auth_signing_alg": "RS256",
            "jwks_uri": "https://app.example.com/oauth/jwks.json",
        });
        assert!(check_document_default(&url(), &doc(chatgpt)).is_ok());
        assert!(check_document_default(&url(), b"[1]").is_err());
        assert!(check_document_default(&url(), b"{").is_err());
    }

    #[test]
    fn the_cache_never_holds_more_than_its_bound_and_keeps_the_longest_lived() {
        let settings = ClientDocuments::builder().cache_entries(3).build().unwrap();
        let clock = crate::clock::ManualClock::at(1_000);
        let clients = DocumentClients::new(settings, clock, ProxyLimits::default())
            .unwrap()
            .unwrap();
        // Lifetimes in a scrambled order, all in the future.
        let lifetimes = [500u64, 100, 900, 300, 700, 200, 800, 600, 400, 1000];
        for (i, ttl) in lifetimes.iter().enumerate() {
            let mut cache = clients.lock();
            clients.store(
                &mut cache,
                &format!("id-{i}"),
                &Err("x".into()),
                1_000 + ttl,
            );
            assert!(cache.entries.len() <= 3, "{} held", cache.entries.len());
        }
        let mut kept: Vec<u64> = clients
            .lock()
            .entries
            .values()
            .map(|e| e.expires - 1_000)
            .collect();
        kept.sort_unstable();
        assert_eq!(kept, [800, 900, 1000]);
    }

    #[test]
    fn fetch_slots_are_bounded_and_given_back() {
        let counter = Arc::new(AtomicUsize::new(0));
        let a = InFlight::take(&counter, 2).unwrap();
        let _b = InFlight::take(&counter, 2).unwrap();
        assert!(InFlight::take(&counter, 2).is_none());
        drop(a);
        assert!(InFlight::take(&counter, 2).is_some());
    }
}

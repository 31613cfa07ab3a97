//! [`JwksVerifierBuilder`]: the settings of a [`JwksVerifier`], their secure defaults and checks.

use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::{CachedKeys, Flight, Inner, JwksVerifier, Remote};
use crate::clock::{Clock, SystemClock};
use crate::validate::{invalid, secure_url, ConfigError};
use crate::verify::check_shared_settings;
use crate::verify::client::ClientRule;
use crate::verify::jwt::{normalize_typ, AlgSet, Algorithm, IssuerPolicy, KeySet, Policy};

const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(10 * 60);
const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
pub(super) const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
pub(super) const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 * 1024;
const DEFAULT_MAX_KEYS: usize = 100;
/// The range of [`JwksVerifierBuilder::max_response_bytes`]: the smallest holds one RSA key
/// with its certificate, the largest is far past any provider's set (Microsoft's, the largest
/// seen, is a few dozen KiB) yet still bounds what one fetch reads.
const RESPONSE_BYTES_RANGE: std::ops::RangeInclusive<usize> = 1024..=4 * 1024 * 1024;
/// The range of [`JwksVerifierBuilder::max_keys`]: every key costs a parse when the set loads.
const MAX_KEYS_RANGE: std::ops::RangeInclusive<usize> = 1..=1000;

/// Configures a [`JwksVerifier`]. The key set, the issuer (or [issuer policy](IssuerPolicy))
/// and the audience (or an explicit [`any_audience`](Self::any_audience)) are required; every
/// other setting has a secure default.
#[must_use]
pub struct JwksVerifierBuilder {
    source: Option<SourceSpec>,
    issuer: Option<IssuerPolicy>,
    audiences: Vec<String>,
    any_audience: bool,
    client: Option<ClientRule>,
    refuse_client_credentials: bool,
    algorithms: Option<Vec<Algorithm>>,
    leeway: Duration,
    typ: Option<String>,
    cache_ttl: Duration,
    refetch_interval: Duration,
    fetch_timeout: Duration,
    max_response_bytes: usize,
    max_keys: usize,
    clock: Arc<dyn Clock>,
}

enum SourceSpec {
    Url(String),
    Static(String),
}

impl Default for JwksVerifierBuilder {
    fn default() -> Self {
        Self {
            source: None,
            issuer: None,
            audiences: Vec::new(),
            any_audience: false,
            client: None,
            refuse_client_credentials: false,
            algorithms: None,
            leeway: DEFAULT_LEEWAY,
            typ: None,
            cache_ttl: DEFAULT_CACHE_TTL,
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_keys: DEFAULT_MAX_KEYS,
            clock: Arc::new(SystemClock),
        }
    }
}

impl JwksVerifierBuilder {
    /// Fetch the keys from `url` (https, or http on loopback), on first use and then as the
    /// [cache settings](Self::cache_ttl) say. Replaces [`jwks`](Self::jwks).
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.source = Some(SourceSpec::Url(url.into()));
        self
    }

    /// Pin the keys: a fixed key set given as JWKS JSON. Nothing is ever fetched, and a token
    /// whose key is not in the set is refused. Replaces [`jwks_url`](Self::jwks_url).
    pub fn jwks(mut self, jwks_json: impl Into<String>) -> Self {
        self.source = Some(SourceSpec::Static(jwks_json.into()));
        self
    }

    /// The issuer tokens must name in `iss`, compared as an exact string. Required, unless
    /// an [`issuer_policy`](Self::issuer_policy) is set instead.
    pub fn issuer(self, issuer: impl Into<String>) -> Self {
        self.issuer_policy(IssuerPolicy::exact(issuer))
    }

    /// Which issuers are accepted: one ([`IssuerPolicy::exact`], as [`issuer`](Self::issuer)
    /// sets) or one per tenant of a multi-tenant provider ([`IssuerPolicy::per_tenant`]).
    /// Replaces any issuer set before.
    pub fn issuer_policy(mut self, policy: IssuerPolicy) -> Self {
        self.issuer = Some(policy);
        self
    }

    /// Adds an accepted audience: `aud` must contain one of them. An audience (or
    /// [`any_audience`](Self::any_audience)) is required.
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

    /// Accepts tokens whatever their `aud`, instead of requiring an [`audience`](Self::audience).
    ///
    /// **Risky**: the verifier then accepts every token the issuer signs for any API or
    /// application it serves, including those meant for other resource servers (which could
    /// replay tokens they receive here). Use it only with an issuer that serves this resource
    /// alone, or when the tokens carry no audience and another check (such as
    /// [`client_id`](Self::client_id)) binds them to you.
    pub fn any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// The client (the application registered with the issuer) tokens must have been issued
    /// to, when they name one: each of `azp`, `cid`, `appid` and `client_id` that a token
    /// carries must equal `client_id`, as [`check_client`](crate::verify::check_client) says.
    /// A token that names no client passes. Default: not checked.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client = Some(ClientRule {
            id: client_id.into(),
            required: None,
        });
        self
    }

    /// As [`client_id`](Self::client_id), and a token that names no client is refused as
    /// missing `claim`: for providers that name the client in every access token.
    pub(crate) fn required_client_id(mut self, client_id: &str, claim: &'static str) -> Self {
        self.client = Some(ClientRule {
            id: client_id.to_owned(),
            required: Some(claim),
        });
        self
    }

    /// Refuse machine-to-machine tokens (`gty` = `client-credentials`), for Auth0.
    pub(crate) fn refuse_client_credentials(mut self) -> Self {
        self.refuse_client_credentials = true;
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
    /// (`require_typ("at+jwt")` for RFC 9068 access tokens). Default: the header may be
    /// absent, `JWT` or `at+jwt`, and a token whose header names another type is refused.
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

    /// The largest key set response accepted, in bytes: a larger one is refused (the keys
    /// already loaded keep serving). Default 256 KiB; 1 KiB to 4 MiB.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// The most keys used from one key set; further keys are ignored (with a warning). Default
    /// 100 (1 to 1000): providers publish a handful, and each key costs a parse when the set
    /// loads.
    pub fn max_keys(mut self, keys: usize) -> Self {
        self.max_keys = keys;
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
            .ok_or(ConfigError::Missing("issuer"))?
            .compile()?;
        check_shared_settings(self.leeway, &self.audiences)?;
        match (self.audiences.is_empty(), self.any_audience) {
            (true, false) => {
                return Err(invalid(
                    "audience",
                    "required: set the audience your tokens carry with `.audience(..)` (your \
                     API identifier, or the client id for providers that use it), or accept \
                     any audience with `.any_audience()`, which is risky",
                ))
            }
            (false, true) => {
                return Err(invalid(
                    "audience",
                    "both `.audience(..)` and `.any_audience()` are set: choose one",
                ))
            }
            _ => {}
        }
        if let Some(client) = &self.client {
            if client.id.trim().is_empty() {
                return Err(invalid("client_id", "empty"));
            }
        }
        let algorithms = self.algorithms.map_or_else(AlgSet::all, AlgSet::from_iter);
        if algorithms.is_empty() {
            return Err(invalid("algorithms", "the allow-list is empty"));
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
            client: self.client,
            refuse_client_credentials: self.refuse_client_credentials,
        };
        if !MAX_KEYS_RANGE.contains(&self.max_keys) {
            return Err(invalid("max_keys", "between 1 and 1000"));
        }
        let (remote, keys) = match self.source.ok_or(ConfigError::Missing("jwks_url"))? {
            SourceSpec::Url(url) => {
                if self.cache_ttl.as_secs() == 0 {
                    return Err(invalid("cache_ttl", "less than a second"));
                }
                if self.fetch_timeout.is_zero() {
                    return Err(invalid("fetch_timeout", "zero"));
                }
                if !RESPONSE_BYTES_RANGE.contains(&self.max_response_bytes) {
                    return Err(invalid("max_response_bytes", "between 1 KiB and 4 MiB"));
                }
                let remote = Remote {
                    url: secure_url("jwks_url", &url)?,
                    cache_ttl: self.cache_ttl.as_secs(),
                    refetch_interval: self.refetch_interval.as_secs(),
                    fetch_timeout: self.fetch_timeout,
                    max_response_bytes: self.max_response_bytes,
                    max_keys: self.max_keys,
                };
                (Some(remote), None)
            }
            SourceSpec::Static(json) => {
                let set = KeySet::from_jwks(json.as_bytes(), algorithms, self.max_keys)
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

impl fmt::Debug for JwksVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            Some(SourceSpec::Url(url)) => url.as_str(),
            Some(SourceSpec::Static(_)) => "<pinned JWKS>",
            None => "<none>",
        };
        f.debug_struct("JwksVerifierBuilder")
            .field("source", &source)
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("any_audience", &self.any_audience)
            .field("client", &self.client)
            .field("refuse_client_credentials", &self.refuse_client_credentials)
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
    use serde_json::json;

    use super::super::tests::pinned;
    use super::*;
    use crate::verify::jwt::testing::{jwks, keys, ISS};

    #[test]
    fn build_refuses_a_missing_issuer_and_bad_settings() {
        let no_issuer = JwksVerifier::builder().jwks(jwks()).build().unwrap_err();
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
        let remote = |url: &str| {
            JwksVerifier::builder()
                .jwks_url(url)
                .issuer(ISS)
                .audience("api")
                .build()
        };
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
            JwksVerifier::builder()
                .jwks_url("https://keys.example/jwks")
                .issuer(ISS)
                .audience("api")
                .cache_ttl(Duration::ZERO)
                .build(),
            Err(ConfigError::Invalid {
                field: "cache_ttl",
                ..
            })
        ));
    }

    #[test]
    fn an_audience_or_an_explicit_any_audience_is_required() {
        let unbound = JwksVerifier::builder().jwks(jwks()).issuer(ISS);
        let ConfigError::Invalid { field, reason } = unbound.build().unwrap_err() else {
            panic!("not an invalid setting");
        };
        assert_eq!(field, "audience");
        assert!(
            reason.contains(".audience(..)") && reason.contains(".any_audience()"),
            "{reason}"
        );
        let any = JwksVerifier::builder()
            .jwks(jwks())
            .issuer(ISS)
            .any_audience();
        assert!(any.build().is_ok());
        let both = pinned().any_audience().build().unwrap_err();
        assert!(
            matches!(&both, ConfigError::Invalid { field: "audience", reason } if reason.contains("both")),
            "{both}"
        );
        assert!(matches!(
            pinned().client_id(" ").build(),
            Err(ConfigError::Invalid {
                field: "client_id",
                ..
            })
        ));
    }

    #[test]
    fn build_refuses_bad_issuer_templates() {
        let build = |template: &str, claim: &str| {
            JwksVerifier::builder()
                .jwks(jwks())
                .issuer_policy(IssuerPolicy::per_tenant(template, claim))
                .audience("api")
                .build()
        };
        assert!(build("https://login.example/{tenant}/v2.0", "tid").is_ok());
        assert!(build("http://127.0.0.1:8080/{tenant}/v2.0", "tid").is_ok());
        assert!(build("https://{tenant}.login.example/", "tid").is_ok());
        for (bad, claim) in [
            ("https://login.example/v2.0", "tid"),
            ("https://login.example/{tenant}/{tenant}/v2.0", "tid"),
            ("https://login.example/{tid}/v2.0", "tid"),
            ("https://login.example/{tenant}/{v}", "tid"),
            ("https://login.example/{tenant}/v2.0", ""),
        ] {
            assert!(
                matches!(
                    build(bad, claim),
                    Err(ConfigError::Invalid {
                        field: "issuer",
                        ..
                    })
                ),
                "{bad} / {claim:?}"
            );
        }
        assert!(matches!(
            build("http://login.example/{tenant}/v2.0", "tid"),
            Err(ConfigError::InsecureUrl { .. })
        ));
        assert!(matches!(
            build("{tenant}", "tid"),
            Err(ConfigError::InvalidUrl { .. })
        ));
        assert_eq!(
            build("", "tid").unwrap_err(),
            ConfigError::Missing("issuer")
        );
        // The issuer set last is the one used.
        let exact = JwksVerifier::builder()
            .jwks(jwks())
            .issuer_policy(IssuerPolicy::per_tenant("no template", "tid"))
            .issuer(ISS)
            .audience("api");
        assert!(exact.build().is_ok());
        let templated = JwksVerifier::builder()
            .jwks(jwks())
            .issuer("")
            .issuer_policy(IssuerPolicy::per_tenant(
                "https://l.example/{tenant}",
                "tid",
            ))
            .audience("api");
        assert!(templated.build().is_ok());
    }

    #[test]
    fn pinned_keys_must_parse_and_hold_a_usable_key() {
        let build = |json: &str| {
            JwksVerifier::builder()
                .jwks(json)
                .issuer(ISS)
                .audience("api")
                .build()
        };
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
        let rsa_only_allowed = JwksVerifier::builder()
            .jwks(&ec_only)
            .issuer(ISS)
            .audience("api")
            .algorithms([Algorithm::RS256]);
        assert!(matches!(
            rsa_only_allowed.build(),
            Err(ConfigError::Invalid { field: "jwks", .. })
        ));
    }
}

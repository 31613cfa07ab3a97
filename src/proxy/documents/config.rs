//! [`ClientDocuments`]: what the operator decides about clients identified by a URL.

use std::{fmt, io, net::IpAddr, sync::Arc};

use crate::{
    http::ResolveFn,
    validate::{invalid, ConfigError},
};

/// Default bound of the document cache, in documents (refusals included).
const DEFAULT_CACHE_ENTRIES: usize = 1024;
/// Default bound of the fetches in flight at once, across all workers.
const DEFAULT_IN_FLIGHT: usize = 16;

/// Settings for clients whose `client_id` is the https URL of their metadata document (Client
/// ID Metadata Documents, the registration the MCP specification prefers since 2025-11-25).
///
/// On by default, with every public host accepted: the document is fetched through the SSRF
/// guard (public addresses only, https, no redirects, 5 KiB, 5 s), and the consent page shows
/// its host as the client's verified domain. Restrict the hosts with
/// [`allow_hosts`](ClientDocumentsBuilder::allow_hosts) and
/// [`deny_hosts`](ClientDocumentsBuilder::deny_hosts), or turn the whole mechanism off with
/// [`ClientDocuments::off`].
///
/// ```
/// use actix_mcp_oauth::proxy::ClientDocuments;
///
/// let documents = ClientDocuments::builder()
///     .allow_hosts(["claude.ai", "*.vscode.dev"])
///     .allow_listed_only(true)
///     .build()
///     .unwrap();
/// ```
#[derive(Clone)]
pub struct ClientDocuments {
    pub(crate) enabled: bool,
    pub(crate) allow: Vec<HostPattern>,
    pub(crate) deny: Vec<HostPattern>,
    pub(crate) allow_listed_only: bool,
    pub(crate) allow_loopback: bool,
    pub(crate) extra_roots: Vec<Vec<u8>>,
    pub(crate) resolve: Option<Arc<ResolveFn>>,
    pub(crate) cache_entries: usize,
    pub(crate) in_flight: usize,
}

impl Default for ClientDocuments {
    fn default() -> Self {
        Self {
            enabled: true,
            allow: Vec::new(),
            deny: Vec::new(),
            allow_listed_only: false,
            allow_loopback: false,
            extra_roots: Vec::new(),
            resolve: None,
            cache_entries: DEFAULT_CACHE_ENTRIES,
            in_flight: DEFAULT_IN_FLIGHT,
        }
    }
}

impl fmt::Debug for ClientDocuments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientDocuments")
            .field("enabled", &self.enabled)
            .field("allow", &self.allow)
            .field("deny", &self.deny)
            .field("allow_listed_only", &self.allow_listed_only)
            .field("allow_loopback", &self.allow_loopback)
            .field("extra_roots", &self.extra_roots.len())
            .finish_non_exhaustive()
    }
}

impl ClientDocuments {
    /// A builder with the defaults: on, every public host, system roots, system resolver.
    pub fn builder() -> ClientDocumentsBuilder {
        ClientDocumentsBuilder(Ok(Self::default()))
    }

    /// No metadata-document clients: an https `client_id` is refused, and the metadata says
    /// `client_id_metadata_document_supported: false`.
    pub fn off() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }
}

/// Builds [`ClientDocuments`]; [`build`](Self::build) reports the first bad setting.
#[must_use]
pub struct ClientDocumentsBuilder(Result<ClientDocuments, ConfigError>);

impl fmt::Debug for ClientDocumentsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ClientDocumentsBuilder")
            .field(&self.0)
            .finish()
    }
}

impl ClientDocumentsBuilder {
    fn with(mut self, f: impl FnOnce(&mut ClientDocuments) -> Result<(), ConfigError>) -> Self {
        if let Ok(docs) = &mut self.0 {
            if let Err(e) = f(docs) {
                self.0 = Err(e);
            }
        }
        self
    }

    /// Hosts whose documents are accepted: `claude.ai` (that host exactly) or `*.example.com`
    /// (any host below `example.com`, not `example.com` itself). Without
    /// [`allow_listed_only`](Self::allow_listed_only), the list also names the hosts that may
    /// be IP literals.
    pub fn allow_hosts<I, S>(self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let hosts: Vec<String> = hosts.into_iter().map(|h| h.as_ref().to_owned()).collect();
        self.with(|d| {
            for host in hosts {
                d.allow.push(HostPattern::parse("allow_hosts", &host)?);
            }
            Ok(())
        })
    }

    /// Hosts whose documents are refused, in the same form; the deny list wins.
    pub fn deny_hosts<I, S>(self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let hosts: Vec<String> = hosts.into_iter().map(|h| h.as_ref().to_owned()).collect();
        self.with(|d| {
            for host in hosts {
                d.deny.push(HostPattern::parse("deny_hosts", &host)?);
            }
            Ok(())
        })
    }

    /// Accept documents only from the [allowed hosts](Self::allow_hosts) (default `false`).
    pub fn allow_listed_only(self, only: bool) -> Self {
        self.with(|d| {
            d.allow_listed_only = only;
            Ok(())
        })
    }

    /// Let document hosts resolve to loopback addresses (default `false`). **For local
    /// testing only**: with it, anyone who can sign in can make the server fetch from its own
    /// loopback services.
    pub fn allow_loopback(self, allow: bool) -> Self {
        self.with(|d| {
            d.allow_loopback = allow;
            Ok(())
        })
    }

    /// Trusts the certificates in `pem` as roots, besides the system's (a private CA).
    pub fn extra_root_certificate(self, pem: impl Into<Vec<u8>>) -> Self {
        let pem = pem.into();
        self.with(|d| {
            crate::http::tls_connector(std::slice::from_ref(&pem))
                .map_err(|e| invalid("extra_root_certificate", &e))?;
            d.extra_roots.push(pem);
            Ok(())
        })
    }

    /// Resolves host names with `resolve` instead of the system resolver: the addresses it
    /// returns are checked like any others. A seam for tests and for a resolver of your own.
    pub fn resolver<F>(self, resolve: F) -> Self
    where
        F: Fn(&str) -> io::Result<Vec<IpAddr>> + Send + Sync + 'static,
    {
        self.with(|d| {
            d.resolve = Some(Arc::new(resolve));
            Ok(())
        })
    }

    /// How many documents (and refusals) are cached at most (default 1024).
    pub fn cache_entries(self, entries: usize) -> Self {
        self.with(|d| {
            if entries == 0 {
                return Err(invalid("cache_entries", "must be at least 1"));
            }
            d.cache_entries = entries;
            Ok(())
        })
    }

    /// How many documents are fetched at once at most, across all workers (default 16);
    /// a sign-in past that is answered "temporarily unavailable".
    pub fn max_in_flight(self, fetches: usize) -> Self {
        self.with(|d| {
            if fetches == 0 {
                return Err(invalid("max_in_flight", "must be at least 1"));
            }
            d.in_flight = fetches;
            Ok(())
        })
    }

    /// The settings, or the first one that was wrong.
    pub fn build(self) -> Result<ClientDocuments, ConfigError> {
        self.0
    }
}

/// A host of the allow or deny list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostPattern {
    /// This host exactly (lower case).
    Exact(String),
    /// Any host ending with this suffix, which starts with a dot.
    Below(String),
}

impl HostPattern {
    fn parse(field: &'static str, text: &str) -> Result<Self, ConfigError> {
        let text = text.trim().to_ascii_lowercase();
        let (below, host) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest.to_owned()),
            None => (false, text.clone()),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let is_ip = !below && (host.parse::<IpAddr>().is_ok() || host.starts_with('['));
        if host.is_empty() || !(is_ip || host.split('.').all(label_ok)) {
            return Err(invalid(
                field,
                &format!("`{text}` is not a host name, an IP address or `*.suffix`"),
            ));
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok(if below {
            Self::Below(format!(".{host}"))
        } else {
            Self::Exact(host)
        })
    }

    /// Whether `host` (lower case, as the URL parser gives it) matches.
    pub(crate) fn matches(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match self {
            Self::Exact(exact) => host == exact,
            Self::Below(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_match_exactly_or_below() {
        let exact = HostPattern::parse("allow_hosts", "Claude.AI").unwrap();
        assert!(exact.matches("claude.ai"));
        assert!(!exact.matches("evil-claude.ai") && !exact.matches("x.claude.ai"));
        let below = HostPattern::parse("allow_hosts", "*.vscode.dev").unwrap();
        assert!(below.matches("insiders.vscode.dev"));
        assert!(!below.matches("vscode.dev") && !below.matches("evilvscode.dev"));
        let ip = HostPattern::parse("allow_hosts", "[::1]").unwrap();
        assert!(ip.matches("[::1]"));
        for bad in [
            "",
            "*",
            "*.",
            "a..b",
            "https://claude.ai",
            "claude.ai/x",
            "*.*.x",
        ] {
            assert!(HostPattern::parse("allow_hosts", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_settings_fail_the_build() {
        assert!(ClientDocuments::builder().cache_entries(0).build().is_err());
        assert!(ClientDocuments::builder().max_in_flight(0).build().is_err());
        assert!(ClientDocuments::builder()
            .extra_root_certificate(b"not pem".to_vec())
            .build()
            .is_err());
        assert!(ClientDocuments::builder().build().unwrap().enabled);
        assert!(!ClientDocuments::off().enabled);
    }
}

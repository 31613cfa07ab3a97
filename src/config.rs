use derive_more::{Display, Error};
use url::{Host, Url};

/// A configuration mistake, reported by a builder's `build()` (or a constructor) before the
/// server starts.
#[derive(Debug, Display, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required setting was not given.
    #[display("`{_0}` is required")]
    Missing(#[error(not(source))] &'static str),
    /// A URL setting does not parse, or is not absolute.
    #[display("`{field}` is not an absolute URL: {reason}")]
    InvalidUrl {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A URL setting uses plain `http` on a host other than loopback.
    #[display("`{field}` must use https (plain http is allowed only on loopback): {url}")]
    InsecureUrl {
        /// The setting.
        field: &'static str,
        /// The URL given.
        url: String,
    },
    /// A setting has a value that cannot work.
    #[display("`{field}`: {reason}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The issuer's discovery document could not be fetched or read.
    #[display("discovery failed: {_0}")]
    Discovery(#[error(not(source))] String),
}

/// Parses a URL setting: absolute, `https`, or `http` on a loopback host, no fragment.
pub(crate) fn secure_url(field: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::InvalidUrl {
        field,
        reason: e.to_string(),
    })?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(ConfigError::InvalidUrl {
            field,
            reason: "no host".into(),
        });
    }
    if url.fragment().is_some() {
        return Err(ConfigError::InvalidUrl {
            field,
            reason: "a fragment is not allowed".into(),
        });
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(ConfigError::InsecureUrl {
            field,
            url: value.to_owned(),
        }),
        other => Err(ConfigError::InvalidUrl {
            field,
            reason: format!("scheme `{other}` is not http(s)"),
        }),
    }
}

/// True for `localhost`, `127.0.0.0/8` and `[::1]`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_and_loopback_http_are_accepted() {
        assert!(secure_url("x", "https://example.com/a").is_ok());
        assert!(secure_url("x", "http://127.0.0.1:8080").is_ok());
        assert!(secure_url("x", "http://localhost:3000/mcp").is_ok());
        assert!(secure_url("x", "http://[::1]:3000").is_ok());
    }

    #[test]
    fn plain_http_elsewhere_and_odd_urls_are_refused() {
        assert!(matches!(
            secure_url("x", "http://example.com"),
            Err(ConfigError::InsecureUrl { .. })
        ));
        assert!(matches!(
            secure_url("x", "http://127.0.0.1.evil.com"),
            Err(ConfigError::InsecureUrl { .. })
        ));
        assert!(secure_url("x", "/relative").is_err());
        assert!(secure_url("x", "ftp://example.com").is_err());
        assert!(secure_url("x", "https://example.com/#frag").is_err());
    }
}

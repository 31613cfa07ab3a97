//! Configuration checks shared by every builder: [`ConfigError`] and the URL, path and scope
//! rules that settings must satisfy, and where a protected resource's metadata lives. Nothing
//! here knows about the rest of the crate.

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

pub(crate) fn required(field: &'static str, value: Option<String>) -> Result<String, ConfigError> {
    value.ok_or(ConfigError::Missing(field))
}

/// A [`ConfigError::Invalid`] for `field`: the one constructor every builder uses.
pub(crate) fn invalid(field: &'static str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        field,
        reason: reason.to_owned(),
    }
}

/// This server's public URL, as [`secure_url`] and the origin only: the MCP endpoint's path is
/// a setting of its own, and the proxy's endpoints sit at the root.
pub(crate) fn public_origin(value: &str) -> Result<Url, ConfigError> {
    let public = secure_url("public_url", value.trim())?;
    if public.path() != "/" || public.query().is_some() {
        return Err(invalid(
            "public_url",
            "give the origin only (scheme, host, port); the MCP path goes in mcp_path",
        ));
    }
    Ok(public)
}

/// `/mcp` or `/mcp/` → `/mcp`; anything that is not a plain absolute path is refused.
pub(crate) fn mcp_path(path: &str) -> Result<String, ConfigError> {
    let trimmed = path.trim_end_matches('/');
    let plain = trimmed.starts_with('/')
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b))
        && !trimmed.split('/').any(|seg| seg == "." || seg == "..");
    if !plain {
        return Err(invalid(
            "mcp_path",
            "must be an absolute path below the root, like /mcp",
        ));
    }
    Ok(trimmed.to_owned())
}

/// The path under which RFC 9728 §3.1 puts protected resource metadata.
const PROTECTED_RESOURCE_METADATA: &str = "/.well-known/oauth-protected-resource";

/// Where the metadata of the resource whose URL has the path `resource_path` is served (RFC 9728
/// §3.1): the well-known path inserted before the resource's path, so `/mcp` gives
/// `/.well-known/oauth-protected-resource/mcp`, and the root `/` the well-known path alone. The
/// challenges point there and the metadata routes answer there, so both derive it here.
pub(crate) fn resource_metadata_path(resource_path: &str) -> String {
    match resource_path {
        "/" => PROTECTED_RESOURCE_METADATA.to_owned(),
        path => format!("{PROTECTED_RESOURCE_METADATA}{path}"),
    }
}

/// RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`.
pub(crate) fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Every one of `scopes` is a scope token.
pub(crate) fn scope_tokens(scopes: &[String]) -> Result<(), ConfigError> {
    match scopes.iter().find(|s| !is_scope_token(s)) {
        Some(bad) => Err(invalid("scopes", &format!("`{bad}` is not a scope token"))),
        None => Ok(()),
    }
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

/// An RFC 3986 unreserved string that is not a dot segment: whatever URL it is put into, it
/// stays one path segment and means what it says (a realm, a tenant, a server id).
pub(crate) fn is_path_segment(value: &str) -> bool {
    !value.is_empty()
        && value != "."
        && value != ".."
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

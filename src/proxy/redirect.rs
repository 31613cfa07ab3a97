//! Redirect-URI policy: what `/register` accepts (RFC 7591 §2, RFC 6749 §3.1.2, RFC 8252 §7,
//! RFC 9700 §4.1) and how `/authorize` matches a requested URI against a registered one.
//!
//! Checks run on the raw string first and only then on what the `url` crate parses, because the
//! parser follows the WHATWG URL standard and silently repairs exactly the things an attacker
//! relies on: it strips tabs and newlines, turns `\` into `/`, removes dot-segments, decodes
//! percent-escapes in hosts, and reads `https:///evil.com` as `https://evil.com/`. A URI that
//! needs repairing is refused, so the string we store is the string a browser will follow.
//!
//! Registered URIs are stored and compared exactly as the client sent them; nothing here
//! normalises them.
//!
//! `http://[::ffff:127.0.0.1]` (an IPv4-mapped IPv6 address) is refused: RFC 8252 §7.3 names only
//! `127.0.0.1` and `[::1]`, a client listening on `127.0.0.1` does not receive connections made to
//! the mapped address unless its socket is dual-stack, no native client registers such a URI, and
//! alternative spellings of loopback are a classic way around allow-lists. The same reasoning
//! refuses `http://127.1`, `http://0x7f.0.0.1` and `http://2130706433`: only the canonical
//! spelling of a host is accepted.

use std::net::{Ipv4Addr, Ipv6Addr};

use derive_more::{Display, Error};
use url::{Host, Url};

use crate::validate::is_loopback;

/// Longest redirect URI accepted, in bytes. Generous for real callbacks, small enough that a
/// registration (sealed into the client id) stays a reasonable size.
const MAX_LEN: usize = 2048;

/// Schemes that run code, read local data or do not carry an HTTP redirect. Compared in lower
/// case. `view-source` and `intent` (Android Chrome's app launcher) are refused for the same
/// reason as `javascript`: the browser would do something other than deliver the code.
const FORBIDDEN_SCHEMES: &[&str] = &[
    "javascript",
    "vbscript",
    "data",
    "file",
    "about",
    "blob",
    "filesystem",
    "ws",
    "wss",
    "ftp",
    "view-source",
    "intent",
];

/// Parameters the authorization response adds to the redirect URI. A registered URI that already
/// carries one lets an attacker plant a value the client may read first.
const RESPONSE_PARAMETERS: &[&str] = &[
    "code",
    "state",
    "iss",
    "error",
    "error_description",
    "error_uri",
];

/// Why a redirect URI is refused. The `Display` text is sent to the client as the
/// `error_description` of an `invalid_redirect_uri` error, so it never repeats the client's input
/// (only fixed names from this module's own lists).
#[derive(Debug, Display, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectUriError {
    /// The URI is the empty string.
    #[display("redirect URI is empty")]
    Empty,
    /// The URI is longer than the limit.
    #[display("redirect URI is longer than {MAX_LEN} bytes")]
    TooLong,
    /// A space, control character, backslash, non-ASCII or other character not allowed in a URI.
    #[display(
        "redirect URI contains a character not allowed in a URI (space, control character, \
         backslash, non-ASCII...)"
    )]
    InvalidCharacter,
    /// A `%` not followed by two hex digits, or an escaped NUL or control character.
    #[display("redirect URI contains a malformed percent-escape or an escaped control character")]
    InvalidPercentEncoding,
    /// No scheme: a relative or scheme-relative reference.
    #[display("redirect URI must be absolute (start with a scheme such as `https:`)")]
    NotAbsolute,
    /// The scheme is not valid RFC 3986 syntax, or is a single letter (a Windows drive).
    #[display("redirect URI scheme is not valid")]
    InvalidScheme,
    /// A scheme that is never acceptable for a redirect.
    #[display("the `{_0}` scheme is not allowed in a redirect URI")]
    ForbiddenScheme(#[error(not(source))] &'static str),
    /// Plain `http` on a host other than loopback.
    #[display(
        "plain http is allowed only on loopback hosts (127.0.0.1, [::1], localhost); use https"
    )]
    InsecureHttp,
    /// `http`/`https` without `//host`, or an empty host.
    #[display("redirect URI has no host")]
    MissingHost,
    /// A host that is not a DNS name or IP literal in canonical form (wildcards included).
    #[display(
        "redirect URI host must be a DNS name or IP address in canonical form (no wildcards, no \
         percent-escapes)"
    )]
    InvalidHost,
    /// A port that is empty, not a number, or out of range.
    #[display("redirect URI port is not valid")]
    InvalidPort,
    /// User information (`user@`, `user:password@`) before the host.
    #[display("redirect URI must not contain user information (`user@`)")]
    Userinfo,
    /// A fragment (`#`), forbidden by RFC 6749 §3.1.2.
    #[display("redirect URI must not contain a fragment (`#`)")]
    Fragment,
    /// A `.` or `..` path segment, or an escaped `.`, `/` or `\` in the path.
    #[display("redirect URI path must not contain `.` or `..` segments or escaped `.`, `/`, `\\`")]
    DotSegment,
    /// A private-use scheme without a path starting with `/` (`myapp:callback`).
    #[display(
        "a private-use redirect URI must have a path starting with `/` \
         (e.g. `com.example.app:/callback`)"
    )]
    OpaquePrivateUse,
    /// The query already carries a parameter the authorization response adds.
    #[display("redirect URI query must not contain the `{_0}` parameter")]
    ReservedParameter(#[error(not(source))] &'static str),
}

/// Checks a redirect URI offered at registration (or configured for a static client).
///
/// Accepts `https` with a real host, `http` only on `127.0.0.0/8`, `[::1]` and `localhost`, and
/// private-use schemes of native apps (`com.example.app:/cb`, `cursor://...`); refuses
/// everything listed on [`RedirectUriError`].
pub(crate) fn validate_redirect_uri(uri: &str) -> Result<(), RedirectUriError> {
    use RedirectUriError as E;

    if uri.is_empty() {
        return Err(E::Empty);
    }
    if uri.len() > MAX_LEN {
        return Err(E::TooLong);
    }
    // From here on the string is ASCII, so byte offsets are char boundaries.
    if !uri.bytes().all(is_uri_char) {
        return Err(E::InvalidCharacter);
    }
    let raw = RawUri::split(uri)?;
    let scheme = raw.scheme.to_ascii_lowercase();
    if let Some(name) = FORBIDDEN_SCHEMES.iter().copied().find(|s| *s == scheme) {
        return Err(E::ForbiddenScheme(name));
    }
    if uri.contains('#') {
        return Err(E::Fragment);
    }
    check_percent_escapes(uri)?;
    let web = scheme == "http" || scheme == "https";

    let host = match raw.authority {
        Some(authority) => Some(check_authority(authority)?),
        None if web => return Err(E::MissingHost),
        None if !raw.path.starts_with('/') => return Err(E::OpaquePrivateUse),
        None => None,
    };
    check_path(raw.path)?;
    if let Some(query) = raw.query {
        check_query(query)?;
    }

    // What still fails to parse is a host the WHATWG rules refuse (`evil.com.127.0.0.1`, a bad
    // IDNA label): the port and every other part were checked above.
    let url = Url::parse(uri).map_err(|_| E::InvalidHost)?;
    // Defence in depth: the raw checks above should already have refused these.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(E::Userinfo);
    }
    if url.fragment().is_some() {
        return Err(E::Fragment);
    }

    if web {
        if scheme == "http" && !is_loopback(&url) {
            return Err(E::InsecureHttp);
        }
        match url.host() {
            Some(Host::Ipv4(ip)) if ip.is_unspecified() || ip.is_broadcast() => {
                return Err(E::InvalidHost)
            }
            Some(Host::Ipv6(ip)) if ip.is_unspecified() => return Err(E::InvalidHost),
            Some(_) => {}
            None => return Err(E::MissingHost),
        }
    }
    // The parser rewrites numeric and alternative host spellings (`127.1`, `0x7f.0.0.1`,
    // `[0:0::1]`); only a host it leaves unchanged, up to case, is the host the browser will use.
    if let Some(raw_host) = host {
        match url.host_str() {
            Some(parsed) if parsed.eq_ignore_ascii_case(raw_host) => {}
            _ => return Err(E::InvalidHost),
        }
    }
    Ok(())
}

/// Whether `requested` (from `/authorize` or `/token`) matches `registered`, a URI that passed
/// [`validate_redirect_uri`].
///
/// Simple string comparison (RFC 3986 §6.2.1, RFC 9700 §4.1.3): no normalisation, no case
/// folding, no prefix matching. The one exception is RFC 8252 §7.3: when `registered` is `http` on
/// a loopback host, `requested` may differ in the port only (present, absent or another number),
/// with the scheme, host literal, path and query byte-for-byte the same.
pub(crate) fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Some(reg), Some(req)) = (
        LoopbackUri::split(registered),
        LoopbackUri::split(requested),
    ) else {
        return false;
    };
    reg.scheme == req.scheme
        && reg.host == req.host
        && reg.rest == req.rest
        // The port is the only part taken from the request: make sure the whole URI is sound.
        && validate_redirect_uri(registered).is_ok()
        && validate_redirect_uri(requested).is_ok()
}

/// RFC 3986 unreserved, reserved and `%`. Everything else (controls, space, `\`, `"`, `<`, `>`,
/// `^`, `` ` ``, `{`, `|`, `}`, DEL, non-ASCII) is refused rather than escaped for the client.
fn is_uri_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b)
}

/// Every `%` starts a two-hex-digit escape, and none encodes a control character (`%00`, CR, LF
/// would end up in a `Location` header or a client's file path).
fn check_percent_escapes(uri: &str) -> Result<(), RedirectUriError> {
    let bytes = uri.as_bytes();
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|b| *b == b'%') {
        let at = i + offset;
        let value = bytes
            .get(at + 1..at + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .ok_or(RedirectUriError::InvalidPercentEncoding)?;
        if value < 0x20 || value == 0x7f {
            return Err(RedirectUriError::InvalidPercentEncoding);
        }
        i = at + 3;
    }
    Ok(())
}

/// The raw components of an absolute URI without a fragment (RFC 3986 §3).
struct RawUri<'a> {
    scheme: &'a str,
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
}

impl<'a> RawUri<'a> {
    fn split(uri: &'a str) -> Result<Self, RedirectUriError> {
        let (scheme, rest) = uri.split_once(':').ok_or(RedirectUriError::NotAbsolute)?;
        if scheme.is_empty() || scheme.contains(['/', '?']) {
            return Err(RedirectUriError::NotAbsolute);
        }
        if !is_scheme(scheme) || scheme.len() < 2 {
            return Err(RedirectUriError::InvalidScheme);
        }
        let (authority, path_and_query) = match rest.strip_prefix("//") {
            Some(after) => {
                let end = after.find(['/', '?']).unwrap_or(after.len());
                (Some(&after[..end]), &after[end..])
            }
            None => (None, rest),
        };
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        Ok(RawUri {
            scheme,
            authority,
            path,
            query,
        })
    }
}

/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` (RFC 3986 §3.1).
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

/// Checks the raw authority and returns its host.
fn check_authority(authority: &str) -> Result<&str, RedirectUriError> {
    use RedirectUriError as E;

    // Raw check: `https://good.com%2F@evil.com` parses with host `evil.com`.
    if authority.contains('@') {
        return Err(E::Userinfo);
    }
    if authority.contains('%') {
        return Err(E::InvalidHost);
    }
    let (host, port) = split_host_port(authority).ok_or(E::InvalidHost)?;
    if host.is_empty() {
        return Err(E::MissingHost);
    }
    if let Some(port) = port {
        if port.is_empty()
            || port.len() > 5
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().is_err()
        {
            return Err(E::InvalidPort);
        }
    }
    let valid = match host.strip_prefix('[') {
        Some(inner) => inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<Ipv6Addr>().is_ok()),
        None => is_dns_name(host),
    };
    if valid {
        Ok(host)
    } else {
        Err(E::InvalidHost)
    }
}

/// Splits `host[:port]`, where host may be a bracketed IPv6 literal. `None` when there is text
/// between `]` and the port, or more than one `:` outside brackets.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, after) = authority.split_at(close + 1);
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    match authority.split_once(':') {
        Some((_, port)) if port.contains(':') => None,
        Some((host, port)) => Some((host, Some(port))),
        None => Some((authority, None)),
    }
}

/// Dot-separated non-empty labels of letters, digits, `-` and `_` (so no `*`, no empty label, no
/// trailing dot). IPv4 literals pass here and are checked for canonical form after parsing.
fn is_dns_name(host: &str) -> bool {
    host.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// No `.`/`..` segments, and none hidden behind escapes (`%2e`, `%2f`, `%5c`) that a server or a
/// client's router may decode later.
fn check_path(path: &str) -> Result<(), RedirectUriError> {
    let dot_segment = path.split('/').any(|seg| seg == "." || seg == "..");
    let lower = path.to_ascii_lowercase();
    let escaped = ["%2e", "%2f", "%5c"].iter().any(|e| lower.contains(e));
    if dot_segment || escaped {
        Err(RedirectUriError::DotSegment)
    } else {
        Ok(())
    }
}

/// Refuses a query that already carries an authorization-response parameter.
fn check_query(query: &str) -> Result<(), RedirectUriError> {
    for pair in query.split('&') {
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        if let Some(reserved) = RESPONSE_PARAMETERS
            .iter()
            .copied()
            .find(|p| p.eq_ignore_ascii_case(name))
        {
            return Err(RedirectUriError::ReservedParameter(reserved));
        }
    }
    Ok(())
}

/// An `http` URI on a loopback IP literal or `localhost`, cut around its port.
struct LoopbackUri<'a> {
    scheme: &'a str,
    host: &'a str,
    /// Path and query (and anything after), compared byte for byte.
    rest: &'a str,
}

impl<'a> LoopbackUri<'a> {
    fn split(uri: &'a str) -> Option<Self> {
        let (scheme, after) = uri.split_once("://")?;
        if !scheme.eq_ignore_ascii_case("http") {
            return None;
        }
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(end);
        let (host, port) = split_host_port(authority)?;
        if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        // The literal as written, parsed strictly (std refuses `127.1` and friends).
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
            || host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse::<Ipv6Addr>().ok())
                .is_some_and(|ip| ip == Ipv6Addr::LOCALHOST);
        loopback.then_some(LoopbackUri { scheme, host, rest })
    }
}

#[cfg(test)]
mod tests {
    use super::RedirectUriError as E;
    use super::*;

    /// (reason, URI) pairs that registration must accept.
    #[rustfmt::skip]
    const ACCEPTED: &[(&str, &str)] = &[
        ("plain https", "https://app.example.com/oauth/callback"),
        ("https with port", "https://app.example.com:8443/cb"),
        ("https without path", "https://app.example.com"),
        ("https with query", "https://app.example.com/cb?tenant=a&x=1"),
        ("https query may hold an escaped slash", "https://app.example.com/cb?next=%2Fhome"),
        ("https path with an escaped space", "https://app.example.com/my%20cb"),
        ("https dotted but not dot segment", "https://app.example.com/.well-known/cb"),
        ("https claude.ai callback", "https://claude.ai/api/mcp/auth_callback"),
        ("https upper-case scheme", "HTTPS://app.example.com/cb"),
        ("https mixed-case host", "https://App.Example.com/cb"),
        ("https on an IPv4 address", "https://203.0.113.7/cb"),
        ("https on an IPv6 address", "https://[2001:db8::1]/cb"),
        ("https host with underscore", "https://my_host.example.com/cb"),
        ("http on 127.0.0.1", "http://127.0.0.1/callback"),
        ("http on 127.0.0.1 with port", "http://127.0.0.1:33418/"),
        ("http on 127.0.0.0/8", "http://127.1.2.3:8080/cb"),
        ("http on [::1] with port", "http://[::1]:8080/callback"),
        ("http on [::1] without port", "http://[::1]/callback"),
        ("http on localhost", "http://localhost:3000/callback"),
        ("http on upper-case localhost", "http://LOCALHOST:3000/callback"),
        ("mixed-case http scheme", "HtTp://127.0.0.1:9000/cb"),
        ("cursor private-use scheme", "cursor://anysphere.cursor-retrieval/oauth/callback"),
        ("claude private-use scheme", "claude://claude.ai/oauth/callback"),
        ("vscode private-use scheme", "vscode://vscode.mcp/did-authenticate"),
        ("reverse-domain scheme, RFC 8252", "com.example.app:/oauth2redirect/example-provider"),
        ("private-use scheme with + and -", "my-app+dev://callback"),
    ];

    /// (reason, URI, expected error) triples that registration must refuse.
    #[rustfmt::skip]
    const REFUSED: &[(&str, &str, RedirectUriError)] = &[
        ("empty", "", E::Empty),
        ("relative path", "/callback", E::NotAbsolute),
        ("scheme-relative", "//evil.com/cb", E::NotAbsolute),
        ("host:port without scheme", "127.0.0.1:3000/cb", E::InvalidScheme),
        ("localhost:port reads as opaque scheme", "localhost:3000/cb", E::OpaquePrivateUse),
        ("windows drive letter", "c:/Windows/System32/calc.exe", E::InvalidScheme),
        ("javascript", "javascript:alert(1)", E::ForbiddenScheme("javascript")),
        ("JavaScript mixed case", "JavaScript:alert(1)", E::ForbiddenScheme("javascript")),
        ("javascript with slashes", "javascript://app.example.com/%0aalert(1)", E::ForbiddenScheme("javascript")),
        ("javascript odd case with slashes", "jAvAsCrIpT://app.example.com/x", E::ForbiddenScheme("javascript")),
        ("data", "data:text/html,hi", E::ForbiddenScheme("data")),
        ("DATA upper case", "DATA:text/html,hi", E::ForbiddenScheme("data")),
        ("file", "file:///etc/passwd", E::ForbiddenScheme("file")),
        ("vbscript", "vbscript:msgbox(1)", E::ForbiddenScheme("vbscript")),
        ("about", "about:blank", E::ForbiddenScheme("about")),
        ("blob", "blob:https://app.example.com/uuid", E::ForbiddenScheme("blob")),
        ("filesystem", "filesystem:https://app.example.com/temporary/x", E::ForbiddenScheme("filesystem")),
        ("ws", "ws://localhost:3000/cb", E::ForbiddenScheme("ws")),
        ("wss", "wss://app.example.com/cb", E::ForbiddenScheme("wss")),
        ("ftp", "FTP://ftp.example.com/cb", E::ForbiddenScheme("ftp")),
        ("leading space hides javascript", " javascript:alert(1)", E::InvalidCharacter),
        ("tab inside scheme", "java\tscript:alert(1)", E::InvalidCharacter),
        ("plain http on a public host", "http://app.example.com/cb", E::InsecureHttp),
        ("loopback address as a subdomain", "http://127.0.0.1.evil.com/cb", E::InsecureHttp),
        ("localhost as a subdomain", "http://localhost.evil.com/cb", E::InsecureHttp),
        ("localhost with trailing dot", "http://localhost./cb", E::InvalidHost),
        ("localhost as userinfo", "http://localhost@evil.com/cb", E::Userinfo),
        ("loopback with port as userinfo", "http://127.0.0.1:80@evil.com/cb", E::Userinfo),
        ("encoded slash before @", "https://good.com%2F@evil.com/cb", E::Userinfo),
        ("https userinfo", "https://user@app.example.com/cb", E::Userinfo),
        ("https user and password", "https://user:pw@app.example.com/cb", E::Userinfo),
        ("ipv4-mapped ipv6 loopback", "http://[::ffff:127.0.0.1]:8080/cb", E::InsecureHttp),
        ("shortened ipv4 loopback", "http://127.1/cb", E::InvalidHost),
        ("hex ipv4 loopback", "http://0x7f.0.0.1/cb", E::InvalidHost),
        ("decimal ipv4 loopback", "http://2130706433/cb", E::InvalidHost),
        ("octal ipv4 loopback", "http://0177.0.0.01/cb", E::InvalidHost),
        ("numeric last label", "http://evil.com.127.0.0.1/cb", E::InvalidHost),
        ("uncompressed ipv6 loopback", "http://[0:0:0:0:0:0:0:1]/cb", E::InvalidHost),
        ("unspecified address over http", "http://0.0.0.0:8080/cb", E::InsecureHttp),
        ("unspecified address over https", "https://0.0.0.0/cb", E::InvalidHost),
        ("unspecified ipv6 over https", "https://[::]/cb", E::InvalidHost),
        ("escaped dot in host", "http://localhost%2eevil.com/cb", E::InvalidHost),
        ("ipv6 zone id", "http://[fe80::1%25eth0]/cb", E::InvalidHost),
        ("garbage after ipv6 literal", "http://[::1]8080/cb", E::InvalidHost),
        ("wildcard subdomain", "https://*.example.com/cb", E::InvalidHost),
        ("wildcard host", "https://*/cb", E::InvalidHost),
        ("empty label in host", "https://app..example.com/cb", E::InvalidHost),
        ("empty host", "https:///cb", E::MissingHost),
        ("nothing after https://", "https://", E::MissingHost),
        ("empty host with port", "https://:443/cb", E::MissingHost),
        ("https without //", "https:evil.com/cb", E::MissingHost),
        ("https with one slash", "https:/evil.com/cb", E::MissingHost),
        ("private-use with empty host", "myapp:///cb", E::MissingHost),
        ("empty port", "https://app.example.com:/cb", E::InvalidPort),
        ("port out of range", "http://127.0.0.1:65536/cb", E::InvalidPort),
        ("non-numeric port", "http://127.0.0.1:80a/cb", E::InvalidPort),
        ("fragment", "https://app.example.com/cb#frag", E::Fragment),
        ("empty fragment", "https://app.example.com/cb#", E::Fragment),
        ("fragment hides @", "http://evil.com#@localhost/cb", E::Fragment),
        ("parent segment", "https://app.example.com/cb/../admin", E::DotSegment),
        ("current segment", "https://app.example.com/./cb", E::DotSegment),
        ("trailing parent segment", "https://app.example.com/cb/..", E::DotSegment),
        ("encoded parent segment", "https://app.example.com/%2e%2e/admin", E::DotSegment),
        ("upper-case encoded dot", "https://app.example.com/%2E/cb", E::DotSegment),
        ("encoded slash in path", "https://app.example.com/cb%2f..%2fadmin", E::DotSegment),
        ("encoded backslash in path", "https://app.example.com/cb%5cadmin", E::DotSegment),
        ("dot segment in private-use path", "com.example.app:/cb/../x", E::DotSegment),
        ("backslash", "https://app.example.com\\@evil.com/cb", E::InvalidCharacter),
        ("space in path", "https://app.example.com/my cb", E::InvalidCharacter),
        ("newline in host", "https://app.exam\nple.com/cb", E::InvalidCharacter),
        ("NUL byte", "https://app.example.com/cb\0", E::InvalidCharacter),
        ("DEL byte", "https://app.example.com/cb\x7f", E::InvalidCharacter),
        ("non-ASCII host", "https://exämple.com/cb", E::InvalidCharacter),
        ("angle brackets", "https://app.example.com/<script>", E::InvalidCharacter),
        ("escaped NUL", "https://app.example.com/cb%00", E::InvalidPercentEncoding),
        ("escaped CR LF", "https://app.example.com/cb%0d%0aSet-Cookie:x", E::InvalidPercentEncoding),
        ("malformed escape", "https://app.example.com/cb%zz", E::InvalidPercentEncoding),
        ("truncated escape", "https://app.example.com/cb%2", E::InvalidPercentEncoding),
        ("opaque private-use", "myapp:callback", E::OpaquePrivateUse),
        ("oob urn", "urn:ietf:wg:oauth:2.0:oob", E::OpaquePrivateUse),
        ("mailto", "mailto:someone@example.com", E::OpaquePrivateUse),
        ("scheme starting with a digit", "1app:/cb", E::InvalidScheme),
        ("invalid char in scheme", "my_app:/cb", E::InvalidScheme),
        ("planted code parameter", "https://app.example.com/cb?code=evil", E::ReservedParameter("code")),
        ("planted state parameter", "https://app.example.com/cb?a=1&STATE=x", E::ReservedParameter("state")),
    ];

    #[test]
    fn registration_policy_accepts_the_listed_uris() {
        let failures: Vec<String> = ACCEPTED
            .iter()
            .filter_map(|(reason, uri)| {
                validate_redirect_uri(uri)
                    .err()
                    .map(|e| format!("{reason} ({uri:?}): refused with {e:?}"))
            })
            .collect();
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn registration_policy_refuses_the_listed_uris_for_the_stated_reason() {
        let failures: Vec<String> = REFUSED
            .iter()
            .filter_map(|(reason, uri, expected)| match validate_redirect_uri(uri) {
                Err(e) if e == *expected => None,
                other => Some(format!(
                    "{reason} ({uri:?}): expected {expected:?}, got {other:?}"
                )),
            })
            .collect();
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn uris_over_the_length_limit_are_refused() {
        let base = "https://app.example.com/";
        let at_limit = format!("{base}{}", "a".repeat(MAX_LEN - base.len()));
        assert_eq!(validate_redirect_uri(&at_limit), Ok(()));
        let over = format!("{at_limit}a");
        assert_eq!(validate_redirect_uri(&over), Err(E::TooLong));
    }

    #[test]
    fn error_messages_do_not_repeat_the_uri() {
        for (reason, uri, _) in REFUSED {
            if let Err(e) = validate_redirect_uri(uri) {
                let message = e.to_string();
                for part in [
                    "evil",
                    "app.example",
                    "alert",
                    "passwd",
                    "script>",
                    "someone",
                ] {
                    assert!(
                        !message.contains(part),
                        "{reason}: {message:?} echoes {part:?}"
                    );
                }
            }
        }
    }

    /// (reason, registered, requested, expected match).
    #[rustfmt::skip]
    const MATCHES: &[(&str, &str, &str, bool)] = &[
        ("identical https", "https://app.example.com/cb", "https://app.example.com/cb", true),
        ("identical private-use", "com.example.app:/cb", "com.example.app:/cb", true),
        ("loopback port added", "http://127.0.0.1/cb", "http://127.0.0.1:49152/cb", true),
        ("loopback port changed", "http://127.0.0.1:3000/cb", "http://127.0.0.1:4000/cb", true),
        ("loopback port removed", "http://127.0.0.1:3000/cb", "http://127.0.0.1/cb", true),
        ("ipv6 loopback port changed", "http://[::1]:3000/cb", "http://[::1]:51000/cb", true),
        ("localhost port changed", "http://localhost:3000/callback", "http://localhost:3999/callback", true),
        ("loopback port changed, no path", "http://127.0.0.1:3000", "http://127.0.0.1:4000", true),
        ("loopback port changed, same query", "http://127.0.0.1:1/cb?a=1", "http://127.0.0.1:2/cb?a=1", true),
        ("https port changed", "https://app.example.com:443/cb", "https://app.example.com:8443/cb", false),
        ("https port added", "https://app.example.com/cb", "https://app.example.com:8443/cb", false),
        ("https on loopback keeps its port", "https://127.0.0.1:3000/cb", "https://127.0.0.1:4000/cb", false),
        ("http off loopback keeps its port", "http://203.0.113.7:3000/cb", "http://203.0.113.7:4000/cb", false),
        ("localhost vs 127.0.0.1", "http://localhost:3000/cb", "http://127.0.0.1:3000/cb", false),
        ("127.0.0.1 vs [::1]", "http://127.0.0.1:3000/cb", "http://[::1]:3000/cb", false),
        ("other loopback address", "http://127.0.0.1:3000/cb", "http://127.0.0.2:3000/cb", false),
        ("loopback path changed", "http://127.0.0.1:3000/cb", "http://127.0.0.1:4000/other", false),
        ("loopback query changed", "http://127.0.0.1:3000/cb?a=1", "http://127.0.0.1:4000/cb?a=2", false),
        ("loopback query added", "http://127.0.0.1:3000/cb", "http://127.0.0.1:4000/cb?a=1", false),
        ("loopback trailing slash", "http://127.0.0.1:3000/cb", "http://127.0.0.1:4000/cb/", false),
        ("loopback fragment added", "http://127.0.0.1:3000/cb", "http://127.0.0.1:4000/cb#x", false),
        ("loopback scheme case", "http://127.0.0.1:3000/cb", "HTTP://127.0.0.1:4000/cb", false),
        ("loopback host case", "http://localhost:3000/cb", "http://LOCALHOST:4000/cb", false),
        ("loopback empty port", "http://127.0.0.1:3000/cb", "http://127.0.0.1:/cb", false),
        ("loopback port out of range", "http://127.0.0.1:3000/cb", "http://127.0.0.1:99999/cb", false),
        ("loopback port smuggles userinfo", "http://127.0.0.1/cb", "http://127.0.0.1:1@evil.com/cb", false),
        ("loopback to https", "http://127.0.0.1:3000/cb", "https://127.0.0.1:3000/cb", false),
        ("trailing slash", "https://app.example.com/cb", "https://app.example.com/cb/", false),
        ("path prefix", "https://app.example.com/cb", "https://app.example.com/cb/evil", false),
        ("query appended", "https://app.example.com/cb", "https://app.example.com/cb?x=1", false),
        ("path case", "https://app.example.com/cb", "https://app.example.com/CB", false),
        ("host case not folded", "https://app.example.com/cb", "https://APP.example.com/cb", false),
        ("default port not normalised", "https://app.example.com/cb", "https://app.example.com:443/cb", false),
        ("dot segment not normalised", "https://app.example.com/cb", "https://app.example.com/x/../cb", false),
        ("escape not decoded", "https://app.example.com/cb", "https://app.example.com/%63b", false),
        ("empty requested", "https://app.example.com/cb", "", false),
    ];

    #[test]
    fn matching_is_exact_except_for_the_loopback_port() {
        let failures: Vec<String> = MATCHES
            .iter()
            .filter_map(|(reason, registered, requested, expected)| {
                let got = redirect_uri_matches(registered, requested);
                (got != *expected).then(|| {
                    format!(
                        "{reason}: {registered:?} vs {requested:?}: expected {expected}, got {got}"
                    )
                })
            })
            .collect();
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn the_port_exception_needs_a_valid_registered_uri() {
        // A static client configured with a bad loopback URI gets exact matching only.
        let registered = "http://127.0.0.1:3000/cb/../x";
        assert!(redirect_uri_matches(registered, registered));
        assert!(!redirect_uri_matches(
            registered,
            "http://127.0.0.1:4000/cb/../x"
        ));
    }

    #[test]
    fn no_single_character_insertion_panics() {
        let templates = [
            "https://app.example.com:8443/cb?a=1",
            "http://[::1]:3000/cb",
            "com.example.app:/cb",
        ];
        let extra = ['é', '€', '\u{0}', '\u{feff}'];
        let chars = (0u8..=0x7f).map(char::from).chain(extra);
        for c in chars {
            for template in templates {
                for at in (0..=template.len()).filter(|i| template.is_char_boundary(*i)) {
                    let mut uri = template.to_owned();
                    uri.insert(at, c);
                    let _ = validate_redirect_uri(&uri);
                    let _ = redirect_uri_matches(template, &uri);
                    let _ = redirect_uri_matches(&uri, template);
                }
            }
        }
    }
}

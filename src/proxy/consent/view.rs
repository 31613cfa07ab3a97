//! The view model of the consent page: every value already escaped for HTML.

use std::{fmt, time::Duration};

use url::Url;

use super::Branding;
use crate::validate::is_loopback;

/// Text that is safe in HTML element content and in double-quoted attribute values: text the
/// crate escaped, or markup the crate built. `Display` writes it unchanged.
///
/// It cannot be built outside the crate, so a [`ConsentView`] only ever holds escaped values.
#[derive(Clone, PartialEq, Eq)]
pub struct SafeHtml(String);

impl SafeHtml {
    /// `text` with `& < > " '` escaped.
    pub(crate) fn escape(text: &str) -> Self {
        Self(escape_html(text))
    }

    /// Markup the crate assembled from escaped parts.
    fn markup(markup: String) -> Self {
        Self(markup)
    }

    /// The escaped text or markup.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SafeHtml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SafeHtml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// One scope the client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScopeView {
    /// The scope token, e.g. `email`.
    pub name: SafeHtml,
    /// What it allows: the description of the server's [scope model](crate::scope), or for
    /// the scopes the crate knows (`openid`, `email`, `profile`, and `offline_access`, listed
    /// when a refresh token will be issued).
    pub description: Option<SafeHtml>,
    /// This browser approved the scope for this application before (a step-up lists it with
    /// the scopes it adds).
    pub approved_before: bool,
}

/// What the consent page shows, for a [replacement template](crate::proxy::OAuthProxyBuilder::consent_template).
///
/// A replacement page must contain a form that posts to [`form_action`](Self::form_action)
/// with [`hidden_inputs`](Self::hidden_inputs) inside it and two submit buttons named `action`,
/// one with `value="approve"` and one with `value="deny"` (the built-in page also gives them
/// `id="approve"` and `id="deny"`, so that your end-to-end tests can find them the same way on
/// either page). The page is served with a
/// `Content-Security-Policy` that allows no script at all, styles only in `<style>` elements
/// carrying `nonce="{style_nonce}"`, and images only from the logo's origin; it must not be
/// framed, and the form works without JavaScript.
///
/// Show the user, at least, the client's name (unverified unless
/// [`client_name_verified`](Self::client_name_verified)), the
/// [`redirect_host`](Self::redirect_host) (the host that will receive the authorization: the
/// fact a user can check), the [`redirect_warning`](Self::redirect_warning) when there is one,
/// the [`verified_domain`](Self::verified_domain) apart from the name and the
/// [`local_only_warning`](Self::local_only_warning) when they are set, and the scopes. The
/// built-in page also keeps Approve inert for 0.8 s after it renders (a CSS animation of
/// `pointer-events`), against double-click hijacking; a replacement page should do the same.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsentView {
    /// The server's name ([`ConsentBranding::server_name`](crate::proxy::ConsentBranding::server_name)).
    pub server_name: SafeHtml,
    /// The logo, when one is configured.
    pub logo_url: Option<SafeHtml>,
    /// `#rgb` or `#rrggbb`.
    pub accent_color: SafeHtml,
    /// `#rgb` or `#rrggbb`.
    pub background_color: SafeHtml,
    /// `#rgb` or `#rrggbb`.
    pub text_color: SafeHtml,
    /// The registered `client_name`, the id of a static client, or "An unnamed application".
    pub client_name: SafeHtml,
    /// True for a static client (configured by the operator); false for a registered client,
    /// whose name is whatever it chose to call itself and proves nothing.
    pub client_name_verified: bool,
    /// For a client identified by its metadata document's URL: that URL's host, which TLS
    /// verified (`claude.ai`), unlike the name. Show it apart from the name.
    pub verified_domain: Option<SafeHtml>,
    /// Set when every redirect URI of the client is on the user's computer: any program
    /// there can claim any name.
    pub local_only_warning: Option<SafeHtml>,
    /// The full redirect URI the code will be sent to.
    pub redirect_uri: SafeHtml,
    /// Its host, in full and with the port when there is one (`claude.ai`,
    /// `127.0.0.1:33418`); for a URI without a host, its scheme (`com.example.app:`).
    pub redirect_host: SafeHtml,
    /// Why the redirect URI deserves a second look: set when it is neither https nor loopback.
    pub redirect_warning: Option<SafeHtml>,
    /// True when the redirect URI is on this computer (loopback).
    pub redirect_is_loopback: bool,
    /// The scopes requested from the identity provider.
    pub scopes: Vec<ScopeView>,
    /// Where the form posts to.
    pub form_action: SafeHtml,
    /// Hidden inputs (the sealed request and the CSRF token): markup to place inside the form.
    pub hidden_inputs: SafeHtml,
    /// The nonce that lets a `<style>` element through the page's CSP.
    pub style_nonce: SafeHtml,
    /// In days, how long an approval is remembered in this browser; `None` when it is not.
    pub remember_days: Option<u64>,
}

impl ConsentView {
    /// The crate's own page for this view: a replacement template may wrap or reuse it.
    pub fn default_html(&self) -> String {
        super::page::render(self)
    }
}

/// The request the page is about, as the consent route knows it.
pub(crate) struct ViewInput<'a> {
    pub(crate) branding: &'a Branding,
    pub(crate) client_name: Option<&'a str>,
    pub(crate) static_client: bool,
    pub(crate) verified_domain: Option<&'a str>,
    pub(crate) local_only: bool,
    pub(crate) redirect_uri: &'a str,
    pub(crate) scopes: &'a [String],
    /// The description of each scope, from the scope model.
    pub(crate) describe: &'a dyn Fn(&str) -> Option<String>,
    /// The scopes this browser approved for this client before.
    pub(crate) approved_before: &'a [String],
    pub(crate) request: &'a str,
    pub(crate) csrf: &'a str,
    pub(crate) style_nonce: &'a str,
    pub(crate) remember: Option<Duration>,
}

impl ConsentView {
    pub(crate) fn new(input: ViewInput<'_>) -> Self {
        let b = input.branding;
        let (host, warning, loopback) = describe_redirect(input.redirect_uri);
        let hidden = format!(
            "<input type=\"hidden\" name=\"request\" value=\"{}\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            escape_html(input.request),
            escape_html(input.csrf),
        );
        Self {
            server_name: SafeHtml::escape(&b.server_name),
            logo_url: b.logo_url.as_ref().map(|u| SafeHtml::escape(u.as_str())),
            accent_color: SafeHtml::escape(&b.accent),
            background_color: SafeHtml::escape(&b.background),
            text_color: SafeHtml::escape(&b.text),
            client_name: SafeHtml::escape(input.client_name.unwrap_or("An unnamed application")),
            client_name_verified: input.static_client,
            verified_domain: input.verified_domain.map(SafeHtml::escape),
            local_only_warning: (input.local_only && !input.static_client).then(|| {
                SafeHtml::escape(
                    "This application receives your sign-in on this computer only, so any \
                     program on it could have given itself this name. Approve only if you \
                     started this sign-in from an application you installed yourself.",
                )
            }),
            redirect_uri: SafeHtml::escape(input.redirect_uri),
            redirect_host: SafeHtml::escape(&host),
            redirect_warning: warning.map(|w| SafeHtml::escape(&w)),
            redirect_is_loopback: loopback,
            scopes: input
                .scopes
                .iter()
                .map(|s| ScopeView {
                    name: SafeHtml::escape(s),
                    description: (input.describe)(s).map(|d| SafeHtml::escape(&d)),
                    approved_before: input.approved_before.contains(s),
                })
                .collect(),
            form_action: SafeHtml::escape("/consent"),
            hidden_inputs: SafeHtml::markup(hidden),
            style_nonce: SafeHtml::escape(input.style_nonce),
            remember_days: input
                .remember
                .map(|d| d.as_secs().div_ceil(24 * 3600).max(1)),
        }
    }
}

/// The host to show for a redirect URI, a warning when it is neither https nor loopback, and
/// whether it is loopback. The host is the URL parser's (IDNs in punycode, so look-alike
/// letters show as what they are).
fn describe_redirect(uri: &str) -> (String, Option<String>, bool) {
    let Ok(url) = Url::parse(uri) else {
        return (
            uri.to_owned(),
            Some("This address could not be read.".into()),
            false,
        );
    };
    let host = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) if !host.is_empty() => host.to_owned(),
        _ => format!("{}:", url.scheme()),
    };
    let loopback = is_loopback(&url);
    let warning = match url.scheme() {
        "https" => None,
        "http" if loopback => None,
        "http" => Some("This address is not encrypted (http, not https).".to_owned()),
        scheme => Some(format!(
            "This is not a web address: it opens whichever application on your device handles \
             \u{201c}{scheme}:\u{201d} links. Approve only if you trust the application you \
             started this sign-in from."
        )),
    };
    (host, warning, loopback)
}

/// Text as HTML element content or a double-quoted attribute value.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_hosts_are_shown_in_full_and_odd_ones_warned_about() {
        let cases = [
            (
                "https://claude.ai/api/mcp/auth_callback",
                "claude.ai",
                false,
            ),
            (
                "https://claude.ai.evil.example:8443/cb",
                "claude.ai.evil.example:8443",
                false,
            ),
            ("http://127.0.0.1:33418/cb", "127.0.0.1:33418", false),
            ("http://[::1]:9/cb", "[::1]:9", false),
            ("http://localhost/cb", "localhost", false),
            (
                "cursor://anysphere.cursor-retrieval/oauth/callback",
                "anysphere.cursor-retrieval",
                true,
            ),
            ("com.example.app:/oauth", "com.example.app:", true),
            ("https://xn--pple-43d.com/cb", "xn--pple-43d.com", false),
            ("http://client.example/cb", "client.example", true),
        ];
        for (uri, host, warned) in cases {
            let (shown, warning, _) = describe_redirect(uri);
            assert_eq!(shown, host, "{uri}");
            assert_eq!(warning.is_some(), warned, "{uri}");
        }
        assert!(describe_redirect("http://127.0.0.1/cb").2);
        assert!(!describe_redirect("https://claude.ai/cb").2);
    }

    #[test]
    fn safe_html_escapes_and_displays_as_is() {
        let s = SafeHtml::escape("<b onmouseover=\"x\">&'");
        assert_eq!(
            s.to_string(),
            "&lt;b onmouseover=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(s.as_str(), s.to_string());
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}

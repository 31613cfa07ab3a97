//! The consent step: when the user is asked, how the page looks, and the view model a
//! replacement page is rendered from.
//!
//! A proxy that holds one upstream client and lets anyone register is a confused deputy: the
//! upstream skips its own consent screen for a user who approved the proxy before, so without a
//! consent step of our own a link to `/authorize` with an attacker's client would send the
//! user's code to the attacker's redirect URI. The consent page names the client and the full
//! host its code goes to, and the flow stops there until the user approves.

mod page;
mod view;

use std::{fmt, sync::Arc, time::Duration};

use url::Url;

pub(crate) use view::{escape_html, ViewInput};
pub use view::{ConsentView, SafeHtml, ScopeView};

use crate::validate::{invalid, secure_url, ConfigError};

/// When the user is asked to approve a client before being sent to the upstream sign-in.
///
/// Whatever the mode, the transaction is bound to the browser that approved it (or, without a
/// page, that started it): a callback that arrives in another browser is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsentMode {
    /// Ask at every authorization.
    Always,
    /// Ask once per client id and redirect URI, then remember the approval in this browser
    /// (a sealed cookie) for [`remember_consent_for`](crate::proxy::OAuthProxyBuilder::remember_consent_for).
    /// The default.
    #[default]
    Remember,
    /// Never ask. **Unsafe while anyone can register a client**: an attacker's client would get
    /// the codes of every user with an upstream session. [`build`](crate::proxy::OAuthProxyBuilder::build)
    /// refuses it unless dynamic registration is closed
    /// ([`dynamic_registration(false)`](crate::proxy::OAuthProxyBuilder::dynamic_registration)), so that
    /// only the operator's static clients remain.
    Off,
}

/// How long an approval is remembered by default in [`ConsentMode::Remember`].
pub(crate) const DEFAULT_REMEMBER: Duration = Duration::from_secs(7 * 24 * 3600);
/// Browsers cap cookie lifetimes at 400 days.
pub(crate) const MAX_REMEMBER: Duration = Duration::from_secs(400 * 24 * 3600);

/// A replacement for the built-in consent page: receives the view model, returns the HTML.
///
/// Every text in [`ConsentView`] is already HTML-escaped ([`SafeHtml`]): interpolate it in
/// element content or in double-quoted attribute values, never in a script or an unquoted
/// attribute. See [`ConsentView`] for what the page must contain.
pub(crate) type ConsentTemplateFn = dyn Fn(&ConsentView) -> String + Send + Sync;

/// The look of the consent page: the server's name, a logo and three colours.
///
/// ```
/// use actix_mcp_oauth::proxy::ConsentBranding;
///
/// let branding = ConsentBranding::new()
///     .server_name("Acme notes")
///     .logo_url("https://static.acme.example/logo.png")
///     .accent_color("#7c3aed");
/// ```
///
/// [`build`](crate::proxy::OAuthProxyBuilder::build) checks it: colours are `#rgb` or `#rrggbb`, the
/// logo URL is https (or http on loopback). The logo is the page's only external resource, and
/// the page's `Content-Security-Policy` allows images from its origin only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct ConsentBranding {
    server_name: Option<String>,
    logo_url: Option<String>,
    accent_color: Option<String>,
    background_color: Option<String>,
    text_color: Option<String>,
}

impl ConsentBranding {
    /// The default look: the public URL's host as the name, no logo, a blue accent.
    pub fn new() -> Self {
        Self::default()
    }

    /// The name the user knows this server by (default: the host of the public URL).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// A logo shown above the title (https, or http on loopback).
    pub fn logo_url(mut self, url: impl Into<String>) -> Self {
        self.logo_url = Some(url.into());
        self
    }

    /// The Approve button's background (its text is white), and the focus ring.
    pub fn accent_color(mut self, color: impl Into<String>) -> Self {
        self.accent_color = Some(color.into());
        self
    }

    /// The page background.
    pub fn background_color(mut self, color: impl Into<String>) -> Self {
        self.background_color = Some(color.into());
        self
    }

    /// The text colour.
    pub fn text_color(mut self, color: impl Into<String>) -> Self {
        self.text_color = Some(color.into());
        self
    }

    /// Checks the branding; `default_name` is used when no server name was given.
    pub(crate) fn validate(self, default_name: &str) -> Result<Branding, ConfigError> {
        let server_name = self
            .server_name
            .map(|n| n.trim().to_owned())
            .unwrap_or_else(|| default_name.to_owned());
        if server_name.is_empty()
            || server_name.chars().count() > 100
            || server_name.chars().any(char::is_control)
        {
            return Err(invalid(
                "consent_branding",
                "the server name must be 1 to 100 characters, without control characters",
            ));
        }
        let logo_url = self
            .logo_url
            .map(|u| secure_url("consent_branding.logo_url", u.trim()))
            .transpose()?;
        let color = |field: &'static str, value: Option<String>, default: &str| {
            let value = value.unwrap_or_else(|| default.to_owned());
            if is_hex_color(&value) {
                Ok(value)
            } else {
                Err(invalid(field, "a colour is `#rgb` or `#rrggbb`"))
            }
        };
        Ok(Branding {
            server_name,
            logo_url,
            accent: color(
                "consent_branding.accent_color",
                self.accent_color,
                "#1d4ed8",
            )?,
            background: color(
                "consent_branding.background_color",
                self.background_color,
                "#f8fafc",
            )?,
            text: color("consent_branding.text_color", self.text_color, "#0f172a")?,
        })
    }
}

/// Only hex colours reach the style sheet: nothing else can break out of a CSS value.
fn is_hex_color(value: &str) -> bool {
    value
        .strip_prefix('#')
        .is_some_and(|hex| matches!(hex.len(), 3 | 6) && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Checked branding.
#[derive(Debug, Clone)]
pub(crate) struct Branding {
    pub(crate) server_name: String,
    pub(crate) logo_url: Option<Url>,
    pub(crate) accent: String,
    pub(crate) background: String,
    pub(crate) text: String,
}

/// The consent settings of a built proxy.
#[derive(Clone)]
pub(crate) struct ConsentConfig {
    pub(crate) mode: ConsentMode,
    pub(crate) remember_for: Duration,
    pub(crate) branding: Branding,
    pub(crate) template: Option<Arc<ConsentTemplateFn>>,
}

impl fmt::Debug for ConsentConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsentConfig")
            .field("mode", &self.mode)
            .field("remember_for", &self.remember_for)
            .field("branding", &self.branding)
            .field("template", &self.template.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl ConsentConfig {
    /// The page for `view`: the user's template, or the built-in one.
    pub(crate) fn render(&self, view: &ConsentView) -> String {
        match &self.template {
            Some(template) => template(view),
            None => page::render(view),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hex_colours_are_accepted() {
        for good in ["#fff", "#0A0b0C", "#123456"] {
            assert!(is_hex_color(good), "{good}");
        }
        for bad in [
            "red",
            "#ffff",
            "#12345g",
            "fff",
            "#fff;}body{display:none",
            "#fff\"",
            "",
        ] {
            assert!(!is_hex_color(bad), "{bad}");
        }
    }

    #[test]
    fn branding_defaults_and_checks() {
        let b = ConsentBranding::new().validate("mcp.example.com").unwrap();
        assert_eq!(b.server_name, "mcp.example.com");
        assert!(b.logo_url.is_none());
        let bad = [
            ConsentBranding::new().server_name("  "),
            ConsentBranding::new().server_name("a\nb"),
            ConsentBranding::new().server_name("x".repeat(101)),
            ConsentBranding::new().logo_url("http://cdn.example/logo.png"),
            ConsentBranding::new().logo_url("javascript:alert(1)"),
            ConsentBranding::new().accent_color("url(x)"),
            ConsentBranding::new().background_color("#ggg"),
            ConsentBranding::new().text_color("black"),
        ];
        for branding in bad {
            let shown = format!("{branding:?}");
            assert!(branding.validate("x").is_err(), "{shown}");
        }
        let ok = ConsentBranding::new()
            .server_name(" Acme ")
            .logo_url("https://cdn.example/logo.png")
            .validate("x")
            .unwrap();
        assert_eq!(ok.server_name, "Acme");
    }
}

//! The client-metadata rules that `/register` (RFC 7591 §2) and client metadata documents
//! share: the redirect URIs, the name shown on the consent page, the application type and the
//! token endpoint authentication method. One set of rules, so that a client cannot get past
//! one path what the other refuses.

use serde::{Deserialize, Serialize};
use url::Url;

use super::{
    error::OAuthError,
    limits::{ProxyLimits, MAX_CLIENT_NAME},
    redirect::validate_redirect_uri,
};
use crate::validate::is_loopback;

/// Checks a client's redirect URIs: at least one, at most the configured number, each within
/// the configured length and under the redirect-URI policy. Refusals are
/// `invalid_redirect_uri`.
pub(crate) fn check_redirect_uris(uris: &[String], limits: &ProxyLimits) -> Result<(), OAuthError> {
    if uris.is_empty() {
        return Err(OAuthError::InvalidRedirectUri(
            "`redirect_uris` is required".into(),
        ));
    }
    if uris.len() > limits.redirect_uris {
        return Err(OAuthError::InvalidRedirectUri(
            format!("at most {} redirect URIs", limits.redirect_uris).into(),
        ));
    }
    for uri in uris {
        if uri.len() > limits.redirect_uri_len {
            return Err(OAuthError::InvalidRedirectUri(
                "a redirect URI is too long".into(),
            ));
        }
        validate_redirect_uri(uri)
            .map_err(|e| OAuthError::InvalidRedirectUri(e.to_string().into()))?;
    }
    Ok(())
}

/// The client's name as the consent page shows it, trimmed; `None` when absent or blank.
///
/// Refused: more than 200 characters, control characters (Cc), and the Unicode characters that
/// reorder, hide or break text (every format character, Cf, and the line and paragraph
/// separators, Zl and Zp): `Claude\u{202e}lapyap` displays as something else than it is.
pub(crate) fn check_client_name(name: Option<&str>) -> Result<Option<String>, OAuthError> {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.chars().count() > MAX_CLIENT_NAME {
        return Err(OAuthError::InvalidClientMetadata(
            "`client_name` is longer than 200 characters".into(),
        ));
    }
    if name
        .chars()
        .any(|c| c.is_control() || is_format_character(c))
    {
        return Err(OAuthError::InvalidClientMetadata(
            "`client_name` has control, formatting or line-separator characters".into(),
        ));
    }
    Ok(Some(name.to_owned()))
}

/// Characters that are not shown themselves but change how the text around them is shown or
/// broken into lines: every format character (Cf: bidirectional marks, embeddings, overrides
/// and isolates, zero-width characters, the soft hyphen, interlinear annotation, tag
/// characters), and the line and paragraph separators (Zl, Zp). Control characters (Cc) are
/// refused by the caller. The categories come from the Unicode tables, so a character a later
/// Unicode version adds to them is refused too.
fn is_format_character(c: char) -> bool {
    use unicode_general_category::{get_general_category, GeneralCategory as G};
    matches!(
        get_general_category(c),
        G::Format | G::LineSeparator | G::ParagraphSeparator
    )
}

/// `application_type` (OpenID Connect Registration §2, adopted by the MCP specification).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApplicationType {
    /// Runs on the user's device: loopback and private-use redirect URIs.
    Native,
    /// A web application: https redirect URIs on a real host only.
    Web,
}

impl ApplicationType {
    /// The type the client asked for, checked against its redirect URIs, or (when it asked for
    /// none) the type its redirect URIs say it is.
    pub(crate) fn check(asked: Option<&str>, uris: &[String]) -> Result<Self, OAuthError> {
        let web_uris = uris.iter().all(|u| is_web_redirect(u));
        match asked {
            None if web_uris => Ok(Self::Web),
            None | Some("native") => Ok(Self::Native),
            Some("web") if web_uris => Ok(Self::Web),
            Some("web") => Err(OAuthError::InvalidClientMetadata(
                "a `web` application needs https redirect URIs that are not loopback".into(),
            )),
            Some(_) => Err(OAuthError::InvalidClientMetadata(
                "`application_type` is `native` or `web`".into(),
            )),
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Web => "web",
        }
    }
}

/// https on a host that is not loopback.
fn is_web_redirect(uri: &str) -> bool {
    Url::parse(uri).is_ok_and(|u| u.scheme() == "https" && !is_loopback(&u))
}

/// How a registered client authenticates at `/token` and `/revoke`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ClientAuth {
    /// A public client: its PKCE verifier protects its codes. The default.
    #[default]
    #[serde(rename = "n")]
    None,
    /// A secret, in the HTTP Basic header.
    #[serde(rename = "b")]
    SecretBasic,
    /// A secret, in the form body.
    #[serde(rename = "p")]
    SecretPost,
}

impl ClientAuth {
    /// The method the client asked for (RFC 7591 `token_endpoint_auth_method`); `none` when it
    /// asked for none.
    pub(crate) fn parse(asked: Option<&str>) -> Result<Self, OAuthError> {
        match asked {
            None | Some("none") => Ok(Self::None),
            Some("client_secret_basic") => Ok(Self::SecretBasic),
            Some("client_secret_post") => Ok(Self::SecretPost),
            Some(_) => Err(OAuthError::InvalidClientMetadata(
                "`token_endpoint_auth_method` is `none`, `client_secret_basic` or \
                 `client_secret_post`"
                    .into(),
            )),
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::SecretBasic => "client_secret_basic",
            Self::SecretPost => "client_secret_post",
        }
    }

    pub(crate) fn is_none(&self) -> bool {
        *self == Self::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_hide_or_reorder_text_are_refused() {
        for bad in [
            "Claude\u{202e}lapyap",
            "a\u{2066}b",
            "a\u{200f}b",
            "zero\u{200b}width",
            "bom\u{feff}",
            "bell\u{7}",
            "new\nline",
            // Format characters outside the bidirectional set, and the line separator.
            "soft\u{ad}hyphen",
            "mongolian\u{180e}separator",
            "interlinear\u{fff9}annotation",
            "language\u{e0001}tag",
            "line\u{2028}separator",
            "paragraph\u{2029}separator",
            "c1\u{85}control",
        ] {
            assert!(check_client_name(Some(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(
            check_client_name(Some("  Claude  ")).unwrap().as_deref(),
            Some("Claude")
        );
        assert_eq!(
            check_client_name(Some("Émile — 日本")).unwrap().as_deref(),
            Some("Émile — 日本")
        );
        assert_eq!(check_client_name(Some("   ")).unwrap(), None);
        assert!(check_client_name(Some(&"x".repeat(201))).is_err());
    }

    #[test]
    fn application_types_follow_the_redirect_uris() {
        let web = ["https://claude.ai/api/mcp/auth_callback".to_owned()];
        let local = ["http://127.0.0.1:3000/cb".to_owned()];
        let https_loopback = ["https://localhost/cb".to_owned()];
        assert_eq!(
            ApplicationType::check(None, &web).unwrap(),
            ApplicationType::Web
        );
        assert_eq!(
            ApplicationType::check(None, &local).unwrap(),
            ApplicationType::Native
        );
        assert_eq!(
            ApplicationType::check(Some("native"), &web).unwrap(),
            ApplicationType::Native
        );
        assert!(ApplicationType::check(Some("web"), &local).is_err());
        assert!(ApplicationType::check(Some("web"), &https_loopback).is_err());
        assert!(ApplicationType::check(Some("browser"), &web).is_err());
    }
}

//! Cheap checks of a token's shape, for providers whose tokens have a documented one: a token
//! that cannot be theirs is refused before it costs a call to their API (made with the app's
//! credentials, against its rate limit) or a slot of the calls-in-flight budget.
//!
//! The checks are deliberately lenient (a prefix, a character set and a generous length bound
//! taken from the provider's own documentation) so that a genuine token is never refused, and
//! each preset can turn its check off (`token_shape_check(false)`) should the provider change
//! its format. The refusal is [`VerifyError::Malformed`]: a 401, not remembered (remembering
//! it would save nothing), no call made.

use crate::VerifyError;

/// The token shapes the presets know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenShape {
    /// GitHub: `gho_` (OAuth app), `ghu_` (GitHub App user token), `ghp_` (classic personal
    /// token), `ghs_` (GitHub App installation token) or `github_pat_` (fine-grained personal
    /// token), then `[A-Za-z0-9_]`; at most 255 characters, the length GitHub asks
    /// integrators to allow for. Tokens issued before the prefixes (April 2021) were 40
    /// lowercase hex digits, and those still live are accepted too.
    GitHub,
    /// Google: `ya29.` then the RFC 6750 token characters (Google pads tokens with `.`); at
    /// most 4096 bytes, twice the 2048 Google documents as its bound.
    Google,
}

const GITHUB_PREFIXES: [&str; 5] = ["gho_", "ghu_", "ghp_", "ghs_", "github_pat_"];
const GITHUB_MAX: usize = 255;
const GOOGLE_PREFIX: &str = "ya29.";
const GOOGLE_MAX: usize = 4096;

impl TokenShape {
    /// `Ok` when `token` may be one of this provider's access tokens.
    pub(crate) fn check(self, token: &str) -> Result<(), VerifyError> {
        let fits = match self {
            TokenShape::GitHub => {
                token.len() <= GITHUB_MAX
                    && (GITHUB_PREFIXES.iter().any(|p| {
                        token.strip_prefix(p).is_some_and(|rest| {
                            !rest.is_empty()
                                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        })
                    }) || (token.len() == 40
                        && token
                            .bytes()
                            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))))
            }
            TokenShape::Google => {
                token.len() <= GOOGLE_MAX
                    && token.strip_prefix(GOOGLE_PREFIX).is_some_and(|rest| {
                        !rest.is_empty()
                            && rest.bytes().all(|b| {
                                b.is_ascii_alphanumeric()
                                    || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
                            })
                    })
            }
        };
        if fits {
            Ok(())
        } else {
            Err(VerifyError::Malformed(match self {
                TokenShape::GitHub => "not the shape of a GitHub token",
                TokenShape::Google => "not the shape of a Google access token",
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genuine_github_tokens_pass_and_junk_is_refused() {
        // The documented examples' shapes: 36 base62 characters after the prefix, the
        // fine-grained 82-character form, and a pre-2021 hex token.
        let good = [
            "gho_16C7e42F292c6912E7710c838347Ae178B4a",
            "ghu_16C7e42F292c6912E7710c838347Ae178B4a",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "ghs_16C7e42F292c6912E7710c838347Ae178B4a",
            "github_pat_11ABCDEFG0123456789abc_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW",
            "0123456789abcdef0123456789abcdef01234567",
        ];
        for token in good {
            assert_eq!(TokenShape::GitHub.check(token), Ok(()), "{token}");
        }
        let longest = format!("gho_{}", "a".repeat(GITHUB_MAX - 4));
        assert_eq!(TokenShape::GitHub.check(&longest), Ok(()));
        let junk = [
            "",
            "gho_",
            "junk-token-1",
            "ghr_16C7e42F292c6912E7710c838347Ae178B4a",
            "gho_16C7e42F-92c6912E7710c838347Ae178B4a",
            "ya29.a0AfH6SMB",
            "0123456789ABCDEF0123456789abcdef01234567",
            "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
        ];
        for token in junk {
            assert!(TokenShape::GitHub.check(token).is_err(), "{token}");
        }
        let too_long = format!("gho_{}", "a".repeat(GITHUB_MAX - 3));
        assert!(TokenShape::GitHub.check(&too_long).is_err());
    }

    #[test]
    fn genuine_google_tokens_pass_and_junk_is_refused() {
        let padded = format!("ya29.a0AfB_byC-x9Q{}", ".".repeat(700));
        for token in ["ya29.a0AfH6SMBx-y_z~1+2/3=", padded.as_str()] {
            assert_eq!(TokenShape::Google.check(token), Ok(()), "{token}");
        }
        let longest = format!("ya29.{}", "a".repeat(GOOGLE_MAX - 5));
        assert_eq!(TokenShape::Google.check(&longest), Ok(()));
        let too_long = format!("ya29.{}", "a".repeat(GOOGLE_MAX - 4));
        for token in [
            "",
            "ya29.",
            "gho_abc",
            "junk",
            "ya29.a b",
            "ya29.a\"b",
            &too_long,
        ] {
            assert!(TokenShape::Google.check(token).is_err(), "{token}");
        }
    }
}

//! Which client a token was issued to, and the check that it is ours.
//!
//! A provider signs the same kind of access token for every application registered with it, and
//! an audience is often shared by several of them (Okta's `api://default`, one Auth0 API, a
//! Keycloak client id added to other clients' tokens by an audience mapper). The claim naming
//! the client the token was issued to is what tells our application's tokens from the others'.
//! Providers spell it differently:
//!
//! | claim | who writes it |
//! |---|---|
//! | `azp` | OpenID Connect's authorized party: Keycloak, Auth0, Google, Entra ID v2 |
//! | `cid` | Okta |
//! | `appid` | Entra ID v1 |
//! | `client_id` | RFC 9068 JWT access tokens, oidc-provider, Keycloak service accounts, Auth0 machine-to-machine |

use super::{Claims, VerifyError};

/// The claims that name the client a token was issued to, in the order
/// [`Claims::client_id`] reads them.
pub const CLIENT_CLAIMS: [&str; 4] = ["azp", "cid", "appid", "client_id"];

impl Claims {
    /// The client this token names as the one it was issued to: the first of `azp`, `cid`,
    /// `appid` and `client_id` ([`CLIENT_CLAIMS`]) that is present and a string. `None` when
    /// the token names no client.
    ///
    /// To decide whether to accept a token, use [`check_client`], which looks at every one of
    /// these claims, not only the first.
    pub fn client_id(&self) -> Option<&str> {
        CLIENT_CLAIMS.iter().find_map(|name| self.get_str(name))
    }
}

/// Refuses a token issued to a client other than `expected_client_id`.
///
/// Every claim of [`CLIENT_CLAIMS`] that the token carries must be a string equal to
/// `expected_client_id` (compared exactly); a token naming another client in any of them is
/// refused with [`VerifyError::OtherClient`], which names the claim (never the token or its
/// value), and a client claim that is not a string with [`VerifyError::InvalidClaim`]. Both are
/// answered with 401 `invalid_token`.
///
/// A token that names **no** client passes this check: many providers leave the claim out of
/// some of their tokens, and the audience check is then what binds the token to this server.
/// The provider presets say, each for its own provider, whether they accept such a token.
///
/// ```
/// use actix_mcp_oauth::{verify::check_client, Claims, VerifyError};
/// use serde_json::json;
///
/// let claims = |v: serde_json::Value| Claims::new(v.as_object().unwrap().clone());
/// assert!(check_client(&claims(json!({ "azp": "our-app" })), "our-app").is_ok());
/// assert_eq!(
///     check_client(&claims(json!({ "cid": "their-app" })), "our-app"),
///     Err(VerifyError::OtherClient("cid"))
/// );
/// assert!(check_client(&claims(json!({ "sub": "u" })), "our-app").is_ok());
/// ```
pub fn check_client(claims: &Claims, expected_client_id: &str) -> Result<(), VerifyError> {
    for name in CLIENT_CLAIMS {
        match claims.get(name) {
            None => {}
            Some(serde_json::Value::String(id)) if id == expected_client_id => {}
            Some(serde_json::Value::String(_)) => return Err(VerifyError::OtherClient(name)),
            Some(_) => return Err(VerifyError::InvalidClaim(name)),
        }
    }
    Ok(())
}

/// [`check_client`], and also refuses a token that names no client, as a missing `claim`: for
/// the presets of providers that always name the client in the access tokens they issue to a
/// user.
#[allow(dead_code)] // the presets call it
pub(crate) fn require_client(
    claims: &Claims,
    expected_client_id: &str,
    claim: &'static str,
) -> Result<(), VerifyError> {
    check_client(claims, expected_client_id)?;
    if claims.client_id().is_none() {
        return Err(VerifyError::InvalidClaim(claim));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn claims(value: Value) -> Claims {
        Claims::new(value.as_object().unwrap().clone())
    }

    #[test]
    fn client_id_reads_azp_then_cid_then_appid_then_client_id() {
        assert_eq!(claims(json!({ "sub": "u" })).client_id(), None);
        for name in CLIENT_CLAIMS {
            assert_eq!(claims(json!({ name: "app" })).client_id(), Some("app"));
        }
        let all = json!({ "client_id": "d", "appid": "c", "cid": "b", "azp": "a" });
        assert_eq!(claims(all).client_id(), Some("a"));
        assert_eq!(
            claims(json!({ "client_id": "d", "appid": "c" })).client_id(),
            Some("c")
        );
        assert_eq!(
            claims(json!({ "azp": 7, "client_id": "d" })).client_id(),
            Some("d")
        );
    }

    #[test]
    fn a_token_naming_our_client_or_none_passes() {
        for name in CLIENT_CLAIMS {
            assert_eq!(
                check_client(&claims(json!({ name: "ours" })), "ours"),
                Ok(())
            );
        }
        assert_eq!(
            check_client(
                &claims(json!({ "azp": "ours", "client_id": "ours" })),
                "ours"
            ),
            Ok(())
        );
        assert_eq!(check_client(&claims(json!({ "sub": "u" })), "ours"), Ok(()));
    }

    #[test]
    fn a_token_naming_another_client_in_any_client_claim_is_refused_naming_the_claim() {
        for name in CLIENT_CLAIMS {
            let refused = check_client(&claims(json!({ name: "theirs" })), "ours").unwrap_err();
            assert_eq!(refused, VerifyError::OtherClient(name));
            let message = refused.to_string();
            assert!(message.contains(name), "{message}");
            assert!(!message.contains("theirs"), "{message}");
        }
        // The first claim naming us does not excuse a later one naming someone else.
        assert_eq!(
            check_client(
                &claims(json!({ "azp": "ours", "client_id": "theirs" })),
                "ours"
            ),
            Err(VerifyError::OtherClient("client_id"))
        );
        // Exact comparison: no case folding, no trimming, no prefix match.
        for near in ["Ours", "ours ", "our", "ours2", ""] {
            assert_eq!(
                check_client(&claims(json!({ "azp": near })), "ours"),
                Err(VerifyError::OtherClient("azp")),
                "{near:?}"
            );
        }
    }

    #[test]
    fn a_client_claim_that_is_not_a_string_is_an_invalid_claim() {
        for value in [
            json!(1),
            json!(["ours"]),
            json!(null),
            json!({ "id": "ours" }),
        ] {
            assert_eq!(
                check_client(&claims(json!({ "cid": value })), "ours"),
                Err(VerifyError::InvalidClaim("cid"))
            );
        }
    }

    #[test]
    fn require_client_also_refuses_a_token_naming_no_client() {
        assert_eq!(
            require_client(&claims(json!({ "azp": "ours" })), "ours", "azp"),
            Ok(())
        );
        assert_eq!(
            require_client(&claims(json!({ "sub": "u" })), "ours", "cid"),
            Err(VerifyError::InvalidClaim("cid"))
        );
        assert_eq!(
            require_client(&claims(json!({ "azp": "theirs" })), "ours", "azp"),
            Err(VerifyError::OtherClient("azp"))
        );
    }
}

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
    check_named(
        expected_client_id,
        CLIENT_CLAIMS.map(|name| {
            let named = match claims.get(name) {
                None => Named::Absent,
                Some(serde_json::Value::String(id)) => Named::Id(id),
                Some(_) => Named::NotAString,
            };
            (name, named)
        }),
    )
    .map(drop)
}

/// What one client claim of a token holds.
pub(crate) enum Named<'a> {
    Absent,
    Id(&'a str),
    NotAString,
}

/// The rule of [`check_client`], over the client claims however they were read (a verifier of
/// JWTs reads them with the registered claims, without building the claims map). Returns
/// whether any claim named a client.
pub(crate) fn check_named<'a>(
    expected_client_id: &str,
    claims: impl IntoIterator<Item = (&'static str, Named<'a>)>,
) -> Result<bool, VerifyError> {
    let mut named = false;
    for (name, value) in claims {
        match value {
            Named::Absent => {}
            Named::Id(id) if id == expected_client_id => named = true,
            Named::Id(_) => return Err(VerifyError::OtherClient(name)),
            Named::NotAString => return Err(VerifyError::InvalidClaim(name)),
        }
    }
    Ok(named)
}

/// The client a verifier requires tokens to name, and what it does with a token naming none.
#[derive(Debug, Clone)]
pub(crate) struct ClientRule {
    pub(crate) id: String,
    /// `Some(claim)`: a token naming no client is refused, as missing `claim` (the one this
    /// provider writes). `None`: it passes.
    pub(crate) required: Option<&'static str>,
}

impl ClientRule {
    pub(crate) fn check<'a>(
        &self,
        claims: impl IntoIterator<Item = (&'static str, Named<'a>)>,
    ) -> Result<(), VerifyError> {
        match (check_named(&self.id, claims)?, self.required) {
            (false, Some(claim)) => Err(VerifyError::InvalidClaim(claim)),
            _ => Ok(()),
        }
    }
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
    fn a_rule_with_a_required_claim_also_refuses_a_token_naming_no_client() {
        let named = |v: Value| {
            let c = claims(v);
            CLIENT_CLAIMS.map(|name| match c.get(name) {
                None => (name, Named::Absent),
                Some(Value::String(id)) => (name, Named::Id(Box::leak(id.clone().into()))),
                Some(_) => (name, Named::NotAString),
            })
        };
        let required = ClientRule {
            id: "ours".into(),
            required: Some("cid"),
        };
        assert_eq!(required.check(named(json!({ "cid": "ours" }))), Ok(()));
        assert_eq!(
            required.check(named(json!({ "sub": "u" }))),
            Err(VerifyError::InvalidClaim("cid"))
        );
        assert_eq!(
            required.check(named(json!({ "azp": "theirs" }))),
            Err(VerifyError::OtherClient("azp"))
        );
        let optional = ClientRule {
            required: None,
            ..required
        };
        assert_eq!(optional.check(named(json!({ "sub": "u" }))), Ok(()));
        assert_eq!(
            optional.check(named(json!({ "appid": "theirs" }))),
            Err(VerifyError::OtherClient("appid"))
        );
    }
}

//! The authenticated user: [`AuthUser`], the claims-to-user mapping, and the extractor.

use std::{
    fmt,
    ops::Deref,
    sync::{Arc, OnceLock},
};

use actix_web::{dev::Payload, http::StatusCode, FromRequest, HttpMessage, HttpRequest};
use futures::future::{ready, Ready};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{challenge::AuthError, challenge::Challenge, secret::AccessToken, Claims, VerifyError};

/// What the crate knows of a user, mapped from the token's claims.
///
/// Build one in your own mapping with `UserInfo { user_id, ..Default::default() }`.
///
/// Serialised with the empty fields left out; the proxy seals it into the tokens it issues.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// The stable user id (`sub` by default).
    pub user_id: String,
    /// `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `picture` (or `avatar_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// `preferred_username`, else `login`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The granted scopes: `scope` (space-separated) or `scp` (string or array). For a token
    /// the [`OAuthProxy`](crate::OAuthProxy) issued, the scopes it granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// `permissions` (Auth0 RBAC).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    /// `roles`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

/// A mapping from verified claims to a [`UserInfo`]; see [`default_user_info`].
pub(crate) type UserInfoFn = dyn Fn(&Claims) -> Result<UserInfo, VerifyError> + Send + Sync;

/// The mapping [`RequireAuth`](crate::RequireAuth) uses unless you give it your own with
/// [`RequireAuth::user_info`](crate::RequireAuth::user_info).
///
/// | field | claim |
/// |---|---|
/// | `user_id` | `sub`, a string; a number is accepted and printed in decimal (GitHub user ids are numbers) |
/// | `email` | `email`, only when `email_verified` is `true` (or the string `"true"`) |
/// | `name` | `name` |
/// | `picture` | `picture`, else `avatar_url` |
/// | `username` | `preferred_username`, else `login` |
/// | `scopes` | `scope` as a space-separated string; if absent, `scp` as a string (space-separated) or an array of strings |
/// | `permissions` | `permissions`, an array of strings |
/// | `roles` | `roles`, an array of strings |
///
/// A missing, empty or non-integer `sub` is an error ([`VerifyError::InvalidClaim`]`("sub")`),
/// so the token is refused: without it there is no stable user to hand on. Every other claim
/// is optional, and one of the wrong JSON type (an `email` that is a number, a `roles` that is
/// a string) is ignored as if absent, as are non-string items of the arrays; the token has
/// already been verified, and a provider's odd profile field should not lock the user out.
/// Nested role claims (Keycloak's `realm_access.roles`) are not read; map them in your own
/// function, starting from this one if you like.
///
/// An address the provider has not verified is anyone's claim: whoever registers at the
/// provider with your colleague's address would be your colleague to an app that trusts it. So
/// `email` is `None` unless the token says `email_verified`; the presets note what their
/// provider sends (docs/providers.md). The unverified value stays readable in
/// [`AuthUser::claims`] for display, never for deciding who someone is.
pub fn default_user_info(claims: &Claims) -> Result<UserInfo, VerifyError> {
    let user_id = match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
        _ => return Err(VerifyError::InvalidClaim("sub")),
    };
    let string = |name: &str| claims.get_str(name).map(str::to_owned);
    let scopes = match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) | (_, Some(Value::String(s))) => split_scopes(s),
        (_, Some(Value::Array(items))) => strings(items),
        _ => Vec::new(),
    };
    let array = |name: &str| match claims.get(name) {
        Some(Value::Array(items)) => strings(items),
        _ => Vec::new(),
    };
    let verified = matches!(claims.get("email_verified"), Some(Value::Bool(true)))
        || claims.get_str("email_verified") == Some("true");
    Ok(UserInfo {
        user_id,
        email: string("email").filter(|_| verified),
        name: string("name"),
        picture: string("picture").or_else(|| string("avatar_url")),
        username: string("preferred_username").or_else(|| string("login")),
        scopes,
        permissions: array("permissions"),
        roles: array("roles"),
    })
}

fn split_scopes(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn strings(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// The signed-in user, put in the request by [`RequireAuth`](crate::RequireAuth).
///
/// Take it as a handler argument (`async fn tool(user: AuthUser)`); fields of [`UserInfo`] read
/// through `Deref` (`user.user_id`, `user.email`). Cloning is cheap (one `Arc`). `Debug` shows
/// the user but neither token.
///
/// # Two tokens
/// - [`bearer_token`](Self::bearer_token): the token the request came with.
/// - [`upstream_access_token`](Self::upstream_access_token): the identity provider's access
///   token, to call the provider's API on the user's behalf. Behind an
///   [`OAuthProxy`](crate::OAuthProxy) in its default issued mode the bearer token is the
///   proxy's own and the provider's token travels sealed inside it; elsewhere (passthrough
///   mode, [`RemoteAuth`](crate::RemoteAuth), a plain [`RequireAuth`](crate::RequireAuth)) the
///   two are the same token.
///
/// # As an extractor
/// - Behind `RequireAuth`, a request without a valid token never reaches the handler, so
///   `AuthUser` is always there.
/// - With [`RequireAuth::allow_anonymous`](crate::RequireAuth::allow_anonymous), take
///   `Option<AuthUser>`: `None` when the request carried no token. A handler taking a plain
///   `AuthUser` on such a route answers an anonymous request with the 401 challenge.
/// - On a route that `RequireAuth` does not wrap, the extractor logs an error naming the
///   missing middleware and answers 500 (and `Option<AuthUser>` is always `None`): a
///   configuration mistake should be loud, not a silent hole.
///
/// Elsewhere (other middleware, guards), [`AuthUserExt::auth_user`] reads the same value.
#[derive(Clone)]
pub struct AuthUser(Arc<Inner>);

struct Inner {
    info: UserInfo,
    claims: Claims,
    bearer: AccessToken,
    /// The unique id of a token the proxy issued, which a revocation names.
    issued_id: Option<Box<str>>,
    /// The provider's token when it is not the bearer token itself.
    upstream: Option<LazyToken>,
}

/// The provider's access token inside a token the proxy issued, rebuilt from the form it
/// travels in the first time a handler asks for it: most requests never do, and opening an
/// issued token should not pay for it.
struct LazyToken {
    token: OnceLock<AccessToken>,
    build: Box<dyn Fn() -> String + Send + Sync>,
}

impl AuthUser {
    /// Assembles a user from a verified token, which is both the bearer token and the
    /// provider's access token.
    pub fn new(info: UserInfo, claims: Claims, access_token: AccessToken) -> Self {
        Self(Arc::new(Inner {
            info,
            claims,
            bearer: access_token,
            issued_id: None,
            upstream: None,
        }))
    }

    /// A user from a token the proxy issued: `bearer` is that token, `upstream` builds the
    /// provider's access token sealed inside it (when first asked for), `id` its unique id.
    pub(crate) fn issued(
        info: UserInfo,
        claims: Claims,
        bearer: AccessToken,
        upstream: impl Fn() -> String + Send + Sync + 'static,
        id: String,
    ) -> Self {
        Self(Arc::new(Inner {
            info,
            claims,
            bearer,
            issued_id: Some(id.into()),
            upstream: Some(LazyToken {
                token: OnceLock::new(),
                build: Box::new(upstream),
            }),
        }))
    }

    /// The unique id of the token, when the proxy issued it.
    pub(crate) fn issued_id(&self) -> Option<&str> {
        self.0.issued_id.as_deref()
    }

    /// The mapped user.
    pub fn info(&self) -> &UserInfo {
        &self.0.info
    }

    /// All claims of the token, for anything the mapping does not carry.
    pub fn claims(&self) -> &Claims {
        &self.0.claims
    }

    /// The bearer token the request carried (see [Two tokens](Self#two-tokens)).
    pub fn bearer_token(&self) -> &AccessToken {
        &self.0.bearer
    }

    /// The identity provider's access token, to call the provider's API on the user's behalf
    /// (see [Two tokens](Self#two-tokens)).
    pub fn upstream_access_token(&self) -> &AccessToken {
        match &self.0.upstream {
            Some(lazy) => lazy.token.get_or_init(|| AccessToken::new((lazy.build)())),
            None => &self.0.bearer,
        }
    }

    /// The bearer token the request carried.
    #[deprecated(
        note = "behind an OAuthProxy in issued mode the bearer token is the proxy's own: use \
                `upstream_access_token()` to call the provider, `bearer_token()` for the token \
                the request came with"
    )]
    pub fn access_token(&self) -> &AccessToken {
        self.bearer_token()
    }

    /// True when the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.info.scopes.iter().any(|s| s == scope)
    }
}

impl Deref for AuthUser {
    type Target = UserInfo;

    fn deref(&self) -> &UserInfo {
        &self.0.info
    }
}

impl fmt::Debug for AuthUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthUser")
            .field("info", &self.0.info)
            .field("bearer_token", &self.0.bearer)
            .field(
                "upstream_access_token",
                &self.0.upstream.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

/// Left in the request by `RequireAuth` when anonymous requests are allowed and none was
/// authenticated, so the extractor can tell "no token" from "no middleware".
#[derive(Clone)]
pub(crate) struct Anonymous(pub(crate) Challenge);

impl FromRequest for AuthUser {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let extensions = req.extensions();
        if let Some(user) = extensions.get::<AuthUser>() {
            return ready(Ok(user.clone()));
        }
        if let Some(Anonymous(challenge)) = extensions.get::<Anonymous>() {
            return ready(Err(AuthError::MissingToken(challenge.clone()).into()));
        }
        log::error!(
            "AuthUser requested on {} but no user is in the request: \
             wrap this route (or its scope) with RequireAuth",
            req.path()
        );
        ready(Err(actix_web::error::InternalError::new(
            "internal server error",
            StatusCode::INTERNAL_SERVER_ERROR,
        )
        .into()))
    }
}

/// Reads the [`AuthUser`] that [`RequireAuth`](crate::RequireAuth) put in a request, from
/// anything that carries request extensions: [`HttpRequest`],
/// [`ServiceRequest`](actix_web::dev::ServiceRequest) (in your own middleware), and so on.
pub trait AuthUserExt {
    /// The authenticated user, or `None` when the request has none.
    fn auth_user(&self) -> Option<AuthUser>;
}

impl<T: HttpMessage> AuthUserExt for T {
    fn auth_user(&self) -> Option<AuthUser> {
        self.extensions().get::<AuthUser>().cloned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Claims {
        match value {
            Value::Object(map) => Claims::new(map),
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn full_profile_is_mapped() {
        let info = default_user_info(&claims(json!({
            "sub": "u-1", "email": "a@example.com", "email_verified": true, "name": "Ada",
            "picture": "https://p/a.png", "preferred_username": "ada", "login": "ignored", "scope": "openid  email",
            "permissions": ["read:files", 7], "roles": ["admin"],
        })))
        .expect("maps");
        assert_eq!(
            info,
            UserInfo {
                user_id: "u-1".into(),
                email: Some("a@example.com".into()),
                name: Some("Ada".into()),
                picture: Some("https://p/a.png".into()),
                username: Some("ada".into()),
                scopes: vec!["openid".into(), "email".into()],
                permissions: vec!["read:files".into()],
                roles: vec!["admin".into()],
            }
        );
    }

    #[test]
    fn email_is_mapped_only_when_the_provider_verified_it() {
        let email = |extra: Value| {
            let mut doc = json!({ "sub": "u", "email": "ceo@example.com" });
            if let (Value::Object(doc), Value::Object(extra)) = (&mut doc, extra) {
                doc.extend(extra);
            }
            default_user_info(&claims(doc)).expect("maps").email
        };
        let ceo = Some("ceo@example.com".to_owned());
        assert_eq!(email(json!({ "email_verified": true })), ceo);
        assert_eq!(email(json!({ "email_verified": "true" })), ceo);
        assert_eq!(email(json!({})), None);
        assert_eq!(email(json!({ "email_verified": false })), None);
        assert_eq!(email(json!({ "email_verified": "false" })), None);
        assert_eq!(email(json!({ "email_verified": 1 })), None);
    }

    #[test]
    fn github_shape_numeric_sub_login_and_avatar() {
        let info = default_user_info(&claims(json!({
            "sub": 583231, "login": "octocat", "avatar_url": "https://a/o.png",
        })))
        .expect("maps");
        assert_eq!(info.user_id, "583231");
        assert_eq!(info.username.as_deref(), Some("octocat"));
        assert_eq!(info.picture.as_deref(), Some("https://a/o.png"));
        assert!(info.scopes.is_empty());
    }

    #[test]
    fn scp_as_array_or_string() {
        let from_array = default_user_info(&claims(json!({"sub": "s", "scp": ["a", "b"]})));
        let from_string = default_user_info(&claims(json!({"sub": "s", "scp": "a b"})));
        assert_eq!(from_array.expect("maps").scopes, ["a", "b"]);
        assert_eq!(from_string.expect("maps").scopes, ["a", "b"]);
    }

    #[test]
    fn missing_empty_or_odd_sub_is_refused() {
        for bad in [
            json!({}),
            json!({"sub": ""}),
            json!({"sub": 1.5}),
            json!({"sub": null}),
            json!({"sub": ["x"]}),
        ] {
            assert_eq!(
                default_user_info(&claims(bad.clone())),
                Err(VerifyError::InvalidClaim("sub")),
                "{bad}"
            );
        }
    }

    #[test]
    fn profile_claims_of_the_wrong_type_are_ignored() {
        let info = default_user_info(&claims(json!({
            "sub": "s", "email": 5, "name": ["x"], "picture": true, "preferred_username": {},
            "scope": 3, "permissions": "read", "roles": {"a": 1},
        })))
        .expect("maps");
        assert_eq!(
            info,
            UserInfo {
                user_id: "s".into(),
                ..Default::default()
            }
        );
    }
}

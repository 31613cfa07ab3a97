//! The authenticated user: [`AuthUser`], the claims-to-user mapping, and the extractor.

use std::{fmt, ops::Deref, sync::Arc};

use serde::Serialize;

use crate::{AccessToken, Claims, VerifyError};

/// What the crate knows of a user, mapped from the token's claims.
///
/// Build one in your own mapping with `UserInfo { user_id, ..Default::default() }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    /// The stable user id (`sub` by default).
    pub user_id: String,
    /// `email`.
    pub email: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `picture` (or `avatar_url`).
    pub picture: Option<String>,
    /// `preferred_username`, else `login`.
    pub username: Option<String>,
    /// The granted scopes: `scope` (space-separated) or `scp` (string or array).
    pub scopes: Vec<String>,
    /// `permissions` (Auth0 RBAC).
    pub permissions: Vec<String>,
    /// `roles`.
    pub roles: Vec<String>,
}

/// A mapping from verified claims to a [`UserInfo`]; see [`default_user_info`].
pub type UserInfoFn = dyn Fn(&Claims) -> Result<UserInfo, VerifyError> + Send + Sync;

/// The signed-in user, put in the request by [`RequireAuth`](crate::RequireAuth).
///
/// Take it as a handler argument (`async fn tool(user: AuthUser)`); fields of [`UserInfo`] read
/// through `Deref` (`user.user_id`, `user.email`). Cloning is cheap (one `Arc`).
#[derive(Clone)]
pub struct AuthUser(Arc<Inner>);

struct Inner {
    info: UserInfo,
    claims: Claims,
    access_token: AccessToken,
}

impl AuthUser {
    /// Assembles a user from a verified token.
    pub fn new(info: UserInfo, claims: Claims, access_token: AccessToken) -> Self {
        Self(Arc::new(Inner {
            info,
            claims,
            access_token,
        }))
    }

    /// The mapped user.
    pub fn info(&self) -> &UserInfo {
        &self.0.info
    }

    /// All claims of the token, for anything the mapping does not carry.
    pub fn claims(&self) -> &Claims {
        &self.0.claims
    }

    /// The bearer token the request carried, to call the provider's API on the user's behalf.
    pub fn access_token(&self) -> &AccessToken {
        &self.0.access_token
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
            .field("access_token", &self.0.access_token)
            .finish_non_exhaustive()
    }
}

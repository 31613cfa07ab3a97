//! [`FnVerifier`]: a verifier made from an async function, for opaque tokens.

use std::{fmt, future::Future};

use futures::future::LocalBoxFuture;

use crate::{Claims, TokenVerifier, VerifyError};

/// A [`TokenVerifier`] that hands the token to your async function, for providers whose tokens
/// are opaque (GitHub, or anything checked through an API or introspection call).
///
/// The function receives the bearer token and returns its claims, or
/// [`VerifyError::Rejected`] for a bad token and [`VerifyError::Unavailable`] when the provider
/// cannot be reached (answered with 503 rather than 401). Put `sub` in the claims: the default
/// mapping ([`default_user_info`](crate::user::default_user_info)) needs it. When the claims carry no
/// `exp`, [`RequireAuth`](crate::RequireAuth) caches the result for its maximum TTL (default
/// 5 minutes), so a revoked token stays usable at most that long.
///
/// The token is a secret: do not log it.
///
/// ```
/// use actix_mcp_oauth::{Claims, verify::FnVerifier, VerifyError};
/// use serde_json::{json, Map};
///
/// let verifier = FnVerifier::new(|token: String| async move {
///     // Call the provider here, e.g. GitHub's `GET /user` with the token.
///     if token != "let-me-in" {
///         return Err(VerifyError::Rejected("unknown token".into()));
///     }
///     let mut claims = Map::new();
///     claims.insert("sub".into(), json!(583231));
///     claims.insert("login".into(), json!("octocat"));
///     Ok(Claims::new(claims))
/// });
/// # let _ = verifier;
/// ```
pub struct FnVerifier<F> {
    f: F,
}

impl<F, Fut> FnVerifier<F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Claims, VerifyError>> + 'static,
{
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        Self { f }
    }
}

impl<F, Fut> TokenVerifier for FnVerifier<F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Claims, VerifyError>> + 'static,
{
    fn verify<'a>(&'a self, token: &'a str) -> LocalBoxFuture<'a, Result<Claims, VerifyError>> {
        Box::pin((self.f)(token.to_owned()))
    }
}

impl<F> fmt::Debug for FnVerifier<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnVerifier").finish_non_exhaustive()
    }
}

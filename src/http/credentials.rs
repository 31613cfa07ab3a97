//! The two ways a client sends its credentials (RFC 6749 §2.3.1).

/// How a client authenticates itself to the provider's token, revocation and introspection
/// endpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// `client_id` and `client_secret` in the form body (RFC 6749 §2.3.1). The default.
    #[default]
    ClientSecretPost,
    /// HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
}

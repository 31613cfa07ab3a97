//! Newtypes for the secrets the crate handles: their `Debug` prints `[redacted]`, and the value
//! is reached only through an explicit `secret()`, so a stray `{:?}` in a log line leaks nothing.

use std::fmt;

macro_rules! secret_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(Box<str>);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into().into_boxed_str())
            }

            /// The secret itself. Named so that every read of it is visible in review.
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self::new(value)
            }
        }
    };
}

secret_newtype!(
    /// A bearer access token. `Debug` prints `[redacted]`; read it with [`AccessToken::secret`].
    AccessToken
);

secret_newtype!(
    /// The upstream client secret. `Debug` prints `[redacted]`.
    ClientSecret
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret() {
        let token = AccessToken::new("eyJhbGciOi.secret.value");
        let secret = ClientSecret::new("hunter2");
        assert_eq!(format!("{token:?}"), "AccessToken([redacted])");
        assert_eq!(format!("{secret:?}"), "ClientSecret([redacted])");
        assert_eq!(token.secret(), "eyJhbGciOi.secret.value");
    }
}

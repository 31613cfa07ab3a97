//! OAuth 2.1 for Model Context Protocol servers on actix-web.
//!
//! (Crate docs with a runnable example come with the middleware.)

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod challenge;
mod clock;
mod config;
mod error;
mod middleware;
mod redirect;
mod routes;
mod seal;
mod secret;
mod upstream;
mod user;
mod verify;

pub use clock::{Clock, SystemClock};
pub use config::{
    ClientAuthMethod, ConfigError, OAuthProxy, OAuthProxyBuilder, ResourceForwarding,
};
pub use error::OAuthError;
pub use seal::ProxyKey;
pub use secret::{AccessToken, ClientSecret};
pub use user::{AuthUser, UserInfo, UserInfoFn};
pub use verify::{Claims, TokenVerifier, VerifyError};

//! OAuth 2.1 for Model Context Protocol servers on actix-web.
//!
//! (Crate docs with a runnable example come with the middleware.)

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod challenge;
mod clock;
#[allow(dead_code)] // TEMP: the URL helpers are used by the builders that land next
mod config;
mod middleware;
mod secret;
mod user;
mod verify;

pub use clock::{Clock, SystemClock};
pub use config::ConfigError;
pub use secret::{AccessToken, ClientSecret};
pub use user::{AuthUser, UserInfo, UserInfoFn};
pub use verify::{Algorithm, JwksVerifier, JwksVerifierBuilder};
pub use verify::{Claims, TokenVerifier, VerifyError};

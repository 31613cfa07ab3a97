//! The crate's HTTP calls to identity providers: bounded in time and size, never following a
//! redirect (it would carry a token or a credential elsewhere), with failures classified so
//! that callers can tell "the provider is down" from "the provider said no". Every verifier and
//! the proxy make their calls through here.
//!
//! What is public: [`ProviderMetadata`], an authorization server's discovery document read
//! once and given to both the proxy and the verifier, and [`ClientAuthMethod`], how a client's
//! id and secret reach a provider's token, revocation and introspection endpoints.
//!
//! Nothing here logs a token, a code or a secret.

use std::cell::RefCell;

use actix_web::http::header;
use awc::Client;

mod call;
mod credentials;
mod fetch;
mod flights;
mod guard;
mod metadata;
mod outage;

pub(crate) use call::{call, Answer, CallFailure};
pub use credentials::ClientAuthMethod;
pub(crate) use credentials::ClientCredentials;
pub(crate) use fetch::{fetch, fetch_with, spawn_fetch, Fetched};
pub(crate) use flights::{Busy, FlightOutcome, Flights, Rate};
pub(crate) use guard::ResolveFn;
pub(crate) use guard::{guarded_client, tls_connector, AddressGuard};
pub use metadata::ProviderMetadata;
pub(crate) use outage::OutageLog;
#[cfg(test)]
pub(crate) use outage::Written;

const USER_AGENT: &str = "actix-mcp-oauth";

/// A new client for calls to a provider. Redirects are not followed: a redirect from a token,
/// key or metadata endpoint would re-send the token or the credentials somewhere else, or
/// let another host answer for the provider. Each call sets its own timeout.
///
/// An awc client belongs to the runtime that made it and is not `Send`: make it on the thread
/// that uses it.
pub(crate) fn client() -> Client {
    Client::builder()
        .disable_redirects()
        .add_default_header((header::USER_AGENT, USER_AGENT))
        .finish()
}

thread_local! {
    /// The verifiers' client on this thread, with the id of the actix system it was made in.
    static API_CLIENT: RefCell<Option<(usize, Client)>> = const { RefCell::new(None) };
}

/// The [`client`] for calls made while verifying a token (token-info, user, introspection and
/// key endpoints): one per worker thread, so connections to the provider are reused across
/// requests. Outside an actix system (a thread with a runtime of its own), a new one.
pub(crate) fn api_client() -> Client {
    let Some(system) = actix_rt::System::try_current().map(|s| s.id()) else {
        return client();
    };
    API_CLIENT.with(|cell| {
        let mut slot = cell.borrow_mut();
        match &*slot {
            Some((id, client)) if *id == system => client.clone(),
            _ => {
                let fresh = client();
                *slot = Some((system, fresh.clone()));
                fresh
            }
        }
    })
}

//! The budget and single flight of the proxy's upstream calls ([`crate::http::Flights`]),
//! shared by every worker through the configuration; the calls themselves are
//! [`super::upstream`]'s.

use super::error::OAuthError;
use crate::http::{Answer, FlightOutcome, Flights};

/// The default number of upstream calls the proxy makes at once.
pub(crate) const DEFAULT_MAX_CALLS_IN_FLIGHT: usize = 32;

/// The proxy's upstream calls running now, shared by every worker.
pub(crate) type UpstreamCalls = Flights<Result<Answer, OAuthError>>;

impl FlightOutcome for Result<Answer, OAuthError> {
    fn busy(max: usize) -> Self {
        log::warn!("{max} upstream calls already in flight: a request was answered 503");
        Err(OAuthError::TemporarilyUnavailable(
            "the identity provider is busy, retry later".into(),
        ))
    }

    fn abandoned() -> Self {
        Err(OAuthError::Unavailable(
            "the identity provider call this request waited on was abandoned".into(),
        ))
    }
}

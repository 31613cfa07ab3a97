//! Upstream faults and size bounds. A token endpoint and a key set that misbehave (slow, reset,
//! HTML, huge, invalid, redirecting, down, duplicate keys), each a local server on 127.0.0.1:
//! every answer is a clean, spec-shaped error within the configured timeout, the next good
//! request succeeds, keys already fetched keep serving. And every size bound, at the bound and
//! past it.

#[path = "../common/jose.rs"]
mod jose;
mod upstream;

mod flood;
mod jwks;
mod limits;
mod outage;
mod soak;
mod token;

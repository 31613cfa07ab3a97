//! Upstream faults and size bounds: a token endpoint and a key set that misbehave (slow, reset, HTML, huge,
//! invalid, redirecting, down, duplicate keys), each against a local server on 127.0.0.1.
//! Every answer is a clean, spec-shaped error within the configured timeout; the next good
//! request succeeds; keys already fetched keep serving.

#[path = "../common/jose.rs"]
mod jose;
mod upstream;

mod jwks;
mod limits;
mod token;

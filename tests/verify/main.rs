//! The resource-server side: `RequireAuth` and `AuthUser` in front of a route, `JwksVerifier`
//! against bad tokens and a key endpoint that changes under it, the verified-token cache, and
//! `IntrospectionVerifier` against a stand-in endpoint.

mod fixtures;

mod bad_tokens;
mod introspection;
mod jwks_refresh;
mod middleware;
mod refusal_connection;
mod token_cache;

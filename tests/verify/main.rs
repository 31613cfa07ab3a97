//! The resource-server side: `RequireAuth` and `AuthUser` in front of a route, `JwksVerifier`
//! against bad tokens, ID tokens, other clients' tokens and a key endpoint that changes under
//! it, the verified-token cache, `IntrospectionVerifier` against a stand-in endpoint, and the
//! access policy behind `RequireAuth`.

mod fixtures;

mod access_policy;
mod bad_tokens;
mod introspection;
mod jwks_refresh;
mod middleware;
mod refusal_connection;
mod token_cache;
mod token_kinds;

//! The provider presets against stand-ins answering in each provider's documented shapes
//! (Google, GitHub, Entra ID, Okta, Auth0, Keycloak), discovery of a provider's metadata, and
//! `IntrospectionVerifier` and `JwksVerifier` against the real tokens and introspection
//! endpoint of the e2e suite's provider, and the access policy: with that provider's tokens, and
//! GitHub membership against a stand-in.

mod fixtures;

mod access_oidc_provider;
mod discovery;
mod entra;
mod github;
mod github_membership;
mod google;
mod introspection_oidc_provider;
mod jwt;
mod oidc_provider_tokens;

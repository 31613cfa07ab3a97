//! The provider presets against stand-ins answering in each provider's documented shapes
//! (Google, GitHub, Entra ID, Okta, Auth0, Keycloak), and `IntrospectionVerifier` against the
//! real introspection endpoint of the e2e suite's provider.

mod fixtures;

mod entra;
mod github;
mod google;
mod introspection_oidc_provider;
mod jwt;

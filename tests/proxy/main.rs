//! The OAuth proxy: discovery documents, registration, `/authorize`, the consent step, the
//! callback and `/token` against an upstream double, statelessness across replicas, the MCP
//! scope it protects, and what it logs.

mod fixtures;

mod access;
mod authorize;
mod cimd;
mod consent;
mod doctor;
mod flow;
mod github;
mod issued;
mod logging;
mod mcp_scope;
mod metadata;
mod register;
mod scopes;
mod stateless;

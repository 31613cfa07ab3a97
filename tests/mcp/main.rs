//! The rmcp integration (feature `rmcp`): an rmcp tool receives the `AuthUser` of the actix
//! request, rmcp's own OAuth client signs in through the proxy end to end, and an MCP session
//! belongs to the user who opened it; the example server's switches, and `TCP_NODELAY` on every
//! server a user may copy.

mod fixtures;

mod auth_user;
mod client_e2e;
mod example_flags;
mod keep_alive;
mod nodelay_docs;
mod sessions;

//! The rmcp integration (feature `rmcp`): an rmcp tool receives the `AuthUser` of the actix
//! request, and rmcp's own OAuth client signs in through the proxy end to end.

mod fixtures;

mod auth_user;
mod client_e2e;
mod keep_alive;

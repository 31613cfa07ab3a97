//! The clients people connect with, replayed against the proxy: each row sends what that
//! client sends (its registration body or metadata document, its authorization parameters,
//! its token and refresh requests) to a proxy whose upstream is the local OpenID provider of
//! `tests/e2e`, the user signs in through the headless user agent, and the token reaches the
//! tools of an rmcp server. Where a client's habit is unsafe, the row asserts the proxy's
//! refusal instead. `docs/clients.md` is the table of these rows.
//!
//! Needs `node` and `npm ci` in `tests/e2e`; without them every row says so and passes
//! without running (with `CI` set, it fails instead).

mod fixtures;

mod chatgpt;
mod claude;
mod codex;
mod copilot_cli;
mod cursor;
mod goose;
mod inspector;
mod mcp_remote;
mod open_webui;
mod vscode;

//! A self-check of an MCP server's sign-in, as clients see it:
//!
//! ```sh
//! cargo run --example doctor -- https://mcp.example.com/mcp
//! ```
//!
//! It fetches the challenge, the protected-resource metadata and the authorization-server
//! metadata the way the MCP clients do (challenge header, path-inserted and root well-knowns,
//! the OpenID variants), prints a table of checks, and exits with status 1 when any check
//! failed: `resource` not equal to the URL, issuer drift, no S256, no `none`, a relative
//! `resource_metadata`, CORS missing where browsers read. http is accepted for 127.0.0.1 and
//! localhost only, for a server on this machine.

mod checks;

use std::process::ExitCode;

#[actix_web::main]
async fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: cargo run --example doctor -- https://mcp.example.com/mcp");
        return ExitCode::from(2);
    };
    let report = checks::run(&url).await;
    print!("{}", report.table());
    if report.problems() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

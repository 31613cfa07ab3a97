//! What the rmcp tests share: an MCP tool that answers with the signed-in user, and the e2e
//! suite's provider and user agent, and the keys and tokens of the session tests.

use actix_mcp_oauth::AuthUser;
use rmcp::{handler::server::wrapper::Json, schemars, tool, tool_router};

#[path = "../common/jose.rs"]
mod jose;
#[path = "../common/node.rs"]
mod node;

pub use jose::{jwks, signed, Key};
pub use node::{missing, user_agent, OidcProvider};

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct WhoAmI {
    id: String,
    email: Option<String>,
    name: Option<String>,
    scopes: Vec<String>,
}

/// An MCP server with one tool, `whoami`, which takes the user as an `AuthUser` argument.
#[derive(Clone)]
pub struct Whoami;

#[tool_router(server_handler)]
impl Whoami {
    #[tool(description = "The signed-in user")]
    async fn whoami(&self, user: AuthUser) -> Json<WhoAmI> {
        Json(WhoAmI {
            id: user.user_id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            scopes: user.scopes.clone(),
        })
    }
}

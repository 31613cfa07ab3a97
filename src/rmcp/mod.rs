//! rmcp integration (feature `rmcp`): [`AuthUser`] as an rmcp tool argument, and the
//! `rmcp-actix-web` hook that carries it from the actix request to the MCP request.
//!
//! The hand-off has two halves because the two frameworks do not share request extensions:
//! `RequireAuth` puts the user in the *actix* request; rmcp-actix-web
//! builds the MCP request from a copy of the HTTP parts, and calls an `on_request` hook with the
//! actix request and the extensions it will attach. [`forward_auth_user`] is that hook; the
//! [`FromContextPart`] impl reads the user back inside the tool.
//!
//! [`SessionBinding`] keeps each MCP session to the user who opened it.

use ::rmcp::{
    handler::server::common::{AsRequestContext, FromContextPart},
    model::Extensions,
    ErrorData,
};
use actix_web::{HttpMessage, HttpRequest};

use crate::AuthUser;

mod session_table;
mod sessions;

pub use sessions::{SessionBinding, SessionBindingBuilder};

/// Copies the [`AuthUser`] of an actix request into the extensions of the MCP request.
///
/// This is the `on_request` hook of `rmcp-actix-web`; it does nothing for a request without a
/// user. Pass it as is:
///
/// ```no_run
/// use std::sync::Arc;
///
/// use actix_mcp_oauth::{forward_auth_user, AuthUser};
/// use rmcp::{tool, tool_router};
/// use rmcp_actix_web::transport::{LocalSessionManager, StreamableHttpService};
///
/// #[derive(Clone)]
/// struct Hello;
///
/// #[tool_router(server_handler)]
/// impl Hello {
///     #[tool(description = "Greets the signed-in user")]
///     async fn hello(&self, user: AuthUser) -> String {
///         format!("Hello, {}", user.name.as_deref().unwrap_or(&user.user_id))
///     }
/// }
///
/// let mcp = StreamableHttpService::builder()
///     .service_factory(Arc::new(|| Ok(Hello)))
///     .session_manager(Arc::new(LocalSessionManager::default()))
///     .on_request_fn(forward_auth_user)
///     .build();
/// // App::new().service(web::scope("/mcp").wrap(proxy.require_auth()).service(mcp.scope()))
/// # let _ = mcp;
/// ```
///
/// Serve the service with `HttpServer::tcp_nodelay(true)`: without it each streamed (SSE)
/// response on a keep-alive connection waits about 40 ms for the client's delayed ACK.
///
/// `#[tool_router(server_handler)]` rebuilds the tool router, tool schemas included, on every
/// `tools/call` and `tools/list`, and a stateless service calls its factory for every request:
/// on a busy server keep one router built up front (an `Arc<ToolRouter<Self>>` field and
/// `#[tool_handler(router = self.tools)]`, as `examples/mcp_server.rs` does), which saves about
/// an eighth of the CPU of a stateless `tools/call`.
///
/// rmcp-actix-web strips the `Authorization` header before the MCP layer (unless its
/// `authorization-token-passthrough` feature is on, which this crate never needs): the user,
/// with its verified claims and, when a tool must call the provider's API, its
/// [`upstream_access_token`](AuthUser::upstream_access_token), travels this way instead.
pub fn forward_auth_user(req: &HttpRequest, extensions: &mut Extensions) {
    if let Some(user) = req.extensions().get::<AuthUser>() {
        extensions.insert(user.clone());
    }
}

/// An rmcp `#[tool]` function takes `user: AuthUser` like an actix handler does.
///
/// Without a user (the MCP scope not wrapped in `RequireAuth`, or the
/// service built without [`forward_auth_user`]) the call fails with a JSON-RPC internal error,
/// and the server logs which piece is missing; it never panics.
impl<C: AsRequestContext> FromContextPart<C> for AuthUser {
    fn from_context_part(context: &mut C) -> Result<Self, ErrorData> {
        user_from_extensions(&context.as_request_context().extensions).ok_or_else(|| {
            log::error!(
                "an rmcp tool takes `AuthUser` but the MCP request carries none: wrap the MCP \
                 scope in `RequireAuth` and build the rmcp-actix-web service with \
                 `.on_request_fn(actix_mcp_oauth::forward_auth_user)`"
            );
            ErrorData::internal_error("the authenticated user is not available", None)
        })
    }
}

/// Finds the user where each transport leaves it: in the MCP extensions themselves (a custom
/// transport or a test), in the HTTP request's extensions (a tower layer in front of rmcp's own
/// HTTP service), or in the extensions written by the rmcp-actix-web hook, which rmcp nests inside
/// the HTTP request parts.
fn user_from_extensions(extensions: &Extensions) -> Option<AuthUser> {
    if let Some(user) = extensions.get::<AuthUser>() {
        return Some(user.clone());
    }
    let parts = extensions.get::<http::request::Parts>()?;
    parts.extensions.get::<AuthUser>().cloned().or_else(|| {
        parts
            .extensions
            .get::<Extensions>()
            .and_then(|hooked| hooked.get::<AuthUser>())
            .cloned()
    })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use serde_json::{json, Map};

    use super::*;
    use crate::{secret::AccessToken, Claims, UserInfo};

    fn user(id: &str) -> AuthUser {
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(id));
        AuthUser::new(
            UserInfo {
                user_id: id.into(),
                email: Some(format!("{id}@example.test")),
                ..Default::default()
            },
            Claims::new(claims),
            AccessToken::new("token"),
        )
    }

    fn parts_with(f: impl FnOnce(&mut http::Extensions)) -> http::request::Parts {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        f(&mut parts.extensions);
        parts
    }

    #[test]
    fn the_hook_copies_the_user_of_the_actix_request() {
        let req = TestRequest::default().to_http_request();
        req.extensions_mut().insert(user("alice"));
        let mut extensions = Extensions::new();
        forward_auth_user(&req, &mut extensions);
        let copied = extensions.get::<AuthUser>().map(|u| u.user_id.clone());
        assert_eq!(copied.as_deref(), Some("alice"));
    }

    #[test]
    fn the_hook_adds_nothing_for_an_anonymous_request() {
        let req = TestRequest::default().to_http_request();
        let mut extensions = Extensions::new();
        forward_auth_user(&req, &mut extensions);
        assert!(extensions.get::<AuthUser>().is_none());
    }

    #[test]
    fn the_user_is_found_where_rmcp_actix_web_nests_the_hook_extensions() {
        let mut hooked = Extensions::new();
        hooked.insert(user("bob"));
        let mut extensions = Extensions::new();
        extensions.insert(parts_with(|e| {
            e.insert(hooked);
        }));
        let found = user_from_extensions(&extensions).map(|u| u.user_id.clone());
        assert_eq!(found.as_deref(), Some("bob"));
    }

    #[test]
    fn the_user_is_found_in_the_http_parts_and_at_the_top_level() {
        let mut in_parts = Extensions::new();
        in_parts.insert(parts_with(|e| {
            e.insert(user("carol"));
        }));
        assert_eq!(
            user_from_extensions(&in_parts).map(|u| u.user_id.clone()),
            Some("carol".to_owned())
        );

        let mut top = Extensions::new();
        top.insert(user("dave"));
        assert_eq!(
            user_from_extensions(&top).map(|u| u.user_id.clone()),
            Some("dave".to_owned())
        );
    }

    #[test]
    fn no_user_anywhere_is_none() {
        let mut extensions = Extensions::new();
        extensions.insert(parts_with(|e| {
            e.insert(Extensions::new());
        }));
        assert!(user_from_extensions(&extensions).is_none());
        assert!(user_from_extensions(&Extensions::new()).is_none());
    }
}

//! The proxy's routes as one actix [`Scope`], and what they share.

mod authorize;
mod callback;
mod client;
mod consent;
mod cookies;
mod metadata;
mod register;
mod revoke;
mod token;

use std::collections::HashMap;

use actix_cors::Cors;
use actix_web::{
    guard,
    http::{header, Method, StatusCode},
    web, HttpResponse, Scope,
};

use crate::{error::OAuthError, upstream::Upstream, OAuthProxy, RequireAuth};

/// Largest form or JSON body the proxy reads: registration and token requests are small.
const MAX_REQUEST_BODY: usize = 16 * 1024;

/// What the handlers of one worker share: the configuration and that worker's HTTP client.
pub(crate) struct ProxyState {
    pub(crate) proxy: OAuthProxy,
    pub(crate) upstream: Upstream,
}

type State = web::Data<ProxyState>;

impl OAuthProxy {
    /// The proxy's routes, to mount at the application root: discovery (RFC 9728, RFC 8414 and
    /// OpenID paths), `/register` (unless registration is closed), `/authorize`, the consent
    /// page `/consent`, `/oauth/callback`, `/token`, and `/revoke` when a revocation endpoint
    /// is configured. The discovery documents, `/register`, `/token` and `/revoke` have CORS;
    /// `/authorize`, `/consent` and `/oauth/callback` are for the user's own browser only.
    ///
    /// The scope answers only its own paths and lets every other request through to the
    /// services registered after it, so the order of `.service` calls does not matter. Mount
    /// the MCP endpoint in its own scope at [`mcp_path`](crate::OAuthProxyBuilder::mcp_path),
    /// behind [`require_auth`](Self::require_auth) and [`cors`](Self::cors) (CORS outermost, so
    /// that preflight requests, which carry no token, are answered). Serve both `/mcp` and
    /// `/mcp/` from it without redirecting: several clients drop the POST body and the
    /// `Authorization` header on a redirect. rmcp-actix-web's `scope_with_path` already routes
    /// both; with your own handler, route `""` and `"/"`:
    ///
    /// ```no_run
    /// use actix_web::{web, App, HttpResponse, HttpServer};
    /// # async fn run(proxy: actix_mcp_oauth::OAuthProxy) -> std::io::Result<()> {
    /// async fn mcp() -> HttpResponse { HttpResponse::Ok().finish() }
    ///
    /// HttpServer::new(move || {
    ///     App::new().service(proxy.scope()).service(
    ///         web::scope("/mcp")
    ///             .wrap(proxy.require_auth())
    ///             .wrap(proxy.cors())
    ///             .route("", web::post().to(mcp))
    ///             .route("/", web::post().to(mcp)),
    ///     )
    /// })
    /// .bind(("127.0.0.1", 8080))?
    /// .run()
    /// .await
    /// # }
    /// ```
    ///
    /// Call it inside the `HttpServer::new` closure: each worker gets its own HTTP client for
    /// the upstream calls.
    pub fn scope(&self) -> Scope {
        let cfg = &self.cfg;
        let paths = self.paths();
        let state = web::Data::new(ProxyState {
            proxy: self.clone(),
            upstream: Upstream::new(cfg.upstream_timeout),
        });
        let protected = format!("/.well-known/oauth-protected-resource{}", cfg.mcp_path);
        let mut routes = web::scope("")
            .route(
                "/.well-known/oauth-protected-resource",
                web::get().to(metadata::protected_resource),
            )
            .route(&protected, web::get().to(metadata::protected_resource))
            .route(
                "/.well-known/oauth-authorization-server",
                web::get().to(metadata::authorization_server),
            )
            .route(
                "/.well-known/openid-configuration",
                web::get().to(metadata::authorization_server),
            )
            .route("/token", web::post().to(token::token));
        if cfg.dynamic_registration {
            routes = routes.route("/register", web::post().to(register::register));
        }
        if cfg.revocation_endpoint.is_some() {
            routes = routes.route("/revoke", web::post().to(revoke::revoke));
        }
        // The outer scope stays a plain `Scope`; CORS wraps the inner one. The pages the
        // user's browser navigates to (authorize, consent, callback) are outside it: no other
        // origin has any business reading them (issue 3 lists the routes that get CORS).
        web::scope("")
            .guard(guard::fn_guard(move |ctx| {
                let path = ctx.head().uri.path();
                paths.iter().any(|p| p == path)
            }))
            .app_data(state)
            .service(
                web::resource("/authorize")
                    .route(web::get().to(authorize::authorize_get))
                    .route(web::post().to(authorize::authorize_post)),
            )
            .service(
                web::resource("/consent")
                    .route(web::get().to(consent::page))
                    .route(web::post().to(consent::answer)),
            )
            .service(web::resource("/oauth/callback").route(web::get().to(callback::callback)))
            .service(routes.wrap(self.cors()))
    }

    /// Every path [`scope`](Self::scope) answers.
    fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = [
            "/.well-known/oauth-protected-resource",
            "/.well-known/oauth-authorization-server",
            "/.well-known/openid-configuration",
            "/authorize",
            "/consent",
            "/oauth/callback",
            "/token",
        ]
        .map(String::from)
        .to_vec();
        paths.push(format!(
            "/.well-known/oauth-protected-resource{}",
            self.cfg.mcp_path
        ));
        if self.cfg.dynamic_registration {
            paths.push("/register".into());
        }
        if self.cfg.revocation_endpoint.is_some() {
            paths.push("/revoke".into());
        }
        paths
    }

    /// The bearer-token check for the MCP scope: tokens verified with the configured
    /// [`verifier`](crate::OAuthProxyBuilder::verifier) and
    /// [`user_info`](crate::OAuthProxyBuilder::user_info), for the resource
    /// `public_url + mcp_path`, with challenges that point clients at this proxy's metadata.
    /// Every clone shares one token cache. Add `.require_scopes([..])` to demand scopes.
    pub fn require_auth(&self) -> RequireAuth {
        self.cfg.require_auth.clone()
    }

    /// CORS for browser-based clients: any origin, no cookies, `WWW-Authenticate` and
    /// `Mcp-Session-Id` readable by scripts. The proxy's own routes have it already; wrap the
    /// MCP scope with it (outside [`require_auth`](Self::require_auth)).
    pub fn cors(&self) -> Cors {
        Cors::default()
            .allow_any_origin()
            .allowed_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
            .allow_any_header()
            .expose_headers([
                header::WWW_AUTHENTICATE,
                header::HeaderName::from_static("mcp-session-id"),
                header::HeaderName::from_static("mcp-protocol-version"),
            ])
            .max_age(3600)
    }

    /// The canonical resource: `public_url + mcp_path`.
    pub fn resource(&self) -> &str {
        &self.cfg.resource
    }
}

/// Request parameters, where a repeated name is an error (RFC 6749 §3.1) and an empty value
/// counts as absent.
pub(crate) struct Params {
    map: HashMap<String, String>,
    repeated: Option<String>,
}

impl Params {
    pub(crate) fn parse(raw: &[u8]) -> Self {
        let mut map = HashMap::new();
        let mut repeated = None;
        for (k, v) in url::form_urlencoded::parse(raw) {
            if v.is_empty() {
                continue;
            }
            if map.insert(k.to_string(), v.into_owned()).is_some() && repeated.is_none() {
                repeated = Some(k.into_owned());
            }
        }
        Self { map, repeated }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// `invalid_request` when `name` was sent more than once.
    pub(crate) fn check_repeated(&self, names: &[&str]) -> Result<(), OAuthError> {
        match &self.repeated {
            Some(name) if names.is_empty() || names.contains(&name.as_str()) => Err(
                OAuthError::InvalidRequest(format!("`{name}` is given more than once").into()),
            ),
            _ => Ok(()),
        }
    }
}

/// Reads a request body of at most [`MAX_REQUEST_BODY`] bytes.
pub(crate) async fn read_body(payload: web::Payload) -> Result<web::Bytes, &'static str> {
    match payload.to_bytes_limited(MAX_REQUEST_BODY).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err("the request body could not be read"),
        Err(_) => Err("the request body is too large"),
    }
}

/// A small HTML page for errors shown to the user's browser instead of redirected: the
/// client or the redirect URI is not trusted, or a transaction did not open.
pub(crate) fn error_page(status: StatusCode, err: &OAuthError) -> HttpResponse {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sign-in failed</title></head><body><main>\
         <h1>Sign-in failed</h1><p>{}</p><p><code>{}</code></p>\
         <p>Return to your application and start the sign-in again.</p></main></body></html>\n",
        escape_html(err.description()),
        escape_html(err.code()),
    );
    let mut res = HttpResponse::build(status);
    crate::error::no_store(&mut res);
    res.insert_header((
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ))
    .insert_header((header::X_FRAME_OPTIONS, "DENY"))
    .insert_header((header::REFERRER_POLICY, "no-referrer"))
    .content_type("text/html; charset=utf-8")
    .body(body)
}

pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_caught_and_empty_ones_ignored() {
        let p = Params::parse(b"a=1&b=&a=2&c=3");
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("3"));
        assert!(p.check_repeated(&["a"]).is_err());
        assert!(p.check_repeated(&["c"]).is_ok());
        assert!(Params::parse(b"a=1&b=2").check_repeated(&[]).is_ok());
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}

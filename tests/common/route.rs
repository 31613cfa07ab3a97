//! A route behind `RequireAuth` that answers with the user it was handed, to send tokens to.

use actix_mcp_oauth::{AuthUser, RequireAuth};
use actix_web::{http::StatusCode, test, web, App, HttpResponse};
use serde_json::{json, Value};

/// What the protected route answered: the status, and the user as JSON on success.
pub struct Outcome {
    pub status: StatusCode,
    pub user: Value,
    pub challenge: Option<String>,
}

/// Sends `token` to a route behind `auth` and returns what it answered. The app is built for
/// each call; the token cache lives in `auth` and so persists across calls.
pub async fn call(auth: &RequireAuth, token: &str) -> Outcome {
    let app = test::init_service(
        App::new().service(
            web::scope("/mcp")
                .wrap(auth.clone())
                .route("/whoami", web::get().to(whoami)),
        ),
    )
    .await;
    let req = test::TestRequest::get()
        .uri("/mcp/whoami")
        .insert_header(("authorization", format!("Bearer {token}")))
        .to_request();
    let res = test::call_service(&app, req).await;
    let status = res.status();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = test::read_body(res).await;
    let user = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Outcome {
        status,
        user,
        challenge,
    }
}

async fn whoami(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "user_id": user.user_id,
        "email": user.email,
        "name": user.name,
        "picture": user.picture,
        "username": user.username,
        "scopes": user.scopes,
        "permissions": user.permissions,
        "roles": user.roles,
        "claims": user.claims().as_map(),
    }))
}

//! `POST /register`: dynamic client registration (RFC 7591), answered with a client id that is
//! the sealed registration itself, so nothing is stored.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{read_body, State};
use crate::proxy::{
    client_metadata::{check_client_name, check_redirect_uris, ApplicationType, ClientAuth},
    error::{no_store, OAuthError},
    state::Registration,
};

/// The metadata the proxy reads; everything else a client sends is ignored (RFC 7591 §2).
#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    response_types: Option<Vec<String>>,
    #[serde(default)]
    application_type: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
}

pub(crate) async fn register(
    state: State,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let cfg = &state.cfg;
    let body = read_body(payload, cfg.limits.register_body)
        .await
        .map_err(|e| OAuthError::InvalidClientMetadata(e.into()))?;
    let req: Request = serde_json::from_slice(&body).map_err(|e| {
        OAuthError::InvalidClientMetadata(
            format!("the body is not valid client metadata JSON: {e}").into(),
        )
    })?;

    let redirect_uris = req.redirect_uris.unwrap_or_default();
    check_redirect_uris(&redirect_uris, &cfg.limits)?;
    let name = check_client_name(req.client_name.as_deref())?;
    let application_type = ApplicationType::check(req.application_type.as_deref(), &redirect_uris)?;
    let auth = ClientAuth::parse(req.token_endpoint_auth_method.as_deref())?;

    let grant_types = match req.grant_types {
        None => cfg.grant_types.clone(),
        Some(mut asked) => {
            // MCP clients register for `refresh_token` whatever the server offers (Claude,
            // Cursor, VS Code, ...): a server that offers no refresh grant answers without it
            // rather than refusing them all (RFC 7591 §3.2.1: the server may replace a
            // requested value). Other grants are refused.
            asked.retain(|g| g != "refresh_token" || cfg.grant_types.contains(g));
            if let Some(bad) = asked.iter().find(|g| !cfg.grant_types.contains(g)) {
                return Err(OAuthError::InvalidClientMetadata(
                    format!("grant type `{bad}` is not supported").into(),
                ));
            }
            asked
        }
    };
    if let Some(types) = &req.response_types {
        if types.iter().any(|t| t != "code") {
            return Err(OAuthError::InvalidClientMetadata(
                "only the `code` response type is supported".into(),
            ));
        }
    }

    let issued_at = cfg.clock.now();
    let registration = Registration {
        name: name.clone(),
        redirect_uris: redirect_uris.clone(),
        issued_at,
        auth,
    };
    let client_id = cfg
        .sealer
        .seal(&registration)
        .map_err(|_| OAuthError::ServerError("the registration could not be sealed".into()))?;
    // Never past the bound within which the id opens again: the limits size it for the
    // worst case, so this holds for every registration they let through.
    if client_id.len() > cfg.limits.client_id_bytes() {
        return Err(OAuthError::InvalidClientMetadata(
            "the redirect URIs and name are too long in total".into(),
        ));
    }

    let mut doc = json!({
        "client_id": client_id,
        "client_id_issued_at": issued_at,
        "redirect_uris": redirect_uris,
        "grant_types": grant_types,
        "response_types": ["code"],
        "application_type": application_type.as_str(),
        "token_endpoint_auth_method": auth.as_str(),
    });
    // Every client may ask for the scopes the server defines (some clients keep only the
    // scopes a registration answer echoes); none defined, no `scope` (RFC 7591 §2: a list of
    // scope-tokens, never empty).
    let names: Vec<&str> = cfg.model.names().collect();
    if !names.is_empty() {
        doc["scope"] = serde_json::Value::from(names.join(" "));
    }
    if !auth.is_none() {
        // Derived from the proxy key and the client id: nothing is stored, and it does not
        // expire while the id is valid.
        let secret = cfg
            .sealer
            .client_secret(&client_id)
            .map_err(|_| OAuthError::ServerError("the client secret could not be made".into()))?;
        doc["client_secret"] = Value::String(secret.secret().to_owned());
        doc["client_secret_expires_at"] = json!(0);
    }
    if let Some(name) = name {
        doc["client_name"] = Value::String(name);
    }
    let mut res = HttpResponse::Created();
    no_store(&mut res);
    Ok(res.json(doc))
}

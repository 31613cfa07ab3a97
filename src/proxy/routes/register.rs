//! `POST /register`: dynamic client registration (RFC 7591), answered with a client id that is
//! the sealed registration itself, so nothing is stored.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{read_body, State};
use crate::proxy::{
    error::{no_store, OAuthError},
    redirect::validate_redirect_uri,
    state::Registration,
};

/// More would only make the client id (and every URL carrying it) longer.
const MAX_REDIRECT_URIS: usize = 10;
const MAX_REDIRECT_URI_LEN: usize = 1024;
const MAX_CLIENT_NAME: usize = 200;
/// The client id travels in every authorization URL; browsers and proxies cut long URLs.
const MAX_CLIENT_ID: usize = 4096;

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
}

pub(crate) async fn register(
    state: State,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let cfg = &state.cfg;
    let body = read_body(payload)
        .await
        .map_err(|e| OAuthError::InvalidClientMetadata(e.into()))?;
    let req: Request = serde_json::from_slice(&body).map_err(|e| {
        OAuthError::InvalidClientMetadata(
            format!("the body is not valid client metadata JSON: {e}").into(),
        )
    })?;

    let redirect_uris = req.redirect_uris.unwrap_or_default();
    if redirect_uris.is_empty() {
        return Err(OAuthError::InvalidRedirectUri(
            "`redirect_uris` is required".into(),
        ));
    }
    if redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::InvalidRedirectUri(
            format!("at most {MAX_REDIRECT_URIS} redirect URIs").into(),
        ));
    }
    for uri in &redirect_uris {
        if uri.len() > MAX_REDIRECT_URI_LEN {
            return Err(OAuthError::InvalidRedirectUri(
                "a redirect URI is too long".into(),
            ));
        }
        validate_redirect_uri(uri)
            .map_err(|e| OAuthError::InvalidRedirectUri(e.to_string().into()))?;
    }

    let name = req
        .client_name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if let Some(name) = &name {
        if name.chars().count() > MAX_CLIENT_NAME || name.chars().any(char::is_control) {
            return Err(OAuthError::InvalidClientMetadata(
                "`client_name` is too long or has control characters".into(),
            ));
        }
    }

    let grant_types = match req.grant_types {
        None => cfg.grant_types.clone(),
        Some(asked) => {
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
    };
    let client_id = cfg
        .sealer
        .seal(&registration)
        .map_err(|_| OAuthError::ServerError("the registration could not be sealed".into()))?;
    if client_id.len() > MAX_CLIENT_ID {
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
        // A public client: the client's own PKCE protects the code, and no secret is issued.
        "token_endpoint_auth_method": "none",
    });
    if let Some(name) = name {
        doc["client_name"] = Value::String(name);
    }
    let mut res = HttpResponse::Created();
    no_store(&mut res);
    Ok(res.json(doc))
}

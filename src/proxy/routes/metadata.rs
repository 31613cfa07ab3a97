//! Discovery: authorization-server metadata (RFC 8414, also served at the OpenID configuration
//! path). The issuer is the public origin, without a path and without a trailing slash: the
//! string clients derive from the protected-resource metadata's `authorization_servers`, byte
//! for byte, so the two well-known locations are all the 2025-11-25 discovery order tries. The protected-resource metadata (RFC 9728) is served by the resource itself, with the
//! same cache policy.

use actix_web::{http::header, HttpResponse};
use serde_json::{json, Value};

use super::State;
use crate::resource::METADATA_CACHE;

pub(crate) async fn authorization_server(state: State) -> HttpResponse {
    let cfg = &state.cfg;
    let base = &cfg.base;
    let mut doc = json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "scopes_supported": cfg.model.names().collect::<Vec<_>>(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": cfg.grant_types,
        "token_endpoint_auth_methods_supported": ["none"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": cfg.documents.is_some(),
    });
    if cfg.dynamic_registration {
        doc["registration_endpoint"] = Value::String(format!("{base}/register"));
        // A registered client may ask for a secret; `none` stays the default.
        doc["token_endpoint_auth_methods_supported"] =
            json!(["none", "client_secret_basic", "client_secret_post"]);
    }
    if cfg.serves_revocation() {
        doc["revocation_endpoint"] = Value::String(format!("{base}/revoke"));
        // /revoke authenticates a client exactly as /token does: a client given a secret
        // must send it there too.
        doc["revocation_endpoint_auth_methods_supported"] =
            doc["token_endpoint_auth_methods_supported"].clone();
    }
    document(doc)
}

fn document(doc: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, METADATA_CACHE))
        .json(doc)
}

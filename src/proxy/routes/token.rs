//! `POST /token`: opens the sealed code, checks what it is bound to, and forwards the grant to
//! the upstream with the proxy's credentials; refresh tokens pass through the same way.

use actix_web::{http::header, web, HttpRequest, HttpResponse};
use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine as _,
};

use super::{client, read_body, Params, State};
use crate::proxy::{
    config::{ProxyConfig, ResourceForwarding},
    error::OAuthError,
    state::{ClientBinding, Code},
    upstream::ProviderAnswer,
};

pub(crate) async fn token(
    state: State,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let cfg = &state.cfg;
    let body = read_body(payload)
        .await
        .map_err(|e| OAuthError::InvalidRequest(e.into()))?;
    let params = Params::parse(&body);
    params.check_repeated(&[])?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::InvalidRequest("`grant_type` is required".into()))?;
    if !cfg.grant_types.iter().any(|g| g == grant_type) {
        return Err(OAuthError::UnsupportedGrantType(
            format!("`{}` is not supported", truncate(grant_type)).into(),
        ));
    }
    let client_id = client_id(&req, &params)?;
    if let Err(e) = client::resolve(cfg, &client_id) {
        return refuse_client(&req, e);
    }
    // RFC 8707 §2.2: the token request names the same resource as the authorization request.
    if params.get("resource").is_some_and(|r| r != cfg.resource) {
        return Err(OAuthError::InvalidTarget(
            format!("this server's resource is {}", cfg.resource).into(),
        ));
    }

    let mut form: Vec<(&str, &str)> = Vec::new();
    let code: Code;
    match grant_type {
        "authorization_code" => {
            code = redeem(cfg, &params, &client_id)?;
            let verifier = params.get("code_verifier").unwrap_or_default();
            form.extend([
                ("grant_type", "authorization_code"),
                ("code", code.upstream_code.as_str()),
                ("redirect_uri", cfg.callback.as_str()),
                ("code_verifier", verifier),
            ]);
        }
        _ => {
            let refresh = params
                .get("refresh_token")
                .ok_or_else(|| OAuthError::InvalidRequest("`refresh_token` is required".into()))?;
            form.extend([("grant_type", "refresh_token"), ("refresh_token", refresh)]);
            if let Some(scope) = params.get("scope") {
                form.push(("scope", scope));
            }
        }
    }
    if cfg.resource_forwarding == ResourceForwarding::AsIs {
        form.push(("resource", &cfg.resource));
    }
    state
        .upstream
        .post_form(cfg, &cfg.token_endpoint, form)
        .await?
        .into_token_response()
}

/// Opens the code and checks it against this request: same client, same redirect URI, and a
/// PKCE verifier that matches the challenge.
fn redeem(cfg: &ProxyConfig, params: &Params, client_id: &str) -> Result<Code, OAuthError> {
    let sealed = params
        .get("code")
        .ok_or_else(|| OAuthError::InvalidRequest("`code` is required".into()))?;
    let code = cfg.sealer.open::<Code>(sealed).map_err(|e| {
        log::debug!("code refused: {e}");
        OAuthError::InvalidGrant("the code is invalid or has expired".into())
    })?;
    if code.client != ClientBinding::of(client_id) {
        return Err(OAuthError::InvalidGrant(
            "the code was issued to another client".into(),
        ));
    }
    match params.get("redirect_uri") {
        Some(uri) if uri != code.redirect_uri => {
            return Err(OAuthError::InvalidGrant(
                "`redirect_uri` differs from the authorization request".into(),
            ))
        }
        None if code.redirect_uri_sent => {
            return Err(OAuthError::InvalidRequest(
                "`redirect_uri` is required".into(),
            ))
        }
        _ => {}
    }
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| OAuthError::InvalidRequest("`code_verifier` is required".into()))?;
    // RFC 7636 §4.6, checked here as well as upstream: some providers ignore PKCE silently.
    if URL_SAFE_NO_PAD.encode(openssl::sha::sha256(verifier.as_bytes())) != code.code_challenge {
        return Err(OAuthError::InvalidGrant("PKCE verification failed".into()));
    }
    Ok(code)
}

/// The client id of a public client: the `client_id` parameter, or the user part of an HTTP
/// Basic header (some clients send that even with `token_endpoint_auth_method=none`).
pub(super) fn client_id(req: &HttpRequest, params: &Params) -> Result<String, OAuthError> {
    let from_header = basic_user(req);
    match (params.get("client_id"), from_header) {
        (Some(a), Some(b)) if a != b => Err(OAuthError::InvalidRequest(
            "two different client ids were sent".into(),
        )),
        (Some(id), _) => Ok(id.to_owned()),
        (None, Some(id)) => Ok(id),
        (None, None) => Err(OAuthError::InvalidClient("`client_id` is required".into())),
    }
}

/// The answer to a client id that does not open. RFC 6749 §5.2: a client that authenticated
/// with the `Authorization` header gets a 401 with a `WWW-Authenticate` challenge for it.
pub(super) fn refuse_client(
    req: &HttpRequest,
    err: OAuthError,
) -> Result<HttpResponse, OAuthError> {
    if basic_user(req).is_none() {
        return Err(err);
    }
    let mut res = actix_web::ResponseError::error_response(&err);
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"token\""),
    );
    Ok(res)
}

fn basic_user(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let user = decoded.split(':').next()?;
    // RFC 6749 §2.3.1: the id was form-encoded before the Basic encoding.
    let user: String = url::form_urlencoded::parse(format!("u={user}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    (!user.is_empty()).then_some(user)
}

/// A client-chosen value echoed in an error description is kept short.
fn truncate(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

//! The clients the proxy knows, and how a request names its client: registered clients (the
//! sealed [`Registration`] is the client id) and the operator's static clients, resolved the
//! same way for `/authorize`, `/token` and `/revoke`.
//!
//! Registered clients are public (`token_endpoint_auth_method=none`): the client's own PKCE
//! protects its code, and "authenticating" a client means resolving the id it sends.

use actix_web::{
    http::header::{self, HeaderValue},
    HttpRequest, HttpResponse, ResponseError,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};

use super::{
    config::ProxyConfig,
    error::OAuthError,
    redirect::redirect_uri_matches,
    state::{ClientBinding, Registration},
};

/// A client the proxy trusts: registered (sealed id) or static.
#[derive(Debug, Clone)]
pub(crate) struct KnownClient {
    /// What the client's codes and transactions are bound to.
    pub(crate) binding: ClientBinding,
    pub(crate) name: Option<String>,
    /// Configured by the operator, not registered by anyone.
    pub(crate) is_static: bool,
    pub(crate) redirect_uris: Vec<String>,
}

impl KnownClient {
    /// The registered redirect URI that `requested` is (RFC 8252 §7.3: a loopback URI may
    /// differ only in port); `None` with several registered URIs and none requested.
    pub(crate) fn redirect_uri(&self, requested: Option<&str>) -> Option<String> {
        match requested {
            Some(requested) => self
                .redirect_uris
                .iter()
                .any(|r| redirect_uri_matches(r, requested))
                .then(|| requested.to_owned()),
            None => match self.redirect_uris.as_slice() {
                [only] => Some(only.clone()),
                _ => None,
            },
        }
    }
}

/// Opens `client_id`: a static client, or a registration sealed by this proxy.
pub(crate) fn resolve(cfg: &ProxyConfig, client_id: &str) -> Result<KnownClient, OAuthError> {
    let binding = ClientBinding::of(client_id);
    if let Some(c) = cfg.static_clients.iter().find(|c| c.client_id == client_id) {
        return Ok(KnownClient {
            binding,
            name: Some(c.client_id.clone()),
            is_static: true,
            redirect_uris: c.redirect_uris.clone(),
        });
    }
    if !cfg.dynamic_registration {
        // Registration is closed: ids it issued earlier no longer count.
        return Err(OAuthError::InvalidClient("unknown client".into()));
    }
    match cfg.sealer.open::<Registration>(client_id) {
        Ok(reg) => Ok(KnownClient {
            binding,
            name: reg.name,
            is_static: false,
            redirect_uris: reg.redirect_uris,
        }),
        Err(e) => {
            log::debug!("client id refused: {e}");
            Err(OAuthError::InvalidClient(
                "unknown client: register again".into(),
            ))
        }
    }
}

/// Resolves the client of a `/token` or `/revoke` request: the one its `client_id` parameter
/// names, or the user of its HTTP Basic header (some clients send that even with
/// `token_endpoint_auth_method=none`). Both may come, but then they must agree.
pub(crate) fn authenticate(
    cfg: &ProxyConfig,
    req: &HttpRequest,
    client_id: Option<&str>,
) -> Result<KnownClient, Refusal> {
    let basic = basic_user(req);
    let client_id = match (client_id, &basic) {
        (Some(a), Some(b)) if a != b => {
            return Err(Refusal::plain(OAuthError::InvalidRequest(
                "two different client ids were sent".into(),
            )))
        }
        (Some(id), _) => id,
        (None, Some(id)) => id,
        (None, None) => {
            return Err(Refusal::plain(OAuthError::InvalidClient(
                "`client_id` is required".into(),
            )))
        }
    };
    resolve(cfg, client_id).map_err(|error| Refusal {
        error,
        challenge: basic.is_some(),
    })
}

/// Why [`authenticate`] refused a client, and how the answer says so.
#[derive(Debug)]
pub(crate) struct Refusal {
    error: OAuthError,
    /// RFC 6749 §5.2: a client that authenticated with the `Authorization` header gets a 401
    /// with a `WWW-Authenticate` challenge for it.
    challenge: bool,
}

impl Refusal {
    fn plain(error: OAuthError) -> Self {
        Self {
            error,
            challenge: false,
        }
    }

    /// The endpoint's answer: the OAuth error, with its challenge when one is due.
    pub(crate) fn answer(self) -> Result<HttpResponse, OAuthError> {
        if !self.challenge {
            return Err(self.error);
        }
        let mut res = self.error.error_response();
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"token\""),
        );
        Ok(res)
    }
}

/// The user part of an HTTP Basic `Authorization` header.
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

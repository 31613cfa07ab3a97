//! The clients the proxy knows, and how a request names its client: registered clients (the
//! sealed [`Registration`] is the client id), clients identified by the https URL of their
//! metadata document, and the operator's static clients, resolved the same way for
//! `/authorize`, `/token` and `/revoke`. This is the one place a client id is resolved.
//!
//! Clients are public (`token_endpoint_auth_method=none`) by default: the client's own PKCE
//! protects its code, and "authenticating" a client means resolving the id it sends. A client
//! that registered for `client_secret_basic` or `client_secret_post` got a secret derived from
//! the proxy key and its id, and must send it.

use actix_web::{
    http::header::{self, HeaderValue},
    HttpRequest, HttpResponse, ResponseError,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};

use super::{
    client_metadata::ClientAuth,
    config::ProxyConfig,
    documents::is_document_id,
    error::OAuthError,
    redirect::redirect_uri_matches,
    state::{ClientBinding, Registration},
};

/// A client the proxy trusts: registered (sealed id), metadata document, or static.
#[derive(Debug, Clone)]
pub(crate) struct KnownClient {
    /// What the client's codes and transactions are bound to.
    pub(crate) binding: ClientBinding,
    pub(crate) name: Option<String>,
    pub(crate) kind: ClientKind,
    pub(crate) redirect_uris: Vec<String>,
}

/// Where a client comes from, which decides what the consent page can say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClientKind {
    /// Configured by the operator, not registered by anyone.
    Static,
    /// Registered at `/register`, authenticating with `auth`.
    Registered { auth: ClientAuth },
    /// Identified by the URL of its metadata document, served from `host`.
    Document { host: String },
}

impl KnownClient {
    /// Configured by the operator.
    pub(crate) fn is_static(&self) -> bool {
        self.kind == ClientKind::Static
    }

    /// The host that served the metadata document: the one thing about the client that is
    /// verified (by TLS), as opposed to the name it chose.
    pub(crate) fn verified_domain(&self) -> Option<&str> {
        match &self.kind {
            ClientKind::Document { host } => Some(host),
            _ => None,
        }
    }

    /// Whether every redirect URI is on the user's computer: then any program there could
    /// have claimed this client's name.
    pub(crate) fn local_only(&self) -> bool {
        self.redirect_uris
            .iter()
            .all(|u| url::Url::parse(u).is_ok_and(|u| crate::validate::is_loopback(&u)))
    }

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

/// Opens `client_id`: a static client, a metadata document (fetched through the SSRF guard),
/// or a registration sealed by this proxy.
pub(crate) async fn resolve(cfg: &ProxyConfig, client_id: &str) -> Result<KnownClient, OAuthError> {
    let binding = ClientBinding::of(client_id);
    if let Some(c) = cfg.static_clients.iter().find(|c| c.client_id == client_id) {
        return Ok(KnownClient {
            binding,
            name: Some(c.client_id.clone()),
            kind: ClientKind::Static,
            redirect_uris: c.redirect_uris.clone(),
        });
    }
    if is_document_id(client_id) {
        let Some(documents) = &cfg.documents else {
            return Err(OAuthError::InvalidClient(
                "this server does not accept client metadata documents".into(),
            ));
        };
        let document = documents.resolve(client_id).await?;
        return Ok(KnownClient {
            binding,
            name: Some(document.name.clone()),
            kind: ClientKind::Document {
                host: document.host.clone(),
            },
            redirect_uris: document.redirect_uris.clone(),
        });
    }
    if !cfg.dynamic_registration {
        // Registration is closed: ids it issued earlier no longer count.
        return Err(OAuthError::InvalidClient("unknown client".into()));
    }
    match cfg
        .sealer
        .open_within::<Registration>(client_id, cfg.limits.client_id_bytes())
    {
        Ok((reg, _)) => Ok(KnownClient {
            binding,
            name: reg.name,
            kind: ClientKind::Registered { auth: reg.auth },
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
/// `token_endpoint_auth_method=none`). Both may come, but then they must agree. A client
/// registered with a secret must send it, in the Basic header or as `client_secret`.
pub(crate) async fn authenticate(
    cfg: &ProxyConfig,
    req: &HttpRequest,
    client_id: Option<&str>,
    client_secret: Option<&str>,
) -> Result<KnownClient, Refusal> {
    let basic = basic_credentials(req);
    let basic_user = basic.as_ref().map(|(user, _)| user.clone());
    let client_id = match (client_id, &basic_user) {
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
    let refuse = |error| Refusal {
        error,
        challenge: basic.is_some(),
    };
    let client = resolve(cfg, client_id).await.map_err(refuse)?;
    if let ClientKind::Registered { auth } = &client.kind {
        if !auth.is_none() {
            let presented = basic
                .as_ref()
                .and_then(|(_, password)| password.as_deref())
                .or(client_secret);
            let valid =
                presented.is_some_and(|secret| cfg.sealer.is_client_secret(client_id, secret));
            if !valid {
                return Err(refuse(OAuthError::InvalidClient(
                    "client authentication failed: send the client secret".into(),
                )));
            }
        }
    }
    Ok(client)
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

/// The user and password of an HTTP Basic `Authorization` header.
fn basic_credentials(req: &HttpRequest) -> Option<(String, Option<String>)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = match decoded.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (decoded.as_str(), None),
    };
    // RFC 6749 §2.3.1: both were form-encoded before the Basic encoding.
    let form_decode = |v: &str| {
        url::form_urlencoded::parse(format!("u={v}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    let user = form_decode(user)?;
    let password = password.and_then(form_decode).filter(|p| !p.is_empty());
    (!user.is_empty()).then_some((user, password))
}

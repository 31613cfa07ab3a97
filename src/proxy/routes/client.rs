//! Clients: the sealed registration that is the proxy-issued client id, and static clients.

use crate::proxy::{
    config::ProxyConfig, error::OAuthError, redirect::redirect_uri_matches, state::Registration,
};

/// A client the proxy trusts: registered (sealed id) or static.
#[derive(Debug, Clone)]
pub(crate) struct KnownClient {
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
    if let Some(c) = cfg.static_clients.iter().find(|c| c.client_id == client_id) {
        return Ok(KnownClient {
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

//! Finding a key set in the issuer's metadata.

use serde::Deserialize;
use url::Url;

use super::builder::{DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES};
use crate::http::fetch;
use crate::validate::ConfigError;

/// The metadata URLs to try for `issuer`: OpenID Connect Discovery first, then RFC 8414.
pub(super) fn discovery_urls(issuer: &str, issuer_url: &Url) -> Vec<String> {
    let oidc = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let path = issuer_url.path().trim_end_matches('/');
    let origin = issuer_url.origin().ascii_serialization();
    let rfc8414 = format!("{origin}/.well-known/oauth-authorization-server{path}");
    if rfc8414 == oidc {
        vec![oidc]
    } else {
        vec![oidc, rfc8414]
    }
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: Option<String>,
}

pub(super) async fn discover(
    candidates: Vec<String>,
    issuer: String,
) -> Result<String, ConfigError> {
    let mut failures = Vec::new();
    for candidate in candidates {
        let found = async {
            let url = Url::parse(&candidate).map_err(|e| e.to_string())?;
            let fetched = fetch(url, DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES).await?;
            let metadata: Metadata =
                serde_json::from_slice(&fetched.body).map_err(|e| format!("not metadata: {e}"))?;
            if metadata.issuer != issuer {
                return Err(format!("its issuer is {:?}", metadata.issuer));
            }
            metadata
                .jwks_uri
                .ok_or_else(|| "it has no jwks_uri".to_owned())
        };
        match found.await {
            Ok(jwks_uri) => return Ok(jwks_uri),
            Err(reason) => failures.push(format!("{candidate}: {reason}")),
        }
    }
    Err(ConfigError::Discovery(failures.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_tries_openid_then_rfc8414_urls() {
        let urls = |issuer: &str| discovery_urls(issuer, &Url::parse(issuer).unwrap());
        assert_eq!(
            urls("https://id.example/tenant/"),
            [
                "https://id.example/tenant/.well-known/openid-configuration",
                "https://id.example/.well-known/oauth-authorization-server/tenant",
            ]
        );
        assert_eq!(
            urls("https://id.example"),
            [
                "https://id.example/.well-known/openid-configuration",
                "https://id.example/.well-known/oauth-authorization-server",
            ]
        );
    }
}

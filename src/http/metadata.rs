//! [`ProviderMetadata`]: an authorization server's discovery document (OpenID Connect
//! Discovery 1.0, RFC 8414), fetched once and shared by the proxy and the verifier.

use std::time::Duration;

use serde_json::{Map, Value};
use url::Url;

use super::fetch::{fetch, on_fetch_thread};
use crate::validate::{invalid, secure_url, ConfigError};

/// Largest metadata document read by default; real ones are a few KiB.
const MAX_METADATA: usize = 256 * 1024;
/// The range of [`ProviderMetadata::discover_within`]'s bound.
const METADATA_RANGE: std::ops::RangeInclusive<usize> = 1024..=4 * 1024 * 1024;
/// The time allowed for each of the two locations, body included.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// What an identity provider publishes about itself: its issuer identifier, its endpoints and a
/// few of its capabilities, read from its metadata document by [`discover`](Self::discover).
///
/// Discover once at start-up and build both sides from the same document:
/// [`OAuthProxy::from_metadata`](crate::OAuthProxy::from_metadata) takes the endpoints,
/// [`JwksVerifier::from_metadata`](crate::JwksVerifier::from_metadata) the key set. Endpoint
/// URLs are checked (https, or http on loopback) by the builders that use them.
///
/// ```no_run
/// use actix_mcp_oauth::http::ProviderMetadata;
///
/// # async fn run() -> Result<(), actix_mcp_oauth::ConfigError> {
/// let provider = ProviderMetadata::discover("https://idp.example.com").await?;
/// println!("keys at {:?}", provider.jwks_uri());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    issuer: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    introspection_endpoint: Option<String>,
    jwks_uri: Option<String>,
    scopes_supported: Vec<String>,
    token_endpoint_auth_methods_supported: Vec<String>,
    authorization_response_iss_parameter_supported: bool,
}

impl ProviderMetadata {
    /// Reads the metadata of `issuer`: its OpenID Connect configuration
    /// (`{issuer}/.well-known/openid-configuration`), else its RFC 8414 document (the
    /// well-known segment between host and path:
    /// `https://host/.well-known/oauth-authorization-server/path`).
    ///
    /// - `issuer` must be https, or http on loopback, without query or fragment.
    /// - A document is used only when its `issuer` equals `issuer` byte for byte (RFC 8414
    ///   §3.3), trailing slash included: otherwise another server could name itself.
    /// - Redirects are not followed, answers other than 2xx are not used, each location gets
    ///   10 s and at most 256 KiB ([`discover_within`](Self::discover_within) sets another
    ///   bound).
    ///
    /// The fetch runs on a thread of its own, so this works from any executor. Every location
    /// tried and why it was not used is in the [`ConfigError::Discovery`] text.
    pub async fn discover(issuer: &str) -> Result<Self, ConfigError> {
        Self::discover_within(issuer, MAX_METADATA).await
    }

    /// [`discover`](Self::discover), reading at most `max_bytes` of each document (declared
    /// and read; default 256 KiB, here 1 KiB to 4 MiB): a larger one is not used.
    ///
    /// ```no_run
    /// use actix_mcp_oauth::http::ProviderMetadata;
    ///
    /// # async fn run() -> Result<(), actix_mcp_oauth::ConfigError> {
    /// let provider = ProviderMetadata::discover_within("https://idp.example.com", 32 * 1024).await?;
    /// # let _ = provider; Ok(()) }
    /// ```
    pub async fn discover_within(issuer: &str, max_bytes: usize) -> Result<Self, ConfigError> {
        if !METADATA_RANGE.contains(&max_bytes) {
            return Err(invalid("max_bytes", "between 1 KiB and 4 MiB"));
        }
        let url = secure_url("issuer", issuer)?;
        if url.query().is_some() {
            return Err(ConfigError::InvalidUrl {
                field: "issuer",
                reason: "an issuer identifier has no query (RFC 8414 §2)".into(),
            });
        }
        let locations = locations(&url);
        let expected = issuer.to_owned();
        on_fetch_thread(move || discover_at(locations, expected, max_bytes))
            .await
            .map_err(|_| ConfigError::Discovery("the discovery fetch was abandoned".into()))?
    }

    /// The issuer identifier: tokens name it in `iss`, and the authorization server in the
    /// `iss` of its authorization responses (RFC 9207). Equal to the one discovery was asked for.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Where users sign in (`authorization_endpoint`).
    pub fn authorization_endpoint(&self) -> Option<&str> {
        self.authorization_endpoint.as_deref()
    }

    /// Where codes and refresh tokens are exchanged (`token_endpoint`).
    pub fn token_endpoint(&self) -> Option<&str> {
        self.token_endpoint.as_deref()
    }

    /// Where tokens are revoked (RFC 7009 `revocation_endpoint`), if the provider has one.
    pub fn revocation_endpoint(&self) -> Option<&str> {
        self.revocation_endpoint.as_deref()
    }

    /// Where opaque tokens are checked (RFC 7662 `introspection_endpoint`), if the provider has
    /// one: the URL for [`IntrospectionVerifier::builder`](crate::verify::IntrospectionVerifier::builder).
    pub fn introspection_endpoint(&self) -> Option<&str> {
        self.introspection_endpoint.as_deref()
    }

    /// The provider's key set (`jwks_uri`), for checking the JWTs it signs.
    pub fn jwks_uri(&self) -> Option<&str> {
        self.jwks_uri.as_deref()
    }

    /// The scopes the provider says it supports (`scopes_supported`); empty when it does not
    /// say, which is common: providers need not list every scope they accept.
    pub fn scopes_supported(&self) -> &[String] {
        &self.scopes_supported
    }

    /// How clients may authenticate at the token endpoint
    /// (`token_endpoint_auth_methods_supported`), e.g. `client_secret_basic`; empty when the
    /// document does not say, which RFC 8414 §2 defines as `client_secret_basic` only. Pick the
    /// proxy's [`ClientAuthMethod`](crate::http::ClientAuthMethod) accordingly.
    pub fn token_endpoint_auth_methods_supported(&self) -> &[String] {
        &self.token_endpoint_auth_methods_supported
    }

    /// Whether authorization responses carry `iss` (RFC 9207
    /// `authorization_response_iss_parameter_supported`); `false` when the document does not
    /// say. The proxy checks `iss` whenever a callback carries one.
    pub fn authorization_response_iss_parameter_supported(&self) -> bool {
        self.authorization_response_iss_parameter_supported
    }

    /// Reads a metadata document. Fields the crate reads must have their specified JSON type
    /// (`null` counts as absent); the rest are ignored.
    pub(crate) fn from_json(body: &[u8]) -> Result<Self, String> {
        let doc = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(doc)) => doc,
            Ok(_) => return Err("not a JSON object".into()),
            Err(e) => return Err(format!("not JSON: {e}")),
        };
        Ok(Self {
            issuer: text(&doc, "issuer")?.ok_or("no `issuer`")?,
            authorization_endpoint: text(&doc, "authorization_endpoint")?,
            token_endpoint: text(&doc, "token_endpoint")?,
            revocation_endpoint: text(&doc, "revocation_endpoint")?,
            introspection_endpoint: text(&doc, "introspection_endpoint")?,
            jwks_uri: text(&doc, "jwks_uri")?,
            scopes_supported: list(&doc, "scopes_supported")?,
            token_endpoint_auth_methods_supported: list(
                &doc,
                "token_endpoint_auth_methods_supported",
            )?,
            authorization_response_iss_parameter_supported: flag(
                &doc,
                "authorization_response_iss_parameter_supported",
            )?,
        })
    }
}

fn text(doc: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match doc.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{name}` is not a string")),
    }
}

fn list(doc: &Map<String, Value>, name: &str) -> Result<Vec<String>, String> {
    let not_strings = || format!("`{name}` is not an array of strings");
    match doc.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(not_strings))
            .collect(),
        Some(_) => Err(not_strings()),
    }
}

fn flag(doc: &Map<String, Value>, name: &str) -> Result<bool, String> {
    match doc.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("`{name}` is not a boolean")),
    }
}

/// Where the metadata of `issuer` may be, in order: OpenID Connect Discovery §4 appends the
/// well-known path to the issuer, RFC 8414 §3.1 inserts it between host and path; both drop a
/// terminating `/` of the path first.
fn locations(issuer: &Url) -> [Url; 2] {
    let path = issuer.path().trim_end_matches('/');
    let mut openid = issuer.clone();
    openid.set_path(&format!("{path}/.well-known/openid-configuration"));
    let mut rfc8414 = issuer.clone();
    rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    [openid, rfc8414]
}

/// Tries each location in turn; the first document that names `issuer` wins.
async fn discover_at(
    locations: [Url; 2],
    issuer: String,
    max_bytes: usize,
) -> Result<ProviderMetadata, ConfigError> {
    let mut failures = Vec::new();
    for location in locations {
        let shown = location.to_string();
        let found = async {
            let fetched = fetch(location, DISCOVERY_TIMEOUT, max_bytes).await?;
            let metadata = ProviderMetadata::from_json(&fetched.body)?;
            if metadata.issuer != issuer {
                return Err(format!(
                    "it names the issuer {:?}, not {issuer:?}",
                    metadata.issuer
                ));
            }
            Ok(metadata)
        };
        match found.await {
            Ok(metadata) => return Ok(metadata),
            Err(reason) => failures.push(format!("{shown}: {reason}")),
        }
    }
    Err(ConfigError::Discovery(failures.join("; ")))
}

#[cfg(test)]
impl ProviderMetadata {
    /// A document as a provider would serve it, without fetching anything.
    pub(crate) fn for_tests(json: &serde_json::Value) -> Self {
        Self::from_json(json.to_string().as_bytes()).expect("valid metadata")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn openid_appends_and_rfc8414_inserts_the_well_known_path() {
        let at = |issuer: &str| locations(&Url::parse(issuer).unwrap()).map(String::from);
        assert_eq!(
            at("https://id.example/tenant/"),
            [
                "https://id.example/tenant/.well-known/openid-configuration",
                "https://id.example/.well-known/oauth-authorization-server/tenant",
            ]
        );
        assert_eq!(
            at("https://id.example"),
            [
                "https://id.example/.well-known/openid-configuration",
                "https://id.example/.well-known/oauth-authorization-server",
            ]
        );
        assert_eq!(
            at("http://127.0.0.1:8080/a/b"),
            [
                "http://127.0.0.1:8080/a/b/.well-known/openid-configuration",
                "http://127.0.0.1:8080/.well-known/oauth-authorization-server/a/b",
            ]
        );
    }

    #[test]
    fn a_document_gives_its_fields_and_absent_or_null_ones_are_empty() {
        let meta = ProviderMetadata::for_tests(&json!({
            "issuer": "https://id.example",
            "authorization_endpoint": "https://id.example/authorize",
            "token_endpoint": "https://id.example/token",
            "jwks_uri": "https://id.example/keys",
            "revocation_endpoint": null,
            "scopes_supported": ["openid", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "authorization_response_iss_parameter_supported": true,
            "response_types_supported": ["code"],
        }));
        assert_eq!(meta.issuer(), "https://id.example");
        assert_eq!(
            meta.authorization_endpoint(),
            Some("https://id.example/authorize")
        );
        assert_eq!(meta.token_endpoint(), Some("https://id.example/token"));
        assert_eq!(meta.jwks_uri(), Some("https://id.example/keys"));
        assert_eq!(meta.revocation_endpoint(), None);
        assert_eq!(meta.introspection_endpoint(), None);
        assert_eq!(meta.scopes_supported(), ["openid", "email"]);
        assert_eq!(
            meta.token_endpoint_auth_methods_supported(),
            ["client_secret_basic"]
        );
        assert!(meta.authorization_response_iss_parameter_supported());

        let bare = ProviderMetadata::for_tests(&json!({ "issuer": "https://id.example" }));
        assert!(bare.scopes_supported().is_empty());
        assert!(!bare.authorization_response_iss_parameter_supported());
    }

    #[test]
    fn fields_of_the_wrong_type_and_documents_without_issuer_are_refused() {
        let read = |doc: Value| ProviderMetadata::from_json(doc.to_string().as_bytes());
        let cases = [
            (
                json!({ "jwks_uri": "https://id.example/keys" }),
                "no `issuer`",
            ),
            (json!({ "issuer": 7 }), "`issuer` is not a string"),
            (
                json!({ "issuer": "i", "token_endpoint": ["x"] }),
                "`token_endpoint` is not a string",
            ),
            (
                json!({ "issuer": "i", "scopes_supported": "openid" }),
                "`scopes_supported` is not an array of strings",
            ),
            (
                json!({ "issuer": "i", "scopes_supported": ["openid", 1] }),
                "`scopes_supported` is not an array of strings",
            ),
            (
                json!({ "issuer": "i", "authorization_response_iss_parameter_supported": "yes" }),
                "`authorization_response_iss_parameter_supported` is not a boolean",
            ),
            (json!(["issuer"]), "not a JSON object"),
        ];
        for (doc, reason) in cases {
            assert_eq!(read(doc.clone()).unwrap_err(), reason, "{doc}");
        }
        assert!(ProviderMetadata::from_json(b"<html>")
            .unwrap_err()
            .starts_with("not JSON"));
    }
}

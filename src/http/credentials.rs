//! A client's credentials and the two ways of sending them (RFC 6749 §2.3.1).

use std::fmt;

use actix_web::http::header;
use awc::ClientRequest;
use url::form_urlencoded;

use crate::secret::ClientSecret;

/// How a client authenticates itself to the provider's token, revocation and introspection
/// endpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// `client_id` and `client_secret` in the form body (RFC 6749 §2.3.1). The default.
    #[default]
    ClientSecretPost,
    /// HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
}

/// A client id, its secret (none for a public client) and how they are sent. `Debug` shows
/// the id and the method, never the secret.
#[derive(Clone)]
pub(crate) struct ClientCredentials {
    id: String,
    secret: Option<ClientSecret>,
    method: ClientAuthMethod,
}

impl ClientCredentials {
    pub(crate) fn new(
        id: impl Into<String>,
        secret: Option<ClientSecret>,
        method: ClientAuthMethod,
    ) -> Self {
        Self {
            id: id.into(),
            secret,
            method,
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    #[cfg(test)]
    pub(crate) fn method(&self) -> ClientAuthMethod {
        self.method
    }

    /// `req` as a form POST of `params`, authenticated as configured, and its body.
    ///
    /// A public client (no secret) sends only its `client_id`, in the form, whatever the
    /// method: there is nothing to put in a Basic header.
    pub(crate) fn form_post(
        &self,
        req: ClientRequest,
        params: &[(&str, &str)],
    ) -> (ClientRequest, String) {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.extend_pairs(params);
        let req = match (self.method, &self.secret) {
            (ClientAuthMethod::ClientSecretBasic, Some(_)) => self.basic_auth(req),
            (_, secret) => {
                form.append_pair("client_id", &self.id);
                if let Some(secret) = secret {
                    form.append_pair("client_secret", secret.secret());
                }
                req
            }
        };
        let req = req.insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"));
        (req, form.finish())
    }

    /// `req` with the credentials in an `Authorization: Basic` header, whatever the method:
    /// for endpoints that take no other form. Both parts are form-encoded first (RFC 6749
    /// §2.3.1), which leaves the letters, digits and `-._*` of usual ids and secrets as they
    /// are and keeps a `:` in the id from splitting it.
    pub(crate) fn basic_auth(&self, req: ClientRequest) -> ClientRequest {
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let secret = self.secret.as_ref().map_or("", |s| s.secret());
        req.basic_auth(encode(&self.id), encode(secret))
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("id", &self.id)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("method", &self.method)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use base64::{engine::general_purpose::STANDARD, Engine};

    use super::*;

    /// The request's `Authorization` header and the form body, as sent.
    fn sent(credentials: &ClientCredentials) -> (Option<String>, String) {
        let req = awc::Client::new().post("https://idp.example/token");
        let (req, body) = credentials.form_post(req, &[("grant_type", "refresh_token")]);
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            req.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/x-www-form-urlencoded"
        );
        (authorization, body)
    }

    fn secret(s: &str) -> Option<ClientSecret> {
        Some(ClientSecret::new(s))
    }

    #[actix_rt::test]
    async fn basic_form_encodes_both_parts_and_keeps_them_out_of_the_form() {
        let creds = ClientCredentials::new(
            "mcp:client",
            secret("s3cr+t:&="),
            ClientAuthMethod::ClientSecretBasic,
        );
        let (authorization, body) = sent(&creds);
        let expected = STANDARD.encode("mcp%3Aclient:s3cr%2Bt%3A%26%3D");
        assert_eq!(authorization.unwrap(), format!("Basic {expected}"));
        assert_eq!(body, "grant_type=refresh_token");
    }

    #[actix_rt::test]
    async fn post_puts_both_parts_in_the_form_and_a_public_client_only_its_id() {
        let post = ClientCredentials::new("c&1", secret("s=1"), ClientAuthMethod::ClientSecretPost);
        assert_eq!(
            sent(&post),
            (
                None,
                "grant_type=refresh_token&client_id=c%261&client_secret=s%3D1".into()
            )
        );
        for method in [
            ClientAuthMethod::ClientSecretPost,
            ClientAuthMethod::ClientSecretBasic,
        ] {
            let public = ClientCredentials::new("pub", None, method);
            assert_eq!(
                sent(&public),
                (None, "grant_type=refresh_token&client_id=pub".into())
            );
        }
    }

    #[test]
    fn debug_shows_the_id_and_method_but_never_the_secret() {
        let creds = ClientCredentials::new(
            "the-id",
            secret("hunter2"),
            ClientAuthMethod::ClientSecretBasic,
        );
        let shown = format!("{creds:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("the-id") && shown.contains("ClientSecretBasic"));
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}

//! [`ProxyLimits`]: the sizes the proxy accepts from clients, each bounded by default.

use crate::validate::{invalid, ConfigError};

const KIB: usize = 1024;
/// The longest redirect URI the redirect-URI policy itself accepts.
const POLICY_MAX_URI: usize = 2048;
/// The most bytes of redirect URIs one registration may carry (`redirect_uris` ×
/// `redirect_uri_length`): its client id, sealed from them, travels in every `/authorize` URL
/// and `/token` request, and HTTP servers and proxies in front refuse long request lines.
const MAX_REDIRECT_URI_BYTES: usize = 32 * KIB;
/// The longest `client_name`, in characters.
pub(crate) const MAX_CLIENT_NAME: usize = 200;

/// The sizes the proxy reads from clients: request bodies per endpoint, the redirect URIs of a
/// registration (or a client metadata document), and the metadata document itself. Past a
/// bound the answer is the protocol's error (`invalid_request`, `invalid_client_metadata`,
/// `invalid_redirect_uri`, `invalid_client`), never a 5xx; the defaults suit every client
/// seen so far, and each can be raised within a safe ceiling or lowered.
///
/// ```
/// use actix_mcp_oauth::proxy::ProxyLimits;
///
/// # fn main() -> Result<(), actix_mcp_oauth::ConfigError> {
/// let limits = ProxyLimits::builder().redirect_uris(4).token_body(8 * 1024).build()?;
/// // OAuthProxy::builder()...limits(limits)
/// # let _ = limits; Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyLimits {
    pub(crate) register_body: usize,
    pub(crate) token_body: usize,
    pub(crate) revoke_body: usize,
    pub(crate) authorize_body: usize,
    pub(crate) consent_body: usize,
    pub(crate) redirect_uris: usize,
    pub(crate) redirect_uri_len: usize,
    pub(crate) client_document: usize,
}

impl Default for ProxyLimits {
    /// 16 KiB for every request body, 10 redirect URIs of at most 1024 bytes, 5 KiB per client
    /// metadata document.
    fn default() -> Self {
        Self {
            register_body: 16 * KIB,
            token_body: 16 * KIB,
            revoke_body: 16 * KIB,
            authorize_body: 16 * KIB,
            consent_body: 16 * KIB,
            redirect_uris: 10,
            redirect_uri_len: 1024,
            client_document: 5 * KIB,
        }
    }
}

impl ProxyLimits {
    /// A builder starting from the defaults.
    pub fn builder() -> ProxyLimitsBuilder {
        ProxyLimitsBuilder(Self::default())
    }
}

/// Builds [`ProxyLimits`]; [`build`](Self::build) checks each bound against its ceiling.
#[derive(Debug, Clone)]
pub struct ProxyLimitsBuilder(ProxyLimits);

impl ProxyLimitsBuilder {
    /// The largest `POST /register` body, in bytes (default 16 KiB; 1 KiB to 1 MiB).
    pub fn register_body(mut self, bytes: usize) -> Self {
        self.0.register_body = bytes;
        self
    }

    /// The largest `POST /token` body, in bytes (default 16 KiB; 1 KiB to 1 MiB).
    pub fn token_body(mut self, bytes: usize) -> Self {
        self.0.token_body = bytes;
        self
    }

    /// The largest `POST /revoke` body, in bytes (default 16 KiB; 1 KiB to 1 MiB).
    pub fn revoke_body(mut self, bytes: usize) -> Self {
        self.0.revoke_body = bytes;
        self
    }

    /// The largest `POST /authorize` body, in bytes (default 16 KiB; 1 KiB to 1 MiB).
    pub fn authorize_body(mut self, bytes: usize) -> Self {
        self.0.authorize_body = bytes;
        self
    }

    /// The largest `POST /consent` body, in bytes (default 16 KiB; 1 KiB to 1 MiB).
    pub fn consent_body(mut self, bytes: usize) -> Self {
        self.0.consent_body = bytes;
        self
    }

    /// The most redirect URIs one client registers (default 10; 1 to 100). Each one makes the
    /// sealed client id, and every URL carrying it, longer: `redirect_uris` ×
    /// `redirect_uri_length` may be at most 32 KiB. Past about 14 KiB of them, raise
    /// [`register_body`](Self::register_body) to carry them, and `token_body` and
    /// `revoke_body` to carry the client id they make (up to 45 KiB for URIs that do not
    /// compress; realistic ones deflate to a fraction).
    pub fn redirect_uris(mut self, count: usize) -> Self {
        self.0.redirect_uris = count;
        self
    }

    /// The longest redirect URI, in bytes (default 1024; 32 to 2048, the redirect-URI
    /// policy's own bound; `redirect_uris` × `redirect_uri_length` at most 32 KiB).
    pub fn redirect_uri_length(mut self, bytes: usize) -> Self {
        self.0.redirect_uri_len = bytes;
        self
    }

    /// The largest client metadata document read, in bytes (default 5 KiB; 1 KiB to 64 KiB).
    pub fn client_document(mut self, bytes: usize) -> Self {
        self.0.client_document = bytes;
        self
    }

    /// The limits, or the first bound outside its range.
    pub fn build(self) -> Result<ProxyLimits, ConfigError> {
        let l = self.0;
        let bodies = [
            ("register_body", l.register_body),
            ("token_body", l.token_body),
            ("revoke_body", l.revoke_body),
            ("authorize_body", l.authorize_body),
            ("consent_body", l.consent_body),
        ];
        for (name, bytes) in bodies {
            if !(KIB..=1024 * KIB).contains(&bytes) {
                return Err(invalid(name, "between 1 KiB and 1 MiB"));
            }
        }
        if !(1..=100).contains(&l.redirect_uris) {
            return Err(invalid("redirect_uris", "between 1 and 100"));
        }
        if !(32..=POLICY_MAX_URI).contains(&l.redirect_uri_len) {
            return Err(invalid("redirect_uri_length", "between 32 and 2048 bytes"));
        }
        if l.redirect_uris * l.redirect_uri_len > MAX_REDIRECT_URI_BYTES {
            return Err(invalid(
                "redirect_uris",
                "times `redirect_uri_length` at most 32 KiB: the client id carries them all",
            ));
        }
        if !(KIB..=64 * KIB).contains(&l.client_document) {
            return Err(invalid("client_document", "between 1 KiB and 64 KiB"));
        }
        Ok(l)
    }
}

impl ProxyLimits {
    /// The longest client id `/register` issues, and the longest opened as one: the sealed
    /// registration (deflated) of the most redirect URIs of the longest length, none of which
    /// compress, and the longest name. Realistic registrations deflate far below it; with the
    /// defaults it is about 15 KiB, with the 32 KiB ceiling of redirect URIs about 45 KiB.
    pub(crate) fn client_id_bytes(&self) -> usize {
        // JSON: the field names, the issue time, the auth method and the name (four UTF-8
        // bytes a character at most; the escapes of `"` and `\` take two), plus three bytes
        // (quotes and comma) per redirect URI, whose characters never need escaping.
        let plaintext =
            2 + 128 + 4 * MAX_CLIENT_NAME + self.redirect_uris * (self.redirect_uri_len + 3);
        // Raw deflate adds at most a few bytes per stored block to what does not compress.
        let deflated = plaintext + plaintext / 64 + 64;
        // base64url of the ciphertext, and the protected header, IV and tag of the JWE.
        deflated.div_ceil(3) * 4 + 256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bound_is_checked_at_its_ends() {
        assert_eq!(ProxyLimits::builder().build(), Ok(ProxyLimits::default()));
        let ok = |b: ProxyLimitsBuilder| b.build().is_ok();
        let b = ProxyLimits::builder;
        assert!(ok(b().token_body(KIB)) && ok(b().token_body(1024 * KIB)));
        assert!(!ok(b().token_body(KIB - 1)) && !ok(b().consent_body(1024 * KIB + 1)));
        assert!(ok(b().redirect_uris(1)) && ok(b().redirect_uris(32)));
        assert!(!ok(b().redirect_uris(0)) && !ok(b().redirect_uris(101)));
        assert!(ok(b().redirect_uri_length(2048)) && !ok(b().redirect_uri_length(2049)));
        assert!(!ok(b().redirect_uri_length(31)));
        assert!(ok(b().client_document(64 * KIB)) && !ok(b().client_document(64 * KIB + 1)));
        assert!(!ok(b().register_body(0)) && !ok(b().authorize_body(0)) && !ok(b().revoke_body(0)));
        // The redirect URIs together: 32 KiB at most.
        assert!(ok(b().redirect_uris(16).redirect_uri_length(2048)));
        assert!(!ok(b().redirect_uris(17).redirect_uri_length(2048)));
        assert!(ok(b().redirect_uris(100).redirect_uri_length(327)));
        assert!(!ok(b().redirect_uris(100).redirect_uri_length(328)));
    }

    #[test]
    fn the_client_id_bound_follows_the_redirect_uri_limits() {
        let default = ProxyLimits::default().client_id_bytes();
        assert!((14 * KIB..16 * KIB).contains(&default), "{default}");
        let most = ProxyLimits::builder()
            .redirect_uris(16)
            .redirect_uri_length(2048)
            .build()
            .expect("at the ceiling")
            .client_id_bytes();
        assert!((40 * KIB..48 * KIB).contains(&most), "{most}");
    }
}

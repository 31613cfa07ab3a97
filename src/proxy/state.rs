//! The stateless protocol: every value the proxy seals, what it carries, how long it opens and
//! what it is bound to. Each type is tied to its kind and lifetime by [`Sealed`], so a value
//! sealed as one type never opens as another, whatever its fields.
//!
//! | value | type (kind) | carries | lifetime | bound to |
//! |---|---|---|---|---|
//! | client id (`/register`) | [`Registration`] (`client`) | client name, redirect URIs, issued-at, auth method (when a secret one) | until the key is retired | — |
//! | consent request (`/consent?request=`) | [`PendingAuthorization`] (`consent_request`) | the checked authorization request: client binding and name, static / verified domain / local-only, redirect URI, client `state`, PKCE challenge, scopes | 10 min | — (the page's form carries it back) |
//! | CSRF cookie | [`CsrfNonce`] (`consent_csrf`) | a nonce that the consent form repeats | 10 min | the browser |
//! | binding cookie | [`BindingNonce`] (`binding`) | a nonce, also sealed into the transaction | 10 min, renewed with each transaction | the browser |
//! | remembered-consent cookie | [`Remembered`] (`consent`) | up to 20 approvals: a hash of client binding + redirect URI + resource + scopes, and an expiry | as configured (7 days by default, at most 400) | the browser |
//! | transaction (upstream `state`) | [`Transaction`] (`transaction`) | client binding, redirect URI, client `state`, PKCE challenge, binding nonce | 10 min | the browser that approved it |
//! | code handed to the client | [`Code`] (`code`) | the upstream code, client binding, redirect URI, PKCE challenge | 5 min | the client and its redirect URI |
//!
//! Sizes: every value except the client id carries a [`ClientBinding`] (43 characters) instead
//! of the sealed client id (up to 4 KB); the client `state` is at most 1024 printable ASCII
//! characters, a redirect URI at most 1024 bytes and a client name 200 characters. With the
//! default scopes the largest consent request seals to about 4.2 KB and the largest transaction
//! to about 3.1 KB, under the [`MAX_SEALED_BYTES`](super::seal::MAX_SEALED_BYTES) (8 KB) at which
//! opening refuses input before any decryption; the configured scopes are the one part that
//! grows them. The upstream's code is the one size the proxy does not control: a code that
//! would seal too long is refused at the callback rather than handed out.

use std::{marker::PhantomData, time::Duration};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde::{Deserialize, Serialize};
use url::Url;

use super::{
    client_metadata::ClientAuth,
    consent::MAX_REMEMBER,
    seal::{Kind, Sealed},
};
use crate::validate::is_loopback;

/// How long the user has to sign in upstream; the browser binding lives as long.
const TRANSACTION_TTL: Duration = Duration::from_secs(10 * 60);
/// How long the consent page's request and its CSRF cookie stay valid.
const CONSENT_TTL: Duration = Duration::from_secs(10 * 60);
/// RFC 6749 §4.1.2 recommends at most 10 minutes; clients redeem within seconds.
const CODE_TTL: Duration = Duration::from_secs(5 * 60);
/// Approvals remembered per browser; the oldest go first.
const MAX_GRANTS: usize = 20;

/// A client id as the other sealed values carry it: SHA-256, base64url. Short and fixed-size,
/// where the sealed client id itself may be 4 KB; codes and transactions are bound to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct ClientBinding(String);

impl ClientBinding {
    /// The binding of `client_id`, static or registered.
    pub(crate) fn of(client_id: &str) -> Self {
        Self(URL_SAFE_NO_PAD.encode(openssl::sha::sha256(client_id.as_bytes())))
    }
}

/// What a proxy-issued client id holds once opened. Short field names keep the id short.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Registration {
    /// `client_name`.
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// `redirect_uris`, checked with the registration policy.
    #[serde(rename = "r")]
    pub(crate) redirect_uris: Vec<String>,
    /// `client_id_issued_at`.
    #[serde(rename = "i")]
    pub(crate) issued_at: u64,
    /// `token_endpoint_auth_method`: with a secret method, `/token` wants the derived secret.
    #[serde(rename = "a", default, skip_serializing_if = "ClientAuth::is_none")]
    pub(crate) auth: ClientAuth,
}

impl Sealed for Registration {
    const KIND: Kind = Kind::Client;
    // A client id stays valid as long as its key: clients keep it for good.
    const TTL: Option<Duration> = None;
}

/// A checked authorization request: everything needed to send the browser upstream.
///
/// The consent page carries it, sealed, through its own form, and the approval turns it into
/// a [`Transaction`]; it is kept small for that. Nothing here is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingAuthorization {
    #[serde(rename = "c")]
    pub(crate) client: ClientBinding,
    /// The registered `client_name` (a static client's id), for display.
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub(crate) client_name: Option<String>,
    /// A client configured by the operator rather than registered by anyone.
    #[serde(rename = "o", default)]
    pub(crate) static_client: bool,
    /// The host of a metadata-document client's URL: verified by TLS, unlike its name.
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub(crate) verified_domain: Option<String>,
    /// Every redirect URI of the client is loopback: any local program could be it.
    #[serde(rename = "l", default)]
    pub(crate) local_only: bool,
    /// The redirect URI, already matched against the registration.
    #[serde(rename = "r")]
    pub(crate) redirect_uri: String,
    /// Whether the client sent `redirect_uri` (then `/token` must get the same one).
    #[serde(rename = "g")]
    pub(crate) redirect_uri_sent: bool,
    /// The client's `state`, returned to it unchanged.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub(crate) state: Option<String>,
    /// The client's S256 `code_challenge`, sent upstream as is.
    #[serde(rename = "p")]
    pub(crate) code_challenge: String,
    /// The scopes requested upstream.
    #[serde(rename = "x")]
    pub(crate) scopes: Vec<String>,
}

impl PendingAuthorization {
    /// What an approval of this request is remembered under: the client, its redirect URI,
    /// the `resource` and the approved scopes, hashed to keep the cookie small. A loopback URI
    /// counts without its port, which native clients pick afresh each time (RFC 8252 §7.3; the
    /// redirect-URI check allows the same).
    pub(crate) fn grant_key(&self, resource: &str) -> String {
        let uri = match Url::parse(&self.redirect_uri) {
            Ok(mut url) if is_loopback(&url) => {
                // Cannot fail on a URL with a host.
                let _ = url.set_port(None);
                url.to_string()
            }
            _ => self.redirect_uri.clone(),
        };
        let scopes = self.scopes.join(" ");
        let digest = openssl::sha::sha256(
            format!("{}\n{uri}\n{resource}\n{scopes}", self.client.0).as_bytes(),
        );
        URL_SAFE_NO_PAD.encode(&digest[..16])
    }
}

impl Sealed for PendingAuthorization {
    const KIND: Kind = Kind::ConsentRequest;
    const TTL: Option<Duration> = Some(CONSENT_TTL);
}

/// The upstream `state`: what the callback needs to finish the flow.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Transaction {
    #[serde(rename = "c")]
    pub(crate) client: ClientBinding,
    #[serde(rename = "r")]
    pub(crate) redirect_uri: String,
    #[serde(rename = "g")]
    pub(crate) redirect_uri_sent: bool,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub(crate) state: Option<String>,
    #[serde(rename = "p")]
    pub(crate) code_challenge: String,
    /// The nonce of the browser's binding cookie: the callback refuses a browser without it.
    #[serde(rename = "b")]
    pub(crate) browser: String,
}

impl Transaction {
    /// The approved `pending` request, bound to the browser whose binding nonce is `browser`.
    pub(crate) fn new(pending: &PendingAuthorization, browser: &BindingNonce) -> Self {
        Self {
            client: pending.client.clone(),
            redirect_uri: pending.redirect_uri.clone(),
            redirect_uri_sent: pending.redirect_uri_sent,
            state: pending.state.clone(),
            code_challenge: pending.code_challenge.clone(),
            browser: browser.value.clone(),
        }
    }
}

impl Sealed for Transaction {
    const KIND: Kind = Kind::Transaction;
    const TTL: Option<Duration> = Some(TRANSACTION_TTL);
}

/// The code handed to the client: the upstream code, and what it is bound to. No `Debug`:
/// it holds the upstream code.
#[derive(Serialize, Deserialize)]
pub(crate) struct Code {
    #[serde(rename = "u")]
    pub(crate) upstream_code: String,
    #[serde(rename = "c")]
    pub(crate) client: ClientBinding,
    #[serde(rename = "r")]
    pub(crate) redirect_uri: String,
    #[serde(rename = "g")]
    pub(crate) redirect_uri_sent: bool,
    /// The client's S256 challenge: `/token` checks the verifier itself, so PKCE holds even
    /// against an upstream that ignores it.
    #[serde(rename = "p")]
    pub(crate) code_challenge: String,
}

impl Sealed for Code {
    const KIND: Kind = Kind::Code;
    const TTL: Option<Duration> = Some(CODE_TTL);
}

/// 256 random bits, base64url.
pub(crate) fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(josekit::util::random_bytes(32))
}

/// A random value sealed into a cookie. `P` says which cookie: the CSRF nonce and the binding
/// nonce have the same fields, and still one never opens as the other.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct Nonce<P> {
    #[serde(rename = "n")]
    pub(crate) value: String,
    #[serde(skip)]
    purpose: PhantomData<P>,
}

/// The purpose of the consent form's CSRF nonce.
#[derive(Debug, Clone)]
pub(crate) enum Csrf {}

/// The purpose of the browser-binding nonce.
#[derive(Debug, Clone)]
pub(crate) enum Binding {}

/// The CSRF anchor of the consent form: the form carries the same value.
pub(crate) type CsrfNonce = Nonce<Csrf>;
/// The browser binding of a transaction: the transaction carries the same value.
pub(crate) type BindingNonce = Nonce<Binding>;

impl<P> Nonce<P> {
    /// A fresh nonce.
    pub(crate) fn random() -> Self {
        Self {
            value: random_token(),
            purpose: PhantomData,
        }
    }

    /// Constant-time comparison with what a form or a transaction carries.
    pub(crate) fn matches(&self, other: &str) -> bool {
        self.value.len() == other.len()
            && openssl::memcmp::eq(self.value.as_bytes(), other.as_bytes())
    }
}

impl Sealed for CsrfNonce {
    const KIND: Kind = Kind::ConsentCsrf;
    const TTL: Option<Duration> = Some(CONSENT_TTL);
}

impl Sealed for BindingNonce {
    const KIND: Kind = Kind::Binding;
    // As long as the transaction that carries it.
    const TTL: Option<Duration> = Some(TRANSACTION_TTL);
}

/// Remembered approvals: the sealed content of the consent cookie.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Remembered {
    #[serde(rename = "g")]
    grants: Vec<Grant>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Grant {
    /// [`PendingAuthorization::grant_key`] of the approved request.
    #[serde(rename = "k")]
    key: String,
    /// Unix seconds.
    #[serde(rename = "e")]
    expires: u64,
}

impl Remembered {
    /// Whether the approval remembered under `key` still holds at `now`.
    pub(crate) fn approves(&self, key: &str, now: u64) -> bool {
        self.grants.iter().any(|g| g.expires > now && g.key == key)
    }

    /// Remembers the approval under `key` until `expires`, dropping the expired ones and, past
    /// [`MAX_GRANTS`], the oldest.
    pub(crate) fn approve(&mut self, key: String, now: u64, expires: u64) {
        self.grants.retain(|g| g.expires > now && g.key != key);
        self.grants.push(Grant { key, expires });
        let excess = self.grants.len().saturating_sub(MAX_GRANTS);
        self.grants.drain(..excess);
    }
}

impl Sealed for Remembered {
    const KIND: Kind = Kind::Consent;
    // The operator chooses the lifetime (`remember_consent_for`) and it is sealed with
    // `seal_for`; this is its bound, the longest cookie lifetime browsers keep.
    const TTL: Option<Duration> = Some(MAX_REMEMBER);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        clock::ManualClock,
        proxy::seal::{SealError, Sealer, MAX_SEALED_BYTES},
        ProxyKey,
    };

    fn sealer() -> Sealer {
        let key = ProxyKey::from_bytes(&[1; 32]).expect("32 bytes");
        Sealer::new(vec![key], ManualClock::at(1_000_000)).expect("sealer")
    }

    fn pending(client: &str, redirect_uri: &str) -> PendingAuthorization {
        PendingAuthorization {
            client: ClientBinding::of(client),
            client_name: None,
            static_client: false,
            verified_domain: None,
            local_only: false,
            redirect_uri: redirect_uri.into(),
            redirect_uri_sent: true,
            state: None,
            code_challenge: String::new(),
            scopes: vec![],
        }
    }

    /// Tries `sealed` as every sealed type, in the order of the protocol table.
    fn open_as_each(s: &Sealer, sealed: &str) -> [Result<(), SealError>; 7] {
        [
            s.open::<Registration>(sealed).map(drop),
            s.open::<PendingAuthorization>(sealed).map(drop),
            s.open::<CsrfNonce>(sealed).map(drop),
            s.open::<BindingNonce>(sealed).map(drop),
            s.open::<Remembered>(sealed).map(drop),
            s.open::<Transaction>(sealed).map(drop),
            s.open::<Code>(sealed).map(drop),
        ]
    }

    #[test]
    fn each_sealed_type_opens_as_itself_and_as_no_other() {
        let s = sealer();
        let pending = pending("c1", "https://client.example/cb");
        let binding = BindingNonce::random();
        let mut remembered = Remembered::default();
        remembered.approve(pending.grant_key("r"), 1_000_000, 1_000_600);
        let registration = Registration {
            name: Some("n".into()),
            redirect_uris: vec!["https://client.example/cb".into()],
            issued_at: 1,
            auth: ClientAuth::SecretPost,
        };
        let code = Code {
            upstream_code: "u".into(),
            client: pending.client.clone(),
            redirect_uri: pending.redirect_uri.clone(),
            redirect_uri_sent: true,
            code_challenge: String::new(),
        };
        let sealed = [
            s.seal(&registration),
            s.seal(&pending),
            s.seal(&CsrfNonce::random()),
            s.seal(&binding),
            s.seal(&remembered),
            s.seal(&Transaction::new(&pending, &binding)),
            s.seal(&code),
        ]
        .map(|sealed| sealed.expect("seals"));
        // The two nonces have the same fields: only their kinds tell them apart.
        for (i, value) in sealed.iter().enumerate() {
            for (j, opened) in open_as_each(&s, value).into_iter().enumerate() {
                if i == j {
                    assert_eq!(opened, Ok(()), "value {i} does not open as itself");
                } else {
                    assert_eq!(opened, Err(SealError::WrongKind), "value {i} opens as {j}");
                }
            }
        }
    }

    #[test]
    fn the_largest_requests_seal_with_room_under_the_size_limit() {
        let s = sealer();
        let long_uri = format!("https://client.example/{}", "a".repeat(1000));
        let mut pending = pending(&"c".repeat(4096), &long_uri);
        pending.client_name = Some("\u{1F600}".repeat(200));
        pending.state = Some("~".repeat(1024));
        pending.code_challenge = "x".repeat(43);
        pending.scopes = ["openid", "email", "profile"].map(String::from).to_vec();
        let transaction = Transaction::new(&pending, &BindingNonce::random());
        for sealed in [s.seal(&pending), s.seal(&transaction)] {
            let sealed = sealed.expect("seals");
            assert!(
                sealed.len() < MAX_SEALED_BYTES * 3 / 4,
                "{} bytes",
                sealed.len()
            );
        }
    }

    #[test]
    fn nonces_are_random_and_compared_exactly() {
        let a = CsrfNonce::random();
        let b = CsrfNonce::random();
        assert_ne!(a.value, b.value);
        assert_eq!(a.value.len(), 43);
        assert!(a.matches(&a.value.clone()));
        assert!(!a.matches(&b.value));
        assert!(!a.matches(""));
        assert!(!a.matches(&a.value[..42]));
    }

    #[test]
    fn remembered_approvals_expire_and_the_oldest_go_first() {
        let mut r = Remembered::default();
        r.approve("old".into(), 100, 150);
        assert!(r.approves("old", 149));
        assert!(!r.approves("old", 150));
        for i in 0..MAX_GRANTS {
            r.approve(format!("k{i}"), 100, 200);
        }
        assert!(!r.approves("old", 100), "the oldest went first");
        assert!(r.approves("k0", 100) && r.approves("k19", 100));
        r.approve("k0".into(), 160, 300);
        assert_eq!(r.grants.len(), MAX_GRANTS, "renewed, not repeated");
        assert!(r.approves("k0", 250) && !r.approves("k1", 250));
    }

    #[test]
    fn grant_keys_separate_clients_redirect_uris_resources_and_scopes_but_not_loopback_ports() {
        let key = |client: &str, uri: &str| pending(client, uri).grant_key("https://r.example/mcp");
        let mut scoped = pending("c1", "https://client.example/cb");
        let unscoped = scoped.grant_key("https://r.example/mcp");
        scoped.scopes = vec!["email".into()];
        assert_ne!(scoped.grant_key("https://r.example/mcp"), unscoped);
        assert_ne!(
            pending("c1", "https://client.example/cb").grant_key("https://other.example/mcp"),
            unscoped
        );
        let a = key("c1", "https://client.example/cb");
        assert_eq!(a.len(), 22);
        assert_ne!(a, key("c2", "https://client.example/cb"));
        assert_ne!(a, key("c1", "https://client.example/cb2"));
        assert_ne!(
            key("c1", "https://client.example:8443/cb"),
            key("c1", "https://client.example:9443/cb")
        );
        assert_eq!(
            key("c1", "http://127.0.0.1:5000/cb"),
            key("c1", "http://127.0.0.1:6000/cb")
        );
        assert_ne!(
            key("c1", "http://127.0.0.1:5000/cb"),
            key("c1", "http://127.0.0.1:5000/other")
        );
    }
}

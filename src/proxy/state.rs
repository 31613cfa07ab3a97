//! The stateless protocol: every value the proxy seals, what it carries, how long it opens and
//! what it is bound to. Each type is tied to its kind and lifetime by [`Sealed`], so a value
//! sealed as one type never opens as another, whatever its fields.
//!
//! | value | type (kind) | carries | lifetime | bound to |
//! |---|---|---|---|---|
//! | client id (`/register`) | [`Registration`] (`client`, deflated) | client name, redirect URIs, issued-at, auth method (when a secret one) | until the key is retired | — |
//! | consent request (`/consent?request=`) | [`PendingAuthorization`] (`consent_request`) | the checked authorization request: client binding and name, static / verified domain / local-only, redirect URI, client `state`, PKCE challenge, scopes | 10 min | — (the page's form carries it back) |
//! | CSRF cookie | [`CsrfNonce`] (`consent_csrf`) | a nonce that the consent form repeats | 10 min | the browser |
//! | binding cookie | [`BindingNonce`] (`binding`) | a nonce, also sealed into the transaction | 10 min, renewed with each transaction | the browser |
//! | remembered-consent cookie | [`Remembered`] (`consent`, deflated) | up to 20 approvals: a hash of client binding + redirect URI + resource + scopes, the same hash without the scopes and the approved MCP scopes (marked on the consent page; they grant nothing), and an expiry | as configured (7 days by default, at most 400) | the browser |
//! | transaction (upstream `state`) | [`Transaction`] (`transaction`) | client binding, redirect URI, client `state`, PKCE challenge, binding nonce, the approved MCP scopes | 10 min | the browser that approved it |
//! | code handed to the client | [`Code`] (`code`, deflated) | issued mode: the upstream tokens and the verified identity ([`UpstreamGrant`]); passthrough: the upstream code; client binding, redirect URI, PKCE challenge, unique id | 5 min | the client and its redirect URI; one use (the [`ReplayGuard`](super::ReplayGuard)) |
//! | access token (issued) | [`IssuedAccess`] (`access_token`, binary, not deflated) | issuer, audience (the canonical resource), client binding, granted scopes, the mapped user and its verified claims (bounded, or read from the upstream JWT itself), issued-at, expiry, the upstream access token, unique id | the upstream token's remaining lifetime, at most `access_token_ttl` (1 h by default) | the resource; refused after `/revoke` by every `RequireAuth` of the instance that revoked it |
//! | refresh token (issued) | [`IssuedRefresh`] (`refresh_token`, deflated) | the upstream refresh token (or, without one, the upstream access token to verify again), client binding, scopes, resource, unique id | 30 days, rotated at every use | the client; one use |
//!
//! Sizes: every value except the client id carries a [`ClientBinding`] (43 characters) instead
//! of the sealed client id (as long as the [`ProxyLimits`](super::ProxyLimits) on redirect
//! URIs allow: about 15 KiB at most with the defaults, opened within that bound); the client `state` is at most 1024 printable ASCII
//! characters, a redirect URI at most 1024 bytes and a client name 200 characters. With the
//! default scopes the largest consent request seals to about 4.2 KB and the largest transaction
//! to about 3.1 KB, under the [`MAX_SEALED_BYTES`](super::seal::MAX_SEALED_BYTES) (8 KB) at which
//! opening refuses input before any decryption; the configured scopes are the one part that
//! grows them. The upstream's code and tokens are the sizes the proxy does not control: a code
//! that would seal too long is refused at the callback rather than handed out, and so is an
//! access token at `/token`. The code and the refresh token are deflated inside the seal; the
//! access token, opened on every cache miss at `/mcp`, is written in a binary layout instead
//! (the upstream JWT's parts decoded): for the end-to-end suite's provider it is about
//! 1.15 KB, for an Entra-sized upstream JWT (2.4 KB) about 2.8 KB
//! (`issued_access_tokens_stay_within_their_size_bounds`).

use std::{marker::PhantomData, time::Duration};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use super::{
    client_metadata::ClientAuth,
    compact::{Reader, Writer},
    consent::MAX_REMEMBER,
    seal::{json_payload, Kind, SealError, Sealed},
};
use crate::{user::UserInfo, validate::is_loopback};

/// How long the user has to sign in upstream; the browser binding lives as long.
const TRANSACTION_TTL: Duration = Duration::from_secs(10 * 60);
/// How long the consent page's request and its CSRF cookie stay valid.
const CONSENT_TTL: Duration = Duration::from_secs(10 * 60);
/// RFC 6749 §4.1.2 recommends at most 10 minutes; clients redeem within seconds.
const CODE_TTL: Duration = Duration::from_secs(5 * 60);
/// Approvals remembered per browser; the oldest go first.
const MAX_GRANTS: usize = 20;
/// How long an issued refresh token opens; every refresh answers a new one, so a client in use
/// keeps its session.
pub(crate) const REFRESH_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

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

    /// The binding as bytes, for keys that must tell clients apart.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
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
    // Redirect URIs repeat their scheme, host and path: deflated, a registration of ten of
    // them travels in URLs at a fraction of its length. Ids sealed before, not deflated,
    // still open.
    const COMPRESS: bool = true;
    json_payload!();
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
    /// The MCP scopes to grant: those requested that the server defines (or its default
    /// set), with those this browser approved for this client before.
    #[serde(rename = "x")]
    pub(crate) scopes: Vec<String>,
    /// The client asked for `offline_access`.
    #[serde(rename = "f", default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) offline: bool,
}

impl PendingAuthorization {
    /// What approvals of this client at this redirect URI and resource are remembered under,
    /// whatever their scopes: where the consent page finds the scopes approved before (shown,
    /// never granted on their own).
    pub(crate) fn party_key(&self, resource: &str) -> String {
        self.key(resource, None)
    }

    /// What an approval of this request is remembered under: the client, its redirect URI,
    /// the `resource` and the approved scopes, hashed to keep the cookie small. A loopback URI
    /// counts without its port, which native clients pick afresh each time (RFC 8252 §7.3; the
    /// redirect-URI check allows the same).
    pub(crate) fn grant_key(&self, resource: &str) -> String {
        self.key(resource, Some(&self.scopes.join(" ")))
    }

    fn key(&self, resource: &str, scopes: Option<&str>) -> String {
        let uri = match Url::parse(&self.redirect_uri) {
            Ok(mut url) if is_loopback(&url) => {
                // Cannot fail on a URL with a host.
                let _ = url.set_port(None);
                url.to_string()
            }
            _ => self.redirect_uri.clone(),
        };
        // A grant key ends in the scope line (unchanged since before party keys); a party
        // key has none, and a NUL no scope line can hold instead.
        let line = match scopes {
            Some(scopes) => format!("{}\n{uri}\n{resource}\n{scopes}", self.client.0),
            None => format!("{}\n{uri}\n{resource}\0", self.client.0),
        };
        let digest = openssl::sha::sha256(line.as_bytes());
        URL_SAFE_NO_PAD.encode(&digest[..16])
    }
}

impl Sealed for PendingAuthorization {
    const KIND: Kind = Kind::ConsentRequest;
    const TTL: Option<Duration> = Some(CONSENT_TTL);
    json_payload!();
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
    /// The proxy's own PKCE verifier for the upstream, when the proxy redeems the upstream
    /// code itself at the callback ([`TokenMode::Issued`](super::TokenMode::Issued)); the
    /// client's challenge then stays between the client and the proxy.
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub(crate) upstream_verifier: Option<String>,
    /// The MCP scopes approved (`None` in a transaction sealed before scopes were carried:
    /// the default set).
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    pub(crate) scopes: Option<Vec<String>>,
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
            upstream_verifier: None,
            scopes: Some(pending.scopes.clone()),
        }
    }
}

impl Sealed for Transaction {
    const KIND: Kind = Kind::Transaction;
    const TTL: Option<Duration> = Some(TRANSACTION_TTL);
    json_payload!();
}

/// The code handed to the client, and what it is bound to. No `Debug`: it holds the upstream
/// code or the upstream tokens.
#[derive(Serialize, Deserialize)]
pub(crate) struct Code {
    /// The upstream code, which `/token` redeems upstream (passthrough mode).
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub(crate) upstream_code: Option<String>,
    /// What the callback obtained and verified upstream, which `/token` turns into the proxy's
    /// own tokens (issued mode).
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub(crate) grant: Option<UpstreamGrant>,
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
    /// The canonical resource of the proxy that minted it: another proxy under the same key
    /// refuses it, so its consent, verifier and access policy cannot be skipped.
    #[serde(rename = "a")]
    pub(crate) resource: String,
    /// What the [`ReplayGuard`](super::ReplayGuard) records: a code is redeemed once.
    #[serde(rename = "j")]
    pub(crate) id: String,
}

impl Sealed for Code {
    const KIND: Kind = Kind::Code;
    const TTL: Option<Duration> = Some(CODE_TTL);
    const COMPRESS: bool = true;
    json_payload!();
}

/// The upstream's tokens, as its token endpoint answered them.
#[derive(Serialize, Deserialize)]
pub(crate) struct UpstreamTokens {
    #[serde(rename = "a")]
    pub(crate) access_token: String,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token: Option<String>,
    /// `now + expires_in` when the answer said.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub(crate) expires_at: Option<u64>,
}

/// The user as the upstream token was verified and mapped.
#[derive(Serialize, Deserialize)]
pub(crate) struct Identity {
    #[serde(rename = "u")]
    pub(crate) user: UserInfo,
    /// The verified claims (bounded); absent when they are exactly the payload of the
    /// upstream access token (a JWT) that the same value carries, which keeps it small.
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub(crate) claims: Option<Map<String, Value>>,
    /// The verified claims' `exp`.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub(crate) exp: Option<u64>,
}

/// What the callback hands `/token` inside the code: the upstream tokens and the verified user.
#[derive(Serialize, Deserialize)]
pub(crate) struct UpstreamGrant {
    #[serde(rename = "t")]
    pub(crate) tokens: UpstreamTokens,
    #[serde(rename = "i")]
    pub(crate) identity: Identity,
    /// The MCP scopes granted: requested, approved on the consent page and backed by what
    /// the provider granted.
    #[serde(rename = "s")]
    pub(crate) scopes: Vec<String>,
}

/// An access token the proxy issues: what `RequireAuth` opens at the MCP endpoint. No
/// `Debug`: it holds the upstream access token.
///
/// Sealed in the binary layout of [`compact`](super::compact), not JSON, and not deflated:
/// it is opened on every cache miss at `/mcp`, where inflating and parsing JSON would cost
/// more than the decryption, and the upstream JWT it carries travels as bytes (its parts
/// base64url-decoded) so the seal's base64 does not encode base64 again.
pub(crate) struct IssuedAccess {
    /// This proxy (its public origin).
    pub(crate) iss: String,
    /// The canonical resource it is for; another resource under the same key refuses it.
    pub(crate) aud: String,
    pub(crate) client: ClientBinding,
    pub(crate) scopes: Vec<String>,
    pub(crate) identity: Identity,
    /// The upstream access token, for tools that call the provider's API.
    pub(crate) upstream_access_token: CarriedToken,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
    /// What `/revoke` records to refuse it before its expiry.
    pub(crate) id: String,
}

impl Sealed for IssuedAccess {
    const KIND: Kind = Kind::AccessToken;
    // Sealed with `seal_for`: the upstream token's remaining lifetime, capped by the
    // configured `access_token_ttl`, which may be long.
    const TTL: Option<Duration> = None;
    // An access token always expires: `seal` refuses it, `seal_for` gives the envelope the
    // same expiry as `exp`, which `RequireAuth` checks as well.
    const SEAL_FOR_ONLY: bool = true;

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), SealError> {
        let mut w = Writer(out);
        w.str(&self.iss);
        w.str(&self.aud);
        w.str(&self.client.0);
        w.strs(&self.scopes);
        let user = &self.identity.user;
        w.str(&user.user_id);
        w.opt_str(user.email.as_deref());
        w.opt_str(user.name.as_deref());
        w.opt_str(user.picture.as_deref());
        w.opt_str(user.username.as_deref());
        w.strs(&user.scopes);
        w.strs(&user.permissions);
        w.strs(&user.roles);
        match &self.identity.claims {
            Some(claims) => {
                w.flag(true);
                w.bytes(&serde_json::to_vec(claims).map_err(|_| SealError::Internal)?);
            }
            None => w.flag(false),
        }
        w.opt_u64(self.identity.exp);
        match &self.upstream_access_token {
            CarriedToken::Opaque(token) => {
                w.flag(false);
                w.str(token);
            }
            CarriedToken::Jws {
                header,
                payload,
                signature,
            } => {
                w.flag(true);
                w.bytes(header);
                w.bytes(payload);
                w.bytes(signature);
            }
        }
        w.u64(self.iat);
        w.u64(self.exp);
        w.str(&self.id);
        Ok(())
    }

    fn decode(payload: &[u8]) -> Result<Self, SealError> {
        let mut r = Reader(payload);
        let iss = r.string()?;
        let aud = r.string()?;
        let client = ClientBinding(r.string()?);
        let scopes = r.strings()?;
        let user = UserInfo {
            user_id: r.string()?,
            email: r.opt_string()?,
            name: r.opt_string()?,
            picture: r.opt_string()?,
            username: r.opt_string()?,
            scopes: r.strings()?,
            permissions: r.strings()?,
            roles: r.strings()?,
        };
        let claims = if r.flag()? {
            Some(serde_json::from_slice(r.bytes()?).map_err(|_| SealError::Malformed)?)
        } else {
            None
        };
        let identity = Identity {
            user,
            claims,
            exp: r.opt_u64()?,
        };
        let upstream_access_token = if r.flag()? {
            CarriedToken::Jws {
                header: r.bytes()?.to_vec(),
                payload: r.bytes()?.to_vec(),
                signature: r.bytes()?.to_vec(),
            }
        } else {
            CarriedToken::Opaque(r.string()?)
        };
        let access = Self {
            iss,
            aud,
            client,
            scopes,
            identity,
            upstream_access_token,
            iat: r.u64()?,
            exp: r.u64()?,
            id: r.string()?,
        };
        r.end()?;
        Ok(access)
    }
}

/// An upstream access token inside an issued access token. A JWS travels as its three parts
/// base64url-decoded (header and payload JSON, the signature's bytes): a quarter smaller than
/// its base64 inside the seal's own base64, and the payload is the claims without decoding.
/// The exact token is rebuilt from them, so a token whose base64url is not canonical, or any
/// other token, travels as it is.
pub(crate) enum CarriedToken {
    Opaque(String),
    Jws {
        header: Vec<u8>,
        payload: Vec<u8>,
        signature: Vec<u8>,
    },
}

impl CarriedToken {
    /// `token`, in the smallest form that rebuilds it exactly.
    pub(crate) fn of(token: &str) -> Self {
        let mut parts = token.split('.');
        if let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            let decoded = (
                URL_SAFE_NO_PAD.decode(h),
                URL_SAFE_NO_PAD.decode(p),
                URL_SAFE_NO_PAD.decode(s),
            );
            if let (Ok(header), Ok(payload), Ok(signature)) = decoded {
                let carried = Self::Jws {
                    header,
                    payload,
                    signature,
                };
                if carried.token() == token {
                    return carried;
                }
            }
        }
        Self::Opaque(token.to_owned())
    }

    /// The token, exactly as the upstream issued it.
    pub(crate) fn token(&self) -> String {
        match self {
            Self::Opaque(token) => token.clone(),
            Self::Jws {
                header,
                payload,
                signature,
            } => {
                let len = (header.len() + payload.len() + signature.len()) * 4 / 3 + 5;
                let mut token = String::with_capacity(len);
                URL_SAFE_NO_PAD.encode_string(header, &mut token);
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(payload, &mut token);
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(signature, &mut token);
                token
            }
        }
    }

    /// The JWS payload, when the token is carried as one.
    pub(crate) fn payload(&self) -> Option<&[u8]> {
        match self {
            Self::Jws { payload, .. } => Some(payload),
            Self::Opaque(_) => None,
        }
    }
}

/// A refresh token the proxy issues. No `Debug`: it holds an upstream token.
#[derive(Serialize, Deserialize)]
pub(crate) struct IssuedRefresh {
    #[serde(rename = "c")]
    pub(crate) client: ClientBinding,
    #[serde(rename = "s")]
    pub(crate) scopes: Vec<String>,
    #[serde(rename = "r")]
    pub(crate) resource: String,
    /// The upstream refresh token.
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub(crate) upstream_refresh_token: Option<String>,
    /// Without an upstream refresh token (GitHub OAuth apps issue none), the upstream access
    /// token, which a refresh verifies again.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub(crate) upstream_access_token: Option<String>,
    /// What the [`ReplayGuard`](super::ReplayGuard) records: every refresh rotates it.
    #[serde(rename = "j")]
    pub(crate) id: String,
}

impl Sealed for IssuedRefresh {
    const KIND: Kind = Kind::RefreshToken;
    const TTL: Option<Duration> = Some(REFRESH_TTL);
    const COMPRESS: bool = true;
    json_payload!();
}

/// 256 random bits, base64url.
pub(crate) fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(josekit::util::random_bytes(32))
}

/// 128 random bits, base64url: the one-time id of a code or an issued token.
pub(crate) fn random_id() -> String {
    URL_SAFE_NO_PAD.encode(josekit::util::random_bytes(16))
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
    json_payload!();
}

impl Sealed for BindingNonce {
    const KIND: Kind = Kind::Binding;
    // As long as the transaction that carries it.
    const TTL: Option<Duration> = Some(TRANSACTION_TTL);
    json_payload!();
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
    /// [`PendingAuthorization::party_key`]: the client, redirect URI and resource alone.
    #[serde(rename = "p", default, skip_serializing_if = "String::is_empty")]
    party: String,
    /// The MCP scopes approved (bounded by the scopes the server defines).
    #[serde(rename = "s", default, skip_serializing_if = "Vec::is_empty")]
    scopes: Vec<String>,
}

impl Remembered {
    /// Whether the approval remembered under `key` still holds at `now`.
    pub(crate) fn approves(&self, key: &str, now: u64) -> bool {
        self.grants.iter().any(|g| g.expires > now && g.key == key)
    }

    /// The MCP scopes approved in every live approval of `party`.
    pub(crate) fn approved_scopes(&self, party: &str, now: u64) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for g in self
            .grants
            .iter()
            .filter(|g| g.expires > now && g.party == party)
        {
            for s in &g.scopes {
                if !out.contains(s) {
                    out.push(s.clone());
                }
            }
        }
        out
    }

    /// Remembers the approval of `pending` until `expires`, dropping the expired ones, those
    /// of the same party that approved no scope beyond it, and, past [`MAX_GRANTS`], the
    /// oldest.
    pub(crate) fn approve(
        &mut self,
        pending: &PendingAuthorization,
        resource: &str,
        now: u64,
        expires: u64,
    ) {
        let key = pending.grant_key(resource);
        let party = pending.party_key(resource);
        // An approval of more scopes replaces those of fewer for the same party.
        self.grants.retain(|g| {
            g.expires > now
                && g.key != key
                && !(g.party == party && g.scopes.iter().all(|s| pending.scopes.contains(s)))
        });
        self.grants.push(Grant {
            key,
            expires,
            party,
            scopes: pending.scopes.clone(),
        });
        let excess = self.grants.len().saturating_sub(MAX_GRANTS);
        self.grants.drain(..excess);
    }
}

impl Sealed for Remembered {
    const KIND: Kind = Kind::Consent;
    // The operator chooses the lifetime (`remember_consent_for`) and it is sealed with
    // `seal_for`; this is its bound, the longest cookie lifetime browsers keep.
    const TTL: Option<Duration> = Some(MAX_REMEMBER);
    // Deflated: the approved scope names repeat from one approval to the next.
    const COMPRESS: bool = true;
    json_payload!();
}

/// Tries `sealed` as every sealed type, in the order of the protocol table: what the unit tests
/// and the `sealed` fuzz target check, that one value opens as at most one kind.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn open_as_each(
    s: &super::seal::Sealer,
    sealed: &str,
) -> [Result<(), super::seal::SealError>; 9] {
    [
        s.open::<Registration>(sealed).map(drop),
        s.open::<PendingAuthorization>(sealed).map(drop),
        s.open::<CsrfNonce>(sealed).map(drop),
        s.open::<BindingNonce>(sealed).map(drop),
        s.open::<Remembered>(sealed).map(drop),
        s.open::<Transaction>(sealed).map(drop),
        s.open::<Code>(sealed).map(drop),
        s.open::<IssuedAccess>(sealed).map(drop),
        s.open::<IssuedRefresh>(sealed).map(drop),
    ]
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
            offline: false,
        }
    }

    #[test]
    fn each_sealed_type_opens_as_itself_and_as_no_other() {
        let s = sealer();
        let pending = pending("c1", "https://client.example/cb");
        let binding = BindingNonce::random();
        let mut remembered = Remembered::default();
        remembered.approve(&pending, "r", 1_000_000, 1_000_600);
        let registration = Registration {
            name: Some("n".into()),
            redirect_uris: vec!["https://client.example/cb".into()],
            issued_at: 1,
            auth: ClientAuth::SecretPost,
        };
        let code = Code {
            upstream_code: Some("u".into()),
            grant: None,
            client: pending.client.clone(),
            redirect_uri: pending.redirect_uri.clone(),
            redirect_uri_sent: true,
            code_challenge: String::new(),
            resource: "https://as/mcp".into(),
            id: random_id(),
        };
        let identity = || Identity {
            user: UserInfo::default(),
            claims: None,
            exp: None,
        };
        let access = IssuedAccess {
            iss: "https://as".into(),
            aud: "https://as/mcp".into(),
            client: pending.client.clone(),
            scopes: vec![],
            identity: identity(),
            upstream_access_token: CarriedToken::of("at"),
            iat: 1,
            exp: 2_000_000,
            id: random_id(),
        };
        let refresh = IssuedRefresh {
            client: pending.client.clone(),
            scopes: vec![],
            resource: "https://as/mcp".into(),
            upstream_refresh_token: Some("rt".into()),
            upstream_access_token: None,
            id: random_id(),
        };
        let sealed = [
            s.seal(&registration),
            s.seal(&pending),
            s.seal(&CsrfNonce::random()),
            s.seal(&binding),
            s.seal(&remembered),
            s.seal(&Transaction::new(&pending, &binding)),
            s.seal(&code),
            s.seal_for(&access, Duration::from_secs(60)),
            s.seal(&refresh),
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
        let p = |c: &str| pending(c, "https://client.example/cb");
        let key = |c: &str| p(c).grant_key("r");
        r.approve(&p("old"), "r", 100, 150);
        assert!(r.approves(&key("old"), 149));
        assert!(!r.approves(&key("old"), 150));
        for i in 0..MAX_GRANTS {
            r.approve(&p(&format!("k{i}")), "r", 100, 200);
        }
        assert!(!r.approves(&key("old"), 100), "the oldest went first");
        assert!(r.approves(&key("k0"), 100) && r.approves(&key("k19"), 100));
        r.approve(&p("k0"), "r", 160, 300);
        assert_eq!(r.grants.len(), MAX_GRANTS, "renewed, not repeated");
        assert!(r.approves(&key("k0"), 250) && !r.approves(&key("k1"), 250));
    }

    #[test]
    fn a_wider_approval_replaces_a_narrower_one_and_keeps_its_scopes() {
        let mut r = Remembered::default();
        let mut narrow = pending("c", "https://client.example/cb");
        narrow.scopes = vec!["files:read".into()];
        let mut wide = narrow.clone();
        wide.scopes = vec!["files:read".into(), "files:write".into()];
        r.approve(&narrow, "r", 100, 200);
        assert_eq!(
            r.approved_scopes(&narrow.party_key("r"), 100),
            ["files:read"]
        );
        r.approve(&wide, "r", 100, 200);
        assert_eq!(r.grants.len(), 1);
        assert_eq!(
            r.approved_scopes(&narrow.party_key("r"), 100),
            ["files:read", "files:write"]
        );
        assert!(r
            .approved_scopes(&narrow.party_key("other"), 100)
            .is_empty());
        assert!(
            r.approved_scopes(&narrow.party_key("r"), 200).is_empty(),
            "expired"
        );
        assert_ne!(
            narrow.party_key("r"),
            pending("c", "https://client.example/cb").grant_key("r")
        );
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

//! Sealed values: the proxy's whole flow state, encrypted and authenticated with the proxy key.
//!
//! Every value the proxy would otherwise keep in a database (a registered client, a transaction
//! in flight, a code handed to a client, consent) is sealed into an opaque string and handed to
//! the client or browser, which gives it back at the next step. Any replica holding the same key
//! can open it, so no state is shared between replicas.
//!
//! Format: a compact JWE, `dir` + `A256GCM`, whose `kid` names the key that sealed it (and
//! `zip: DEF` when the plaintext is deflated). Any JWE library opens it with the derived key;
//! this proxy opens only the exact protected headers it writes itself. The plaintext starts
//! with a binary envelope, the value's [`Kind`] (one byte) and its expiry (a flag byte, then
//! eight bytes big-endian when it has one), so a blob of one kind never opens as another and
//! an expired blob never opens at all, checked before the payload is read. The payload follows:
//! JSON for most kinds, a compact binary layout for the access tokens the MCP endpoint opens on
//! every cache miss ([`Sealed::encode`]).
//!
//! **Key rotation.** Each seal draws a random 96-bit AES-GCM nonce; NIST SP 800-38D bounds
//! random-nonce use of one key at 2^32 encryptions (nonce collision odds below 2^-32). Every
//! seal counts, whatever it is for: a registered client (its id and its secret, at `/register`
//! or each static client at start-up), each `/authorize` (the browser binding cookie and the
//! transaction, and the consent request and its CSRF cookie when the consent page is shown),
//! each consent decision (the remembered-consent cookie), each code, and each pair of tokens at
//! `/token` (the access and the refresh token, on sign-in and on every refresh). A sign-in is
//! about seven seals, a refresh two. The budget belongs to the key, not to a process: every
//! replica holding the key draws from the same 2^32, so count the seals of all of them. Rotate
//! the key (a new first key in [`proxy_keys`](super::OAuthProxyBuilder::proxy_keys), the old
//! one kept to open) after at most **2^31 seals** in all, about 300 million sign-ins or a
//! billion refreshes across the replicas (fewer when `/authorize` is hit by requests that
//! never sign in): for most servers a yearly rotation is far inside the bound.
//!
//! Each payload type states its kind and lifetime once, through [`Sealed`]: sealing and opening
//! are generic over it, so a type always seals and opens as its own kind. The payloads
//! themselves, and what each is for, are in [`state`](super::state).

use std::{cell::RefCell, fmt, io, sync::Arc, time::Duration};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use derive_more::{Display, Error};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use openssl::{cipher_ctx::CipherCtx, symm::Cipher};
use openssl::{hash::MessageDigest, pkey::PKey, sign::Signer};

use crate::{
    clock::Clock,
    secret::ClientSecret,
    validate::{invalid, ConfigError},
};

/// Shortest secret accepted as a proxy key, in bytes.
const MIN_KEY_BYTES: usize = 32;
/// A sealed value longer than this is refused before any decryption work.
pub(crate) const MAX_SEALED_BYTES: usize = 8 * 1024;

/// A secret that seals the proxy's flow state. Share the same keys across replicas.
///
/// Give at least 32 random bytes, base64url-encoded (`openssl rand -base64 32 | tr '+/' '-_'`).
/// The secret is never used directly: an encryption key and a key id are derived from it.
#[derive(Clone)]
pub struct ProxyKey {
    enc: [u8; 32],
    /// Derives the secrets of registered confidential clients (never stored).
    mac: [u8; 32],
    kid: String,
}

impl ProxyKey {
    /// A key from at least 32 bytes of secret material.
    pub fn from_bytes(secret: &[u8]) -> Result<Self, ConfigError> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(invalid(
                "proxy_key",
                &format!("at least {MIN_KEY_BYTES} bytes are needed"),
            ));
        }
        let derive = |label: &[u8]| -> Result<Vec<u8>, ConfigError> {
            let fail = |e: openssl::error::ErrorStack| {
                invalid("proxy_key", &format!("key derivation failed: {e}"))
            };
            let pkey = PKey::hmac(secret).map_err(fail)?;
            let mut signer = Signer::new(MessageDigest::sha256(), &pkey).map_err(fail)?;
            signer.update(label).map_err(fail)?;
            signer.sign_to_vec().map_err(fail)
        };
        let mut enc = [0u8; 32];
        enc.copy_from_slice(&derive(b"actix-mcp-oauth/seal/v1")?[..32]);
        // The key id tells replicas which key sealed a blob; it reveals nothing of the secret.
        let kid = URL_SAFE_NO_PAD.encode(&derive(b"actix-mcp-oauth/kid/v1")?[..9]);
        let mut mac = [0u8; 32];
        mac.copy_from_slice(&derive(b"actix-mcp-oauth/client-secret/v1")?[..32]);
        Ok(Self { enc, mac, kid })
    }

    /// A key from base64url text (padding and the standard alphabet are tolerated).
    pub fn from_base64url(text: &str) -> Result<Self, ConfigError> {
        let cleaned: String = text
            .trim()
            .trim_end_matches('=')
            .chars()
            .map(|c| match c {
                '+' => '-',
                '/' => '_',
                c => c,
            })
            .collect();
        let bytes = URL_SAFE_NO_PAD
            .decode(cleaned.as_bytes())
            .map_err(|_| invalid("proxy_key", "not base64url"))?;
        Self::from_bytes(&bytes)
    }

    /// A fresh random key. Flows in flight break when the process restarts, and replicas
    /// cannot open each other's values: configure a shared key in production.
    pub fn generate() -> Self {
        let secret = josekit::util::random_bytes(MIN_KEY_BYTES);
        // 32 bytes always satisfy from_bytes, and HMAC-SHA256 over a constant cannot fail on
        // a working OpenSSL; a broken one cannot produce a key at all.
        Self::from_bytes(&secret).unwrap_or_else(|e| panic!("cannot derive a proxy key: {e}"))
    }
}

impl fmt::Debug for ProxyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// What a sealed value is, as the first byte of its envelope. A value sealed as one kind never
/// opens as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// A registered client: the proxy-issued `client_id`.
    Client = 1,
    /// An authorization in flight: the upstream `state`.
    Transaction = 2,
    /// The authorization code handed to the client.
    Code = 3,
    /// An authorization request waiting on the consent page.
    ConsentRequest = 4,
    /// The CSRF token of the consent form.
    ConsentCsrf = 5,
    /// A remembered consent.
    Consent = 6,
    /// The browser binding of a transaction.
    Binding = 7,
    /// An access token the proxy issued: what `/mcp` opens.
    AccessToken = 8,
    /// A refresh token the proxy issued.
    RefreshToken = 9,
}

/// A payload of the proxy's flow state: what it is sealed as, how long it opens, and how it is
/// written inside the envelope.
pub(crate) trait Sealed: Sized {
    /// The kind it is sealed as and opened as, and no other.
    const KIND: Kind;
    /// The longest it opens after sealing; `None`: until the key that sealed it is retired.
    const TTL: Option<Duration>;
    /// Whether the plaintext is deflated before encryption (JWE `zip: DEF`): for the values
    /// that carry upstream tokens and claims, which compress well and travel in URLs. Only
    /// values this proxy sealed are ever inflated (after the AEAD check).
    const COMPRESS: bool = false;
    /// Whether it is only ever sealed for a given lifetime ([`Sealer::seal_for`]): a value
    /// whose [`TTL`](Self::TTL) is `None` but must still expire, such as an access token.
    const SEAL_FOR_ONLY: bool = false;

    /// `ttl`, cut to [`TTL`](Self::TTL).
    fn bounded(ttl: Duration) -> Duration {
        Self::TTL.map_or(ttl, |max| ttl.min(max))
    }

    /// Appends the payload to `out` (after the envelope). Most kinds are JSON
    /// ([`json_payload!`]); the issued access token has a binary layout of its own.
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), SealError>;

    /// The payload `encode` wrote, from the authenticated plaintext after the envelope.
    fn decode(payload: &[u8]) -> Result<Self, SealError>;
}

/// [`Sealed::encode`] and [`Sealed::decode`] as JSON, for a payload that is `Serialize` and
/// `Deserialize`.
macro_rules! json_payload {
    () => {
        fn encode(&self, out: &mut Vec<u8>) -> Result<(), $crate::proxy::seal::SealError> {
            serde_json::to_writer(out, self).map_err(|_| $crate::proxy::seal::SealError::Internal)
        }

        fn decode(payload: &[u8]) -> Result<Self, $crate::proxy::seal::SealError> {
            serde_json::from_slice(payload).map_err(|_| $crate::proxy::seal::SealError::Malformed)
        }
    };
}
pub(crate) use json_payload;

/// Why a sealed value did not open.
#[derive(Debug, Display, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum SealError {
    /// Not a sealed value at all, or too long.
    #[display("malformed sealed value")]
    Malformed,
    /// No configured key opens it: tampered, or sealed with a retired or foreign key.
    #[display("sealed value does not open")]
    Invalid,
    /// Sealed for another purpose.
    #[display("sealed value of another kind")]
    WrongKind,
    /// Past its expiry.
    #[display("sealed value has expired")]
    Expired,
    /// Encryption failed inside OpenSSL or serialisation failed.
    #[display("sealing failed")]
    Internal,
}

/// The envelope: the kind, then whether an expiry follows, then the expiry.
fn envelope(kind: Kind, exp: Option<u64>, out: &mut Vec<u8>) {
    out.push(kind as u8);
    match exp {
        Some(exp) => {
            out.push(1);
            out.extend_from_slice(&exp.to_be_bytes());
        }
        None => out.push(0),
    }
}

/// The kind byte, the expiry and the payload of an opened plaintext.
fn open_envelope(plaintext: &[u8]) -> Result<(u8, Option<u64>, &[u8]), SealError> {
    match plaintext {
        [kind, 0, payload @ ..] => Ok((*kind, None, payload)),
        [kind, 1, rest @ ..] if rest.len() >= 8 => {
            let (exp, payload) = rest.split_at(8);
            let exp = u64::from_be_bytes(exp.try_into().map_err(|_| SealError::Malformed)?);
            Ok((*kind, Some(exp), payload))
        }
        _ => Err(SealError::Malformed),
    }
}

struct Keyed {
    kid: String,
    mac: [u8; 32],
    /// The AES-256-GCM key.
    enc: [u8; 32],
    /// The protected header this key seals with, base64url: the JWE's first part and its
    /// additional authenticated data. Opening accepts exactly this text (or `zipped`).
    header: String,
    /// The same with `zip: DEF`.
    zipped: String,
}

impl Keyed {
    fn new(key: &ProxyKey) -> Self {
        let header = |zip: &str| {
            URL_SAFE_NO_PAD.encode(format!(
                r#"{{"alg":"dir","enc":"A256GCM","kid":"{}"{zip}}}"#,
                key.kid
            ))
        };
        Self {
            kid: key.kid.clone(),
            mac: key.mac,
            enc: key.enc,
            header: header(""),
            zipped: header(r#","zip":"DEF""#),
        }
    }
}

struct Inner {
    /// The first key seals; all keys open.
    keys: Vec<Keyed>,
    clock: Arc<dyn Clock>,
}

/// Most bytes a sealed value inflates to; ours are a few KiB.
const MAX_INFLATED: usize = 64 * 1024;

/// Most AES-GCM contexts a thread keeps, one per proxy key it opened values with.
const MAX_OPENERS: usize = 8;

thread_local! {
    // An AES-GCM context with its key schedule, per key: set up once, then given only the
    // nonce of each value (setting up the cipher and key each time cost a quarter of opening).
    static OPENERS: RefCell<Vec<([u8; 32], CipherCtx)>> = const { RefCell::new(Vec::new()) };
    // A deflate state is a few hundred KiB to set up; each thread keeps one and resets it.
    static COMPRESSOR: RefCell<Compress> = RefCell::new(Compress::new(Compression::fast(), false));
    static DECOMPRESSOR: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// JWE `zip: DEF` (raw deflate, RFC 1951), with a compressor and a decompressor kept per
/// thread: setting up a deflate state for every value costs more than the encryption.
#[derive(Debug, Clone)]
struct Deflate;

impl Deflate {
    fn compress(&self, message: &[u8]) -> Result<Vec<u8>, io::Error> {
        COMPRESSOR.with(|c| {
            let mut c = c.borrow_mut();
            c.reset();
            let mut out = Vec::with_capacity(message.len() / 2 + 64);
            loop {
                let consumed = usize::try_from(c.total_in()).unwrap_or(message.len());
                let rest = message.get(consumed..).unwrap_or_default();
                match c.compress_vec(rest, &mut out, FlushCompress::Finish)? {
                    Status::StreamEnd => return Ok(out),
                    _ => out.reserve(out.capacity().max(64)),
                }
            }
        })
    }

    fn decompress(&self, message: &[u8]) -> Result<Vec<u8>, io::Error> {
        DECOMPRESSOR.with(|d| {
            let mut d = d.borrow_mut();
            d.reset(false);
            let mut out = Vec::with_capacity(message.len() * 3 + 64);
            loop {
                let consumed = usize::try_from(d.total_in()).unwrap_or(message.len());
                let rest = message.get(consumed..).unwrap_or_default();
                let before = (d.total_in(), d.total_out());
                match d.decompress_vec(rest, &mut out, FlushDecompress::None)? {
                    Status::StreamEnd => return Ok(out),
                    _ if out.len() >= MAX_INFLATED => {
                        return Err(io::Error::other("inflates too large"))
                    }
                    // No progress with room to spare: the input ended early.
                    _ if (d.total_in(), d.total_out()) == before && out.len() < out.capacity() => {
                        return Err(io::Error::other("truncated deflate stream"))
                    }
                    _ => out.reserve(out.capacity().max(64)),
                }
            }
        })
    }
}

/// AES-256-GCM decryption of `ciphertext` under `key`, with this thread's context for it.
fn decrypt(
    key: &[u8; 32],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>, SealError> {
    OPENERS.with(|openers| {
        let mut openers = openers.borrow_mut();
        let at = match openers.iter().position(|(k, _)| k == key) {
            Some(at) => at,
            None => {
                if openers.len() >= MAX_OPENERS {
                    openers.clear();
                }
                let mut ctx = CipherCtx::new().map_err(|_| SealError::Internal)?;
                ctx.decrypt_init(
                    Some(openssl::cipher::Cipher::aes_256_gcm()),
                    Some(key),
                    None,
                )
                .map_err(|_| SealError::Internal)?;
                openers.push((*key, ctx));
                openers.len() - 1
            }
        };
        let ctx = &mut openers[at].1;
        let mut out = vec![0; ciphertext.len() + 16];
        let opened = (|| {
            ctx.decrypt_init(None, None, Some(iv))?;
            ctx.cipher_update(aad, None)?;
            let n = ctx.cipher_update(ciphertext, Some(&mut out))?;
            ctx.set_tag(tag)?;
            let rest = ctx.cipher_final(&mut out[n..])?;
            Ok::<_, openssl::error::ErrorStack>(n + rest)
        })();
        match opened {
            Ok(len) => {
                out.truncate(len);
                Ok(out)
            }
            Err(_) => {
                // A refused value (wrong tag) leaves the context in a failed state: start the
                // next one from a fresh context.
                openers.swap_remove(at);
                Err(SealError::Invalid)
            }
        }
    })
}

/// Seals and opens the proxy's flow state with the configured keys.
#[derive(Clone)]
pub(crate) struct Sealer(Arc<Inner>);

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.0.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("Sealer").field("kids", &kids).finish()
    }
}

impl Sealer {
    /// A sealer whose first key seals and whose every key opens.
    pub(crate) fn new(keys: Vec<ProxyKey>, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        if keys.is_empty() {
            return Err(ConfigError::Missing("proxy_key"));
        }
        let keys = keys.iter().map(Keyed::new).collect();
        Ok(Self(Arc::new(Inner { keys, clock })))
    }

    /// Seals `value` as its kind, to open for its type's lifetime (or until the key is retired).
    pub(crate) fn seal<T: Sealed>(&self, value: &T) -> Result<String, SealError> {
        if T::SEAL_FOR_ONLY {
            return Err(SealError::Internal);
        }
        self.seal_expiring(value, T::TTL)
    }

    /// Seals `value` to open for `ttl` only: for a lifetime the operator configures. It never
    /// outlives its type's [`TTL`](Sealed::TTL), which is the protocol's bound for that kind.
    pub(crate) fn seal_for<T: Sealed>(
        &self,
        value: &T,
        ttl: Duration,
    ) -> Result<String, SealError> {
        self.seal_expiring(value, Some(T::bounded(ttl)))
    }

    fn seal_expiring<T: Sealed>(
        &self,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<String, SealError> {
        let exp = ttl.map(|ttl| self.0.clock.now().saturating_add(ttl.as_secs()));
        let mut plaintext = Vec::with_capacity(1024);
        envelope(T::KIND, exp, &mut plaintext);
        value.encode(&mut plaintext)?;
        if T::COMPRESS {
            plaintext = Deflate
                .compress(&plaintext)
                .map_err(|_| SealError::Internal)?;
        }
        self.encrypt(&plaintext, T::COMPRESS)
    }

    /// The compact JWE of `plaintext` under the first key.
    fn encrypt(&self, plaintext: &[u8], zipped: bool) -> Result<String, SealError> {
        let key = &self.0.keys[0];
        let header = if zipped { &key.zipped } else { &key.header };
        let mut iv = [0u8; 12];
        let mut tag = [0u8; 16];
        let sealed = openssl::rand::rand_bytes(&mut iv).and_then(|()| {
            openssl::symm::encrypt_aead(
                Cipher::aes_256_gcm(),
                &key.enc,
                Some(&iv),
                header.as_bytes(),
                plaintext,
                &mut tag,
            )
        });
        let ciphertext = sealed.map_err(|e| {
            log::error!("sealing failed: {e}");
            SealError::Internal
        })?;
        let mut out = String::with_capacity(header.len() + 48 + ciphertext.len() * 4 / 3);
        out.push_str(header);
        out.push_str("..");
        URL_SAFE_NO_PAD.encode_string(iv, &mut out);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&ciphertext, &mut out);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut out);
        Ok(out)
    }

    /// The secret of the registered client `client_id`: HMAC-SHA256 of the id under the
    /// sealing key, so it needs no storage and every replica derives the same one.
    pub(crate) fn client_secret(&self, client_id: &str) -> Result<ClientSecret, SealError> {
        client_mac(&self.0.keys[0].mac, client_id).map(ClientSecret::new)
    }

    /// Whether `presented` is the secret of `client_id` under any configured key (so secrets
    /// survive a key rotation as long as their client ids do). Compared in constant time.
    pub(crate) fn is_client_secret(&self, client_id: &str, presented: &str) -> bool {
        self.0.keys.iter().any(|k| {
            client_mac(&k.mac, client_id).is_ok_and(|expected| {
                expected.len() == presented.len()
                    && openssl::memcmp::eq(expected.as_bytes(), presented.as_bytes())
            })
        })
    }

    /// Seals `plaintext` as it is, envelope and all, so that a fuzzer reaches what [`open`]
    /// does after decryption with inputs no real sealing would produce.
    ///
    /// [`open`]: Self::open
    #[cfg(feature = "fuzzing")]
    pub(crate) fn seal_plaintext(&self, plaintext: &[u8]) -> Result<String, SealError> {
        self.encrypt(plaintext, false)
    }

    /// Opens a value sealed as `T`'s kind, checking its integrity and expiry.
    pub(crate) fn open<T: Sealed>(&self, sealed: &str) -> Result<T, SealError> {
        self.open_expiring(sealed).map(|(value, _)| value)
    }

    /// [`open`](Self::open), with the value's expiry as sealed: what a record of its use
    /// (the [`ReplayGuard`](super::ReplayGuard)'s) needs to outlive, and no longer.
    pub(crate) fn open_expiring<T: Sealed>(
        &self,
        sealed: &str,
    ) -> Result<(T, Option<u64>), SealError> {
        self.open_within(sealed, MAX_SEALED_BYTES)
    }

    /// [`open_expiring`](Self::open_expiring) for a value up to `max_len` characters rather
    /// than [`MAX_SEALED_BYTES`]: a client id, whose bound follows the configured limits on
    /// redirect URIs. Longer input is refused before any decryption.
    pub(crate) fn open_within<T: Sealed>(
        &self,
        sealed: &str,
        max_len: usize,
    ) -> Result<(T, Option<u64>), SealError> {
        if sealed.is_empty() || sealed.len() > max_len {
            return Err(SealError::Malformed);
        }
        // A compact JWE (RFC 7516 §7.1), opened here rather than by josekit: this is the MCP
        // endpoint's cold path for issued tokens, and only our own format is ever accepted.
        let mut parts = sealed.split('.');
        let (Some(header_b64), Some(encrypted_key), Some(iv), Some(ciphertext), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(SealError::Malformed);
        };
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| SealError::Malformed)
        };
        // Only what we seal ourselves is opened: the exact protected header one of our keys
        // writes, so no other algorithm is even tried and no header is parsed.
        let (key, zipped) = self
            .0
            .keys
            .iter()
            .find_map(|k| {
                if k.header == header_b64 {
                    Some((k, false))
                } else if k.zipped == header_b64 {
                    Some((k, true))
                } else {
                    None
                }
            })
            .ok_or(SealError::Invalid)?;
        if !encrypted_key.is_empty() {
            return Err(SealError::Invalid);
        }
        let (iv, tag) = (decode(iv)?, decode(tag)?);
        if iv.len() != 12 || tag.len() != 16 {
            return Err(SealError::Invalid);
        }
        // The protected header, as sent, is the additional authenticated data.
        let plaintext = decrypt(
            &key.enc,
            &iv,
            header_b64.as_bytes(),
            &decode(ciphertext)?,
            &tag,
        )?;
        let plaintext = if zipped {
            // Inflated only after the AEAD check: only what this proxy sealed.
            Deflate
                .decompress(&plaintext)
                .map_err(|_| SealError::Malformed)?
        } else {
            plaintext
        };
        let (kind, exp, payload) = open_envelope(&plaintext)?;
        if kind != T::KIND as u8 {
            return Err(SealError::WrongKind);
        }
        if exp.is_some_and(|exp| self.0.clock.now() >= exp) {
            return Err(SealError::Expired);
        }
        T::decode(payload).map(|value| (value, exp))
    }
}

fn client_mac(key: &[u8; 32], client_id: &str) -> Result<String, SealError> {
    let mac = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let pkey = PKey::hmac(key)?;
        let mut signer = Signer::new(MessageDigest::sha256(), &pkey)?;
        signer.update(client_id.as_bytes())?;
        signer.sign_to_vec()
    };
    mac()
        .map(|tag| URL_SAFE_NO_PAD.encode(tag))
        .map_err(|_| SealError::Internal)
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::clock::ManualClock;

    fn key(byte: u8) -> ProxyKey {
        ProxyKey::from_bytes(&[byte; 32]).expect("32 bytes")
    }

    fn sealer(keys: Vec<ProxyKey>) -> (Sealer, Arc<ManualClock>) {
        let clock = ManualClock::at(1_000_000);
        (Sealer::new(keys, clock.clone()).expect("sealer"), clock)
    }

    /// One payload shape declared as three kinds: the kind, not the shape, decides what opens.
    macro_rules! payload {
        ($name:ident, $kind:expr, $ttl:expr) => {
            #[derive(Debug, PartialEq, Serialize, Deserialize)]
            struct $name {
                client: String,
                state: Option<String>,
            }

            impl Sealed for $name {
                const KIND: Kind = $kind;
                const TTL: Option<Duration> = $ttl;
                json_payload!();
            }

            impl $name {
                fn new() -> Self {
                    Self {
                        client: "c1".into(),
                        state: Some("xyz".into()),
                    }
                }
            }
        };
    }

    payload!(Txn, Kind::Transaction, None);
    payload!(ClientTxn, Kind::Client, None);
    payload!(CodeTxn, Kind::Code, Some(Duration::from_secs(300)));

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Zipped {
        text: String,
    }

    impl Sealed for Zipped {
        const KIND: Kind = Kind::AccessToken;
        const TTL: Option<Duration> = None;
        const COMPRESS: bool = true;
        json_payload!();
    }

    #[test]
    fn a_sealed_value_opens_to_the_same_value() {
        let (s, _) = sealer(vec![key(1)]);
        let sealed = s.seal(&Txn::new()).unwrap();
        assert!(sealed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        assert!(!sealed.contains("c1") && !sealed.contains("xyz"));
        assert_eq!(s.open::<Txn>(&sealed).unwrap(), Txn::new());
    }

    #[test]
    fn a_value_of_one_kind_never_opens_as_another() {
        let (s, _) = sealer(vec![key(1)]);
        let sealed = s.seal(&ClientTxn::new()).unwrap();
        assert_eq!(s.open::<CodeTxn>(&sealed), Err(SealError::WrongKind));
    }

    #[test]
    fn an_expired_value_is_refused() {
        let (s, clock) = sealer(vec![key(1)]);
        let sealed = s.seal(&CodeTxn::new()).unwrap();
        clock.advance(299);
        assert!(s.open::<CodeTxn>(&sealed).is_ok());
        clock.advance(1);
        assert_eq!(s.open::<CodeTxn>(&sealed), Err(SealError::Expired));
    }

    #[test]
    fn a_configured_lifetime_holds_but_never_outlives_the_types() {
        let (s, clock) = sealer(vec![key(1)]);
        let short = s
            .seal_for(&CodeTxn::new(), Duration::from_secs(60))
            .unwrap();
        let long = s
            .seal_for(&CodeTxn::new(), Duration::from_secs(600))
            .unwrap();
        let unbounded = s.seal_for(&Txn::new(), Duration::from_secs(60)).unwrap();
        clock.advance(59);
        assert!(s.open::<CodeTxn>(&short).is_ok());
        assert!(s.open::<Txn>(&unbounded).is_ok());
        clock.advance(1);
        assert_eq!(s.open::<CodeTxn>(&short), Err(SealError::Expired));
        assert_eq!(s.open::<Txn>(&unbounded), Err(SealError::Expired));
        clock.advance(239);
        assert!(s.open::<CodeTxn>(&long).is_ok());
        clock.advance(1);
        assert_eq!(s.open::<CodeTxn>(&long), Err(SealError::Expired));
    }

    #[test]
    fn every_flipped_character_is_refused() {
        let (s, _) = sealer(vec![key(1)]);
        let sealed = s.seal(&Txn::new()).unwrap();
        for i in 0..sealed.len() {
            let mut bytes = sealed.clone().into_bytes();
            bytes[i] = match bytes[i] {
                b'A' => b'B',
                b'.' => b'A',
                _ => b'A',
            };
            let tampered = String::from_utf8(bytes).unwrap();
            if tampered == sealed {
                continue;
            }
            assert!(s.open::<Txn>(&tampered).is_err(), "flip at {i} opened");
        }
    }

    #[test]
    fn rotation_first_key_seals_every_key_opens_foreign_keys_refused() {
        let (old, _) = sealer(vec![key(1)]);
        let (rotated, _) = sealer(vec![key(2), key(1)]);
        let (foreign, _) = sealer(vec![key(3)]);
        let by_old = old.seal(&ClientTxn::new()).unwrap();
        let by_new = rotated.seal(&ClientTxn::new()).unwrap();
        assert!(rotated.open::<ClientTxn>(&by_old).is_ok());
        assert_eq!(old.open::<ClientTxn>(&by_new), Err(SealError::Invalid));
        assert_eq!(foreign.open::<ClientTxn>(&by_old), Err(SealError::Invalid));
    }

    #[test]
    fn garbage_and_oversized_input_is_malformed_not_a_panic() {
        let (s, _) = sealer(vec![key(1)]);
        for junk in ["", ".", "....", "a.b.c.d.e", "%%%", "eyJhbGciOiJub25lIn0.."] {
            assert!(s.open::<ClientTxn>(junk).is_err(), "{junk}");
        }
        let huge = "A".repeat(MAX_SEALED_BYTES + 1);
        assert_eq!(s.open::<ClientTxn>(&huge), Err(SealError::Malformed));
    }

    #[test]
    fn a_genuine_value_longer_than_8_kib_is_refused_unopened_and_one_at_it_opens() {
        let (s, _) = sealer(vec![key(1)]);
        // The sealed length grows by four characters for every three bytes of state: find the
        // longest value that seals within the bound and the shortest that seals past it.
        let sealed = |n: usize| {
            let value = Txn {
                client: "c1".into(),
                state: Some("s".repeat(n)),
            };
            s.seal(&value).expect("sealed")
        };
        let mut n = 5000;
        while sealed(n + 1).len() <= MAX_SEALED_BYTES {
            n += 1;
        }
        let (within, past) = (sealed(n), sealed(n + 1));
        assert!(within.len() <= MAX_SEALED_BYTES && past.len() > MAX_SEALED_BYTES);
        assert_eq!(
            s.open::<Txn>(&within).map(|t| t.state.map(|v| v.len())),
            Ok(Some(n))
        );
        assert_eq!(s.open::<Txn>(&past), Err(SealError::Malformed));
        // Within a wider bound, the same value opens: only its length refused it.
        let wide = s.open_within::<Txn>(&past, 2 * MAX_SEALED_BYTES);
        assert_eq!(wide.map(|(t, _)| t.state.map(|v| v.len())), Ok(Some(n + 1)));
    }

    #[test]
    fn short_or_non_base64_keys_are_configuration_errors() {
        assert!(ProxyKey::from_bytes(&[0; 31]).is_err());
        assert!(ProxyKey::from_base64url("not base64!").is_err());
        let text = URL_SAFE_NO_PAD.encode([7u8; 32]);
        assert!(ProxyKey::from_base64url(&text).is_ok());
        assert!(!format!("{:?}", key(7)).contains("enc"));
    }

    #[test]
    fn compressed_values_round_trip_and_shrink_with_the_per_thread_deflate() {
        let (s, _) = sealer(vec![key(1)]);
        let value = Zipped {
            text: "abc".repeat(2000),
        };
        let text = "abc".repeat(2000);
        let zipped = Deflate.compress(text.as_bytes()).unwrap();
        assert_eq!(Deflate.decompress(&zipped).unwrap(), text.as_bytes());
        let sealed = s.seal(&value).unwrap();
        assert!(sealed.len() < 1000, "{} bytes", sealed.len());
        assert_eq!(s.open::<Zipped>(&sealed).unwrap(), value);
        let text = "abc".repeat(2000);
        let zipped = Deflate.compress(text.as_bytes()).unwrap();
        assert_eq!(Deflate.decompress(&zipped).unwrap(), text.as_bytes());
        assert!(Deflate.decompress(b"\x01\x02").is_err());
        let random = josekit::util::random_bytes(20_000);
        let zipped = Deflate.compress(&random).unwrap();
        assert_eq!(Deflate.decompress(&zipped).unwrap(), random);
    }

    #[test]
    fn a_sealed_value_is_a_jwe_any_library_opens_with_the_derived_key() {
        let (s, _) = sealer(vec![key(1)]);
        for (sealed, zipped) in [
            (s.seal(&Txn::new()).unwrap(), false),
            (
                s.seal(&Zipped {
                    text: "abc".repeat(100),
                })
                .unwrap(),
                true,
            ),
        ] {
            let decrypter = josekit::jwe::Dir.decrypter_from_bytes(key(1).enc).unwrap();
            let (plaintext, header) =
                josekit::jwe::deserialize_compact(&sealed, &decrypter).unwrap();
            assert_eq!(header.key_id(), Some(key(1).kid.as_str()));
            assert_eq!(header.compression(), zipped.then_some("DEF"));
            if !zipped {
                assert_eq!(plaintext[0], Kind::Transaction as u8);
                assert_eq!(
                    serde_json::from_slice::<Txn>(&plaintext[2..]).unwrap(),
                    Txn::new()
                );
            }
        }
    }

    #[test]
    fn a_header_other_than_our_own_is_refused_before_decryption() {
        let (s, _) = sealer(vec![key(1)]);
        let sealed = s.seal(&Txn::new()).unwrap();
        let (_, rest) = sealed.split_once('.').unwrap();
        // The same header, spelled another way: a JWE library would accept it, we do not.
        let other = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"enc":"A256GCM","alg":"dir","kid":"{}"}}"#,
            key(1).kid
        ));
        assert_eq!(
            s.open::<Txn>(&format!("{other}.{rest}")),
            Err(SealError::Invalid)
        );
    }

    #[test]
    fn a_value_opens_after_a_tampered_one_was_refused_under_the_same_key() {
        let (s, _) = sealer(vec![key(1)]);
        let sealed = s.seal(&Txn::new()).unwrap();
        let (rest, tag) = sealed.rsplit_once('.').unwrap();
        let flipped = if tag.starts_with('A') { "B" } else { "A" };
        let tampered = format!("{rest}.{flipped}{}", &tag[1..]);
        for _ in 0..3 {
            assert_eq!(s.open::<Txn>(&tampered), Err(SealError::Invalid));
            assert_eq!(s.open::<Txn>(&sealed).unwrap(), Txn::new());
        }
    }

    #[test]
    fn generated_keys_differ() {
        let (a, _) = sealer(vec![ProxyKey::generate()]);
        let (b, _) = sealer(vec![ProxyKey::generate()]);
        let sealed = a.seal(&ClientTxn::new()).unwrap();
        assert_eq!(b.open::<ClientTxn>(&sealed), Err(SealError::Invalid));
    }

    #[test]
    fn opens_under_two_keys_interleave_on_one_thread() {
        // Each thread keeps an AES context per key: opening under one key must never reuse
        // the other's, however the opens alternate.
        let (a, _) = sealer(vec![key(1)]);
        let (b, _) = sealer(vec![key(2)]);
        let (both, _) = sealer(vec![key(1), key(2)]);
        let (by_a, by_b) = (a.seal(&Txn::new()).unwrap(), b.seal(&Txn::new()).unwrap());
        for _ in 0..3 {
            assert_eq!(a.open::<Txn>(&by_a).unwrap(), Txn::new());
            assert_eq!(b.open::<Txn>(&by_b).unwrap(), Txn::new());
            assert_eq!(both.open::<Txn>(&by_b).unwrap(), Txn::new());
            assert_eq!(both.open::<Txn>(&by_a).unwrap(), Txn::new());
            assert!(a.open::<Txn>(&by_b).is_err() && b.open::<Txn>(&by_a).is_err());
        }
    }
}

//! What the verify tests share: the HTTP double, the signing keys, the protected route, a
//! counting verifier double, and the time they all start at.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, OnceLock,
};

use actix_mcp_oauth::{verify::FnVerifier, Claims, TokenVerifier, VerifyError};
use futures::future::ready;

#[path = "../common/double.rs"]
mod double;
#[path = "../common/jose.rs"]
mod jose;
#[path = "../common/route.rs"]
mod route;
#[path = "../common/time.rs"]
mod time;

pub use double::{Double, Reply, ANY_PATH};
pub use jose::{b64, jwks, sign, sign_raw, signed, Key};
pub use route::call;
pub use time::T0;

/// The keys the tests sign with, each generated on first use and kept for the run.
pub fn rsa() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| Key::generate("RS256"))
}

/// A second RSA key, for signatures no key set here should accept.
pub fn other_rsa() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| Key::generate("RS256"))
}

pub fn ec() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| Key::generate("ES256"))
}

pub fn ec384() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| Key::generate("ES384"))
}

pub fn ed() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| Key::generate("EdDSA"))
}

/// Counts how often the verifiers it makes are asked; clones share the count.
#[derive(Clone, Default)]
pub struct Calls(Arc<AtomicUsize>);

impl Calls {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// A verifier that counts each call here and answers with `answer(token)`.
    pub fn verifier(&self, answer: fn(&str) -> Result<Claims, VerifyError>) -> impl TokenVerifier {
        let calls = Arc::clone(&self.0);
        FnVerifier::new(move |token: String| {
            calls.fetch_add(1, Ordering::SeqCst);
            ready(answer(&token))
        })
    }
}

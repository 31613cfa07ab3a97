//! What the provider tests share: the HTTP double that stands in for each provider's API, the
//! key the stand-ins publish, the protected route, the e2e suite's real provider, and the time
//! tokens are issued around.

use std::sync::OnceLock;

use serde_json::{json, Value};

#[path = "../common/double.rs"]
mod double;
#[path = "../common/jose.rs"]
mod jose;
#[path = "../common/node.rs"]
mod node;
#[path = "../common/route.rs"]
mod route;
#[path = "../common/time.rs"]
mod time;

pub use double::{Double, Reply, ANY_PATH};
pub use jose::{signed, Key};
pub use node::{missing, user_agent, OidcProvider};
pub use route::call;
pub use time::T0;

/// The key id the stand-ins publish [`shared_key`] under.
pub const KID: &str = "k1";

/// One ES256 key for the tests of the run (generation is cheap for EC, but one key keeps the
/// key sets stable).
pub fn shared_key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| Key::generate("ES256"))
}

/// A key set as the providers here publish theirs: each key under its `kid`, naming its `alg`.
pub fn key_set(keys: &[(&str, &Key)]) -> Value {
    let mut set = jose::jwks(keys);
    let published = set["keys"].as_array_mut().expect("a list of keys");
    for (jwk, (_, key)) in published.iter_mut().zip(keys) {
        jwk["alg"] = json!(key.alg());
    }
    set
}

//! The proxy's parsers as the fuzz targets call them (feature `fuzzing`); re-exported by
//! `crate::fuzzing`. Each entry point checks what must hold for any input and panics otherwise,
//! which is what the fuzzer reports.

use super::{
    documents::check_document,
    redirect::{redirect_uri_matches, validate_redirect_uri},
    routes::Params,
    seal::{SealError, Sealer, MAX_SEALED_BYTES},
    state::open_as_each,
};
use crate::{clock::ManualClock, ProxyKey};

/// The time every sealed value is opened at.
const NOW: u64 = 1_700_000_000;

/// Opens input as a sealed value of every kind.
pub struct SealedValues {
    sealer: Sealer,
}

impl Default for SealedValues {
    fn default() -> Self {
        Self::new()
    }
}

impl SealedValues {
    /// A sealer with a fixed key, its clock at a fixed time.
    pub fn new() -> Self {
        let key = ProxyKey::from_bytes(&[7; 32]).expect("32 bytes make a key");
        Self {
            sealer: Sealer::new(vec![key], ManualClock::at(NOW)).expect("one key"),
        }
    }

    /// `text` opened as every kind: refused with a reason, never a panic.
    pub fn open(&self, text: &str) {
        for result in open_as_each(&self.sealer, text) {
            if text.len() > MAX_SEALED_BYTES {
                assert_eq!(result, Err(SealError::Malformed), "oversized input opened");
            }
        }
    }

    /// `plaintext` sealed as it is with the right key, then opened as every kind: what the
    /// envelope and payload parsing make of any authenticated content.
    pub fn open_plaintext(&self, plaintext: &[u8]) {
        if let Ok(sealed) = self.sealer.seal_plaintext(plaintext) {
            let opened = open_as_each(&self.sealer, &sealed);
            // One envelope names one kind: at most one type opens it.
            let kinds = opened.iter().filter(|r| r.is_ok()).count();
            assert!(kinds <= 1, "one sealed value opened as {kinds} kinds");
        }
    }
}

/// The redirect-URI policy on `registered` and `requested`.
pub fn redirect_uris(registered: &str, requested: &str) {
    let valid = validate_redirect_uri(registered);
    if let Err(e) = &valid {
        // The reason never repeats the URI (it is attacker input headed for an error page).
        if registered.len() > 16 {
            assert!(!e.to_string().contains(registered), "{e}");
        }
    }
    let matches = redirect_uri_matches(registered, requested);
    if valid.is_ok() {
        assert!(
            redirect_uri_matches(registered, registered),
            "a valid URI matches itself"
        );
    }
    if matches && registered != requested {
        // Only the loopback port may differ, and only for a valid registered URI.
        assert!(valid.is_ok(), "an invalid registered URI matched another");
    }
}

/// The form and query parser of `/authorize`, `/token` and `/consent`.
pub fn params(raw: &[u8]) {
    let params = Params::parse(raw);
    let _ = params.check_repeated(&[]);
    let _ = params.check_repeated(&["client_id", "redirect_uri", "code", "state"]);
    for name in ["client_id", "redirect_uri", "code", "state", "grant_type"] {
        if let Some(value) = params.get(name) {
            assert!(!value.is_empty(), "an empty value counts as absent");
        }
    }
}

/// The client metadata-document parser on `body`, as fetched from a fixed https URL. A
/// document it accepts is a JSON object that names that URL, carries no secret, and whose
/// redirect URIs each pass the registration policy.
pub fn client_document(body: &[u8]) {
    const URL: &str = "https://app.example.com/oauth/client.json";
    let url = url::Url::parse(URL).expect("a valid URL");
    let Ok(doc) = check_document(&url, body, &super::ProxyLimits::default()) else {
        return;
    };
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) else {
        panic!("a document that is not a JSON object was accepted");
    };
    assert_eq!(map.get("client_id").and_then(|v| v.as_str()), Some(URL));
    assert!(
        !map.contains_key("client_secret"),
        "a document with a secret"
    );
    assert!(!doc.name.trim().is_empty(), "an empty client name");
    assert_eq!(doc.host, "app.example.com");
    assert!(!doc.redirect_uris.is_empty(), "no redirect URI");
    for uri in &doc.redirect_uris {
        assert!(
            validate_redirect_uri(uri).is_ok(),
            "a redirect URI the policy refuses was accepted"
        );
    }
}

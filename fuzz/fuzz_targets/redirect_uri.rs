//! The redirect-URI policy: a registered and a requested URI (split at the first NUL).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (registered, requested) = text.split_once('\0').unwrap_or((text, text));
    actix_mcp_oauth::fuzzing::redirect_uris(registered, requested);
});

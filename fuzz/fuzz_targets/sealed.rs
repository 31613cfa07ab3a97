//! Opening sealed values of every kind: any text (mode 0), and any plaintext sealed with the
//! right key (mode 1), so that the envelope and each kind's payload parsing are reached too.
#![no_main]

use actix_mcp_oauth::fuzzing::SealedValues;
use libfuzzer_sys::fuzz_target;

thread_local! {
    static SEALED: SealedValues = SealedValues::new();
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    SEALED.with(|s| {
        if mode % 2 == 0 {
            if let Ok(text) = std::str::from_utf8(rest) {
                s.open(text);
            }
        } else {
            s.open_plaintext(rest);
        }
    });
});

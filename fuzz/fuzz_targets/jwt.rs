//! The JWT decoder against a key set of fresh keys: random tokens (mode 0), tokens whose header
//! and payload are the input and whose signature is right (mode 1), JSON claims under a valid
//! header and signature (mode 2), and the input as the key set itself (mode 3).
#![no_main]

use actix_mcp_oauth::fuzzing::Jwt;
use libfuzzer_sys::fuzz_target;

thread_local! {
    static JWT: Jwt = Jwt::new();
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    JWT.with(|jwt| match mode % 4 {
        0 => {
            if let Ok(token) = std::str::from_utf8(rest) {
                assert!(!jwt.verify(token), "a token nobody signed was accepted");
            }
        }
        1 => {
            // header and payload split at the first NUL
            let split = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            let (header, payload) = rest.split_at(split);
            let payload = payload.get(1..).unwrap_or_default();
            jwt.verify(&jwt.signed(mode / 4, header, payload));
        }
        2 => {
            let header = jwt.header(mode / 4).to_string();
            jwt.verify(&jwt.signed(mode / 4, header.as_bytes(), rest));
        }
        _ => jwt.key_set(rest),
    });
});

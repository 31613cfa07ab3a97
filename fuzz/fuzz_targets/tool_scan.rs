//! Any `POST` body at a `RequireAuth` with per-tool scopes: the fast scan that finds the called
//! tool reads it exactly as the serde path does, or leaves it to that path.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    actix_mcp_oauth::fuzzing::tool_scan(data);
});

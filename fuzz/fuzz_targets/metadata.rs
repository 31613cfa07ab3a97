//! The provider metadata-document parser (RFC 8414 / OpenID Connect Discovery) on any body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    actix_mcp_oauth::fuzzing::metadata(data);
});

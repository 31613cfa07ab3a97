//! The client metadata-document parser (Client ID Metadata Documents) on any body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    actix_mcp_oauth::fuzzing::client_document(data);
});

//! Any `Authorization` header value at a `RequireAuth`-protected route: a 400 or 401 with a
//! challenge, never a 5xx or a panic.
#![no_main]

use actix_mcp_oauth::fuzzing::{Endpoints, HeaderValue, TestRequest};
use libfuzzer_sys::fuzz_target;

thread_local! {
    // Leaked: its actix system must not be torn down after the runtime's own thread locals
    // when the fuzzer exits.
    static ENDPOINTS: &'static Endpoints = Box::leak(Box::new(Endpoints::new()));
}

fuzz_target!(|data: &[u8]| {
    // Header values cannot hold CR, LF or NUL: the HTTP layer refuses those before us.
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    ENDPOINTS.with(|e| {
        let (status, _) = e.send(
            TestRequest::post()
                .uri("/mcp")
                .insert_header(("authorization", value)),
        );
        assert!(matches!(status.as_u16(), 400 | 401), "{status}");
    });
});

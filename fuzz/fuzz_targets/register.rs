//! `POST /register` with any body: 201 with a client id, or a 4xx with an RFC 7591 error.
#![no_main]

use actix_mcp_oauth::fuzzing::{Endpoints, TestRequest};
use libfuzzer_sys::fuzz_target;

thread_local! {
    // Leaked: its actix system must not be torn down after the runtime's own thread locals
    // when the fuzzer exits.
    static ENDPOINTS: &'static Endpoints = Box::leak(Box::new(Endpoints::new()));
}

fuzz_target!(|data: &[u8]| {
    ENDPOINTS.with(|e| {
        let (status, body) = e.send(
            TestRequest::post()
                .uri("/register")
                .insert_header(("content-type", "application/json"))
                .set_payload(data.to_vec()),
        );
        let doc: serde_json::Value = serde_json::from_slice(&body).expect("a JSON answer");
        match status.as_u16() {
            201 => assert!(doc["client_id"].is_string(), "{doc}"),
            400 | 413 => assert!(doc["error"].is_string(), "{doc}"),
            other => panic!("{other}: {doc}"),
        }
    });
});

//! The parameter parser alone, then the same bytes as the query of `GET /authorize` and as the
//! form body of `POST /authorize`, `/token`, `/consent` and `/revoke`: never a 5xx or a panic.
//! Placeholders in the input (`$C` a registered client id, `$R` a sealed consent request, `$X`
//! its CSRF token, `$U` the redirect URI, `$P`/`$V` a PKCE pair) are filled with valid values
//! and posts to `/consent` carry the CSRF cookie, so that inputs get past the client, request
//! and CSRF checks to those behind them.
#![no_main]

use actix_mcp_oauth::fuzzing::{params, Endpoints, TestRequest};
use libfuzzer_sys::fuzz_target;

thread_local! {
    // Leaked: its actix system must not be torn down after the runtime's own thread locals
    // when the fuzzer exits.
    static ENDPOINTS: &'static Endpoints = Box::leak(Box::new(Endpoints::new()));
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

fuzz_target!(|data: &[u8]| {
    params(data);
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    ENDPOINTS.with(|e| {
        let rest = e.fill(rest);
        let rest = rest.as_slice();
        let req = match which % 5 {
            0 => {
                // A query is whatever the URI parser accepts; anything else never reaches us.
                let Ok(query) = std::str::from_utf8(rest) else {
                    return;
                };
                let uri = format!("/authorize?{query}");
                if uri.parse::<actix_mcp_oauth::fuzzing::Uri>().is_err() {
                    return;
                }
                TestRequest::get().uri(&uri)
            }
            1 => TestRequest::post().uri("/authorize"),
            2 => TestRequest::post().uri("/token"),
            3 => TestRequest::post()
                .uri("/consent")
                .insert_header(e.consent_cookie()),
            _ => TestRequest::post().uri("/revoke"),
        };
        let req = if which % 5 == 0 {
            req
        } else {
            req.insert_header(FORM).set_payload(rest.to_vec())
        };
        e.send(req);
    });
});

//! The callback: its query (state, code, iss, error...) and the pending-login cookies
//! (decoded and decrypted) from the `Cookie` header. Any input must give a response,
//! never a panic, and never a 5xx but for the provider being unreachable (502).
#![no_main]

mod common;

use auth_core::adapter::Endpoint;
use auth_core::http::{HeaderValue, Request, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (query, cookies) = common::split(data);
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let Ok(mut request) = Request::get(format!("/auth/callback?{query}")).body(Vec::new()) else {
        return;
    };
    if let Ok(v) = HeaderValue::from_bytes(cookies) {
        request.headers_mut().insert(header::COOKIE, v);
    }
    let f = common::fixture();
    let r = f.rt.block_on(f.auth.respond(Endpoint::Callback, &request));
    assert!(
        !r.status().is_server_error() || r.status() == 502,
        "callback answered {}",
        r.status()
    );
});

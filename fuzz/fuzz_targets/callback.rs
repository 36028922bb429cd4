//! The callback: its query (state, code, iss, error...) and the pending-login cookies
//! (decoded and decrypted) from the `Cookie` header. Any input must give a response,
//! never a panic, and never a 5xx but for the provider being unreachable (502).
#![no_main]

mod common;

use auth_core::http::{HeaderMap, HeaderValue, Uri, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (query, cookies) = common::split(data);
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let Ok(uri) = format!("/auth/callback?{query}").parse::<Uri>() else {
        return;
    };
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(cookies) {
        headers.insert(header::COOKIE, v);
    }
    let f = common::fixture();
    let r = f.rt.block_on(f.auth.callback_response(&uri, &headers));
    assert!(
        !r.status().is_server_error() || r.status() == 502,
        "callback answered {}",
        r.status()
    );
});

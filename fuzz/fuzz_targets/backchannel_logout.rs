//! `POST /auth/backchannel-logout`: the form body and the logout token in it. Without
//! the provider's keys nothing is accepted; the answer is 400 or 503, never a panic.
#![no_main]

mod common;

use auth_core::adapter::Endpoint;
use auth_core::http::{Request, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = common::fixture();
    let request = Request::post("/auth/backchannel-logout")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(data)
        .expect("request");
    let r = f.rt.block_on(f.auth.respond(Endpoint::BackchannelLogout, &request));
    assert!(
        r.status() == 400 || r.status() == 503,
        "back-channel answered {}",
        r.status()
    );
});

//! `POST /auth/backchannel-logout`: the form body and the logout token in it. Without
//! the provider's keys nothing is accepted; the answer is 400 or 503, never a panic.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = common::fixture();
    let r = f.rt.block_on(f.auth.backchannel_response(data));
    assert!(
        r.status() == 400 || r.status() == 503,
        "back-channel answered {}",
        r.status()
    );
});

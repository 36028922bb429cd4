//! The session cookie, from any `Cookie` header: an id is read or not, and an unknown
//! id is anonymous.
#![no_main]

mod common;

use auth_core::Authenticated;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = common::fixture();
    let id = f.auth.session_id(data.split(|&b| b == b'\n'));
    match f.rt.block_on(f.auth.authenticate(id.as_ref())) {
        Authenticated::Anonymous => {}
        other => panic!("an unknown session is {other:?}"),
    }
});

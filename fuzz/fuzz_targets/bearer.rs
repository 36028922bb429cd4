//! `Authorization: Bearer ...` and the JWT in it, up to its key (the JWKS is out of
//! reach): never accepted, never a panic.
#![no_main]

mod common;

use auth_core::{Auth, BearerError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = common::fixture();
    let (a, b) = common::split(data);
    let headers: Vec<&[u8]> = if b.is_empty() { vec![a] } else { vec![a, b] };
    let token = match Auth::bearer_token(headers.into_iter()) {
        Ok(Some(t)) => t.to_owned(),
        Ok(None) | Err(BearerError::Malformed) => match std::str::from_utf8(data) {
            Ok(s) => s.to_owned(),
            Err(_) => return,
        },
        Err(e) => panic!("unexpected {e:?}"),
    };
    let result = f.rt.block_on(f.auth.authenticate_bearer(&token));
    assert!(result.is_err(), "a token was accepted without keys");
    let _ = result.map_err(|e| e.to_response());
});

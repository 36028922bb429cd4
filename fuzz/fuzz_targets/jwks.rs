//! A JWK set as the provider's `jwks_uri` would answer it: parsed by the same code as
//! the JWKS cache, never a panic; a set without a `keys` array is an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = auth_core::__fuzz::parse_jwks(data) {
        assert!(n <= 100, "at most 100 keys are kept");
    }
});

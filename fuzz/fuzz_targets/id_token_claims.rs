//! The claim rules of ID tokens, with real signatures: the input is the claims JSON,
//! signed with an Ed25519 key the provider's JWKS (served on loopback) publishes. A
//! token that is accepted must satisfy every rule: `iss`, `aud` (and `azp` when there
//! are several audiences), `exp` and `iat` within the leeway, `sub`, `nonce`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let f = common::signed_fixture();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let token = f.sign(text);
    let result = f.rt.block_on(f.auth.validate_id_token(&token, common::NONCE));
    let Ok(claims) = result else {
        return;
    };
    // Accepted: every rule must hold on what was signed.
    let c: Value = serde_json::from_str(text).expect("accepted claims are JSON");
    let now = common::now();
    assert_eq!(c["iss"], common::ISSUER, "iss");
    match &c["aud"] {
        Value::String(a) => assert_eq!(a, common::CLIENT, "aud"),
        Value::Array(list) => {
            assert!(list.iter().any(|a| a == common::CLIENT), "aud");
            if list.len() > 1 {
                assert_eq!(c["azp"], common::CLIENT, "azp with several audiences");
            }
        }
        other => panic!("aud {other:?} accepted"),
    }
    if let Some(azp) = c.get("azp") {
        assert_eq!(azp, common::CLIENT, "azp");
    }
    let exp = c["exp"].as_f64().expect("exp is a number");
    assert!(exp > (now - 60) as f64, "exp in the past accepted");
    let iat = c["iat"].as_f64().expect("iat is a number");
    assert!(iat <= (now + 60) as f64, "iat in the future accepted");
    if let Some(nbf) = c.get("nbf") {
        assert!(nbf.as_f64().expect("nbf is a number") <= (now + 60) as f64, "nbf");
    }
    assert_eq!(c["nonce"], common::NONCE, "nonce");
    let sub = c["sub"].as_str().expect("sub is a string");
    assert!(!sub.is_empty(), "empty sub");
    assert_eq!(claims.sub(), sub);
});

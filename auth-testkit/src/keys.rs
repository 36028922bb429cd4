//! The provider's signing key: RSA 2048, made fresh at every start (aws-lc-rs), and
//! the JWTs it signs (RS256).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use crate::random_token;

/// An RS256 signing key with its `kid`.
pub(crate) struct SigningKey {
    kid: String,
    pair: RsaKeyPair,
    n: Vec<u8>,
    e: Vec<u8>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub(crate) fn generate() -> Self {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA 2048 key generation");
        let public = pair.public_key();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        Self {
            kid: random_token(8),
            pair,
            n,
            e,
            rng: SystemRandom::new(),
        }
    }

    /// The public key as a JWK.
    pub(crate) fn jwk(&self) -> Value {
        json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "n": B64.encode(&self.n), "e": B64.encode(&self.e),
        })
    }

    /// Signs `claims` as a compact JWS with header `typ`.
    pub(crate) fn sign(&self, typ: &str, claims: &Value) -> String {
        let header = json!({ "alg": "RS256", "typ": typ, "kid": self.kid });
        let mut out = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &self.rng,
                out.as_bytes(),
                &mut sig,
            )
            .expect("RSA signature");
        out.push('.');
        out.push_str(&B64.encode(sig));
        out
    }

    /// The claims of a JWT this key signed (any `typ`), or `None` when the token is
    /// malformed or its signature is not this key's. Expiry is not checked.
    pub(crate) fn verify(&self, token: &str) -> Option<Value> {
        let (message, sig) = token.rsplit_once('.')?;
        let (header, payload) = message.split_once('.')?;
        let header: Value = serde_json::from_slice(&B64.decode(header).ok()?).ok()?;
        if header.get("alg")?.as_str()? != "RS256" {
            return None;
        }
        let sig = B64.decode(sig).ok()?;
        RsaPublicKeyComponents {
            n: &self.n,
            e: &self.e,
        }
        .verify(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            message.as_bytes(),
            &sig,
        )
        .ok()?;
        serde_json::from_slice(&B64.decode(payload).ok()?).ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn signed_tokens_verify_and_tampered_ones_do_not() {
        let key = SigningKey::generate();
        let token = key.sign("JWT", &json!({ "sub": "alice" }));
        assert_eq!(key.verify(&token).unwrap()["sub"], "alice");
        let mut parts: Vec<&str> = token.split('.').collect();
        let other = B64.encode(json!({ "sub": "mallory" }).to_string());
        parts[1] = &other;
        assert!(key.verify(&parts.join(".")).is_none());
        assert!(SigningKey::generate().verify(&token).is_none());
    }
}

//! DPoP (RFC 9449), the client side: a P-256 key per session, kept sealed with the
//! session, and the proofs that bind the session's tokens to it: on the code exchange,
//! on every refresh, and on the app's calls to APIs with the user's access token.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::json;
use sha2::{Digest, Sha256};

/// A session's DPoP key. Its `Debug` shows only the thumbprint; it is serialized (as
/// PKCS#8, base64url) only into the session record, which external stores seal.
#[derive(Clone)]
pub struct DpopKey(Arc<Inner>);

struct Inner {
    pkcs8: Vec<u8>,
    key: EncodingKey,
    jwk: Jwk,
    jkt: String,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey")
            .field("jkt", &self.0.jkt)
            .finish_non_exhaustive()
    }
}

/// Why a stored DPoP key could not be read.
#[derive(Debug)]
pub(crate) struct BadKey;

impl DpopKey {
    /// A new P-256 key from the system's CSPRNG.
    pub(crate) fn generate() -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        // Generating a P-256 key fails only without system randomness, where nothing
        // of this crate could work.
        .expect("system randomness for a DPoP key");
        Self::from_pkcs8(pkcs8.as_ref().to_vec()).expect("a key just generated")
    }

    fn from_pkcs8(pkcs8: Vec<u8>) -> Result<Self, BadKey> {
        let key = EncodingKey::from_ec_der(&pkcs8);
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).map_err(|_| BadKey)?;
        jwk.common.key_algorithm = None;
        let jkt = jwk.thumbprint(ThumbprintHash::SHA256).map_err(|_| BadKey)?;
        Ok(Self(Arc::new(Inner {
            pkcs8,
            key,
            jwk,
            jkt,
        })))
    }

    /// The key's RFC 7638 thumbprint (`cnf.jkt` of the tokens bound to it).
    pub fn thumbprint(&self) -> &str {
        &self.0.jkt
    }

    /// A proof for a request: `typ: dpop+jwt`, the public key in the header, `htm`,
    /// `htu` (the URL without query and fragment), `iat`, a fresh `jti`, and the
    /// server's `nonce` and the access token's hash (`ath`) when given.
    pub(crate) fn proof(
        &self,
        method: &str,
        url: &str,
        nonce: Option<&str>,
        access_token: Option<&str>,
        now: i64,
    ) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(self.0.jwk.clone());
        let htu = url.split(['?', '#']).next().unwrap_or(url);
        let mut claims = json!({
            "jti": oauth2::CsrfToken::new_random().secret(),
            "htm": method,
            "htu": htu,
            "iat": now,
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        if let Some(token) = access_token {
            claims["ath"] = json!(B64.encode(Sha256::digest(token.as_bytes())));
        }
        // The key was checked when it was made or read; a signing failure would give
        // an empty proof, which the server refuses.
        jsonwebtoken::encode(&header, &claims, &self.0.key).unwrap_or_default()
    }
}

/// A JWT access token bound to a key (`cnf.jkt`) must be bound to `key` (RFC 9449 §6);
/// one without `cnf` is left to the provider, which issued it as `token_type: DPoP`.
pub(crate) fn check_binding(
    claims: Option<&serde_json::Map<String, serde_json::Value>>,
    key: Option<&DpopKey>,
) -> Result<(), crate::TokenError> {
    let (Some(claims), Some(key)) = (claims, key) else {
        return Ok(());
    };
    match claims.get("cnf").map(|cnf| cnf.get("jkt")) {
        None => Ok(()),
        Some(Some(serde_json::Value::String(jkt))) if jkt == key.thumbprint() => Ok(()),
        Some(_) => Err(crate::TokenError::KeyBindingMismatch),
    }
}

impl Serialize for DpopKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(&self.0.pkcs8))
    }
}

impl<'de> Deserialize<'de> for DpopKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let der = B64
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)?;
        Self::from_pkcs8(der).map_err(|_| serde::de::Error::custom("not a P-256 DPoP key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_names_the_request_and_carries_the_public_key_only() {
        let key = DpopKey::generate();
        let proof = key.proof(
            "POST",
            "https://id.example.com/token?x=1#f",
            Some("n-1"),
            Some("at"),
            1_800_000_000,
        );
        let header = jsonwebtoken::decode_header(&proof).expect("header");
        assert_eq!(header.typ.as_deref(), Some("dpop+jwt"));
        let jwk = header.jwk.expect("jwk");
        assert_eq!(
            jwk.thumbprint(ThumbprintHash::SHA256).expect("jkt"),
            key.thumbprint()
        );
        assert!(!serde_json::to_string(&jwk).expect("json").contains("\"d\""));
        let claims = crate::token::unverified_claims(&proof).expect("claims");
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], "https://id.example.com/token");
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(
            claims["ath"],
            B64.encode(Sha256::digest(b"at")),
            "the access token's hash"
        );
        assert_ne!(
            proof,
            key.proof(
                "POST",
                "https://id.example.com/token",
                Some("n-1"),
                Some("at"),
                1_800_000_000
            ),
            "a fresh jti"
        );
    }

    #[test]
    fn the_key_survives_the_session_record_and_never_prints() {
        let key = DpopKey::generate();
        let text = serde_json::to_string(&key).expect("json");
        let back: DpopKey = serde_json::from_str(&text).expect("key");
        assert_eq!(back.thumbprint(), key.thumbprint());
        assert!(!format!("{key:?}").contains(&text[1..20]));
        assert!(serde_json::from_str::<DpopKey>("\"AAAA\"").is_err());
    }
}

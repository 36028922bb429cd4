//! Protection of session records in an external store (Redis, SQL...): the record is
//! encrypted and authenticated (AES-256-GCM), and stored under a keyed hash of the
//! session id, so that whoever can read the store sees neither tokens, claims nor the
//! session ids that browsers present. Keys come from `SESSION_ENCRYPTION_KEY`, or are
//! derived from `APP_SECRET` (HKDF-SHA256).

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tower_sessions_core::session::Id;

/// What every ciphertext is bound to, with the key it is stored under: a record
/// copied under another key, or of another kind or version, never opens.
const AAD_PREFIX: &[u8] = b"auth-rs sealed v1|";
/// The longest sealed record opened (a session is a few KiB).
const MAX_SEALED: usize = 256 * 1024;

/// Seals and opens session records; maps session ids to store keys.
pub(crate) struct Sealer {
    cipher: Aes256Gcm,
    id_key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// Derives the encryption key and the id key from `secret` (>= 32 bytes).
    pub(crate) fn derive(secret: &[u8]) -> Self {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"auth-rs"), secret);
        let mut enc = [0u8; 32];
        let mut id_key = [0u8; 32];
        // 32-byte outputs are far below HKDF-SHA256's limit: these cannot fail.
        let _ = hk.expand(b"session record encryption v1", &mut enc);
        let _ = hk.expand(b"session id mapping v1", &mut id_key);
        Self {
            cipher: Aes256Gcm::new(&enc.into()),
            id_key,
        }
    }

    /// The store key of the session id a browser presents: HMAC-SHA256, truncated to
    /// 128 bits.
    pub(crate) fn store_id(&self, id: &Id) -> Id {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.id_key).expect("HMAC takes any key size");
        mac.update(id.to_string().as_bytes());
        let out = mac.finalize().into_bytes();
        let mut first = [0u8; 16];
        first.copy_from_slice(&out[..16]);
        Id(i128::from_le_bytes(first))
    }

    /// `base64url(nonce || ciphertext)`, bound to `context` (the store key).
    pub(crate) fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<String, String> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = [AAD_PREFIX, context].concat();
        let ct = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| "encryption failed".to_string())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// The plaintext of a sealed record; `None` if it was altered, sealed with another
    /// key, or is not a sealed record.
    pub(crate) fn open(&self, sealed: &str, context: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() > MAX_SEALED {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if raw.len() < 12 + 16 {
            return None;
        }
        let (nonce, ct) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: &[AAD_PREFIX, context].concat(),
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_tampering_and_other_keys() {
        let s = Sealer::derive(&[7u8; 32]);
        let sealed = s.seal(b"tokens", b"key-1").unwrap();
        assert!(!sealed.contains("tokens"));
        assert_eq!(s.open(&sealed, b"key-1").unwrap(), b"tokens");
        let mut raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        raw[20] ^= 1;
        assert!(s.open(&URL_SAFE_NO_PAD.encode(raw), b"key-1").is_none());
        assert!(Sealer::derive(&[8u8; 32]).open(&sealed, b"key-1").is_none());
        assert!(s.open("not sealed", b"key-1").is_none());
        assert!(s.open(&"A".repeat(MAX_SEALED + 1), b"key-1").is_none());
    }

    #[test]
    fn a_record_copied_under_another_key_does_not_open() {
        let s = Sealer::derive(&[7u8; 32]);
        let sealed = s.seal(b"victim's session", b"victim-key").unwrap();
        assert!(s.open(&sealed, b"attacker-key").is_none());
    }

    #[test]
    fn store_ids_are_keyed_and_stable() {
        let s = Sealer::derive(&[7u8; 32]);
        let id = Id::default();
        assert_eq!(s.store_id(&id), s.store_id(&id));
        assert_ne!(s.store_id(&id), id);
        assert_ne!(Sealer::derive(&[8u8; 32]).store_id(&id), s.store_id(&id));
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(
            format!("{:?}", Sealer::derive(&[7u8; 32])),
            "Sealer([redacted])"
        );
    }
}

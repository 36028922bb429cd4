//! Protection of session records in an external store (Redis, SQL...): the record is
//! encrypted and authenticated (AES-256-GCM), and stored under a keyed hash of the
//! session id, so that whoever can read the store sees neither tokens, claims nor the
//! session ids that browsers present. Keys come from `SESSION_ENCRYPTION_KEY`, or are
//! derived from `APP_SECRET` (HKDF-SHA256). Either may list several keys (rotation):
//! the first seals and names store keys, every one opens, and
//! [`Sealer::older_store_ids`] gives the store keys of an id under the others, newest
//! first.

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
    /// Never empty: the first seals.
    keys: Vec<SealKey>,
}

/// What one secret gives: the record cipher and the id key (as HMAC-SHA256 keyed with
/// it: its padded key blocks hashed once, not per id).
struct SealKey {
    cipher: Aes256Gcm,
    id_mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// Derives the encryption key and the id key from `secret` (>= 32 bytes).
    #[cfg(test)]
    pub(crate) fn derive(secret: &[u8]) -> Self {
        Self::derive_all([secret]).expect("one secret")
    }

    /// A sealer of several secrets, the first sealing (`None` without any).
    pub(crate) fn derive_all<'a>(secrets: impl IntoIterator<Item = &'a [u8]>) -> Option<Self> {
        let keys: Vec<SealKey> = secrets
            .into_iter()
            .map(|secret| {
                let hk = hkdf::Hkdf::<Sha256>::new(Some(b"auth-rs"), secret);
                let mut enc = [0u8; 32];
                let mut id_key = [0u8; 32];
                // 32-byte outputs are far below HKDF-SHA256's limit: these cannot fail.
                let _ = hk.expand(b"session record encryption v1", &mut enc);
                let _ = hk.expand(b"session id mapping v1", &mut id_key);
                SealKey {
                    cipher: Aes256Gcm::new(&enc.into()),
                    id_mac: <Hmac<Sha256> as Mac>::new_from_slice(&id_key)
                        .expect("HMAC takes any key size"),
                }
            })
            .collect();
        (!keys.is_empty()).then_some(Self { keys })
    }

    /// The store key of the session id a browser presents, under the first key:
    /// HMAC-SHA256, truncated to 128 bits.
    pub(crate) fn store_id(&self, id: &Id) -> Id {
        self.keys[0].store_id(id)
    }

    /// The store keys of `id` under the older keys, newest first (none with one key).
    pub(crate) fn older_store_ids(&self, id: &Id) -> impl Iterator<Item = Id> + '_ {
        let id = *id;
        self.keys[1..].iter().map(move |k| k.store_id(&id))
    }

    /// `base64url(nonce || ciphertext)`, bound to `context` (the store key), under the
    /// first key.
    pub(crate) fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<String, String> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = [AAD_PREFIX, context].concat();
        let ct = self.keys[0]
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

    /// The plaintext of a sealed record, under whichever key sealed it; `None` if it
    /// was altered, sealed with a key not in the list, or is not a sealed record.
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
        let aad = [AAD_PREFIX, context].concat();
        self.keys.iter().find_map(|k| {
            k.cipher
                .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad: &aad })
                .ok()
        })
    }
}

impl SealKey {
    /// HMAC-SHA256 of the id as the cookie carries it (`Id`'s 22 characters).
    fn store_id(&self, id: &Id) -> Id {
        let mut text = [0u8; 22];
        let written = URL_SAFE_NO_PAD.encode_slice(id.0.to_le_bytes(), &mut text);
        debug_assert_eq!(written.ok(), Some(22));
        let mut mac = self.id_mac.clone();
        mac.update(&text);
        let out = mac.finalize().into_bytes();
        let mut first = [0u8; 16];
        first.copy_from_slice(&out[..16]);
        Id(i128::from_le_bytes(first))
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

    /// A rotated list (`k2,k1`): new records are sealed under k2, and records sealed
    /// under k1 still open; store keys are k2's first, then k1's. A list without the
    /// sealing key opens nothing.
    #[test]
    fn a_rotated_key_list_seals_with_the_first_and_opens_with_every_key() {
        let (k1, k2, k3) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let old = Sealer::derive(&k1);
        let rotated = Sealer::derive_all([&k2[..], &k1[..]]).unwrap();
        let before = old.seal(b"tokens", b"ctx").unwrap();
        assert_eq!(rotated.open(&before, b"ctx").unwrap(), b"tokens");
        let after = rotated.seal(b"tokens", b"ctx").unwrap();
        assert!(old.open(&after, b"ctx").is_none(), "sealed under k2");
        assert_eq!(Sealer::derive(&k2).open(&after, b"ctx").unwrap(), b"tokens");
        assert!(Sealer::derive(&k3).open(&before, b"ctx").is_none());
        let id = Id::default();
        assert_eq!(rotated.store_id(&id), Sealer::derive(&k2).store_id(&id));
        assert_eq!(
            rotated.older_store_ids(&id).collect::<Vec<_>>(),
            [old.store_id(&id)]
        );
        assert_eq!(old.older_store_ids(&id).count(), 0);
        assert!(Sealer::derive_all([]).is_none());
    }

    #[test]
    fn a_record_copied_under_another_key_does_not_open() {
        let s = Sealer::derive(&[7u8; 32]);
        let sealed = s.seal(b"victim's session", b"victim-key").unwrap();
        assert!(s.open(&sealed, b"attacker-key").is_none());
    }

    /// The store key is HMAC-SHA256 (under the derived id key) of the id's text, as
    /// it was computed before the keyed state was kept: every stored session stays
    /// found.
    #[test]
    fn store_ids_are_the_hmac_of_the_id_as_the_cookie_carries_it() {
        let secret = [7u8; 32];
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"auth-rs"), &secret);
        let mut id_key = [0u8; 32];
        hk.expand(b"session id mapping v1", &mut id_key)
            .expect("32 bytes");
        for _ in 0..50 {
            let id = Id::default();
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&id_key).expect("any size");
            mac.update(id.to_string().as_bytes());
            let out = mac.finalize().into_bytes();
            let expected = Id(i128::from_le_bytes(out[..16].try_into().expect("16")));
            assert_eq!(Sealer::derive(&secret).store_id(&id), expected);
        }
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

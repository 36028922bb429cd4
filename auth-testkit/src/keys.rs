//! The provider's signing keys, made fresh at every start with aws-lc-rs: an RSA 2048
//! key (published for RS256, and under a second `kid` for PS256), a P-256 key (ES256)
//! and an Ed25519 key (EdDSA); and the JWTs it signs, including the deliberately bad
//! ones of [`Signing`].
//!
//! An RSA 2048 key costs about 0.1 s of CPU to make, and a test suite starts hundreds
//! of providers, so the RSA key pairs of providers that have stopped are used again by
//! the next ones in the same process ([`rsa_pair`]), each time under a new `kid`. A pair
//! is never held by two live providers: a provider keeps every key it ever published
//! (rotated-out ones too) until it is dropped.

use std::sync::{Arc, Mutex, OnceLock};

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents,
};
use aws_lc_rs::{hmac, signature::ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64_STD, URL_SAFE_NO_PAD as B64};
use serde_json::{Value, json};

use crate::random_token;

/// A JWS algorithm the provider signs with and publishes a key for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (the default).
    #[default]
    RS256,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl Alg {
    fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::PS256 => "PS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }
}

/// How a JWT is signed. Every variant but [`Signing::Key`] makes a token a relying
/// party must refuse; they exist to test that it does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signing {
    /// Signed with the published key of this algorithm.
    Key(Alg),
    /// `alg: none` and an empty signature.
    None,
    /// HS256 with this secret.
    Hs256(Vec<u8>),
    /// HS256 keyed with the published RSA public key (its PEM text), the key-confusion
    /// attack on libraries that let the token pick the algorithm.
    Hs256WithRsaPublicKey,
    /// A valid RS256 signature by a key that is not published, under the `kid` of the
    /// published RSA key.
    UnpublishedKey,
    /// Signed with the published RSA key but naming a `kid` that is not in the JWKS.
    UnknownKid,
    /// Signed with the published key of this algorithm, then one signature byte
    /// changed.
    CorruptSignature(Alg),
}

impl Default for Signing {
    fn default() -> Self {
        Signing::Key(Alg::RS256)
    }
}

/// RSA key pairs made in this process, at most [`MAX_RSA_PAIRS`]. A pair whose only
/// holder is this list belongs to a provider that has stopped, and is free.
static RSA_PAIRS: Mutex<Vec<Arc<RsaKeyPair>>> = Mutex::new(Vec::new());

/// More providers than this alive at once make keys that are not kept for reuse.
const MAX_RSA_PAIRS: usize = 64;

/// An RSA 2048 key pair that no live provider holds: a stopped provider's, else a new
/// one.
fn rsa_pair() -> Arc<RsaKeyPair> {
    let mut pairs = RSA_PAIRS.lock().unwrap_or_else(|e| e.into_inner());
    // Only this list holds it, and clones are made under its lock: nobody else can
    // take it between the check and the clone.
    if let Some(free) = pairs.iter().find(|p| Arc::strong_count(p) == 1) {
        return Arc::clone(free);
    }
    let pair = Arc::new(RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA 2048 key generation"));
    if pairs.len() < MAX_RSA_PAIRS {
        pairs.push(Arc::clone(&pair));
    }
    pair
}

struct Rsa {
    kid: String,
    pair: Arc<RsaKeyPair>,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl Rsa {
    fn generate() -> Rsa {
        let pair = rsa_pair();
        let public = pair.public_key();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        Rsa {
            kid: random_token(8),
            pair,
            n,
            e,
        }
    }
}

/// Every key of one generation (see [`KeySet::rotate`]).
pub(crate) struct KeySet {
    rsa: Rsa,
    ec: EcdsaKeyPair,
    ec_kid: String,
    ed: Ed25519KeyPair,
    ed_kid: String,
    /// Made on first use ([`Signing::UnpublishedKey`]).
    unpublished: OnceLock<Rsa>,
    rng: SystemRandom,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("rsa_kid", &self.rsa.kid)
            .finish_non_exhaustive()
    }
}

impl KeySet {
    pub(crate) fn generate() -> Self {
        Self {
            rsa: Rsa::generate(),
            ec: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key"),
            ec_kid: random_token(8),
            ed: Ed25519KeyPair::generate().expect("Ed25519 key"),
            ed_kid: random_token(8),
            unpublished: OnceLock::new(),
            rng: SystemRandom::new(),
        }
    }

    fn pss_kid(&self) -> String {
        format!("{}-pss", self.rsa.kid)
    }

    /// The public keys, as a JWK set.
    pub(crate) fn jwks(&self) -> Value {
        let ec = self.ec.public_key().as_ref();
        // Uncompressed point: 0x04 || x || y.
        let (x, y) = ec[1..].split_at(32);
        json!({ "keys": [
            { "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.rsa.kid,
              "n": B64.encode(&self.rsa.n), "e": B64.encode(&self.rsa.e) },
            { "kty": "RSA", "use": "sig", "alg": "PS256", "kid": self.pss_kid(),
              "n": B64.encode(&self.rsa.n), "e": B64.encode(&self.rsa.e) },
            { "kty": "EC", "use": "sig", "alg": "ES256", "kid": self.ec_kid, "crv": "P-256",
              "x": B64.encode(x), "y": B64.encode(y) },
            { "kty": "OKP", "use": "sig", "alg": "EdDSA", "kid": self.ed_kid, "crv": "Ed25519",
              "x": B64.encode(self.ed.public_key().as_ref()) },
        ]})
    }

    /// The published RSA public key in PEM (SubjectPublicKeyInfo).
    fn rsa_public_pem(&self) -> String {
        let der = self.rsa.pair.public_key().as_der().expect("public key DER");
        let b64 = B64_STD.encode(der.as_ref());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    fn sign_with(&self, alg: Alg, message: &[u8]) -> Vec<u8> {
        match alg {
            Alg::RS256 | Alg::PS256 => {
                let encoding = if alg == Alg::RS256 {
                    &signature::RSA_PKCS1_SHA256
                } else {
                    &signature::RSA_PSS_SHA256
                };
                let mut sig = vec![0; self.rsa.pair.public_modulus_len()];
                self.rsa
                    .pair
                    .sign(encoding, &self.rng, message, &mut sig)
                    .expect("RSA signature");
                sig
            }
            Alg::ES256 => self
                .ec
                .sign(&self.rng, message)
                .expect("ECDSA signature")
                .as_ref()
                .to_vec(),
            Alg::EdDSA => self.ed.sign(message).as_ref().to_vec(),
        }
    }

    fn kid(&self, alg: Alg) -> String {
        match alg {
            Alg::RS256 => self.rsa.kid.clone(),
            Alg::PS256 => self.pss_kid(),
            Alg::ES256 => self.ec_kid.clone(),
            Alg::EdDSA => self.ed_kid.clone(),
        }
    }

    /// Signs `claims` as a compact JWS with header `typ`, as `signing` says.
    pub(crate) fn sign(&self, signing: &Signing, typ: &str, claims: &Value) -> String {
        let (alg, kid) = match signing {
            Signing::Key(a) | Signing::CorruptSignature(a) => (a.name(), Some(self.kid(*a))),
            Signing::None => ("none", None),
            Signing::Hs256(_) | Signing::Hs256WithRsaPublicKey => {
                ("HS256", Some(self.rsa.kid.clone()))
            }
            Signing::UnpublishedKey => ("RS256", Some(self.rsa.kid.clone())),
            Signing::UnknownKid => ("RS256", Some(format!("unknown-{}", random_token(6)))),
        };
        let mut header = json!({ "alg": alg, "typ": typ });
        if let Some(kid) = kid {
            header["kid"] = kid.into();
        }
        let message = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let sig = match signing {
            Signing::Key(a) => self.sign_with(*a, message.as_bytes()),
            Signing::CorruptSignature(a) => {
                let mut sig = self.sign_with(*a, message.as_bytes());
                let middle = sig.len() / 2;
                sig[middle] ^= 0x01;
                sig
            }
            Signing::None => Vec::new(),
            Signing::Hs256(secret) => hmac_sha256(secret, message.as_bytes()),
            Signing::Hs256WithRsaPublicKey => {
                hmac_sha256(self.rsa_public_pem().as_bytes(), message.as_bytes())
            }
            Signing::UnpublishedKey => {
                let other = self.unpublished.get_or_init(Rsa::generate);
                let mut sig = vec![0; other.pair.public_modulus_len()];
                other
                    .pair
                    .sign(
                        &signature::RSA_PKCS1_SHA256,
                        &self.rng,
                        message.as_bytes(),
                        &mut sig,
                    )
                    .expect("RSA signature");
                sig
            }
            Signing::UnknownKid => self.sign_with(Alg::RS256, message.as_bytes()),
        };
        format!("{message}.{}", B64.encode(sig))
    }

    /// The claims of an RS256 JWT of type `typ` signed by the published RSA key, or
    /// `None` when the token is malformed, of another type or not signed by it. Expiry
    /// is not checked.
    pub(crate) fn verify(&self, token: &str, typ: &str) -> Option<Value> {
        let (message, sig) = token.rsplit_once('.')?;
        let (header, payload) = message.split_once('.')?;
        let header: Value = serde_json::from_slice(&B64.decode(header).ok()?).ok()?;
        if header.get("typ")?.as_str()? != typ {
            return None;
        }
        let params = match header.get("alg")?.as_str()? {
            "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
            "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
            _ => return None,
        };
        let sig = B64.decode(sig).ok()?;
        RsaPublicKeyComponents {
            n: &self.rsa.n,
            e: &self.rsa.e,
        }
        .verify(params, message.as_bytes(), &sig)
        .ok()?;
        serde_json::from_slice(&B64.decode(payload).ok()?).ok()
    }
}

fn hmac_sha256(secret: &[u8], message: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::sign(&key, message).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn signed_tokens_verify_and_tampered_ones_do_not() {
        let keys = KeySet::generate();
        let token = keys.sign(&Signing::default(), "JWT", &json!({ "sub": "alice" }));
        assert_eq!(keys.verify(&token, "JWT").unwrap()["sub"], "alice");
        assert!(
            keys.verify(&token, "at+jwt").is_none(),
            "an ID token is no access token"
        );
        let mut parts: Vec<&str> = token.split('.').collect();
        let other = B64.encode(json!({ "sub": "mallory" }).to_string());
        parts[1] = &other;
        assert!(keys.verify(&parts.join("."), "JWT").is_none());
        assert!(KeySet::generate().verify(&token, "JWT").is_none());
        let corrupt = keys.sign(
            &Signing::CorruptSignature(Alg::RS256),
            "JWT",
            &json!({ "sub": "alice" }),
        );
        assert!(keys.verify(&corrupt, "JWT").is_none());
        let pem = keys.rsa_public_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\nMII"), "{pem}");
    }

    /// RSA pairs are used again only once their provider has stopped: a live key set
    /// never shares its pair (a provider's tokens would verify under another's keys),
    /// and the pair of a dropped one is free for the next.
    #[test]
    fn an_rsa_pair_is_never_held_by_two_live_key_sets() {
        let mut live: Vec<KeySet> = (0..4).map(|_| KeySet::generate()).collect();
        let freed = live.pop().unwrap();
        let freed_pair = Arc::as_ptr(&freed.rsa.pair);
        let freed_kid = freed.rsa.kid.clone();
        drop(freed);
        // Kept for the next provider (which may be another test's, running beside).
        assert!(
            RSA_PAIRS
                .lock()
                .unwrap()
                .iter()
                .any(|p| Arc::as_ptr(p) == freed_pair),
            "the dropped set's pair is kept for reuse"
        );
        let next: Vec<KeySet> = (0..4).map(|_| KeySet::generate()).collect();
        for (i, a) in live.iter().chain(&next).enumerate() {
            for b in live.iter().chain(&next).skip(i + 1) {
                assert!(
                    !Arc::ptr_eq(&a.rsa.pair, &b.rsa.pair),
                    "two live sets share a pair"
                );
            }
            assert_ne!(a.rsa.kid, freed_kid, "a reused pair gets a new kid");
        }
        let token = next[0].sign(&Signing::default(), "JWT", &json!({ "sub": "alice" }));
        assert!(
            live.iter()
                .chain(&next[1..])
                .all(|k| k.verify(&token, "JWT").is_none())
        );
    }
}

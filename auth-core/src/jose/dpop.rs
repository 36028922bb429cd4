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
    /// A new P-256 key from the system's CSPRNG (sign-in makes one per session; a
    /// client of a DPoP-protected API, or a test, can make its own).
    pub fn generate() -> Self {
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
    /// `htu` (the URL without query and fragment), `iat` (seconds since the epoch), a
    /// fresh `jti`, and the server's `nonce` and the access token's hash (`ath`) when
    /// given.
    pub fn proof(
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

/// Why a DPoP proof presented to the app's API was refused (RFC 9449 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopProofError {
    /// No `DPoP` header, or several.
    #[error("the request has no single DPoP proof")]
    Missing,
    /// Not a JWT with a `dpop+jwt` header, an allowed asymmetric algorithm and a
    /// public key (`jwk`, without private members).
    #[error("the DPoP proof is malformed")]
    Malformed,
    /// The signature does not verify with the proof's own key.
    #[error("the DPoP proof's signature is invalid")]
    BadSignature,
    /// `htm` is not the request's method.
    #[error("the DPoP proof is for another method")]
    MethodMismatch,
    /// `htu` is not the request's URL.
    #[error("the DPoP proof is for another URL")]
    UrlMismatch,
    /// `iat` is outside the accepted window (a minute, plus the leeway).
    #[error("the DPoP proof is too old or from the future")]
    Stale,
    /// The proof was used before (same `jti`).
    #[error("the DPoP proof was used before")]
    Replayed,
    /// `ath` is missing or is not the hash of the presented access token.
    #[error("the DPoP proof is for another access token")]
    AccessTokenMismatch,
}

/// How long after its `iat` a proof is accepted (before the leeway).
const PROOF_WINDOW_SECS: i64 = 60;

/// Proofs remembered at most (each until it could no longer be accepted).
const MAX_REMEMBERED_PROOFS: usize = 100_000;

/// Live proofs remembered per key (a client makes one per request, each live for about
/// a minute).
const MAX_PROOFS_PER_KEY: usize = 10_000;

/// The proofs this process has accepted, by key thumbprint then `jti`, each until it
/// could no longer be accepted. Only proofs of valid tokens bound to their key get here
/// (the caller checks the token first), so only a token's holder can add to its key's
/// record; each key keeps at most [`MAX_PROOFS_PER_KEY`] live proofs and the whole at
/// most [`MAX_REMEMBERED_PROOFS`]. When full, expired proofs go first, then the key
/// with the most proofs loses its oldest half: a flood from one key can cost that key
/// its replay protection for proofs it made itself, never another key its proofs.
#[derive(Debug, Default)]
pub(crate) struct ReplayCache(std::sync::Mutex<ReplayRecord>);

#[derive(Debug, Default)]
pub(crate) struct ReplayRecord {
    by_key: std::collections::HashMap<String, std::collections::HashMap<String, i64>>,
    len: usize,
}

impl ReplayCache {
    /// Records the proof `replay_key` of key `jkt`, live until `until`; `false` when it
    /// was recorded before and is still live.
    pub(crate) fn first_use(&self, jkt: &str, replay_key: &str, until: i64, now: i64) -> bool {
        let mut record = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let ReplayRecord { by_key, len } = &mut *record;
        if by_key
            .get(jkt)
            .and_then(|seen| seen.get(replay_key))
            .is_some_and(|t| *t >= now)
        {
            return false;
        }
        if let Some(seen) = by_key.get_mut(jkt)
            && seen.len() >= MAX_PROOFS_PER_KEY
        {
            *len -= seen.len();
            seen.retain(|_, t| *t >= now);
            if seen.len() >= MAX_PROOFS_PER_KEY {
                forget_oldest_half(seen);
            }
            *len += seen.len();
        }
        if *len >= MAX_REMEMBERED_PROOFS {
            by_key.retain(|_, seen| {
                seen.retain(|_, t| *t >= now);
                !seen.is_empty()
            });
            *len = by_key.values().map(std::collections::HashMap::len).sum();
        }
        if *len >= MAX_REMEMBERED_PROOFS
            && let Some(seen) = by_key.values_mut().max_by_key(|seen| seen.len())
        {
            *len -= seen.len();
            forget_oldest_half(seen);
            *len += seen.len();
        }
        let seen = by_key.entry(jkt.to_owned()).or_default();
        if seen.insert(replay_key.to_owned(), until).is_none() {
            *len += 1;
        }
        true
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.lock().map(|r| r.len).unwrap_or(0)
    }
}

/// Forgets the half of `seen` that expires first.
fn forget_oldest_half(seen: &mut std::collections::HashMap<String, i64>) {
    let mut times: Vec<i64> = seen.values().copied().collect();
    times.sort_unstable();
    let cut = times[times.len() / 2];
    let mut keep = seen.len() - seen.len() / 2;
    seen.retain(|_, t| {
        // Strictly later ones stay; ties at the cut stay until half is kept.
        if *t > cut {
            true
        } else if *t == cut && keep > 0 {
            keep -= 1;
            true
        } else {
            false
        }
    });
}

/// The request a proof must be made for.
pub(crate) struct ProofTarget<'a> {
    pub(crate) method: &'a str,
    /// The URL as the app is reached (`APP_URL`'s origin and the request's path).
    pub(crate) url: &'a str,
    pub(crate) access_token: &'a str,
    pub(crate) now: i64,
    pub(crate) leeway: i64,
}

/// A proof that passed its checks.
pub(crate) struct Proven {
    /// Its key's thumbprint, which the access token's `cnf.jkt` must equal.
    pub(crate) jkt: String,
    /// What identifies it against replay (`jkt#jti`), and until when it must (for the
    /// instances sharing Redis).
    pub(crate) replay_key: String,
    pub(crate) until: i64,
}

/// Checks a DPoP proof for `target` (RFC 9449 §4.3). Whether it was used before is the
/// caller's to check, once the token it proves is valid and bound to its key
/// ([`ReplayCache::first_use`], then the shared state).
/// Whether the proof's header, as sent, has a `jwk` with a private or symmetric
/// member (or cannot be read as JSON at all).
fn has_private_members(proof: &str) -> bool {
    const PRIVATE: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
    let header = proof
        .split('.')
        .next()
        .and_then(|h| B64.decode(h).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    match header
        .as_ref()
        .and_then(|h| h.get("jwk"))
        .and_then(|j| j.as_object())
    {
        Some(jwk) => PRIVATE.iter().any(|m| jwk.contains_key(*m)),
        None => true,
    }
}

pub(crate) fn verify_proof(
    proof: &str,
    target: &ProofTarget<'_>,
) -> Result<Proven, DpopProofError> {
    use jsonwebtoken::{DecodingKey, Validation};
    if proof.len() > crate::jose::MAX_TOKEN_BYTES {
        return Err(DpopProofError::Malformed);
    }
    let header = jsonwebtoken::decode_header(proof).map_err(|_| DpopProofError::Malformed)?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(DpopProofError::Malformed);
    }
    let allowed = [
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::EdDSA,
    ];
    if !allowed.contains(&header.alg) {
        return Err(DpopProofError::Malformed);
    }
    let jwk = header.jwk.ok_or(DpopProofError::Malformed)?;
    // A private key in the header is refused (RFC 9449 §4.3). The parsed `jwk` keeps
    // only public members, so its members are read from the header as sent.
    if has_private_members(proof) {
        return Err(DpopProofError::Malformed);
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| DpopProofError::Malformed)?;
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
        proof,
        &key,
        &validation,
    )
    .map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => DpopProofError::BadSignature,
        _ => DpopProofError::Malformed,
    })?
    .claims;
    let text = |name: &str| claims.get(name).and_then(serde_json::Value::as_str);
    if text("htm") != Some(target.method) {
        return Err(DpopProofError::MethodMismatch);
    }
    let same_url = |claimed: &str| match (url::Url::parse(claimed), url::Url::parse(target.url)) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host() == b.host()
                && a.port_or_known_default() == b.port_or_known_default()
                && a.path() == b.path()
        }
        _ => false,
    };
    if !text("htu").is_some_and(same_url) {
        return Err(DpopProofError::UrlMismatch);
    }
    let iat = claims
        .get("iat")
        .and_then(serde_json::Value::as_i64)
        .ok_or(DpopProofError::Malformed)?;
    if iat > target.now + target.leeway || iat + PROOF_WINDOW_SECS + target.leeway < target.now {
        return Err(DpopProofError::Stale);
    }
    let ath = B64.encode(Sha256::digest(target.access_token.as_bytes()));
    if !text("ath").is_some_and(|got| crate::jose::secret::constant_time_eq(got, &ath)) {
        return Err(DpopProofError::AccessTokenMismatch);
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or(DpopProofError::Malformed)?;
    let jkt = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| DpopProofError::Malformed)?;
    let until = iat + PROOF_WINDOW_SECS + target.leeway;
    let replay_key = format!("{jkt}#{jti}");
    Ok(Proven {
        jkt,
        replay_key,
        until,
    })
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
        let claims = crate::jose::unverified_claims(&proof).expect("claims");
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

    const URL: &str = "https://app.example.com/api";
    const NOW: i64 = 1_800_000_000;

    fn target() -> ProofTarget<'static> {
        ProofTarget {
            method: "GET",
            url: URL,
            access_token: "at",
            now: NOW,
            leeway: 0,
        }
    }

    /// A proof of `key` with `header` (as sent) and valid claims, signed by `key`.
    fn crafted(key: &DpopKey, header: serde_json::Value) -> String {
        let claims = json!({
            "jti": "j-1", "htm": "GET", "htu": URL, "iat": NOW,
            "ath": B64.encode(Sha256::digest(b"at")),
        });
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature =
            jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key.0.key, Algorithm::ES256)
                .expect("sign");
        format!("{signing_input}.{signature}")
    }

    fn public_jwk(key: &DpopKey) -> serde_json::Value {
        serde_json::to_value(&key.0.jwk).expect("jwk")
    }

    #[test]
    fn a_crafted_proof_with_the_right_header_is_accepted() {
        let key = DpopKey::generate();
        let proof = crafted(
            &key,
            json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&key) }),
        );
        let proven = verify_proof(&proof, &target()).expect("valid");
        assert_eq!(proven.jkt, key.thumbprint());
    }

    /// Signed by one key with another key in its header: the signature does not
    /// verify with the proof's own key.
    #[test]
    fn rp_dpop_proof_signed_by_another_key_is_a_bad_signature() {
        let (signer, named) = (DpopKey::generate(), DpopKey::generate());
        let proof = crafted(
            &signer,
            json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(&named) }),
        );
        assert_eq!(
            verify_proof(&proof, &target()).err(),
            Some(DpopProofError::BadSignature)
        );
    }

    #[test]
    fn rp_dpop_proof_without_the_dpop_typ_is_malformed() {
        let key = DpopKey::generate();
        for typ in [json!("JWT"), json!("at+jwt"), serde_json::Value::Null] {
            let mut header = json!({ "alg": "ES256", "jwk": public_jwk(&key) });
            if !typ.is_null() {
                header["typ"] = typ.clone();
            }
            assert_eq!(
                verify_proof(&crafted(&key, header), &target()).err(),
                Some(DpopProofError::Malformed),
                "typ {typ}"
            );
        }
    }

    #[test]
    fn rp_dpop_proof_without_a_jwk_is_malformed() {
        let key = DpopKey::generate();
        let proof = crafted(&key, json!({ "typ": "dpop+jwt", "alg": "ES256" }));
        assert_eq!(
            verify_proof(&proof, &target()).err(),
            Some(DpopProofError::Malformed)
        );
    }

    /// A header that carries the private key (`d`) is refused even though its
    /// signature verifies: RFC 9449 §4.3 forbids it, and the parsed key would not show
    /// it.
    #[test]
    fn rp_dpop_proof_with_a_private_jwk_is_malformed() {
        let key = DpopKey::generate();
        let mut jwk = public_jwk(&key);
        jwk["d"] = json!(B64.encode([7u8; 32]));
        let proof = crafted(
            &key,
            json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk }),
        );
        assert_eq!(
            verify_proof(&proof, &target()).err(),
            Some(DpopProofError::Malformed)
        );
    }

    /// A full record (a flood from valid tokens' holders) never refuses a fresh proof of
    /// another key, and still refuses that proof's replay.
    #[test]
    fn a_full_replay_record_never_refuses_another_keys_fresh_proof() {
        let cache = ReplayCache::default();
        let now = 1_000;
        for i in 0..=MAX_REMEMBERED_PROOFS {
            let jkt = format!("flood{}", i % 20);
            assert!(cache.first_use(&jkt, &format!("{jkt}#{i}"), now + 60, now));
        }
        assert!(cache.len() <= MAX_REMEMBERED_PROOFS);
        assert!(cache.first_use("fresh", "fresh#1", now + 60, now));
        assert!(
            !cache.first_use("fresh", "fresh#1", now + 60, now),
            "its replay"
        );
    }

    /// One key over its share forgets its own oldest proofs, never another key's.
    #[test]
    fn one_key_flooding_never_costs_another_key_its_record() {
        let cache = ReplayCache::default();
        let now = 1_000;
        assert!(cache.first_use("honest", "honest#1", now + 60, now));
        for i in 0..=MAX_PROOFS_PER_KEY {
            assert!(cache.first_use("flood", &format!("flood#{i}"), now + 1 + i as i64, now));
        }
        assert!(
            !cache.first_use("honest", "honest#1", now + 60, now),
            "still remembered"
        );
        let last = format!("flood#{MAX_PROOFS_PER_KEY}");
        assert!(
            !cache.first_use("flood", &last, now + 60, now),
            "its newest proofs stay"
        );
    }
}

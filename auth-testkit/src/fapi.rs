//! What the development provider needs for the enterprise client: ES256 signatures
//! by a public JWK (client assertions, RFC 7523; DPoP proofs, RFC 9449) and the RFC
//! 7638 thumbprint. P-256 keys only: the ones this crate's zero-configuration path
//! makes.

use aws_lc_rs::{digest, signature};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;

/// The client assertion type of RFC 7523 §2.2.
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The header and claims of `token` if it is an ES256 JWS by `jwk` (a P-256 public key).
pub(crate) fn verify_es256(jwk: &Value, token: &str) -> Option<(Value, Value)> {
    if token.len() > 16 * 1024 {
        return None;
    }
    let (message, sig) = token.rsplit_once('.')?;
    let (header, payload) = message.split_once('.')?;
    let header: Value = serde_json::from_slice(&B64.decode(header).ok()?).ok()?;
    if header.get("alg")?.as_str()? != "ES256" || jwk.get("crv")?.as_str()? != "P-256" {
        return None;
    }
    let mut point = vec![0x04];
    point.extend(B64.decode(jwk.get("x")?.as_str()?).ok()?);
    point.extend(B64.decode(jwk.get("y")?.as_str()?).ok()?);
    signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point)
        .verify(message.as_bytes(), &B64.decode(sig).ok()?)
        .ok()?;
    let claims = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
    Some((header, claims))
}

/// The unverified header of a JWS (to find its key).
pub(crate) fn header(token: &str) -> Option<Value> {
    let header = token.split('.').next()?;
    serde_json::from_slice(&B64.decode(header).ok()?).ok()
}

/// The unverified claims of a JWS (to find its client).
pub(crate) fn claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&B64.decode(payload).ok()?).ok()
}

/// The RFC 7638 thumbprint of a P-256 public JWK.
pub(crate) fn thumbprint(jwk: &Value) -> Option<String> {
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk.get("crv")?.as_str()?,
        jwk.get("x")?.as_str()?,
        jwk.get("y")?.as_str()?,
    );
    Some(B64.encode(digest::digest(&digest::SHA256, canonical.as_bytes())))
}

/// Checks a DPoP proof (`typ: dpop+jwt`, ES256, its own public key) for `method` and
/// `url`, recent; for a resource request, for `access_token` (`ath`). Returns the
/// proof's `jti` and its key's thumbprint.
pub(crate) fn verify_proof(
    proof: &str,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    now: u64,
) -> Result<(String, String), &'static str> {
    let header = header(proof).ok_or("malformed DPoP proof")?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err("the DPoP proof is not typed dpop+jwt");
    }
    let jwk = header.get("jwk").ok_or("the DPoP proof has no jwk")?;
    if jwk.get("d").is_some() {
        return Err("the DPoP proof's jwk is a private key");
    }
    let (_, claims) = verify_es256(jwk, proof).ok_or("the DPoP proof's signature is invalid")?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("htm") != Some(method) || text("htu") != Some(url) {
        return Err("the DPoP proof is for another request");
    }
    let iat = claims.get("iat").and_then(Value::as_u64).unwrap_or(0);
    if iat + 120 < now || iat > now + 60 {
        return Err("the DPoP proof is not recent");
    }
    if let Some(token) = access_token {
        let ath = B64.encode(digest::digest(&digest::SHA256, token.as_bytes()));
        if text("ath") != Some(ath.as_str()) {
            return Err("the DPoP proof is for another access token");
        }
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or("the DPoP proof has no jti")?;
    let jkt = thumbprint(jwk).ok_or("the DPoP proof's key is not P-256")?;
    Ok((jti.to_owned(), jkt))
}

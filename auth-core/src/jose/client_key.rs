//! `private_key_jwt` (RFC 7523, OIDC Core §9): the app's own signing keys, the client
//! assertions made with them for every request to the token and PAR endpoints, and
//! their public halves for `GET {prefix}/jwks`.

use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm as JwtAlgorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::config_error::ConfigError;

/// The client assertion type of RFC 7523 §2.2.
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is valid (the provider remembers its `jti` until then).
const ASSERTION_LIFETIME_SECS: i64 = 60;

/// The smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// A private key the app signs its client assertions with (`private_key_jwt`): a P-256
/// key (ES256), or an RSA key of at least 2048 bits (PS256, or RS256 when chosen). Its
/// `Debug` shows only the key id and algorithm.
#[derive(Clone)]
pub struct ClientKey {
    kid: String,
    alg: JwtAlgorithm,
    key: Arc<EncodingKey>,
    public: Arc<Jwk>,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("key", &"[redacted]")
            .finish()
    }
}

fn invalid(reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name: "OIDC_CLIENT_PRIVATE_KEY_FILE",
        reason: reason.into(),
    }
}

impl ClientKey {
    /// Loads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`; PKCS#1 RSA keys
    /// are read too). P-256 keys sign ES256, RSA keys PS256. The key id is the key's
    /// RFC 7638 thumbprint unless [`ClientKey::with_key_id`] names another.
    pub fn from_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        let (key, alg) = match EncodingKey::from_ec_pem(pem) {
            Ok(key) => (key, JwtAlgorithm::ES256),
            Err(_) => (
                EncodingKey::from_rsa_pem(pem)
                    .map_err(|_| invalid("expected a PKCS#8 PEM private key, P-256 or RSA"))?,
                JwtAlgorithm::PS256,
            ),
        };
        let mut public = Jwk::from_encoding_key(&key, alg)
            .map_err(|e| invalid(format!("the key cannot be used: {e}")))?;
        match &public.algorithm {
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {}
            AlgorithmParameters::EllipticCurve(_) => {
                return Err(invalid("only P-256 EC keys are supported (ES256)"));
            }
            AlgorithmParameters::RSA(rsa) => {
                use base64::Engine as _;
                let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(&rsa.n)
                    .map_err(|_| invalid("the RSA modulus cannot be read"))?;
                let bits = n.iter().skip_while(|b| **b == 0).count();
                if bits < MIN_RSA_MODULUS_BYTES {
                    return Err(invalid("RSA keys must have at least 2048 bits"));
                }
            }
            _ => return Err(invalid("expected a P-256 or RSA private key")),
        }
        let kid = public
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| invalid(format!("the key cannot be used: {e}")))?;
        public.common.key_id = Some(kid.clone());
        Ok(Self {
            kid,
            alg,
            key: Arc::new(key),
            public: Arc::new(public),
        })
    }

    /// Names the key (`kid`) instead of its thumbprint (`OIDC_CLIENT_KEY_ID`), as it is
    /// registered at the provider.
    pub fn with_key_id(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        let mut public = (*self.public).clone();
        public.common.key_id = Some(self.kid.clone());
        self.public = Arc::new(public);
        self
    }

    /// Signs with RS256 instead of PS256 (an RSA key only; FAPI 2.0 refuses RS256).
    pub fn with_rs256(mut self) -> Result<Self, ConfigError> {
        if self.alg != JwtAlgorithm::PS256 {
            return Err(invalid("RS256 needs an RSA key"));
        }
        self.alg = JwtAlgorithm::RS256;
        Ok(self)
    }

    /// The key id.
    pub fn key_id(&self) -> &str {
        &self.kid
    }

    /// The signature algorithm (`ES256`, `PS256` or `RS256`).
    pub fn algorithm(&self) -> crate::Algorithm {
        match self.alg {
            JwtAlgorithm::ES256 => crate::Algorithm::ES256,
            JwtAlgorithm::RS256 => crate::Algorithm::RS256,
            _ => crate::Algorithm::PS256,
        }
    }

    /// The public key as a JWK (`kid`, `alg`, `use: sig`), for registering the client
    /// at a provider that takes keys rather than a `jwks_uri`: never a private member.
    pub fn public_jwk(&self) -> Value {
        let mut jwk = serde_json::to_value(&*self.public).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut jwk {
            map.retain(|k, _| matches!(k.as_str(), "kty" | "crv" | "x" | "y" | "n" | "e" | "kid"));
            map.insert("alg".into(), json!(format!("{:?}", self.alg)));
            map.insert("use".into(), json!("sig"));
        }
        jwk
    }

    /// A client assertion for `client_id` at `audience` (the issuer), valid a minute,
    /// with a fresh `jti`.
    pub(crate) fn assertion(&self, client_id: &str, audience: &str, now: i64) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        let claims = json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": oauth2::CsrfToken::new_random().secret(),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        // Signing with a key that loaded and passed its checks does not fail; if the
        // backend ever does, the provider refuses the empty assertion.
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap_or_default()
    }
}

/// The public keys of `keys` as a JWK set (`GET {prefix}/jwks`).
pub(crate) fn jwk_set<'a>(keys: impl Iterator<Item = &'a ClientKey>) -> Value {
    let mut seen = std::collections::HashSet::new();
    let keys: Vec<Value> = keys
        .filter(|k| seen.insert(k.kid.clone()))
        .map(ClientKey::public_jwk)
        .collect();
    json!({ "keys": keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC: &[u8] = include_bytes!("testdata/ec.pem");
    const RSA: &[u8] = include_bytes!("testdata/rsa.pem");

    #[test]
    fn loads_p256_and_rsa_keys_and_publishes_only_their_public_halves() {
        let ec = ClientKey::from_pem(EC).expect("P-256");
        assert_eq!(ec.algorithm(), crate::Algorithm::ES256);
        let rsa = ClientKey::from_pem(RSA)
            .expect("RSA")
            .with_key_id("rsa-2026");
        assert_eq!(rsa.algorithm(), crate::Algorithm::PS256);
        let set = jwk_set([&ec, &rsa].into_iter());
        let text = set.to_string();
        for private in ["\"d\"", "\"p\"", "\"q\"", "\"dp\"", "\"dq\"", "\"qi\""] {
            assert!(!text.contains(private), "{private} in {text}");
        }
        assert_eq!(set["keys"][0]["kid"], ec.key_id());
        assert_eq!(set["keys"][0]["alg"], "ES256");
        assert_eq!(set["keys"][1]["kid"], "rsa-2026");
        assert_eq!(set["keys"][1]["use"], "sig");
        assert!(!format!("{ec:?}").contains("BEGIN"), "{ec:?}");
    }

    #[test]
    fn unusable_private_key_refused() {
        assert!(ClientKey::from_pem(b"not a key").is_err());
        assert!(ClientKey::from_pem(EC).expect("ec").with_rs256().is_err());
    }

    #[tokio::test]
    async fn an_assertion_names_the_client_and_the_issuer_and_is_fresh_each_time() {
        let key = ClientKey::from_pem(EC).expect("P-256");
        let a = key.assertion("client-1", "https://id.example.com", 1_800_000_000);
        let b = key.assertion("client-1", "https://id.example.com", 1_800_000_000);
        assert_ne!(a, b, "a new jti each time");
        let claims = crate::jose::unverified_claims(&a).expect("claims");
        assert_eq!(claims["iss"], "client-1");
        assert_eq!(claims["sub"], "client-1");
        assert_eq!(claims["aud"], "https://id.example.com");
        assert_eq!(claims["exp"], 1_800_000_060);
        let header = jsonwebtoken::decode_header(&a).expect("header");
        assert_eq!(header.kid.as_deref(), Some(key.key_id()));
        assert_eq!(header.alg, JwtAlgorithm::ES256);
    }
}

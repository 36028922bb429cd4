//! Signature verification (by `jsonwebtoken`) and the claim rules (ours, each with its
//! own error) for the three kinds of token the relying party receives.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{Algorithm, Claims, JwksCache, TokenError};
use crate::config::Clock;
use crate::secret::constant_time_eq;

/// Tokens larger than this are refused before any parsing.
pub(crate) const MAX_TOKEN_BYTES: usize = 16 * 1024;

const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Logout tokens without `exp` are accepted for this long after `iat`.
const LOGOUT_TOKEN_MAX_AGE: i64 = 300;

#[derive(Debug)]
pub(crate) struct Verifier {
    pub(crate) jwks: JwksCache,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) access_token_audience: Option<String>,
    pub(crate) leeway: Duration,
    pub(crate) clock: Clock,
}

/// What an ID token must match besides the fixed rules.
#[derive(Debug)]
pub(crate) enum IdTokenCheck<'a> {
    /// From a code exchange: the nonce sent with the login.
    Login { nonce: &'a str },
    /// From a refresh: same `iss` and `sub` as before; a nonce, if any, unchanged.
    Refresh { previous: &'a Claims },
}

type ClaimMap = Map<String, Value>;

impl Verifier {
    /// Verifies the signature with an allowed algorithm and a key of the provider's
    /// JWKS, and returns the claims (not yet checked).
    pub(crate) async fn verify_signature(&self, token: &str) -> Result<ClaimMap, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge(MAX_TOKEN_BYTES));
        }
        if token.split('.').count() != 3 {
            return Err(TokenError::Malformed);
        }
        let alg_name = header_alg(token)?;
        let alg = Algorithm::from_name(&alg_name)
            .filter(|a| self.algorithms.contains(a))
            .ok_or(TokenError::AlgorithmNotAllowed(alg_name))?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        let keys = self.jwks.keys_for(header.kid.as_deref(), alg).await?;
        let mut validation = jsonwebtoken::Validation::new(alg.to_jwt());
        // Claims are checked below, rule by rule, with errors of their own.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let mut last = TokenError::BadSignature;
        for key in keys {
            match jsonwebtoken::decode::<ClaimMap>(token, &key.key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => {
                    last = match e.kind() {
                        jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                            TokenError::BadSignature
                        }
                        jsonwebtoken::errors::ErrorKind::Json(_)
                        | jsonwebtoken::errors::ErrorKind::Base64(_)
                        | jsonwebtoken::errors::ErrorKind::Utf8(_) => TokenError::Malformed,
                        _ => TokenError::BadSignature,
                    }
                }
            }
        }
        Err(last)
    }

    /// Validates an ID token: signature, `iss`, `aud`, `azp`, `exp`, `iat`, `nbf`, `sub`,
    /// and the nonce or identity rules of `check`.
    pub(crate) async fn id_token(
        &self,
        token: &str,
        check: IdTokenCheck<'_>,
    ) -> Result<Claims, TokenError> {
        let claims = self.verify_signature(token).await?;
        self.check_issuer(&claims)?;
        self.check_audience(&claims, &self.client_id, true)?;
        let now = self.clock.now();
        self.check_exp(&claims, now, true)?;
        self.check_iat(&claims, now, true)?;
        self.check_nbf(&claims, now)?;
        let sub = str_claim(&claims, "sub").ok_or(TokenError::MissingClaim("sub"))?;
        if sub.is_empty() {
            return Err(TokenError::MissingClaim("sub"));
        }
        match check {
            IdTokenCheck::Login { nonce } => {
                let got = str_claim(&claims, "nonce").ok_or(TokenError::MissingClaim("nonce"))?;
                if !constant_time_eq(got, nonce) {
                    return Err(TokenError::NonceMismatch);
                }
            }
            IdTokenCheck::Refresh { previous } => {
                if sub != previous.sub() || str_claim(&claims, "iss") != Some(previous.iss()) {
                    return Err(TokenError::IdentityChanged);
                }
                if let (Some(got), Some(before)) = (str_claim(&claims, "nonce"), previous.nonce())
                    && !constant_time_eq(got, before)
                {
                    return Err(TokenError::NonceMismatch);
                }
            }
        }
        Ok(Claims::new(claims))
    }

    /// Validates an access token that is a JWT issued by our issuer: signature, `iss`,
    /// `exp`, `iat`, `nbf`, and `aud` when an API audience is configured. Returns
    /// `Ok(false)` for an opaque token or a JWT of another issuer (not ours to judge).
    pub(crate) async fn access_token(&self, token: &str) -> Result<bool, TokenError> {
        if token.split('.').count() != 3 {
            return Ok(false);
        }
        let Ok(unverified) = unverified_claims(token) else {
            return Ok(false);
        };
        if str_claim(&unverified, "iss") != Some(self.issuer.as_str()) {
            return Ok(false);
        }
        let claims = self.verify_signature(token).await?;
        self.check_issuer(&claims)?;
        if let Some(aud) = &self.access_token_audience {
            self.check_audience(&claims, aud, false)?;
        }
        let now = self.clock.now();
        self.check_exp(&claims, now, true)?;
        self.check_iat(&claims, now, false)?;
        self.check_nbf(&claims, now)?;
        Ok(true)
    }

    /// Validates a back-channel logout token (OpenID Back-Channel Logout 1.0 §2.6).
    pub(crate) async fn logout_token(&self, token: &str) -> Result<ClaimMap, TokenError> {
        let claims = self.verify_signature(token).await?;
        self.check_issuer(&claims)?;
        self.check_audience(&claims, &self.client_id, false)?;
        let now = self.clock.now();
        self.check_iat(&claims, now, true)?;
        if claims.contains_key("exp") {
            self.check_exp(&claims, now, true)?;
        } else if claims
            .get("iat")
            .and_then(Value::as_i64)
            .is_some_and(|iat| iat + LOGOUT_TOKEN_MAX_AGE + self.leeway_secs() < now)
        {
            return Err(TokenError::InvalidIssuedAt);
        }
        self.check_nbf(&claims, now)?;
        if str_claim(&claims, "jti").is_none() {
            return Err(TokenError::MissingClaim("jti"));
        }
        let has_event = claims
            .get("events")
            .and_then(Value::as_object)
            .and_then(|e| e.get(BACKCHANNEL_EVENT))
            .is_some_and(Value::is_object);
        if !has_event {
            return Err(TokenError::MissingLogoutEvent);
        }
        if claims.contains_key("nonce") {
            return Err(TokenError::NonceInLogoutToken);
        }
        let sid = str_claim(&claims, "sid").filter(|s| !s.is_empty());
        let sub = str_claim(&claims, "sub").filter(|s| !s.is_empty());
        if sid.is_none() && sub.is_none() {
            return Err(TokenError::MissingSidAndSub);
        }
        Ok(claims)
    }

    fn leeway_secs(&self) -> i64 {
        self.leeway.as_secs() as i64
    }

    fn check_issuer(&self, claims: &ClaimMap) -> Result<(), TokenError> {
        match str_claim(claims, "iss") {
            None => Err(TokenError::MissingClaim("iss")),
            Some(iss) if iss == self.issuer => Ok(()),
            Some(_) => Err(TokenError::InvalidIssuer),
        }
    }

    /// `aud` must contain `expected`. For ID tokens, `azp` must be this client when
    /// present, and must be present when there are several audiences.
    fn check_audience(
        &self,
        claims: &ClaimMap,
        expected: &str,
        id_token: bool,
    ) -> Result<(), TokenError> {
        let auds: Vec<&str> = match claims.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => return Err(TokenError::MissingClaim("aud")),
        };
        if !auds.contains(&expected) {
            return Err(TokenError::InvalidAudience);
        }
        if id_token {
            match str_claim(claims, "azp") {
                Some(azp) if azp != self.client_id => {
                    return Err(TokenError::InvalidAuthorizedParty);
                }
                None if auds.len() > 1 => return Err(TokenError::InvalidAuthorizedParty),
                _ => {}
            }
        }
        Ok(())
    }

    fn check_exp(&self, claims: &ClaimMap, now: i64, required: bool) -> Result<(), TokenError> {
        match num_claim(claims, "exp") {
            Some(exp) if now > exp + self.leeway_secs() => Err(TokenError::Expired),
            Some(_) => Ok(()),
            None if required => Err(TokenError::MissingClaim("exp")),
            None => Ok(()),
        }
    }

    fn check_iat(&self, claims: &ClaimMap, now: i64, required: bool) -> Result<(), TokenError> {
        match num_claim(claims, "iat") {
            Some(iat) if iat > now + self.leeway_secs() => Err(TokenError::InvalidIssuedAt),
            Some(_) => Ok(()),
            None if required => Err(TokenError::MissingClaim("iat")),
            None => Ok(()),
        }
    }

    fn check_nbf(&self, claims: &ClaimMap, now: i64) -> Result<(), TokenError> {
        match claims.get("nbf") {
            None => Ok(()),
            Some(_) => match num_claim(claims, "nbf") {
                Some(nbf) if nbf > now + self.leeway_secs() => Err(TokenError::NotYetValid),
                Some(_) => Ok(()),
                None => Err(TokenError::MissingClaim("nbf")),
            },
        }
    }
}

fn str_claim<'a>(claims: &'a ClaimMap, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

/// A NumericDate: an integer, or a number with a fraction (truncated).
fn num_claim(claims: &ClaimMap, name: &str) -> Option<i64> {
    let v = claims.get(name)?;
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

fn header_alg(token: &str) -> Result<String, TokenError> {
    use base64::Engine;
    let head = token.split('.').next().ok_or(TokenError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .map_err(|_| TokenError::Malformed)?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
    v.get("alg")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(TokenError::Malformed)
}

fn unverified_claims(token: &str) -> Result<ClaimMap, TokenError> {
    use base64::Engine;
    let payload = token.split('.').nth(1).ok_or(TokenError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

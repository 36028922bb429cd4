//! Signature verification (by `jsonwebtoken`) and the claim rules (ours, each with its
//! own error) for the three kinds of token the relying party receives.

use std::time::Duration;

use serde_json::{Map, Value};

use super::jwks::TokenSource;
use super::{Algorithm, Claims, JwksCache, TokenError, VerifyError};
use crate::clock::Clock;
use crate::jose::secret::constant_time_eq;

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
    /// Other exact issuers of the provider's tokens (WorkOS User Management).
    pub(crate) issuer_aliases: Vec<String>,
    /// Entra ID multi-tenant: `iss` is the template with the token's own `tid`.
    pub(crate) tenants: Option<crate::jose::issuer::TenantRule>,
    pub(crate) client_id: String,
    pub(crate) access_token_audience: Option<String>,
    pub(crate) api_audiences: Vec<String>,
    pub(crate) require_at_jwt: bool,
    /// JWT access tokens at sign-in and refresh must carry `iat` (Scalekit).
    pub(crate) access_token_requires_iat: bool,
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

pub(crate) type ClaimMap = Map<String, Value>;

impl Verifier {
    /// Verifies the signature with an allowed algorithm and a key of the provider's
    /// JWKS, and returns the claims (not yet checked).
    pub(crate) async fn verify_signature(
        &self,
        token: &str,
        source: TokenSource,
    ) -> Result<ClaimMap, VerifyError> {
        let header = parse_header(token)?;
        Ok(self.verify_parsed(token, &header, source).await?.0)
    }

    /// Verifies a token whose header `parse_header` has read. The signature is checked
    /// by `jsonwebtoken` over the token as received; the claims are parsed once, after.
    async fn verify_parsed(
        &self,
        token: &str,
        header: &JoseHeader,
        source: TokenSource,
    ) -> Result<(ClaimMap, Box<str>), VerifyError> {
        let alg_name = header.alg.as_deref().ok_or(TokenError::Malformed)?;
        let alg = Algorithm::from_name(alg_name)
            .filter(|a| self.algorithms.contains(a))
            .ok_or_else(|| TokenError::AlgorithmNotAllowed(alg_name.to_owned()))?;
        // Extensions marked critical must be understood (RFC 7515 §4.1.11); we use none.
        if header.crit.0 {
            return Err(TokenError::Malformed.into());
        }
        let (message, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let keys = self
            .jwks
            .keys_for(header.kid.as_deref(), alg, source)
            .await?;
        let mut verified = false;
        for key in keys {
            match jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, alg.to_jwt()) {
                Ok(true) => {
                    verified = true;
                    break;
                }
                Ok(false) => {}
                Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::Base64(_)) => {
                    return Err(TokenError::Malformed.into());
                }
                Err(_) => {}
            }
        }
        if !verified {
            return Err(TokenError::BadSignature.into());
        }
        let payload = message
            .split_once('.')
            .map(|(_, p)| p)
            .ok_or(TokenError::Malformed)?;
        let (claims, text) = decode_claims(payload)?;
        check_claim_types(&claims)?;
        Ok((claims, text))
    }

    /// Validates an ID token: signature, `iss`, `aud`, `azp`, `exp`, `iat`, `nbf`, `sub`,
    /// and the nonce or identity rules of `check`.
    pub(crate) async fn id_token(
        &self,
        token: &str,
        check: IdTokenCheck<'_>,
        source: TokenSource,
    ) -> Result<Claims, VerifyError> {
        let header = parse_header(token)?;
        let (claims, text) = self.verify_parsed(token, &header, source).await?;
        self.check_issuer(&claims)?;
        self.check_audience(&claims, &self.client_id, true)?;
        let now = self.clock.now_secs();
        self.check_exp(&claims, now, true)?;
        self.check_iat(&claims, now, true)?;
        self.check_nbf(&claims, now)?;
        let sub = str_claim(&claims, "sub").ok_or(TokenError::MissingClaim("sub"))?;
        if sub.is_empty() {
            return Err(TokenError::MissingClaim("sub").into());
        }
        match check {
            IdTokenCheck::Login { nonce } => {
                let got = str_claim(&claims, "nonce").ok_or(TokenError::MissingClaim("nonce"))?;
                if !constant_time_eq(got, nonce) {
                    return Err(TokenError::NonceMismatch.into());
                }
            }
            IdTokenCheck::Refresh { previous } => {
                if sub != previous.sub() || str_claim(&claims, "iss") != Some(previous.iss()) {
                    return Err(TokenError::IdentityChanged.into());
                }
                if let (Some(got), Some(before)) = (str_claim(&claims, "nonce"), previous.nonce())
                    && !constant_time_eq(got, before)
                {
                    return Err(TokenError::NonceMismatch.into());
                }
            }
        }
        Ok(Claims::from_parts(&claims, text))
    }

    /// Validates an access token that is a JWT issued by our issuer: signature, `iss`,
    /// `exp`, `iat`, `nbf`, and `aud` when an API audience is configured. Returns its
    /// claims, or `Ok(None)` for an opaque token or a JWT of another issuer (not ours to
    /// judge).
    pub(crate) async fn access_token(&self, token: &str) -> Result<Option<ClaimMap>, VerifyError> {
        if token.split('.').count() != 3 {
            return Ok(None);
        }
        let Ok(unverified) = unverified_claims(token) else {
            return Ok(None);
        };
        if !self.issued(&unverified) {
            return Ok(None);
        }
        let claims = self.verify_signature(token, TokenSource::Provider).await?;
        self.check_issuer(&claims)?;
        if let Some(aud) = &self.access_token_audience {
            self.check_audience(&claims, aud, false)?;
        }
        let now = self.clock.now_secs();
        self.check_exp(&claims, now, true)?;
        self.check_iat(&claims, now, self.access_token_requires_iat)?;
        self.check_nbf(&claims, now)?;
        Ok(Some(claims))
    }

    /// Validates the access token that is a session's identity (WorkOS User
    /// Management, which has no ID token): a JWT of this provider (allowed algorithm,
    /// a key of its JWKS, `iss`), unexpired, with `iat` and a non-empty `sub`; `aud`
    /// too when the app set an access-token audience.
    pub(crate) async fn identity_access_token(&self, token: &str) -> Result<ClaimMap, VerifyError> {
        let claims = self.verify_signature(token, TokenSource::Provider).await?;
        self.check_issuer(&claims)?;
        if let Some(aud) = &self.access_token_audience {
            self.check_audience(&claims, aud, false)?;
        }
        let now = self.clock.now_secs();
        self.check_exp(&claims, now, true)?;
        self.check_iat(&claims, now, true)?;
        self.check_nbf(&claims, now)?;
        if str_claim(&claims, "sub").is_none_or(str::is_empty) {
            return Err(TokenError::MissingClaim("sub").into());
        }
        Ok(claims)
    }

    /// Validates a bearer access token presented to this app's API (RFC 9068 §4):
    /// `typ` (when present) `at+jwt` or `JWT`, signature, `iss`, `aud` naming one of
    /// the API audiences, `exp`, `iat`, `nbf`, `sub`; sender-constrained tokens (`cnf`,
    /// RFC 9449/8705) are refused, since a bearer presentation proves no key.
    pub(crate) async fn bearer_token(
        &self,
        token: &str,
        bound: bool,
    ) -> Result<(ClaimMap, Box<str>), VerifyError> {
        let header = parse_header(token)?;
        let typed_at_jwt = match header.typ.as_deref().map(str::to_ascii_lowercase) {
            Some(t) if t == "at+jwt" || t == "application/at+jwt" => true,
            Some(t) if (t == "jwt" || t == "application/jwt") && !self.require_at_jwt => false,
            None if !self.require_at_jwt => false,
            _ => return Err(TokenError::UnexpectedType.into()),
        };
        let (claims, text) = self
            .verify_parsed(token, &header, TokenSource::Request)
            .await?;
        // A `JWT` or untyped token could be an ID token or a logout token of the same
        // issuer: refuse any that carries a claim only those have.
        if !typed_at_jwt
            && ["nonce", "at_hash", "c_hash", "events"]
                .iter()
                .any(|c| claims.contains_key(*c))
        {
            return Err(TokenError::UnexpectedType.into());
        }
        self.check_issuer(&claims)?;
        self.check_api_audience(&claims)?;
        let now = self.clock.now_secs();
        self.check_exp(&claims, now, true)?;
        self.check_iat(&claims, now, false)?;
        self.check_nbf(&claims, now)?;
        if str_claim(&claims, "sub").is_none_or(str::is_empty) {
            return Err(TokenError::MissingClaim("sub").into());
        }
        // A sender-constrained token counts only with the proof its caller checks.
        if claims.contains_key("cnf") && !bound {
            return Err(TokenError::SenderConstrained.into());
        }
        Ok((claims, text))
    }

    /// `aud` names one of the API audiences.
    fn check_api_audience(&self, claims: &ClaimMap) -> Result<(), TokenError> {
        let matches = |a: &str| self.api_audiences.iter().any(|e| e == a);
        match claims.get("aud") {
            Some(Value::String(s)) if matches(s) => Ok(()),
            Some(Value::Array(a)) if a.iter().filter_map(Value::as_str).any(matches) => Ok(()),
            Some(Value::String(_) | Value::Array(_)) => Err(TokenError::InvalidAudience),
            _ => Err(TokenError::MissingClaim("aud")),
        }
    }

    /// Validates a back-channel logout token (OpenID Back-Channel Logout 1.0 §2.6).
    pub(crate) async fn logout_token(&self, token: &str) -> Result<ClaimMap, VerifyError> {
        let claims = self.verify_signature(token, TokenSource::Request).await?;
        self.check_issuer(&claims)?;
        self.check_audience(&claims, &self.client_id, false)?;
        let now = self.clock.now_secs();
        self.check_iat(&claims, now, true)?;
        if claims.contains_key("exp") {
            self.check_exp(&claims, now, true)?;
        } else if claims
            .get("iat")
            .and_then(Value::as_i64)
            .is_some_and(|iat| {
                iat.saturating_add(LOGOUT_TOKEN_MAX_AGE)
                    .saturating_add(self.leeway_secs())
                    < now
            })
        {
            return Err(TokenError::InvalidIssuedAt.into());
        }
        self.check_nbf(&claims, now)?;
        if str_claim(&claims, "jti").is_none() {
            return Err(TokenError::MissingClaim("jti").into());
        }
        let has_event = claims
            .get("events")
            .and_then(Value::as_object)
            .and_then(|e| e.get(BACKCHANNEL_EVENT))
            .is_some_and(Value::is_object);
        if !has_event {
            return Err(TokenError::MissingLogoutEvent.into());
        }
        if claims.contains_key("nonce") {
            return Err(TokenError::NonceInLogoutToken.into());
        }
        let sid = str_claim(&claims, "sid").filter(|s| !s.is_empty());
        let sub = str_claim(&claims, "sub").filter(|s| !s.is_empty());
        if sid.is_none() && sub.is_none() {
            return Err(TokenError::MissingSidAndSub.into());
        }
        Ok(claims)
    }

    fn leeway_secs(&self) -> i64 {
        i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX)
    }

    fn check_issuer(&self, claims: &ClaimMap) -> Result<(), TokenError> {
        match str_claim(claims, "iss") {
            None => Err(TokenError::MissingClaim("iss")),
            Some(_) if self.issued(claims) => Ok(()),
            Some(_) => Err(TokenError::InvalidIssuer),
        }
    }

    /// Whether the claims' `iss` is this provider's: the issuer, or for Entra ID's
    /// multi-tenant endpoints the template filled with the token's `tid` (a GUID, and
    /// one of the allowed tenants when the app lists them).
    pub(crate) fn issued(&self, claims: &ClaimMap) -> bool {
        crate::jose::issuer::names_issuer(
            &self.issuer,
            &self.issuer_aliases,
            self.tenants.as_ref(),
            claims,
        )
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
            Some(exp) if now > exp.saturating_add(self.leeway_secs()) => Err(TokenError::Expired),
            Some(_) => Ok(()),
            None if required => Err(TokenError::MissingClaim("exp")),
            None => Ok(()),
        }
    }

    fn check_iat(&self, claims: &ClaimMap, now: i64, required: bool) -> Result<(), TokenError> {
        match num_claim(claims, "iat") {
            Some(iat) if iat > now.saturating_add(self.leeway_secs()) => {
                Err(TokenError::InvalidIssuedAt)
            }
            Some(_) => Ok(()),
            None if required => Err(TokenError::MissingClaim("iat")),
            None => Ok(()),
        }
    }

    fn check_nbf(&self, claims: &ClaimMap, now: i64) -> Result<(), TokenError> {
        match claims.get("nbf") {
            None => Ok(()),
            Some(_) => match num_claim(claims, "nbf") {
                Some(nbf) if nbf > now.saturating_add(self.leeway_secs()) => {
                    Err(TokenError::NotYetValid)
                }
                Some(_) => Ok(()),
                None => Err(TokenError::MissingClaim("nbf")),
            },
        }
    }
}

fn str_claim<'a>(claims: &'a ClaimMap, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

/// The registered claims this crate reads must have their registered types when present
/// (RFC 7519 §4.1, OpenID Connect Core §2): a claim of another type is refused, never
/// read as absent (an `azp` of 42 is not "no azp", an `nbf` of "tomorrow" is not "no
/// nbf"). Found by the `id_token_claims` fuzz target.
fn check_claim_types(claims: &ClaimMap) -> Result<(), TokenError> {
    for name in ["iss", "sub", "azp", "nonce", "sid"] {
        if claims.get(name).is_some_and(|v| !v.is_string()) {
            return Err(TokenError::InvalidClaimType(name));
        }
    }
    for name in ["exp", "iat", "nbf"] {
        if claims.contains_key(name) && num_claim(claims, name).is_none() {
            return Err(TokenError::InvalidClaimType(name));
        }
    }
    match claims.get("aud") {
        None | Some(Value::String(_)) => Ok(()),
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err(TokenError::InvalidClaimType("aud")),
    }
}

/// A NumericDate: an integer, or a number with a fraction (truncated).
fn num_claim(claims: &ClaimMap, name: &str) -> Option<i64> {
    let v = claims.get(name)?;
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

/// The JOSE header members we read. Decoded by us, not by `jsonwebtoken`, so that an
/// algorithm it does not know (`none`) is reported as not allowed rather than malformed.
#[derive(serde::Deserialize)]
struct JoseHeader {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    #[serde(default)]
    crit: Present,
}

/// Whether a header member is there at all (`"crit": null` included).
#[derive(Default)]
struct Present(bool);

impl<'de> serde::Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

/// A compact JWS within the size limit, with three parts and a readable header.
fn parse_header(token: &str) -> Result<JoseHeader, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge(MAX_TOKEN_BYTES));
    }
    let mut parts = token.split('.');
    let (Some(head), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    decode_json(head)
}

/// A base64url (no padding) JSON part of a JWT.
/// A token's claims, and their JSON text as received (kept by [`Claims`] as it is,
/// rather than serialized again from the map).
fn decode_claims(part: &str) -> Result<(ClaimMap, Box<str>), TokenError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    let claims = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
    // Valid JSON from a byte slice is UTF-8 (serde_json checks it).
    let text = String::from_utf8(bytes).map_err(|_| TokenError::Malformed)?;
    Ok((claims, text.into_boxed_str()))
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

pub(crate) fn unverified_claims(token: &str) -> Result<ClaimMap, TokenError> {
    decode_json(token.split('.').nth(1).ok_or(TokenError::Malformed)?)
}

#[cfg(test)]
mod tests {
    //! Every rejection, named after the OpenID RP certification case it follows where
    //! there is one, with tokens signed here.
    use super::*;
    use crate::http_client::HttpClient;
    use crate::jose::jwks::parse_jwks;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const ISS: &str = "https://id.example.com";
    const CLIENT: &str = "client-1";
    const NOW: i64 = 1_800_000_000;

    fn verifier() -> Verifier {
        let http = HttpClient::new(Duration::from_secs(1), Duration::from_secs(1), 1024, &[])
            .expect("http");
        let keys = parse_jwks(include_bytes!("testdata/jwks.json")).expect("jwks");
        Verifier {
            jwks: JwksCache::preloaded(http, keys),
            algorithms: Algorithm::default_allowed(),
            issuer: ISS.into(),
            issuer_aliases: Vec::new(),
            tenants: None,
            client_id: CLIENT.into(),
            access_token_audience: Some("api".into()),
            api_audiences: vec!["api".into()],
            require_at_jwt: false,
            access_token_requires_iat: false,
            leeway: Duration::from_secs(60),
            clock: Clock::from_secs(|| NOW),
        }
    }

    fn claims() -> Value {
        json!({ "iss": ISS, "aud": CLIENT, "sub": "alice", "exp": NOW + 300, "iat": NOW, "nonce": "n-1", "sid": "s-1" })
    }

    fn with(mut c: Value, k: &str, v: Value) -> Value {
        c[k] = v;
        c
    }

    fn without(mut c: Value, k: &str) -> Value {
        c.as_object_mut().expect("object").remove(k);
        c
    }

    fn rs256(c: &Value) -> String {
        sign_rsa(c, include_bytes!("testdata/rsa.pem"), Some("rsa1"))
    }

    fn sign_rsa(c: &Value, pem: &[u8], kid: Option<&str>) -> String {
        let mut h = Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = kid.map(str::to_owned);
        encode(&h, c, &EncodingKey::from_rsa_pem(pem).expect("key")).expect("sign")
    }

    fn es256(c: &Value) -> String {
        let mut h = Header::new(jsonwebtoken::Algorithm::ES256);
        h.kid = Some("ec1".into());
        encode(
            &h,
            c,
            &EncodingKey::from_ec_pem(include_bytes!("testdata/ec.pem")).expect("key"),
        )
        .expect("sign")
    }

    async fn id(token: &str) -> Result<Claims, VerifyError> {
        verifier()
            .id_token(
                token,
                IdTokenCheck::Login { nonce: "n-1" },
                TokenSource::Provider,
            )
            .await
    }

    fn b64(v: &Value) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[tokio::test]
    async fn accepts_valid_rs256_and_es256_id_tokens() {
        assert_eq!(id(&rs256(&claims())).await.expect("rs256").sub(), "alice");
        assert_eq!(
            id(&es256(&claims())).await.expect("es256").sid(),
            Some("s-1")
        );
    }

    #[tokio::test]
    async fn accepts_several_audiences_with_azp() {
        let c = with(
            with(claims(), "aud", json!([CLIENT, "other"])),
            "azp",
            json!(CLIENT),
        );
        assert!(id(&rs256(&c)).await.is_ok());
    }

    #[tokio::test]
    async fn accepts_token_without_kid_by_trying_matching_keys() {
        let t = sign_rsa(&claims(), include_bytes!("testdata/rsa.pem"), None);
        assert!(id(&t).await.is_ok());
    }

    #[tokio::test]
    async fn rp_id_token_bad_sig_rs256() {
        let t = sign_rsa(
            &claims(),
            include_bytes!("testdata/rsa_other.pem"),
            Some("rsa1"),
        );
        assert_eq!(id(&t).await.unwrap_err(), TokenError::BadSignature);
    }

    #[tokio::test]
    async fn rp_id_token_bad_sig_es256() {
        let t = es256(&claims());
        let (head, rest) = t.split_once('.').expect("jwt");
        let (_, sig) = rest.split_once('.').expect("jwt");
        let forged = format!(
            "{head}.{}.{sig}",
            b64(&with(claims(), "sub", json!("mallory")))
        );
        assert_eq!(id(&forged).await.unwrap_err(), TokenError::BadSignature);
    }

    #[tokio::test]
    async fn rp_id_token_sig_none() {
        let t = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims()));
        assert_eq!(
            id(&t).await.unwrap_err(),
            TokenError::AlgorithmNotAllowed("none".into())
        );
    }

    #[tokio::test]
    async fn rp_id_token_hmac_with_public_key_as_secret() {
        let n = include_str!("testdata/rsa_public_n.txt");
        let mut h = Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some("rsa1".into());
        let t = encode(&h, &claims(), &EncodingKey::from_secret(n.as_bytes())).expect("sign");
        assert_eq!(
            id(&t).await.unwrap_err(),
            TokenError::AlgorithmNotAllowed("HS256".into())
        );
    }

    #[tokio::test]
    async fn algorithm_outside_the_allow_list_refused() {
        let mut v = verifier();
        v.algorithms = vec![Algorithm::ES256];
        let err = v
            .id_token(
                &rs256(&claims()),
                IdTokenCheck::Login { nonce: "n-1" },
                TokenSource::Provider,
            )
            .await
            .unwrap_err();
        assert_eq!(err, TokenError::AlgorithmNotAllowed("RS256".into()));
    }

    #[tokio::test]
    async fn rp_id_token_kid_absent_from_jwks() {
        let t = sign_rsa(
            &claims(),
            include_bytes!("testdata/rsa.pem"),
            Some("unknown"),
        );
        // From the token endpoint an unknown kid is a rotation: the keys are fetched
        // (nothing listens here, so the provider is unavailable)...
        assert!(matches!(
            id(&t).await.unwrap_err(),
            VerifyError::KeysUnavailable(_)
        ));
        // ...while from a request it waits out the cooldown: an unknown key.
        let err = verifier()
            .id_token(
                &t,
                IdTokenCheck::Login { nonce: "n-1" },
                TokenSource::Request,
            )
            .await
            .unwrap_err();
        assert_eq!(err, TokenError::UnknownKey(Some("unknown".into())));
    }

    #[tokio::test]
    async fn rp_id_token_issuer_mismatch() {
        let t = rs256(&with(claims(), "iss", json!("https://evil.example.com")));
        assert_eq!(id(&t).await.unwrap_err(), TokenError::InvalidIssuer);
        let t = rs256(&without(claims(), "iss"));
        assert_eq!(id(&t).await.unwrap_err(), TokenError::MissingClaim("iss"));
    }

    #[tokio::test]
    async fn rp_id_token_aud() {
        let t = rs256(&with(claims(), "aud", json!("someone-else")));
        assert_eq!(id(&t).await.unwrap_err(), TokenError::InvalidAudience);
        let t = rs256(&without(claims(), "aud"));
        assert_eq!(id(&t).await.unwrap_err(), TokenError::MissingClaim("aud"));
    }

    #[tokio::test]
    async fn rp_id_token_azp_missing_with_several_audiences() {
        let t = rs256(&with(claims(), "aud", json!([CLIENT, "other"])));
        assert_eq!(
            id(&t).await.unwrap_err(),
            TokenError::InvalidAuthorizedParty
        );
    }

    #[tokio::test]
    async fn rp_id_token_times_at_the_edges_of_the_number_range() {
        // Saturating arithmetic: no overflow panic, and the right answer.
        let far = rs256(&with(claims(), "exp", json!(4.1e37)));
        assert!(
            id(&far).await.is_ok(),
            "an exp far in the future is not expired"
        );
        for (name, value, err) in [
            ("exp", json!(-4.1e37), TokenError::Expired),
            ("exp", json!(i64::MIN), TokenError::Expired),
            ("iat", json!(4.1e37), TokenError::InvalidIssuedAt),
            ("nbf", json!(i64::MAX), TokenError::NotYetValid),
        ] {
            let t = rs256(&with(claims(), name, value.clone()));
            assert_eq!(id(&t).await.unwrap_err(), err, "{name}: {value}");
        }
    }

    #[tokio::test]
    async fn rp_id_token_claims_of_the_wrong_type() {
        for (name, value) in [
            ("azp", json!(42)),
            ("azp", json!(null)),
            ("aud", json!([CLIENT, 5])),
            ("aud", json!([])),
            ("nbf", json!("9999999999")),
            ("exp", json!("9999999999")),
            ("iat", json!(null)),
            ("sid", json!({"x": 1})),
            ("sub", json!(["alice"])),
            ("iss", json!([ISS])),
        ] {
            let t = rs256(&with(claims(), name, value.clone()));
            assert_eq!(
                id(&t).await.unwrap_err(),
                TokenError::InvalidClaimType(name),
                "{name}: {value}"
            );
        }
    }

    #[tokio::test]
    async fn rp_id_token_azp_of_another_client() {
        let t = rs256(&with(claims(), "azp", json!("other")));
        assert_eq!(
            id(&t).await.unwrap_err(),
            TokenError::InvalidAuthorizedParty
        );
    }

    #[tokio::test]
    async fn rp_id_token_expired() {
        let t = rs256(&with(claims(), "exp", json!(NOW - 61)));
        assert_eq!(id(&t).await.unwrap_err(), TokenError::Expired);
        let t = rs256(&with(claims(), "exp", json!(NOW - 59)));
        assert!(id(&t).await.is_ok(), "within leeway");
        let t = rs256(&without(claims(), "exp"));
        assert_eq!(id(&t).await.unwrap_err(), TokenError::MissingClaim("exp"));
    }

    #[tokio::test]
    async fn rp_id_token_iat_in_future_or_missing() {
        let t = rs256(&with(claims(), "iat", json!(NOW + 120)));
        assert_eq!(id(&t).await.unwrap_err(), TokenError::InvalidIssuedAt);
        let t = rs256(&without(claims(), "iat"));
        assert_eq!(id(&t).await.unwrap_err(), TokenError::MissingClaim("iat"));
    }

    #[tokio::test]
    async fn rp_id_token_nbf_in_future() {
        let t = rs256(&with(claims(), "nbf", json!(NOW + 120)));
        assert_eq!(id(&t).await.unwrap_err(), TokenError::NotYetValid);
    }

    #[tokio::test]
    async fn rp_id_token_sub_missing() {
        let t = rs256(&without(claims(), "sub"));
        assert_eq!(id(&t).await.unwrap_err(), TokenError::MissingClaim("sub"));
    }

    #[tokio::test]
    async fn rp_nonce_invalid() {
        let t = rs256(&with(claims(), "nonce", json!("n-2")));
        assert_eq!(id(&t).await.unwrap_err(), TokenError::NonceMismatch);
    }

    #[tokio::test]
    async fn rp_nonce_missing() {
        let t = rs256(&without(claims(), "nonce"));
        assert_eq!(id(&t).await.unwrap_err(), TokenError::MissingClaim("nonce"));
    }

    #[tokio::test]
    async fn malformed_and_oversized_tokens_refused() {
        assert_eq!(id("not-a-jwt").await.unwrap_err(), TokenError::Malformed);
        assert_eq!(id("a.b.c").await.unwrap_err(), TokenError::Malformed);
        let big = format!("{}.{}.x", "a".repeat(MAX_TOKEN_BYTES), "b");
        assert_eq!(
            id(&big).await.unwrap_err(),
            TokenError::TooLarge(MAX_TOKEN_BYTES)
        );
    }

    #[tokio::test]
    async fn rp_refresh_identity_change_refused() {
        let before = Claims::new(claims().as_object().expect("obj").clone());
        let v = verifier();
        let same = rs256(&without(claims(), "nonce"));
        assert!(
            v.id_token(
                &same,
                IdTokenCheck::Refresh { previous: &before },
                TokenSource::Provider
            )
            .await
            .is_ok(),
            "no nonce needed"
        );
        let other = rs256(&with(without(claims(), "nonce"), "sub", json!("bob")));
        let err = v
            .id_token(
                &other,
                IdTokenCheck::Refresh { previous: &before },
                TokenSource::Provider,
            )
            .await
            .unwrap_err();
        assert_eq!(err, TokenError::IdentityChanged);
    }

    fn logout_claims() -> Value {
        json!({
            "iss": ISS, "aud": CLIENT, "iat": NOW, "exp": NOW + 120, "jti": "j-1", "sid": "s-1", "sub": "alice",
            "events": { "http://schemas.openid.net/event/backchannel-logout": {} }
        })
    }

    async fn logout(c: &Value) -> Result<ClaimMap, VerifyError> {
        verifier().logout_token(&rs256(c)).await
    }

    #[tokio::test]
    async fn accepts_valid_logout_token() {
        assert!(logout(&logout_claims()).await.is_ok());
        assert!(
            logout(&without(logout_claims(), "sid")).await.is_ok(),
            "sub alone"
        );
    }

    #[tokio::test]
    async fn rp_backchannel_logout_token_missing_event() {
        assert_eq!(
            logout(&without(logout_claims(), "events"))
                .await
                .unwrap_err(),
            TokenError::MissingLogoutEvent
        );
        let wrong = with(
            logout_claims(),
            "events",
            json!({"http://example.com/other": {}}),
        );
        assert_eq!(
            logout(&wrong).await.unwrap_err(),
            TokenError::MissingLogoutEvent
        );
    }

    #[tokio::test]
    async fn rp_backchannel_logout_token_with_nonce() {
        let c = with(logout_claims(), "nonce", json!("n"));
        assert_eq!(
            logout(&c).await.unwrap_err(),
            TokenError::NonceInLogoutToken
        );
    }

    #[tokio::test]
    async fn rp_backchannel_logout_token_without_sid_or_sub() {
        let c = without(without(logout_claims(), "sid"), "sub");
        assert_eq!(logout(&c).await.unwrap_err(), TokenError::MissingSidAndSub);
    }

    #[tokio::test]
    async fn rp_backchannel_logout_token_bad_claims() {
        assert_eq!(
            logout(&without(logout_claims(), "iat")).await.unwrap_err(),
            TokenError::MissingClaim("iat")
        );
        assert_eq!(
            logout(&without(logout_claims(), "jti")).await.unwrap_err(),
            TokenError::MissingClaim("jti")
        );
        assert_eq!(
            logout(&with(logout_claims(), "exp", json!(NOW - 100)))
                .await
                .unwrap_err(),
            TokenError::Expired
        );
        assert_eq!(
            logout(&with(logout_claims(), "aud", json!("x")))
                .await
                .unwrap_err(),
            TokenError::InvalidAudience
        );
        assert_eq!(
            logout(&with(logout_claims(), "iss", json!("x")))
                .await
                .unwrap_err(),
            TokenError::InvalidIssuer
        );
        let stale = with(without(logout_claims(), "exp"), "iat", json!(NOW - 3600));
        assert_eq!(
            logout(&stale).await.unwrap_err(),
            TokenError::InvalidIssuedAt
        );
    }

    #[tokio::test]
    async fn rp_backchannel_logout_token_bad_signature() {
        let t = sign_rsa(
            &logout_claims(),
            include_bytes!("testdata/rsa_other.pem"),
            Some("rsa1"),
        );
        assert_eq!(
            verifier().logout_token(&t).await.unwrap_err(),
            TokenError::BadSignature
        );
    }

    #[tokio::test]
    async fn scalekit_access_token_without_iat_refused() {
        let mut v = verifier();
        let at = json!({ "iss": ISS, "aud": "api", "sub": "alice", "exp": NOW + 60 });
        assert!(
            v.access_token(&rs256(&at)).await.is_ok(),
            "iat optional by default"
        );
        v.access_token_requires_iat = true;
        assert_eq!(
            v.access_token(&rs256(&at)).await.unwrap_err(),
            TokenError::MissingClaim("iat")
        );
    }

    #[tokio::test]
    async fn jwt_access_tokens_of_our_issuer_are_validated() {
        let v = verifier();
        let at = json!({ "iss": ISS, "aud": "api", "sub": "alice", "exp": NOW + 60, "iat": NOW });
        assert_eq!(
            v.access_token(&rs256(&at)).await.expect("valid"),
            Some(at.as_object().expect("claims").clone())
        );
        assert_eq!(v.access_token("opaque-token").await.expect("opaque"), None);
        let expired = with(at.clone(), "exp", json!(NOW - 120));
        assert_eq!(
            v.access_token(&rs256(&expired)).await.unwrap_err(),
            TokenError::Expired
        );
        let wrong_aud = with(at.clone(), "aud", json!("other-api"));
        assert_eq!(
            v.access_token(&rs256(&wrong_aud)).await.unwrap_err(),
            TokenError::InvalidAudience
        );
        let forged = sign_rsa(&at, include_bytes!("testdata/rsa_other.pem"), Some("rsa1"));
        assert_eq!(
            v.access_token(&forged).await.unwrap_err(),
            TokenError::BadSignature
        );
    }

    fn api_claims() -> Value {
        json!({ "iss": ISS, "aud": "api", "sub": "alice", "exp": NOW + 60, "iat": NOW,
                "scope": "read", "client_id": CLIENT })
    }

    fn typed(c: &Value, typ: Option<&str>) -> String {
        let mut h = Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = Some("rsa1".into());
        h.typ = typ.map(str::to_owned);
        let key = EncodingKey::from_rsa_pem(include_bytes!("testdata/rsa.pem")).expect("key");
        encode(&h, c, &key).expect("sign")
    }

    async fn bearer(token: &str) -> Result<ClaimMap, VerifyError> {
        verifier()
            .bearer_token(token, false)
            .await
            .map(|(claims, _)| claims)
    }

    #[tokio::test]
    async fn accepts_bearer_tokens_typed_at_jwt_or_jwt_or_untyped_in_rs256_and_es256() {
        for typ in [
            Some("at+jwt"),
            Some("application/at+JWT"),
            Some("JWT"),
            None,
        ] {
            assert!(bearer(&typed(&api_claims(), typ)).await.is_ok(), "{typ:?}");
        }
        assert!(bearer(&es256(&api_claims())).await.is_ok());
        let several = with(api_claims(), "aud", json!(["other", "api"]));
        assert!(bearer(&rs256(&several)).await.is_ok());
    }

    #[tokio::test]
    async fn bearer_token_of_another_type_refused() {
        let t = typed(&api_claims(), Some("logout+jwt"));
        assert_eq!(bearer(&t).await.unwrap_err(), TokenError::UnexpectedType);
    }

    #[tokio::test]
    async fn bearer_token_that_is_an_id_or_logout_token_refused() {
        // Right issuer and audience, typed JWT or untyped, but an ID token's claims.
        for claim in ["nonce", "at_hash", "c_hash", "events"] {
            let c = with(api_claims(), claim, json!("x"));
            for typ in [Some("JWT"), None] {
                assert_eq!(
                    bearer(&typed(&c, typ)).await.unwrap_err(),
                    TokenError::UnexpectedType,
                    "{claim} {typ:?}"
                );
            }
        }
        // Typed at+jwt, the provider says it is an access token.
        let c = with(api_claims(), "nonce", json!("x"));
        assert!(bearer(&typed(&c, Some("at+jwt"))).await.is_ok());
    }

    #[tokio::test]
    async fn bearer_token_not_typed_at_jwt_refused_when_required() {
        let mut v = verifier();
        v.require_at_jwt = true;
        for typ in [Some("JWT"), None] {
            assert_eq!(
                v.bearer_token(&typed(&api_claims(), typ), false)
                    .await
                    .unwrap_err(),
                TokenError::UnexpectedType
            );
        }
        assert!(
            v.bearer_token(&typed(&api_claims(), Some("at+jwt")), false)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn bearer_token_bad_signature_none_and_hmac_refused() {
        let forged = sign_rsa(
            &api_claims(),
            include_bytes!("testdata/rsa_other.pem"),
            Some("rsa1"),
        );
        assert_eq!(bearer(&forged).await.unwrap_err(), TokenError::BadSignature);
        let none = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&api_claims()));
        assert_eq!(
            bearer(&none).await.unwrap_err(),
            TokenError::AlgorithmNotAllowed("none".into())
        );
        let n = include_str!("testdata/rsa_public_n.txt");
        let mut h = Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some("rsa1".into());
        let hmac =
            encode(&h, &api_claims(), &EncodingKey::from_secret(n.as_bytes())).expect("sign");
        assert_eq!(
            bearer(&hmac).await.unwrap_err(),
            TokenError::AlgorithmNotAllowed("HS256".into())
        );
    }

    #[tokio::test]
    async fn bearer_token_claim_rules_broken_and_missing_refused() {
        let cases = [
            (
                with(api_claims(), "iss", json!("https://evil.example.com")),
                TokenError::InvalidIssuer,
            ),
            (
                without(api_claims(), "iss"),
                TokenError::MissingClaim("iss"),
            ),
            // An ID token of this client is not an access token for the API.
            (
                with(api_claims(), "aud", json!(CLIENT)),
                TokenError::InvalidAudience,
            ),
            (
                without(api_claims(), "aud"),
                TokenError::MissingClaim("aud"),
            ),
            (
                with(api_claims(), "exp", json!(NOW - 61)),
                TokenError::Expired,
            ),
            (
                without(api_claims(), "exp"),
                TokenError::MissingClaim("exp"),
            ),
            (
                with(api_claims(), "iat", json!(NOW + 61)),
                TokenError::InvalidIssuedAt,
            ),
            (
                with(api_claims(), "nbf", json!(NOW + 61)),
                TokenError::NotYetValid,
            ),
            (
                without(api_claims(), "sub"),
                TokenError::MissingClaim("sub"),
            ),
            (
                with(api_claims(), "sub", json!("")),
                TokenError::MissingClaim("sub"),
            ),
            (
                with(api_claims(), "cnf", json!({"jkt": "abc"})),
                TokenError::SenderConstrained,
            ),
        ];
        for (c, want) in cases {
            assert_eq!(bearer(&rs256(&c)).await.unwrap_err(), want, "{c}");
        }
    }

    #[tokio::test]
    async fn bearer_token_malformed_or_oversized_refused() {
        assert_eq!(
            bearer("not-a-jwt").await.unwrap_err(),
            TokenError::Malformed
        );
        assert_eq!(bearer("a.b.c").await.unwrap_err(), TokenError::Malformed);
        let big = format!("{}.{}.x", "a".repeat(MAX_TOKEN_BYTES), "b");
        assert_eq!(
            bearer(&big).await.unwrap_err(),
            TokenError::TooLarge(MAX_TOKEN_BYTES)
        );
    }

    #[tokio::test]
    async fn token_with_a_critical_header_extension_refused() {
        let mut h = Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = Some("rsa1".into());
        h.crit = Some(vec!["exp-ext".into()]);
        let key = EncodingKey::from_rsa_pem(include_bytes!("testdata/rsa.pem")).expect("key");
        let t = encode(&h, &claims(), &key).expect("sign");
        assert_eq!(id(&t).await.unwrap_err(), TokenError::Malformed);
        // Present but null is present.
        let head = b64(&json!({"alg": "RS256", "kid": "rsa1", "crit": null}));
        let (_, rest) = rs256(&claims())
            .split_once('.')
            .map(|(h, r)| (h.to_string(), r.to_string()))
            .expect("jwt");
        let t = format!("{head}.{rest}");
        assert_eq!(id(&t).await.unwrap_err(), TokenError::Malformed);
    }

    /// WorkOS User Management's identity: the access token, checked as strictly as an
    /// ID token (no nonce: there is none in that flow).
    fn workos_claims() -> Value {
        json!({ "iss": ISS, "sub": "user_1", "sid": "session_1", "exp": NOW + 300, "iat": NOW })
    }

    #[tokio::test]
    async fn rp_workos_identity_access_token_checks() {
        let mut v = verifier();
        v.access_token_audience = None;
        v.issuer_aliases = vec![format!("{ISS}/user_management/{CLIENT}")];
        assert!(
            v.identity_access_token(&rs256(&workos_claims()))
                .await
                .is_ok()
        );
        let alias = with(
            workos_claims(),
            "iss",
            json!(format!("{ISS}/user_management/{CLIENT}")),
        );
        assert!(
            v.identity_access_token(&rs256(&alias)).await.is_ok(),
            "the client issuer"
        );
        let refused = [
            (
                with(workos_claims(), "iss", json!("https://evil.example")),
                TokenError::InvalidIssuer,
            ),
            (
                with(
                    workos_claims(),
                    "iss",
                    json!(format!("{ISS}/user_management/other")),
                ),
                TokenError::InvalidIssuer,
            ),
            (
                without(workos_claims(), "exp"),
                TokenError::MissingClaim("exp"),
            ),
            (
                without(workos_claims(), "iat"),
                TokenError::MissingClaim("iat"),
            ),
            (
                without(workos_claims(), "sub"),
                TokenError::MissingClaim("sub"),
            ),
            (
                with(workos_claims(), "sub", json!("")),
                TokenError::MissingClaim("sub"),
            ),
            (
                with(workos_claims(), "exp", json!(NOW - 3600)),
                TokenError::Expired,
            ),
            (
                with(workos_claims(), "nbf", json!(NOW + 3600)),
                TokenError::NotYetValid,
            ),
        ];
        for (claims, expected) in refused {
            assert_eq!(
                v.identity_access_token(&rs256(&claims)).await.unwrap_err(),
                expected,
                "{claims}"
            );
        }
        let none = format!(
            "{}.{}.",
            b64(&json!({"alg": "none"})),
            b64(&workos_claims())
        );
        assert!(matches!(
            v.identity_access_token(&none).await.unwrap_err(),
            VerifyError::Invalid(TokenError::AlgorithmNotAllowed(_))
        ));
    }

    #[tokio::test]
    async fn rp_id_token_sub_empty() {
        let t = rs256(&with(claims(), "sub", json!("")));
        assert_eq!(id(&t).await.unwrap_err(), TokenError::MissingClaim("sub"));
    }

    /// A header without `alg` names no algorithm to allow: refused before any key is
    /// looked up.
    #[tokio::test]
    async fn rp_id_token_alg_missing() {
        let signed = rs256(&claims());
        let rest = signed.split_once('.').expect("jwt").1;
        let t = format!("{}.{rest}", b64(&json!({ "kid": "rsa1", "typ": "JWT" })));
        assert_eq!(id(&t).await.unwrap_err(), TokenError::Malformed);
    }

    /// A signature that is not base64url is refused as malformed, not verified.
    #[tokio::test]
    async fn rp_id_token_signature_not_base64() {
        let signed = rs256(&claims());
        let (head, _) = signed.rsplit_once('.').expect("jwt");
        let t = format!("{head}.not*base64!");
        assert_eq!(id(&t).await.unwrap_err(), TokenError::Malformed);
    }

    /// A refreshed ID token may leave the nonce out, but must not change it.
    #[tokio::test]
    async fn rp_refresh_nonce_changed() {
        let before = Claims::new(claims().as_object().expect("obj").clone());
        let t = rs256(&with(claims(), "nonce", json!("n-2")));
        let err = verifier()
            .id_token(
                &t,
                IdTokenCheck::Refresh { previous: &before },
                TokenSource::Provider,
            )
            .await
            .unwrap_err();
        assert_eq!(err, TokenError::NonceMismatch);
    }

    #[tokio::test]
    async fn rp_backchannel_logout_token_nbf_in_future() {
        let t = with(logout_claims(), "nbf", json!(NOW + 3600));
        assert_eq!(logout(&t).await.unwrap_err(), TokenError::NotYetValid);
    }
}

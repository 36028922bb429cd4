//! Bearer access tokens for APIs (RFC 6750, with the JWT profile of RFC 9068): the
//! `Authorization` header read strictly, the token validated against the shared JWKS
//! cache (or, opaque, at the provider's introspection endpoint: RFC 7662), and a
//! bounded cache of validated tokens so that a repeated token costs a hash lookup
//! instead of a signature check or a call.

use std::sync::Arc;

use serde_json::Value;

use crate::auth::Auth;
use crate::jose::Claims;
use crate::jose::secret::AccessToken;

mod error;
mod header;
mod introspect;
mod part;

pub use error::BearerError;
pub(crate) use header::Scheme;
pub(crate) use part::Bearers;

/// A request authenticated by a bearer access token: its validated claims.
#[derive(Clone, Debug)]
pub struct BearerAuth {
    claims: Claims,
    scopes: Vec<String>,
    client_id: Option<String>,
    expires_at: i64,
    token: AccessToken,
    access: crate::session::Access,
    provider: Option<String>,
    /// The key the token is bound to (`cnf.jkt`, RFC 9449), if any.
    jkt: Option<String>,
    /// The token names a confirmation method (`cnf`, any member: `jkt`, mTLS's
    /// `x5t#S256`, ...): it is sender-constrained and never a bearer token.
    confirmed: bool,
}

impl BearerAuth {
    fn new(
        claims: serde_json::Map<String, Value>,
        text: Box<str>,
        token: &str,
        config: &crate::ProviderConfig,
    ) -> Self {
        let access = crate::provider::identity::access_for(config, &claims, None);
        let confirmed = claims.contains_key("cnf");
        let jkt = claims
            .get("cnf")
            .and_then(|c| c.get("jkt"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let scopes = match claims.get("scope").or_else(|| claims.get("scp")) {
            Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        let expires_at = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        let client_id = claims
            .get("client_id")
            .or_else(|| claims.get("azp"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        Self {
            claims: Claims::from_parts(&claims, text),
            scopes,
            client_id,
            expires_at,
            token: AccessToken::new(token),
            access,
            provider: config.id.clone(),
            jkt,
            confirmed,
        }
    }

    /// The id of the provider that issued the token (`None`: the one provider of a
    /// single-provider app).
    pub fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }

    /// The issuer of the token.
    pub fn iss(&self) -> &str {
        self.claims.iss()
    }

    /// The caller's organization, where the provider kind puts it (as
    /// [`crate::AuthSession::organization`]).
    pub fn organization(&self) -> Option<&str> {
        self.access.organization.as_deref()
    }

    /// The caller's roles (as [`crate::AuthSession::roles`]).
    pub fn roles(&self) -> &[String] {
        &self.access.roles
    }

    /// The caller's permissions (as [`crate::AuthSession::permissions`]).
    pub fn permissions(&self) -> &[String] {
        &self.access.permissions
    }

    /// Whether the caller has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.access.roles.iter().any(|r| r == role)
    }

    /// Whether the caller has `permission`.
    pub fn has_permission(&self, permission: &str) -> bool {
        self.access.permissions.iter().any(|p| p == permission)
    }

    /// The token's validated claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The subject: a user, or for a service's own token (client credentials) usually
    /// its client id.
    pub fn sub(&self) -> &str {
        self.claims.sub()
    }

    /// The client the token was issued to (`client_id`, else `azp`), if it says.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The granted scopes (`scope`, or `scp`).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().map(String::as_str)
    }

    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// `Ok` when the token grants every one of `scopes`, else
    /// [`BearerError::InsufficientScope`] (403, RFC 6750 `insufficient_scope`).
    pub fn require_scopes<S: AsRef<str>>(&self, scopes: &[S]) -> Result<(), BearerError> {
        if scopes.iter().all(|s| self.has_scope(s.as_ref())) {
            return Ok(());
        }
        Err(BearerError::InsufficientScope(
            scopes
                .iter()
                .map(AsRef::as_ref)
                .filter(|s| !self.has_scope(s))
                .map(str::to_owned)
                .collect(),
        ))
    }

    /// When the token expires.
    pub fn expires_at(&self) -> std::time::SystemTime {
        crate::clock::at_epoch_secs(self.expires_at)
    }

    /// The token itself (to call further APIs on the user's behalf).
    pub fn access_token(&self) -> &AccessToken {
        &self.token
    }
}

impl Auth {
    /// The bearer token of a request, from its `Authorization` header values:
    /// `Ok(None)` without an `Authorization` header, [`BearerError::Malformed`] for
    /// several headers or a credential that is not `Bearer <token68>` (RFC 6750 §2.1),
    /// `Ok(None)` for another scheme (Basic...).
    pub fn bearer_token<'a>(
        authorization: impl Iterator<Item = &'a [u8]>,
    ) -> Result<Option<&'a str>, BearerError> {
        Ok(match Self::access_credential(authorization)? {
            Some((Scheme::Bearer, token)) => Some(token),
            _ => None,
        })
    }

    /// Validates a bearer access token for this app's API (RFC 9068): signature by
    /// the provider's JWKS with an allowed algorithm, `iss`, `aud` naming one of the
    /// API audiences, `exp`/`nbf`/`iat` with the leeway, `sub`, and the required API
    /// scopes. A token validated before (and not expired) costs a hash lookup.
    pub async fn authenticate_bearer(&self, token: &str) -> Result<Arc<BearerAuth>, BearerError> {
        let result = self
            .0
            .bearers
            .check_bearer(&self.0.providers.all(), token)
            .await;
        crate::telemetry::bearer(BearerError::outcome(result.as_ref()));
        if let Err(e) = &result {
            self.emit(&crate::AuthEvent::BearerRefused(e));
            match e {
                BearerError::NotConfigured => tracing::error!(error = %e, "bearer token refused"),
                BearerError::Unavailable(_) => tracing::warn!(error = %e, "bearer token refused"),
                _ => tracing::debug!(error = %e, "bearer token refused"),
            }
        }
        result
    }

    /// Validates an access token presented with the `DPoP` scheme and its proof (RFC
    /// 9449 §7): the proof must be for this request (`method`, and `url` as the app is
    /// reached: `APP_URL`'s origin with the request's path), recent, unused, for this
    /// token (`ath`), and signed by the key the token is bound to (`cnf.jkt`). The
    /// token itself is judged as [`Auth::authenticate_bearer`] does. `proof` is the
    /// request's one `DPoP` header (`None` when it has none, or several).
    pub async fn authenticate_dpop(
        &self,
        token: &str,
        proof: Option<&str>,
        method: &str,
        url: &str,
    ) -> Result<Arc<BearerAuth>, BearerError> {
        let result = self
            .0
            .bearers
            .check_dpop(&self.0.providers.all(), token, proof, method, url)
            .await;
        crate::telemetry::bearer(BearerError::outcome(result.as_ref()));
        if let Err(e) = &result {
            self.emit(&crate::AuthEvent::BearerRefused(e));
            tracing::debug!(error = %e, "DPoP-bound token refused");
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use http::header::WWW_AUTHENTICATE;

    use super::header::MAX_AUTHORIZATION_LEN;
    use super::part::BearerCache;
    use super::*;
    use crate::jose::TokenError;
    use std::sync::atomic::{AtomicI64, Ordering};

    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    use crate::{AuthConfig, AuthConfigBuilder, AuthSession, Clock, ProviderEndpoints};

    const NOW: i64 = 1_800_000_000;
    const ISS: &str = "http://127.0.0.1:9";

    /// An `Auth` whose JWKS (the test keys) is served on loopback, with a clock the
    /// test moves.
    async fn auth(
        now: Arc<AtomicI64>,
        tweak: impl FnOnce(AuthConfigBuilder) -> AuthConfigBuilder,
    ) -> Auth {
        let jwks = include_str!("../jose/testdata/jwks.json");
        let app =
            axum::Router::new().route("/jwks", axum::routing::get(move || async move { jwks }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let url = |p: &str| url::Url::parse(&format!("{base}{p}")).expect("url");
        let config = AuthConfig::builder(ISS, "client", "http://127.0.0.1:3000")
            .with_endpoints(ProviderEndpoints::new(
                url("/authorize"),
                url("/token"),
                url("/jwks"),
            ))
            .with_clock(Clock::from_secs(move || now.load(Ordering::SeqCst)));
        Auth::discover(tweak(config).build().expect("config"))
            .await
            .expect("auth")
    }

    fn token(scope: &str) -> String {
        let mut h = Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = Some("rsa1".into());
        h.typ = Some("at+jwt".into());
        let claims = json!({ "iss": ISS, "aud": "https://api.test", "sub": "alice",
                             "exp": NOW + 300, "iat": NOW, "scope": scope });
        let key =
            EncodingKey::from_rsa_pem(include_bytes!("../jose/testdata/rsa.pem")).expect("key");
        encode(&h, &claims, &key).expect("sign")
    }

    #[tokio::test]
    async fn repeated_bearer_token_is_served_from_the_cache_until_exp() {
        let now = Arc::new(AtomicI64::new(NOW));
        let auth = auth(now.clone(), |b| b.with_api_audience("https://api.test")).await;
        let t = token("read");
        let first = auth.authenticate_bearer(&t).await.expect("valid");
        let again = auth.authenticate_bearer(&t).await.expect("valid");
        assert!(Arc::ptr_eq(&first, &again), "the second use is a cache hit");
        assert_eq!(first.sub(), "alice");
        // At `exp` the cached entry is no longer used: the token is validated again
        // (accepted within the leeway, a new entry), then refused past the leeway.
        now.store(NOW + 300, Ordering::SeqCst);
        let later = auth.authenticate_bearer(&t).await.expect("within leeway");
        assert!(!Arc::ptr_eq(&first, &later));
        now.store(NOW + 361, Ordering::SeqCst);
        assert_debug_eq!(
            auth.authenticate_bearer(&t).await.unwrap_err(),
            BearerError::Invalid(TokenError::Expired)
        );
    }

    /// `auth_bearer_total` counts each token judged by its outcome (`accepted`, or the
    /// RFC 6750 error code), a cached acceptance included; loading the provider's keys
    /// is one `jwks` request in `auth_provider_request_duration_seconds`.
    #[test]
    fn bearer_tokens_are_counted_by_outcome() {
        use crate::telemetry::testing::recorded;
        recorded(|metrics| async move {
            let now = Arc::new(AtomicI64::new(NOW));
            let auth = auth(now, |b| {
                b.with_api_audience("https://api.test")
                    .with_required_api_scopes(["write"])
            })
            .await;
            let start = metrics.take();
            let jwks = [("provider", "default"), ("endpoint", "jwks")];
            assert_eq!(
                start.samples("auth_provider_request_duration_seconds", &jwks),
                1
            );
            let t = token("read write");
            auth.authenticate_bearer(&t).await.expect("valid");
            auth.authenticate_bearer(&t).await.expect("cached");
            auth.authenticate_bearer("not-a-jwt").await.unwrap_err();
            auth.authenticate_bearer(&token("read")).await.unwrap_err();
            let seen = metrics.take();
            let bearer = |outcome| seen.counter("auth_bearer_total", &[("outcome", outcome)]);
            assert_eq!(bearer("accepted"), 2, "{:?}", seen.counters());
            assert_eq!(bearer("invalid_token"), 1, "{:?}", seen.counters());
            assert_eq!(bearer("insufficient_scope"), 1, "{:?}", seen.counters());
        });
    }

    /// An access token bound to `key` (`cnf.jkt`).
    fn bound_token(key: &crate::DpopKey) -> String {
        let mut h = Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = Some("rsa1".into());
        h.typ = Some("at+jwt".into());
        let claims = json!({ "iss": ISS, "aud": "https://api.test", "sub": "alice",
                             "exp": NOW + 300, "iat": NOW, "scope": "read",
                             "cnf": { "jkt": key.thumbprint() } });
        let k = EncodingKey::from_rsa_pem(include_bytes!("../jose/testdata/rsa.pem")).expect("key");
        encode(&h, &claims, &k).expect("sign")
    }

    const API_URL: &str = "https://app.example.com/api/me";

    async fn dpop_auth() -> Auth {
        auth(Arc::new(AtomicI64::new(NOW)), |b| {
            b.with_api_audience("https://api.test")
        })
        .await
    }

    fn proof(key: &crate::DpopKey, method: &str, url: &str, token: &str) -> String {
        key.proof(method, url, None, Some(token), NOW)
    }

    #[tokio::test]
    async fn dpop_bound_token_is_accepted_with_its_proof() {
        let auth = dpop_auth().await;
        let key = crate::DpopKey::generate();
        let t = bound_token(&key);
        let caller = auth
            .authenticate_dpop(&t, Some(&proof(&key, "GET", API_URL, &t)), "GET", API_URL)
            .await
            .expect("bound token with its proof");
        assert_eq!(caller.sub(), "alice");
        // The query is not part of `htu`.
        let p = proof(&key, "GET", API_URL, &t);
        let with_query = format!("{API_URL}?page=2");
        assert!(
            auth.authenticate_dpop(&t, Some(&p), "GET", &with_query)
                .await
                .is_ok()
        );
    }

    /// What `Auth::authorize` adds to an API request is what `authenticate_dpop`
    /// accepts, at the injected clock's time (the test clock is years from the system
    /// clock: a proof dated by the system clock would be refused as stale).
    #[tokio::test]
    async fn authorize_adds_a_dpop_proof_dated_by_the_configured_clock() {
        let auth = dpop_auth().await;
        let key = crate::DpopKey::generate();
        let t = bound_token(&key);
        let session = AuthSession {
            access_token: crate::jose::secret::AccessToken::new(t.clone()),
            dpop_key: Some(key),
            ..AuthSession::bare()
        };
        let mut request = http::Request::get(format!("{API_URL}?page=2"))
            .body(())
            .expect("request");
        auth.authorize(&session, &mut request);
        let headers = request.headers();
        assert_eq!(headers[http::header::AUTHORIZATION], format!("DPoP {t}"));
        assert!(headers[http::header::AUTHORIZATION].is_sensitive());
        let proof = headers["dpop"].to_str().expect("ascii proof");
        let caller = auth
            .authenticate_dpop(&t, Some(proof), "GET", API_URL)
            .await
            .expect("the proof authorize made");
        assert_eq!(caller.sub(), "alice");
        // An unbound session gets a plain bearer header and no proof.
        let plain = AuthSession {
            access_token: crate::jose::secret::AccessToken::new("opaque"),
            ..AuthSession::bare()
        };
        let mut request = http::Request::get(API_URL).body(()).expect("request");
        auth.authorize(&plain, &mut request);
        assert_eq!(
            request.headers()[http::header::AUTHORIZATION],
            "Bearer opaque"
        );
        assert!(request.headers().get("dpop").is_none());
    }

    #[tokio::test]
    async fn rp_dpop_bound_token_presented_as_bearer_is_refused() {
        let auth = dpop_auth().await;
        let key = crate::DpopKey::generate();
        let t = bound_token(&key);
        let refused = BearerError::Invalid(TokenError::SenderConstrained);
        assert_debug_eq!(&auth.authenticate_bearer(&t).await.unwrap_err(), &refused);
        // Also once a DPoP presentation put the token in the cache.
        let p = proof(&key, "GET", API_URL, &t);
        auth.authenticate_dpop(&t, Some(&p), "GET", API_URL)
            .await
            .expect("with its proof");
        assert_debug_eq!(&auth.authenticate_bearer(&t).await.unwrap_err(), &refused);
    }

    #[tokio::test]
    async fn rp_dpop_proof_for_another_url_or_method_is_refused() {
        let auth = dpop_auth().await;
        let key = crate::DpopKey::generate();
        let t = bound_token(&key);
        let other_url = proof(&key, "GET", "https://app.example.com/api/admin", &t);
        assert_debug_eq!(
            auth.authenticate_dpop(&t, Some(&other_url), "GET", API_URL)
                .await
                .unwrap_err(),
            BearerError::InvalidProof(crate::DpopProofError::UrlMismatch)
        );
        let other_host = proof(&key, "GET", "https://evil.example.com/api/me", &t);
        assert_debug_eq!(
            auth.authenticate_dpop(&t, Some(&other_host), "GET", API_URL)
                .await
                .unwrap_err(),
            BearerError::InvalidProof(crate::DpopProofError::UrlMismatch)
        );
        let post = proof(&key, "POST", API_URL, &t);
        assert_debug_eq!(
            auth.authenticate_dpop(&t, Some(&post), "GET", API_URL)
                .await
                .unwrap_err(),
            BearerError::InvalidProof(crate::DpopProofError::MethodMismatch)
        );
    }

    #[tokio::test]
    async fn rp_dpop_replayed_proof_is_refused() {
        let auth = dpop_auth().await;
        let key = crate::DpopKey::generate();
        let t = bound_token(&key);
        let p = proof(&key, "GET", API_URL, &t);
        auth.authenticate_dpop(&t, Some(&p), "GET", API_URL)
            .await
            .expect("first use");
        assert_debug_eq!(
            auth.authenticate_dpop(&t, Some(&p), "GET", API_URL)
                .await
                .unwrap_err(),
            BearerError::InvalidProof(crate::DpopProofError::Replayed)
        );
    }

    /// An access token bound by another confirmation method than DPoP: mTLS's
    /// certificate thumbprint (`cnf.x5t#S256`, RFC 8705), and no `jkt`.
    fn mtls_bound_token() -> String {
        let mut h = Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = Some("rsa1".into());
        h.typ = Some("at+jwt".into());
        let claims = json!({ "iss": ISS, "aud": "https://api.test", "sub": "alice",
                             "exp": NOW + 300, "iat": NOW, "scope": "read",
                             "cnf": { "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" } });
        let k = EncodingKey::from_rsa_pem(include_bytes!("../jose/testdata/rsa.pem")).expect("key");
        encode(&h, &claims, &k).expect("sign")
    }

    /// A sender-constrained token never becomes a bearer token: sent with a DPoP proof
    /// of any key it is refused and not cached, and then as `Bearer` refused too (before,
    /// the DPoP presentation cached it and the bearer check refused only a `jkt`).
    #[tokio::test]
    async fn rp_token_bound_by_another_method_refused_as_dpop_then_as_bearer() {
        let auth = dpop_auth().await;
        let key = crate::DpopKey::generate();
        let t = mtls_bound_token();
        let p = proof(&key, "GET", API_URL, &t);
        assert_debug_eq!(
            auth.authenticate_dpop(&t, Some(&p), "GET", API_URL)
                .await
                .unwrap_err(),
            BearerError::Invalid(TokenError::KeyBindingMismatch)
        );
        assert_eq!(
            auth.0.bearers.cached(),
            0,
            "a token whose binding failed is not cached"
        );
        assert_debug_eq!(
            auth.authenticate_bearer(&t).await.unwrap_err(),
            BearerError::Invalid(TokenError::SenderConstrained)
        );
        // The same with a `jkt`-bound token: once accepted with its proof (and cached),
        // it is still refused as a bearer token.
        let bound = bound_token(&key);
        let p = proof(&key, "GET", API_URL, &bound);
        auth.authenticate_dpop(&bound, Some(&p), "GET", API_URL)
            .await
            .expect("with its proof");
        assert_eq!(auth.0.bearers.cached(), 1);
        assert_debug_eq!(
            auth.authenticate_bearer(&bound).await.unwrap_err(),
            BearerError::Invalid(TokenError::SenderConstrained)
        );
    }

    /// Proofs of tokens that are not valid are never recorded as used, so a flood of
    /// self-signed proofs cannot fill the record and lock real clients out (before, a
    /// proof was recorded before its token was checked, and a full record refused every
    /// proof).
    #[tokio::test]
    async fn rp_dpop_proofs_of_invalid_tokens_are_never_recorded() {
        let auth = dpop_auth().await;
        let junk_key = crate::DpopKey::generate();
        for i in 0..1_000 {
            let junk = format!("junk.{i}.token");
            let p = proof(&junk_key, "GET", API_URL, &junk);
            assert!(
                auth.authenticate_dpop(&junk, Some(&p), "GET", API_URL)
                    .await
                    .is_err()
            );
        }
        // A valid token with another key's proof: refused, and not recorded either.
        let key = crate::DpopKey::generate();
        let t = bound_token(&key);
        let stolen = proof(&junk_key, "GET", API_URL, &t);
        assert!(
            auth.authenticate_dpop(&t, Some(&stolen), "GET", API_URL)
                .await
                .is_err()
        );
        assert_eq!(auth.0.bearers.proofs_recorded(), 0);
        let p = proof(&key, "GET", API_URL, &t);
        auth.authenticate_dpop(&t, Some(&p), "GET", API_URL)
            .await
            .expect("a valid call");
        assert_eq!(auth.0.bearers.proofs_recorded(), 1);
    }

    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn rp_dpop_proof_replayed_at_another_instance_is_refused() {
        let server = provider_harness::RedisServer::start();
        let shared = |b: AuthConfigBuilder| {
            b.with_api_audience("https://api.test")
                .with_redis_url(server.url())
                .with_app_secret_hex(&"ab".repeat(32))
        };
        let one = auth(Arc::new(AtomicI64::new(NOW)), shared).await;
        let two = auth(Arc::new(AtomicI64::new(NOW)), shared).await;
        let key = crate::DpopKey::generate();
        let t = bound_token(&key);
        let p = proof(&key, "GET", API_URL, &t);
        one.authenticate_dpop(&t, Some(&p), "GET", API_URL)
            .await
            .expect("first use, on one instance");
        assert_debug_eq!(
            two.authenticate_dpop(&t, Some(&p), "GET", API_URL)
                .await
                .unwrap_err(),
            BearerError::InvalidProof(crate::DpopProofError::Replayed)
        );
    }

    #[tokio::test]
    async fn rp_dpop_token_bound_to_another_key_is_refused() {
        let auth = dpop_auth().await;
        let (holder, thief) = (crate::DpopKey::generate(), crate::DpopKey::generate());
        let t = bound_token(&holder);
        let p = proof(&thief, "GET", API_URL, &t);
        assert_debug_eq!(
            auth.authenticate_dpop(&t, Some(&p), "GET", API_URL)
                .await
                .unwrap_err(),
            BearerError::Invalid(TokenError::KeyBindingMismatch)
        );
        // An unbound token presented with a proof is not bound to it either.
        let unbound = token("read");
        let p = proof(&holder, "GET", API_URL, &unbound);
        assert_debug_eq!(
            auth.authenticate_dpop(&unbound, Some(&p), "GET", API_URL)
                .await
                .unwrap_err(),
            BearerError::Invalid(TokenError::KeyBindingMismatch)
        );
    }

    #[tokio::test]
    async fn rp_dpop_proof_for_another_token_stale_or_unsigned_is_refused() {
        let auth = dpop_auth().await;
        let key = crate::DpopKey::generate();
        let t = bound_token(&key);
        let other_token = proof(&key, "GET", API_URL, "another-token");
        assert_debug_eq!(
            auth.authenticate_dpop(&t, Some(&other_token), "GET", API_URL)
                .await
                .unwrap_err(),
            BearerError::InvalidProof(crate::DpopProofError::AccessTokenMismatch)
        );
        let stale = key.proof("GET", API_URL, None, Some(&t), NOW - 600);
        assert_debug_eq!(
            auth.authenticate_dpop(&t, Some(&stale), "GET", API_URL)
                .await
                .unwrap_err(),
            BearerError::InvalidProof(crate::DpopProofError::Stale)
        );
        let mut h = Header::new(jsonwebtoken::Algorithm::HS256);
        h.typ = Some("dpop+jwt".into());
        let hmac = encode(
            &h,
            &json!({ "htm": "GET", "htu": API_URL, "iat": NOW, "jti": "j" }),
            &EncodingKey::from_secret(b"secret"),
        )
        .expect("sign");
        assert_debug_eq!(
            auth.authenticate_dpop(&t, Some(&hmac), "GET", API_URL)
                .await
                .unwrap_err(),
            BearerError::InvalidProof(crate::DpopProofError::Malformed)
        );
        // One signature character changed (well inside, not a padding bit).
        let mut forged = proof(&key, "GET", API_URL, &t).into_bytes();
        let i = forged.len() - 10;
        forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("ascii");
        let err = auth
            .authenticate_dpop(&t, Some(&forged), "GET", API_URL)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                BearerError::InvalidProof(
                    crate::DpopProofError::BadSignature | crate::DpopProofError::Malformed
                )
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn validate_id_token_applies_the_callback_rules() {
        let auth = auth(Arc::new(AtomicI64::new(NOW)), |b| b).await;
        let mut h = Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = Some("rsa1".into());
        let claims = json!({ "iss": ISS, "aud": "client", "sub": "alice", "exp": NOW + 300,
                             "iat": NOW, "nonce": "n-1", "sid": "s-1" });
        let key =
            EncodingKey::from_rsa_pem(include_bytes!("../jose/testdata/rsa.pem")).expect("key");
        let t = encode(&h, &claims, &key).expect("sign");
        let c = auth.validate_id_token(&t, "n-1").await.expect("valid");
        assert_eq!((c.sub(), c.sid()), ("alice", Some("s-1")));
        assert_eq!(
            auth.validate_id_token(&t, "n-2").await.unwrap_err(),
            TokenError::NonceMismatch
        );
        // An access token for the API is not an ID token of this client.
        assert_eq!(
            auth.validate_id_token(&token("read"), "n-1")
                .await
                .unwrap_err(),
            TokenError::InvalidAudience
        );
    }

    #[tokio::test]
    async fn bearer_tokens_refused_without_a_configured_api_audience() {
        let auth = auth(Arc::new(AtomicI64::new(NOW)), |b| b).await;
        assert_debug_eq!(
            auth.authenticate_bearer(&token("read")).await.unwrap_err(),
            BearerError::NotConfigured
        );
    }

    #[tokio::test]
    async fn bearer_token_without_a_required_scope_refused_even_when_cached() {
        let auth = auth(Arc::new(AtomicI64::new(NOW)), |b| {
            b.with_api_audience("https://api.test")
                .with_required_api_scopes(["read", "write"])
        })
        .await;
        let t = token("read");
        for _ in 0..2 {
            assert_debug_eq!(
                auth.authenticate_bearer(&t).await.unwrap_err(),
                BearerError::InsufficientScope(vec!["write".into()])
            );
        }
        assert!(auth.authenticate_bearer(&token("write read")).await.is_ok());
    }

    #[tokio::test]
    async fn bearer_token_for_another_audience_refused() {
        let auth = auth(Arc::new(AtomicI64::new(NOW)), |b| {
            b.with_api_audience("https://other.test")
        })
        .await;
        assert_debug_eq!(
            auth.authenticate_bearer(&token("read")).await.unwrap_err(),
            BearerError::Invalid(TokenError::InvalidAudience)
        );
    }

    fn header(v: &str) -> Result<Option<&str>, BearerError> {
        Auth::bearer_token(std::iter::once(v.as_bytes()))
    }

    #[test]
    fn reads_a_bearer_credential_in_any_case() {
        assert_debug_eq!(header("Bearer abc.def-_~+/=="), Ok(Some("abc.def-_~+/==")));
        assert_debug_eq!(header("bearer  abc"), Ok(Some("abc")));
        assert_debug_eq!(header("Basic dXNlcjpwYXNz"), Ok(None));
        assert_debug_eq!(Auth::bearer_token(std::iter::empty()), Ok(None));
    }

    #[test]
    fn malformed_bearer_credentials_refused() {
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a\"b",
            "Bearer ===",
            "Bearer ä",
        ] {
            assert_debug_eq!(header(bad), Err(BearerError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn several_authorization_headers_refused() {
        let two = [b"Bearer a".as_slice(), b"Bearer b".as_slice()];
        assert_debug_eq!(
            Auth::bearer_token(two.into_iter()),
            Err(BearerError::Malformed)
        );
    }

    #[test]
    fn oversized_authorization_header_refused() {
        let big = format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION_LEN));
        assert_debug_eq!(header(&big), Err(BearerError::Malformed));
    }

    fn config() -> AuthConfig {
        AuthConfig::builder("https://id.example.com", "c", "https://app.example.com")
            .build()
            .expect("config")
    }

    fn auth_with(exp: i64, scope: Value) -> Arc<BearerAuth> {
        let claims = json!({ "sub": "alice", "exp": exp, "scope": scope });
        Arc::new(BearerAuth::new(
            claims.as_object().expect("o").clone(),
            claims.to_string().into(),
            "tok",
            config().first(),
        ))
    }

    #[test]
    fn bearer_callers_have_organization_roles_and_permissions() {
        let claims = json!({ "sub": "svc", "org_id": "org_1", "roles": ["admin"],
                             "permissions": ["reports:read"] });
        let b = BearerAuth::new(
            claims.as_object().expect("o").clone(),
            claims.to_string().into(),
            "t",
            config().first(),
        );
        assert_eq!(b.organization(), Some("org_1"));
        assert!(b.has_role("admin") && !b.has_role("owner"));
        assert!(b.has_permission("reports:read"));
    }

    #[test]
    fn reads_scopes_from_scope_or_scp() {
        let a = auth_with(10, "read write".into());
        assert!(a.has_scope("read") && a.has_scope("write") && !a.has_scope("admin"));
        let claims = json!({ "scp": ["x", "y"] });
        let b = BearerAuth::new(
            claims.as_object().expect("o").clone(),
            claims.to_string().into(),
            "t",
            config().first(),
        );
        assert_eq!(b.scopes().collect::<Vec<_>>(), ["x", "y"]);
        assert_debug_eq!(
            a.require_scopes(&["read", "admin"]),
            Err(BearerError::InsufficientScope(vec!["admin".into()]))
        );
    }

    #[test]
    fn cache_never_returns_a_token_past_its_exp() {
        let cache = BearerCache::new(10);
        cache.insert([1; 32], auth_with(100, "".into()), 0, i64::MAX);
        assert!(cache.get(&[1; 32], 99).is_some());
        assert!(cache.get(&[1; 32], 100).is_none());
        assert!(cache.get(&[2; 32], 0).is_none());
    }

    #[test]
    fn cache_stays_within_its_capacity() {
        let cache = BearerCache::new(8);
        for i in 0..100u8 {
            cache.insert([i; 32], auth_with(1_000, "".into()), 0, i64::MAX);
            assert!(cache.len() <= 8);
        }
        // Expired entries go first.
        let cache = BearerCache::new(2);
        cache.insert([1; 32], auth_with(5, "".into()), 0, i64::MAX);
        cache.insert([2; 32], auth_with(50, "".into()), 0, i64::MAX);
        cache.insert([3; 32], auth_with(50, "".into()), 10, i64::MAX);
        assert!(cache.get(&[2; 32], 10).is_some() && cache.get(&[3; 32], 10).is_some());
        let off = BearerCache::new(0);
        off.insert([1; 32], auth_with(50, "".into()), 0, i64::MAX);
        assert!(off.get(&[1; 32], 0).is_none());
    }

    #[test]
    fn responses_never_echo_text_from_the_token() {
        let hostile = "none\"\r\nX-Injected: 1 é";
        for e in [
            TokenError::AlgorithmNotAllowed(hostile.into()),
            TokenError::UnknownKey(Some(hostile.into())),
        ] {
            let r = BearerError::Invalid(e).to_response();
            let challenge = r.headers()[WWW_AUTHENTICATE].to_str().expect("ascii");
            assert!(
                !challenge.contains("none") && !challenge.contains("Injected"),
                "{challenge}"
            );
            assert!(!r.body().contains("Injected"), "{}", r.body());
        }
    }

    #[test]
    fn responses_follow_rfc_6750() {
        let r = BearerError::Missing.to_response();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[WWW_AUTHENTICATE], "Bearer");
        let r = BearerError::Invalid(TokenError::Expired).to_response();
        assert_eq!(r.status(), 401);
        let challenge = r.headers()[WWW_AUTHENTICATE].to_str().expect("ascii");
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{challenge}"
        );
        let r = BearerError::InsufficientScope(vec!["a".into(), "b".into()]).to_response();
        assert_eq!(r.status(), 403);
        assert_eq!(
            r.headers()[WWW_AUTHENTICATE],
            "Bearer error=\"insufficient_scope\", scope=\"a b\""
        );
        assert_eq!(BearerError::Malformed.to_response().status(), 400);
        assert_eq!(BearerError::NotConfigured.to_response().status(), 500);
        assert_eq!(
            BearerError::Unavailable(crate::Outage::NotDiscovered)
                .to_response()
                .status(),
            503
        );
    }
}

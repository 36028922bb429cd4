//! One JWKS cache for every token kind: keys are fetched at start, refetched when a
//! token names an unknown `kid` (at most once per cooldown, except for tokens straight
//! from the provider's token endpoint), and refetched once older than the key set's
//! lifetime (its `Cache-Control: max-age`, clamped to [5 s, 24 h], 10 minutes without
//! one), so a key the provider removed stops working (OIDC Core §10.1.1). Only one
//! fetch is in flight; a refresh before the lifetime ends runs in the background.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::Jwk;
use serde_json::Value;

use super::{Algorithm, JwksError, TokenError, VerifyError};
use crate::http_client::HttpClient;

#[derive(Clone)]
pub(crate) struct CachedKey {
    kid: Option<String>,
    alg: Option<String>,
    kty: String,
    crv: Option<String>,
    pub(crate) key: Arc<DecodingKey>,
}

/// The lifetime of a key set whose response says nothing (OIDC Core §10.1.1 leaves it
/// to the RP; Google, Entra and Okta send a `max-age` of hours).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);
const MIN_LIFETIME: Duration = Duration::from_secs(5);
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The lifetime of a fetched key set, from its response's `Cache-Control`.
pub(crate) fn key_set_lifetime(headers: &http::HeaderMap) -> Duration {
    let mut lifetime = None;
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            if directive == "no-store" || directive == "no-cache" {
                return MIN_LIFETIME;
            }
            if let Some(secs) = directive.strip_prefix("max-age=") {
                let secs = secs.trim_matches('"').parse::<u64>().unwrap_or(0);
                lifetime = Some(Duration::from_secs(secs));
            }
        }
    }
    lifetime
        .unwrap_or(DEFAULT_LIFETIME)
        .clamp(MIN_LIFETIME, MAX_LIFETIME)
}

/// Why keys are looked up: a token that came straight from the provider's token
/// endpoint (over TLS, in answer to our request) may cause a refetch at any time; a
/// token that anyone can send (bearer, logout) only once per cooldown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenSource {
    /// From the token endpoint (ID tokens at sign-in and refresh).
    Provider,
    /// From a request (bearer tokens, logout tokens).
    Request,
}

#[derive(Default)]
struct KeySet {
    keys: Vec<CachedKey>,
    /// When the keys stop being trusted without a refetch, and when a background
    /// refresh starts (four fifths into the lifetime).
    expires_at: Option<Instant>,
    refresh_at: Option<Instant>,
    /// When a fetch caused by a token with an unknown `kid` last failed to find it:
    /// such fetches are at most one per cooldown. The fetch at start and fetches that
    /// found the key do not count, so a rotation is followed at once, even just after
    /// start-up.
    miss_fetched_at: Option<Instant>,
    generation: u64,
    /// Why the last fetch failed, if it did: with no matching key, a token cannot be
    /// judged now (the provider is down), which is not the same as a bad token.
    last_error: Option<JwksError>,
}

pub(crate) struct JwksCache {
    http: HttpClient,
    uri: String,
    cooldown: Duration,
    set: Arc<RwLock<KeySet>>,
    fetch: Arc<tokio::sync::Mutex<()>>,
}

/// What a lookup found.
struct Lookup {
    found: Vec<Arc<DecodingKey>>,
    generation: u64,
    /// An unknown-`kid` fetch (or a failed one) happened within the cooldown.
    in_cooldown: bool,
    /// The last fetch failed, within the cooldown.
    failed_recently: bool,
    /// The keys are past their lifetime (or were never fetched).
    expired: bool,
    /// The keys are due for a background refresh.
    refresh_due: bool,
}

impl Lookup {
    /// Tokens anyone can send wait out the cooldown: after an unknown-`kid` miss for a
    /// live set, after a failed fetch for an expired one.
    fn must_wait(&self, source: TokenSource) -> bool {
        let cooling = if self.expired {
            self.failed_recently
        } else {
            self.in_cooldown
        };
        cooling && source == TokenSource::Request
    }
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    pub(crate) fn new(http: HttpClient, uri: String, cooldown: Duration) -> Self {
        Self {
            http,
            uri,
            cooldown,
            set: Arc::new(RwLock::new(KeySet::default())),
            fetch: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// A cache already holding `keys`, fetched just now (tests).
    #[cfg(test)]
    pub(crate) fn preloaded(http: HttpClient, keys: Vec<CachedKey>) -> Self {
        let cache = Self::new(
            http,
            // Port 0: a fetch fails at once, whatever runs on the machine.
            "http://127.0.0.1:0/jwks".into(),
            Duration::from_secs(3600),
        );
        {
            let mut set = cache.set.write().unwrap_or_else(|p| p.into_inner());
            set.keys = keys;
            set.miss_fetched_at = Some(Instant::now());
            set.expires_at = Some(Instant::now() + MAX_LIFETIME);
            set.refresh_at = set.expires_at;
        }
        cache
    }

    /// Keys that may have signed a token with this `kid` and algorithm, within the key
    /// set's lifetime. Refetches the set when it is past its lifetime, or when none
    /// match (unless an unknown `kid` already caused a fetch within the cooldown and the
    /// token is not from the provider's token endpoint); refreshes it in the background
    /// when it nears the end of its lifetime.
    pub(crate) async fn keys_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        source: TokenSource,
    ) -> Result<Vec<Arc<DecodingKey>>, VerifyError> {
        let seen = self.lookup(kid, alg);
        if !seen.expired && !seen.found.is_empty() {
            if seen.refresh_due {
                self.refresh_in_background();
            }
            return Ok(seen.found);
        }
        if seen.must_wait(source) {
            return Err(self.no_key(kid));
        }
        let _guard = self.fetch.lock().await;
        // Another request may have fetched the set while we waited; and a miss fetched
        // between our look and the lock (whose cooldown is recorded before the lock is
        // released) holds for us too, or a request that looked after that fetch but
        // before its cooldown was recorded would fetch a second time.
        let now = self.lookup(kid, alg);
        if now.generation != seen.generation || now.must_wait(source) {
            return if now.found.is_empty() || now.expired {
                Err(self.no_key(kid))
            } else {
                Ok(now.found)
            };
        }
        let fetched = refetch(&self.http, &self.uri, &self.set).await;
        let after = self.lookup(kid, alg);
        if fetched.is_err() || after.found.is_empty() {
            // Only a fetch that did not find the key starts the cooldown: a real
            // rotation is followed every time, and a `kid` that never resolves costs one
            // fetch per cooldown.
            self.set
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .miss_fetched_at = Some(Instant::now());
        }
        fetched?;
        if after.found.is_empty() || after.expired {
            Err(self.no_key(kid))
        } else {
            Ok(after.found)
        }
    }

    /// Starts a refetch in the background unless one is in flight; requests go on
    /// with the current keys, which are still within their lifetime.
    fn refresh_in_background(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(guard) = Arc::clone(&self.fetch).try_lock_owned() else {
            return;
        };
        let (http, uri, set) = (self.http.clone(), self.uri.clone(), Arc::clone(&self.set));
        runtime.spawn(async move {
            let _guard = guard;
            let due = set
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .refresh_at
                .is_none_or(|t| t <= Instant::now());
            if due {
                let _ = refetch(&http, &uri, &set).await;
            }
        });
    }

    /// How much longer the current keys are trusted without a refetch: a result
    /// derived from them (a validated bearer token) may be kept this long at most.
    pub(crate) fn remaining_lifetime(&self) -> Duration {
        self.set
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .expires_at
            .map_or(Duration::ZERO, |t| {
                t.saturating_duration_since(Instant::now())
            })
    }

    /// No key matches: the token names an unknown key, or, when the last fetch failed,
    /// the keys cannot be known now.
    fn no_key(&self, kid: Option<&str>) -> VerifyError {
        let set = self.set.read().unwrap_or_else(|p| p.into_inner());
        match &set.last_error {
            Some(e) => VerifyError::KeysUnavailable(e.clone()),
            None => VerifyError::Invalid(TokenError::UnknownKey(kid.map(str::to_owned))),
        }
    }

    /// The matching keys and the state of the set.
    fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Lookup {
        let set = self.set.read().unwrap_or_else(|p| p.into_inner());
        let (kty, crv) = alg.key_type();
        let found = set
            .keys
            .iter()
            .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
            .filter(|k| k.kty == kty && (crv.is_none() || k.crv.as_deref() == crv))
            .filter(|k| k.alg.as_deref().is_none_or(|a| a == alg.as_str()))
            .map(|k| Arc::clone(&k.key))
            .collect();
        let now = Instant::now();
        let in_cooldown = set
            .miss_fetched_at
            .is_some_and(|t| t.elapsed() < self.cooldown);
        Lookup {
            found,
            generation: set.generation,
            in_cooldown,
            failed_recently: in_cooldown && set.last_error.is_some(),
            expired: set.expires_at.is_none_or(|t| t <= now),
            refresh_due: set.refresh_at.is_none_or(|t| t <= now),
        }
    }

    /// Fetches the set now (startup). Holds no lock across I/O but the single-fetch
    /// mutex.
    pub(crate) async fn refetch(&self) -> Result<usize, JwksError> {
        refetch(&self.http, &self.uri, &self.set).await
    }

    pub(crate) async fn prefetch(&self) -> Result<usize, JwksError> {
        let _guard = self.fetch.lock().await;
        self.refetch().await
    }
}

/// Fetches the set into `set`; on failure the cached keys stay (and are used only
/// within their lifetime).
async fn refetch(http: &HttpClient, uri: &str, set: &RwLock<KeySet>) -> Result<usize, JwksError> {
    tracing::debug!(uri = %uri, "fetching JWKS");
    let result = fetch_keys(http, uri).await;
    let mut set = set.write().unwrap_or_else(|p| p.into_inner());
    set.generation += 1;
    match result {
        Ok((keys, lifetime)) => {
            let n = keys.len();
            let now = Instant::now();
            set.keys = keys;
            set.expires_at = Some(now + lifetime);
            set.refresh_at = Some(now + lifetime.mul_f32(0.8));
            set.last_error = None;
            Ok(n)
        }
        Err(e) => {
            set.last_error = Some(e.clone());
            tracing::warn!(uri = %uri, error = %e, "JWKS fetch failed; keeping the cached keys within their lifetime");
            Err(e)
        }
    }
}

async fn fetch_keys(http: &HttpClient, uri: &str) -> Result<(Vec<CachedKey>, Duration), JwksError> {
    let resp = http
        .get(crate::http_client::Endpoint::Jwks, uri)
        .await
        .map_err(JwksError::Unreachable)?;
    if !resp.status().is_success() {
        return Err(JwksError::Status(resp.status().as_u16()));
    }
    let lifetime = key_set_lifetime(resp.headers());
    Ok((parse_jwks(resp.body())?, lifetime))
}

/// Reads a JWK set, keeping the signature keys it can use and skipping the others
/// (encryption keys, unknown key types) instead of failing on them.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<Vec<CachedKey>, JwksError> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|_| JwksError::Invalid("it is not JSON"))?;
    let Some(keys) = doc.get("keys").and_then(Value::as_array) else {
        return Err(JwksError::Invalid("it has no \"keys\" array"));
    };
    let mut out = Vec::new();
    for raw in keys.iter().take(100) {
        let str_field = |name: &str| raw.get(name).and_then(Value::as_str).map(str::to_owned);
        if str_field("use").is_some_and(|u| u != "sig") {
            continue;
        }
        let Some(kty) = str_field("kty") else {
            continue;
        };
        if kty == "oct" {
            continue; // never accept a symmetric key from a JWKS
        }
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw.clone()) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        out.push(CachedKey {
            kid: str_field("kid"),
            alg: str_field("alg"),
            kty,
            crv: str_field("crv"),
            key: Arc::new(key),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_symmetric_and_encryption_keys() {
        let body = br#"{"keys":[
            {"kty":"oct","k":"c2VjcmV0","kid":"h"},
            {"kty":"RSA","use":"enc","kid":"e","n":"sXch","e":"AQAB"},
            {"kty":"weird","kid":"w"}
        ]}"#;
        assert!(parse_jwks(body).expect("parsed").is_empty());
    }

    #[test]
    fn jwks_without_keys_refused() {
        assert!(matches!(
            parse_jwks(b"{}"),
            Err(JwksError::Invalid("it has no \"keys\" array"))
        ));
        assert!(matches!(
            parse_jwks(b"not json"),
            Err(JwksError::Invalid("it is not JSON"))
        ));
    }
}

#[cfg(test)]
mod rotation_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::routing::get;

    use super::*;

    struct Served {
        fetches: Arc<AtomicUsize>,
        rotated: Arc<std::sync::atomic::AtomicBool>,
        /// The set no longer has `rsa1` (the provider removed it).
        removed: Arc<std::sync::atomic::AtomicBool>,
        url: String,
    }

    async fn serve_jwks() -> Served {
        let fetches = Arc::new(AtomicUsize::new(0));
        let rotated = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let removed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (f, r, gone) = (fetches.clone(), rotated.clone(), removed.clone());
        let app = axum::Router::new().route(
            "/jwks",
            get(move || {
                let (f, r, gone) = (f.clone(), r.clone(), gone.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let body = if r.load(Ordering::SeqCst) {
                        include_str!("testdata/jwks_rotated.json").to_owned()
                    } else {
                        include_str!("testdata/jwks.json").to_owned()
                    };
                    let body = if gone.load(Ordering::SeqCst) {
                        let mut doc: Value = serde_json::from_str(&body).expect("json");
                        if let Some(keys) = doc["keys"].as_array_mut() {
                            keys.retain(|k| k["kid"] != "rsa1");
                        }
                        doc.to_string()
                    } else {
                        body
                    };
                    ([(http::header::CACHE_CONTROL, "public, max-age=30")], body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Served {
            fetches,
            rotated,
            removed,
            url,
        }
    }

    fn cache(url: &str, cooldown: Duration) -> JwksCache {
        let http = HttpClient::new(
            Duration::from_secs(2),
            Duration::from_secs(2),
            64 * 1024,
            &[],
        )
        .expect("http");
        JwksCache::new(http, url.to_string(), cooldown)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn key_rotation_after_the_set_was_cached_is_picked_up() {
        let s = serve_jwks().await;
        let c = cache(&s.url, Duration::ZERO);
        assert_eq!(
            c.keys_for(Some("rsa1"), Algorithm::RS256, TokenSource::Request)
                .await
                .expect("rsa1")
                .len(),
            1
        );
        assert_eq!(
            c.keys_for(Some("rsa2"), Algorithm::RS256, TokenSource::Request)
                .await
                .expect_err("refused"),
            TokenError::UnknownKey(Some("rsa2".into()))
        );
        s.rotated.store(true, Ordering::SeqCst);
        assert_eq!(
            c.keys_for(Some("rsa2"), Algorithm::RS256, TokenSource::Request)
                .await
                .expect("rotated key")
                .len(),
            1
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unknown_kid_storm_costs_one_fetch_per_cooldown() {
        let s = serve_jwks().await;
        let c = Arc::new(cache(&s.url, Duration::from_secs(3600)));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                c.keys_for(Some("nope"), Algorithm::RS256, TokenSource::Request)
                    .await
            }));
        }
        for t in tasks {
            assert!(t.await.expect("join").is_err());
        }
        assert_eq!(s.fetches.load(Ordering::SeqCst), 1);
        // Known keys are still served from the cache, with no fetch.
        assert!(
            c.keys_for(Some("rsa1"), Algorithm::RS256, TokenSource::Request)
                .await
                .is_ok()
        );
        assert!(
            c.keys_for(Some("ec1"), Algorithm::ES256, TokenSource::Request)
                .await
                .is_ok()
        );
        assert!(
            c.keys_for(Some("ec1"), Algorithm::RS256, TokenSource::Request)
                .await
                .is_err(),
            "key type must match the algorithm"
        );
        assert_eq!(s.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rotations_are_followed_at_once_and_unknown_kids_cost_one_fetch_per_cooldown() {
        let s = serve_jwks().await;
        let c = Arc::new(cache(&s.url, Duration::from_secs(3600)));
        c.prefetch().await.expect("start-up fetch");
        // A rotation just after start-up is followed.
        s.rotated.store(true, Ordering::SeqCst);
        assert!(
            c.keys_for(Some("rsa2"), Algorithm::RS256, TokenSource::Request)
                .await
                .is_ok()
        );
        assert_eq!(s.fetches.load(Ordering::SeqCst), 2);
        // A kid that never resolves: one fetch, then none for the cooldown.
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                c.keys_for(Some("nope"), Algorithm::RS256, TokenSource::Request)
                    .await
            }));
        }
        for t in tasks {
            assert!(t.await.expect("join").is_err());
        }
        assert!(
            c.keys_for(Some("nope-2"), Algorithm::RS256, TokenSource::Request)
                .await
                .is_err()
        );
        assert_eq!(s.fetches.load(Ordering::SeqCst), 3);
    }

    /// Ends the lifetime of the cached set now (as if `max-age` had passed).
    fn expire(c: &JwksCache) {
        let mut set = c.set.write().expect("lock");
        set.expires_at = Some(Instant::now());
        set.refresh_at = Some(Instant::now());
    }

    #[test]
    fn key_set_lifetime_follows_cache_control_within_bounds() {
        let lifetime = |v: Option<&'static str>| {
            let mut h = http::HeaderMap::new();
            if let Some(v) = v {
                h.insert(
                    http::header::CACHE_CONTROL,
                    http::HeaderValue::from_static(v),
                );
            }
            key_set_lifetime(&h).as_secs()
        };
        assert_eq!(lifetime(None), 600);
        assert_eq!(lifetime(Some("public, max-age=3600")), 3600);
        assert_eq!(lifetime(Some("max-age=1")), 5);
        assert_eq!(lifetime(Some("max-age=99999999")), 24 * 3600);
        assert_eq!(lifetime(Some("no-store")), 5);
        assert_eq!(lifetime(Some("max-age=3600, no-cache")), 5);
        assert_eq!(lifetime(Some("max-age=banana")), 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rp_key_removed_by_the_provider_is_refused_once_the_set_expires() {
        let s = serve_jwks().await;
        // A long cooldown: an expired set is refetched whatever the cooldown says.
        let c = cache(&s.url, Duration::from_secs(3600));
        c.prefetch().await.expect("start-up fetch");
        let lifetime = c.remaining_lifetime();
        assert!(lifetime > Duration::from_secs(25) && lifetime <= Duration::from_secs(30));
        s.removed.store(true, Ordering::SeqCst);
        // Within the lifetime the cached key is still trusted, with no fetch.
        assert!(
            c.keys_for(Some("rsa1"), Algorithm::RS256, TokenSource::Request)
                .await
                .is_ok()
        );
        assert_eq!(s.fetches.load(Ordering::SeqCst), 1);
        expire(&c);
        assert_eq!(
            c.keys_for(Some("rsa1"), Algorithm::RS256, TokenSource::Request)
                .await
                .expect_err("refused"),
            TokenError::UnknownKey(Some("rsa1".into()))
        );
        assert_eq!(s.fetches.load(Ordering::SeqCst), 2);
        // The other keys of the new set are trusted for its new lifetime.
        assert!(
            c.keys_for(Some("ec1"), Algorithm::ES256, TokenSource::Request)
                .await
                .is_ok()
        );
        assert_eq!(s.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_set_near_its_end_is_refreshed_in_the_background() {
        let s = serve_jwks().await;
        let c = cache(&s.url, Duration::from_secs(3600));
        c.prefetch().await.expect("start-up fetch");
        c.set.write().expect("lock").refresh_at = Some(Instant::now());
        s.removed.store(true, Ordering::SeqCst);
        // Served at once from the cache, while one fetch runs in the background.
        for _ in 0..10 {
            assert!(
                c.keys_for(Some("rsa1"), Algorithm::RS256, TokenSource::Request)
                    .await
                    .is_ok()
            );
        }
        let generation = || c.set.read().expect("lock").generation;
        let before = generation();
        for _ in 0..250 {
            if generation() != before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(s.fetches.load(Ordering::SeqCst), 2, "one background fetch");
        // The removed key is gone from the refreshed set.
        assert_eq!(
            c.keys_for(Some("rsa1"), Algorithm::RS256, TokenSource::Request)
                .await
                .expect_err("refused"),
            TokenError::UnknownKey(Some("rsa1".into()))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unknown_kid_from_the_token_endpoint_is_fetched_during_the_cooldown() {
        let s = serve_jwks().await;
        let c = cache(&s.url, Duration::from_secs(3600));
        c.prefetch().await.expect("start-up fetch");
        // A bearer token with an unknown kid starts the cooldown.
        assert!(
            c.keys_for(Some("rsa2"), Algorithm::RS256, TokenSource::Request)
                .await
                .is_err()
        );
        assert_eq!(s.fetches.load(Ordering::SeqCst), 2);
        // The provider rotates: tokens anyone can send still wait out the cooldown...
        s.rotated.store(true, Ordering::SeqCst);
        assert!(
            c.keys_for(Some("rsa2"), Algorithm::RS256, TokenSource::Request)
                .await
                .is_err()
        );
        assert_eq!(s.fetches.load(Ordering::SeqCst), 2);
        // ...but an ID token straight from the token endpoint is a rotation: fetched.
        assert!(
            c.keys_for(Some("rsa2"), Algorithm::RS256, TokenSource::Provider)
                .await
                .is_ok()
        );
        assert_eq!(s.fetches.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn unreachable_jwks_is_unavailable_not_an_unknown_key() {
        // A server that closes every connection unanswered (held for the whole test, so
        // no other process can take its port): every fetch fails, and within the
        // cooldown the failure is reported again without a new fetch.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = connections.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        let c = cache(&url, Duration::from_secs(3600));
        for _ in 0..2 {
            let err = c
                .keys_for(Some("rsa1"), Algorithm::RS256, TokenSource::Request)
                .await
                .expect_err("no keys");
            let VerifyError::KeysUnavailable(e @ JwksError::Unreachable(_)) = err else {
                panic!("expected an unreachable JWKS, got {err:?}");
            };
            // The transport failure is kept as the error's source, not flattened.
            let source = std::error::Error::source(&e).expect("a source");
            assert!(source.is::<crate::HttpError>(), "{source}");
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1, "one fetch");
    }
}

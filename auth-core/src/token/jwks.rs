//! One JWKS cache for every token kind: keys are fetched once, refetched when a token
//! names an unknown `kid` (at most once per cooldown), and only one fetch is in flight.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::Jwk;
use serde_json::Value;

use super::{Algorithm, TokenError};
use crate::http_client::HttpClient;

#[derive(Clone)]
pub(crate) struct CachedKey {
    kid: Option<String>,
    alg: Option<String>,
    kty: String,
    crv: Option<String>,
    pub(crate) key: Arc<DecodingKey>,
}

#[derive(Default)]
struct KeySet {
    keys: Vec<CachedKey>,
    /// When a fetch caused by a token with an unknown `kid` last failed to find it:
    /// such fetches are at most one per cooldown. The fetch at start and fetches that
    /// found the key do not count, so a rotation is followed at once, even just after
    /// start-up.
    miss_fetched_at: Option<Instant>,
    generation: u64,
    /// Why the last fetch failed, if it did: with no matching key, a token cannot be
    /// judged now (the provider is down), which is not the same as a bad token.
    last_error: Option<String>,
}

pub(crate) struct JwksCache {
    http: HttpClient,
    uri: String,
    cooldown: Duration,
    set: RwLock<KeySet>,
    fetch: tokio::sync::Mutex<()>,
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
            set: RwLock::new(KeySet::default()),
            fetch: tokio::sync::Mutex::new(()),
        }
    }

    /// A cache already holding `keys`, fetched just now (tests).
    #[cfg(test)]
    pub(crate) fn preloaded(http: HttpClient, keys: Vec<CachedKey>) -> Self {
        let cache = Self::new(
            http,
            "http://127.0.0.1:9/jwks".into(),
            Duration::from_secs(3600),
        );
        {
            let mut set = cache.set.write().unwrap_or_else(|p| p.into_inner());
            set.keys = keys;
            set.miss_fetched_at = Some(Instant::now());
        }
        cache
    }

    /// Keys that may have signed a token with this `kid` and algorithm. Refetches the
    /// set when none match, unless an unknown `kid` already caused a fetch within the
    /// cooldown.
    pub(crate) async fn keys_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Vec<Arc<DecodingKey>>, TokenError> {
        let (found, generation, fresh) = self.lookup(kid, alg);
        if !found.is_empty() {
            return Ok(found);
        }
        if fresh {
            return Err(self.no_key(kid));
        }
        let _guard = self.fetch.lock().await;
        // Another request may have refreshed the set while we waited.
        let (found, now_generation, fresh) = self.lookup(kid, alg);
        if now_generation != generation || fresh {
            return if found.is_empty() {
                Err(self.no_key(kid))
            } else {
                Ok(found)
            };
        }
        let fetched = self.refetch().await;
        let (found, _, _) = self.lookup(kid, alg);
        if fetched.is_err() || found.is_empty() {
            // Only a fetch that did not find the key starts the cooldown: a real
            // rotation is followed every time, and a `kid` that never resolves costs one
            // fetch per cooldown.
            self.set
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .miss_fetched_at = Some(Instant::now());
        }
        fetched?;
        if found.is_empty() {
            Err(self.no_key(kid))
        } else {
            Ok(found)
        }
    }

    /// No key matches: the token names an unknown key, or, when the last fetch failed,
    /// the keys cannot be known now.
    fn no_key(&self, kid: Option<&str>) -> TokenError {
        let set = self.set.read().unwrap_or_else(|p| p.into_inner());
        match &set.last_error {
            Some(e) => TokenError::Jwks(e.clone()),
            None => TokenError::UnknownKey(kid.map(str::to_owned)),
        }
    }

    /// Returns matching keys, the set's generation and whether it is within cooldown.
    fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> (Vec<Arc<DecodingKey>>, u64, bool) {
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
        let fresh = set
            .miss_fetched_at
            .is_some_and(|t| t.elapsed() < self.cooldown);
        (found, set.generation, fresh)
    }

    /// Fetches the set now (startup, or an unknown `kid`). Holds no lock across I/O
    /// but the single-fetch mutex of the caller.
    pub(crate) async fn refetch(&self) -> Result<usize, TokenError> {
        tracing::debug!(uri = %self.uri, "fetching JWKS");
        let result = self.fetch_keys().await;
        let mut set = self.set.write().unwrap_or_else(|p| p.into_inner());
        set.generation += 1;
        match result {
            Ok(keys) => {
                let n = keys.len();
                set.keys = keys;
                set.last_error = None;
                Ok(n)
            }
            Err(e) => {
                set.last_error = Some(match &e {
                    TokenError::Jwks(why) => why.clone(),
                    other => other.to_string(),
                });
                tracing::warn!(uri = %self.uri, error = %e, "JWKS fetch failed; keeping the cached keys");
                Err(e)
            }
        }
    }

    pub(crate) async fn prefetch(&self) -> Result<usize, TokenError> {
        let _guard = self.fetch.lock().await;
        self.refetch().await
    }

    async fn fetch_keys(&self) -> Result<Vec<CachedKey>, TokenError> {
        let resp = self
            .http
            .get(&self.uri)
            .await
            .map_err(|e| TokenError::Jwks(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(TokenError::Jwks(format!("HTTP {}", resp.status().as_u16())));
        }
        parse_jwks(resp.body())
    }
}

/// Reads a JWK set, keeping the signature keys it can use and skipping the others
/// (encryption keys, unknown key types) instead of failing on them.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<Vec<CachedKey>, TokenError> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|_| TokenError::Jwks("the JWKS is not JSON".into()))?;
    let Some(keys) = doc.get("keys").and_then(Value::as_array) else {
        return Err(TokenError::Jwks("the JWKS has no \"keys\" array".into()));
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
    fn rejects_a_jwks_without_keys() {
        assert!(parse_jwks(b"{}").is_err());
        assert!(parse_jwks(b"not json").is_err());
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
        url: String,
    }

    async fn serve_jwks() -> Served {
        let fetches = Arc::new(AtomicUsize::new(0));
        let rotated = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (f, r) = (fetches.clone(), rotated.clone());
        let app = axum::Router::new().route(
            "/jwks",
            get(move || {
                let (f, r) = (f.clone(), r.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if r.load(Ordering::SeqCst) {
                        include_str!("testdata/jwks_rotated.json")
                    } else {
                        include_str!("testdata/jwks.json")
                    }
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
            url,
        }
    }

    fn cache(url: &str, cooldown: Duration) -> JwksCache {
        let http = HttpClient::new(Duration::from_secs(2), Duration::from_secs(2), 64 * 1024)
            .expect("http");
        JwksCache::new(http, url.to_string(), cooldown)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn key_rotation_after_the_set_was_cached_is_picked_up() {
        let s = serve_jwks().await;
        let c = cache(&s.url, Duration::ZERO);
        assert_eq!(
            c.keys_for(Some("rsa1"), Algorithm::RS256)
                .await
                .expect("rsa1")
                .len(),
            1
        );
        assert_eq!(
            c.keys_for(Some("rsa2"), Algorithm::RS256).await.err(),
            Some(TokenError::UnknownKey(Some("rsa2".into())))
        );
        s.rotated.store(true, Ordering::SeqCst);
        assert_eq!(
            c.keys_for(Some("rsa2"), Algorithm::RS256)
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
                c.keys_for(Some("nope"), Algorithm::RS256).await
            }));
        }
        for t in tasks {
            assert!(t.await.expect("join").is_err());
        }
        assert_eq!(s.fetches.load(Ordering::SeqCst), 1);
        // Known keys are still served from the cache, with no fetch.
        assert!(c.keys_for(Some("rsa1"), Algorithm::RS256).await.is_ok());
        assert!(c.keys_for(Some("ec1"), Algorithm::ES256).await.is_ok());
        assert!(
            c.keys_for(Some("ec1"), Algorithm::RS256).await.is_err(),
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
        assert!(c.keys_for(Some("rsa2"), Algorithm::RS256).await.is_ok());
        assert_eq!(s.fetches.load(Ordering::SeqCst), 2);
        // A kid that never resolves: one fetch, then none for the cooldown.
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                c.keys_for(Some("nope"), Algorithm::RS256).await
            }));
        }
        for t in tasks {
            assert!(t.await.expect("join").is_err());
        }
        assert!(c.keys_for(Some("nope-2"), Algorithm::RS256).await.is_err());
        assert_eq!(s.fetches.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn unreachable_jwks_is_unavailable_not_an_unknown_key() {
        // Nothing listens on port 9: every fetch fails, and within the cooldown the
        // failure is reported again without a new fetch.
        let c = cache("http://127.0.0.1:9/jwks", Duration::from_secs(3600));
        for _ in 0..2 {
            assert!(matches!(
                c.keys_for(Some("rsa1"), Algorithm::RS256).await,
                Err(TokenError::Jwks(_))
            ));
        }
    }
}

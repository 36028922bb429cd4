//! The bearer part: the tokens the app's API accepted (a bounded cache by the token's
//! SHA-256, never served past `exp` or past its keys' lifetime), the DPoP proofs it
//! saw, and the checks every presentation goes through.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

use super::{BearerAuth, BearerError};
use crate::jose::TokenError;
use crate::provider::state::ProviderState;

/// Validated tokens by the SHA-256 of the token, never returned past their `exp`.
/// Bounded: when full, expired entries go first, then an arbitrary half.
/// A validated token and until when it may be served from the cache.
type CacheEntry = (Arc<BearerAuth>, i64);

#[derive(Debug)]
pub(crate) struct BearerCache {
    /// Each entry until the earlier of its token's `exp` and the end of the lifetime of
    /// the keys that validated it (a key the provider removed stops working).
    entries: RwLock<HashMap<[u8; 32], CacheEntry>>,
    capacity: usize,
}

impl BearerCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            capacity,
        }
    }

    pub(super) fn get(&self, key: &[u8; 32], now: i64) -> Option<Arc<BearerAuth>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(_, until)| now < *until)
            .map(|(a, _)| Arc::clone(a))
    }

    pub(super) fn insert(
        &self,
        key: [u8; 32],
        auth: Arc<BearerAuth>,
        now: i64,
        keys_valid_for: i64,
    ) {
        if self.capacity == 0 {
            return;
        }
        let until = auth.expires_at.min(now.saturating_add(keys_valid_for));
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, (_, until)| now < *until);
        }
        if entries.len() >= self.capacity {
            let drop: Vec<[u8; 32]> = entries
                .keys()
                .take(entries.len() / 2 + 1)
                .copied()
                .collect();
            for k in drop {
                entries.remove(&k);
            }
        }
        entries.insert(key, (auth, until));
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.read().map(|e| e.len()).unwrap_or(0)
    }
}

/// The bearer part: what the app's API accepts as access tokens. It owns the cache of
/// validated tokens, the DPoP proofs seen (with the shared state for the other
/// instances), the required scopes and the leeway; the providers whose keys and rules
/// judge a token are passed in.
#[derive(Debug)]
pub(crate) struct Bearers {
    cache: BearerCache,
    proofs: crate::jose::dpop::ReplayCache,
    scopes: Vec<String>,
    leeway: i64,
    clock: crate::Clock,
    shared: Arc<dyn crate::session::shared::SharedState>,
}

impl Bearers {
    pub(crate) fn new(
        config: &crate::AuthConfig,
        shared: Arc<dyn crate::session::shared::SharedState>,
    ) -> Self {
        Self {
            cache: BearerCache::new(config.bearer.cache_capacity),
            proofs: crate::jose::dpop::ReplayCache::default(),
            scopes: config.bearer.scopes.clone(),
            leeway: i64::try_from(config.tokens.leeway.as_secs()).unwrap_or(i64::MAX),
            clock: config.clock.clone(),
            shared,
        }
    }

    pub(crate) async fn check_dpop(
        &self,
        providers: &[ProviderState],
        token: &str,
        proof: Option<&str>,
        method: &str,
        url: &str,
    ) -> Result<Arc<BearerAuth>, BearerError> {
        let proof = proof.ok_or(BearerError::InvalidProof(crate::DpopProofError::Missing))?;
        let target = crate::jose::dpop::ProofTarget {
            method,
            url,
            access_token: token,
            now: self.clock.now_secs(),
            leeway: self.leeway,
        };
        let proven = crate::jose::dpop::verify_proof(proof, &target, &self.proofs)
            .map_err(BearerError::InvalidProof)?;
        // With Redis, a proof is single use across every instance.
        let first = self
            .shared
            .first_use(
                crate::session::shared::Once::DpopProof,
                &proven.replay_key,
                proven.until,
            )
            .await
            .map_err(|e| BearerError::Unavailable(e.into()))?;
        if !first {
            return Err(BearerError::InvalidProof(crate::DpopProofError::Replayed));
        }
        let auth = self.validated(providers, token, true).await?;
        if auth.jkt.as_deref() != Some(proven.jkt.as_str()) {
            return Err(BearerError::Invalid(TokenError::KeyBindingMismatch));
        }
        auth.require_scopes(&self.scopes)?;
        Ok(auth)
    }

    pub(crate) async fn check_bearer(
        &self,
        providers: &[ProviderState],
        token: &str,
    ) -> Result<Arc<BearerAuth>, BearerError> {
        let auth = self.validated(providers, token, false).await?;
        // A token bound to a key proves nothing without its proof (RFC 9449 §7.2),
        // also when a DPoP presentation put it in the cache.
        if auth.jkt.is_some() {
            return Err(BearerError::Invalid(TokenError::SenderConstrained));
        }
        auth.require_scopes(&self.scopes)?;
        Ok(auth)
    }

    /// The validated token, from the cache or checked now; `bound` lets a token with
    /// `cnf` through (its proof is checked by the caller).
    async fn validated(
        &self,
        providers: &[ProviderState],
        token: &str,
        bound: bool,
    ) -> Result<Arc<BearerAuth>, BearerError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = self.clock.now_secs();
        if let Some(hit) = self.cache.get(&key, now) {
            return Ok(hit);
        }
        let provider = bearer_provider(providers, token)?;
        let discovered = provider
            .ready()
            .map_err(|e| BearerError::Unavailable(e.into()))?;
        let (claims, text) = discovered
            .verifier
            .bearer_token(token, bound)
            .await
            .map_err(|e| match e {
                crate::VerifyError::Invalid(e) => BearerError::Invalid(e),
                crate::VerifyError::KeysUnavailable(e) => BearerError::Unavailable(e.into()),
            })?;
        let auth = Arc::new(BearerAuth::new(claims, text, token, &provider.config));
        let keys_valid_for = discovered.verifier.jwks.remaining_lifetime().as_secs();
        let keys_valid_for = i64::try_from(keys_valid_for).unwrap_or(i64::MAX);
        self.cache
            .insert(key, Arc::clone(&auth), now, keys_valid_for);
        Ok(auth)
    }
}

/// The provider whose keys and rules judge `token`: the one provider that accepts
/// bearer tokens, or among several the one whose issuer the token names (read before
/// any check, only to choose; that provider's verifier then checks all).
fn bearer_provider<'p>(
    providers: &'p [ProviderState],
    token: &str,
) -> Result<&'p ProviderState, BearerError> {
    let mut accepting = providers
        .iter()
        .filter(|p| p.config.accepts_bearer_tokens());
    let first = accepting.next().ok_or(BearerError::NotConfigured)?;
    let mut rest = accepting.peekable();
    if rest.peek().is_none() {
        return Ok(first);
    }
    std::iter::once(first)
        .chain(rest)
        .find(|p| p.config.issues_unverified(token))
        .ok_or(BearerError::Invalid(TokenError::InvalidIssuer))
}

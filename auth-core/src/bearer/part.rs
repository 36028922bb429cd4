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
    introspections: super::introspect::InFlight,
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
            introspections: super::introspect::InFlight::default(),
            proofs: crate::jose::dpop::ReplayCache::default(),
            scopes: config.bearer.scopes.clone(),
            leeway: i64::try_from(config.tokens.leeway.as_secs()).unwrap_or(i64::MAX),
            clock: config.clock.clone(),
            shared,
        }
    }

    /// A `DPoP` presentation: the proof's own checks, then the token and its binding to
    /// the proof's key, and only then the proof recorded as used (here and, with Redis,
    /// on every instance). A proof of no valid token is never recorded, so junk proofs
    /// cannot fill the record that real ones need.
    pub(crate) async fn check_dpop(
        &self,
        providers: &[Arc<ProviderState>],
        token: &str,
        proof: Option<&str>,
        method: &str,
        url: &str,
    ) -> Result<Arc<BearerAuth>, BearerError> {
        let proof = proof.ok_or(BearerError::InvalidProof(crate::DpopProofError::Missing))?;
        let now = self.clock.now_secs();
        let target = crate::jose::dpop::ProofTarget {
            method,
            url,
            access_token: token,
            now,
            leeway: self.leeway,
        };
        let proven =
            crate::jose::dpop::verify_proof(proof, &target).map_err(BearerError::InvalidProof)?;
        let auth = self
            .validated(providers, token, Binding::Proof(&proven.jkt))
            .await?;
        if !self
            .proofs
            .first_use(&proven.jkt, &proven.replay_key, proven.until, now)
        {
            return Err(BearerError::InvalidProof(crate::DpopProofError::Replayed));
        }
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
        auth.require_scopes(&self.scopes)?;
        Ok(auth)
    }

    /// Validated tokens cached now (tests).
    #[cfg(test)]
    pub(crate) fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Introspection calls under way (tests).
    #[cfg(test)]
    pub(crate) fn introspections_under_way(&self) -> usize {
        self.introspections.len()
    }

    /// DPoP proofs recorded as used in this process (tests).
    #[cfg(test)]
    pub(crate) fn proofs_recorded(&self) -> usize {
        self.proofs.len()
    }

    /// A `Bearer` presentation: a token that names any confirmation method (`cnf`)
    /// proves nothing without its proof (RFC 9449 §7.2, RFC 8705 §3), whether it is
    /// checked now or was cached by a `DPoP` presentation.
    pub(crate) async fn check_bearer(
        &self,
        providers: &[Arc<ProviderState>],
        token: &str,
    ) -> Result<Arc<BearerAuth>, BearerError> {
        let auth = self.validated(providers, token, Binding::None).await?;
        auth.require_scopes(&self.scopes)?;
        Ok(auth)
    }

    /// The validated token, from the cache or checked now, whose binding holds for this
    /// presentation. A token is cached only once its binding held: a token bound to
    /// another key (or by another method) never enters the cache through a proof.
    async fn validated(
        &self,
        providers: &[Arc<ProviderState>],
        token: &str,
        binding: Binding<'_>,
    ) -> Result<Arc<BearerAuth>, BearerError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = self.clock.now_secs();
        if let Some(hit) = self.cache.get(&key, now) {
            binding.check(&hit)?;
            return Ok(hit);
        }
        // An opaque token, to a provider that introspects: its verdict, cached until
        // the token's `exp` and at most a minute.
        if let Some(provider) = super::introspect::introspecting(providers, token) {
            let call = self.introspections.call(key);
            let auth = call.verdict(provider, token, now, self.leeway).await?;
            binding.check(&auth)?;
            let within = super::introspect::MAX_CACHE_SECS;
            self.cache.insert(key, Arc::clone(&auth), now, within);
            drop(call);
            return Ok(auth);
        }
        let provider = bearer_provider(providers, token)?;
        let discovered = provider
            .ready()
            .map_err(|e| BearerError::Unavailable(e.into()))?;
        let bound = matches!(binding, Binding::Proof(_));
        let (claims, text) = discovered
            .verifier
            .bearer_token(token, bound)
            .await
            .map_err(|e| match e {
                crate::VerifyError::Invalid(e) => BearerError::Invalid(e),
                crate::VerifyError::KeysUnavailable(e) => BearerError::Unavailable(e.into()),
            })?;
        let auth = Arc::new(BearerAuth::new(claims, text, token, &provider.config));
        binding.check(&auth)?;
        let keys_valid_for = discovered.verifier.jwks.remaining_lifetime().as_secs();
        let keys_valid_for = i64::try_from(keys_valid_for).unwrap_or(i64::MAX);
        self.cache
            .insert(key, Arc::clone(&auth), now, keys_valid_for);
        Ok(auth)
    }
}

/// What a presentation proves of the token's binding.
#[derive(Clone, Copy)]
enum Binding<'a> {
    /// `Bearer`: nothing; the token must not be sender-constrained.
    None,
    /// `DPoP`: a proof signed by the key of this thumbprint.
    Proof(&'a str),
}

impl Binding<'_> {
    fn check(self, auth: &BearerAuth) -> Result<(), BearerError> {
        match self {
            Binding::None if auth.confirmed => {
                Err(BearerError::Invalid(TokenError::SenderConstrained))
            }
            Binding::None => Ok(()),
            // Bound to this key by `cnf.jkt`; a token bound by another method (mTLS's
            // `x5t#S256`) or to another key is not proven by this proof.
            Binding::Proof(jkt) if auth.jkt.as_deref() == Some(jkt) => Ok(()),
            Binding::Proof(_) => Err(BearerError::Invalid(TokenError::KeyBindingMismatch)),
        }
    }
}

/// The provider whose keys and rules judge `token`: the one provider that accepts
/// bearer tokens, or among several the one whose issuer the token names (read before
/// any check, only to choose; that provider's verifier then checks all). A provider
/// that names the token's issuer itself comes before one whose tenant template only
/// admits it (Entra's `common`), which would judge another provider's tokens by its
/// own audience and rules.
fn bearer_provider<'p>(
    providers: &'p [Arc<ProviderState>],
    token: &str,
) -> Result<&'p ProviderState, BearerError> {
    let mut accepting = providers
        .iter()
        .map(|p| &**p)
        .filter(|p| p.config.accepts_bearer_tokens() && !p.removed());
    let first = accepting.next().ok_or(BearerError::NotConfigured)?;
    let mut rest = accepting.peekable();
    if rest.peek().is_none() {
        return Ok(first);
    }
    let candidates: Vec<&ProviderState> = std::iter::once(first).chain(rest).collect();
    let naming = |templated: bool| {
        candidates
            .iter()
            .copied()
            .filter(move |p| p.config.tenants.is_some() == templated)
            .find(|p| p.config.issues_unverified(token))
    };
    naming(false)
        .or_else(|| naming(true))
        .ok_or(BearerError::Invalid(TokenError::InvalidIssuer))
}

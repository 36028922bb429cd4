//! One provider at run time: its settings, and once discovered its endpoints, token
//! verifier and OAuth client. A provider that could not be discovered at start is
//! retried in the background with backoff; until then its routes answer 503 and the
//! other providers work.

use std::sync::{OnceLock, Weak};
use std::time::Duration;

use oauth2::{AuthType, AuthUrl, ClientId, ClientSecret as OAuthSecret, RedirectUrl, TokenUrl};

use crate::auth::{Inner, OAuthClient};
use crate::config::{AuthConfig, ClientAuthMethod};
use crate::http_client::HttpClient;
use crate::provider::{DiscoveryError, ProviderEndpoints, discover};
use crate::provider_config::ProviderConfig;
use crate::token::{JwksCache, Verifier};

/// The longest wait between two discovery attempts of a provider that is down.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// A provider of the app.
pub(crate) struct ProviderState {
    pub(crate) config: ProviderConfig,
    ready: OnceLock<Discovered>,
}

/// What discovery gave.
pub(crate) struct Discovered {
    pub(crate) endpoints: ProviderEndpoints,
    pub(crate) verifier: Verifier,
    pub(crate) oauth: OAuthClient,
}

/// The provider has not been discovered yet (it was down at start).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the identity provider is not reachable yet")]
pub(crate) struct NotDiscovered;

impl std::fmt::Debug for ProviderState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("id", &self.config.id)
            .field("issuer", &self.config.issuer)
            .field("endpoints", &self.ready.get().map(|d| &d.endpoints))
            .finish()
    }
}

impl ProviderState {
    pub(crate) fn new(config: ProviderConfig) -> Self {
        Self {
            config,
            ready: OnceLock::new(),
        }
    }

    /// The discovered parts, or [`NotDiscovered`] while the provider is down.
    pub(crate) fn ready(&self) -> Result<&Discovered, NotDiscovered> {
        self.ready.get().ok_or(NotDiscovered)
    }

    /// The endpoints, once discovered.
    pub(crate) fn endpoints(&self) -> Option<&ProviderEndpoints> {
        self.ready.get().map(|d| &d.endpoints)
    }

    /// Discovers the provider (unless its endpoints were configured) and keeps the
    /// result; the JWKS is loaded too, a failure there only warned about.
    pub(crate) async fn discover(
        &self,
        app: &AuthConfig,
        http: &HttpClient,
    ) -> Result<(), DiscoveryError> {
        if self.ready.get().is_some() {
            return Ok(());
        }
        let endpoints = match &self.config.endpoints {
            Some(e) => e.clone(),
            None => discover(&self.config, http).await?,
        };
        let discovered = Discovered::new(&self.config, app, http, endpoints);
        if let Err(e) = discovered.verifier.jwks.prefetch().await {
            tracing::warn!(issuer = %self.config.issuer, error = %e, "could not load the provider's JWKS at start; will retry on first use");
        }
        let _ = self.ready.set(discovered);
        Ok(())
    }
}

impl Discovered {
    fn new(
        config: &ProviderConfig,
        app: &AuthConfig,
        http: &HttpClient,
        endpoints: ProviderEndpoints,
    ) -> Self {
        let mut oauth = oauth2::Client::new(ClientId::new(config.client_id.clone()))
            .set_auth_uri(AuthUrl::from_url(endpoints.authorization_endpoint.clone()))
            .set_token_uri(TokenUrl::from_url(endpoints.token_endpoint.clone()))
            .set_redirect_uri(RedirectUrl::from_url(config.redirect_uri.clone()))
            .set_auth_type(
                match ClientAuthMethod::resolve(
                    config.client_auth,
                    &endpoints.token_endpoint_auth_methods_supported,
                    config.provider_kind,
                ) {
                    ClientAuthMethod::ClientSecretBasic => AuthType::BasicAuth,
                    ClientAuthMethod::ClientSecretPost => AuthType::RequestBody,
                },
            );
        if let Some(s) = &config.client_secret {
            oauth = oauth.set_client_secret(OAuthSecret::new(s.secret().to_string()));
        }
        let verifier = Verifier {
            jwks: JwksCache::new(
                http.clone(),
                endpoints.jwks_uri.to_string(),
                app.jwks_refetch_cooldown,
            ),
            algorithms: config.algorithms.clone(),
            issuer: config.issuer.clone(),
            tenants: config.tenants.clone(),
            client_id: config.client_id.clone(),
            access_token_audience: config.access_token_audience.clone(),
            api_audiences: config.api_audiences.clone(),
            require_at_jwt: config.bearer_require_at_jwt,
            access_token_requires_iat: config.provider_kind == crate::ProviderKind::Scalekit,
            leeway: app.leeway,
            clock: app.clock.clone(),
        };
        Self {
            endpoints,
            verifier,
            oauth,
        }
    }
}

/// Retries the discovery of provider `index` with backoff (1 s, doubling to a minute)
/// until it succeeds or the app's `Auth` is dropped.
pub(crate) fn retry_in_background(inner: Weak<Inner>, index: usize) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(
            "no Tokio runtime: a provider that was down at start is not retried in the background"
        );
        return;
    };
    runtime.spawn(async move {
        let mut delay = Duration::from_secs(1);
        loop {
            tokio::time::sleep(delay).await;
            let Some(inner) = inner.upgrade() else { return };
            let provider = &inner.providers[index];
            match provider.discover(&inner.config, &inner.http).await {
                Ok(()) => {
                    tracing::info!(issuer = %provider.config.issuer, "provider discovered");
                    return;
                }
                Err(e) => {
                    tracing::warn!(issuer = %provider.config.issuer, error = %e, retry_in_secs = delay.as_secs(), "provider still unreachable");
                }
            }
            drop(inner);
            delay = (delay * 2).min(MAX_RETRY_DELAY);
        }
    });
}

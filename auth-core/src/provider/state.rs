//! One provider at run time: its settings, and once discovered its endpoints, token
//! verifier and OAuth client. A provider that could not be discovered at start is
//! retried in the background with backoff; until then its routes answer 503 and the
//! other providers work.

use std::sync::{Arc, OnceLock};

use oauth2::{AuthType, AuthUrl, ClientId, ClientSecret as OAuthSecret, RedirectUrl, TokenUrl};

use crate::clock::Clock;
use crate::http_client::{Endpoint, HttpClient};
use crate::jose::TokenSettings;
use crate::jose::{JwksCache, Verifier};
use crate::provider::config::ClientAuthMethod;
use crate::provider::config::ProviderConfig;
use crate::provider::discovery::{DiscoveryError, ProviderEndpoints, discover};
use crate::provider::token::OAuthClient;

/// The app's providers: those of its configuration, then those added while it runs.
/// Append-only, so that an index (a route's provider, a login's) stays valid: a removed
/// provider keeps its place, marked removed, and lookups by id skip it. Reads are a
/// lock-free snapshot.
pub(crate) struct ProviderRegistry {
    /// The configuration's, first in `list` too: they live as long as the app.
    configured: Vec<Arc<ProviderState>>,
    list: arc_swap::ArcSwap<Vec<Arc<ProviderState>>>,
    /// Serializes additions and removals (readers never wait for it).
    writer: std::sync::Mutex<()>,
}

impl ProviderRegistry {
    pub(crate) fn new(providers: Vec<ProviderState>) -> Self {
        let configured: Vec<Arc<ProviderState>> = providers.into_iter().map(Arc::new).collect();
        Self {
            list: arc_swap::ArcSwap::from_pointee(configured.clone()),
            configured,
            writer: std::sync::Mutex::new(()),
        }
    }

    /// The configuration's providers (never removed).
    pub(crate) fn configured(&self) -> &[Arc<ProviderState>] {
        &self.configured
    }

    /// Every provider, removed ones included (check [`ProviderState::removed`]).
    pub(crate) fn all(&self) -> Arc<Vec<Arc<ProviderState>>> {
        self.list.load_full()
    }

    /// The provider at `index`.
    ///
    /// # Panics
    /// For an index no lookup gave (they only grow).
    pub(crate) fn at(&self, index: usize) -> Arc<ProviderState> {
        Arc::clone(&self.list.load()[index])
    }

    /// The index of the provider named `id` that is not removed (`None`: the unnamed
    /// provider of a single-provider app).
    pub(crate) fn index_of(&self, id: Option<&str>) -> Option<usize> {
        self.find(|p| p.config.id.as_deref() == id)
    }

    /// The index of the first provider (not removed) that `matches`.
    pub(crate) fn find(&self, matches: impl Fn(&ProviderState) -> bool) -> Option<usize> {
        self.list
            .load()
            .iter()
            .position(|p| !p.removed() && matches(p))
    }

    /// Adds `provider` at the end when `check` (run while no other addition or
    /// removal can happen) lets it; its index.
    pub(crate) fn push_checked<E>(
        &self,
        provider: ProviderState,
        check: impl FnOnce(&ProviderConfig) -> Result<(), E>,
    ) -> Result<Option<usize>, E> {
        self.append(provider, check, false)
    }

    /// Puts `provider` in the place of the added one of the same id when `check` lets
    /// it: appended first, then the old one marked removed, so that a lookup by id
    /// always finds one of them. `None` (nothing added) when there is no such provider
    /// (it was removed meanwhile).
    pub(crate) fn replace_added<E>(
        &self,
        provider: ProviderState,
        check: impl FnOnce(&ProviderConfig) -> Result<(), E>,
    ) -> Result<Option<usize>, E> {
        self.append(provider, check, true)
    }

    fn append<E>(
        &self,
        provider: ProviderState,
        check: impl FnOnce(&ProviderConfig) -> Result<(), E>,
        replacing: bool,
    ) -> Result<Option<usize>, E> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        check(&provider.config)?;
        let mut list: Vec<Arc<ProviderState>> = self.list.load().iter().cloned().collect();
        let old = list[self.configured.len()..]
            .iter()
            .find(|p| replacing && p.config.id == provider.config.id && !p.removed())
            .cloned();
        if replacing && old.is_none() {
            return Ok(None);
        }
        list.push(Arc::new(provider));
        let index = list.len() - 1;
        self.list.store(Arc::new(list));
        if let Some(old) = old {
            old.removed
                .store(true, std::sync::atomic::Ordering::Release);
        }
        Ok(Some(index))
    }

    /// Marks the provider named `id` that was added at run time removed; whether there
    /// was one (the configuration's are never removed).
    pub(crate) fn remove_added(&self, id: &str) -> bool {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        self.list.load()[self.configured.len()..]
            .iter()
            .find(|p| p.config.id.as_deref() == Some(id) && !p.removed())
            .is_some_and(|p| {
                p.removed.store(true, std::sync::atomic::Ordering::Release);
                true
            })
    }
}

impl std::fmt::Debug for ProviderRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.list.load().iter()).finish()
    }
}

/// A provider of the app.
pub(crate) struct ProviderState {
    pub(crate) config: ProviderConfig,
    /// The app's client, its requests measured as this provider's.
    pub(crate) http: HttpClient,
    ready: OnceLock<Discovered>,
    /// A discovery attempt failed (and none succeeded since).
    failed: std::sync::atomic::AtomicBool,
    /// Removed while the app runs: its logins start no more.
    removed: std::sync::atomic::AtomicBool,
}

/// What discovery gave.
pub(crate) struct Discovered {
    pub(crate) endpoints: ProviderEndpoints,
    pub(crate) verifier: Verifier,
    pub(crate) oauth: OAuthClient,
    /// How the client authenticates (the app's choice, else settled by discovery).
    pub(crate) client_auth: ClientAuthMethod,
    /// Where authorization requests are pushed first (RFC 9126), when they are.
    pub(crate) par_endpoint: Option<url::Url>,
    client_id: String,
    /// `private_key_jwt`: the signing key (the newest) and the assertions' audience.
    signer: Option<(crate::ClientKey, String)>,
    clock: crate::Clock,
    /// The last `DPoP-Nonce` the token endpoint gave (RFC 9449 §8).
    dpop_nonce: std::sync::Mutex<Option<String>>,
}

/// The error of a token request.
pub(crate) type TokenRequestError =
    oauth2::RequestTokenError<crate::http_client::HttpError, oauth2::basic::BasicErrorResponse>;

/// How a token request goes out: as it is, or with a DPoP proof made for it.
pub(crate) enum Transport<'a> {
    Plain(&'a HttpClient),
    Dpop {
        http: &'a HttpClient,
        key: &'a crate::jose::dpop::DpopKey,
        nonce: &'a std::sync::Mutex<Option<String>>,
        clock: &'a crate::Clock,
    },
}

impl Transport<'_> {
    async fn send(
        &self,
        request: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, crate::http_client::HttpError> {
        let (mut parts, body) = request.into_parts();
        let url = parts.uri.to_string();
        let (http, key, nonce, clock) = match self {
            Self::Plain(http) => {
                return http
                    .send(Endpoint::Token, parts.method, &url, parts.headers, body)
                    .await;
            }
            Self::Dpop {
                http,
                key,
                nonce,
                clock,
            } => (http, key, nonce, clock),
        };
        let known = nonce.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let proof = key.proof(
            parts.method.as_str(),
            &url,
            known.as_deref(),
            None,
            clock.now_secs(),
        );
        if let Ok(value) = http::HeaderValue::try_from(proof) {
            parts.headers.insert("dpop", value);
        }
        let response = http
            .send(Endpoint::Token, parts.method, &url, parts.headers, body)
            .await?;
        if let Some(fresh) = response
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 512)
        {
            *nonce.lock().unwrap_or_else(|p| p.into_inner()) = Some(fresh.to_owned());
        }
        Ok(response)
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for Transport<'_> {
    type Error = crate::http_client::HttpError;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<oauth2::HttpResponse, Self::Error>> + Send + 'c,
        >,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
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
    pub(crate) fn new(config: ProviderConfig, http: &HttpClient) -> Self {
        Self {
            http: http.for_provider(config.id.as_deref()),
            config,
            ready: OnceLock::new(),
            failed: std::sync::atomic::AtomicBool::new(false),
            removed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Removed while the app runs ([`ProviderRegistry::remove`]).
    pub(crate) fn removed(&self) -> bool {
        self.removed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether a discovery attempt failed and none succeeded since (the provider is
    /// unreachable, rather than being discovered for the first time).
    pub(crate) fn discovery_failed(&self) -> bool {
        self.ready.get().is_none() && self.failed.load(std::sync::atomic::Ordering::Acquire)
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
        tokens: &TokenSettings,
        clock: &Clock,
    ) -> Result<(), DiscoveryError> {
        let result = self.discover_once(tokens, clock, &self.http).await;
        self.failed
            .store(result.is_err(), std::sync::atomic::Ordering::Release);
        result
    }

    async fn discover_once(
        &self,
        tokens: &TokenSettings,
        clock: &Clock,
        http: &HttpClient,
    ) -> Result<(), DiscoveryError> {
        if self.ready.get().is_some() {
            return Ok(());
        }
        let endpoints = match &self.config.endpoints {
            Some(e) => e.clone(),
            None => discover(&self.config, http).await?,
        };
        if self.config.profile == crate::SecurityProfile::Fapi2 {
            let missing = endpoints.missing_for_fapi2();
            if !missing.is_empty() {
                return Err(DiscoveryError::ProfileNotSupported {
                    profile: "FAPI 2.0",
                    missing,
                });
            }
        }
        if self.config.api_introspection && endpoints.introspection_endpoint.is_none() {
            return Err(DiscoveryError::MissingEndpoint {
                setting: "OIDC_API_INTROSPECTION",
                endpoint: "introspection_endpoint",
            });
        }
        let discovered = Discovered::new(&self.config, tokens, clock, http, endpoints);
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
        tokens: &TokenSettings,
        clock: &Clock,
        http: &HttpClient,
        endpoints: ProviderEndpoints,
    ) -> Self {
        let client_auth = ClientAuthMethod::resolve(
            config.client_auth,
            &endpoints.token_endpoint_auth_methods_supported,
            config.provider_kind,
        );
        let mut oauth = oauth2::Client::new(ClientId::new(config.client_id.clone()))
            .set_auth_uri(AuthUrl::from_url(endpoints.authorization_endpoint.clone()))
            .set_token_uri(TokenUrl::from_url(endpoints.token_endpoint.clone()))
            .set_redirect_uri(RedirectUrl::from_url(config.redirect_uri.clone()))
            .set_auth_type(match client_auth {
                ClientAuthMethod::ClientSecretBasic => AuthType::BasicAuth,
                // With an assertion, `client_id` goes in the body beside it.
                ClientAuthMethod::ClientSecretPost | ClientAuthMethod::PrivateKeyJwt => {
                    AuthType::RequestBody
                }
            });
        if let (Some(s), false) = (
            &config.client_secret,
            client_auth == ClientAuthMethod::PrivateKeyJwt,
        ) {
            oauth = oauth.set_client_secret(OAuthSecret::new(s.secret().to_string()));
        }
        let signer = match (client_auth, config.client_keys.last()) {
            (ClientAuthMethod::PrivateKeyJwt, Some(key)) => {
                Some((key.clone(), config.issuer.clone()))
            }
            (ClientAuthMethod::PrivateKeyJwt, None)
            | (ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost, _) => None,
        };
        let par_endpoint = endpoints
            .pushed_authorization_request_endpoint
            .clone()
            .filter(|_| config.par || endpoints.require_pushed_authorization_requests);
        let verifier = Verifier {
            jwks: JwksCache::new(
                http.clone(),
                endpoints.jwks_uri.to_string(),
                tokens.jwks_refetch_cooldown,
            ),
            algorithms: config.algorithms.clone(),
            issuer: config.issuer.clone(),
            issuer_aliases: config.issuer_aliases.clone(),
            tenants: config.tenants.clone(),
            client_id: config.client_id.clone(),
            access_token_audience: config.access_token_audience.clone(),
            api_audiences: config.api_audiences.clone(),
            require_at_jwt: config.bearer_require_at_jwt,
            access_token_requires_iat: config.provider_kind == crate::ProviderKind::Scalekit,
            leeway: tokens.leeway,
            clock: clock.clone(),
        };
        Self {
            endpoints,
            verifier,
            oauth,
            client_auth,
            par_endpoint,
            client_id: config.client_id.clone(),
            signer,
            clock: clock.clone(),
            dpop_nonce: std::sync::Mutex::new(None),
        }
    }

    /// Sends the token request `build` makes (called again for a retry, so that it
    /// carries a new client assertion), with a DPoP proof by `key` when given. When the
    /// server asks for a DPoP nonce (`use_dpop_nonce`), retries once with it.
    pub(crate) async fn token_request<'a, F, Fut>(
        &'a self,
        http: &'a HttpClient,
        key: Option<&'a crate::jose::dpop::DpopKey>,
        build: F,
    ) -> Result<crate::provider::token::TokenResp, TokenRequestError>
    where
        F: Fn(Vec<(&'static str, String)>, Transport<'a>) -> Fut,
        Fut: std::future::Future<
                Output = Result<crate::provider::token::TokenResp, TokenRequestError>,
            >,
    {
        let transport = || match key {
            None => Transport::Plain(http),
            Some(key) => Transport::Dpop {
                http,
                key,
                nonce: &self.dpop_nonce,
                clock: &self.clock,
            },
        };
        match build(self.assertion_fields(), transport()).await {
            Err(oauth2::RequestTokenError::ServerResponse(r))
                if key.is_some() && r.error().as_ref() == "use_dpop_nonce" =>
            {
                tracing::debug!("the token endpoint asked for a DPoP nonce: retrying with it");
                build(self.assertion_fields(), transport()).await
            }
            other => other,
        }
    }

    /// The form fields of a `private_key_jwt` client authentication: a fresh
    /// assertion for every request (the provider remembers each `jti`). Empty for the
    /// other methods, which `oauth2` sends itself.
    pub(crate) fn assertion_fields(&self) -> Vec<(&'static str, String)> {
        match &self.signer {
            None => Vec::new(),
            Some((key, audience)) => vec![
                (
                    "client_assertion_type",
                    crate::jose::client_key::ASSERTION_TYPE.to_owned(),
                ),
                (
                    "client_assertion",
                    key.assertion(&self.client_id, audience, self.clock.now_secs()),
                ),
            ],
        }
    }

    /// The client authentication of a request this crate sends itself (PAR, whose
    /// form already names `client_id`): form fields, and for `client_secret_basic` an
    /// `Authorization` header.
    /// The request to one of the provider's endpoints that authenticate the client
    /// (revocation, introspection): a form of `fields`, `client_id` and the client's
    /// authentication (in the form, or as a Basic header marked sensitive).
    pub(crate) fn client_form(
        &self,
        secret: Option<&crate::ClientSecret>,
        fields: &[(&str, &str)],
    ) -> (http::HeaderMap, Vec<u8>) {
        use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
        let (auth_fields, basic) = self.client_authentication(secret);
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.extend_pairs(fields);
        form.append_pair("client_id", &self.client_id);
        form.extend_pairs(auth_fields.iter().map(|(k, v)| (*k, v.as_str())));
        let mut headers = http::HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(ACCEPT, http::HeaderValue::from_static("application/json"));
        if let Some(mut basic) = basic {
            basic.set_sensitive(true);
            headers.insert(AUTHORIZATION, basic);
        }
        (headers, form.finish().into_bytes())
    }

    pub(crate) fn client_authentication(
        &self,
        secret: Option<&crate::ClientSecret>,
    ) -> (Vec<(&'static str, String)>, Option<http::HeaderValue>) {
        let mut fields = Vec::new();
        match (self.client_auth, secret) {
            (ClientAuthMethod::PrivateKeyJwt, _) => fields.extend(self.assertion_fields()),
            (ClientAuthMethod::ClientSecretPost, Some(s)) => {
                fields.push(("client_secret", s.secret().to_owned()));
            }
            (ClientAuthMethod::ClientSecretBasic, Some(s)) => {
                use base64::Engine as _;
                // RFC 6749 §2.3.1: both form-encoded before the Basic encoding.
                let encode = |v: &str| {
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                };
                let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    encode(&self.client_id),
                    encode(s.secret())
                ));
                let header = http::HeaderValue::try_from(format!("Basic {basic}")).ok();
                return (fields, header);
            }
            // No secret to send (a public client).
            (ClientAuthMethod::ClientSecretPost | ClientAuthMethod::ClientSecretBasic, None) => {}
        }
        (fields, None)
    }
}

//! [`Auth`]: the relying party, cheap to clone, shared by every request.

use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::config::AuthConfig;
use crate::flow::pending::{PendingCookies, PendingLogin};
use crate::flow::refresh::RefreshCoordinator;
use crate::http_client::HttpClient;
use crate::provider::authorize::{AuthorizeParams, LoginOptions, authorization_url};
use crate::provider::discovery::{DiscoveryError, ProviderEndpoints};
use crate::provider::state::{ProviderRegistry, ProviderState};
use crate::session::AuthSession;
use crate::session::logouts::LogoutRegistry;
use crate::session::shared::FastPathStats;
use crate::session::store::Sessions;

pub(crate) struct Inner {
    pub(crate) config: AuthConfig,
    /// The providers: `config.providers` in order, then those added while it runs.
    pub(crate) providers: ProviderRegistry,
    pub(crate) http: HttpClient,
    pub(crate) pending: PendingCookies,
    pub(crate) refresher: RefreshCoordinator,
    pub(crate) logouts: LogoutRegistry,
    pub(crate) sessions: Sessions,
    /// What the app's API accepts as access tokens (and the DPoP proofs it saw).
    pub(crate) bearers: crate::bearer::Bearers,
    /// What the app's instances agree on (Redis, or this process alone).
    pub(crate) shared: Arc<dyn crate::session::shared::SharedState>,
    /// The app's own store of providers, once [`Auth::use_provider_source`] set it.
    pub(crate) source: std::sync::OnceLock<crate::flow::source::SourceSlot>,
}

impl Inner {
    /// The provider named `id` (`None`: the unnamed provider of a single-provider app).
    pub(crate) fn provider_index(&self, id: Option<&str>) -> Option<usize> {
        self.providers.index_of(id)
    }

    /// The provider at `index` (from [`Inner::provider_index`], or a route's).
    pub(crate) fn provider(&self, index: usize) -> Arc<ProviderState> {
        self.providers.at(index)
    }

    /// The provider that signed `session` in (sessions made before providers had
    /// names belong to the first).
    pub(crate) fn provider_of(&self, session: &AuthSession) -> Option<Arc<ProviderState>> {
        self.provider_index(session.provider.as_deref())
            .map(|i| self.provider(i))
    }
}

/// The relying party: configuration, provider metadata, the JWKS cache, refresh
/// coordination and the logout registry. Clone it freely (it is an `Arc`).
#[derive(Clone)]
pub struct Auth(pub(crate) Arc<Inner>);

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("config", &self.0.config)
            .field("providers", &self.0.providers)
            .finish_non_exhaustive()
    }
}

/// Lets functions that keep a handle take `auth` or `&auth` alike (`auth_layer(&auth)`,
/// `auth_router(auth.clone())`).
impl From<&Auth> for Auth {
    fn from(auth: &Auth) -> Self {
        auth.clone()
    }
}

/// The start of a login: where to send the browser, and the cookies to set.
#[non_exhaustive]
#[derive(Debug)]
pub struct LoginStart {
    /// The provider's authorization URL with every parameter.
    pub authorization_url: Url,
    /// `Set-Cookie` values: the new pending login, and removals of stale ones.
    pub set_cookies: Vec<String>,
}

/// Why a login could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// No provider has this id.
    #[error("no provider is named {0:?}")]
    UnknownProvider(String),
    /// The provider was down at start and has not been discovered since (retried in
    /// the background).
    #[error("the identity provider is not reachable yet; try again shortly")]
    ProviderUnavailable,
    /// The pushed authorization request (RFC 9126) failed: the provider refused it or
    /// could not be reached. No login was started.
    #[error("the pushed authorization request failed: {0}")]
    PushedAuthorizationFailed(String),
    /// The login options break the provider's rules (WorkOS's `provider`,
    /// `screen_hint`, and its one way to sign in); the login route answers 400.
    #[error("invalid login options: {0}")]
    InvalidOptions(#[source] crate::LoginOptionError),
}

impl Auth {
    /// Builds the relying party: discovers each provider (unless endpoints were given
    /// in the configuration), checks its issuer, and loads its JWKS. With one provider
    /// ([`AuthConfig::builder`]), a failed discovery is an error. With named providers,
    /// one that is down does not stop the others: its routes answer 503 while it is
    /// retried in the background, with backoff; only all of them down is an error.
    pub async fn discover(config: AuthConfig) -> Result<Self, DiscoveryError> {
        // jsonwebtoken picks its crypto backend itself only when exactly one is
        // compiled in; another crate of the app could enable the second. Ours is aws-lc
        // (an app that installed one first keeps it).
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
        );
        let http = HttpClient::new(
            config.http.connect_timeout,
            config.http.request_timeout,
            config.http.max_response_bytes,
            &config.http.roots,
        )
        .map_err(DiscoveryError::Client)?;
        let shared = crate::session::shared::connect(&config.redis, config.session.store.is_some())
            .await
            .map_err(DiscoveryError::Redis)?;
        let auth = Self::from_parts(config, http, shared);
        let inner = &auth.0;
        // Concurrently: a provider that is down costs its timeout once, not per provider.
        let mut tasks = tokio::task::JoinSet::new();
        let count = inner.providers.all().len();
        for index in 0..count {
            let auth = auth.clone();
            tasks.spawn(async move {
                let inner = &auth.0;
                let result = inner
                    .provider(index)
                    .discover(&inner.config.tokens, &inner.config.clock)
                    .await;
                (index, result)
            });
        }
        let mut attempts: Vec<(usize, Result<(), DiscoveryError>)> = Vec::new();
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(attempt) => attempts.push(attempt),
                // A discovery task that panicked is a bug: it panics here too.
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Cancelled: only when the runtime shuts down, and then nothing waits.
                Err(_) => return Err(DiscoveryError::Cancelled),
            }
        }
        attempts.sort_by_key(|(index, _)| *index);
        let named = inner.config.has_named_providers();
        let mut down = Vec::new();
        for (index, attempt) in attempts {
            if let Err(e) = attempt {
                // Down is retried (with several providers, or when the app asked to
                // start anyway); a provider that answers something it can never be
                // used with (not the issuer, not the profile) stops the start.
                let unreachable =
                    matches!(e, DiscoveryError::Http(_) | DiscoveryError::Status { .. });
                let waits = named || (inner.config.start_while_provider_down && unreachable);
                // A certificate this app does not trust is its configuration
                // (OIDC_CA_FILE), not an outage: waiting would not mend it.
                let untrusted = matches!(&e, DiscoveryError::Http(h) if h.is_certificate_problem());
                let never = matches!(
                    e,
                    DiscoveryError::ProfileNotSupported { .. }
                        | DiscoveryError::MissingEndpoint { .. }
                );
                if !waits || untrusted || never {
                    return Err(e);
                }
                tracing::warn!(provider = ?inner.provider(index).config.id, error = %e, "provider down at start; its routes answer 503 until it is discovered");
                down.push((index, e));
            }
        }
        if down.len() == count
            && !inner.config.start_while_provider_down
            && let Some((_, e)) = down.pop()
        {
            return Err(e);
        }
        for (index, _) in down {
            retry_in_background(Arc::downgrade(&auth.0), index);
        }
        Ok(auth)
    }

    fn from_parts(
        config: AuthConfig,
        http: HttpClient,
        shared: Arc<dyn crate::session::shared::SharedState>,
    ) -> Self {
        crate::telemetry::describe();
        let keys: Vec<cookie::Key> = if config.session.cookie_key.is_empty() {
            tracing::warn!(
                "APP_SECRET is not set: using a random cookie key; pending logins will not survive a restart or work across instances"
            );
            vec![cookie::Key::generate()]
        } else {
            config
                .session
                .cookie_key
                .iter()
                .map(|k| cookie::Key::derive_from(&k.0))
                .collect()
        };
        let sessions = Sessions::new(
            &config.session,
            config.secure_cookies(),
            config.clock.clone(),
            Arc::clone(&shared),
        );
        let bearers = crate::bearer::Bearers::new(&config, Arc::clone(&shared));
        let pending = PendingCookies::new(keys, config.secure_cookies());
        let providers = ProviderRegistry::new(
            config
                .providers
                .iter()
                .cloned()
                .map(|p| ProviderState::new(p, &http))
                .collect(),
        );
        Self(Arc::new(Inner {
            config,
            providers,
            http,
            pending,
            refresher: RefreshCoordinator::default(),
            logouts: LogoutRegistry::default(),
            sessions,
            bearers,
            shared,
            source: std::sync::OnceLock::new(),
        }))
    }

    /// Validates an ID token issued to this client with every rule the callback applies:
    /// signature by the provider's JWKS with an allowed algorithm, `iss`, `aud`, `azp`,
    /// `exp`, `iat`, `nbf`, `sub`, and `nonce` equal to `expected_nonce`. The callback
    /// does this already; use it for an ID token that reached the app another way (a
    /// native client handing over its sign-in, say).
    ///
    /// An ID token says who signed in, for this client; it is not a credential for an
    /// API (use bearer access tokens for that). The nonce must be one this app issued
    /// and has not accepted before, or the token could be replayed.
    pub async fn validate_id_token(
        &self,
        token: &str,
        expected_nonce: &str,
    ) -> Result<crate::Claims, crate::VerifyError> {
        // The first provider that is discovered and issued the token (by its `iss`).
        let providers = self.0.providers.all();
        let provider = match providers.as_slice() {
            [one] => Some(one),
            several => several.iter().find(|p| p.config.issues_unverified(token)),
        }
        .ok_or(crate::TokenError::InvalidIssuer)?
        .ready()
        .map_err(|_| crate::JwksError::NotDiscovered)?;
        provider
            .verifier
            .id_token(
                token,
                crate::jose::IdTokenCheck::Login {
                    nonce: expected_nonce,
                },
                // Reached the app another way than the token endpoint: anyone could send it.
                crate::jose::jwks::TokenSource::Request,
            )
            .await
    }

    /// What the Redis fast path did so far (whether it serves now, requests served
    /// from memory and requests that read Redis); `None` without it (memory store, an
    /// app-given store, or `REDIS_SESSION_CACHE=0`).
    pub fn fast_path(&self) -> Option<FastPathStats> {
        self.0.shared.fast_path()
    }

    /// The configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.0.config
    }

    /// The first provider's endpoints, once discovered.
    pub fn endpoints(&self) -> Option<&ProviderEndpoints> {
        self.0
            .providers
            .configured()
            .first()
            .and_then(|p| p.endpoints())
    }

    /// Starts a login at the first provider (the only one of a single-provider app):
    /// fresh `state` and `nonce` (128 bits each, CSPRNG), a PKCE S256 challenge, the
    /// configured default options with `options` on top, and a pending login cookie.
    /// `return_to` is kept only if it is a same-site relative path.
    ///
    /// With pushed authorization requests (RFC 9126), the parameters are posted to the
    /// provider first and the URL carries only `client_id` and `request_uri`.
    pub async fn begin_login(
        &self,
        options: &LoginOptions,
        return_to: Option<&str>,
        request_cookies: &[(String, String)],
    ) -> Result<LoginStart, LoginError> {
        self.begin_login_with(0, options, return_to, request_cookies)
            .await
    }

    /// Starts a login at the provider named `provider` (an app with several), as
    /// [`Auth::begin_login`].
    pub async fn begin_login_at(
        &self,
        provider: &str,
        options: &LoginOptions,
        return_to: Option<&str>,
        request_cookies: &[(String, String)],
    ) -> Result<LoginStart, LoginError> {
        let index = self
            .0
            .provider_index(Some(provider))
            .ok_or_else(|| LoginError::UnknownProvider(provider.to_string()))?;
        self.begin_login_with(index, options, return_to, request_cookies)
            .await
    }

    pub(crate) async fn begin_login_with(
        &self,
        index: usize,
        options: &LoginOptions,
        return_to: Option<&str>,
        request_cookies: &[(String, String)],
    ) -> Result<LoginStart, LoginError> {
        let inner = &self.0;
        let provider = &inner.provider(index);
        let discovered = provider
            .ready()
            .map_err(|_| LoginError::ProviderUnavailable)?;
        let config = &provider.config;
        let state = oauth2::CsrfToken::new_random().secret().clone();
        let nonce = oauth2::CsrfToken::new_random().secret().clone();
        let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
        let options = config
            .default_login
            .merged(options)
            .checked_for(config.provider_kind)
            .map_err(LoginError::InvalidOptions)?;
        let url = authorization_url(&AuthorizeParams {
            endpoint: &discovered.endpoints.authorization_endpoint,
            client_id: &config.client_id,
            redirect_uri: &config.redirect_uri,
            scopes: &config.scopes,
            state: &state,
            nonce: &nonce,
            code_challenge: challenge.as_str(),
            options: &options,
            names: config.provider_kind.parameter_names(),
            openid: config.protocol().is_openid(),
            response_mode: (config.response_mode != crate::ResponseMode::Query)
                .then(|| config.response_mode.as_str()),
        });
        let url = match &discovered.par_endpoint {
            None => url,
            Some(endpoint) => self.push(provider, discovered, endpoint, &url).await?,
        };
        let now = inner.config.clock.now_secs();
        let return_to = return_to
            .and_then(|r| crate::web::return_to::sanitize_return_to(&inner.config.app_url, r));
        let mut set_cookies = inner.pending.prune(request_cookies, now);
        // A form_post answer is a cross-site POST: only a `SameSite=None` cookie
        // reaches it.
        let cross_site = config.response_mode == crate::ResponseMode::FormPost;
        set_cookies.push(inner.pending.seal(
            &PendingLogin {
                state,
                nonce,
                pkce_verifier: verifier.secret().clone(),
                return_to,
                created_at: now,
                max_age: options.max_age,
                acr_values: options.acr_values.clone(),
                organization:
                    options.requested_organization(&config.provider_kind.parameter_names()),
                provider: config.id.clone(),
                silent: options.prompt == Some(crate::Prompt::None),
            },
            cross_site,
        ));
        Ok(LoginStart {
            authorization_url: url,
            set_cookies,
        })
    }

    /// Pushes the authorization request `url` carries (RFC 9126 §2.1), with the
    /// client's authentication, and returns the URL the browser goes to instead: the
    /// authorization endpoint with `client_id` and the `request_uri` alone.
    async fn push(
        &self,
        provider: &ProviderState,
        discovered: &crate::provider::state::Discovered,
        endpoint: &Url,
        url: &Url,
    ) -> Result<Url, LoginError> {
        use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
        let failed = |why: String| {
            tracing::error!(issuer = %provider.config.issuer, error = %why, "pushed authorization request failed");
            LoginError::PushedAuthorizationFailed(why)
        };
        let (auth_fields, basic) =
            discovered.client_authentication(provider.config.client_secret.as_ref());
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(url.query_pairs())
            .extend_pairs(auth_fields.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let mut headers = http::HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(ACCEPT, http::HeaderValue::from_static("application/json"));
        if let Some(basic) = basic {
            headers.insert(AUTHORIZATION, basic);
        }
        let response = provider
            .http
            .send(
                crate::http_client::Endpoint::Par,
                http::Method::POST,
                endpoint.as_str(),
                headers,
                body.into_bytes(),
            )
            .await
            .map_err(|e| failed(e.to_string()))?;
        #[derive(Deserialize)]
        struct Pushed {
            request_uri: String,
        }
        #[derive(Deserialize)]
        struct Refused {
            error: String,
        }
        if !response.status().is_success() {
            // The provider's error code only (its description is provider text).
            let code = serde_json::from_slice::<Refused>(response.body())
                .map(|r| r.error)
                .unwrap_or_default();
            return Err(failed(format!(
                "HTTP {} {code:?}",
                response.status().as_u16()
            )));
        }
        let pushed: Pushed = serde_json::from_slice(response.body())
            .map_err(|_| failed("the answer has no request_uri".into()))?;
        let mut to = discovered.endpoints.authorization_endpoint.clone();
        to.query_pairs_mut()
            .append_pair("client_id", &provider.config.client_id)
            .append_pair("request_uri", &pushed.request_uri);
        Ok(to)
    }
}

/// The longest wait between two discovery attempts of a provider that is down.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

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
            let provider = inner.provider(index);
            if provider.removed() {
                return;
            }
            match provider.discover(&inner.config.tokens, &inner.config.clock).await {
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

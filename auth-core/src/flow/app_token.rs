//! Server-to-server calls: the app's own access token (the client credentials grant,
//! RFC 6749 §4.4) for the provider's management API or other APIs, and the provider's
//! UserInfo endpoint for a signed-in user (OIDC Core §5.3).
//!
//! ```no_run
//! # async fn run(auth: auth_core::Auth) -> Result<(), Box<dyn std::error::Error>> {
//! use auth_core::AppTokenRequest;
//! // Scalekit: the environment's own API; Auth0: `.with_audience("https://<tenant>/api/v2/")`.
//! let management = auth.app_tokens(AppTokenRequest::new().with_scope("read:users"));
//! let request = http::Request::get("https://id.example.com/api/v1/users")
//!     .body(Vec::new())?;
//! let response = management.send(request).await?; // a 401 gets a new token, once
//! # Ok(()) }
//! ```
//!
//! WorkOS's management API takes the API key itself (`Authorization: Bearer sk_…`), not
//! a client-credentials token: send it yourself.

use std::sync::Arc;

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use oauth2::{Scope, TokenResponse};

use crate::auth::Auth;
use crate::http_client::{Endpoint, HttpError};
use crate::jose::Claims;
use crate::jose::secret::AccessToken;
use crate::provider::token::{TokenExchangeError, check_token_type, map_token_error};
use crate::session::AuthSession;

/// What the app's own token is asked for: scopes, and an `audience` (Auth0) or a
/// `resource` (RFC 8707) naming the API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppTokenRequest {
    scopes: Vec<String>,
    audience: Option<String>,
    resource: Option<String>,
    provider: Option<String>,
}

impl AppTokenRequest {
    /// No scope, audience or resource: what the provider grants the client by default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks provider `id` (an app with several; default: the first provider).
    pub fn at_provider(mut self, id: impl Into<String>) -> Self {
        self.provider = Some(id.into());
        self
    }

    /// Adds a scope.
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Sets `audience` (Auth0: `https://<tenant>/api/v2/` for its Management API).
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Sets `resource` (RFC 8707 resource indicator).
    pub fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }
}

/// Why the app's own token could not be had, or the API could not be called.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppTokenError {
    /// The token endpoint refused or failed (see the source).
    #[error("could not get the app's access token")]
    Token(#[source] TokenExchangeError),
    /// The API could not be reached, or answered too much.
    #[error("could not call the API")]
    Api(#[source] HttpError),
    /// The request to send is not one the client can send (its URL, say).
    #[error("the API request is not valid: {0}")]
    InvalidRequest(&'static str),
}

/// A token held until shortly before it expires.
struct Cached {
    token: AccessToken,
    /// When to get a new one (ahead of expiry), seconds since the epoch.
    renew_at: i64,
}

/// The app's own access token for one API, cached until shortly before its
/// `expires_in` and renewed ahead of expiry, with one request in flight however many
/// callers ask at once. Get it from [`Auth::app_tokens`]; clone it freely (clones share
/// the cache). The token request uses the app's client authentication.
#[derive(Clone)]
pub struct AppTokens(Arc<AppTokensInner>);

struct AppTokensInner {
    auth: Auth,
    request: AppTokenRequest,
    cached: tokio::sync::Mutex<Option<Cached>>,
}

impl std::fmt::Debug for AppTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppTokens")
            .field("request", &self.0.request)
            .finish_non_exhaustive()
    }
}

/// How long before `expires_in` ends a token is renewed: a tenth of its lifetime, at
/// most a minute.
fn renew_margin(expires_in: i64) -> i64 {
    (expires_in / 10).clamp(0, 60)
}

/// A token without `expires_in` is kept this long (seconds).
const DEFAULT_LIFETIME: i64 = 60;

impl AppTokens {
    /// The current token: the cached one, or a new one from the token endpoint when
    /// none is held or it is due for renewal. Concurrent callers share one request.
    pub async fn access_token(&self) -> Result<AccessToken, AppTokenError> {
        let inner = &self.0;
        let mut cached = inner.cached.lock().await;
        let now = inner.auth.config().clock.now_secs();
        if let Some(c) = cached.as_ref().filter(|c| now < c.renew_at) {
            return Ok(c.token.clone());
        }
        let fresh = self.fetch(now).await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forgets `token` (an API refused it), so the next call gets a new one. A newer
    /// token fetched meanwhile is kept.
    pub async fn invalidate(&self, token: &AccessToken) {
        let mut cached = self.0.cached.lock().await;
        if cached.as_ref().is_some_and(|c| c.token == *token) {
            *cached = None;
        }
    }

    /// Sends `request` with `Authorization: Bearer <the app's token>` through the
    /// library's HTTP client (no redirects followed, timeouts, a size cap). If the API
    /// answers 401, the token is renewed and the request sent once more (as the
    /// Scalekit SDK does).
    pub async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, AppTokenError> {
        let (parts, body) = request.into_parts();
        let url = parts.uri.to_string();
        if parts.uri.scheme().is_none() {
            return Err(AppTokenError::InvalidRequest("the URL must be absolute"));
        }
        let mut retried = false;
        loop {
            let token = self.access_token().await?;
            let mut headers = parts.headers.clone();
            let bearer = HeaderValue::try_from(format!("Bearer {}", token.secret()))
                .map_err(|_| AppTokenError::InvalidRequest("the token is not a header value"))?;
            headers.insert(AUTHORIZATION, bearer);
            let response = self
                .0
                .auth
                .0
                .http
                .send(
                    Endpoint::Api,
                    parts.method.clone(),
                    &url,
                    headers,
                    body.clone(),
                )
                .await
                .map_err(AppTokenError::Api)?;
            if response.status() != StatusCode::UNAUTHORIZED || retried {
                return Ok(response);
            }
            tracing::info!("the API refused the app's token: getting a new one");
            self.invalidate(&token).await;
            retried = true;
        }
    }

    async fn fetch(&self, now: i64) -> Result<Cached, AppTokenError> {
        let inner = &self.0;
        let core = &inner.auth.0;
        let request = &inner.request;
        let provider = match &request.provider {
            None => core.providers.configured().first().cloned(),
            Some(id) => core
                .provider_index(Some(id))
                .map(|index| core.provider(index)),
        }
        .ok_or(AppTokenError::InvalidRequest("no provider has this id"))?;
        let discovered = provider
            .ready()
            .map_err(|_| AppTokenError::Token(crate::TokenExchangeError::NotDiscovered))?;
        let mut exchange = discovered.oauth.exchange_client_credentials();
        for (name, value) in discovered.assertion_fields() {
            exchange = exchange.add_extra_param(name, value);
        }
        for scope in &request.scopes {
            exchange = exchange.add_scope(Scope::new(scope.clone()));
        }
        if let Some(audience) = &request.audience {
            exchange = exchange.add_extra_param("audience", audience.clone());
        }
        if let Some(resource) = &request.resource {
            exchange = exchange.add_extra_param("resource", resource.clone());
        }
        let response = exchange
            .request_async(&provider.http)
            .await
            .map_err(|e| AppTokenError::Token(map_token_error(e)))?;
        check_token_type(&response, false).map_err(AppTokenError::Token)?;
        let expires_in = response.expires_in().map_or(DEFAULT_LIFETIME, |d| {
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
        });
        tracing::debug!(expires_in, "got the app's own access token");
        Ok(Cached {
            token: AccessToken::new(response.access_token().secret().clone()),
            renew_at: now
                .saturating_add(expires_in)
                .saturating_sub(renew_margin(expires_in)),
        })
    }
}

/// Why the UserInfo endpoint gave no claims.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserInfoError {
    /// The provider has no UserInfo endpoint.
    #[error("the provider has no userinfo_endpoint")]
    NoEndpoint,
    /// The endpoint could not be reached, or answered too much.
    #[error("the userinfo endpoint could not be reached")]
    Unreachable(#[source] HttpError),
    /// The endpoint answered with an error status (401 when the access token expired).
    #[error("the userinfo endpoint answered HTTP {0}")]
    Status(u16),
    /// The answer is not a JSON object (a signed or encrypted answer is not supported).
    #[error("the userinfo answer is not a JSON object")]
    Invalid,
    /// The answer is about another user than the ID token (OIDC Core §5.3.4): it must
    /// not be used.
    #[error("the userinfo answer's sub is not the ID token's")]
    SubjectMismatch,
    /// The session's provider is not configured any more, or not discovered yet.
    #[error("the session's provider is not available")]
    ProviderUnavailable,
}

impl Auth {
    /// A source of the app's own access token for the API `request` names. Keep it
    /// (it holds the cache) and clone it where needed.
    pub fn app_tokens(&self, request: AppTokenRequest) -> AppTokens {
        AppTokens(Arc::new(AppTokensInner {
            auth: self.clone(),
            request,
            cached: tokio::sync::Mutex::new(None),
        }))
    }

    /// Adds a signed-in user's access token to a request for an API:
    /// `Authorization: Bearer`, or for a DPoP-bound session `Authorization: DPoP` with a
    /// proof for this request's method and URL (with `ath`, RFC 9449 §7), its `iat` from
    /// the configured [`Clock`](crate::Clock). A resource server that demands its own
    /// nonce is not handled yet.
    ///
    /// ```
    /// # fn call(auth: &auth_core::Auth, user: &auth_core::AuthSession) {
    /// let mut request = auth_core::http::Request::get("https://api.example.com/orders")
    ///     .body(())
    ///     .unwrap();
    /// auth.authorize(user, &mut request);
    /// # }
    /// ```
    pub fn authorize<B>(&self, user: &AuthSession, request: &mut http::Request<B>) {
        user.authorize_at(request, self.0.config.clock.now_secs());
    }

    /// The provider's UserInfo claims for a signed-in user, fetched with the session's
    /// access token. The answer's `sub` must be the session's (OIDC Core §5.3.4).
    pub async fn userinfo(&self, user: &AuthSession) -> Result<Claims, UserInfoError> {
        let provider = self
            .0
            .provider_of(user)
            .ok_or(UserInfoError::ProviderUnavailable)?;
        self.userinfo_with(
            &provider,
            user.access_token(),
            user.dpop_key.as_ref(),
            user.sub(),
        )
        .await
    }

    /// UserInfo with `access_token`, which must be about `sub`.
    pub(crate) async fn userinfo_with(
        &self,
        provider: &crate::provider::state::ProviderState,
        access_token: &AccessToken,
        dpop: Option<&crate::jose::dpop::DpopKey>,
        sub: &str,
    ) -> Result<Claims, UserInfoError> {
        let inner = &self.0;
        let endpoint = provider
            .ready()
            .map_err(|_| UserInfoError::ProviderUnavailable)?
            .endpoints
            .userinfo_endpoint
            .as_ref()
            .ok_or(UserInfoError::NoEndpoint)?;
        let token = access_token.secret();
        let request = |nonce: Option<&str>| {
            let mut headers = http::HeaderMap::new();
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
            let scheme = match dpop {
                None => "Bearer",
                Some(key) => {
                    let now = inner.config.clock.now_secs();
                    let proof = key.proof("GET", endpoint.as_str(), nonce, Some(token), now);
                    headers.insert(
                        "dpop",
                        HeaderValue::try_from(proof).map_err(|_| UserInfoError::Invalid)?,
                    );
                    "DPoP"
                }
            };
            let value = HeaderValue::try_from(format!("{scheme} {token}"))
                .map_err(|_| UserInfoError::Invalid)?;
            headers.insert(AUTHORIZATION, value);
            Ok::<_, UserInfoError>(headers)
        };
        let get = |headers| {
            provider.http.send(
                Endpoint::Userinfo,
                http::Method::GET,
                endpoint.as_str(),
                headers,
                Vec::new(),
            )
        };
        let mut response = get(request(None)?)
            .await
            .map_err(UserInfoError::Unreachable)?;
        // A resource server that wants a DPoP nonce says so in a 401 (RFC 9449 §9).
        if let (Some(_), StatusCode::UNAUTHORIZED, Some(nonce)) = (
            dpop,
            response.status(),
            response
                .headers()
                .get("dpop-nonce")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ) {
            response = get(request(Some(&nonce))?)
                .await
                .map_err(UserInfoError::Unreachable)?;
        }
        if !response.status().is_success() {
            return Err(UserInfoError::Status(response.status().as_u16()));
        }
        let json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|ct| ct.starts_with("application/json"));
        if !json {
            return Err(UserInfoError::Invalid);
        }
        let claims: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(response.body()).map_err(|_| UserInfoError::Invalid)?;
        match claims.get("sub").and_then(|s| s.as_str()) {
            Some(got) if got == sub => Ok(Claims::new(claims)),
            _ => Err(UserInfoError::SubjectMismatch),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

    use axum::routing::{get, post};

    use super::*;
    use crate::{AuthConfig, Clock, ProviderEndpoints};

    /// A stub provider (token and userinfo endpoints) and API, counting requests.
    struct Stub {
        base: String,
        grants: Arc<AtomicUsize>,
        api_calls: Arc<AtomicUsize>,
        now: Arc<AtomicI64>,
    }

    async fn stub(userinfo_sub: &'static str, api_refuses_first: usize) -> Stub {
        let grants = Arc::new(AtomicUsize::new(0));
        let api_calls = Arc::new(AtomicUsize::new(0));
        let (g, a) = (grants.clone(), api_calls.clone());
        let app = axum::Router::new()
            .route(
                "/token",
                post(move |body: String| {
                    let g = g.clone();
                    async move {
                        assert!(body.contains("grant_type=client_credentials"), "{body}");
                        assert!(body.contains("audience=https%3A%2F%2Fapi.test"), "{body}");
                        // Slow enough for concurrent callers to pile up.
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        let n = g.fetch_add(1, Ordering::SeqCst) + 1;
                        axum::Json(serde_json::json!({
                            "access_token": format!("app-token-{n}"),
                            "token_type": "Bearer", "expires_in": 300,
                        }))
                    }
                }),
            )
            .route(
                "/userinfo",
                get(move || async move {
                    axum::Json(serde_json::json!({ "sub": userinfo_sub, "email": "a@example.com" }))
                }),
            )
            .route(
                "/api",
                get(move |headers: http::HeaderMap| {
                    let a = a.clone();
                    async move {
                        let n = a.fetch_add(1, Ordering::SeqCst);
                        let auth = headers[AUTHORIZATION]
                            .to_str()
                            .unwrap_or_default()
                            .to_owned();
                        if n < api_refuses_first {
                            (StatusCode::UNAUTHORIZED, auth)
                        } else {
                            (StatusCode::OK, auth)
                        }
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Stub {
            base,
            grants,
            api_calls,
            now: Arc::new(AtomicI64::new(1_800_000_000)),
        }
    }

    async fn auth(s: &Stub) -> Auth {
        let url = |p: &str| url::Url::parse(&format!("{}{p}", s.base)).expect("url");
        let mut endpoints = ProviderEndpoints::new(url("/authorize"), url("/token"), url("/jwks"));
        endpoints.userinfo_endpoint = Some(url("/userinfo"));
        let now = s.now.clone();
        let config = AuthConfig::builder(&s.base, "app", "http://127.0.0.1:3000")
            .with_client_secret("secret")
            .with_endpoints(endpoints)
            .with_clock(Clock::from_secs(move || now.load(Ordering::SeqCst)))
            .build()
            .expect("config");
        Auth::discover(config).await.expect("auth")
    }

    fn api_tokens(auth: &Auth) -> AppTokens {
        auth.app_tokens(AppTokenRequest::new().with_audience("https://api.test"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn app_tokens_are_shared_by_concurrent_callers_and_renewed_ahead_of_expiry() {
        let s = stub("alice", 0).await;
        let auth = auth(&s).await;
        let tokens = api_tokens(&auth);
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let tokens = tokens.clone();
            tasks.push(tokio::spawn(async move { tokens.access_token().await }));
        }
        for t in tasks {
            let token = t.await.expect("join").expect("token");
            assert_eq!(token.secret(), "app-token-1");
        }
        assert_eq!(s.grants.load(Ordering::SeqCst), 1, "one request in flight");
        // 300 s tokens are renewed 30 s before they expire.
        s.now.fetch_add(269, Ordering::SeqCst);
        assert_eq!(
            tokens.access_token().await.expect("token").secret(),
            "app-token-1"
        );
        s.now.fetch_add(1, Ordering::SeqCst);
        assert_eq!(
            tokens.access_token().await.expect("token").secret(),
            "app-token-2"
        );
        assert_eq!(s.grants.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn app_token_refused_by_the_api_is_renewed_and_the_call_retried_once() {
        let s = stub("alice", 1).await;
        let auth = auth(&s).await;
        let tokens = api_tokens(&auth);
        let call = || {
            http::Request::get(format!("{}/api", s.base))
                .body(Vec::new())
                .expect("request")
        };
        let r = tokens.send(call()).await.expect("send");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.body(), b"Bearer app-token-2");
        assert_eq!(
            (
                s.grants.load(Ordering::SeqCst),
                s.api_calls.load(Ordering::SeqCst)
            ),
            (2, 2)
        );
        // An API that keeps refusing gets one retry, not a loop.
        let s = stub("alice", usize::MAX).await;
        let auth = super::tests::auth(&s).await;
        let tokens = api_tokens(&auth);
        let r = tokens
            .send(
                http::Request::get(format!("{}/api", s.base))
                    .body(Vec::new())
                    .expect("request"),
            )
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(s.api_calls.load(Ordering::SeqCst), 2);
        let relative = http::Request::get("/api")
            .body(Vec::new())
            .expect("request");
        assert!(matches!(
            tokens.send(relative).await,
            Err(AppTokenError::InvalidRequest(_))
        ));
    }

    #[tokio::test]
    async fn rp_userinfo_of_another_subject_refused() {
        let s = stub("mallory", 0).await;
        let auth = auth(&s).await;
        let token = AccessToken::new("at");
        assert!(matches!(
            auth.userinfo_with(&auth.0.provider(0), &token, None, "alice")
                .await,
            Err(UserInfoError::SubjectMismatch)
        ));
        let s = stub("alice", 0).await;
        let auth = super::tests::auth(&s).await;
        let claims = auth
            .userinfo_with(&auth.0.provider(0), &token, None, "alice")
            .await
            .expect("claims");
        assert_eq!(claims.email(), Some("a@example.com"));
    }

    /// Each way UserInfo fails has its own error: no endpoint, unreachable, an error
    /// status, an answer that is not a JSON object, another subject, and a session of
    /// a provider the app no longer has.
    #[tokio::test]
    async fn rp_userinfo_failures_are_each_named() {
        let app = axum::Router::new()
            .route(
                "/status",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "{}") }),
            )
            .route("/html", get(|| async { "<html>not json</html>" }))
            .route(
                "/array",
                get(|| async { axum::Json(serde_json::json!([1])) }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            format!("http://{}", l.local_addr().expect("addr"))
        };
        let with_userinfo = |userinfo: Option<String>| {
            let base = base.clone();
            async move {
                let url = |p: &str| url::Url::parse(&format!("{base}{p}")).expect("url");
                let mut endpoints =
                    ProviderEndpoints::new(url("/authorize"), url("/token"), url("/jwks"));
                endpoints.userinfo_endpoint = userinfo.map(|u| url::Url::parse(&u).expect("url"));
                let config = AuthConfig::builder(&base, "app", "http://127.0.0.1:3000")
                    .with_client_secret("secret")
                    .with_endpoints(endpoints)
                    .build()
                    .expect("config");
                Auth::discover(config).await.expect("auth")
            }
        };
        let token = AccessToken::new("at");
        let fetch = |auth: Auth| {
            let token = token.clone();
            async move {
                auth.userinfo_with(&auth.0.provider(0), &token, None, "alice")
                    .await
                    .expect_err("refused")
            }
        };
        let e = fetch(with_userinfo(None).await).await;
        assert!(matches!(e, UserInfoError::NoEndpoint), "{e:?}");
        let e = fetch(with_userinfo(Some(format!("{closed}/userinfo"))).await).await;
        assert!(matches!(e, UserInfoError::Unreachable(_)), "{e:?}");
        let e = fetch(with_userinfo(Some(format!("{base}/status"))).await).await;
        assert!(matches!(e, UserInfoError::Status(500)), "{e:?}");
        for not_an_object in ["/html", "/array"] {
            let e = fetch(with_userinfo(Some(format!("{base}{not_an_object}"))).await).await;
            assert!(
                matches!(e, UserInfoError::Invalid),
                "{not_an_object}: {e:?}"
            );
        }
        let auth = with_userinfo(Some(format!("{base}/status"))).await;
        let elsewhere = AuthSession {
            provider: Some("gone".into()),
            ..AuthSession::bare()
        };
        let e = auth.userinfo(&elsewhere).await.expect_err("refused");
        assert!(matches!(e, UserInfoError::ProviderUnavailable), "{e:?}");
    }

    #[test]
    fn tokens_are_renewed_ahead_of_expiry() {
        assert_eq!(renew_margin(300), 30);
        assert_eq!(renew_margin(3600), 60);
        assert_eq!(renew_margin(5), 0);
        assert_eq!(renew_margin(-1), 0);
    }
}

//! Configuration: a builder with secure defaults, validated up front, or `from_env()`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use url::Url;

use crate::flow::authorize::LoginOptions;
use crate::presets::ProviderKind;
use crate::provider::ProviderEndpoints;
use crate::secret::ClientSecret;
use crate::store::{SessionStore, SharedStore};
use crate::token::Algorithm;

/// Errors found while building an [`AuthConfig`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required environment variable is missing.
    #[error("{0} is not set")]
    MissingEnv(&'static str),
    /// A value is not a valid URL.
    #[error("{name} is not a valid URL: {reason}")]
    InvalidUrl {
        /// Which setting.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A URL uses plain http on a host that is not loopback.
    #[error(
        "{name} is not an https URL and not loopback (http is only allowed for 127.0.0.1, ::1 and localhost)"
    )]
    InsecureUrl {
        /// Which setting.
        name: &'static str,
    },
    /// A value could not be parsed.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// Which setting.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// HTTP Basic authentication (`client_secret_basic`), the default.
    #[default]
    ClientSecretBasic,
    /// Credentials in the form body (`client_secret_post`).
    ClientSecretPost,
}

impl ClientAuthMethod {
    /// The method to use: the app's `choice`, else the first of `client_secret_basic`
    /// and `client_secret_post` that discovery's `supported` list names; with an empty
    /// list, `client_secret_basic` (RFC 8414's default), or `client_secret_post` for a
    /// provider kind that documents the secret in the form body (Scalekit).
    pub(crate) fn resolve(
        choice: Option<Self>,
        supported: &[String],
        kind: crate::ProviderKind,
    ) -> Self {
        if let Some(method) = choice {
            return method;
        }
        let listed = |name: &str| supported.iter().any(|m| m == name);
        if supported.is_empty() {
            return match kind {
                crate::ProviderKind::Scalekit => Self::ClientSecretPost,
                _ => Self::ClientSecretBasic,
            };
        }
        if listed("client_secret_basic") {
            Self::ClientSecretBasic
        } else if listed("client_secret_post") {
            Self::ClientSecretPost
        } else {
            tracing::warn!(
                "the provider lists neither client_secret_basic nor client_secret_post; trying client_secret_basic"
            );
            Self::ClientSecretBasic
        }
    }
}

/// A refusal and its typed reason, given to the hook of
/// [`AuthConfigBuilder::with_event_hook`].
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthEvent<'a> {
    /// A sign-in was refused at the callback.
    LoginRefused(&'a crate::CallbackError),
    /// A bearer token was refused.
    BearerRefused(&'a crate::BearerError),
    /// A back-channel logout request was refused.
    BackchannelLogoutRefused(&'a crate::BackchannelError),
}

/// The hook of [`AuthConfigBuilder::with_event_hook`].
#[derive(Clone)]
pub(crate) struct EventHook(Arc<dyn Fn(&AuthEvent<'_>) + Send + Sync>);

impl EventHook {
    pub(crate) fn call(&self, event: &AuthEvent<'_>) {
        (self.0)(event)
    }
}

impl fmt::Debug for EventHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventHook")
    }
}

/// A source of the current time (seconds since the Unix epoch), injectable for tests.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        }))
    }

    /// A clock driven by a function (tests).
    pub fn from_fn(f: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Now, in seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        (self.0)()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// The validated configuration of a relying party. Build it with [`AuthConfig::builder`]
/// or [`AuthConfig::from_env`].
#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<ClientSecret>,
    /// The app's explicit choice; else settled by discovery ([`ClientAuthMethod::resolve`]).
    pub(crate) client_auth: Option<ClientAuthMethod>,
    pub(crate) app_url: Url,
    pub(crate) route_prefix: String,
    pub(crate) redirect_uri: Url,
    pub(crate) post_logout_redirect_uri: Url,
    pub(crate) scopes: Vec<String>,
    pub(crate) leeway: Duration,
    pub(crate) refresh_margin: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_response_bytes: usize,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) access_token_audience: Option<String>,
    pub(crate) api_audiences: Vec<String>,
    pub(crate) api_scopes: Vec<String>,
    pub(crate) bearer_require_at_jwt: bool,
    pub(crate) bearer_cache_capacity: usize,
    pub(crate) cookie_key: Option<CookieKeyBytes>,
    pub(crate) session_key: Option<CookieKeyBytes>,
    pub(crate) endpoints: Option<ProviderEndpoints>,
    pub(crate) default_login: LoginOptions,
    pub(crate) provider_kind: ProviderKind,
    pub(crate) claim_names: crate::identity::ClaimNames,
    pub(crate) userinfo_at_sign_in: bool,
    pub(crate) event_hook: Option<EventHook>,
    pub(crate) session_lifetime: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) jwks_refetch_cooldown: Duration,
    pub(crate) clock: Clock,
    pub(crate) session_store: Option<SharedStore>,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) redis_url: Option<RedisUrl>,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) redis_timeout: Duration,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) redis_ca_file: Option<std::path::PathBuf>,
}

/// A Redis URL; its password never prints.
#[derive(Clone)]
pub(crate) struct RedisUrl(pub(crate) String);

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Url::parse(&self.0) {
            Ok(mut u) => {
                if u.password().is_some() {
                    let _ = u.set_password(Some("[redacted]"));
                }
                write!(f, "{:?}", u.as_str())
            }
            Err(_) => f.write_str("[unparsable]"),
        }
    }
}

/// Key material for cookie encryption (never printed).
#[derive(Clone)]
pub(crate) struct CookieKeyBytes(pub(crate) Vec<u8>);

impl fmt::Debug for CookieKeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl AuthConfig {
    /// Starts a builder with the three things every deployment has: the issuer URL, the
    /// client id, and the public base URL of the app (the redirect URI is
    /// `app_url + "/auth/callback"`).
    pub fn builder(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        app_url: impl Into<String>,
    ) -> AuthConfigBuilder {
        AuthConfigBuilder {
            issuer: issuer.into(),
            client_id: client_id.into(),
            app_url: app_url.into(),
            client_secret: None,
            client_auth: None,
            route_prefix: "/auth".into(),
            post_logout_redirect_uri: None,
            scopes: None,
            leeway: Duration::from_secs(60),
            refresh_margin: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: 1024 * 1024,
            algorithms: None,
            access_token_audience: None,
            api_audiences: Vec::new(),
            api_scopes: Vec::new(),
            bearer_require_at_jwt: false,
            dangerous_untyped_bearer_for_client_id: false,
            bearer_cache_capacity: DEFAULT_BEARER_CACHE_CAPACITY,
            cookie_key: None,
            session_key: None,
            endpoints: None,
            default_login: LoginOptions::default(),
            provider_kind: ProviderKind::Generic,
            claim_names: crate::identity::ClaimNames::default(),
            userinfo_at_sign_in: false,
            event_hook: None,
            session_lifetime: Duration::from_secs(7 * 24 * 3600),
            idle_timeout: Some(Duration::from_secs(3 * 24 * 3600)),
            jwks_refetch_cooldown: Duration::from_secs(30),
            clock: Clock::system(),
            session_store: None,
            redis_url: None,
            redis_timeout: Duration::from_secs(2),
            redis_ca_file: None,
            dangerous_plaintext_sessions: false,
        }
    }

    /// Reads `OIDC_ISSUER`, `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET`, `APP_URL` and the
    /// optional `OIDC_SCOPES` (space separated), `OIDC_POST_LOGOUT_REDIRECT_URI`,
    /// `OIDC_LEEWAY_SECS`, `OIDC_HTTP_TIMEOUT_SECS`, `OIDC_CLIENT_AUTH`
    /// (`client_secret_basic`/`client_secret_post`), `APP_SECRET` (hex, at least 32
    /// bytes: the cookie key shared by all instances), `SESSION_ENCRYPTION_KEY`,
    /// `SESSION_LIFETIME_SECS`, `SESSION_IDLE_TIMEOUT_SECS`, `REDIS_URL`, and for
    /// bearer tokens `OIDC_API_AUDIENCE` (comma or space separated) and
    /// `OIDC_API_SCOPES` (space separated).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Like [`AuthConfig::from_env`], reading variables from a function (tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let req = |name: &'static str| get(name).ok_or(ConfigError::MissingEnv(name));
        let mut b = Self::builder(req("OIDC_ISSUER")?, req("OIDC_CLIENT_ID")?, req("APP_URL")?);
        if let Some(s) = get("OIDC_CLIENT_SECRET") {
            b = b.with_client_secret(s);
        }
        if let Some(s) = get("OIDC_SCOPES") {
            b = b.with_scopes(s.split_whitespace());
        }
        if let Some(s) = get("OIDC_POST_LOGOUT_REDIRECT_URI") {
            b = b.with_post_logout_redirect_uri(s);
        }
        if let Some(s) = get("OIDC_LEEWAY_SECS") {
            b = b.with_leeway(Duration::from_secs(parse_secs("OIDC_LEEWAY_SECS", &s)?));
        }
        if let Some(s) = get("OIDC_HTTP_TIMEOUT_SECS") {
            b = b.with_request_timeout(Duration::from_secs(parse_secs(
                "OIDC_HTTP_TIMEOUT_SECS",
                &s,
            )?));
        }
        if let Some(s) = get("OIDC_CLIENT_AUTH") {
            b = b.with_client_auth(match s.as_str() {
                "client_secret_basic" => ClientAuthMethod::ClientSecretBasic,
                "client_secret_post" => ClientAuthMethod::ClientSecretPost,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "OIDC_CLIENT_AUTH",
                        reason: "expected client_secret_basic or client_secret_post".into(),
                    });
                }
            });
        }
        if let Some(s) = get("OIDC_PROVIDER") {
            b = b.with_provider_kind(ProviderKind::parse(&s).ok_or(ConfigError::Invalid {
                name: "OIDC_PROVIDER",
                reason: "expected one of generic, scalekit, workos, auth0, keycloak, entra, google, okta".into(),
            })?);
        }
        match get("OIDC_USERINFO").as_deref().map(str::trim) {
            None | Some("" | "0" | "false") => {}
            Some("1" | "true") => b = b.with_userinfo_at_sign_in(true),
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "OIDC_USERINFO",
                    reason: "expected 1 or 0".into(),
                });
            }
        }
        if let Some(s) = get("OIDC_ROLES_CLAIM").filter(|s| !s.trim().is_empty()) {
            b = b.with_roles_claim(s.trim());
        }
        if let Some(s) = get("OIDC_ORGANIZATION_CLAIM").filter(|s| !s.trim().is_empty()) {
            b = b.with_organization_claim(s.trim());
        }
        if let Some(s) = get("OIDC_PERMISSIONS_CLAIM").filter(|s| !s.trim().is_empty()) {
            b = b.with_permissions_claim(s.trim());
        }
        if let Some(s) = get("APP_SECRET") {
            b = b.with_app_secret_hex(&s)?;
        }
        if let Some(s) = get("OIDC_API_AUDIENCE") {
            for aud in s.split([',', ' ']).filter(|a| !a.is_empty()) {
                b = b.with_api_audience(aud);
            }
        }
        if let Some(s) = get("OIDC_API_SCOPES") {
            b = b.with_required_api_scopes(s.split_whitespace());
        }
        if let Some(s) = get("SESSION_ENCRYPTION_KEY") {
            b = b.with_session_encryption_key_hex(&s)?;
        }
        if let Some(s) = get("SESSION_LIFETIME_SECS") {
            b = b.with_session_lifetime(Duration::from_secs(parse_secs(
                "SESSION_LIFETIME_SECS",
                &s,
            )?));
        }
        if let Some(s) = get("SESSION_IDLE_TIMEOUT_SECS") {
            let secs = parse_secs("SESSION_IDLE_TIMEOUT_SECS", &s)?;
            b = b.with_idle_timeout((secs > 0).then(|| Duration::from_secs(secs)));
        }
        if let Some(s) = get("REDIS_URL").filter(|s| !s.trim().is_empty()) {
            b = b.with_redis_url(s.trim());
        }
        if let Some(s) = get("REDIS_CA_FILE").filter(|s| !s.trim().is_empty()) {
            b = b.with_redis_ca_file(s.trim());
        }
        match get("SESSION_STORE_PLAINTEXT").as_deref().map(str::trim) {
            None | Some("") => {}
            Some("dangerous") => b = b.dangerous_store_sessions_in_plaintext(),
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "SESSION_STORE_PLAINTEXT",
                    reason: "the only value is `dangerous`".into(),
                });
            }
        }
        b.build()
    }

    /// The issuer, as configured.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The public base URL of the app.
    pub fn app_url(&self) -> &Url {
        &self.app_url
    }

    /// The redirect URI registered at the provider (`APP_URL` + prefix + `/callback`).
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// The path prefix of the auth routes (default `/auth`).
    pub fn route_prefix(&self) -> &str {
        &self.route_prefix
    }

    /// Whether cookies get the `Secure` attribute (the app URL is https).
    pub fn secure_cookies(&self) -> bool {
        self.app_url.scheme() == "https"
    }

    /// Whether a cookie key was configured (`APP_SECRET`).
    pub fn has_cookie_key(&self) -> bool {
        self.cookie_key.is_some()
    }

    /// How long a session may live at most.
    pub fn session_lifetime(&self) -> Duration {
        self.session_lifetime
    }
}

fn parse_secs(name: &'static str, s: &str) -> Result<u64, ConfigError> {
    s.trim().parse().map_err(|_| ConfigError::Invalid {
        name,
        reason: "expected a whole number of seconds".into(),
    })
}

fn key_from_hex(name: &'static str, hex_key: &str) -> Result<CookieKeyBytes, ConfigError> {
    let bytes = hex::decode(hex_key.trim()).map_err(|_| ConfigError::Invalid {
        name,
        reason: "expected hex".into(),
    })?;
    if bytes.len() < 32 {
        return Err(ConfigError::Invalid {
            name,
            reason: format!("{} bytes is too short, use at least 32", bytes.len()),
        });
    }
    Ok(CookieKeyBytes(bytes))
}

fn check_redis_url(u: &str) -> Result<(), ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        name: "REDIS_URL",
        reason: reason.into(),
    };
    if !cfg!(feature = "redis") {
        return Err(invalid(
            "Redis support is not built in: enable the `redis` feature of auth-axum, auth-actix or auth-core",
        ));
    }
    let url = Url::parse(u).map_err(|_| invalid("not a URL"))?;
    match url.scheme() {
        "redis" | "rediss" | "redis-cluster" | "rediss-cluster" => Ok(()),
        "redis-sentinel" | "rediss-sentinel" => {
            if url.query_pairs().any(|(k, _)| k == "sentinelServiceName") {
                Ok(())
            } else {
                Err(invalid(
                    "a redis-sentinel:// URL names its service: ?sentinelServiceName=NAME",
                ))
            }
        }
        _ => Err(invalid(
            "expected redis://, rediss:// (TLS), redis-cluster://, rediss-cluster://, redis-sentinel:// or rediss-sentinel://",
        )),
    }
}

/// The longest session lifetime accepted (the limit browsers put on cookies).
const MAX_SESSION_LIFETIME: Duration = Duration::from_secs(400 * 24 * 3600);

/// Validated bearer tokens remembered by default.
const DEFAULT_BEARER_CACHE_CAPACITY: usize = 10_000;

/// The most validated bearer tokens an instance remembers.
const MAX_BEARER_CACHE_CAPACITY: usize = 1_000_000;

/// Builder for [`AuthConfig`]. Every setter consumes and returns the builder;
/// [`AuthConfigBuilder::build`] checks everything.
#[derive(Debug)]
#[must_use]
pub struct AuthConfigBuilder {
    issuer: String,
    client_id: String,
    app_url: String,
    client_secret: Option<ClientSecret>,
    client_auth: Option<ClientAuthMethod>,
    route_prefix: String,
    post_logout_redirect_uri: Option<String>,
    scopes: Option<Vec<String>>,
    leeway: Duration,
    refresh_margin: Duration,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_response_bytes: usize,
    algorithms: Option<Vec<Algorithm>>,
    access_token_audience: Option<String>,
    api_audiences: Vec<String>,
    api_scopes: Vec<String>,
    bearer_require_at_jwt: bool,
    dangerous_untyped_bearer_for_client_id: bool,
    bearer_cache_capacity: usize,
    cookie_key: Option<CookieKeyBytes>,
    session_key: Option<CookieKeyBytes>,
    endpoints: Option<ProviderEndpoints>,
    default_login: LoginOptions,
    provider_kind: ProviderKind,
    claim_names: crate::identity::ClaimNames,
    userinfo_at_sign_in: bool,
    event_hook: Option<EventHook>,
    session_lifetime: Duration,
    idle_timeout: Option<Duration>,
    jwks_refetch_cooldown: Duration,
    clock: Clock,
    session_store: Option<SharedStore>,
    redis_url: Option<RedisUrl>,
    redis_timeout: Duration,
    redis_ca_file: Option<std::path::PathBuf>,
    dangerous_plaintext_sessions: bool,
}

impl AuthConfigBuilder {
    /// The client secret (confidential clients).
    pub fn with_client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(ClientSecret::new(secret));
        self
    }

    /// How to authenticate at the token endpoint (`OIDC_CLIENT_AUTH`). Without a
    /// choice: `client_secret_basic` when discovery's
    /// `token_endpoint_auth_methods_supported` lists it or lists nothing, else
    /// `client_secret_post` when it lists that (the Scalekit preset prefers
    /// `client_secret_post` when discovery lists nothing, as its guide shows).
    pub fn with_client_auth(mut self, method: ClientAuthMethod) -> Self {
        self.client_auth = Some(method);
        self
    }

    /// Path prefix of the auth routes (default `/auth`).
    pub fn with_route_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.route_prefix = prefix.into();
        self
    }

    /// Where the provider sends the browser after logout (default: the app URL).
    pub fn with_post_logout_redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.post_logout_redirect_uri = Some(uri.into());
        self
    }

    /// Scopes to request (default `openid profile email offline_access`; `openid` is
    /// always added).
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Clock skew tolerated when checking `exp`, `iat` and `nbf` (default 60 s).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Refresh the access token when it expires within this margin (default 30 s).
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Total timeout of each request to the provider (default 10 s).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Connect timeout of each request to the provider (default 5 s).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Signature algorithms accepted for tokens (default: RS256/384/512, PS256/384/512,
    /// ES256/384 and EdDSA). HMAC algorithms are refused: a provider's shared secret
    /// would have to be the client secret, which this crate does not support.
    pub fn with_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// The audience expected in JWT access tokens received at sign-in and refresh (from
    /// this issuer). Without it, their audience is not checked: it names whatever API
    /// the provider issued them for, not this client.
    pub fn with_access_token_audience(mut self, audience: impl Into<String>) -> Self {
        self.access_token_audience = Some(audience.into());
        self
    }

    /// An audience of this app's API (`OIDC_API_AUDIENCE`; call again for several).
    /// Bearer access tokens are accepted only when at least one is set, and only if
    /// their `aud` names one of them.
    pub fn with_api_audience(mut self, audience: impl Into<String>) -> Self {
        self.api_audiences.push(audience.into());
        self
    }

    /// Accept as bearer tokens only JWTs typed `at+jwt` (RFC 9068 §4). Off by default,
    /// because Auth0, Keycloak and Entra ID type their access tokens `JWT`; without it,
    /// a `JWT` or untyped token is refused when it carries an ID-token or logout-token
    /// claim (`nonce`, `at_hash`, `c_hash`, `events`). Turn it on when the provider
    /// types access tokens `at+jwt` (oidc-provider, Scalekit, recent Okta), and
    /// especially when an API audience is this client's own id (Entra ID's default),
    /// where an ID token would otherwise have the right audience.
    pub fn with_bearer_require_at_jwt(mut self, require: bool) -> Self {
        self.bearer_require_at_jwt = require;
        self
    }

    /// When an API audience is this client's own id (Entra ID's default), bearer tokens
    /// must be typed `at+jwt`: an ID token of this client has that audience too, and
    /// is not a credential for an API (RFC 9068 §4, RFC 8725 §3.11). This turns that
    /// rule off for a provider that types its access tokens `JWT`; ID tokens carrying
    /// `nonce`, `at_hash` or `c_hash` are still refused, others are not told apart.
    pub fn dangerous_accept_untyped_bearer_tokens_for_client_id_audience(mut self) -> Self {
        self.dangerous_untyped_bearer_for_client_id = true;
        self
    }

    /// Scopes every bearer access token must carry (`OIDC_API_SCOPES`, space
    /// separated), in its `scope` claim (RFC 9068) or `scp` (Entra ID, Okta).
    /// Handlers can demand more with `require_scope`.
    pub fn with_required_api_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.api_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// How many validated bearer tokens are remembered (default 10 000; 0 turns the
    /// cache off). A remembered token costs a hash lookup instead of a signature check,
    /// and is never used past its `exp`.
    pub fn with_bearer_cache_capacity(mut self, capacity: usize) -> Self {
        self.bearer_cache_capacity = capacity;
        self
    }

    /// The cookie encryption key, as hex of at least 32 bytes (`APP_SECRET`). Every
    /// instance of the app must share it. Without it, a random key is made per start.
    pub fn with_app_secret_hex(mut self, hex_key: &str) -> Result<Self, ConfigError> {
        self.cookie_key = Some(key_from_hex("APP_SECRET", hex_key)?);
        Ok(self)
    }

    /// The key that encrypts session records in an external store (Redis, or a store
    /// given with [`AuthConfigBuilder::with_session_store`]), as hex of at least 32
    /// bytes (`SESSION_ENCRYPTION_KEY`). Without it, a key is derived from
    /// `APP_SECRET`; with neither, records are stored in clear (with a warning).
    pub fn with_session_encryption_key_hex(mut self, hex_key: &str) -> Result<Self, ConfigError> {
        self.session_key = Some(key_from_hex("SESSION_ENCRYPTION_KEY", hex_key)?);
        Ok(self)
    }

    /// Endpoints for a provider without discovery. When set, discovery is not used.
    pub fn with_endpoints(mut self, endpoints: ProviderEndpoints) -> Self {
        self.endpoints = Some(endpoints);
        self
    }

    /// The provider family ([`crate::Preset`] sets it; env `OIDC_PROVIDER`): the wire
    /// names of the login parameters (Auth0's `organization`, Keycloak's
    /// `kc_idp_hint`, Google's `hd`...), how `/auth/signup` asks for sign-up, and
    /// Google's refresh-token parameters. Validation is the same for every kind.
    pub fn with_provider_kind(mut self, kind: ProviderKind) -> Self {
        self.provider_kind = kind;
        self
    }

    /// The claim that holds the user's roles, instead of the provider kind's own
    /// (`OIDC_ROLES_CLAIM`): a claim of that exact name (Auth0's namespaced
    /// `https://example.com/roles`), else a dotted path (`realm_access.roles`).
    pub fn with_roles_claim(mut self, claim: impl Into<String>) -> Self {
        self.claim_names.roles = Some(claim.into());
        self
    }

    /// At sign-in, also fetch the provider's UserInfo claims and add those the ID
    /// token lacks (`OIDC_USERINFO=1`), for providers whose ID tokens carry little. The
    /// answer's `sub` must be the ID token's; a failure refuses the sign-in (502).
    pub fn with_userinfo_at_sign_in(mut self, on: bool) -> Self {
        self.userinfo_at_sign_in = on;
        self
    }

    /// Calls `hook` with every refusal, with its typed reason ([`AuthEvent`]): for
    /// metrics, alerts or an audit trail, and for tests that must know which rule
    /// refused. It runs on the request's task: keep it quick, and never log the
    /// `Debug` of a provider's description where logs must not hold provider text.
    pub fn with_event_hook(
        mut self,
        hook: impl Fn(&AuthEvent<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.event_hook = Some(EventHook(Arc::new(hook)));
        self
    }

    /// The claim that holds the user's organization (`OIDC_ORGANIZATION_CLAIM`), as
    /// [`AuthConfigBuilder::with_roles_claim`].
    pub fn with_organization_claim(mut self, claim: impl Into<String>) -> Self {
        self.claim_names.organization = Some(claim.into());
        self
    }

    /// The claim that holds the user's permissions (`OIDC_PERMISSIONS_CLAIM`), as
    /// [`AuthConfigBuilder::with_roles_claim`].
    pub fn with_permissions_claim(mut self, claim: impl Into<String>) -> Self {
        self.claim_names.permissions = Some(claim.into());
        self
    }

    /// Login options sent with every authorization request (organization, connection,
    /// extra parameters...). Per-request options from the login route are added on top.
    pub fn with_default_login_options(mut self, options: LoginOptions) -> Self {
        self.default_login = options;
        self
    }

    /// Where sessions are kept: any tower-sessions store (default: in memory, in this
    /// process). Every clone of the built `Auth` shares it.
    pub fn with_session_store(mut self, store: impl SessionStore) -> Self {
        self.session_store = Some(SharedStore::new(store));
        self
    }

    /// End a session unused for this long (default 3 days; `None`: never idle out).
    /// Use is recorded at most once per tenth of it, so a busy session costs no store
    /// write per request.
    pub fn with_idle_timeout(mut self, idle: Option<Duration>) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// Keep sessions, back-channel logouts and refresh coordination in Redis
    /// (`redis://[:password@]host[:port][/db]`), so that several instances share them.
    /// Needs the `redis` feature. Unless a store was given with
    /// [`AuthConfigBuilder::with_session_store`], sessions are stored there too.
    pub fn with_redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis_url = Some(RedisUrl(url.into()));
        self
    }

    /// The CA certificates (PEM) that a `rediss://` server's certificate must chain to
    /// (`REDIS_CA_FILE`); without it, the system's roots.
    pub fn with_redis_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.redis_ca_file = Some(path.into());
        self
    }

    /// Store sessions in Redis in clear, without `APP_SECRET` or
    /// `SESSION_ENCRYPTION_KEY` (`SESSION_STORE_PLAINTEXT=dangerous`): anyone who can
    /// read Redis then reads every session's tokens, and logout markers are not
    /// authenticated. Without it, a Redis URL without a key is refused at build.
    pub fn dangerous_store_sessions_in_plaintext(mut self) -> Self {
        self.dangerous_plaintext_sessions = true;
        self
    }

    /// The longest wait for one Redis command (default 2 s); past it the request
    /// answers 503.
    pub fn with_redis_timeout(mut self, timeout: Duration) -> Self {
        self.redis_timeout = timeout;
        self
    }

    /// Longest lifetime of a session (default 7 days). Back-channel logouts are
    /// remembered this long.
    pub fn with_session_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_lifetime = lifetime;
        self
    }

    /// Minimum time between two JWKS fetches caused by an unknown `kid` (default 30 s).
    pub fn with_jwks_refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.jwks_refetch_cooldown = cooldown;
        self
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Checks everything and returns the configuration.
    pub fn build(self) -> Result<AuthConfig, ConfigError> {
        if self.session_lifetime.is_zero() || self.session_lifetime > MAX_SESSION_LIFETIME {
            return Err(ConfigError::Invalid {
                name: "session lifetime",
                reason: "must be between 1 second and 400 days".into(),
            });
        }
        if self
            .idle_timeout
            .is_some_and(|i| i.is_zero() || i > MAX_SESSION_LIFETIME)
        {
            return Err(ConfigError::Invalid {
                name: "idle timeout",
                reason: "must be between 1 second and 400 days".into(),
            });
        }
        for (name, t) in [
            ("HTTP timeout", self.request_timeout),
            ("connect timeout", self.connect_timeout),
            ("Redis timeout", self.redis_timeout),
        ] {
            if t.is_zero() || t > Duration::from_secs(300) {
                return Err(ConfigError::Invalid {
                    name,
                    reason: "must be between 1 millisecond and 5 minutes".into(),
                });
            }
        }
        if self.refresh_margin > MAX_SESSION_LIFETIME {
            return Err(ConfigError::Invalid {
                name: "refresh margin",
                reason: "must be at most 400 days".into(),
            });
        }
        if let Some(RedisUrl(u)) = &self.redis_url {
            check_redis_url(u)?;
            let keyed = self.cookie_key.is_some() || self.session_key.is_some();
            if !keyed && !self.dangerous_plaintext_sessions {
                return Err(ConfigError::Invalid {
                    name: "REDIS_URL",
                    reason: "sessions in Redis are sealed with a key shared by every instance: set APP_SECRET or SESSION_ENCRYPTION_KEY (or SESSION_STORE_PLAINTEXT=dangerous to store them in clear)".into(),
                });
            }
        }
        let issuer_url = parse_url("OIDC_ISSUER", &self.issuer)?;
        if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
            return Err(ConfigError::InvalidUrl {
                name: "OIDC_ISSUER",
                reason: "an issuer has no query or fragment".into(),
            });
        }
        let mut app_url = parse_url("APP_URL", &self.app_url)?;
        if app_url.query().is_some() || app_url.fragment().is_some() {
            return Err(ConfigError::InvalidUrl {
                name: "APP_URL",
                reason: "it must have no query or fragment: the redirect URI is APP_URL/auth/callback, and providers drop a fragment from it (Auth0 documents this)".into(),
            });
        }
        if !app_url.path().ends_with('/') {
            let p = format!("{}/", app_url.path());
            app_url.set_path(&p);
        }
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::MissingEnv("OIDC_CLIENT_ID"));
        }
        let prefix = self.route_prefix.trim_end_matches('/').to_string();
        if !prefix.starts_with('/')
            || prefix.len() < 2
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c))
        {
            return Err(ConfigError::Invalid {
                name: "route prefix",
                reason: "expected a path like /auth".into(),
            });
        }
        let redirect_uri = app_url
            .join(&format!("{}/callback", &prefix[1..]))
            .map_err(|e| ConfigError::InvalidUrl {
                name: "APP_URL",
                reason: e.to_string(),
            })?;
        let post_logout_redirect_uri = match &self.post_logout_redirect_uri {
            Some(u) => parse_url("OIDC_POST_LOGOUT_REDIRECT_URI", u)?,
            None => app_url.clone(),
        };
        let kind = self.provider_kind;
        // Scalekit's web-app guide checks the access token's `aud` against the client
        // id (and requires `iat`): its preset does by default.
        let access_token_audience = match (&self.access_token_audience, kind) {
            (None, ProviderKind::Scalekit) => Some(self.client_id.clone()),
            (a, _) => a.clone(),
        };
        let mut scopes = self.scopes.unwrap_or_else(|| {
            kind.default_scopes()
                .unwrap_or(&["openid", "profile", "email", "offline_access"])
                .iter()
                .map(|s| s.to_string())
                .collect()
        });
        let mut default_login = self.default_login;
        for (name, value) in kind.default_extras() {
            if !default_login.extra.iter().any(|(n, _)| n == name) {
                default_login
                    .extra
                    .push((name.to_string(), value.to_string()));
            }
        }
        scopes.retain(|s| !s.is_empty());
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".into());
        }
        if let Some(bad) = scopes.iter().find(|s| {
            !s.chars()
                .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
        }) {
            return Err(ConfigError::Invalid {
                name: "OIDC_SCOPES",
                reason: format!("scope {bad:?} has characters a scope cannot have"),
            });
        }
        if self.api_audiences.iter().any(|a| a.trim().is_empty()) {
            return Err(ConfigError::Invalid {
                name: "OIDC_API_AUDIENCE",
                reason: "an API audience cannot be empty".into(),
            });
        }
        if let Some(bad) = self.api_scopes.iter().find(|s| {
            s.is_empty()
                || !s
                    .chars()
                    .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
        }) {
            return Err(ConfigError::Invalid {
                name: "OIDC_API_SCOPES",
                reason: format!("scope {bad:?} has characters a scope cannot have"),
            });
        }
        let client_id_is_an_api_audience = self.api_audiences.contains(&self.client_id);
        if client_id_is_an_api_audience && self.dangerous_untyped_bearer_for_client_id {
            tracing::warn!(
                "an API audience is this client's id and untyped bearer tokens are accepted: an ID token of this client could be taken for an access token"
            );
        }
        let bearer_require_at_jwt = self.bearer_require_at_jwt
            || (client_id_is_an_api_audience && !self.dangerous_untyped_bearer_for_client_id);
        if self.bearer_cache_capacity > MAX_BEARER_CACHE_CAPACITY {
            return Err(ConfigError::Invalid {
                name: "bearer cache capacity",
                reason: format!("must be at most {MAX_BEARER_CACHE_CAPACITY}"),
            });
        }
        let algorithms = self.algorithms.unwrap_or_else(Algorithm::default_allowed);
        if algorithms.is_empty() {
            return Err(ConfigError::Invalid {
                name: "algorithms",
                reason: "at least one signature algorithm must be allowed".into(),
            });
        }
        if let Some(e) = &self.endpoints {
            for (name, u) in e.urls() {
                check_secure(name, u)?;
            }
        }
        Ok(AuthConfig {
            issuer: self.issuer,
            client_id: self.client_id,
            client_secret: self.client_secret,
            client_auth: self.client_auth,
            app_url,
            route_prefix: prefix,
            redirect_uri,
            post_logout_redirect_uri,
            scopes,
            leeway: self.leeway,
            refresh_margin: self.refresh_margin,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            max_response_bytes: self.max_response_bytes,
            algorithms,
            access_token_audience,
            api_audiences: self.api_audiences,
            api_scopes: self.api_scopes,
            bearer_require_at_jwt,
            bearer_cache_capacity: self.bearer_cache_capacity,
            cookie_key: self.cookie_key,
            session_key: self.session_key,
            endpoints: self.endpoints,
            default_login,
            provider_kind: kind,
            claim_names: self.claim_names,
            userinfo_at_sign_in: self.userinfo_at_sign_in,
            event_hook: self.event_hook,
            session_lifetime: self.session_lifetime,
            idle_timeout: self.idle_timeout,
            jwks_refetch_cooldown: self.jwks_refetch_cooldown,
            clock: self.clock,
            session_store: self.session_store,
            redis_url: self.redis_url,
            redis_timeout: self.redis_timeout,
            redis_ca_file: self.redis_ca_file,
        })
    }
}

fn parse_url(name: &'static str, s: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(s.trim()).map_err(|e| ConfigError::InvalidUrl {
        name,
        reason: e.to_string(),
    })?;
    check_secure(name, &url)?;
    Ok(url)
}

/// https, or http on a loopback host.
pub(crate) fn check_secure(name: &'static str, url: &Url) -> Result<(), ConfigError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(ConfigError::InsecureUrl { name }),
        other => Err(ConfigError::InvalidUrl {
            name,
            reason: format!("unsupported scheme {other:?}"),
        }),
    }
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    const BASE: &[(&str, &str)] = &[
        ("OIDC_ISSUER", "https://id.example.com"),
        ("OIDC_CLIENT_ID", "app"),
        ("OIDC_CLIENT_SECRET", "s3cret-value"),
        ("APP_URL", "http://127.0.0.1:3000"),
    ];

    #[test]
    fn rp_bearer_untyped_refused_when_an_api_audience_is_the_client_id() {
        let b = || {
            AuthConfig::builder(
                "https://id.example.com",
                "client",
                "https://app.example.com",
            )
        };
        let strict = b().with_api_audience("client").build().expect("config");
        assert!(strict.bearer_require_at_jwt, "typed at+jwt required");
        let other = b()
            .with_api_audience("https://api.example.com")
            .build()
            .expect("config");
        assert!(!other.bearer_require_at_jwt);
        let loose = b()
            .with_api_audience("client")
            .dangerous_accept_untyped_bearer_tokens_for_client_id_audience()
            .build()
            .expect("config");
        assert!(!loose.bearer_require_at_jwt, "the app opted out");
    }

    #[test]
    fn from_env_builds_redirect_uri_and_defaults() {
        let c = AuthConfig::from_lookup(env(BASE)).expect("config");
        assert_eq!(
            c.redirect_uri.as_str(),
            "http://127.0.0.1:3000/auth/callback"
        );
        assert_eq!(
            c.post_logout_redirect_uri.as_str(),
            "http://127.0.0.1:3000/"
        );
        assert_eq!(c.scopes, ["openid", "profile", "email", "offline_access"]);
        assert!(!c.secure_cookies());
    }

    #[test]
    fn optional_settings_are_read_from_the_environment() {
        let mut vars = BASE.to_vec();
        vars.extend([
            ("OIDC_LEEWAY_SECS", "5"),
            ("OIDC_HTTP_TIMEOUT_SECS", "3"),
            ("OIDC_SCOPES", "openid email"),
            ("OIDC_CLIENT_AUTH", "client_secret_post"),
        ]);
        let c = AuthConfig::from_lookup(env(&vars)).expect("config");
        assert_eq!(c.leeway, Duration::from_secs(5));
        assert_eq!(c.request_timeout, Duration::from_secs(3));
        assert_eq!(c.scopes, ["openid", "email"]);
        assert_eq!(c.client_auth, Some(ClientAuthMethod::ClientSecretPost));
        let mut bad = BASE.to_vec();
        bad.push(("OIDC_CLIENT_AUTH", "private_key_jwt"));
        assert!(AuthConfig::from_lookup(env(&bad)).is_err());
    }

    #[test]
    fn rejects_missing_issuer() {
        let err = AuthConfig::from_lookup(env(&BASE[1..])).unwrap_err();
        assert!(matches!(err, ConfigError::MissingEnv("OIDC_ISSUER")));
    }

    #[test]
    fn rejects_plain_http_issuer_off_loopback() {
        let mut vars = BASE.to_vec();
        vars[0] = ("OIDC_ISSUER", "http://id.example.com");
        let err = AuthConfig::from_lookup(env(&vars)).unwrap_err();
        assert!(
            err.to_string()
                .contains("not an https URL and not loopback")
        );
    }

    #[test]
    fn rejects_short_app_secret() {
        let mut vars = BASE.to_vec();
        vars.push(("APP_SECRET", "abcd"));
        let err = AuthConfig::from_lookup(env(&vars)).unwrap_err();
        assert!(err.to_string().contains("too short"));
    }

    #[test]
    fn debug_never_prints_secrets() {
        let mut vars = BASE.to_vec();
        let key = "ab".repeat(32);
        vars.push(("APP_SECRET", &key));
        let c = AuthConfig::from_lookup(env(&vars)).expect("config");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cret-value"));
        assert!(!dbg.contains(&key));
        assert!(!dbg.contains("171, 171"));
    }

    #[test]
    fn redis_url_is_read_checked_and_its_password_never_printed() {
        let mut vars = BASE.to_vec();
        vars.push(("REDIS_URL", "redis://:hunter2-pass@127.0.0.1:6379/0"));
        let secret = "ab".repeat(32);
        vars.push(("APP_SECRET", &secret));
        let built = AuthConfig::from_lookup(env(&vars));
        if cfg!(feature = "redis") {
            let c = built.expect("config");
            let dbg = format!("{c:?}");
            assert!(!dbg.contains("hunter2"), "{dbg}");
            assert!(dbg.contains("127.0.0.1:6379"), "{dbg}");
        } else {
            assert!(built.unwrap_err().to_string().contains("`redis` feature"));
        }
        let mut vars = BASE.to_vec();
        vars.push(("REDIS_URL", "http://127.0.0.1:6379"));
        assert!(AuthConfig::from_lookup(env(&vars)).is_err());
    }

    #[test]
    fn client_authentication_is_settled_by_discovery_unless_chosen() {
        use ClientAuthMethod::{ClientSecretBasic as Basic, ClientSecretPost as Post};
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let generic = ProviderKind::Generic;
        assert_eq!(ClientAuthMethod::resolve(None, &[], generic), Basic);
        assert_eq!(
            ClientAuthMethod::resolve(None, &[], ProviderKind::Scalekit),
            Post
        );
        let both = list(&["client_secret_post", "client_secret_basic"]);
        assert_eq!(
            ClientAuthMethod::resolve(None, &both, ProviderKind::Scalekit),
            Basic
        );
        let post = list(&["private_key_jwt", "client_secret_post"]);
        assert_eq!(ClientAuthMethod::resolve(None, &post, generic), Post);
        assert_eq!(ClientAuthMethod::resolve(Some(Post), &both, generic), Post);
        assert_eq!(
            ClientAuthMethod::resolve(Some(Basic), &post, generic),
            Basic
        );
    }

    #[test]
    fn rp_app_url_with_a_fragment_refused_at_build() {
        let b = |app: &str| AuthConfig::builder("https://tenant.auth0.com/", "c", app).build();
        let e = b("https://app.example.com/#/home").expect_err("a fragment");
        assert!(e.to_string().contains("fragment"), "{e}");
        assert!(b("https://app.example.com/?x=1").is_err(), "a query");
        assert!(b("https://app.example.com/").is_ok());
    }

    #[test]
    fn scalekit_checks_the_access_token_audience_by_default() {
        let b = || {
            AuthConfig::builder(
                "https://env.scalekit.com",
                "skc_1",
                "https://app.example.com",
            )
            .with_provider_kind(ProviderKind::Scalekit)
        };
        let c = b().build().expect("config");
        assert_eq!(c.access_token_audience.as_deref(), Some("skc_1"));
        let c = b()
            .with_access_token_audience("other")
            .build()
            .expect("config");
        assert_eq!(c.access_token_audience.as_deref(), Some("other"));
        let generic = AuthConfig::builder("https://id.example.com", "c", "https://app.example.com")
            .build()
            .expect("config");
        assert_eq!(generic.access_token_audience, None);
    }

    #[test]
    fn rp_redis_without_a_key_refused_at_start() {
        let mut vars = BASE.to_vec();
        vars.push(("REDIS_URL", "redis://127.0.0.1:6379/0"));
        let refused = AuthConfig::from_lookup(env(&vars));
        if cfg!(feature = "redis") {
            let e = refused.expect_err("no key");
            assert!(
                e.to_string()
                    .contains("APP_SECRET or SESSION_ENCRYPTION_KEY"),
                "{e}"
            );
            vars.push(("SESSION_STORE_PLAINTEXT", "dangerous"));
            assert!(
                AuthConfig::from_lookup(env(&vars)).is_ok(),
                "explicit opt-out"
            );
            vars.pop();
            let key = "cd".repeat(32);
            vars.push(("SESSION_ENCRYPTION_KEY", &key));
            assert!(AuthConfig::from_lookup(env(&vars)).is_ok(), "a key");
            vars.pop();
            vars.push(("SESSION_STORE_PLAINTEXT", "yes"));
            assert!(
                AuthConfig::from_lookup(env(&vars)).is_err(),
                "only `dangerous`"
            );
        }
    }

    #[test]
    fn rejects_absurd_timeouts() {
        let b = || AuthConfig::builder("https://id.example.com", "app", "https://app.example.com");
        assert!(b().with_idle_timeout(Some(Duration::MAX)).build().is_err());
        assert!(b().with_idle_timeout(Some(Duration::ZERO)).build().is_err());
        assert!(b().with_request_timeout(Duration::MAX).build().is_err());
        assert!(b().with_redis_timeout(Duration::ZERO).build().is_err());
        assert!(b().with_refresh_margin(Duration::MAX).build().is_err());
        assert!(b().with_idle_timeout(None).build().is_ok());
    }

    #[test]
    fn rejects_absurd_session_lifetimes() {
        for lifetime in [Duration::ZERO, Duration::MAX] {
            let err =
                AuthConfig::builder("https://id.example.com", "app", "https://app.example.com")
                    .with_session_lifetime(lifetime)
                    .build()
                    .unwrap_err();
            assert!(err.to_string().contains("400 days"), "{err}");
        }
    }

    #[test]
    fn debug_never_prints_the_session_store() {
        let c = AuthConfig::builder("https://id.example.com", "app", "https://app.example.com")
            .with_session_store(crate::MemoryStore::default())
            .build()
            .expect("config");
        assert!(format!("{c:?}").contains("SharedStore(..)"));
    }

    #[test]
    fn openid_scope_is_always_requested() {
        let c = AuthConfig::builder("https://id.example.com", "app", "https://app.example.com")
            .with_scopes(["email"])
            .build()
            .expect("config");
        assert_eq!(c.scopes, ["openid", "email"]);
        assert!(c.secure_cookies());
    }
}

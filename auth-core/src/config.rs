//! Configuration: a builder with secure defaults, validated up front, or `from_env()`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use url::Url;

use crate::flow::authorize::LoginOptions;
use crate::presets::ProviderKind;
use crate::provider::ProviderEndpoints;
use crate::provider_config::{ChooserPage, ProviderConfig, ProviderConfigBuilder, ProviderLink};
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
    /// A provider's required environment variable is missing (`OIDC_X_ISSUER`).
    #[error("{0} is not set")]
    MissingProviderEnv(String),
    /// A setting of one provider of several is wrong.
    #[error("provider {id:?}: {source}")]
    Provider {
        /// The provider's id.
        id: String,
        /// What is wrong.
        #[source]
        source: Box<ConfigError>,
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
    /// A JWT signed with the app's own key (`private_key_jwt`, RFC 7523): no shared
    /// secret. Set the key with [`crate::ProviderConfigBuilder::with_client_key`].
    PrivateKeyJwt,
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
    /// The providers, in the order given; one unnamed provider for
    /// [`AuthConfig::builder`].
    pub(crate) providers: Vec<ProviderConfig>,
    pub(crate) app_url: Url,
    pub(crate) route_prefix: String,
    pub(crate) post_logout_redirect_uri: Url,
    pub(crate) leeway: Duration,
    pub(crate) refresh_margin: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_response_bytes: usize,
    pub(crate) api_scopes: Vec<String>,
    pub(crate) bearer_cache_capacity: usize,
    pub(crate) cookie_key: Option<CookieKeyBytes>,
    pub(crate) session_key: Option<CookieKeyBytes>,
    pub(crate) event_hook: Option<EventHook>,
    pub(crate) chooser_page: Option<ChooserPage>,
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
    /// Keep checked sessions in memory, invalidated through Redis (the fast path).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) redis_session_cache: bool,
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
        AuthConfigBuilder::new(
            app_url.into(),
            vec![ProviderConfigBuilder::new(issuer, client_id)],
            false,
        )
    }

    /// Starts a builder for an app with several providers, each named by its id
    /// ([`ProviderConfig::builder`]): `/auth/login` shows a chooser, `/auth/login/{id}`
    /// starts at one provider, and provider `id`'s redirect URI is
    /// `app_url + "/auth/callback/{id}"`.
    ///
    /// ```
    /// use auth_core::{AuthConfig, ProviderConfig};
    /// let config = AuthConfig::builder_for_providers("https://app.example.com")
    ///     .with_provider(ProviderConfig::builder("google", "https://accounts.google.com", "g-client")
    ///         .with_name("Google")
    ///         .with_client_secret("…"))
    ///     .with_provider(ProviderConfig::builder("corp", "https://sso.example.com", "corp-client")
    ///         .with_client_secret("…"))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(config.providers()[1].redirect_uri().as_str(), "https://app.example.com/auth/callback/corp");
    /// ```
    pub fn builder_for_providers(app_url: impl Into<String>) -> AuthConfigBuilder {
        AuthConfigBuilder::new(app_url.into(), Vec::new(), true)
    }

    /// Reads `OIDC_ISSUER`, `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET`, `APP_URL` and the
    /// optional `OIDC_SCOPES` (space separated), `OIDC_POST_LOGOUT_REDIRECT_URI`,
    /// `OIDC_LEEWAY_SECS`, `OIDC_HTTP_TIMEOUT_SECS`, `OIDC_CLIENT_AUTH`
    /// (`client_secret_basic`/`client_secret_post`), `APP_SECRET` (hex, at least 32
    /// bytes: the cookie key shared by all instances), `SESSION_ENCRYPTION_KEY`,
    /// `SESSION_LIFETIME_SECS`, `SESSION_IDLE_TIMEOUT_SECS`, `REDIS_URL`, and for
    /// bearer tokens `OIDC_API_AUDIENCE` (comma or space separated) and
    /// `OIDC_API_SCOPES` (space separated).
    ///
    /// With `OIDC_PROVIDERS=a,b` (ids `[a-z0-9-]+`), each provider X is read from
    /// `OIDC_X_ISSUER`, `OIDC_X_CLIENT_ID`, `OIDC_X_CLIENT_SECRET` and the optional
    /// `OIDC_X_NAME`, `OIDC_X_PROVIDER`, `OIDC_X_SCOPES`, `OIDC_X_API_AUDIENCE`,
    /// `OIDC_X_ALLOWED_TENANTS`, `OIDC_X_CLIENT_AUTH`, `OIDC_X_USERINFO` and the
    /// `OIDC_X_*_CLAIM`s (X uppercased, `-` as `_`); `OIDC_ISSUER` must then be unset.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Like [`AuthConfig::from_env`], reading variables from a function (tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let req = |name: &'static str| get(name).ok_or(ConfigError::MissingEnv(name));
        let mut b = match get("OIDC_PROVIDERS").filter(|s| !s.trim().is_empty()) {
            None => {
                let provider = provider_from_lookup(
                    &|suffix: &str| get(&format!("OIDC_{suffix}")),
                    req("OIDC_ISSUER")?,
                    req("OIDC_CLIENT_ID")?,
                    None,
                )?;
                let mut b = Self::builder("", "", req("APP_URL")?);
                b.providers = vec![provider];
                b
            }
            Some(list) => {
                if get("OIDC_ISSUER").is_some() {
                    return Err(ConfigError::Invalid {
                        name: "OIDC_ISSUER",
                        reason: "with OIDC_PROVIDERS, each provider X has its own OIDC_X_ISSUER"
                            .into(),
                    });
                }
                let mut b = Self::builder_for_providers(req("APP_URL")?);
                for id in list.split(',').map(str::trim) {
                    crate::provider_config::check_id(id)?;
                    let prefix = format!("OIDC_{}_", id.to_ascii_uppercase().replace('-', "_"));
                    let var = |suffix: &str| get(&format!("{prefix}{suffix}"));
                    let required = |suffix: &str| {
                        var(suffix).ok_or_else(|| {
                            ConfigError::MissingProviderEnv(format!("{prefix}{suffix}"))
                        })
                    };
                    let provider = provider_from_lookup(
                        &var,
                        required("ISSUER")?,
                        required("CLIENT_ID")?,
                        Some(id),
                    )
                    .map_err(|e| ConfigError::Provider {
                        id: id.to_string(),
                        source: Box::new(e),
                    })?;
                    b = b.with_provider(provider);
                }
                b
            }
        };
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
        if let Some(s) = get("APP_SECRET") {
            b = b.with_app_secret_hex(&s);
        }
        if let Some(s) = get("OIDC_API_SCOPES") {
            b = b.with_required_api_scopes(s.split_whitespace());
        }
        if let Some(s) = get("SESSION_ENCRYPTION_KEY") {
            b = b.with_session_encryption_key_hex(&s);
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
            // Without the `redis` feature, kept for `build()` to name the feature.
            b.redis_url = Some(RedisUrl(s.trim().to_owned()));
        }
        if let Some(s) = get("REDIS_CA_FILE").filter(|s| !s.trim().is_empty()) {
            b.redis_ca_file = Some(s.trim().into());
        }
        if let Some(v) = get("REDIS_SESSION_CACHE").filter(|s| !s.trim().is_empty()) {
            b.redis_session_cache = switch(Some(v), "REDIS_SESSION_CACHE")?;
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

    /// The providers, in the order configured (one, unnamed, for
    /// [`AuthConfig::builder`]).
    pub fn providers(&self) -> &[ProviderConfig] {
        &self.providers
    }

    /// Whether the providers are named (`/auth/login/{id}` routes and a chooser).
    pub fn has_named_providers(&self) -> bool {
        self.providers.iter().any(|p| p.id.is_some())
    }

    /// The first provider.
    pub(crate) fn first(&self) -> &ProviderConfig {
        &self.providers[0]
    }

    /// The issuer of the first provider, as configured.
    pub fn issuer(&self) -> &str {
        &self.first().issuer
    }

    /// The client id at the first provider.
    pub fn client_id(&self) -> &str {
        &self.first().client_id
    }

    /// The public base URL of the app.
    pub fn app_url(&self) -> &Url {
        &self.app_url
    }

    /// The redirect URI registered at the first provider (`APP_URL` + prefix +
    /// `/callback`, and `/{id}` for a named provider).
    pub fn redirect_uri(&self) -> &Url {
        &self.first().redirect_uri
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

/// One provider's settings from variables `OIDC_{suffix}` (single provider) or
/// `OIDC_X_{suffix}` (provider X).
fn provider_from_lookup(
    var: &dyn Fn(&str) -> Option<String>,
    issuer: String,
    client_id: String,
    id: Option<&str>,
) -> Result<ProviderConfigBuilder, ConfigError> {
    let mut p = match id {
        Some(id) => ProviderConfig::builder(id, issuer, client_id),
        None => ProviderConfigBuilder::new(issuer, client_id),
    };
    let var = |suffix: &str| var(suffix).filter(|s| !s.trim().is_empty());
    if let Some(s) = var("CLIENT_SECRET") {
        p = p.with_client_secret(s);
    }
    if let Some(s) = var("NAME") {
        p = p.with_name(s.trim());
    }
    if let Some(s) = var("SCOPES") {
        p = p.with_scopes(s.split_whitespace());
    }
    if let Some(s) = var("CLIENT_AUTH") {
        p = p.with_client_auth(match s.trim() {
            "client_secret_basic" => ClientAuthMethod::ClientSecretBasic,
            "client_secret_post" => ClientAuthMethod::ClientSecretPost,
            "private_key_jwt" => ClientAuthMethod::PrivateKeyJwt,
            _ => {
                return Err(ConfigError::Invalid {
                    name: "OIDC_CLIENT_AUTH",
                    reason: "expected client_secret_basic, client_secret_post or private_key_jwt"
                        .into(),
                });
            }
        });
    }
    if let Some(files) = var("CLIENT_PRIVATE_KEY_FILE") {
        // Oldest first: the last one signs, all are published at /auth/jwks.
        let paths: Vec<&str> = files
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .collect();
        for (i, path) in paths.iter().enumerate() {
            let pem = std::fs::read(path).map_err(|e| ConfigError::Invalid {
                name: "OIDC_CLIENT_PRIVATE_KEY_FILE",
                reason: format!("cannot read {path:?}: {e}"),
            })?;
            let mut key = crate::ClientKey::from_pem(&pem)?;
            if i + 1 == paths.len()
                && let Some(kid) = var("CLIENT_KEY_ID")
            {
                key = key.with_key_id(kid.trim());
            }
            p = p.with_client_key(key);
        }
    }
    match var("PROFILE").as_deref().map(str::trim) {
        None | Some("baseline") => {}
        Some("fapi2") => p = p.with_security_profile(crate::SecurityProfile::Fapi2),
        Some(_) => {
            return Err(ConfigError::Invalid {
                name: "OIDC_PROFILE",
                reason: "expected fapi2 (or baseline)".into(),
            });
        }
    }
    if switch(var("DPOP"), "OIDC_DPOP")? {
        p = p.with_dpop(true);
    }
    if switch(var("PAR"), "OIDC_PAR")? {
        p = p.with_pushed_authorization_requests(true);
    }
    if let Some(s) = var("PROVIDER") {
        let kind =
            s.trim()
                .parse()
                .map_err(|e: crate::UnknownProviderKind| ConfigError::Invalid {
                    name: "OIDC_PROVIDER",
                    reason: e.to_string(),
                })?;
        p = p.with_provider_kind(kind);
    }
    if switch(var("USERINFO"), "OIDC_USERINFO")? {
        p = p.with_userinfo_at_sign_in(true);
    }
    if let Some(s) = var("ROLES_CLAIM") {
        p = p.with_roles_claim(s.trim());
    }
    if let Some(s) = var("ORGANIZATION_CLAIM") {
        p = p.with_organization_claim(s.trim());
    }
    if let Some(s) = var("PERMISSIONS_CLAIM") {
        p = p.with_permissions_claim(s.trim());
    }
    if let Some(s) = var("API_AUDIENCE") {
        for aud in s.split([',', ' ']).filter(|a| !a.is_empty()) {
            p = p.with_api_audience(aud);
        }
    }
    if let Some(s) = var("ALLOWED_TENANTS") {
        p = p.with_allowed_tenants(s.split([',', ' ']).filter(|a| !a.is_empty()));
    }
    Ok(p)
}

/// An on/off variable: unset, `0` or `false` is off; `1` or `true` is on.
fn switch(value: Option<String>, name: &'static str) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("0" | "false") => Ok(false),
        Some("1" | "true") => Ok(true),
        Some(_) => Err(ConfigError::Invalid {
            name,
            reason: "expected 1 or 0".into(),
        }),
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
    app_url: String,
    /// One unnamed provider ([`AuthConfig::builder`]), or the named ones.
    providers: Vec<ProviderConfigBuilder>,
    named: bool,
    /// A provider setting called on a builder of several providers.
    misplaced: Option<&'static str>,
    /// The first error of a setter that checks its value.
    error: Option<ConfigError>,
    route_prefix: String,
    post_logout_redirect_uri: Option<String>,
    leeway: Duration,
    refresh_margin: Duration,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_response_bytes: usize,
    api_scopes: Vec<String>,
    bearer_cache_capacity: usize,
    cookie_key: Option<CookieKeyBytes>,
    session_key: Option<CookieKeyBytes>,
    event_hook: Option<EventHook>,
    chooser_page: Option<ChooserPage>,
    session_lifetime: Duration,
    idle_timeout: Option<Duration>,
    jwks_refetch_cooldown: Duration,
    clock: Clock,
    session_store: Option<SharedStore>,
    redis_url: Option<RedisUrl>,
    redis_timeout: Duration,
    redis_ca_file: Option<std::path::PathBuf>,
    redis_session_cache: bool,
    dangerous_plaintext_sessions: bool,
}

impl AuthConfigBuilder {
    fn new(app_url: String, providers: Vec<ProviderConfigBuilder>, named: bool) -> Self {
        Self {
            app_url,
            providers,
            named,
            misplaced: None,
            error: None,
            route_prefix: "/auth".into(),
            post_logout_redirect_uri: None,
            leeway: Duration::from_secs(60),
            refresh_margin: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: 1024 * 1024,
            api_scopes: Vec::new(),
            bearer_cache_capacity: DEFAULT_BEARER_CACHE_CAPACITY,
            cookie_key: None,
            session_key: None,
            event_hook: None,
            chooser_page: None,
            session_lifetime: Duration::from_secs(7 * 24 * 3600),
            idle_timeout: Some(Duration::from_secs(3 * 24 * 3600)),
            jwks_refetch_cooldown: Duration::from_secs(30),
            clock: Clock::system(),
            session_store: None,
            redis_url: None,
            redis_timeout: Duration::from_secs(2),
            redis_ca_file: None,
            redis_session_cache: true,
            dangerous_plaintext_sessions: false,
        }
    }

    /// Applies a provider setting to the one provider; on a builder of several
    /// providers, `build` refuses it (set it on that provider's builder).
    fn provider(
        mut self,
        setting: &'static str,
        f: impl FnOnce(ProviderConfigBuilder) -> ProviderConfigBuilder,
    ) -> Self {
        match (self.named, self.providers.pop()) {
            (false, Some(p)) => self.providers.push(f(p)),
            (_, p) => {
                self.providers.extend(p);
                self.misplaced.get_or_insert(setting);
            }
        }
        self
    }

    /// Replaces the provider chooser (`GET {prefix}/login` with several providers):
    /// `page` gets one [`ProviderLink`] per provider and returns the whole HTML
    /// document (escape what it prints: names come from the configuration, `href`s
    /// carry the request's query).
    pub fn with_chooser_page(
        mut self,
        page: impl Fn(&[ProviderLink]) -> String + Send + Sync + 'static,
    ) -> Self {
        self.chooser_page = Some(ChooserPage(Arc::new(page)));
        self
    }

    /// Entra ID multi-tenant (`common`, `organizations`): the tenants whose users may
    /// sign in (`OIDC_ALLOWED_TENANTS`), as
    /// [`ProviderConfigBuilder::with_allowed_tenants`].
    pub fn with_allowed_tenants<I, S>(self, tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.provider("with_allowed_tenants", |p| p.with_allowed_tenants(tenants))
    }

    /// A key for `private_key_jwt`, as [`ProviderConfigBuilder::with_client_key`].
    pub fn with_client_key(self, key: crate::ClientKey) -> Self {
        self.provider("with_client_key", |p| p.with_client_key(key))
    }

    /// Pushed authorization requests (`OIDC_PAR=1`), as
    /// [`ProviderConfigBuilder::with_pushed_authorization_requests`].
    pub fn with_pushed_authorization_requests(self, on: bool) -> Self {
        self.provider("with_pushed_authorization_requests", |p| {
            p.with_pushed_authorization_requests(on)
        })
    }

    /// A security profile (`OIDC_PROFILE=fapi2`), as
    /// [`ProviderConfigBuilder::with_security_profile`].
    pub fn with_security_profile(self, profile: crate::SecurityProfile) -> Self {
        self.provider("with_security_profile", |p| {
            p.with_security_profile(profile)
        })
    }

    /// DPoP-bound sessions (`OIDC_DPOP=1`), as [`ProviderConfigBuilder::with_dpop`].
    pub fn with_dpop(self, on: bool) -> Self {
        self.provider("with_dpop", |p| p.with_dpop(on))
    }

    /// Adds a provider to a builder of [`AuthConfig::builder_for_providers`].
    pub fn with_provider(mut self, provider: ProviderConfigBuilder) -> Self {
        if self.named {
            self.providers.push(provider);
        } else {
            self.misplaced.get_or_insert("with_provider");
        }
        self
    }

    /// The client secret (confidential clients).
    pub fn with_client_secret(self, secret: impl Into<String>) -> Self {
        self.provider("with_client_secret", |p| p.with_client_secret(secret))
    }

    /// How to authenticate at the token endpoint (`OIDC_CLIENT_AUTH`). Without a
    /// choice: `client_secret_basic` when discovery's
    /// `token_endpoint_auth_methods_supported` lists it or lists nothing, else
    /// `client_secret_post` when it lists that (the Scalekit preset prefers
    /// `client_secret_post` when discovery lists nothing, as its guide shows).
    pub fn with_client_auth(self, method: ClientAuthMethod) -> Self {
        self.provider("with_client_auth", |p| p.with_client_auth(method))
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
    pub fn with_scopes<I, S>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.provider("with_scopes", |p| p.with_scopes(scopes))
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
    pub fn with_algorithms(self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.provider("with_algorithms", |p| p.with_algorithms(algorithms))
    }

    /// The audience expected in JWT access tokens received at sign-in and refresh (from
    /// this issuer). Without it, their audience is not checked: it names whatever API
    /// the provider issued them for, not this client.
    pub fn with_access_token_audience(self, audience: impl Into<String>) -> Self {
        self.provider("with_access_token_audience", |p| {
            p.with_access_token_audience(audience)
        })
    }

    /// An audience of this app's API (`OIDC_API_AUDIENCE`; call again for several).
    /// Bearer access tokens are accepted only when at least one is set, and only if
    /// their `aud` names one of them.
    pub fn with_api_audience(self, audience: impl Into<String>) -> Self {
        self.provider("with_api_audience", |p| p.with_api_audience(audience))
    }

    /// Accept as bearer tokens only JWTs typed `at+jwt` (RFC 9068 §4). Off by default,
    /// because Auth0, Keycloak and Entra ID type their access tokens `JWT`; without it,
    /// a `JWT` or untyped token is refused when it carries an ID-token or logout-token
    /// claim (`nonce`, `at_hash`, `c_hash`, `events`). Turn it on when the provider
    /// types access tokens `at+jwt` (oidc-provider, Scalekit, recent Okta), and
    /// especially when an API audience is this client's own id (Entra ID's default),
    /// where an ID token would otherwise have the right audience.
    pub fn with_bearer_require_at_jwt(self, require: bool) -> Self {
        self.provider("with_bearer_require_at_jwt", |p| {
            p.with_bearer_require_at_jwt(require)
        })
    }

    /// When an API audience is this client's own id (Entra ID's default), bearer tokens
    /// must be typed `at+jwt`: an ID token of this client has that audience too, and
    /// is not a credential for an API (RFC 9068 §4, RFC 8725 §3.11). This turns that
    /// rule off for a provider that types its access tokens `JWT`; ID tokens carrying
    /// `nonce`, `at_hash` or `c_hash` are still refused, others are not told apart.
    pub fn dangerous_accept_untyped_bearer_tokens_for_client_id_audience(self) -> Self {
        self.provider(
            "dangerous_accept_untyped_bearer_tokens_for_client_id_audience",
            |p| p.dangerous_accept_untyped_bearer_tokens_for_client_id_audience(),
        )
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
    /// A key that is not such hex is reported by [`AuthConfigBuilder::build`].
    pub fn with_app_secret_hex(mut self, hex_key: &str) -> Self {
        match key_from_hex("APP_SECRET", hex_key) {
            Ok(key) => self.cookie_key = Some(key),
            Err(e) => self.fail(e),
        }
        self
    }

    /// The key that encrypts session records in an external store (Redis, or a store
    /// given with [`AuthConfigBuilder::with_session_store`]), as hex of at least 32
    /// bytes (`SESSION_ENCRYPTION_KEY`). Without it, a key is derived from
    /// `APP_SECRET`; with neither, records are stored in clear (with a warning).
    ///
    /// A key that is not such hex is reported by [`AuthConfigBuilder::build`].
    pub fn with_session_encryption_key_hex(mut self, hex_key: &str) -> Self {
        match key_from_hex("SESSION_ENCRYPTION_KEY", hex_key) {
            Ok(key) => self.session_key = Some(key),
            Err(e) => self.fail(e),
        }
        self
    }

    /// Records the first setter error, for [`AuthConfigBuilder::build`] to return: the
    /// chain of setters is never broken (as `reqwest::ClientBuilder` does).
    fn fail(&mut self, error: ConfigError) {
        self.error.get_or_insert(error);
    }

    /// Endpoints for a provider without discovery. When set, discovery is not used.
    pub fn with_endpoints(self, endpoints: ProviderEndpoints) -> Self {
        self.provider("with_endpoints", |p| p.with_endpoints(endpoints))
    }

    /// The provider family ([`crate::Preset`] sets it; env `OIDC_PROVIDER`): the wire
    /// names of the login parameters (Auth0's `organization`, Keycloak's
    /// `kc_idp_hint`, Google's `hd`...), how `/auth/signup` asks for sign-up, and
    /// Google's refresh-token parameters. Validation is the same for every kind.
    pub fn with_provider_kind(self, kind: ProviderKind) -> Self {
        self.provider("with_provider_kind", |p| p.with_provider_kind(kind))
    }

    /// The claim that holds the user's roles, instead of the provider kind's own
    /// (`OIDC_ROLES_CLAIM`): a claim of that exact name (Auth0's namespaced
    /// `https://example.com/roles`), else a dotted path (`realm_access.roles`).
    pub fn with_roles_claim(self, claim: impl Into<String>) -> Self {
        self.provider("with_roles_claim", |p| p.with_roles_claim(claim))
    }

    /// At sign-in, also fetch the provider's UserInfo claims and add those the ID
    /// token lacks (`OIDC_USERINFO=1`), for providers whose ID tokens carry little. The
    /// answer's `sub` must be the ID token's; a failure refuses the sign-in (502).
    pub fn with_userinfo_at_sign_in(self, on: bool) -> Self {
        self.provider("with_userinfo_at_sign_in", |p| {
            p.with_userinfo_at_sign_in(on)
        })
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
    pub fn with_organization_claim(self, claim: impl Into<String>) -> Self {
        self.provider("with_organization_claim", |p| {
            p.with_organization_claim(claim)
        })
    }

    /// The claim that holds the user's permissions (`OIDC_PERMISSIONS_CLAIM`), as
    /// [`AuthConfigBuilder::with_roles_claim`].
    pub fn with_permissions_claim(self, claim: impl Into<String>) -> Self {
        self.provider("with_permissions_claim", |p| {
            p.with_permissions_claim(claim)
        })
    }

    /// Login options sent with every authorization request (organization, connection,
    /// extra parameters...). Per-request options from the login route are added on top.
    pub fn with_default_login_options(self, options: LoginOptions) -> Self {
        self.provider("with_default_login_options", |p| {
            p.with_default_login_options(options)
        })
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

    #[cfg(feature = "redis")]
    /// Keep sessions, back-channel logouts and refresh coordination in Redis
    /// (`redis://[:password@]host[:port][/db]`), so that several instances share them.
    /// Unless a store was given with
    /// [`AuthConfigBuilder::with_session_store`], sessions are stored there too.
    pub fn with_redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis_url = Some(RedisUrl(url.into()));
        self
    }

    #[cfg(feature = "redis")]
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

    #[cfg(feature = "redis")]
    /// Whether each instance keeps the sessions it has checked in memory, invalidated
    /// through Redis pub/sub within 100 ms of a change on any instance
    /// (`REDIS_SESSION_CACHE`, default on; 0 reads Redis on every request). Only when
    /// Redis stores the sessions (no [`AuthConfigBuilder::with_session_store`]).
    pub fn with_redis_session_cache(mut self, on: bool) -> Self {
        self.redis_session_cache = on;
        self
    }

    #[cfg(feature = "redis")]
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
    pub fn build(mut self) -> Result<AuthConfig, ConfigError> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        if let Some(setting) = self.misplaced {
            return Err(ConfigError::Invalid {
                name: setting,
                reason: if self.named {
                    "with several providers, set it on the provider's builder (ProviderConfig::builder)".into()
                } else {
                    "with_provider adds to AuthConfig::builder_for_providers; AuthConfig::builder configures one provider".into()
                },
            });
        }
        if self.providers.is_empty() {
            return Err(ConfigError::MissingEnv("OIDC_PROVIDERS"));
        }
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
        let post_logout_redirect_uri = match &self.post_logout_redirect_uri {
            Some(u) => parse_url("OIDC_POST_LOGOUT_REDIRECT_URI", u)?,
            None => app_url.clone(),
        };
        if let Some(bad) = self
            .api_scopes
            .iter()
            .find(|s| !crate::provider_config::is_scope(s))
        {
            return Err(ConfigError::Invalid {
                name: "OIDC_API_SCOPES",
                reason: format!("scope {bad:?} has characters a scope cannot have"),
            });
        }
        if self.bearer_cache_capacity > MAX_BEARER_CACHE_CAPACITY {
            return Err(ConfigError::Invalid {
                name: "bearer cache capacity",
                reason: format!("must be at most {MAX_BEARER_CACHE_CAPACITY}"),
            });
        }
        let mut providers: Vec<ProviderConfig> = Vec::with_capacity(self.providers.len());
        for p in self.providers {
            let id = p.id.clone();
            let callback = match &id {
                None => format!("{}/callback", &prefix[1..]),
                Some(id) => format!("{}/callback/{id}", &prefix[1..]),
            };
            let callback = app_url
                .join(&callback)
                .map_err(|e| ConfigError::InvalidUrl {
                    name: "APP_URL",
                    reason: e.to_string(),
                })?;
            let built = p.build(callback).map_err(|e| match &id {
                Some(id) => ConfigError::Provider {
                    id: id.clone(),
                    source: Box::new(e),
                },
                None => e,
            })?;
            if providers.iter().any(|q| q.id == built.id) {
                return Err(ConfigError::Invalid {
                    name: "OIDC_PROVIDERS",
                    reason: format!(
                        "provider id {:?} is given twice",
                        built.id.unwrap_or_default()
                    ),
                });
            }
            providers.push(built);
        }
        Ok(AuthConfig {
            providers,
            app_url,
            route_prefix: prefix,
            post_logout_redirect_uri,
            leeway: self.leeway,
            refresh_margin: self.refresh_margin,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            max_response_bytes: self.max_response_bytes,
            api_scopes: self.api_scopes,
            bearer_cache_capacity: self.bearer_cache_capacity,
            cookie_key: self.cookie_key,
            session_key: self.session_key,
            event_hook: self.event_hook,
            chooser_page: self.chooser_page,
            session_lifetime: self.session_lifetime,
            idle_timeout: self.idle_timeout,
            jwks_refetch_cooldown: self.jwks_refetch_cooldown,
            clock: self.clock,
            session_store: self.session_store,
            redis_url: self.redis_url,
            redis_timeout: self.redis_timeout,
            redis_ca_file: self.redis_ca_file,
            redis_session_cache: self.redis_session_cache,
        })
    }
}

pub(crate) fn parse_url(name: &'static str, s: &str) -> Result<Url, ConfigError> {
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
        assert!(
            strict.first().bearer_require_at_jwt,
            "typed at+jwt required"
        );
        let other = b()
            .with_api_audience("https://api.example.com")
            .build()
            .expect("config");
        assert!(!other.first().bearer_require_at_jwt);
        let loose = b()
            .with_api_audience("client")
            .dangerous_accept_untyped_bearer_tokens_for_client_id_audience()
            .build()
            .expect("config");
        assert!(!loose.first().bearer_require_at_jwt, "the app opted out");
    }

    #[test]
    fn several_providers_are_read_from_the_environment() {
        let c = AuthConfig::from_lookup(env(&[
            ("APP_URL", "https://app.example.com"),
            ("OIDC_PROVIDERS", "google, corp-sso"),
            ("OIDC_GOOGLE_ISSUER", "https://accounts.google.com"),
            ("OIDC_GOOGLE_CLIENT_ID", "g"),
            ("OIDC_GOOGLE_CLIENT_SECRET", "gs"),
            ("OIDC_GOOGLE_PROVIDER", "google"),
            ("OIDC_GOOGLE_NAME", "Google"),
            (
                "OIDC_CORP_SSO_ISSUER",
                "https://login.microsoftonline.com/organizations/v2.0",
            ),
            ("OIDC_CORP_SSO_CLIENT_ID", "c"),
            ("OIDC_CORP_SSO_PROVIDER", "entra"),
            ("OIDC_CORP_SSO_SCOPES", "openid email"),
            ("OIDC_CORP_SSO_API_AUDIENCE", "api://app"),
            (
                "OIDC_CORP_SSO_ALLOWED_TENANTS",
                "11111111-1111-1111-1111-111111111111",
            ),
        ]))
        .expect("config");
        let [google, corp] = c.providers() else {
            panic!("two providers: {c:?}")
        };
        assert_eq!((google.id(), google.name()), (Some("google"), "Google"));
        assert_eq!(google.kind(), ProviderKind::Google);
        assert_eq!(
            google.redirect_uri().as_str(),
            "https://app.example.com/auth/callback/google"
        );
        assert_eq!((corp.id(), corp.name()), (Some("corp-sso"), "corp-sso"));
        assert_eq!(
            corp.redirect_uri().as_str(),
            "https://app.example.com/auth/callback/corp-sso"
        );
        assert_eq!(corp.scopes, ["openid", "email"]);
        assert!(corp.accepts_bearer_tokens() && !google.accepts_bearer_tokens());
        let rule = corp.tenants.as_ref().expect("multi-tenant");
        assert_eq!(
            rule.template(),
            "https://login.microsoftonline.com/{tenantid}/v2.0"
        );
        assert!(c.has_named_providers());
    }

    #[test]
    fn private_key_jwt_and_par_are_read_from_the_environment() {
        let dir = std::env::temp_dir().join(format!("auth-core-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (old, new) = (dir.join("old.pem"), dir.join("new.pem"));
        std::fs::write(&old, include_bytes!("token/testdata/rsa.pem")).expect("write");
        std::fs::write(&new, include_bytes!("token/testdata/ec.pem")).expect("write");
        let files = format!("{}, {}", old.display(), new.display());
        let vars = [
            ("OIDC_ISSUER", "https://id.example.com"),
            ("OIDC_CLIENT_ID", "app"),
            ("APP_URL", "https://app.example.com"),
            ("OIDC_CLIENT_AUTH", "private_key_jwt"),
            ("OIDC_CLIENT_PRIVATE_KEY_FILE", files.as_str()),
            ("OIDC_CLIENT_KEY_ID", "key-2026"),
            ("OIDC_PAR", "1"),
        ];
        let c = AuthConfig::from_lookup(env(&vars)).expect("config");
        let p = c.first();
        assert_eq!(p.client_auth, Some(ClientAuthMethod::PrivateKeyJwt));
        assert!(p.par);
        let kids: Vec<&str> = p.client_keys.iter().map(|k| k.key_id()).collect();
        assert_eq!(kids.len(), 2);
        assert_eq!(
            kids[1], "key-2026",
            "the last file is the newest, and signs"
        );
        assert_eq!(p.client_keys[1].algorithm(), Algorithm::ES256);
        assert_eq!(p.client_keys[0].algorithm(), Algorithm::PS256);
        // Without a key, private_key_jwt cannot work: refused at start.
        let without = AuthConfig::from_lookup(env(&vars[..4]));
        assert!(matches!(
            without,
            Err(ConfigError::Invalid {
                name: "OIDC_CLIENT_AUTH",
                ..
            })
        ));
        let missing = [("OIDC_CLIENT_PRIVATE_KEY_FILE", "/nonexistent/key.pem")];
        let mut vars = vars[..3].to_vec();
        vars.extend_from_slice(&missing);
        assert!(AuthConfig::from_lookup(env(&vars)).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn several_providers_ambiguous_settings_refused() {
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = vec![
                ("APP_URL", "https://app.example.com"),
                ("OIDC_A_ISSUER", "https://a.example.com"),
                ("OIDC_A_CLIENT_ID", "a"),
            ];
            vars.extend_from_slice(extra);
            AuthConfig::from_lookup(env(&vars))
        };
        let err = with(&[("OIDC_PROVIDERS", "a,b")]).unwrap_err();
        assert_eq!(err.to_string(), "OIDC_B_ISSUER is not set");
        assert!(with(&[("OIDC_PROVIDERS", "a,A")]).is_err(), "uppercase id");
        assert!(with(&[("OIDC_PROVIDERS", "a,")]).is_err(), "empty id");
        assert!(with(&[("OIDC_PROVIDERS", "a/b")]).is_err(), "slash in id");
        let twice = with(&[("OIDC_PROVIDERS", "a,a")]).unwrap_err();
        assert!(twice.to_string().contains("twice"), "{twice}");
        let both = with(&[
            ("OIDC_PROVIDERS", "a"),
            ("OIDC_ISSUER", "https://x.example.com"),
        ]);
        assert!(matches!(
            both,
            Err(ConfigError::Invalid {
                name: "OIDC_ISSUER",
                ..
            })
        ));
        let bad = with(&[("OIDC_PROVIDERS", "a"), ("OIDC_A_PROVIDER", "facebook")]).unwrap_err();
        assert!(
            matches!(&bad, ConfigError::Provider { id, .. } if id == "a"),
            "{bad}"
        );
        // A provider setting on the builder of several providers is refused, not
        // silently applied to one of them.
        let misplaced = AuthConfig::builder_for_providers("https://app.example.com")
            .with_provider(ProviderConfig::builder("a", "https://a.example.com", "a"))
            .with_client_secret("s")
            .build();
        assert!(matches!(
            misplaced,
            Err(ConfigError::Invalid {
                name: "with_client_secret",
                ..
            })
        ));
        let none = AuthConfig::builder_for_providers("https://app.example.com").build();
        assert!(none.is_err());
    }

    #[test]
    fn from_env_builds_redirect_uri_and_defaults() {
        let c = AuthConfig::from_lookup(env(BASE)).expect("config");
        assert_eq!(
            c.redirect_uri().as_str(),
            "http://127.0.0.1:3000/auth/callback"
        );
        assert_eq!(
            c.post_logout_redirect_uri.as_str(),
            "http://127.0.0.1:3000/"
        );
        assert_eq!(
            c.first().scopes,
            ["openid", "profile", "email", "offline_access"]
        );
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
        assert_eq!(c.first().scopes, ["openid", "email"]);
        assert_eq!(
            c.first().client_auth,
            Some(ClientAuthMethod::ClientSecretPost)
        );
        let mut bad = BASE.to_vec();
        bad.push(("OIDC_CLIENT_AUTH", "private_key_jwt"));
        assert!(AuthConfig::from_lookup(env(&bad)).is_err());
    }

    #[test]
    fn missing_issuer_refused() {
        let err = AuthConfig::from_lookup(env(&BASE[1..])).unwrap_err();
        assert!(matches!(err, ConfigError::MissingEnv("OIDC_ISSUER")));
    }

    #[test]
    fn plain_http_issuer_off_loopback_refused() {
        let mut vars = BASE.to_vec();
        vars[0] = ("OIDC_ISSUER", "http://id.example.com");
        let err = AuthConfig::from_lookup(env(&vars)).unwrap_err();
        assert!(
            err.to_string()
                .contains("not an https URL and not loopback")
        );
    }

    #[test]
    fn short_app_secret_refused() {
        let mut vars = BASE.to_vec();
        vars.push(("APP_SECRET", "abcd"));
        let err = AuthConfig::from_lookup(env(&vars)).unwrap_err();
        assert!(err.to_string().contains("too short"));
    }

    /// A setter that checks its value never breaks the chain: its error is kept, the
    /// first one wins, and `build()` returns it.
    #[test]
    fn rp_malformed_key_refused_by_build_after_the_chain() {
        let err = AuthConfig::builder(
            "https://id.example.com",
            "client",
            "https://app.example.com",
        )
        .with_app_secret_hex("not hex")
        .with_session_encryption_key_hex("abcd")
        .with_leeway(Duration::from_secs(5))
        .build()
        .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: "APP_SECRET",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = AuthConfig::builder(
            "https://id.example.com",
            "client",
            "https://app.example.com",
        )
        .with_session_encryption_key_hex("abcd")
        .build()
        .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: "SESSION_ENCRYPTION_KEY",
                    ..
                }
            ),
            "{err:?}"
        );
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
        assert_eq!(c.first().access_token_audience.as_deref(), Some("skc_1"));
        let c = b()
            .with_access_token_audience("other")
            .build()
            .expect("config");
        assert_eq!(c.first().access_token_audience.as_deref(), Some("other"));
        let generic = AuthConfig::builder("https://id.example.com", "c", "https://app.example.com")
            .build()
            .expect("config");
        assert_eq!(generic.first().access_token_audience, None);
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
    fn absurd_timeouts_refused() {
        let b = || AuthConfig::builder("https://id.example.com", "app", "https://app.example.com");
        assert!(b().with_idle_timeout(Some(Duration::MAX)).build().is_err());
        assert!(b().with_idle_timeout(Some(Duration::ZERO)).build().is_err());
        assert!(b().with_request_timeout(Duration::MAX).build().is_err());
        #[cfg(feature = "redis")]
        assert!(b().with_redis_timeout(Duration::ZERO).build().is_err());
        assert!(b().with_refresh_margin(Duration::MAX).build().is_err());
        assert!(b().with_idle_timeout(None).build().is_ok());
    }

    #[test]
    fn absurd_session_lifetimes_refused() {
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
        assert_eq!(c.first().scopes, ["openid", "email"]);
        assert!(c.secure_cookies());
    }
}

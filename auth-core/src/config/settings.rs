//! The settings every provider shares, in groups: sessions, token checks, the HTTP
//! client, bearer tokens, Redis. [`AuthConfigBuilder`](super::AuthConfigBuilder) and
//! [`AuthConfig`](super::AuthConfig) hold the same groups: a setting is declared and
//! given its default here, once, and `build()` moves each group whole.

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::store::SharedStore;

/// The longest session lifetime accepted (the limit browsers put on cookies).
pub(super) const MAX_SESSION_LIFETIME: Duration = Duration::from_secs(400 * 24 * 3600);

/// Validated bearer tokens remembered by default.
pub(super) const DEFAULT_BEARER_CACHE_CAPACITY: usize = 10_000;

/// The most validated bearer tokens an instance remembers.
pub(super) const MAX_BEARER_CACHE_CAPACITY: usize = 1_000_000;

/// Sessions: how long they live, when they are renewed, how they are sealed and where
/// they are kept. The builder and [`AuthConfig`] hold the same group, so a setting is
/// declared and given its default once.
#[derive(Clone, Debug)]
pub(crate) struct SessionSettings {
    /// How long a session may live at most (`SESSION_LIFETIME_SECS`).
    pub(crate) lifetime: Duration,
    /// How long an unused session lives (`SESSION_IDLE_TIMEOUT_SECS`; `None`: no limit).
    pub(crate) idle_timeout: Option<Duration>,
    /// How long before the access token's expiry a request refreshes it.
    pub(crate) refresh_margin: Duration,
    /// `APP_SECRET`: cookies, and sealed sessions unless `session_key` is set.
    pub(crate) cookie_key: Option<CookieKeyBytes>,
    /// `SESSION_ENCRYPTION_KEY`: sealed sessions.
    pub(crate) session_key: Option<CookieKeyBytes>,
    /// The app's own session store (else memory, or Redis with `REDIS_URL`).
    pub(crate) store: Option<SharedStore>,
    /// `SESSION_STORE_PLAINTEXT=dangerous`: shared sessions stored unsealed.
    pub(crate) dangerous_plaintext: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            lifetime: Duration::from_secs(7 * 24 * 3600),
            idle_timeout: Some(Duration::from_secs(3 * 24 * 3600)),
            refresh_margin: Duration::from_secs(30),
            cookie_key: None,
            session_key: None,
            store: None,
            dangerous_plaintext: false,
        }
    }
}

/// The token checks every provider shares.
#[derive(Clone, Debug)]
pub(crate) struct TokenSettings {
    /// Clock skew tolerated for `exp`, `iat` and `nbf` (`OIDC_LEEWAY_SECS`).
    pub(crate) leeway: Duration,
    /// The least time between two JWKS fetches that tokens can cause.
    pub(crate) jwks_refetch_cooldown: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            leeway: Duration::from_secs(60),
            jwks_refetch_cooldown: Duration::from_secs(30),
        }
    }
}

/// The HTTP client every call to a provider goes through.
#[derive(Clone, Debug)]
pub(crate) struct HttpSettings {
    pub(crate) connect_timeout: Duration,
    /// A whole request's bound (`OIDC_HTTP_TIMEOUT_SECS`).
    pub(crate) request_timeout: Duration,
    pub(crate) max_response_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: 1024 * 1024,
        }
    }
}

/// Bearer tokens presented to the app's API (the audiences are per provider).
#[derive(Clone, Debug)]
pub(crate) struct BearerSettings {
    /// Scopes every bearer token must carry (`OIDC_API_SCOPES`).
    pub(crate) scopes: Vec<String>,
    /// How many validated tokens are kept in memory.
    pub(crate) cache_capacity: usize,
}

impl Default for BearerSettings {
    fn default() -> Self {
        Self {
            scopes: Vec::new(),
            cache_capacity: DEFAULT_BEARER_CACHE_CAPACITY,
        }
    }
}

/// The state the app's instances share in Redis (feature `redis`).
#[derive(Clone, Debug)]
pub(crate) struct RedisSettings {
    /// `REDIS_URL`.
    pub(crate) url: Option<RedisUrl>,
    /// Each command's bound.
    pub(crate) timeout: Duration,
    /// `REDIS_CA_FILE`.
    pub(crate) ca_file: Option<std::path::PathBuf>,
    /// Keep checked sessions in memory, invalidated through Redis (the fast path;
    /// `REDIS_SESSION_CACHE`).
    pub(crate) session_cache: bool,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: None,
            timeout: Duration::from_secs(2),
            ca_file: None,
            session_cache: true,
        }
    }
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

//! The settings every provider shares, in groups: sessions, token checks, the HTTP
//! client, bearer tokens, Redis. [`AuthConfigBuilder`](super::AuthConfigBuilder) and
//! [`AuthConfig`](super::AuthConfig) hold the same groups: a setting is declared and
//! given its default here, once, and `build()` moves each group whole.

use std::time::Duration;

pub(crate) use crate::session::settings::{
    CookieKeyBytes, RedisSettings, RedisUrl, SessionSettings,
};

/// The longest session lifetime accepted (the limit browsers put on cookies).
pub(super) const MAX_SESSION_LIFETIME: Duration = Duration::from_secs(400 * 24 * 3600);

/// Validated bearer tokens remembered by default.
pub(super) const DEFAULT_BEARER_CACHE_CAPACITY: usize = 10_000;

/// The most validated bearer tokens an instance remembers.
pub(super) const MAX_BEARER_CACHE_CAPACITY: usize = 1_000_000;

/// The HTTP client every call to a provider goes through.
#[derive(Clone, Debug)]
pub(crate) struct HttpSettings {
    pub(crate) connect_timeout: Duration,
    /// A whole request's bound (`OIDC_HTTP_TIMEOUT_SECS`).
    pub(crate) request_timeout: Duration,
    pub(crate) max_response_bytes: usize,
    /// `OIDC_CA_FILE`: more trust roots for the provider's certificates (PEM), read by
    /// `build()` into `roots`.
    pub(crate) ca_file: Option<std::path::PathBuf>,
    /// The certificates of `ca_file`, trusted beside the system's roots.
    pub(crate) roots: Vec<reqwest::Certificate>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: 1024 * 1024,
            ca_file: None,
            roots: Vec::new(),
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

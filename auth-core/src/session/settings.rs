//! What the app configures of sessions and of the shared state (Redis): declared and
//! given their defaults here, held by the configuration and handed to
//! [`Sessions`](crate::session::store::Sessions) and
//! [`connect`](crate::session::shared::connect).

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::session::store::SharedStore;

/// Sessions: how long they live, when they are renewed, how they are sealed and where
/// they are kept. The builder and `AuthConfig` hold the same group, so a setting is
/// declared and given its default once.
#[derive(Clone, Debug)]
pub(crate) struct SessionSettings {
    /// How long a session may live at most (`SESSION_LIFETIME_SECS`).
    pub(crate) lifetime: Duration,
    /// How long an unused session lives (`SESSION_IDLE_TIMEOUT_SECS`; `None`: no limit).
    pub(crate) idle_timeout: Option<Duration>,
    /// How long before the access token's expiry a request refreshes it.
    pub(crate) refresh_margin: Duration,
    /// `APP_SECRET`: cookies, and sealed sessions unless `session_key` is set. The
    /// first key seals, every key opens (empty: none given).
    pub(crate) cookie_key: Vec<CookieKeyBytes>,
    /// `SESSION_ENCRYPTION_KEY`: sealed sessions, the first key sealing.
    pub(crate) session_key: Vec<CookieKeyBytes>,
    /// The app's own session store (else memory, or Redis with `REDIS_URL`).
    pub(crate) store: Option<SharedStore>,
    /// `SESSION_STORE_PLAINTEXT=dangerous`: shared sessions stored unsealed.
    pub(crate) dangerous_plaintext: bool,
}

impl SessionSettings {
    /// The keys that seal session records: `SESSION_ENCRYPTION_KEY`'s, else
    /// `APP_SECRET`'s (empty: records are not sealed).
    pub(crate) fn record_keys(&self) -> &[CookieKeyBytes] {
        if self.session_key.is_empty() {
            &self.cookie_key
        } else {
            &self.session_key
        }
    }
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            lifetime: Duration::from_secs(7 * 24 * 3600),
            idle_timeout: Some(Duration::from_secs(3 * 24 * 3600)),
            refresh_margin: Duration::from_secs(30),
            cookie_key: Vec::new(),
            session_key: Vec::new(),
            store: None,
            dangerous_plaintext: false,
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
    /// The sessions the fast path keeps at most (`REDIS_SESSION_CACHE_ENTRIES`).
    pub(crate) session_cache_entries: usize,
}

/// The fast path's default bound: 100 000 sessions (about 0.4 GB with typical tokens).
pub(crate) const DEFAULT_SESSION_CACHE_ENTRIES: usize = 100_000;
/// Its largest: 10 million sessions.
pub(crate) const MAX_SESSION_CACHE_ENTRIES: usize = 10_000_000;

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: None,
            timeout: Duration::from_secs(2),
            ca_file: None,
            session_cache: true,
            session_cache_entries: DEFAULT_SESSION_CACHE_ENTRIES,
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

/// Key material for cookie or record encryption (never printed).
#[derive(Clone)]
pub(crate) struct CookieKeyBytes(pub(crate) Vec<u8>);

impl fmt::Debug for CookieKeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

//! The fast path of Redis sessions (feature `redis`): each instance keeps the sessions
//! it has loaded and checked, decoded, and serves a signed-in request from memory
//! while it can prove the entry fresh; otherwise it reads Redis as before (the record,
//! then the logout markers).
//!
//! Freshness comes from invalidation messages on one Redis pub/sub channel
//! (`auth:invalidate`), which this crate publishes itself after every write it makes:
//! a session stored again (refresh, organization switch, recorded use) or deleted
//! names its store key (`s <instance> <key>`), and a recorded back-channel logout asks
//! every instance to drop everything (`x <instance>`; logouts are rare). Each instance
//! also publishes a heartbeat to a channel of its own every 20 ms, carrying the time it
//! was sent. Redis delivers the messages of a connection in the order it processed
//! them, so once a heartbeat comes back, every invalidation Redis processed before it
//! has been handled. A cached entry is served only:
//! - while the last heartbeat that came back was sent less than 80 ms ago (so an
//!   invalidation is in force within 100 ms; an unresponsive or lagging connection
//!   stops the fast path within that time),
//! - within 5 s of being loaded (a bound on what a lost message could cost),
//! - and if no invalidation or flush arrived between its load and its insertion (a
//!   generation counter: a load racing with an invalidation is not cached).
//!
//! Everything is dropped on a reconnect of the subscriber, on a lagging message
//! channel and when the heartbeat stops. A write this crate did not make (a key
//! deleted by hand in Redis) is seen within the 5 s bound.
//!
//! Peers (oauth2-proxy, connect-redis) read Redis on every request; server-assisted
//! client-side caching (RESP3 `CLIENT TRACKING`) was the other way, but fred offers it
//! on single clients only, does not re-enable it after a reconnect and drops flush-all
//! invalidations, and in a cluster BCAST reaches one node: our own messages work the
//! same on one server, TLS, Cluster and Sentinel.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use fred::prelude::{Builder, ClientLike, Config, EventInterface, ReconnectPolicy};

use crate::session::AuthSession;

/// The channel of invalidations.
pub(crate) const CHANNEL: &str = "auth:invalidate";
/// How often an instance sends itself a heartbeat.
const HEARTBEAT_EVERY: Duration = Duration::from_millis(20);
/// How old the last returned heartbeat may be for an entry to be served.
const FRESH_FOR: Duration = Duration::from_millis(80);
/// The longest an entry is served after it was loaded.
const MAX_AGE: Duration = Duration::from_secs(5);
/// Entries kept at most (all dropped when full).
const MAX_ENTRIES: usize = 100_000;

struct Entry {
    session: Arc<AuthSession>,
    loaded: Instant,
}

/// The cache of one instance.
pub(crate) struct SessionCache {
    entries: Mutex<HashMap<String, Entry>>,
    /// Bumped by every invalidation and flush.
    generation: AtomicU64,
    /// When the last heartbeat that came back was sent (ms after `epoch`); 0: none
    /// since the last flush.
    fresh_since: AtomicU64,
    epoch: Instant,
    /// This instance's name on the channel (its own messages are already applied).
    instance: String,
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCache")
            .field("live", &self.live())
            .finish_non_exhaustive()
    }
}

impl SessionCache {
    fn new() -> Self {
        let mut nonce = [0u8; 12];
        let _ = aws_lc_rs::rand::fill(&mut nonce);
        Self {
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            fresh_since: AtomicU64::new(0),
            epoch: Instant::now(),
            instance: hex::encode(nonce),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether invalidations are known to be in force (a heartbeat came back recently).
    pub(crate) fn live(&self) -> bool {
        let since = self.fresh_since.load(Ordering::Acquire);
        since != 0 && self.now_ms().saturating_sub(since) < FRESH_FOR.as_millis() as u64
    }

    /// The session cached under `key`, if it can be proven fresh.
    pub(crate) fn get(&self, key: &str) -> Option<Arc<AuthSession>> {
        if !self.live() {
            return None;
        }
        let entries = self.lock();
        let entry = entries.get(key)?;
        (entry.loaded.elapsed() < MAX_AGE).then(|| Arc::clone(&entry.session))
    }

    /// The generation to pass to [`Self::insert`] after a load.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches `session`, loaded (and checked) since `generation` was read, unless an
    /// invalidation arrived meanwhile.
    pub(crate) fn insert(&self, key: String, session: Arc<AuthSession>, generation: u64) {
        if !self.live() {
            return;
        }
        let mut entries = self.lock();
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                session,
                loaded: Instant::now(),
            },
        );
    }

    /// This instance wrote `session` under `key` (and publishes the change).
    pub(crate) fn wrote(&self, key: &str, session: Arc<AuthSession>) {
        let generation = self.generation();
        self.invalidate(key);
        self.insert(key.to_owned(), session, generation.wrapping_add(1));
    }

    /// Drops the entry of `key`.
    pub(crate) fn invalidate(&self, key: &str) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(key);
    }

    /// Drops everything.
    pub(crate) fn flush(&self) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// Drops everything and stops serving until a heartbeat comes back.
    fn flush_and_pause(&self) {
        self.fresh_since.store(0, Ordering::Release);
        self.flush();
    }

    /// The message that says `key` changed.
    pub(crate) fn changed_message(&self, key: &str) -> String {
        format!("s {} {key}", self.instance)
    }

    /// The message that asks every instance to drop everything.
    pub(crate) fn flush_message(&self) -> String {
        format!("x {}", self.instance)
    }

    fn heartbeat_channel(&self) -> String {
        format!("auth:heartbeat:{}", self.instance)
    }

    /// Applies a message of the invalidation channel.
    fn apply(&self, message: &str) {
        let mut parts = message.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("s"), Some(from), Some(key)) => {
                if from != self.instance {
                    self.invalidate(key);
                }
            }
            (Some("x"), _, _) => self.flush(),
            _ => {
                tracing::warn!("unknown message on the session invalidation channel: flushing");
                self.flush();
            }
        }
    }

    /// A heartbeat sent at `sent_ms` came back.
    fn heartbeat_returned(&self, sent_ms: u64) {
        self.fresh_since.fetch_max(sent_ms, Ordering::AcqRel);
    }
}

/// Starts the cache of an instance: a subscriber connection of its own (built from
/// the same configuration as the pool), and the task that applies invalidations and
/// sends heartbeats through `publisher`. The task ends when the cache is dropped.
pub(crate) fn start(
    config: Config,
    publisher: fred::prelude::Pool,
) -> Result<Arc<SessionCache>, crate::SharedStateError> {
    let cache = Arc::new(SessionCache::new());
    let subscriber = Builder::from_config(config)
        .with_performance_config(|p| p.broadcast_channel_capacity = 4096)
        .set_policy(ReconnectPolicy::new_constant(0, 250))
        .build()
        .map_err(crate::SharedStateError::new)?;
    let weak = Arc::downgrade(&cache);
    let heartbeat = cache.heartbeat_channel();
    tokio::spawn(run(weak, subscriber, publisher, heartbeat));
    Ok(cache)
}

async fn run(
    cache: Weak<SessionCache>,
    subscriber: fred::prelude::Client,
    publisher: fred::prelude::Pool,
    heartbeat: String,
) {
    use fred::prelude::PubsubInterface as _;
    let mut messages = subscriber.message_rx();
    let mut reconnects = subscriber.reconnect_rx();
    let _connection = subscriber.connect();
    let subscribe = || async {
        subscriber
            .subscribe(vec![CHANNEL.to_owned(), heartbeat.clone()])
            .await
    };
    if subscriber.wait_for_connect().await.is_ok()
        && let Err(e) = subscribe().await
    {
        tracing::warn!(error = %e, "could not subscribe to session invalidations");
    }
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = messages.recv() => {
                let Some(cache) = cache.upgrade() else { break };
                match message {
                    Ok(m) => {
                        let text: Option<String> = m.value.convert().ok();
                        let channel: &str = &m.channel;
                        match (channel == heartbeat, text) {
                            (true, Some(t)) => {
                                if let Ok(sent) = t.parse() {
                                    cache.heartbeat_returned(sent);
                                }
                            }
                            (false, Some(t)) => cache.apply(&t),
                            (_, None) => cache.flush(),
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "session invalidations lagged: flushing the cache");
                        cache.flush_and_pause();
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        cache.flush_and_pause();
                        break;
                    }
                }
            }
            reconnected = reconnects.recv() => {
                let Some(cache) = cache.upgrade() else { break };
                // Messages published while disconnected are lost: start afresh.
                cache.flush_and_pause();
                if reconnected.is_ok() && let Err(e) = subscribe().await {
                    tracing::warn!(error = %e, "could not subscribe to session invalidations again");
                }
            }
            _ = tick.tick() => {
                let Some(cache) = cache.upgrade() else { break };
                let sent = cache.now_ms();
                drop(cache);
                let publish = publisher
                    .next()
                    .publish::<(), _, _>(heartbeat.clone(), sent.to_string());
                if tokio::time::timeout(FRESH_FOR, publish).await.is_err() {
                    tracing::debug!("session cache heartbeat timed out");
                }
            }
        }
    }
    let _ = subscriber.quit().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Arc<AuthSession> {
        Arc::new(AuthSession::bare())
    }

    fn live() -> SessionCache {
        let c = SessionCache::new();
        c.heartbeat_returned(c.now_ms());
        c
    }

    #[test]
    fn nothing_is_served_without_a_recent_heartbeat() {
        let c = SessionCache::new();
        c.insert("k".into(), session(), c.generation());
        assert!(c.get("k").is_none(), "not live: not even cached");
        let c = live();
        c.insert("k".into(), session(), c.generation());
        assert!(c.get("k").is_some());
        // The heartbeat stops: within FRESH_FOR nothing is served.
        c.fresh_since.store(1, Ordering::Release);
        std::thread::sleep(Duration::from_millis(2));
        let stale = c.now_ms().saturating_sub(1) >= FRESH_FOR.as_millis() as u64;
        assert_eq!(c.get("k").is_none(), stale || !c.live());
    }

    #[test]
    fn a_load_that_raced_an_invalidation_is_not_cached() {
        let c = live();
        let seen = c.generation();
        c.apply("s other-instance k");
        c.insert("k".into(), session(), seen);
        assert!(c.get("k").is_none());
    }

    #[test]
    fn invalidations_from_other_instances_drop_entries_and_x_drops_all() {
        let c = live();
        for k in ["a", "b"] {
            c.insert(k.into(), session(), c.generation());
        }
        c.apply(&c.changed_message("a"));
        assert!(c.get("a").is_some(), "its own message: already applied");
        c.apply("s other a");
        assert!(c.get("a").is_none());
        assert!(c.get("b").is_some());
        c.apply("x other");
        assert!(c.get("b").is_none());
        c.insert("b".into(), session(), c.generation());
        c.apply("garbage");
        assert!(c.get("b").is_none(), "an unknown message flushes");
    }

    #[test]
    fn a_flush_pauses_the_fast_path_until_a_heartbeat() {
        let c = live();
        c.insert("k".into(), session(), c.generation());
        c.flush_and_pause();
        assert!(!c.live());
        c.insert("k".into(), session(), c.generation());
        assert!(c.get("k").is_none());
    }

    #[test]
    fn own_writes_are_cached_at_once() {
        let c = live();
        c.wrote("k", session());
        assert!(c.get("k").is_some());
    }
}

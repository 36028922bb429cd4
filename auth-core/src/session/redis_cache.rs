//! The fast path of Redis sessions (feature `redis`): each instance keeps the sessions
//! it has loaded and checked, decoded, and serves a signed-in request from memory
//! while it can prove the entry fresh; otherwise it reads Redis as before (the record,
//! then the logout markers).
//!
//! Freshness comes from messages on one sharded pub/sub channel (`{auth}:invalidate`,
//! Redis 7 `SPUBLISH`/`SSUBSCRIBE`), which this crate publishes itself. Each message is
//! `<kind> <instance> <sequence> <payload>`: a session stored again or deleted names its
//! store key (`s`), a recorded back-channel logout asks every instance to drop
//! everything (`x`; logouts are rare), every instance sends a heartbeat every 20 ms
//! carrying the time it was sent (`h`), and an instance that stops says so (`q`).
//!
//! Why one channel, sharded: Redis delivers the messages of one channel, as one node
//! processed them, in order. A sharded channel lives on the one node that owns its hash
//! slot, in a Cluster too (a classic `PUBLISH` there goes to any node and crosses the
//! cluster bus, so a heartbeat and an invalidation could take different paths and the
//! one's return would prove nothing about the other's delivery). So once an instance's
//! own heartbeat comes back, every invalidation the channel carried before it has been
//! handled.
//!
//! Each instance publishes its messages in order on a connection of its own, numbered;
//! a receiver that sees a number skipped (a message lost, or dropped after a failed
//! publish) drops everything. An instance whose publish fails stops serving from memory
//! itself and sends its invalidations again; the others, which hear every instance's
//! heartbeat, stop serving from memory while any instance they heard is silent (its
//! invalidations cannot be proven delivered), until it is heard again or has been silent
//! for 1 s (gone; one that stops cleanly says so at once).
//!
//! Entries are found by the id the browser's cookie carries (a hit costs no keyed hash
//! of it), and dropped by the store key an invalidation names (an index from store keys
//! to ids; the two are the same without sealing).
//!
//! A cached entry is served only:
//! - while this instance's last heartbeat that came back was sent less than 80 ms ago
//!   and no other instance has been silent for 80 ms (so an invalidation is in force
//!   within 100 ms; an unresponsive or lagging connection stops the fast path within
//!   that time),
//! - within 5 s of being loaded (a bound on what a lost message could cost),
//! - and if no invalidation or flush arrived between the read that produced it and its
//!   insertion (a generation counter: a load, or a save of a session read earlier, that
//!   raced an invalidation is not cached; nor is a save that found the record deleted).
//!
//! Everything is dropped on a reconnect of the subscriber, on a lagging message
//! channel, on a skipped sequence number and when the heartbeat stops. A write this
//! crate did not make (a key deleted by hand in Redis), or one by an instance cut off
//! from the channel for more than 1 s while its writes still land, is seen within the
//! 5 s bound.
//!
//! Peers (oauth2-proxy, connect-redis) read Redis on every request; server-assisted
//! client-side caching (RESP3 `CLIENT TRACKING`) was the other way, but fred offers it
//! on single clients only, does not re-enable it after a reconnect and drops flush-all
//! invalidations, and in a cluster BCAST reaches one node: our own messages work the
//! same on one server, TLS, Cluster and Sentinel.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use fred::prelude::{Builder, ClientLike, Config, EventInterface, ReconnectPolicy};
use tokio::sync::{mpsc, oneshot};
use tower_sessions_core::session::Id;

use crate::session::AuthSession;
use crate::session::shared::FastPathStats;

/// The channel of every message (hash-tagged: one slot, one node in a Cluster).
pub(crate) const CHANNEL: &str = "{auth}:invalidate";
/// How often an instance sends a heartbeat.
const HEARTBEAT_EVERY: Duration = Duration::from_millis(20);
/// How old this instance's last returned heartbeat, or the last message heard from any
/// other instance, may be for an entry to be served.
const FRESH_FOR: Duration = Duration::from_millis(80);
/// The longest an entry is served after it was loaded.
const MAX_AGE: Duration = Duration::from_secs(5);
/// How long an instance that fell silent is waited for before it counts as gone.
const FORGET_AFTER: Duration = Duration::from_secs(1);
/// How long a publish may take before it is sent again.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a writer waits for its invalidation to reach Redis (it stays queued after).
const DELIVERY_WAIT: Duration = Duration::from_millis(100);
/// After this long without a heartbeat back, the subscription is made again.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);
/// Entries kept at most by default (`REDIS_SESSION_CACHE_ENTRIES`): the sessions read
/// within `MAX_AGE` (older ones are dropped first when full; all, when the ones within
/// it fill it).
#[cfg(test)]
const DEFAULT_MAX_ENTRIES: usize = crate::session::settings::DEFAULT_SESSION_CACHE_ENTRIES;
/// Messages kept for sending at most (the oldest are dropped: the receivers see a
/// skipped number and drop everything).
const MAX_UNSENT: usize = 10_000;

struct Entry {
    session: Arc<AuthSession>,
    loaded: Instant,
    /// Where the session is in the store (what invalidations name).
    store_key: Id,
}

/// The cached sessions by the id browsers hold, and their ids by store key.
#[derive(Default)]
struct Entries {
    by_id: super::IdMap<Entry>,
    by_store_key: super::IdMap<Id>,
}

impl Entries {
    fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Caches `entry` under `id`. One entry per store key: another id's entry under the
    /// same store key goes (an invalidation names the key, and must reach every entry
    /// read from it).
    fn insert(&mut self, id: Id, entry: Entry) {
        let store_key = entry.store_key;
        if let Some(old) = self.by_id.insert(id, entry)
            && old.store_key != store_key
        {
            self.unmap(&old.store_key, &id);
        }
        if let Some(other) = self.by_store_key.insert(store_key, id)
            && other != id
        {
            self.by_id.remove(&other);
        }
    }

    /// Forgets that `store_key` is `id`'s, if it still is.
    fn unmap(&mut self, store_key: &Id, id: &Id) {
        if self.by_store_key.get(store_key) == Some(id) {
            self.by_store_key.remove(store_key);
        }
    }

    fn remove_store_key(&mut self, store_key: &Id) {
        if let Some(id) = self.by_store_key.remove(store_key) {
            self.by_id.remove(&id);
        }
    }

    /// Keeps the entries `keep` says to.
    fn retain(&mut self, keep: impl Fn(&Entry) -> bool) {
        let by_store_key = &mut self.by_store_key;
        self.by_id.retain(|id, e| {
            let kept = keep(e);
            if !kept && by_store_key.get(&e.store_key) == Some(id) {
                by_store_key.remove(&e.store_key);
            }
            kept
        });
    }

    fn clear(&mut self) {
        self.by_id.clear();
        self.by_store_key.clear();
    }
}

/// A message this instance publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Message {
    /// A heartbeat sent at this many ms after the cache's epoch.
    Heartbeat(u64),
    /// The session under this store key changed.
    Changed(Id),
    /// Every instance drops everything.
    Flush,
    /// This instance stops.
    Leaving,
}

impl Message {
    /// The message as sent: `<kind> <instance> <sequence> <payload>`.
    fn text(&self, instance: &str, sequence: u64) -> String {
        match self {
            Message::Heartbeat(sent) => format!("h {instance} {sequence} {sent}"),
            Message::Changed(key) => format!("s {instance} {sequence} {key}"),
            Message::Flush => format!("x {instance} {sequence}"),
            Message::Leaving => format!("q {instance} {sequence}"),
        }
    }
}

/// A message to publish, and who waits for it to reach Redis.
struct Outgoing {
    message: Message,
    delivered: Option<oneshot::Sender<()>>,
}

/// What this instance heard from another one.
struct Peer {
    sequence: u64,
    heard_ms: u64,
}

/// The other instances heard on the channel (kept by the receiving task).
#[derive(Default)]
struct Peers(HashMap<String, Peer>);

/// The cache of one instance.
pub(crate) struct SessionCache {
    entries: Mutex<Entries>,
    /// Bumped by every invalidation and flush.
    generation: AtomicU64,
    /// When the last heartbeat that came back was sent (ms after `epoch`); 0: none
    /// since the last flush.
    fresh_since: AtomicU64,
    /// Another instance has been silent for longer than `FRESH_FOR`.
    others_silent: AtomicBool,
    epoch: Instant,
    /// Entries kept at most.
    max_entries: usize,
    /// This instance's name on the channel (its own messages are already applied).
    instance: String,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    announced: AtomicU64,
    written: AtomicU64,
    /// To the publishing task.
    outgoing: mpsc::UnboundedSender<Outgoing>,
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCache")
            .field("live", &self.live())
            .finish_non_exhaustive()
    }
}

impl SessionCache {
    fn new(max_entries: usize) -> (Self, mpsc::UnboundedReceiver<Outgoing>) {
        let mut nonce = [0u8; 12];
        let _ = aws_lc_rs::rand::fill(&mut nonce);
        let (outgoing, receiver) = mpsc::unbounded_channel();
        let cache = Self {
            entries: Mutex::new(Entries::default()),
            generation: AtomicU64::new(0),
            fresh_since: AtomicU64::new(0),
            others_silent: AtomicBool::new(false),
            epoch: Instant::now(),
            max_entries: max_entries.max(1),
            instance: hex::encode(nonce),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            announced: AtomicU64::new(0),
            written: AtomicU64::new(0),
            outgoing,
        };
        (cache, receiver)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether invalidations are known to be in force: this instance's heartbeat came
    /// back recently and every other instance was heard recently.
    pub(crate) fn live(&self) -> bool {
        let since = self.fresh_since.load(Ordering::Acquire);
        since != 0
            && self.now_ms().saturating_sub(since) < FRESH_FOR.as_millis() as u64
            && !self.others_silent.load(Ordering::Acquire)
    }

    /// The session of `id` (the id the browser holds) if it is cached and can be
    /// proven fresh, with the generation it was read at; else the generation to pass to
    /// [`Self::insert`] after a load.
    pub(crate) fn get(&self, id: &Id) -> Result<(Arc<AuthSession>, u64), u64> {
        let entries = self.lock();
        let generation = self.generation.load(Ordering::Acquire);
        let found = self
            .live()
            .then(|| entries.by_id.get(id))
            .flatten()
            .filter(|e| e.loaded.elapsed() < MAX_AGE);
        match found {
            Some(e) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Ok((Arc::clone(&e.session), generation))
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                Err(generation)
            }
        }
    }

    /// Caches `session` of `id`, stored under `store_key`, read (and checked) since
    /// `generation` was read, unless an invalidation arrived meanwhile.
    pub(crate) fn insert(&self, id: Id, store_key: Id, session: Arc<AuthSession>, generation: u64) {
        let mut entries = self.lock();
        if !self.live() || self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= self.max_entries {
            // Entries past their age are never served: dropping them makes room for
            // every session read within it. All go only when that is not enough.
            entries.retain(|e| e.loaded.elapsed() < MAX_AGE);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(
            id,
            Entry {
                session,
                loaded: Instant::now(),
                store_key,
            },
        );
    }

    /// This instance stored `session` of `id` under `store_key`, computed from a
    /// session read at generation `read_at`: it is cached only if nothing was
    /// invalidated since that read (a sign-out or logout landing between a request's
    /// read and its save must not be undone by the save).
    pub(crate) fn wrote(
        &self,
        id: &Id,
        store_key: &Id,
        session: Arc<AuthSession>,
        read_at: Option<u64>,
    ) {
        let before = self.invalidate(store_key);
        if let Some(read_at) = read_at
            && read_at == before
        {
            self.insert(*id, *store_key, session, before.wrapping_add(1));
        }
    }

    /// This instance wrote or deleted the session stored under `store_key`.
    pub(crate) fn count_write(&self) {
        self.written.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops the entry stored under `store_key`; the generation before the drop.
    pub(crate) fn invalidate(&self, store_key: &Id) -> u64 {
        let mut entries = self.lock();
        entries.remove_store_key(store_key);
        self.generation.fetch_add(1, Ordering::AcqRel)
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

    /// What the fast path did so far.
    pub(crate) fn stats(&self) -> FastPathStats {
        FastPathStats {
            live: self.live(),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            announced: self.announced.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
        }
    }

    /// Tells the other instances that the session under `store_key` changed; resolves
    /// when the message reached Redis, or after [`DELIVERY_WAIT`] (it stays queued).
    pub(crate) async fn announce_change(&self, store_key: &Id) {
        if !self.announce(Message::Changed(*store_key)).await {
            tracing::debug!("a session invalidation is slow to reach Redis: it stays queued");
        }
    }

    /// Tells every instance to drop everything (after recorded logouts): whether the
    /// message reached Redis within [`DELIVERY_WAIT`] (it stays queued if not).
    pub(crate) async fn announce_flush(&self) -> bool {
        self.announce(Message::Flush).await
    }

    async fn announce(&self, message: Message) -> bool {
        self.announced.fetch_add(1, Ordering::Relaxed);
        let (delivered, wait) = oneshot::channel();
        let queued = self.outgoing.send(Outgoing {
            message,
            delivered: Some(delivered),
        });
        queued.is_ok() && matches!(tokio::time::timeout(DELIVERY_WAIT, wait).await, Ok(Ok(())))
    }

    /// Applies a message of the channel (`now_ms`: when it arrived).
    fn receive(&self, peers: &mut Peers, message: &str, now_ms: u64) {
        let mut parts = message.splitn(4, ' ');
        let (Some(kind), Some(from), Some(Ok(sequence))) = (
            parts.next(),
            parts.next(),
            parts.next().map(str::parse::<u64>),
        ) else {
            tracing::warn!("unknown message on the session invalidation channel: flushing");
            self.flush();
            return;
        };
        let payload = parts.next().unwrap_or("");
        if from == self.instance {
            // Its own changes are applied when made; its heartbeat proves delivery.
            if kind == "h"
                && let Ok(sent) = payload.parse()
            {
                self.heartbeat_returned(sent);
            }
            return;
        }
        if kind == "q" {
            peers.0.remove(from);
            return;
        }
        match peers.0.get_mut(from) {
            None => {
                peers.0.insert(
                    from.to_owned(),
                    Peer {
                        sequence,
                        heard_ms: now_ms,
                    },
                );
            }
            Some(peer) => {
                if sequence <= peer.sequence {
                    // Sent again after a publish that timed out but had landed.
                    return;
                }
                if sequence != peer.sequence + 1 {
                    tracing::warn!(
                        missed = sequence - peer.sequence - 1,
                        "session invalidations from another instance were lost: flushing the cache"
                    );
                    self.flush();
                }
                peer.sequence = sequence;
                peer.heard_ms = now_ms;
            }
        }
        match kind {
            "h" => {}
            "s" => match payload.parse::<Id>() {
                Ok(store_key) => {
                    self.invalidate(&store_key);
                    self.invalidations.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    tracing::warn!("an unreadable session invalidation: flushing");
                    self.flush();
                }
            },
            "x" => {
                self.flush();
                self.invalidations.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                tracing::warn!("unknown message on the session invalidation channel: flushing");
                self.flush();
            }
        }
    }

    /// Forgets instances silent for [`FORGET_AFTER`], and pauses (and flushes) while any
    /// other has been silent for [`FRESH_FOR`].
    fn check_peers(&self, peers: &mut Peers, now_ms: u64) {
        let forget = FORGET_AFTER.as_millis() as u64;
        let fresh = FRESH_FOR.as_millis() as u64;
        peers
            .0
            .retain(|_, p| now_ms.saturating_sub(p.heard_ms) < forget);
        let silent = peers
            .0
            .values()
            .any(|p| now_ms.saturating_sub(p.heard_ms) >= fresh);
        let was = self.others_silent.swap(silent, Ordering::AcqRel);
        if silent && !was {
            tracing::debug!("another instance fell silent: the fast path pauses");
            self.flush();
        }
    }

    /// A heartbeat sent at `sent_ms` came back.
    fn heartbeat_returned(&self, sent_ms: u64) {
        self.fresh_since.fetch_max(sent_ms, Ordering::AcqRel);
    }
}

/// Starts the cache of an instance: a subscriber connection and a publishing
/// connection of its own (built from the pool's configuration), the task that applies
/// messages and sends heartbeats and the task that publishes in order. Both end when
/// the cache is dropped.
pub(crate) fn start(
    config: Config,
    max_entries: usize,
) -> Result<Arc<SessionCache>, crate::SharedStateError> {
    let (cache, outgoing) = SessionCache::new(max_entries);
    let cache = Arc::new(cache);
    let subscriber = Builder::from_config(config.clone())
        .with_performance_config(|p| p.broadcast_channel_capacity = 4096)
        .set_policy(ReconnectPolicy::new_constant(0, 250))
        .build()
        .map_err(crate::SharedStateError::new)?;
    let publisher = Builder::from_config(config)
        .with_performance_config(|p| p.default_command_timeout = PUBLISH_TIMEOUT)
        .set_policy(ReconnectPolicy::new_constant(0, 250))
        .build()
        .map_err(crate::SharedStateError::new)?;
    let weak = Arc::downgrade(&cache);
    tokio::spawn(publish(
        weak.clone(),
        publisher,
        outgoing,
        cache.instance.clone(),
    ));
    tokio::spawn(receive(weak, subscriber));
    Ok(cache)
}

/// Applies the channel's messages, sends a heartbeat every [`HEARTBEAT_EVERY`] and
/// watches the other instances.
async fn receive(cache: Weak<SessionCache>, subscriber: fred::prelude::Client) {
    use fred::prelude::PubsubInterface as _;
    let mut messages = subscriber.message_rx();
    let mut reconnects = subscriber.reconnect_rx();
    let _connection = subscriber.connect();
    let subscribe = || {
        let subscriber = subscriber.clone();
        async move {
            match tokio::time::timeout(PUBLISH_TIMEOUT, subscriber.ssubscribe(CHANNEL)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "could not subscribe to session invalidations");
                }
                Err(_) => tracing::warn!("subscribing to session invalidations timed out"),
            }
        }
    };
    if subscriber.wait_for_connect().await.is_ok() {
        subscribe().await;
    }
    let mut peers = Peers::default();
    let mut last_subscribe = Instant::now();
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = messages.recv() => {
                let Some(cache) = cache.upgrade() else { break };
                match message {
                    Ok(m) if &*m.channel == CHANNEL => match m.value.convert::<String>() {
                        Ok(text) => cache.receive(&mut peers, text.as_str(), cache.now_ms()),
                        Err(_) => cache.flush(),
                    },
                    Ok(_) => {}
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
            _ = reconnects.recv() => {
                let Some(cache) = cache.upgrade() else { break };
                // Messages published while disconnected are lost: start afresh, and
                // subscribe on the new connection (a failover's new node included).
                cache.flush_and_pause();
                peers = Peers::default();
                last_subscribe = Instant::now();
                tokio::spawn(subscribe());
            }
            _ = tick.tick() => {
                let Some(cache) = cache.upgrade() else { break };
                let now = cache.now_ms();
                let _ = cache.outgoing.send(Outgoing { message: Message::Heartbeat(now), delivered: None });
                cache.check_peers(&mut peers, now);
                // A subscription the server dropped (a slot moved) shows as heartbeats
                // that no longer come back: subscribe again.
                let since = cache.fresh_since.load(Ordering::Acquire);
                if now.saturating_sub(since) > RESUBSCRIBE_AFTER.as_millis() as u64
                    && last_subscribe.elapsed() > RESUBSCRIBE_AFTER
                {
                    last_subscribe = Instant::now();
                    tokio::spawn(subscribe());
                }
            }
        }
    }
    let _ = subscriber.quit().await;
}

/// Publishes this instance's messages in order, numbered, on one connection, sending
/// again what a failed publish may not have delivered.
async fn publish(
    cache: Weak<SessionCache>,
    publisher: fred::prelude::Client,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    instance: String,
) {
    use fred::prelude::PubsubInterface as _;
    let _connection = publisher.connect();
    let mut sequence = 0u64;
    let mut failing = false;
    let mut unsent: VecDeque<(String, bool, Option<oneshot::Sender<()>>)> = VecDeque::new();
    let mut queue = |o: Outgoing, unsent: &mut VecDeque<_>| {
        sequence += 1;
        let heartbeat = matches!(o.message, Message::Heartbeat(_));
        unsent.push_back((o.message.text(&instance, sequence), heartbeat, o.delivered));
        if unsent.len() > MAX_UNSENT {
            unsent.pop_front();
        }
    };
    loop {
        if unsent.is_empty() {
            match outgoing.recv().await {
                Some(o) => queue(o, &mut unsent),
                None => break,
            }
        }
        while let Ok(o) = outgoing.try_recv() {
            queue(o, &mut unsent);
        }
        let pipeline = publisher.pipeline();
        for (text, _, _) in &unsent {
            let _: Result<(), _> = pipeline.spublish(CHANNEL, text.as_str()).await;
        }
        // Bounded here too: a pipeline caught by a lost connection may never be
        // answered.
        let sent = tokio::time::timeout(PUBLISH_TIMEOUT, pipeline.all::<Vec<i64>>())
            .await
            .unwrap_or_else(|_| {
                Err(fred::error::Error::new(
                    fred::error::ErrorKind::Timeout,
                    "publishing took too long",
                ))
            });
        match sent {
            Ok(_) => {
                if std::mem::take(&mut failing) {
                    tracing::info!("session invalidations are published again");
                }
                for (_, _, delivered) in unsent.drain(..) {
                    if let Some(d) = delivered {
                        let _ = d.send(());
                    }
                }
            }
            Err(e) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(error = %e, "could not publish session invalidations: the fast path pauses until they are sent");
                }
                if let Some(cache) = cache.upgrade() {
                    cache.flush_and_pause();
                }
                // Invalidations are sent again; stale heartbeats are not (the
                // receivers see their numbers skipped and drop everything).
                unsent.retain(|(_, heartbeat, _)| !heartbeat);
                tokio::time::sleep(HEARTBEAT_EVERY).await;
            }
        }
    }
    // The cache is gone: say so, so that no one waits for this instance.
    sequence += 1;
    let _ = tokio::time::timeout(
        PUBLISH_TIMEOUT,
        publisher.spublish::<(), _, _>(CHANNEL, Message::Leaving.text(&instance, sequence)),
    )
    .await;
    let _ = publisher.quit().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Arc<AuthSession> {
        Arc::new(AuthSession::bare())
    }

    fn live() -> SessionCache {
        let (c, _) = SessionCache::new(DEFAULT_MAX_ENTRIES);
        c.heartbeat_returned(c.now_ms());
        c
    }

    /// The id of a session named `name` in a test (its store key too: no sealing).
    fn k(name: &str) -> Id {
        Id(name
            .bytes()
            .fold(7i128, |h, b| h.wrapping_mul(31).wrapping_add(i128::from(b))))
    }

    fn cached(c: &SessionCache, name: &str) -> bool {
        c.get(&k(name)).is_ok()
    }

    fn generation(c: &SessionCache) -> u64 {
        c.generation.load(Ordering::Acquire)
    }

    #[test]
    fn nothing_is_served_without_a_recent_heartbeat() {
        let (c, _) = SessionCache::new(DEFAULT_MAX_ENTRIES);
        c.insert(k("k"), k("k"), session(), generation(&c));
        assert!(!cached(&c, "k"), "not live: not even cached");
        let c = live();
        c.insert(k("k"), k("k"), session(), generation(&c));
        assert!(cached(&c, "k"));
        // No heartbeat comes back: past the window, nothing is served.
        std::thread::sleep(FRESH_FOR + Duration::from_millis(5));
        assert!(!c.live());
        assert!(!cached(&c, "k"));
    }

    #[test]
    fn a_load_that_raced_an_invalidation_is_not_cached() {
        let c = live();
        let mut peers = Peers::default();
        let seen = generation(&c);
        c.receive(&mut peers, &format!("s other 1 {}", k("k")), c.now_ms());
        c.insert(k("k"), k("k"), session(), seen);
        assert!(!cached(&c, "k"));
    }

    #[test]
    fn a_save_of_a_session_read_before_an_invalidation_is_not_cached() {
        let c = live();
        let mut peers = Peers::default();
        let read_at = c.get(&k("k")).expect_err("nothing cached yet");
        // Another instance signs the session out between this request's read and save.
        c.receive(&mut peers, &format!("s other 1 {}", k("k")), c.now_ms());
        c.wrote(&k("k"), &k("k"), session(), Some(read_at));
        assert!(!cached(&c, "k"), "the save must not bring the session back");
        // A write not read through the fast path is not cached either.
        c.wrote(&k("k"), &k("k"), session(), None);
        assert!(!cached(&c, "k"));
    }

    /// A full cache drops the entries past their age (never served again), not the
    /// ones still served: the bound is on sessions read within `MAX_AGE`, the
    /// configured one (`REDIS_SESSION_CACHE_ENTRIES`).
    #[test]
    fn a_full_cache_drops_its_stale_entries_first() {
        const MAX_ENTRIES: usize = 1_000;
        let (c, _) = SessionCache::new(MAX_ENTRIES);
        c.heartbeat_returned(c.now_ms());
        let stale = Instant::now()
            .checked_sub(MAX_AGE + Duration::from_secs(1))
            .expect("an instant in the past");
        {
            let mut entries = c.lock();
            for i in 0..MAX_ENTRIES - 1 {
                let entry = Entry {
                    session: session(),
                    loaded: stale,
                    store_key: Id(i as i128 + 1_000_000),
                };
                entries.insert(Id(i as i128), entry);
            }
        }
        // Filling took time: the fast path is live again.
        c.heartbeat_returned(c.now_ms());
        c.insert(k("fresh"), k("fresh"), session(), generation(&c));
        c.insert(k("new"), k("new"), session(), generation(&c));
        assert_eq!(c.lock().len(), 2, "the stale entries went, not the others");
        assert_eq!(c.lock().by_store_key.len(), 2, "and their store keys");
        c.heartbeat_returned(c.now_ms());
        assert!(cached(&c, "fresh"), "kept");
        assert!(cached(&c, "new"));
    }

    #[test]
    fn own_writes_are_cached_at_once() {
        let c = live();
        let read_at = c.get(&k("k")).expect_err("nothing cached yet");
        c.wrote(&k("k"), &k("k"), session(), Some(read_at));
        let (_, at) = c.get(&k("k")).expect("cached");
        c.wrote(&k("k"), &k("k"), session(), Some(at));
        assert!(cached(&c, "k"));
        assert_eq!(c.stats().hits, 2);
    }

    #[test]
    fn invalidations_from_other_instances_drop_entries_and_x_drops_all() {
        let c = live();
        let mut peers = Peers::default();
        for name in ["a", "b"] {
            c.insert(k(name), k(name), session(), generation(&c));
        }
        let own = Message::Changed(k("a")).text(&c.instance, 1);
        c.receive(&mut peers, &own, c.now_ms());
        assert!(cached(&c, "a"), "its own message: already applied");
        c.receive(&mut peers, &format!("s other 1 {}", k("a")), c.now_ms());
        assert!(!cached(&c, "a"));
        assert!(cached(&c, "b"));
        c.receive(&mut peers, "x other 2", c.now_ms());
        assert!(!cached(&c, "b"));
        c.insert(k("b"), k("b"), session(), generation(&c));
        c.receive(&mut peers, "garbage", c.now_ms());
        assert!(!cached(&c, "b"), "an unknown message flushes");
    }

    /// Sealed sessions: the entry is found by the browser's id, and an invalidation
    /// names the store key (its keyed hash), which drops that entry.
    #[test]
    fn an_invalidation_names_the_store_key_and_drops_the_id_s_entry() {
        let c = live();
        let mut peers = Peers::default();
        let (id, store_key) = (k("id"), k("store key"));
        c.insert(id, store_key, session(), generation(&c));
        assert!(c.get(&id).is_ok(), "found by the browser's id");
        assert!(c.get(&store_key).is_err(), "not by its store key");
        c.receive(&mut peers, &format!("s other 1 {id}"), c.now_ms());
        assert!(
            c.get(&id).is_ok(),
            "a message naming the id itself is not about it"
        );
        c.receive(&mut peers, &format!("s other 2 {store_key}"), c.now_ms());
        assert!(c.get(&id).is_err(), "dropped by its store key");
        assert!(c.lock().by_store_key.is_empty());
        // Unreadable store keys flush everything.
        c.insert(id, store_key, session(), generation(&c));
        c.receive(&mut peers, "s other 3 not-an-id!", c.now_ms());
        assert!(c.get(&id).is_err());
        // One entry per store key: a second id read from the same key replaces the
        // first, so an invalidation of the key leaves nothing of it servable; an id
        // cached again under another key no longer answers to the old one.
        let other = k("other id");
        c.insert(id, store_key, session(), generation(&c));
        c.insert(other, store_key, session(), generation(&c));
        assert!(c.get(&id).is_err() && c.get(&other).is_ok());
        c.insert(other, k("new key"), session(), generation(&c));
        c.receive(&mut peers, &format!("s other 4 {store_key}"), c.now_ms());
        assert!(c.get(&other).is_ok(), "no longer under the old key");
        c.receive(
            &mut peers,
            &format!("s other 5 {}", k("new key")),
            c.now_ms(),
        );
        assert!(c.get(&other).is_err());
        let entries = c.lock();
        assert!(entries.by_id.is_empty() && entries.by_store_key.is_empty());
    }

    #[test]
    fn a_skipped_sequence_number_drops_everything() {
        let c = live();
        let mut peers = Peers::default();
        c.receive(&mut peers, "h other 7 1", c.now_ms());
        c.insert(k("k"), k("k"), session(), generation(&c));
        c.receive(&mut peers, "h other 8 2", c.now_ms());
        c.receive(&mut peers, "h other 8 2", c.now_ms());
        assert!(cached(&c, "k"), "in order, and a message sent again: kept");
        // Message 9 (an invalidation whose publish failed) never arrives.
        c.receive(&mut peers, "h other 10 3", c.now_ms());
        assert!(!cached(&c, "k"), "a lost message may have named it");
    }

    #[test]
    fn a_silent_instance_pauses_the_fast_path_until_heard_or_gone() {
        let c = live();
        let mut peers = Peers::default();
        let t0 = c.now_ms();
        c.receive(&mut peers, "h other 1 1", t0);
        c.insert(k("k"), k("k"), session(), generation(&c));
        c.check_peers(&mut peers, t0 + 20);
        assert!(cached(&c, "k"));
        // Silent past the window: its invalidations cannot be proven delivered.
        c.check_peers(&mut peers, t0 + FRESH_FOR.as_millis() as u64);
        assert!(!c.live() && !cached(&c, "k"));
        c.heartbeat_returned(c.now_ms());
        c.insert(k("k"), k("k"), session(), generation(&c));
        assert!(!cached(&c, "k"), "nothing is cached while it is silent");
        // Heard again: served again.
        c.receive(&mut peers, "h other 2 2", t0 + 100);
        c.check_peers(&mut peers, t0 + 110);
        assert!(c.live());
        // Silent for good: forgotten after FORGET_AFTER, and the pause ends.
        c.check_peers(&mut peers, t0 + 200);
        assert!(!c.live());
        c.check_peers(&mut peers, t0 + 100 + FORGET_AFTER.as_millis() as u64);
        assert!(c.live());
        // One that says it leaves is forgotten at once.
        c.receive(&mut peers, "h third 1 1", t0 + 2000);
        c.receive(&mut peers, "q third 2", t0 + 2001);
        c.check_peers(&mut peers, t0 + 2500);
        assert!(c.live());
    }

    #[test]
    fn a_flush_pauses_the_fast_path_until_a_heartbeat() {
        let c = live();
        c.insert(k("k"), k("k"), session(), generation(&c));
        c.flush_and_pause();
        assert!(!c.live());
        c.insert(k("k"), k("k"), session(), generation(&c));
        assert!(!cached(&c, "k"));
    }
}

#[cfg(test)]
mod restart_tests {
    use std::time::{Duration, Instant};

    /// Redis restarts: the fast path stops, then comes back by itself (the subscriber
    /// and the publisher reconnect, the heartbeat returns).
    #[tokio::test]
    async fn the_fast_path_comes_back_after_redis_restarts() {
        let mut server = provider_harness::RedisServer::start();
        let shared = crate::session::redis::RedisShared::connect(
            &server.url(),
            Duration::from_millis(300),
            None,
            Some(super::DEFAULT_MAX_ENTRIES),
        )
        .await
        .expect("connect");
        use crate::session::shared::SharedState as _;
        let live =
            |shared: &crate::session::redis::RedisShared| shared.fast_path().expect("on").live;
        let until_live = async |shared: &crate::session::redis::RedisShared, what: &str| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !live(shared) {
                assert!(Instant::now() < deadline, "{what}: never live");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        until_live(&shared, "at start").await;
        server.stop();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!live(&shared), "Redis is down: nothing is proven fresh");
        server.restart();
        until_live(&shared, "after the restart").await;
    }

    /// The app started while Redis was down: once Redis is up, shared state and the
    /// fast path work (the first connection is retried as a lost one is).
    #[tokio::test]
    async fn an_app_started_while_redis_is_down_recovers_when_it_comes_up() {
        use crate::session::shared::{Once, SharedState as _};
        let mut server = provider_harness::RedisServer::start();
        server.stop();
        let shared = crate::session::redis::RedisShared::connect(
            &server.url(),
            Duration::from_millis(300),
            None,
            Some(super::DEFAULT_MAX_ENTRIES),
        )
        .await
        .expect("starts anyway");
        assert!(
            shared
                .first_use(Once::LogoutToken, "j-1", 4_000_000_000)
                .await
                .is_err()
        );
        server.restart();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let used = shared
                .first_use(Once::LogoutToken, "j-2", 4_000_000_000)
                .await;
            if used.is_ok() && shared.fast_path().expect("on").live {
                break;
            }
            assert!(Instant::now() < deadline, "never recovered: {used:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

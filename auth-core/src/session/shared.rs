//! The state the instances of one app must agree on, behind one trait: which
//! back-channel logouts happened, which logout tokens and DPoP proofs were used once,
//! who is refreshing which refresh token (and its result), and which sessions an
//! instance may serve from memory. The flows (`flow::logout`, `flow::refresh`,
//! `bearer`, `store`, `workos`) ask [`SharedState`] and never know what answers.
//!
//! Two implementations: [`ThisProcess`] (no other instance to agree with: every
//! answer is local and immediate) and, with the `redis` feature, `RedisShared`
//! (`redis.rs`; its fast path in `redis_cache.rs`). This module and those two files are
//! the only places that know Redis exists; a new shared backend is one more
//! implementation here.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tower_sessions_core::session::Id;

use crate::session::AuthSession;
use crate::session::Refreshed;
use crate::session::logouts::LogoutKind;
use crate::session::seal::Sealer;
use crate::session::settings::RedisSettings;
use crate::session::store::SharedStore;

/// The state the app's instances share (Redis) could not be read or written: the
/// request that needed it answers 503, and nothing is decided without it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SharedStateError(#[source] Arc<dyn std::error::Error + Send + Sync>);

impl SharedStateError {
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(e))
    }
}

/// An answer of the shared state, once it arrives.
pub(crate) type Answer<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, SharedStateError>> + Send + 'a>>;

/// What is used once, across every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Once {
    /// A back-channel logout token, by its `jti`.
    LogoutToken,
    /// A DPoP proof, by its key's thumbprint and `jti`.
    DpopProof,
}

/// What the fast path did, for tests and operators: [`crate::Auth::fast_path`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FastPathStats {
    /// Whether entries may be served now (heartbeat back within 80 ms, no instance
    /// silent).
    pub live: bool,
    /// Requests served from memory.
    pub hits: u64,
    /// Requests that read Redis (nothing cached, or the fast path paused).
    pub misses: u64,
    /// Invalidations received from other instances (changed sessions and flushes).
    pub invalidations: u64,
    /// Invalidations this instance announced to the others (its session writes and
    /// deletes, its recorded logouts).
    pub announced: u64,
    /// Stored sessions this instance wrote again or deleted, announced or not (a
    /// recorded use is not announced); sign-ins, which create records, are not counted.
    pub written: u64,
}

/// A look into the fast path's cache of sessions this instance checked.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) enum Cached {
    /// No cache: every request loads its session from the store.
    Off,
    /// Served from memory: no instance changed it or logged anyone out since. With
    /// the cache's generation at this read (for [`SharedState::session_changed`]).
    Hit(Arc<AuthSession>, u64),
    /// Not cached; once loaded and checked, [`SharedState::keep_checked`] caches it,
    /// unless an invalidation arrived in between.
    Miss(CacheTicket),
}

/// Where a session loaded after a cache miss goes, and the cache's generation when
/// the load began (a load that raced an invalidation is not cached).
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) struct CacheTicket {
    pub(crate) id: Id,
    pub(crate) generation: u64,
}

/// [`SharedState::save_record`] on a state that keeps no records (never called).
#[derive(Debug, thiserror::Error)]
#[error("this shared state keeps no session records")]
struct NoRecords;

/// One session in the index of a user's sessions: its store key, when it began, and
/// when it ends at the latest (its lifetime). The index is how the app finds every
/// session of a user (store keys are keyed hashes of the ids browsers hold).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct IndexEntry {
    pub(crate) key: String,
    pub(crate) created: i64,
    pub(crate) until: i64,
}

/// What every instance of the app must agree on. Every method that asks another
/// process returns a future; an error means "cannot be decided now" (503).
pub(crate) trait SharedState: Send + Sync + std::fmt::Debug {
    /// The store where every instance finds the session records, if this state keeps
    /// them (an app-given store comes first).
    fn session_store(&self) -> Option<SharedStore>;

    /// The fast path: the session of `id` (the id the browser holds), if this instance
    /// may serve it from memory.
    fn cached_session(&self, id: &Id) -> Cached;

    /// Caches a session loaded and checked after a [`Cached::Miss`], stored under
    /// `store_key`.
    fn keep_checked(&self, ticket: CacheTicket, store_key: Id, session: &Arc<AuthSession>);

    /// Whether the shared state answers now (`None`: there is none, this process is
    /// all there is).
    fn ping(&self) -> Option<Answer<'_, ()>> {
        None
    }

    /// What the fast path did, when there is one.
    fn fast_path(&self) -> Option<FastPathStats> {
        None
    }

    /// Stores a session record again only if it still exists, when this state keeps
    /// the records itself: whether it did.
    fn save_record<'a>(
        &'a self,
        _record: &'a tower_sessions_core::session::Record,
    ) -> Answer<'a, bool> {
        Box::pin(std::future::ready(Err(SharedStateError::new(NoRecords))))
    }

    /// This instance stored (`Some`, with the session's id) or deleted (`None`) the
    /// session under `store_key`: the other instances drop theirs; its own cache takes a
    /// stored one if it was computed
    /// from a session read through the fast path at generation `read_at` and nothing
    /// was invalidated since. Never fails: an announcement that cannot be sent now is
    /// sent again, and the others pause their fast path meanwhile.
    ///
    /// `announce` false: a change no other instance needs to hear (a recorded use,
    /// which changes no one's identity or rights): kept here only, so that other
    /// instances' copies stay served.
    fn session_changed<'a>(
        &'a self,
        store_key: &'a Id,
        stored: Option<(&'a Id, &'a Arc<AuthSession>)>,
        read_at: Option<u64>,
        announce: bool,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

    /// Adds the session `handle` to the index of `user` (its provider and `sub`), kept
    /// for `ttl` after the last addition; how many sessions the index holds then.
    fn index_add<'a>(
        &'a self,
        user: &'a str,
        handle: &'a str,
        entry: &'a IndexEntry,
        ttl: Duration,
        sealer: Option<&'a Sealer>,
    ) -> Answer<'a, usize>;

    /// The sessions in the index of `user`, by handle (some may have ended: the
    /// caller checks each record and removes the dead ones).
    fn index_list<'a>(
        &'a self,
        user: &'a str,
        sealer: Option<&'a Sealer>,
    ) -> Answer<'a, Vec<(String, IndexEntry)>>;

    /// Removes the session `handle` from the index of `user`.
    fn index_remove<'a>(&'a self, user: &'a str, handle: &'a str) -> Answer<'a, ()>;

    /// Remembers `key` until `until` (Unix time): true the first time on any instance,
    /// false for a replay.
    fn first_use<'a>(&'a self, what: Once, key: &'a str, until: i64) -> Answer<'a, bool>;

    /// Forgets a use of `key` (its effect could not be recorded: a retry must be taken).
    fn forget_use<'a>(&'a self, what: Once, key: &'a str) -> Answer<'a, ()>;

    /// Records a logout of `kind` under `key` (`sid:..`, `sub:..` or `subnosid:..`)
    /// at `at`, kept for `ttl`, sealed with `sealer` when given.
    fn record_logout<'a>(
        &'a self,
        key: &'a str,
        at: i64,
        kind: LogoutKind,
        ttl: Duration,
        sealer: Option<&'a Sealer>,
    ) -> Answer<'a, ()>;

    /// After logouts were recorded: every instance drops the sessions it serves from
    /// memory and reads the logouts again.
    fn logouts_recorded(&self) -> Answer<'_, ()>;

    /// The logout recorded by any instance that ends `session`, if any.
    fn logged_out<'a>(
        &'a self,
        session: &'a AuthSession,
        sealer: Option<&'a Sealer>,
    ) -> Answer<'a, Option<LogoutKind>>;

    /// Whether [`SharedState::logged_out`] can know of a logout this process did not
    /// record (false: it always answers `None`, and every signed-in request can skip
    /// asking it).
    fn shares_logouts(&self) -> bool {
        true
    }

    /// Takes the refresh lock of `refresh_token` for `ttl` as `owner`; false when
    /// another instance holds it.
    fn lock_refresh<'a>(
        &'a self,
        refresh_token: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> Answer<'a, bool>;

    /// Releases the refresh lock if `owner` still holds it; true when it did.
    fn unlock_refresh<'a>(&'a self, refresh_token: &'a str, owner: &'a str) -> Answer<'a, bool>;

    /// Publishes a refresh's result for the instances waiting on `refresh_token` and
    /// releases the lock, both only if `owner` still holds it; false when it lost it.
    fn publish_refresh<'a>(
        &'a self,
        refresh_token: &'a str,
        owner: &'a str,
        result: &'a Refreshed,
        ttl: Duration,
        sealer: Option<&'a Sealer>,
    ) -> Answer<'a, bool>;

    /// The result another instance published for `refresh_token` (`Err(())`: present
    /// but unreadable).
    fn published_refresh<'a>(
        &'a self,
        refresh_token: &'a str,
        sealer: Option<&'a Sealer>,
    ) -> Answer<'a, Option<Result<Refreshed, ()>>>;
}

/// No other instance: what this process knows is all there is. Logouts and uses are
/// kept by the process's own registries (`LogoutRegistry`, the DPoP replay cache),
/// the refresh lock is always free and a refresh has no one to publish to. The index
/// of each user's sessions is kept here, its ended entries swept as sessions are
/// added.
#[derive(Debug, Default)]
pub(crate) struct ThisProcess {
    index: std::sync::Mutex<LocalIndex>,
}

/// The index of each user's sessions in this process.
#[derive(Debug, Default)]
struct LocalIndex {
    users: std::collections::HashMap<String, std::collections::HashMap<String, IndexEntry>>,
    /// Additions since the last sweep of entries past their lifetime.
    added: usize,
}

/// A sweep of the local index every this many additions.
const SWEEP_EVERY: usize = 1024;

impl ThisProcess {
    fn index(&self) -> std::sync::MutexGuard<'_, LocalIndex> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn now<'a, T: Send + 'a>(value: T) -> Answer<'a, T> {
    Box::pin(std::future::ready(Ok(value)))
}

impl SharedState for ThisProcess {
    fn session_store(&self) -> Option<SharedStore> {
        None
    }

    fn cached_session(&self, _: &Id) -> Cached {
        Cached::Off
    }

    fn keep_checked(&self, _: CacheTicket, _: Id, _: &Arc<AuthSession>) {}

    fn session_changed<'a>(
        &'a self,
        _: &'a Id,
        _: Option<(&'a Id, &'a Arc<AuthSession>)>,
        _: Option<u64>,
        _: bool,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(std::future::ready(()))
    }

    fn index_add<'a>(
        &'a self,
        user: &'a str,
        handle: &'a str,
        entry: &'a IndexEntry,
        _: Duration,
        _: Option<&'a Sealer>,
    ) -> Answer<'a, usize> {
        let mut index = self.index();
        index.added += 1;
        if index.added >= SWEEP_EVERY {
            index.added = 0;
            let now = entry.created;
            index.users.retain(|_, sessions| {
                sessions.retain(|_, e| e.until > now);
                !sessions.is_empty()
            });
        }
        let sessions = index.users.entry(user.to_owned()).or_default();
        sessions.insert(handle.to_owned(), entry.clone());
        now(sessions.len())
    }

    fn index_list<'a>(
        &'a self,
        user: &'a str,
        _: Option<&'a Sealer>,
    ) -> Answer<'a, Vec<(String, IndexEntry)>> {
        let list = self
            .index()
            .users
            .get(user)
            .map(|s| s.iter().map(|(h, e)| (h.clone(), e.clone())).collect())
            .unwrap_or_default();
        now(list)
    }

    fn index_remove<'a>(&'a self, user: &'a str, handle: &'a str) -> Answer<'a, ()> {
        let mut index = self.index();
        if let Some(sessions) = index.users.get_mut(user) {
            sessions.remove(handle);
            if sessions.is_empty() {
                index.users.remove(user);
            }
        }
        now(())
    }

    fn first_use<'a>(&'a self, _: Once, _: &'a str, _: i64) -> Answer<'a, bool> {
        now(true)
    }

    fn forget_use<'a>(&'a self, _: Once, _: &'a str) -> Answer<'a, ()> {
        now(())
    }

    fn record_logout<'a>(
        &'a self,
        _: &'a str,
        _: i64,
        _: LogoutKind,
        _: Duration,
        _: Option<&'a Sealer>,
    ) -> Answer<'a, ()> {
        now(())
    }

    fn logouts_recorded(&self) -> Answer<'_, ()> {
        now(())
    }

    fn logged_out<'a>(
        &'a self,
        _: &'a AuthSession,
        _: Option<&'a Sealer>,
    ) -> Answer<'a, Option<LogoutKind>> {
        now(None)
    }

    fn shares_logouts(&self) -> bool {
        false
    }

    fn lock_refresh<'a>(&'a self, _: &'a str, _: &'a str, _: Duration) -> Answer<'a, bool> {
        now(true)
    }

    fn unlock_refresh<'a>(&'a self, _: &'a str, _: &'a str) -> Answer<'a, bool> {
        now(true)
    }

    fn publish_refresh<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a Refreshed,
        _: Duration,
        _: Option<&'a Sealer>,
    ) -> Answer<'a, bool> {
        now(true)
    }

    fn published_refresh<'a>(
        &'a self,
        _: &'a str,
        _: Option<&'a Sealer>,
    ) -> Answer<'a, Option<Result<Refreshed, ()>>> {
        now(None)
    }
}

/// The shared state `redis` asks for: Redis when a URL is set (with the `redis`
/// feature; without it `build()` has refused the URL), else this process alone.
/// `own_store`: the app keeps sessions in a store of its own, so the fast path (which
/// caches Redis's sessions) stays off.
pub(crate) async fn connect(
    redis: &RedisSettings,
    own_store: bool,
) -> Result<Arc<dyn SharedState>, SharedStateError> {
    #[cfg(feature = "redis")]
    if let Some(url) = &redis.url {
        let shared = crate::session::redis::RedisShared::connect(
            &url.0,
            redis.timeout,
            redis.ca_file.as_deref(),
            (redis.session_cache && !own_store).then_some(redis.session_cache_entries),
        )
        .await?;
        return Ok(Arc::new(shared));
    }
    let _ = (redis, own_store);
    Ok(Arc::new(ThisProcess::default()))
}

//! Sessions in this process's memory: the default store, and the public record store.

use std::sync::{Arc, Mutex, MutexGuard};

use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::{Error as StoreError, SessionStore};

/// Seconds between sweeps of expired entries.
const SWEEP_EVERY_SECS: i64 = 60;

/// Entries that expire: expired ones are never returned and are swept (at most once a
/// minute, as new ones come); `replace` only updates an entry that still exists, so a
/// deleted session is never brought back by a save that was in flight.
struct Expiring<V> {
    state: Mutex<ExpiringState<V>>,
}

struct ExpiringState<V> {
    entries: super::IdMap<(V, OffsetDateTime)>,
    next_sweep: i64,
}

impl<V> Default for Expiring<V> {
    fn default() -> Self {
        Self {
            state: Mutex::new(ExpiringState {
                entries: super::IdMap::default(),
                next_sweep: 0,
            }),
        }
    }
}

impl<V: Clone> Expiring<V> {
    fn state(&self) -> MutexGuard<'_, ExpiringState<V>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, id: &Id) -> Option<V> {
        let now = OffsetDateTime::now_utc();
        self.state()
            .entries
            .get(id)
            .filter(|(_, expiry)| *expiry > now)
            .map(|(v, _)| v.clone())
    }

    /// Inserts `make(id)` under `id`, or under a new random id if `id` is taken;
    /// returns the id used.
    fn insert_new(&self, mut id: Id, expiry: OffsetDateTime, make: impl FnOnce(Id) -> V) -> Id {
        let now = OffsetDateTime::now_utc();
        let mut state = self.state();
        if now.unix_timestamp() >= state.next_sweep {
            state.entries.retain(|_, (_, e)| *e > now);
            state.next_sweep = now.unix_timestamp() + SWEEP_EVERY_SECS;
        }
        while state.entries.contains_key(&id) {
            id = Id::default();
        }
        state.entries.insert(id, (make(id), expiry));
        id
    }

    /// Replaces the entry of `id` if there is one: whether there was.
    fn replace(&self, id: &Id, value: V, expiry: OffsetDateTime) -> bool {
        match self.state().entries.get_mut(id) {
            Some(entry) => {
                *entry = (value, expiry);
                true
            }
            None => false,
        }
    }

    fn remove(&self, id: &Id) {
        self.state().entries.remove(id);
    }

    fn live(&self) -> usize {
        let now = OffsetDateTime::now_utc();
        self.state()
            .entries
            .values()
            .filter(|(_, e)| *e > now)
            .count()
    }
}

/// Session records in memory, for a single instance (they end when the process does).
///
/// Unlike tower-sessions' `MemoryStore`: expired records are removed (swept at most
/// once a minute, as sessions are created), `save` only updates a record that still
/// exists (a session deleted by logout is never brought back by a refresh that was in
/// flight), and `Debug` prints no record. Records are kept by their ids in a map with a
/// fast hash that is not built to resist chosen keys: give `create` the random ids
/// tower-sessions makes (it always does), never ids taken from a request.
#[derive(Clone, Default)]
pub struct MemoryStore(Arc<Expiring<Record>>);

impl MemoryStore {
    /// Live sessions (expired ones not yet swept are not counted).
    pub fn len(&self) -> usize {
        self.0.live()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl SessionStore for MemoryStore {
    async fn create(&self, record: &mut Record) -> Result<(), StoreError> {
        let template = record.clone();
        record.id = self
            .0
            .insert_new(template.id, template.expiry_date, |id| Record {
                id,
                ..template
            });
        Ok(())
    }

    async fn save(&self, record: &Record) -> Result<(), StoreError> {
        let _ = self
            .0
            .replace(&record.id, record.clone(), record.expiry_date);
        Ok(())
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        Ok(self.0.get(id))
    }

    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.0.remove(id);
        Ok(())
    }
}

/// The sessions of a single instance when no external store is configured: decoded
/// sessions shared by reference, so a signed-in request costs a map lookup and no
/// decoding. Same rules as [`MemoryStore`].
#[derive(Default)]
pub(crate) struct LocalSessions(Expiring<Arc<crate::AuthSession>>);

impl std::fmt::Debug for LocalSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSessions").finish_non_exhaustive()
    }
}

impl LocalSessions {
    pub(crate) fn load(&self, id: &Id) -> Option<Arc<crate::AuthSession>> {
        self.0.get(id)
    }

    /// Stores `session` under a new random id.
    /// Stores the session `make` builds for its fresh id.
    pub(crate) fn create_with(
        &self,
        expiry: OffsetDateTime,
        make: impl FnOnce(&Id) -> Arc<crate::AuthSession>,
    ) -> Id {
        self.0.insert_new(Id::default(), expiry, |id| make(&id))
    }

    /// Replaces the session of `id` if it still exists.
    /// Stores `session` again if `id` still has one: whether it did.
    pub(crate) fn save(
        &self,
        id: &Id,
        session: Arc<crate::AuthSession>,
        expiry: OffsetDateTime,
    ) -> bool {
        self.0.replace(id, session, expiry)
    }

    /// The live sessions `pick` selects, with their ids (a scan of every session:
    /// for listing a user's sessions, not for requests).
    pub(crate) fn find(
        &self,
        pick: impl Fn(&crate::AuthSession) -> bool,
    ) -> Vec<(Id, Arc<crate::AuthSession>)> {
        let now = OffsetDateTime::now_utc();
        self.0
            .state()
            .entries
            .iter()
            .filter(|(_, (s, expiry))| *expiry > now && pick(s))
            .map(|(id, (s, _))| (*id, Arc::clone(s)))
            .collect()
    }

    pub(crate) fn delete(&self, id: &Id) {
        self.0.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(expires_in: i64) -> Record {
        Record {
            id: Id::default(),
            data: std::collections::HashMap::new(),
            expiry_date: OffsetDateTime::now_utc() + time::Duration::seconds(expires_in),
        }
    }

    #[tokio::test]
    async fn save_does_not_resurrect_a_deleted_session() {
        let store = MemoryStore::default();
        let mut r = record(60);
        store.create(&mut r).await.unwrap();
        store.delete(&r.id).await.unwrap();
        store.save(&r).await.unwrap();
        assert!(store.load(&r.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn expired_records_are_not_loaded_and_are_swept() {
        let store = MemoryStore::default();
        let mut old = record(-1);
        store.create(&mut old).await.unwrap();
        assert!(store.load(&old.id).await.unwrap().is_none());
        // The next sweep is due a minute after the first; force it.
        store.0.state().next_sweep = 0;
        let mut fresh = record(60);
        store.create(&mut fresh).await.unwrap();
        assert_eq!(store.0.state().entries.len(), 1);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn local_sessions_never_resurrect_and_hide_expired_ones() {
        let local = LocalSessions::default();
        let session = Arc::new(crate::AuthSession::bare());
        let later = OffsetDateTime::now_utc() + time::Duration::minutes(1);
        let id = local.create_with(later, |_| Arc::clone(&session));
        assert!(local.load(&id).is_some());
        local.delete(&id);
        local.save(&id, Arc::clone(&session), later);
        assert!(local.load(&id).is_none());
        let past = OffsetDateTime::now_utc() - time::Duration::seconds(1);
        let old = local.create_with(past, |_| session);
        assert!(local.load(&old).is_none());
        assert_eq!(format!("{local:?}"), "LocalSessions { .. }");
    }

    #[tokio::test]
    async fn debug_prints_no_record() {
        let store = MemoryStore::default();
        let mut r = record(60);
        r.data
            .insert("auth.session".into(), serde_json::json!("secret-token"));
        store.create(&mut r).await.unwrap();
        let printed = format!("{store:?}");
        assert!(!printed.contains("secret"), "{printed}");
    }
}

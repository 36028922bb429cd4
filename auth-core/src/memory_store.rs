//! The default session store: in this process's memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::{Error as StoreError, SessionStore};

/// Seconds between sweeps of expired records.
const SWEEP_EVERY_SECS: i64 = 60;

/// Sessions in memory, for a single instance (they end when the process does).
///
/// Unlike tower-sessions' `MemoryStore`: expired records are removed (swept at most
/// once a minute, as sessions are created), `save` only updates a record that still
/// exists (a session deleted by logout is never brought back by a refresh that was in
/// flight), and `Debug` prints no record.
#[derive(Clone, Default)]
pub struct MemoryStore(Arc<Mutex<State>>);

#[derive(Default)]
struct State {
    records: HashMap<Id, Record>,
    next_sweep: i64,
}

impl MemoryStore {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Live sessions (expired ones not yet swept are not counted).
    pub fn len(&self) -> usize {
        let now = OffsetDateTime::now_utc();
        self.state()
            .records
            .values()
            .filter(|r| r.expiry_date > now)
            .count()
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
        let now = OffsetDateTime::now_utc();
        let mut state = self.state();
        if now.unix_timestamp() >= state.next_sweep {
            state.records.retain(|_, r| r.expiry_date > now);
            state.next_sweep = now.unix_timestamp() + SWEEP_EVERY_SECS;
        }
        while state.records.contains_key(&record.id) {
            record.id = Id::default();
        }
        state.records.insert(record.id, record.clone());
        Ok(())
    }

    async fn save(&self, record: &Record) -> Result<(), StoreError> {
        if let Some(existing) = self.state().records.get_mut(&record.id) {
            *existing = record.clone();
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        let now = OffsetDateTime::now_utc();
        Ok(self
            .state()
            .records
            .get(id)
            .filter(|r| r.expiry_date > now)
            .cloned())
    }

    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.state().records.remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(expires_in: i64) -> Record {
        Record {
            id: Id::default(),
            data: HashMap::new(),
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
        store.state().next_sweep = 0;
        let mut fresh = record(60);
        store.create(&mut fresh).await.unwrap();
        assert_eq!(store.state().records.len(), 1);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn local_sessions_never_resurrect_and_hide_expired_ones() {
        let local = LocalSessions::default();
        let session = Arc::new(crate::AuthSession {
            claims: crate::Claims::default(),
            id_token: crate::IdToken::new("id"),
            access_token: crate::AccessToken::new("at"),
            refresh_token: None,
            expires_at: None,
            authenticated_at: 0,
            scope: None,
            last_seen: None,
            refresh_expires_at: None,
        });
        let later = OffsetDateTime::now_utc() + time::Duration::minutes(1);
        let id = local.create(Arc::clone(&session), later);
        assert!(local.load(&id).is_some());
        local.delete(&id);
        local.save(&id, Arc::clone(&session), later);
        assert!(local.load(&id).is_none());
        let past = OffsetDateTime::now_utc() - time::Duration::seconds(1);
        let old = local.create(session, past);
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

/// The sessions of a single instance when no external store is configured: decoded
/// sessions shared by reference, so a signed-in request costs a map lookup and no
/// decoding. Same rules as [`MemoryStore`]: expired entries are swept as new ones
/// come, and saving never brings back a deleted session.
#[derive(Default)]
pub(crate) struct LocalSessions(Mutex<LocalState>);

#[derive(Default)]
struct LocalState {
    map: HashMap<Id, (Arc<crate::AuthSession>, OffsetDateTime)>,
    next_sweep: i64,
}

impl std::fmt::Debug for LocalSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSessions").finish_non_exhaustive()
    }
}

impl LocalSessions {
    fn state(&self) -> std::sync::MutexGuard<'_, LocalState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn load(&self, id: &Id) -> Option<Arc<crate::AuthSession>> {
        let now = OffsetDateTime::now_utc();
        self.state()
            .map
            .get(id)
            .filter(|(_, expiry)| *expiry > now)
            .map(|(s, _)| Arc::clone(s))
    }

    /// Stores `session` under a new random id.
    pub(crate) fn create(&self, session: Arc<crate::AuthSession>, expiry: OffsetDateTime) -> Id {
        let now = OffsetDateTime::now_utc();
        let mut state = self.state();
        if now.unix_timestamp() >= state.next_sweep {
            state.map.retain(|_, (_, e)| *e > now);
            state.next_sweep = now.unix_timestamp() + SWEEP_EVERY_SECS;
        }
        let mut id = Id::default();
        while state.map.contains_key(&id) {
            id = Id::default();
        }
        state.map.insert(id, (session, expiry));
        id
    }

    /// Replaces the session of `id` if it still exists.
    pub(crate) fn save(&self, id: &Id, session: Arc<crate::AuthSession>, expiry: OffsetDateTime) {
        if let Some(entry) = self.state().map.get_mut(id) {
            *entry = (session, expiry);
        }
    }

    pub(crate) fn delete(&self, id: &Id) {
        self.state().map.remove(id);
    }
}

//! Server-side sessions, the same for every adapter: the browser holds only an opaque,
//! random session id in an HttpOnly cookie; the [`AuthSession`] (claims and tokens)
//! lives in a store behind the tower-sessions [`SessionStore`] trait, in memory by
//! default (any tower-sessions store works: Redis, SQL...).
//!
//! Records have the tower-sessions layout (the session under [`AuthSession::KEY`] in
//! the record's data map), so a store can be shared with apps that use tower-sessions.

use std::sync::Arc;
use std::time::Duration;

use cookie::{Cookie, SameSite};
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
pub use tower_sessions_core::session_store::{Error as StoreError, SessionStore};

use crate::clock::Clock;
use crate::session::AuthSession;
use crate::session::cookie::SessionCookie;
use crate::session::settings::SessionSettings;
use crate::session::shared::SharedState;

/// No use is recorded this close to a refresh (seconds before the refresh margin).
const TOUCH_GUARD_SECS: i64 = 10;

/// The longest session cookie value read (a tower-sessions id is 22 characters).
const MAX_SESSION_ID_LEN: usize = 64;

/// The id of a signed-in session, as its cookie carries it. The id is a bearer
/// credential: its `Debug` never prints it (nor does anything in this crate log it).
/// A store sees the record id derived from it (a keyed hash when records are sealed).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(pub(crate) Id);

#[cfg(any(test, feature = "bench-internals"))]
impl SessionId {
    /// The session id a `Set-Cookie` value of the session cookie carries (what
    /// `Auth::start_session` returns), for tests and the scale bench.
    pub(crate) fn from_set_cookie(set_cookie: &str) -> Option<Self> {
        let (_, value) = set_cookie.split(';').next()?.split_once('=')?;
        value.parse().ok().map(Self)
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(..)")
    }
}

/// A session store shared by every clone of [`Auth`](crate::Auth) and every worker thread. Its
/// `Debug` never prints the store (which could print every session's tokens).
#[derive(Clone)]
pub struct SharedStore(Arc<dyn SessionStore>);

impl std::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedStore(..)")
    }
}

impl SharedStore {
    /// Wraps any tower-sessions store.
    pub fn new(store: impl SessionStore) -> Self {
        Self(Arc::new(store))
    }
}

#[async_trait::async_trait]
impl SessionStore for SharedStore {
    async fn create(&self, record: &mut Record) -> Result<(), StoreError> {
        self.0.create(record).await
    }

    async fn save(&self, record: &Record) -> Result<(), StoreError> {
        self.0.save(record).await
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        self.0.load(id).await
    }

    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.0.delete(id).await
    }
}

/// The sessions part: where sessions live, how records are keyed and sealed, the
/// session cookie, and the lifetime rules (lifetime, idle timeout, refresh-token
/// expiry, when a use is recorded). It owns its slice of the configuration and tells
/// the other instances (through the shared state) what it changed; [`Auth`](crate::Auth) only
/// orchestrates it with the logout checks and the refresh.
#[derive(Debug)]
pub(crate) struct Sessions {
    place: Place,
    /// How long a session may live at most.
    lifetime: Duration,
    /// How long an unused session lives (`None`: no limit).
    idle_timeout: Option<Duration>,
    /// How long before the access token's expiry a request refreshes it.
    refresh_margin: Duration,
    clock: Clock,
    cookie: SessionCookie,
    /// Finds the cookie's name in a `Cookie` header value (one without it is not
    /// parsed: a request with other cookies only, a visitor's analytics say).
    cookie_name: memchr::memmem::Finder<'static>,
    shared: Arc<dyn SharedState>,
    /// The key of session handles (from the app's key, else random for this process).
    handle_key: HandleKey,
}

/// Whether `session` is the user `sub` of provider `provider`.
fn same_user(session: &AuthSession, provider: Option<&str>, sub: &str) -> bool {
    session.provider() == provider && session.sub() == sub
}

/// The HMAC key of session handles.
struct HandleKey([u8; 32]);

impl std::fmt::Debug for HandleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandleKey([redacted])")
    }
}

/// The longest `Cookie` header value parsed without first looking for the session
/// cookie's name in it (callgrind: the search cost a signed-in request with the session
/// cookie alone 150 instructions; a visitor's seven other cookies, 4 200 to parse).
const PARSED_WITHOUT_SEARCH: usize = 64;

/// Sessions a user may have at once; a sign-in past it ends the oldest.
pub(crate) const MAX_SESSIONS_PER_USER: usize = 100;

/// Where sessions live.
#[derive(Debug)]
enum Place {
    /// Decoded, in this process (no external store is configured).
    Local(crate::session::memory::LocalSessions),
    /// In an external store (Redis, or one given in the configuration), as records
    /// sealed when a key is configured.
    External {
        store: SharedStore,
        sealer: Option<Box<crate::session::seal::Sealer>>,
        /// The store is the shared state's own (Redis), which saves only records
        /// that still exist and says whether it did.
        shared_records: bool,
    },
}

impl Sessions {
    /// The part as `settings` describe it: the app's own store, else the shared
    /// state's (Redis), else this process's memory; records sealed with
    /// `SESSION_ENCRYPTION_KEY`, else `APP_SECRET`. `secure`: the app is served over
    /// https (the cookie's `__Host-` name and `Secure`).
    pub(crate) fn new(
        settings: &SessionSettings,
        secure: bool,
        clock: Clock,
        shared: Arc<dyn SharedState>,
    ) -> Self {
        let shared_records = settings.store.is_none();
        let handle_key = {
            let mut key = [0u8; 32];
            match settings.record_keys().first() {
                Some(secret) => {
                    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"auth-rs"), &secret.0);
                    let _ = hk.expand(b"session handle v1", &mut key);
                }
                None => {
                    let _ = aws_lc_rs::rand::fill(&mut key);
                }
            }
            HandleKey(key)
        };
        let external = settings.store.clone().or_else(|| shared.session_store());
        let place = match external {
            None => Place::Local(crate::session::memory::LocalSessions::default()),
            Some(store) => {
                let sealer = crate::session::seal::Sealer::derive_all(
                    settings.record_keys().iter().map(|k| k.0.as_slice()),
                )
                .map(Box::new);
                if sealer.is_none() {
                    tracing::warn!(
                        "sessions are stored outside this process without encryption: set APP_SECRET or SESSION_ENCRYPTION_KEY"
                    );
                }
                Place::External {
                    store,
                    sealer,
                    shared_records,
                }
            }
        };
        let cookie = SessionCookie {
            name: if secure {
                "__Host-auth_session"
            } else {
                "auth_session"
            },
            secure,
        };
        Self {
            place,
            lifetime: settings.lifetime,
            idle_timeout: settings.idle_timeout,
            refresh_margin: settings.refresh_margin,
            clock,
            cookie_name: memchr::memmem::Finder::new(cookie.name),
            cookie,
            shared,
            handle_key,
        }
    }

    /// The handle of the session stored under `store_key`: HMAC-SHA256 of it, 128
    /// bits, base64url. Stable, and never a session id (which a keyed hash cannot be
    /// turned back into).
    pub(crate) fn handle_of(&self, store_key: &Id) -> crate::session::Handle {
        use hmac::Mac as _;
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&self.handle_key.0)
            .expect("HMAC takes any key size");
        mac.update(b"handle|");
        mac.update(store_key.to_string().as_bytes());
        let out = mac.finalize().into_bytes();
        let mut handle = [0u8; 16];
        handle.copy_from_slice(&out[..16]);
        crate::session::Handle(handle)
    }

    /// The handle a session is indexed under: its own (kept when a key rotation moves
    /// it to another store key), else the one of its store key.
    fn handle_in_index(&self, store_key: &Id, session: &AuthSession) -> String {
        match session.handle {
            Some(handle) => handle.to_string(),
            None => self.handle_of(store_key).to_string(),
        }
    }

    /// The index of a user's sessions is keyed by this: their provider and `sub`.
    pub(crate) fn user_key(provider: Option<&str>, sub: &str) -> String {
        format!("{}\n{sub}", provider.unwrap_or(""))
    }

    /// Adds the session stored under `store_key` to its user's index; how many
    /// sessions the user has then (some may have ended since).
    pub(crate) async fn index(
        &self,
        store_key: &Id,
        session: &AuthSession,
    ) -> Result<usize, StoreError> {
        if let Place::Local(_) = &self.place {
            // Sessions in this process's memory need no index (a scan finds them when
            // the app asks), and no bound beyond the store's own.
            return Ok(0);
        }
        let handle = self.handle_in_index(store_key, session);
        let entry = crate::session::shared::IndexEntry {
            key: store_key.to_string(),
            created: session.authenticated_at,
            until: self.end_of(session).0,
        };
        self.shared
            .index_add(
                &Self::user_key(session.provider(), session.sub()),
                &handle,
                &entry,
                self.lifetime,
                self.sealer(),
            )
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))
    }

    /// The sessions of a user that are still stored, with their handle and store key;
    /// index entries of sessions that ended are removed on the way.
    pub(crate) async fn of_user(
        &self,
        provider: Option<&str>,
        sub: &str,
    ) -> Result<Vec<(String, Id, Arc<AuthSession>)>, StoreError> {
        let now = self.clock.now_secs();
        if let Place::Local(local) = &self.place {
            return Ok(local
                .find(|s| same_user(s, provider, sub) && self.expired(s, now).is_none())
                .into_iter()
                .map(|(id, s)| (self.handle_of(&id).to_string(), id, s))
                .collect());
        }
        let user = Self::user_key(provider, sub);
        let backend = |e: crate::SharedStateError| StoreError::Backend(e.to_string());
        let entries = self
            .shared
            .index_list(&user, self.sealer())
            .await
            .map_err(backend)?;
        let mut live = Vec::with_capacity(entries.len());
        for (handle, entry) in entries {
            let found = match entry.key.parse::<Id>() {
                Ok(key) => self.load_by_key(&key).await?.map(|s| (key, s)),
                Err(_) => None,
            };
            match found {
                Some((key, s))
                    if same_user(&s, provider, sub) && self.expired(&s, now).is_none() =>
                {
                    live.push((handle, key, s));
                }
                _ => self
                    .shared
                    .index_remove(&user, &handle)
                    .await
                    .map_err(backend)?,
            }
        }
        Ok(live)
    }

    /// Removes a session from its user's index (it ended).
    pub(crate) async fn unindex(&self, store_key: &Id, session: &AuthSession) {
        if let Place::Local(_) = &self.place {
            return;
        }
        let user = Self::user_key(session.provider(), session.sub());
        if let Err(e) = self
            .shared
            .index_remove(&user, &self.handle_in_index(store_key, session))
            .await
        {
            // Cleaned up when the user's sessions are next listed.
            tracing::debug!(error = %e, "could not remove an ended session from its index");
        }
    }

    /// The session cookie's name and attributes.
    pub(crate) fn cookie(&self) -> SessionCookie {
        self.cookie.clone()
    }

    /// The session id among a request's `Cookie` header values (the one cookie
    /// parser, `session::cookie::cookies`). Only the value's shape is checked here; the
    /// store decides. A long value that does not hold the cookie's name anywhere
    /// cannot carry it, and is not parsed (a short one is parsed at once: the search
    /// would cost what its parse does).
    pub(crate) fn id_from<'a>(
        &self,
        cookie_headers: impl Iterator<Item = &'a [u8]>,
    ) -> Option<SessionId> {
        let holding = cookie_headers
            .filter(|v| v.len() <= PARSED_WITHOUT_SEARCH || self.cookie_name.find(v).is_some());
        crate::session::cookie::cookies(holding)
            .filter(|(name, value)| *name == self.cookie.name && value.len() <= MAX_SESSION_ID_LEN)
            .find_map(|(_, value)| value.parse::<Id>().ok().map(SessionId))
    }

    /// The sealer of records in an external store, if records are sealed.
    pub(crate) fn sealer(&self) -> Option<&crate::session::seal::Sealer> {
        match &self.place {
            Place::External { sealer, .. } => sealer.as_deref(),
            Place::Local(_) => None,
        }
    }

    /// The store key of a session id: itself, or a keyed hash of it when records are
    /// sealed (so the store never holds the ids browsers present).
    pub(crate) fn store_id(&self, id: &Id) -> Id {
        match self.sealer() {
            Some(s) => s.store_id(id),
            None => *id,
        }
    }

    /// Stores `session` under a fresh random id, with its handle set, and returns the
    /// `Set-Cookie` value that carries it and the store key it is under.
    pub(crate) async fn create(
        &self,
        session: &mut AuthSession,
    ) -> Result<(String, Id), StoreError> {
        let lifetime = self.lifetime.as_secs() as i64;
        let store = match &self.place {
            Place::Local(local) => {
                let expiry = self.expiry_date(session);
                let id = local.create_with(expiry, |id| {
                    session.handle = Some(self.handle_of(id));
                    Arc::new(session.clone())
                });
                return Ok((self.cookie_value(&id.to_string(), lifetime), id));
            }
            Place::External { store, .. } => store,
        };
        loop {
            let id = Id::default();
            let key = self.store_id(&id);
            session.handle = Some(self.handle_of(&key));
            let mut record = self.record(key, session)?;
            store.create(&mut record).await?;
            if record.id == key {
                return Ok((self.cookie_value(&id.to_string(), lifetime), key));
            }
            // The store moved the record to another id (a collision of 128-bit keys):
            // no cookie id maps to it, so try another.
            store.delete(&record.id).await?;
        }
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub(crate) fn removal_cookie(&self) -> String {
        self.cookie_value("", 0)
    }

    /// Deletes the session of `id`, under each key's store key (a session not moved
    /// yet after a key rotation is under an older key's).
    pub(crate) async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.delete_by_key(&self.store_id(id)).await?;
        if let Some(sealer) = self.sealer() {
            for older in sealer.older_store_ids(id) {
                self.delete_by_key(&older).await?;
            }
        }
        Ok(())
    }

    /// Deletes the session stored under `key` (and tells the other instances).
    pub(crate) async fn delete_by_key(&self, key: &Id) -> Result<(), StoreError> {
        match &self.place {
            Place::Local(local) => {
                local.delete(key);
                Ok(())
            }
            Place::External { store, .. } => {
                let key = *key;
                store.delete(&key).await?;
                self.shared.session_changed(&key, None, None, true).await;
                Ok(())
            }
        }
    }

    /// The session of `id`. Under the first key's store key, else (after a key
    /// rotation) under an older key's, newest first: a session found there is sealed
    /// again under the first key, moved to its store key and kept in its user's index
    /// under the same handle, before it is returned.
    pub(crate) async fn load(&self, id: &Id) -> Result<Option<Arc<AuthSession>>, StoreError> {
        Ok(self.load_keyed(id).await?.map(|(session, _)| session))
    }

    /// As [`Sessions::load`], with the store key the session is under now (the keyed
    /// hash of `id` when records are sealed: computed once per miss, not again for the
    /// fast path's entry).
    pub(crate) async fn load_keyed(
        &self,
        id: &Id,
    ) -> Result<Option<(Arc<AuthSession>, Id)>, StoreError> {
        let key = self.store_id(id);
        if let Some(session) = self.load_by_key(&key).await? {
            return Ok(Some((session, key)));
        }
        let Some(sealer) = self.sealer() else {
            return Ok(None);
        };
        for older in sealer.older_store_ids(id) {
            if let Some(session) = self.load_by_key(&older).await? {
                let moved = self.move_to(key, older, session).await?;
                return Ok(moved.map(|session| (session, key)));
            }
        }
        Ok(None)
    }

    /// Moves `session` from store key `from` (an older key's) to `to` (the first
    /// key's), sealed under the first key. A concurrent request that moved it first
    /// wins: its record is the one returned.
    async fn move_to(
        &self,
        to: Id,
        from: Id,
        session: Arc<AuthSession>,
    ) -> Result<Option<Arc<AuthSession>>, StoreError> {
        let Place::External { store, .. } = &self.place else {
            return Ok(Some(session));
        };
        let mut record = self.record(to, &session)?;
        store.create(&mut record).await?;
        if record.id != to {
            // Another request moved it meanwhile (the store kept that record).
            store.delete(&record.id).await?;
            return self.load_by_key(&to).await;
        }
        // A sign-out, a revocation or an admin's end that deleted the old record while
        // it was read must not be undone by the copy: the copy stands only if the old
        // record still does (a sign-out after this point deletes both store keys).
        if self.load_by_key(&from).await?.is_none() {
            self.delete_by_key(&to).await?;
            return Ok(None);
        }
        if let Err(e) = self.index(&to, &session).await {
            tracing::warn!(error = %e, "could not index a session moved to the first key");
        }
        self.delete_by_key(&from).await?;
        tracing::debug!("a session sealed under an older key was sealed again under the first");
        Ok(Some(session))
    }

    /// The session stored under `key` (a store key: the id itself in this process's
    /// memory, its keyed hash in a sealed external store).
    pub(crate) async fn load_by_key(
        &self,
        key: &Id,
    ) -> Result<Option<Arc<AuthSession>>, StoreError> {
        let store = match &self.place {
            Place::Local(local) => return Ok(local.load(key)),
            Place::External { store, .. } => store,
        };
        let Some(mut record) = store.load(key).await? else {
            return Ok(None);
        };
        let parsed = match (self.sealer(), record.data.remove(AuthSession::KEY)) {
            (Some(sealer), Some(serde_json::Value::String(sealed))) => {
                match sealer.open(&sealed, record.id.to_string().as_bytes()) {
                    Some(plain) => serde_json::from_slice(&plain),
                    None => {
                        tracing::warn!(
                            "a sealed session record does not open (altered, or another key); treating it as signed out"
                        );
                        return Ok(None);
                    }
                }
            }
            // With sealing on, a record in clear is never trusted: whoever can write
            // to the store could otherwise forge any session.
            (Some(_), Some(_)) => {
                tracing::warn!(
                    "a session record in clear where sealed ones are expected; ignoring it"
                );
                return Ok(None);
            }
            (None, Some(value)) => serde_json::from_value(value),
            (_, None) => return Ok(None),
        };
        match parsed {
            Ok(s) => Ok(Some(Arc::new(s))),
            Err(e) => {
                tracing::warn!(error = %e, "stored session is unreadable; treating it as signed out");
                Ok(None)
            }
        }
    }

    /// Stores `session` again under `id` if its record still exists (a session deleted
    /// meanwhile, by a sign-out on any instance, is not brought back): whether it did.
    /// `read_at`: the fast path's generation when the session it was computed from
    /// was read (`None`: not read through the fast path).
    pub(crate) async fn save(
        &self,
        id: &Id,
        session: &Arc<AuthSession>,
        read_at: Option<u64>,
    ) -> Result<bool, StoreError> {
        self.save_announced(id, session, read_at, true).await
    }

    /// As [`Sessions::save`], for a session whose only change is its recorded use
    /// (`last_seen`, and so the record's expiry): other instances are not told, their
    /// copies stay served (an idle timeout judged on such a copy reads the store
    /// first). Most writes at scale are these.
    pub(crate) async fn record_use(
        &self,
        id: &Id,
        session: &Arc<AuthSession>,
        read_at: Option<u64>,
    ) -> Result<bool, StoreError> {
        self.save_announced(id, session, read_at, false).await
    }

    async fn save_announced(
        &self,
        id: &Id,
        session: &Arc<AuthSession>,
        read_at: Option<u64>,
        announce: bool,
    ) -> Result<bool, StoreError> {
        match &self.place {
            Place::Local(local) => {
                Ok(local.save(id, Arc::clone(session), self.expiry_date(session)))
            }
            Place::External {
                store,
                shared_records,
                ..
            } => {
                let key = self.store_id(id);
                let record = self.record(key, session)?;
                let written = if *shared_records {
                    self.shared
                        .save_record(&record)
                        .await
                        .map_err(|e| StoreError::Backend(e.to_string()))?
                } else {
                    // A store of the app's own cannot say; tower-sessions' stores
                    // save in place.
                    store.save(&record).await?;
                    true
                };
                self.shared
                    .session_changed(&key, written.then_some((id, session)), read_at, announce)
                    .await;
                Ok(written)
            }
        }
    }

    /// When `session` ends and why: the earliest of its lifetime, its idle timeout
    /// and its refresh token's expiry.
    pub(crate) fn end_of(&self, session: &AuthSession) -> (i64, SessionEnd) {
        let mut end = (
            session
                .authenticated_at
                .saturating_add(self.lifetime.as_secs() as i64),
            SessionEnd::LifetimeExceeded,
        );
        if let Some(idle) = self.idle_timeout {
            let t = session
                .last_seen_secs()
                .saturating_add(idle.as_secs() as i64);
            if t < end.0 {
                end = (t, SessionEnd::IdleTimeout);
            }
        }
        if let Some(t) = session.refresh_expires_at
            && session.refresh_token.is_some()
            && t < end.0
        {
            end = (t, SessionEnd::RefreshTokenExpired);
        }
        end
    }

    /// Why `session` has ended at `now`, if it has.
    pub(crate) fn expired(&self, session: &AuthSession, now: i64) -> Option<SessionEnd> {
        let (end, why) = self.end_of(session);
        (end <= now).then_some(why)
    }

    /// Whether the session's last use is old enough to record again: a tenth of the
    /// idle timeout, at least a second.
    pub(crate) fn due_for_touch(&self, session: &AuthSession) -> bool {
        let Some(idle) = self.idle_timeout else {
            return false;
        };
        let now = self.clock.now_secs();
        // Near a refresh, a touch could land after the refresh's own save and put the
        // old tokens back: leave the recording to the refresh (which records the use).
        let margin = self.refresh_margin.as_secs() as i64;
        if session.refresh_token.is_some()
            && session
                .expires_at
                .is_some_and(|e| e - margin - TOUCH_GUARD_SECS <= now)
        {
            return false;
        }
        let every = (idle.as_secs() / 10).max(1) as i64;
        now - session.last_seen_secs() >= every
    }

    /// The store record of `session`: it expires with the session's lifetime.
    fn record(&self, id: Id, session: &AuthSession) -> Result<Record, StoreError> {
        let value = match self.sealer() {
            Some(sealer) => {
                let plain =
                    serde_json::to_vec(session).map_err(|e| StoreError::Encode(e.to_string()))?;
                serde_json::Value::String(
                    sealer
                        .seal(&plain, id.to_string().as_bytes())
                        .map_err(StoreError::Encode)?,
                )
            }
            None => serde_json::to_value(session).map_err(|e| StoreError::Encode(e.to_string()))?,
        };
        Ok(Record {
            id,
            data: [(AuthSession::KEY.to_string(), value)]
                .into_iter()
                .collect(),
            expiry_date: self.expiry_date(session),
        })
    }

    /// When a stored session expires: stores compare expiry with the wall clock; the
    /// session's age is measured with ours.
    fn expiry_date(&self, session: &AuthSession) -> OffsetDateTime {
        let (ends, _) = self.end_of(session);
        let left = ends.saturating_sub(self.clock.now_secs()).max(0);
        OffsetDateTime::now_utc() + time::Duration::seconds(left)
    }

    /// The session cookie: HttpOnly, SameSite=Lax, Path=/, `Secure` (and `__Host-`)
    /// over https. `max_age` 0 removes it.
    fn cookie_value(&self, id: &str, max_age: i64) -> String {
        Cookie::build((self.cookie.name, id.to_string()))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.cookie.secure)
            .path("/")
            .max_age(cookie::time::Duration::seconds(max_age))
            .build()
            .to_string()
    }
}

/// Why a session ended.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum SessionEnd {
    /// The provider logged the user out (back-channel or front-channel logout).
    LoggedOut(crate::session::logouts::LogoutKind),
    /// Older than the configured session lifetime.
    LifetimeExceeded,
    /// Unused for longer than the idle timeout.
    IdleTimeout,
    /// Its provider was removed while the app ran.
    ProviderRemoved,
    /// The refresh token has expired (the provider said when), so the session cannot
    /// outlive it.
    RefreshTokenExpired,
}

#[cfg(test)]
mod tests {
    use crate::{Auth, Authenticated};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::clock::Clock;
    use crate::config::AuthConfig;
    use crate::jose::secret::{AccessToken, RefreshToken};
    use crate::provider::discovery::ProviderEndpoints;
    use crate::session::store::SessionEnd;

    const T0: i64 = 1_800_000_000;

    async fn auth(now: Arc<AtomicI64>, idle: Option<Duration>, lifetime: Duration) -> Auth {
        auth_with(now, idle, lifetime, |b| b).await
    }

    async fn auth_with(
        now: Arc<AtomicI64>,
        idle: Option<Duration>,
        lifetime: Duration,
        tweak: impl FnOnce(crate::AuthConfigBuilder) -> crate::AuthConfigBuilder,
    ) -> Auth {
        let url = |p: &str| url::Url::parse(&format!("http://127.0.0.1:9{p}")).expect("url");
        let config = AuthConfig::builder("http://127.0.0.1:9", "client", "http://127.0.0.1:3000")
            .with_endpoints(ProviderEndpoints::new(
                url("/authorize"),
                url("/token"),
                url("/jwks"),
            ))
            .with_clock(Clock::from_secs(move || now.load(Ordering::SeqCst)))
            .with_idle_timeout(idle)
            .with_session_lifetime(lifetime);
        Auth::discover(tweak(config).build().expect("config"))
            .await
            .expect("auth")
    }

    fn session(refresh_expires_at: Option<i64>) -> AuthSession {
        AuthSession {
            refresh_token: Some(RefreshToken::new("rt")),
            authenticated_at: T0,
            last_seen: Some(T0),
            refresh_expires_at,
            ..AuthSession::bare()
        }
    }

    /// Every signed-in request builds (and its framework moves) the future of
    /// `authenticate`: the rare paths (a refresh, a provider looked up in the app's
    /// source) are boxed so that it stays small. Unboxed it was 19 KiB, and copying it
    /// was most of a signed-in request's cost (PERFORMANCE.md).
    #[tokio::test]
    async fn the_signed_in_request_s_future_stays_small() {
        let auth = auth(
            Arc::new(AtomicI64::new(T0)),
            None,
            Duration::from_secs(3600),
        )
        .await;
        let id = SessionId(Id::default());
        let session = Arc::new(session(None));
        let authenticate = std::mem::size_of_val(&auth.authenticate(Some(&id)));
        let check = std::mem::size_of_val(&auth.check_session_with(&session, false));
        assert!(authenticate <= 1024, "authenticate: {authenticate} bytes");
        assert!(check <= 256, "the session check: {check} bytes");
    }

    /// Whether `id` is signed out (the store works in these tests).
    async fn anonymous(auth: &Auth, id: &SessionId) -> bool {
        match auth.authenticate(Some(id)).await {
            Authenticated::User(_) => false,
            Authenticated::Anonymous => true,
            Authenticated::Unavailable => panic!("unavailable"),
        }
    }

    /// An `Auth` whose records go to the returned external store, sealed with `key`.
    async fn sealed(key_hex: String) -> (Auth, crate::MemoryStore) {
        let external = crate::MemoryStore::default();
        (sealed_on(external.clone(), key_hex).await, external)
    }

    /// An `Auth` whose records go to `external`, sealed with the keys of `key_hex`.
    async fn sealed_on(external: crate::MemoryStore, key_hex: String) -> Auth {
        let now = Arc::new(AtomicI64::new(T0));
        auth_with(now, None, Duration::from_secs(1000), move |b| {
            b.with_session_store(external)
                .with_session_encryption_key_hex(&key_hex)
        })
        .await
    }

    /// Key rotation (issue 30, B1): a session sealed under `k1` is found by an app
    /// started with `k2,k1`, and its first request moves it under `k2`'s store key,
    /// sealed under `k2`, with the same handle, so an app with `k2` alone still finds
    /// it. An app with an unrelated `k3` alone finds nothing: signed out, no error.
    #[tokio::test]
    async fn a_session_sealed_under_an_older_key_is_moved_to_the_first_by_its_first_request() {
        let (k1, k2, k3) = ("a1".repeat(32), "b2".repeat(32), "c3".repeat(32));
        let store = crate::MemoryStore::default();
        let before = sealed_on(store.clone(), k1.clone()).await;
        let id = signed_in(&before, &session(None)).await;
        let Authenticated::User(first) = before.authenticate(Some(&id)).await else {
            panic!("signed in");
        };
        let old_key = before.0.sessions.store_id(&id.0);
        let rotated = sealed_on(store.clone(), format!("{k2},{k1}")).await;
        let new_key = rotated.0.sessions.store_id(&id.0);
        assert_ne!(old_key, new_key);
        assert!(
            store.load(&new_key).await.unwrap().is_none(),
            "not moved yet"
        );
        let Authenticated::User(moved) = rotated.authenticate(Some(&id)).await else {
            panic!("still signed in after the rotation");
        };
        assert_eq!(moved.handle(), first.handle(), "the same handle");
        assert!(store.load(&old_key).await.unwrap().is_none(), "moved away");
        assert!(store.load(&new_key).await.unwrap().is_some(), "moved here");
        let after = sealed_on(store.clone(), k2).await;
        assert!(!anonymous(&after, &id).await, "sealed under k2");
        let unrelated = sealed_on(store.clone(), k3).await;
        assert!(anonymous(&unrelated, &id).await);
    }

    /// A session signed out (its old record deleted) between the read that found it
    /// under an older key and its move is not brought back by the move.
    #[tokio::test]
    async fn a_session_signed_out_while_it_moves_to_the_first_key_stays_signed_out() {
        let (k1, k2) = ("a1".repeat(32), "b2".repeat(32));
        let store = crate::MemoryStore::default();
        let before = sealed_on(store.clone(), k1.clone()).await;
        let id = signed_in(&before, &session(None)).await;
        let old_key = before.0.sessions.store_id(&id.0);
        let rotated = sealed_on(store.clone(), format!("{k2},{k1}")).await;
        let new_key = rotated.0.sessions.store_id(&id.0);
        let read = rotated
            .0
            .sessions
            .load_by_key(&old_key)
            .await
            .unwrap()
            .expect("read under the old key");
        store.delete(&old_key).await.unwrap();
        let moved = rotated.0.sessions.move_to(new_key, old_key, read).await;
        assert!(moved.unwrap().is_none(), "signed out meanwhile");
        assert!(
            store.load(&new_key).await.unwrap().is_none(),
            "no copy left"
        );
        assert!(anonymous(&rotated, &id).await);
    }

    async fn signed_in(auth: &Auth, s: &AuthSession) -> SessionId {
        let cookie = auth
            .start_session(None, &mut s.clone())
            .await
            .expect("stored");
        SessionId::from_set_cookie(&cookie).expect("a session id")
    }

    /// The session id is found in any `Cookie` header, beside other cookies, through
    /// the crate's one cookie parser; a value too long or not an id is refused.
    #[tokio::test]
    async fn session_cookie_read_among_other_cookies_and_headers() {
        let now = Arc::new(AtomicI64::new(T0));
        let auth = auth(now, None, Duration::from_secs(3600)).await;
        let id = Id::default().to_string();
        let headers = [
            "theme=dark; lang=en".to_string(),
            format!("auth_pending_x=1; auth_session={id}; other=2"),
        ];
        let found = auth.session_id(headers.iter().map(|h| h.as_bytes()));
        assert_eq!(found.map(|f| f.0.to_string()), Some(id.clone()));
        let too_long = format!("auth_session={}", "A".repeat(MAX_SESSION_ID_LEN + 1));
        assert!(auth.session_id([too_long.as_bytes()].into_iter()).is_none());
        let not_an_id = "auth_session=not-an-id";
        assert!(
            auth.session_id([not_an_id.as_bytes()].into_iter())
                .is_none()
        );
        // The first valid one wins over a malformed one before it.
        let both = format!("auth_session=bad; auth_session={id}");
        let found = auth.session_id([both.as_bytes()].into_iter());
        assert_eq!(found.map(|f| f.0.to_string()), Some(id));
    }

    #[tokio::test]
    async fn idle_timeout_ends_an_unused_session_and_use_extends_it() {
        let now = Arc::new(AtomicI64::new(T0));
        let auth = auth(
            Arc::clone(&now),
            Some(Duration::from_secs(100)),
            Duration::from_secs(1000),
        )
        .await;
        let id = signed_in(&auth, &session(None)).await;
        // Used at +90 s (recorded: more than a tenth of the idle time has passed)...
        now.store(T0 + 90, Ordering::SeqCst);
        assert!(!anonymous(&auth, &id).await);
        // ...so still valid at +180 s, 90 s after that use.
        now.store(T0 + 180, Ordering::SeqCst);
        assert!(!anonymous(&auth, &id).await);
        // Unused for 100 s: over, and deleted.
        now.store(T0 + 280, Ordering::SeqCst);
        assert!(anonymous(&auth, &id).await);
        now.store(T0 + 180, Ordering::SeqCst);
        assert!(anonymous(&auth, &id).await);
    }

    #[tokio::test]
    async fn absolute_lifetime_ends_a_session_in_constant_use() {
        let now = Arc::new(AtomicI64::new(T0));
        let auth = auth(
            Arc::clone(&now),
            Some(Duration::from_secs(100)),
            Duration::from_secs(300),
        )
        .await;
        let id = signed_in(&auth, &session(None)).await;
        for t in (50..300).step_by(50) {
            now.store(T0 + t, Ordering::SeqCst);
            assert!(!anonymous(&auth, &id).await, "+{t}");
        }
        now.store(T0 + 300, Ordering::SeqCst);
        assert!(anonymous(&auth, &id).await);
    }

    #[tokio::test]
    async fn session_never_outlives_its_refresh_token() {
        let now = Arc::new(AtomicI64::new(T0));
        let auth = auth(Arc::clone(&now), None, Duration::from_secs(1000)).await;
        let s = session(Some(T0 + 120));
        assert!(
            matches!(auth.0.sessions.end_of(&s), (t, SessionEnd::RefreshTokenExpired) if t == T0 + 120)
        );
        let id = signed_in(&auth, &s).await;
        now.store(T0 + 119, Ordering::SeqCst);
        assert!(!anonymous(&auth, &id).await);
        now.store(T0 + 120, Ordering::SeqCst);
        assert!(anonymous(&auth, &id).await);
    }

    #[tokio::test]
    async fn a_busy_session_is_not_written_on_every_request() {
        let now = Arc::new(AtomicI64::new(T0));
        let auth = auth(
            Arc::clone(&now),
            Some(Duration::from_secs(100)),
            Duration::from_secs(1000),
        )
        .await;
        let id = signed_in(&auth, &session(None)).await;
        now.store(T0 + 9, Ordering::SeqCst);
        let Authenticated::User(s) = auth.authenticate(Some(&id)).await else {
            panic!("signed in");
        };
        assert_eq!(
            s.last_seen_secs(),
            T0,
            "not recorded within a tenth of the idle time"
        );
        now.store(T0 + 10, Ordering::SeqCst);
        let Authenticated::User(s) = auth.authenticate(Some(&id)).await else {
            panic!("signed in");
        };
        assert_eq!(s.last_seen_secs(), T0 + 10);
    }

    #[tokio::test]
    async fn external_store_holds_sealed_records_under_hashed_ids() {
        let (auth, external) = sealed("ab".repeat(32)).await;
        let mut s = session(None);
        s.access_token = AccessToken::new("ACCESS-SECRET");
        let id = signed_in(&auth, &s).await;
        // Nothing under the id the browser holds; the record is sealed.
        assert!(external.load(&id.0).await.unwrap().is_none());
        let key = auth.0.sessions.store_id(&id.0);
        let record = external.load(&key).await.unwrap().expect("record");
        let stored = serde_json::to_string(&record.data).unwrap();
        assert!(!stored.contains("ACCESS-SECRET"), "{stored}");
        let Authenticated::User(back) = auth.authenticate(Some(&id)).await else {
            panic!("signed in");
        };
        assert_eq!(back.access_token().secret(), "ACCESS-SECRET");
    }

    /// The session id is read from the header values that hold the cookie's name,
    /// exactly as the full parse of every value reads it: first of several headers,
    /// after other cookies, the name inside another cookie's value or percent-encoded
    /// (neither is the cookie), spaces around, past 64 pairs (not read).
    #[tokio::test]
    async fn session_id_is_found_only_where_the_full_parse_finds_it() {
        let auth = auth(
            Arc::new(AtomicI64::new(T0)),
            None,
            Duration::from_secs(3600),
        )
        .await;
        let sessions = &auth.0.sessions;
        let name = sessions.cookie.name;
        let id = Id::default().to_string();
        let many = (0..64)
            .map(|i| format!("c{i}=v"))
            .collect::<Vec<_>>()
            .join("; ");
        let cases: Vec<(Vec<String>, bool)> = vec![
            (vec![format!("{name}={id}")], true),
            (
                vec!["a=1".into(), format!("b=2; {name} = {id} ; c=3")],
                true,
            ),
            (vec![format!("x={name}={id}")], false),
            (vec![format!("{}={id}", name.replace('_', "%5F"))], false),
            (vec![format!("{many}; {name}={id}")], false),
            (vec![many.clone(), format!("{name}={id}")], true),
            // Long values holding the name only where it is not the cookie's.
            (vec![format!("{many}; x={name}={id}")], false),
            (
                vec![format!("a=1; {}={id}; {many}", name.replace('_', "%5F"))],
                false,
            ),
            (vec![format!("a=1; {name}={id}; {many}")], true),
            (vec!["a=1; b=2".into()], false),
            (vec![], false),
        ];
        for (headers, found) in cases {
            let values = || headers.iter().map(|h| h.as_bytes());
            let full = crate::session::cookie::cookies(values())
                .filter(|(n, v)| *n == name && v.len() <= MAX_SESSION_ID_LEN)
                .find_map(|(_, v)| v.parse::<Id>().ok());
            let ours = sessions.id_from(values()).map(|s| s.0);
            assert_eq!(ours, full, "{headers:?}");
            assert_eq!(ours.is_some(), found, "{headers:?}");
        }
        // A long value that is not UTF-8 is skipped whole, as the full parse skips it.
        let mut bytes = format!("{name}={id}; {many}").into_bytes();
        bytes.push(0xff);
        assert_eq!(
            crate::session::cookie::cookies(std::iter::once(bytes.as_slice())).count(),
            0
        );
        assert!(
            sessions
                .id_from(std::iter::once(bytes.as_slice()))
                .is_none()
        );
    }

    /// A session id is a bearer credential: `Debug` (and so `{:?}` in a log line or a
    /// panic message) never shows it.
    #[test]
    fn session_id_debug_is_redacted() {
        let id = Id::default();
        let shown = format!("{:?}", SessionId(id));
        assert_eq!(shown, "SessionId(..)");
        assert!(!shown.contains(&id.to_string()));
    }

    #[tokio::test]
    async fn forged_record_in_clear_refused_when_records_are_sealed() {
        let (auth, external) = sealed("cd".repeat(32)).await;
        let id = SessionId(Id::default());
        // Someone who can write to the store plants a session in clear for a cookie id.
        let mut forged = Record {
            id: auth.0.sessions.store_id(&id.0),
            data: [(
                AuthSession::KEY.to_string(),
                serde_json::to_value(session(None)).unwrap(),
            )]
            .into_iter()
            .collect(),
            expiry_date: OffsetDateTime::now_utc() + time::Duration::hours(1),
        };
        external.create(&mut forged).await.unwrap();
        assert!(anonymous(&auth, &id).await);
    }

    #[tokio::test]
    async fn altered_sealed_record_refused() {
        let (auth, external) = sealed("cd".repeat(32)).await;
        let id = signed_in(&auth, &session(None)).await;
        let key = auth.0.sessions.store_id(&id.0);
        let mut record = external.load(&key).await.unwrap().expect("record");
        let sealed = record.data[AuthSession::KEY].as_str().unwrap().to_string();
        let altered = format!("{}A", &sealed[..sealed.len() - 1]);
        let altered = if altered == sealed {
            format!("{}B", &sealed[..sealed.len() - 1])
        } else {
            altered
        };
        record
            .data
            .insert(AuthSession::KEY.into(), serde_json::Value::String(altered));
        external.save(&record).await.unwrap();
        assert!(anonymous(&auth, &id).await);
    }

    /// A refresh token refused because another request spent it first (and stored
    /// the session's new tokens) does not end the session: the stored record, with
    /// its new refresh token, is served instead.
    #[tokio::test]
    async fn a_refresh_refused_after_another_request_renewed_the_session_keeps_it() {
        use axum::routing::post;
        let auth_cell: Arc<std::sync::OnceLock<(Auth, Id)>> = Arc::default();
        let cell = Arc::clone(&auth_cell);
        // The token endpoint: before refusing the old refresh token, the "other
        // request" stores the renewed session under the same id.
        let app = axum::Router::new().route(
            "/token",
            post(move || {
                let cell = Arc::clone(&cell);
                async move {
                    if let Some((auth, id)) = cell.get() {
                        let mut renewed = session(None);
                        renewed.refresh_token = Some(RefreshToken::new("rt-2"));
                        renewed.access_token = AccessToken::new("at-2");
                        renewed.expires_at = Some(T0 + 3600);
                        auth.0
                            .sessions
                            .save(id, &Arc::new(renewed), None)
                            .await
                            .expect("save");
                    }
                    (
                        http::StatusCode::BAD_REQUEST,
                        [(http::header::CONTENT_TYPE, "application/json")],
                        r#"{"error":"invalid_grant"}"#,
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let url = |p: &str| url::Url::parse(&format!("http://127.0.0.1:{port}{p}")).expect("url");
        let now = Arc::new(AtomicI64::new(T0));
        let auth = auth_with(now, None, Duration::from_secs(1000), |b| {
            b.with_endpoints(ProviderEndpoints::new(
                url("/authorize"),
                url("/token"),
                url("/jwks"),
            ))
            .with_client_secret("s")
        })
        .await;
        let mut expired = session(None);
        expired.expires_at = Some(T0 - 10);
        let id = signed_in(&auth, &expired).await;
        let _ = auth_cell.set((auth.clone(), id.0));
        match auth.authenticate(Some(&id)).await {
            Authenticated::User(s) => assert_eq!(s.access_token().secret(), "at-2"),
            other => panic!("the renewed session must survive: {other:?}"),
        }
        // Refused with nothing renewed meanwhile: the session ends, as before.
        let other = signed_in(&auth, &expired).await;
        assert!(anonymous(&auth, &other).await);
    }
}

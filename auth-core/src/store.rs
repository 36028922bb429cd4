//! Server-side sessions, the same for every adapter: the browser holds only an opaque,
//! random session id in an HttpOnly cookie; the [`AuthSession`] (claims and tokens)
//! lives in a store behind the tower-sessions [`SessionStore`] trait, in memory by
//! default (any tower-sessions store works: Redis, SQL...).
//!
//! Records have the tower-sessions layout (the session under [`AuthSession::KEY`] in
//! the record's data map), so a store can be shared with apps that use tower-sessions.

use std::sync::Arc;

use cookie::{Cookie, SameSite};
use http::HeaderMap;
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
pub use tower_sessions_core::session_store::{Error as StoreError, SessionStore};

use crate::auth::Auth;
use crate::flow::refresh::SessionStatus;
use crate::session::AuthSession;

/// The longest session cookie value read (a tower-sessions id is 22 characters).
const MAX_SESSION_ID_LEN: usize = 64;

/// A session store shared by every clone of [`Auth`] and every worker thread. Its
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

    /// An in-memory store (sessions end when the process does).
    pub fn memory() -> Self {
        Self::new(crate::memory_store::MemoryStore::default())
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

/// The session of a request, after [`Auth::authenticate`].
#[derive(Debug)]
#[must_use]
pub enum Authenticated {
    /// A valid session (refreshed and stored again if it needed to be).
    User(AuthSession),
    /// No session: no cookie, an unknown id, or a session that just ended.
    Anonymous,
    /// The session cannot be checked now (store down, or the provider down while the
    /// access token is expired). Answer [`Auth::unavailable_response`] (503).
    Unavailable,
}

impl Auth {
    /// The answer to a request that needs a signed-in user and has none: 503 when
    /// the session could not be checked, else [`Auth::unauthenticated_response`].
    pub fn rejection_response(
        &self,
        outcome: &Authenticated,
        method: &http::Method,
        uri: &http::Uri,
        headers: &HeaderMap,
    ) -> http::Response<String> {
        match outcome {
            Authenticated::Unavailable => self.unavailable_response(headers),
            _ => self.unauthenticated_response(method, uri, headers),
        }
    }

    /// The session store.
    pub fn session_store(&self) -> &SharedStore {
        &self.0.store
    }

    /// The session id a request carries in its session cookie, from its `Cookie`
    /// header values. Only the value's shape is checked here; the store decides.
    pub fn session_id<'a>(&self, cookie_headers: impl Iterator<Item = &'a [u8]>) -> Option<Id> {
        let name = self.session_cookie().name;
        for raw in cookie_headers {
            let Ok(s) = std::str::from_utf8(raw) else {
                continue;
            };
            for c in Cookie::split_parse(s).flatten().take(64) {
                if c.name() == name
                    && c.value().len() <= MAX_SESSION_ID_LEN
                    && let Ok(id) = c.value().parse::<Id>()
                {
                    return Some(id);
                }
            }
        }
        None
    }

    /// The session id of a request with `http` 1.x headers.
    pub fn session_id_from_headers(&self, headers: &HeaderMap) -> Option<Id> {
        self.session_id(
            headers
                .get_all(http::header::COOKIE)
                .iter()
                .map(|v| v.as_bytes()),
        )
    }

    /// Loads, checks and (when needed) refreshes the session of `id`: a refreshed
    /// session is stored again, an ended one (back-channel logout, lifetime, refused
    /// refresh) is deleted. Every adapter's extractor calls this.
    pub async fn authenticate(&self, id: Option<&Id>) -> Authenticated {
        let Some(id) = id else {
            return Authenticated::Anonymous;
        };
        let stored = match self.load_session(id).await {
            Ok(Some(s)) => s,
            Ok(None) => return Authenticated::Anonymous,
            Err(e) => {
                tracing::error!(error = %e, "session store unavailable");
                return Authenticated::Unavailable;
            }
        };
        match self.check_session(&stored).await {
            SessionStatus::Valid => Authenticated::User(stored),
            SessionStatus::Refreshed(new) => {
                // The provider has rotated the refresh token: serve the request with the
                // new tokens even if storing them fails. The next request of this session
                // gets the same result from the refresh coordinator and stores it again.
                if let Err(e) = self.save_session(id, &new).await {
                    tracing::error!(error = %e, "could not store the refreshed session");
                }
                Authenticated::User(new)
            }
            SessionStatus::Ended(why) => {
                tracing::info!(reason = ?why, "session ended");
                if let Err(e) = self.0.store.delete(id).await {
                    tracing::error!(error = %e, "could not delete the ended session");
                }
                Authenticated::Anonymous
            }
            SessionStatus::Unavailable(e) => {
                tracing::warn!(error = %e, "session check unavailable");
                Authenticated::Unavailable
            }
        }
    }

    /// Stores a new signed-in session under a fresh random id (never the id the browser
    /// had before: no fixation), deletes the previous one, and returns the
    /// `Set-Cookie` value.
    pub(crate) async fn start_session(
        &self,
        previous: Option<&Id>,
        session: &AuthSession,
    ) -> Result<String, StoreError> {
        if let Some(old) = previous {
            self.0.store.delete(old).await?;
        }
        let mut record = self.record(Id::default(), session)?;
        self.0.store.create(&mut record).await?;
        let lifetime = self.0.config.session_lifetime.as_secs();
        Ok(self.session_cookie_value(&record.id.to_string(), lifetime as i64))
    }

    /// Deletes the session of `id` and returns it (for the logout redirect's
    /// `id_token_hint`), with the `Set-Cookie` value that removes the cookie.
    pub(crate) async fn end_session(
        &self,
        id: Option<&Id>,
    ) -> (Option<AuthSession>, Result<(), StoreError>, String) {
        let removal = self.session_cookie_value("", 0);
        let Some(id) = id else {
            return (None, Ok(()), removal);
        };
        let session = self.load_session(id).await.ok().flatten();
        let deleted = self.0.store.delete(id).await;
        (session, deleted, removal)
    }

    async fn load_session(&self, id: &Id) -> Result<Option<AuthSession>, StoreError> {
        let Some(record) = self.0.store.load(id).await? else {
            return Ok(None);
        };
        let Some(value) = record.data.get(AuthSession::KEY) else {
            return Ok(None);
        };
        match serde_json::from_value(value.clone()) {
            Ok(s) => Ok(Some(s)),
            Err(e) => {
                tracing::warn!(error = %e, "stored session is unreadable; treating it as signed out");
                Ok(None)
            }
        }
    }

    async fn save_session(&self, id: &Id, session: &AuthSession) -> Result<(), StoreError> {
        let record = self.record(*id, session)?;
        self.0.store.save(&record).await
    }

    /// The store record of `session`: it expires with the session's lifetime.
    fn record(&self, id: Id, session: &AuthSession) -> Result<Record, StoreError> {
        let value = serde_json::to_value(session).map_err(|e| StoreError::Encode(e.to_string()))?;
        // The store compares expiry with the wall clock; the session's age is measured
        // with ours.
        let ends = session.authenticated_at + self.0.config.session_lifetime.as_secs() as i64;
        let left = (ends - self.0.config.clock.now()).max(0);
        let expiry_date = OffsetDateTime::now_utc() + time::Duration::seconds(left);
        Ok(Record {
            id,
            data: [(AuthSession::KEY.to_string(), value)]
                .into_iter()
                .collect(),
            expiry_date,
        })
    }

    /// The session cookie: HttpOnly, SameSite=Lax, Path=/, `Secure` (and `__Host-`)
    /// over https. `max_age` 0 removes it.
    fn session_cookie_value(&self, id: &str, max_age: i64) -> String {
        let sc = self.session_cookie();
        Cookie::build((sc.name, id.to_string()))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(sc.secure)
            .path("/")
            .max_age(cookie::time::Duration::seconds(max_age))
            .build()
            .to_string()
    }
}

//! A signed-in request: the session id read from the cookie, the session found (fast
//! path, else the store), checked (back-channel logouts, lifetime) and refreshed when
//! due, then kept, touched or ended. Also starting a session at sign-in (a fresh id,
//! never the browser's earlier one) and ending it at sign-out.

use std::sync::Arc;

use http::HeaderMap;

use crate::auth::Auth;
use crate::flow::refresh::SessionStatus;
use crate::session::AuthSession;
use crate::session::shared::Cached;
use crate::session::store::{SessionId, StoreError};

/// The session of a request, after [`Auth::authenticate`].
#[derive(Debug)]
#[must_use]
pub enum Authenticated {
    /// A valid session (refreshed and stored again if it needed to be).
    User(Arc<AuthSession>),
    /// No session: no cookie, an unknown id, or a session that just ended.
    Anonymous,
    /// The session cannot be checked now (store down, or the provider down while the
    /// access token is expired). Answer [`Auth::unavailable_response`] (503).
    Unavailable,
}

impl Auth {
    /// The session id a request carries in its session cookie, from its `Cookie`
    /// header values. Only the value's shape is checked here; the store decides.
    pub fn session_id<'a>(
        &self,
        cookie_headers: impl Iterator<Item = &'a [u8]>,
    ) -> Option<SessionId> {
        self.0.sessions.id_from(cookie_headers)
    }

    /// The session id of a request with `http` 1.x headers.
    pub fn session_id_from_headers(&self, headers: &HeaderMap) -> Option<SessionId> {
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
    pub async fn authenticate(&self, id: Option<&SessionId>) -> Authenticated {
        let Some(SessionId(id)) = id else {
            return Authenticated::Anonymous;
        };
        // The fast path: a session this instance checked, and no instance changed or
        // logged out since (see `redis_cache`).
        let (cached, ticket) = match self
            .0
            .shared
            .cached_session(&|| self.0.sessions.store_id(id).to_string())
        {
            Cached::Hit(s) => (Some(s), None),
            Cached::Miss(ticket) => (None, Some(ticket)),
            Cached::Off => (None, None),
        };
        let from_cache = cached.is_some();
        let stored = match cached {
            Some(s) => s,
            None => match self.0.sessions.load(id).await {
                Ok(Some(s)) => s,
                Ok(None) => return Authenticated::Anonymous,
                Err(e) => {
                    tracing::error!(error = %e, "session store unavailable");
                    return Authenticated::Unavailable;
                }
            },
        };
        let status = if from_cache {
            self.check_session_with(&stored, false).await
        } else {
            self.check_session(&stored).await
        };
        match status {
            SessionStatus::Valid => {
                if let Some(ticket) = ticket {
                    self.0.shared.keep_checked(ticket, &stored);
                }
                if !self.0.sessions.due_for_touch(&stored) {
                    return Authenticated::User(stored);
                }
                // Records the use for the idle timeout (and moves the record's expiry);
                // a failure only shortens the session's idle time.
                let mut session = AuthSession::clone(&stored);
                session.last_seen = Some(self.0.config.clock.now_secs());
                let session = Arc::new(session);
                if let Err(e) = self.0.sessions.save(id, &session).await {
                    tracing::warn!(error = %e, "could not record the session's use");
                }
                Authenticated::User(session)
            }
            SessionStatus::Refreshed(mut new) => {
                new.last_seen = Some(self.0.config.clock.now_secs());
                let new = Arc::new(*new);
                // The provider has rotated the refresh token: serve the request with the
                // new tokens even if storing them fails. The next request of this session
                // gets the same result from the refresh coordinator and stores it again.
                if let Err(e) = self.0.sessions.save(id, &new).await {
                    tracing::error!(error = %e, "could not store the refreshed session");
                }
                Authenticated::User(new)
            }
            SessionStatus::Ended(why) => {
                tracing::info!(reason = ?why, "session ended");
                self.forget(id).await
            }
            SessionStatus::RefreshFailed(e) => {
                // A refused refresh token may only mean that another request (or
                // instance) spent it first and stored the session's new tokens, or
                // replaced the session (an organization switch): the stored record
                // then holds another refresh token, and the session goes on with it.
                if matches!(e, crate::RefreshError::Refused(_))
                    && let Ok(Some(current)) = self.0.sessions.load(id).await
                    && replaced(&stored, &current)
                    && self.still_valid(&current).await
                {
                    tracing::info!("refresh refused, but the session was renewed meanwhile");
                    return Authenticated::User(current);
                }
                tracing::info!(reason = ?e, "session ended: the refresh failed");
                self.forget(id).await
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
        previous: Option<&SessionId>,
        session: &AuthSession,
    ) -> Result<String, StoreError> {
        if let Some(SessionId(old)) = previous {
            self.0.sessions.delete(old).await?;
        }
        self.0.sessions.create(session).await
    }

    /// Deletes the session of `id` and returns it (for the logout redirect's
    /// `id_token_hint`), with the `Set-Cookie` value that removes the cookie.
    pub(crate) async fn end_session(
        &self,
        id: Option<&SessionId>,
    ) -> (Option<Arc<AuthSession>>, Result<(), StoreError>, String) {
        let sessions = &self.0.sessions;
        let removal = sessions.removal_cookie();
        let Some(SessionId(id)) = id else {
            return (None, Ok(()), removal);
        };
        let session = sessions.load(id).await.ok().flatten();
        let deleted = sessions.delete(id).await;
        (session, deleted, removal)
    }
}

impl Auth {
    /// Deletes an ended session: the request goes on signed out.
    async fn forget(&self, id: &tower_sessions_core::session::Id) -> Authenticated {
        if let Err(e) = self.0.sessions.delete(id).await {
            tracing::error!(error = %e, "could not delete the ended session");
        }
        Authenticated::Anonymous
    }

    /// Whether a session read again from the store is still in force: no logout (on
    /// any instance), within its lifetime and idle time.
    async fn still_valid(&self, session: &AuthSession) -> bool {
        let now = self.0.config.clock.now_secs();
        matches!(self.logged_out(session).await, Ok(false))
            && self.0.sessions.expired(session, now).is_none()
    }
}

/// Whether the stored session `current` holds other tokens than `seen` (a refresh or
/// a replacement stored by someone else since `seen` was read).
fn replaced(seen: &AuthSession, current: &AuthSession) -> bool {
    match (&seen.refresh_token, &current.refresh_token) {
        (Some(a), Some(b)) => !crate::jose::secret::constant_time_eq(a.secret(), b.secret()),
        _ => false,
    }
}

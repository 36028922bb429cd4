//! A signed-in request: the session id read from the cookie, the session found (fast
//! path, else the store), checked (back-channel logouts, lifetime) and refreshed when
//! due, then kept, touched or ended. Also starting a session at sign-in (a fresh id,
//! never the browser's earlier one) and ending it at sign-out.

use std::sync::Arc;

use http::HeaderMap;

use crate::auth::Auth;
use crate::flow::refresh::SessionStatus;
use crate::session::AuthSession;
use crate::session::logouts::LogoutKind;
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
        self.authenticate_with(id, true).await
    }

    /// As [`Auth::authenticate`]; `use_cache` false reads the store whatever the fast
    /// path holds.
    async fn authenticate_with(&self, id: Option<&SessionId>, use_cache: bool) -> Authenticated {
        let Some(SessionId(id)) = id else {
            return Authenticated::Anonymous;
        };
        // The fast path: a session this instance checked, and no instance changed or
        // logged out since (see `redis_cache`).
        let cached = match use_cache {
            true => self.0.shared.cached_session(id),
            false => Cached::Off,
        };
        let (cached, ticket, read_at) = match cached {
            Cached::Hit(s, read_at) => (Some(s), None, Some(read_at)),
            Cached::Miss(ticket) => {
                let read_at = ticket.generation;
                (None, Some(ticket), Some(read_at))
            }
            Cached::Off => (None, None, None),
        };
        let from_cache = cached.is_some();
        let (stored, store_key) = match cached {
            Some(s) => (s, None),
            None => match self.0.sessions.load_keyed(id).await {
                Ok(Some((s, key))) => (s, Some(key)),
                Ok(None) => return Authenticated::Anonymous,
                Err(e) => {
                    tracing::error!(error = %e, "session store unavailable");
                    return Authenticated::Unavailable;
                }
            },
        };
        let status = if from_cache {
            match self.check_session_with(&stored, false).await {
                // Another instance's recorded use is not announced (it changes no one's
                // identity): a copy that looks idle too long is read again first.
                SessionStatus::Ended(crate::session::store::SessionEnd::IdleTimeout) => {
                    return Box::pin(self.authenticate_with(Some(&SessionId(*id)), false)).await;
                }
                status => status,
            }
        } else {
            self.check_session(&stored).await
        };
        match status {
            SessionStatus::Valid => {
                // A miss's ticket comes with the store key its load found.
                if let (Some(ticket), Some(store_key)) = (ticket, store_key) {
                    self.0.shared.keep_checked(ticket, store_key, &stored);
                }
                if !self.0.sessions.due_for_touch(&stored) {
                    return Authenticated::User(stored);
                }
                // Records the use for the idle timeout (and moves the record's expiry);
                // a failure only shortens the session's idle time.
                let mut session = AuthSession::clone(&stored);
                session.last_seen = Some(self.0.config.clock.now_secs());
                let session = Arc::new(session);
                match self.0.sessions.record_use(id, &session, read_at).await {
                    Ok(true) => {}
                    Ok(false) => return ended_meanwhile(),
                    Err(e) => tracing::warn!(error = %e, "could not record the session's use"),
                }
                Authenticated::User(session)
            }
            SessionStatus::Refreshed(mut new) => {
                new.last_seen = Some(self.0.config.clock.now_secs());
                let new = Arc::new(*new);
                // The provider has rotated the refresh token: serve the request with the
                // new tokens even if storing them fails. The next request of this session
                // gets the same result from the refresh coordinator and stores it again.
                match self.0.sessions.save(id, &new, read_at).await {
                    Ok(true) => {}
                    Ok(false) => return ended_meanwhile(),
                    Err(e) => tracing::error!(error = %e, "could not store the refreshed session"),
                }
                Authenticated::User(new)
            }
            SessionStatus::Ended(why) => {
                tracing::info!(reason = ?why, "session ended");
                let reason = match why {
                    crate::session::store::SessionEnd::LoggedOut(kind) => match kind {
                        LogoutKind::Backchannel => crate::SessionEndReason::BackchannelLogout,
                        LogoutKind::Frontchannel => crate::SessionEndReason::FrontchannelLogout,
                        LogoutKind::ProviderRemoved => crate::SessionEndReason::ProviderRemoved,
                    },
                    crate::session::store::SessionEnd::IdleTimeout => crate::SessionEndReason::Idle,
                    crate::session::store::SessionEnd::ProviderRemoved => {
                        crate::SessionEndReason::ProviderRemoved
                    }
                    _ => crate::SessionEndReason::Expired,
                };
                self.forget(id, &stored, reason).await
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
                self.forget(id, &stored, crate::SessionEndReason::RefreshRefused)
                    .await
            }
            SessionStatus::Unavailable(e) => {
                tracing::warn!(error = %e, "session check unavailable");
                Authenticated::Unavailable
            }
        }
    }

    /// Stores a new signed-in session under a fresh random id (never the id the browser
    /// had before: no fixation), with its handle set, adds it to its user's index,
    /// deletes the previous one, and returns the `Set-Cookie` value. A user past
    /// `MAX_SESSIONS_PER_USER` sessions loses the oldest.
    pub(crate) async fn start_session(
        &self,
        previous: Option<&SessionId>,
        session: &mut AuthSession,
    ) -> Result<String, StoreError> {
        let sessions = &self.0.sessions;
        if let Some(SessionId(old)) = previous {
            sessions.delete(old).await?;
        }
        let (cookie, key) = sessions.create(session).await?;
        let count = match sessions.index(&key, session).await {
            Ok(n) => n,
            Err(e) => {
                // A session that cannot be indexed could not be ended by the app: undo.
                let _ = sessions.delete_by_key(&key).await;
                return Err(e);
            }
        };
        if count > crate::session::store::MAX_SESSIONS_PER_USER {
            self.end_oldest_sessions(session).await;
        }
        Ok(cookie)
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
        if let (Some(s), Ok(())) = (&session, &deleted) {
            sessions.unindex(&sessions.store_id(id), s).await;
            self.emit(&crate::AuthEvent::SignedOut(&crate::SessionEvent::of(s)));
            self.revoke_refresh_token(s).await;
        }
        (session, deleted, removal)
    }

    /// Ends the session of `id` as expired, without the user's sign-out (no provider
    /// logout, no revocation): a session the app can no longer read.
    pub(crate) async fn end_session_quietly(
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
        if let (Some(s), Ok(())) = (&session, &deleted) {
            sessions.unindex(&sessions.store_id(id), s).await;
            self.emit(&crate::AuthEvent::SessionEnded(
                &crate::SessionEvent::of(s),
                crate::SessionEndReason::Expired,
            ));
        }
        (session, deleted, removal)
    }
}

impl Auth {
    /// Deletes an ended session (and reports why): the request goes on signed out.
    async fn forget(
        &self,
        id: &tower_sessions_core::session::Id,
        session: &AuthSession,
        reason: crate::SessionEndReason,
    ) -> Authenticated {
        let sessions = &self.0.sessions;
        match sessions.delete(id).await {
            Ok(()) => {
                sessions.unindex(&sessions.store_id(id), session).await;
                self.emit(&crate::AuthEvent::SessionEnded(
                    &crate::SessionEvent::of(session),
                    reason,
                ));
            }
            Err(e) => tracing::error!(error = %e, "could not delete the ended session"),
        }
        Authenticated::Anonymous
    }

    /// Whether a session read again from the store is still in force: no logout (on
    /// any instance), within its lifetime and idle time.
    async fn still_valid(&self, session: &AuthSession) -> bool {
        let now = self.0.config.clock.now_secs();
        matches!(self.logged_out(session).await, Ok(None))
            && self.0.sessions.expired(session, now).is_none()
    }
}

/// The session's record was deleted (a sign-out, on any instance) while this request
/// used it: it goes on signed out, and the save brought nothing back.
fn ended_meanwhile() -> Authenticated {
    tracing::info!("session ended: signed out while this request used it");
    Authenticated::Anonymous
}

/// Whether the stored session `current` holds other tokens than `seen` (a refresh or
/// a replacement stored by someone else since `seen` was read).
fn replaced(seen: &AuthSession, current: &AuthSession) -> bool {
    match (&seen.refresh_token, &current.refresh_token) {
        (Some(a), Some(b)) => !crate::jose::secret::constant_time_eq(a.secret(), b.secret()),
        _ => false,
    }
}

/// The Redis fast path against sessions that end while a request uses them, with two
/// instances on a real `redis-server`.
#[cfg(all(test, feature = "redis"))]
mod fast_path_tests {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::jose::secret::RefreshToken;
    use crate::session::logouts::LogoutRegistry;

    const APP_SECRET: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    /// What instance B does while instance A's request waits on the token endpoint.
    #[derive(Clone, Copy)]
    enum Meanwhile {
        SignOut,
        Logout,
    }

    /// Instances A and B, A's session, and what B does.
    type Cell = Arc<OnceLock<(Auth, Auth, SessionId, Meanwhile)>>;

    /// A token endpoint that first runs what the cell holds on instance B and waits
    /// for A to receive B's invalidation, then answers the refresh with new tokens; its
    /// base URL.
    async fn token_endpoint(cell: Cell) -> String {
        let app = axum::Router::new().route(
            "/token",
            axum::routing::post(move || {
                let cell = Arc::clone(&cell);
                async move {
                    if let Some((a, b, id, meanwhile)) = cell.get() {
                        let heard = a.fast_path().expect("on").invalidations;
                        match meanwhile {
                            Meanwhile::SignOut => {
                                let (_, deleted, _) = b.end_session(Some(id)).await;
                                deleted.expect("signed out on B");
                            }
                            Meanwhile::Logout => {
                                let iss = b.0.config.providers[0].issuer.as_str();
                                let now = b.0.config.clock.now_secs();
                                let shared = &b.0.shared;
                                shared
                                    .record_logout(
                                        &LogoutRegistry::key_sub(iss, "alice"),
                                        now,
                                        crate::session::logouts::LogoutKind::Backchannel,
                                        Duration::from_secs(3600),
                                        b.0.sessions.sealer(),
                                    )
                                    .await
                                    .expect("recorded");
                                shared.logouts_recorded().await.expect("announced");
                            }
                        }
                        let deadline = Instant::now() + Duration::from_secs(5);
                        while a.fast_path().expect("on").invalidations == heard {
                            assert!(Instant::now() < deadline, "A never heard B");
                            tokio::time::sleep(Duration::from_millis(2)).await;
                        }
                    }
                    (
                        [(http::header::CONTENT_TYPE, "application/json")],
                        r#"{"access_token":"at-2","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-2"}"#,
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    async fn instance(redis: &str, provider: &str) -> Auth {
        instance_with(redis, provider, true).await
    }

    async fn instance_with(redis: &str, provider: &str, cache: bool) -> Auth {
        let endpoint = |p: &str| url::Url::parse(&format!("{provider}{p}")).expect("url");
        let config = crate::AuthConfig::builder(provider, "client", "http://127.0.0.1:3000")
            .with_endpoints(crate::ProviderEndpoints::new(
                endpoint("/authorize"),
                endpoint("/token"),
                endpoint("/jwks"),
            ))
            .with_redis_url(redis)
            .with_redis_timeout(Duration::from_millis(500))
            .with_redis_session_cache(cache)
            .with_app_secret_hex(APP_SECRET)
            .build()
            .expect("config");
        Auth::discover(config).await.expect("auth")
    }

    /// Whether `auth` serves the session of `id` from memory: read once (it is then
    /// kept), then served without Redis. A loaded machine can pause the fast path
    /// (a heartbeat late by 80 ms) between the two: tried again, a few times.
    async fn served_from_memory(auth: &Auth, id: &SessionId) -> bool {
        for _ in 0..20 {
            live(auth).await;
            assert!(matches!(
                auth.authenticate(Some(id)).await,
                Authenticated::User(_)
            ));
            let hits = auth.fast_path().expect("on").hits;
            assert!(matches!(
                auth.authenticate(Some(id)).await,
                Authenticated::User(_)
            ));
            if auth.fast_path().expect("on").hits == hits + 1 {
                return true;
            }
        }
        false
    }

    async fn live(auth: &Auth) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !auth.fast_path().expect("on").live {
            assert!(Instant::now() < deadline, "the fast path never went live");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Alice's session (its access token expired, so the next request refreshes),
    /// stored through `auth`.
    async fn signed_in(auth: &Auth, provider: &str) -> SessionId {
        let now = auth.0.config.clock.now_secs();
        let session = AuthSession {
            claims: crate::Claims::default()
                .with("sub", serde_json::json!("alice"))
                .with("iss", serde_json::json!(provider)),
            refresh_token: Some(RefreshToken::new("rt")),
            expires_at: Some(now - 10),
            authenticated_at: now - 100,
            last_seen: Some(now),
            ..AuthSession::bare()
        };
        let cookie = auth
            .start_session(None, &mut session.clone())
            .await
            .expect("stored");
        SessionId::from_set_cookie(&cookie).expect("a session id")
    }

    /// A recorded use (the idle timeout's `last_seen`, most of the writes at scale) is
    /// not announced: instance B keeps serving its copy from memory while A records
    /// uses, and when B's copy looks idle too long, B reads the store (A's use) rather
    /// than ending the session.
    #[tokio::test]
    async fn a_recorded_use_does_not_invalidate_other_instances() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let server = provider_harness::RedisServer::start();
        let provider = "http://127.0.0.1:9";
        let secs = Arc::new(AtomicU64::new(1_900_000_000));
        let at = Arc::clone(&secs);
        let clock = crate::Clock::from_fn(move || {
            std::time::UNIX_EPOCH + Duration::from_secs(at.load(Ordering::Relaxed))
        });
        let idle = |clock: crate::Clock| {
            let endpoint = |p: &str| url::Url::parse(&format!("{provider}{p}")).expect("url");
            crate::AuthConfig::builder(provider, "client", "http://127.0.0.1:3000")
                .with_endpoints(crate::ProviderEndpoints::new(
                    endpoint("/authorize"),
                    endpoint("/token"),
                    endpoint("/jwks"),
                ))
                .with_redis_url(server.url())
                .with_app_secret_hex(APP_SECRET)
                .with_idle_timeout(Some(Duration::from_secs(100)))
                .with_clock(clock)
                .build()
                .expect("config")
        };
        let a = Auth::discover(idle(clock.clone())).await.expect("a");
        let b = Auth::discover(idle(clock)).await.expect("b");
        live(&a).await;
        live(&b).await;
        let now = secs.load(Ordering::Relaxed) as i64;
        let mut session = AuthSession {
            claims: crate::Claims::default()
                .with("sub", serde_json::json!("alice"))
                .with("iss", serde_json::json!(provider)),
            expires_at: Some(now + 100_000),
            authenticated_at: now,
            last_seen: Some(now),
            ..AuthSession::bare()
        };
        let cookie = a.start_session(None, &mut session).await.expect("stored");
        let id = SessionId::from_set_cookie(&cookie).expect("a session id");
        assert!(served_from_memory(&b, &id).await);

        // A records a use (a tenth of the idle timeout later): B is not told.
        secs.fetch_add(11, Ordering::Relaxed);
        let heard = b.fast_path().expect("on").invalidations;
        let seen = |auth: Authenticated| match auth {
            Authenticated::User(s) => s.last_seen_secs(),
            other => panic!("signed out: {other:?}"),
        };
        assert_eq!(seen(a.authenticate(Some(&id)).await), now + 11, "recorded");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(served_from_memory(&b, &id).await, "B's copy still served");
        assert_eq!(
            b.fast_path().expect("on").invalidations,
            heard,
            "nothing announced"
        );

        // B's copy says idle for 105 s; the store says 94 s: the session goes on.
        secs.fetch_add(94, Ordering::Relaxed);
        assert!(matches!(
            b.authenticate(Some(&id)).await,
            Authenticated::User(_)
        ));
        // Past the idle timeout by the store too, it ends.
        secs.fetch_add(100, Ordering::Relaxed);
        assert!(matches!(
            b.authenticate(Some(&id)).await,
            Authenticated::Anonymous
        ));
    }

    /// Instance A's request reads the session, then waits on the provider; meanwhile
    /// instance B does `meanwhile`. A's save after the refresh must not bring the
    /// session back into A's fast path (the save carries the generation of the read).
    async fn ended_during_a_refresh(meanwhile: Meanwhile) {
        let server = provider_harness::RedisServer::start();
        let cell: Cell = Arc::default();
        let provider = token_endpoint(Arc::clone(&cell)).await;
        let a = instance(&server.url(), &provider).await;
        let b = instance(&server.url(), &provider).await;
        live(&a).await;
        live(&b).await;
        let id = signed_in(&a, &provider).await;
        let _ = cell.set((a.clone(), b.clone(), id.clone(), meanwhile));
        let misses = a.fast_path().expect("on").misses;
        let first = a.authenticate(Some(&id)).await;
        assert!(
            a.fast_path().expect("on").misses > misses,
            "the request read through the fast path"
        );
        if let Meanwhile::SignOut = meanwhile {
            assert!(
                matches!(first, Authenticated::Anonymous),
                "signed out while refreshing: {first:?}"
            );
        }
        live(&a).await;
        for _ in 0..3 {
            let next = a.authenticate(Some(&id)).await;
            assert!(
                matches!(next, Authenticated::Anonymous),
                "the session came back: {next:?}"
            );
        }
    }

    /// A sign-out on B lands while A's request refreshes: A's save finds no record
    /// (`SET XX` wrote nothing), so A caches nothing and the request goes on signed out.
    #[tokio::test]
    async fn a_sign_out_on_another_instance_during_a_refresh_is_not_undone() {
        ended_during_a_refresh(Meanwhile::SignOut).await;
    }

    /// A back-channel logout recorded on B lands while A's request refreshes: the
    /// record still exists and A's save writes it, but A must not cache it (the next
    /// request reads the logout markers and ends it).
    #[tokio::test]
    async fn a_logout_on_another_instance_during_a_refresh_is_not_undone() {
        ended_during_a_refresh(Meanwhile::Logout).await;
    }

    /// Instance A cannot publish (its Redis user loses `SPUBLISH`) when it signs a
    /// session out: its invalidation is lost, but B, which heard A's heartbeats until
    /// then, stops serving from memory when A falls silent, and reads the record's
    /// deletion from Redis.
    #[tokio::test]
    async fn a_failed_invalidation_publish_stops_the_other_instances_serving_from_memory() {
        let server = provider_harness::RedisServer::start();
        for user in ["a", "b"] {
            let ok = server.cli(&[
                "ACL",
                "SETUSER",
                user,
                "on",
                &format!(">pw-{user}"),
                "~*",
                "&*",
                "+@all",
            ]);
            assert_eq!(ok, "OK");
        }
        let url = |user: &str| {
            format!(
                "redis://{user}:pw-{user}@127.0.0.1:{}",
                server.url().rsplit(':').next().expect("port")
            )
        };
        let cell: Cell = Arc::default();
        let provider = token_endpoint(cell).await;
        let a = instance(&url("a"), &provider).await;
        let b = instance(&url("b"), &provider).await;
        live(&a).await;
        live(&b).await;
        let id = signed_in(&a, &provider).await;
        // The session, refreshed once by A, then served by B from memory.
        assert!(matches!(
            a.authenticate(Some(&id)).await,
            Authenticated::User(_)
        ));
        assert!(served_from_memory(&b, &id).await, "B serves it from memory");
        assert_eq!(server.cli(&["ACL", "SETUSER", "a", "-spublish"]), "OK");
        let (_, deleted, _) = a.end_session(Some(&id)).await;
        deleted.expect("the record is deleted");
        let signed_out = Instant::now();
        while matches!(b.authenticate(Some(&id)).await, Authenticated::User(_)) {
            assert!(
                signed_out.elapsed() < Duration::from_millis(300),
                "B still serves the session {:?} after A's sign-out",
                signed_out.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        eprintln!(
            "B stopped serving after {:?}: {:?}",
            signed_out.elapsed(),
            b.fast_path()
        );
        assert!(
            !a.fast_path().expect("on").live,
            "A, which cannot publish, paused itself"
        );
    }

    /// `REDIS_SESSION_CACHE=0` (`with_redis_session_cache(false)`): no fast path, and
    /// every request reads Redis, so a record deleted behind the app's back (a
    /// `FLUSHDB`, which sends no invalidation) is gone at the next request. With the
    /// fast path on, the same deletion is served from memory until the entry's 5 s
    /// bound: the contrast shows which one ran.
    #[tokio::test]
    async fn redis_session_cache_0_reads_redis_on_every_request() {
        let server = provider_harness::RedisServer::start();
        let provider = token_endpoint(Arc::default()).await;
        let direct = instance_with(&server.url(), &provider, false).await;
        assert!(direct.fast_path().is_none());
        let cached = instance(&server.url(), &provider).await;
        live(&cached).await;
        let id = signed_in(&cached, &provider).await;
        // Refreshed once (its access token had expired), then kept in memory.
        assert!(matches!(
            cached.authenticate(Some(&id)).await,
            Authenticated::User(_)
        ));
        live(&cached).await;
        assert!(matches!(
            cached.authenticate(Some(&id)).await,
            Authenticated::User(_)
        ));
        assert!(matches!(
            direct.authenticate(Some(&id)).await,
            Authenticated::User(_)
        ));
        let hits = cached.fast_path().expect("on").hits;
        assert_eq!(server.cli(&["FLUSHDB"]), "OK");
        assert!(
            matches!(
                direct.authenticate(Some(&id)).await,
                Authenticated::Anonymous
            ),
            "without the fast path the deletion is seen at once"
        );
        live(&cached).await;
        assert!(
            matches!(cached.authenticate(Some(&id)).await, Authenticated::User(_)),
            "with it, a write no instance announced waits for the entry's bound"
        );
        assert_eq!(cached.fast_path().expect("on").hits, hits + 1);
    }
}

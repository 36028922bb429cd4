//! Session control: the app lists a user's live sessions and ends them (every one, at
//! offboarding or a block; one by its handle, from the user's own session list), on
//! every instance. Ending a session also revokes its refresh token at the provider
//! (RFC 7009) when the provider has a revocation endpoint.

use std::sync::Arc;

use crate::auth::Auth;
use crate::session::AuthSession;
use crate::session::store::StoreError;
use crate::{SessionEndReason, SessionEvent};

/// A live session of a user, as [`Auth::sessions_of`] lists it: never its cookie.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session's handle ([`AuthSession::handle`]): opaque, stable, never usable as
    /// a session cookie.
    pub id: String,
    /// When the user signed in (seconds since the epoch).
    pub created_at: i64,
    /// When the session was last used, as recorded (seconds since the epoch).
    pub last_seen: i64,
    /// The user agent of the browser it was created from.
    pub user_agent: Option<String>,
}

impl Auth {
    /// The live sessions of the user `sub` of provider `provider` (`None`: the one
    /// provider of a single-provider app), newest first: on every instance with Redis.
    ///
    /// # Errors
    /// When the session store or the shared state cannot be read.
    pub async fn sessions_of(
        &self,
        provider: Option<&str>,
        sub: &str,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let mut list: Vec<SessionInfo> = self
            .0
            .sessions
            .of_user(provider, sub)
            .await?
            .into_iter()
            .map(|(id, _, s)| SessionInfo {
                id,
                created_at: s.authenticated_at,
                last_seen: s.last_seen_secs(),
                user_agent: s.user_agent().map(str::to_owned),
            })
            .collect();
        list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        Ok(list)
    }

    /// Ends every session of the user `sub` of provider `provider`, on every instance
    /// (within 100 ms with Redis; at once without), and revokes their refresh tokens;
    /// how many ended. Each is reported as [`SessionEndReason::Admin`].
    ///
    /// # Errors
    /// When the session store or the shared state cannot be used (some sessions may
    /// have ended).
    pub async fn end_sessions_of(
        &self,
        provider: Option<&str>,
        sub: &str,
    ) -> Result<usize, StoreError> {
        let live = self.0.sessions.of_user(provider, sub).await?;
        let mut ended = 0;
        for (_, key, session) in live {
            self.end_stored(&key, &session, SessionEndReason::Admin)
                .await?;
            ended += 1;
        }
        Ok(ended)
    }

    /// Ends the session of the user `sub` of provider `provider` whose handle is
    /// `handle` (as [`Auth::sessions_of`] lists it), on every instance, and revokes its
    /// refresh token; `false` when the user has no live session with that handle.
    /// Reported as [`SessionEndReason::Revoked`].
    ///
    /// # Errors
    /// When the session store or the shared state cannot be used.
    pub async fn end_session_by_handle(
        &self,
        provider: Option<&str>,
        sub: &str,
        handle: &str,
    ) -> Result<bool, StoreError> {
        let live = self.0.sessions.of_user(provider, sub).await?;
        let Some((_, key, session)) = live
            .into_iter()
            .find(|(h, _, _)| crate::jose::secret::constant_time_eq(h, handle))
        else {
            return Ok(false);
        };
        self.end_stored(&key, &session, SessionEndReason::Revoked)
            .await?;
        Ok(true)
    }

    /// Ends every session of `current`'s user but `current` itself (reported as
    /// [`SessionEndReason::Revoked`]); how many ended.
    ///
    /// # Errors
    /// When the session store or the shared state cannot be used.
    pub async fn end_other_sessions(&self, current: &AuthSession) -> Result<usize, StoreError> {
        let live = self
            .0
            .sessions
            .of_user(current.provider(), current.sub())
            .await?;
        let mut ended = 0;
        for (handle, key, session) in live {
            if current.handle().as_deref() == Some(handle.as_str()) {
                continue;
            }
            self.end_stored(&key, &session, SessionEndReason::Revoked)
                .await?;
            ended += 1;
        }
        Ok(ended)
    }

    /// A user past `MAX_SESSIONS_PER_USER` sessions loses the oldest (the index stays
    /// bounded, and every session stays one the app can end).
    pub(crate) async fn end_oldest_sessions(&self, newest: &AuthSession) {
        let Ok(mut live) = self
            .0
            .sessions
            .of_user(newest.provider(), newest.sub())
            .await
        else {
            return;
        };
        let keep = crate::session::store::MAX_SESSIONS_PER_USER;
        if live.len() <= keep {
            return;
        }
        live.sort_by_key(|(_, _, s)| s.authenticated_at);
        let excess = live.len() - keep;
        for (_, key, session) in live.into_iter().take(excess) {
            tracing::info!("a user past the session limit: their oldest session ends");
            let _ = self
                .end_stored(&key, &session, SessionEndReason::Revoked)
                .await;
        }
    }

    /// After a back-channel logout of `sub` of `iss` (by `sid` when given) at `at`:
    /// ends the sessions it applies to (as `LogoutRegistry::ends` decides: begun at or
    /// before `at`; with a `sid`, those of that `sid` and those without one) now,
    /// reported as [`SessionEndReason::BackchannelLogout`], without revoking (the
    /// provider ended them). Best effort: the recorded logout ends any other when it
    /// is next used.
    pub(crate) async fn end_logged_out(
        &self,
        provider: Option<&str>,
        iss: &str,
        sub: &str,
        sid: Option<&str>,
        at: i64,
    ) {
        let Ok(live) = self.0.sessions.of_user(provider, sub).await else {
            return;
        };
        for (_, key, session) in live {
            let applies = session.iss() == iss
                && session.authenticated_at <= at
                && sid.is_none_or(|sid| session.claims.sid().is_none_or(|s| s == sid));
            if applies {
                let reason = SessionEndReason::BackchannelLogout;
                if let Err(e) = self.end_stored_with(&key, &session, reason, false).await {
                    tracing::warn!(error = %e, "a logged-out session is ended when next used");
                }
            }
        }
    }

    /// Deletes the stored session `session` (under `key`) on every instance, removes
    /// it from its user's index, reports it, then revokes its refresh token.
    async fn end_stored(
        &self,
        key: &tower_sessions_core::session::Id,
        session: &Arc<AuthSession>,
        reason: SessionEndReason,
    ) -> Result<(), StoreError> {
        self.end_stored_with(key, session, reason, true).await
    }

    async fn end_stored_with(
        &self,
        key: &tower_sessions_core::session::Id,
        session: &Arc<AuthSession>,
        reason: SessionEndReason,
        revoke: bool,
    ) -> Result<(), StoreError> {
        let sessions = &self.0.sessions;
        sessions.delete_by_key(key).await?;
        sessions.unindex(key, session).await;
        self.emit(&crate::AuthEvent::SessionEnded(
            &SessionEvent::of(session),
            reason,
        ));
        if revoke {
            self.revoke_refresh_token(session).await;
        }
        Ok(())
    }

    /// Revokes `session`'s refresh token at its provider's revocation endpoint (RFC
    /// 7009: `token_type_hint=refresh_token`, the client's authentication), when the
    /// app revokes at logout and the provider has one. After the session has ended:
    /// a failure is logged, never a reason to keep the session.
    pub(crate) async fn revoke_refresh_token(&self, session: &AuthSession) {
        if !self.0.config.revoke_on_logout {
            return;
        }
        let Some(refresh_token) = &session.refresh_token else {
            return;
        };
        let Some(provider) = self.0.provider_of(session) else {
            return;
        };
        let Ok(discovered) = provider.ready() else {
            return;
        };
        let Some(endpoint) = &discovered.endpoints.revocation_endpoint else {
            return;
        };
        let (headers, body) = discovered.client_form(
            provider.config.client_secret.as_ref(),
            &[
                ("token", refresh_token.secret()),
                ("token_type_hint", "refresh_token"),
            ],
        );
        match provider
            .http
            .send(
                crate::http_client::Endpoint::Revocation,
                http::Method::POST,
                endpoint.as_str(),
                headers,
                body,
            )
            .await
        {
            Ok(r) if r.status().is_success() => {
                tracing::debug!("refresh token revoked at the provider");
            }
            Ok(r) => {
                tracing::warn!(
                    status = r.status().as_u16(),
                    "the provider did not revoke the refresh token"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not reach the revocation endpoint");
            }
        }
    }
}

/// The index of a user's sessions in Redis, against real `redis-server`s.
#[cfg(all(test, feature = "redis"))]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::session::store::Sessions;

    async fn on_redis(url: &str) -> Auth {
        let endpoint = |p: &str| url::Url::parse(&format!("http://127.0.0.1:9{p}")).expect("url");
        let config =
            crate::AuthConfig::builder("http://127.0.0.1:9", "client", "http://127.0.0.1:3000")
                .with_endpoints(crate::ProviderEndpoints::new(
                    endpoint("/authorize"),
                    endpoint("/token"),
                    endpoint("/jwks"),
                ))
                .with_redis_url(url)
                .with_redis_timeout(Duration::from_millis(500))
                .with_app_secret_hex(&"ab".repeat(32))
                .build()
                .expect("config");
        Auth::discover(config).await.expect("auth")
    }

    fn alice(now: i64) -> AuthSession {
        AuthSession {
            claims: crate::Claims::default()
                .with("sub", serde_json::json!("alice"))
                .with("iss", serde_json::json!("http://127.0.0.1:9")),
            authenticated_at: now,
            last_seen: Some(now),
            ..AuthSession::bare()
        }
    }

    /// An index entry outlives its session (the record expired, or was deleted behind
    /// the app's back): listing the user's sessions drops it, in Redis too. What Redis
    /// holds for the index is sealed: no store key, handle's session or `sub` in clear.
    #[tokio::test]
    async fn a_session_index_that_outlives_its_sessions_is_cleaned_up() {
        let server = provider_harness::RedisServer::start();
        let auth = on_redis(&server.url()).await;
        let now = auth.0.config.clock.now_secs();
        for _ in 0..3 {
            auth.start_session(None, &mut alice(now))
                .await
                .expect("stored");
        }
        let index_key = server.cli(&["--scan", "--pattern", "auth:index:*"]);
        assert_eq!(
            index_key.lines().count(),
            1,
            "one index for alice: {index_key}"
        );
        assert_eq!(server.cli(&["HLEN", &index_key]), "3");
        let dump = server.cli(&["HGETALL", &index_key]);
        assert!(
            !dump.contains("alice") && !dump.contains("created"),
            "{dump}"
        );
        // One record goes away without the app (as an expired one does).
        let (_, key, _) = auth
            .0
            .sessions
            .of_user(None, "alice")
            .await
            .expect("listed")[0]
            .clone();
        assert_eq!(server.cli(&["DEL", &key.to_string()]), "1");
        let listed = auth.sessions_of(None, "alice").await.expect("listed");
        assert_eq!(listed.len(), 2);
        assert_eq!(
            server.cli(&["HLEN", &index_key]),
            "2",
            "the dead entry is gone"
        );
        // Ending them all empties the index.
        assert_eq!(auth.end_sessions_of(None, "alice").await.expect("ended"), 2);
        assert_eq!(server.cli(&["EXISTS", &index_key]), "0");
        assert!(Sessions::user_key(None, "alice").contains("alice"));
    }
}

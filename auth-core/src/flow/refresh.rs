//! Refresh: when the access token is expired or about to be, concurrent requests of one
//! session share a single refresh call (refresh tokens rotate: a second use would be
//! rejected by the provider).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::auth::Auth;
use crate::jose::TokenError;
use crate::jose::secret::{AccessToken, IdToken, RefreshToken, constant_time_eq};
use crate::outage::Outage;
use crate::session::AuthSession;
use crate::session::Refreshed;
use crate::session::shared::SharedStateError;
use crate::session::store::SessionEnd;

/// How long a refresh result is kept for requests that still carry the old tokens.
pub(crate) const RESULT_TTL: Duration = Duration::from_secs(60);

/// Why a refresh failed.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshError {
    /// The provider refused the refresh token (`invalid_grant`...): the session is over.
    // Provider text, escaped (`{:?}`): never a raw line break in a log line.
    #[error("the provider refused the refresh token: {0:?}")]
    Refused(String),
    /// The refreshed tokens are invalid (another user, bad signature...): the session is over.
    #[error("the refreshed tokens are invalid: {0}")]
    InvalidTokens(#[source] TokenError),
    /// The provider, its keys or the shared state could not be reached, or the
    /// provider answered badly: try again later.
    #[error("the provider is unavailable: {0}")]
    Unavailable(#[source] crate::Outage),
}

impl RefreshError {
    /// Invalid refreshed tokens end the session; keys that cannot be fetched now do not.
    pub(crate) fn from_token_error(e: crate::VerifyError) -> Self {
        match e {
            crate::VerifyError::Invalid(e) => RefreshError::InvalidTokens(e),
            crate::VerifyError::KeysUnavailable(e) => RefreshError::Unavailable(e.into()),
        }
    }

    /// Whether the session must end (as opposed to a transient failure).
    pub fn ends_session(&self) -> bool {
        !matches!(self, RefreshError::Unavailable(_))
    }
}

/// The state of a session after [`Auth::check_session`].
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum SessionStatus {
    /// Valid as stored.
    Valid,
    /// Valid after a refresh: store the new session.
    Refreshed(Box<AuthSession>),
    /// Over: delete it and treat the request as signed out.
    Ended(SessionEnd),
    /// The provider refused the refresh, or its tokens were invalid: over too, unless
    /// the stored record was renewed meanwhile (another request spent the token first).
    RefreshFailed(RefreshError),
    /// Cannot be checked now (provider down while the access token is expired): 503.
    Unavailable(RefreshError),
}

type Cell = Arc<OnceCell<Result<Refreshed, RefreshError>>>;

/// Single-flight refreshes, keyed by a hash of the refresh token.
#[derive(Debug, Default)]
pub(crate) struct RefreshCoordinator {
    inflight: Mutex<HashMap<[u8; 32], (Instant, Cell)>>,
}

impl RefreshCoordinator {
    /// The single-flight cell of `refresh_token`. A finished cell is reused only while
    /// its result is a success whose access token is still fresh (`fresh_until`:
    /// expiry minus the refresh margin must be after `now`): failures are retried, and
    /// a provider that does not rotate refresh tokens gets a new refresh when due.
    fn cell_for(&self, refresh_token: &RefreshToken, now: i64, margin: i64) -> Cell {
        let key: [u8; 32] = Sha256::digest(refresh_token.secret().as_bytes()).into();
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (at, cell)| {
            at.elapsed() < RESULT_TTL
                && match cell.get() {
                    None => true,
                    Some(Ok(r)) => !r.due(now, margin),
                    Some(Err(_)) => false,
                }
        });
        map.entry(key)
            .or_insert_with(|| (Instant::now(), Arc::new(OnceCell::new())))
            .1
            .clone()
    }
}

impl Auth {
    /// Checks a stored session: back-channel logout, lifetime, and refresh when the
    /// access token is expired or expires within the refresh margin.
    pub(crate) async fn check_session(&self, session: &AuthSession) -> SessionStatus {
        self.check_session_with(session, true).await
    }

    /// As [`Auth::check_session`]; `shared_logouts` false skips the logout markers in
    /// Redis (a session served from the fast path's cache, which a recorded logout
    /// flushes) and checks this process's only.
    pub(crate) async fn check_session_with(
        &self,
        session: &AuthSession,
        shared_logouts: bool,
    ) -> SessionStatus {
        let inner = &self.0;
        // A provider removed while the app runs takes its users' sessions with it; one
        // that another instance has just added is asked of the app's source first.
        if let Some(id) = session.provider.as_deref()
            && inner.provider_index(Some(id)).is_none()
        {
            // Boxed, as the refresh below: rare paths whose futures are large (a
            // discovery, a token request) would otherwise size every request's future
            // (PERFORMANCE.md: `authenticate` was 19 KiB, moved per request).
            return match Box::pin(self.provider_or_source(id, false)).await {
                Ok(Some(_)) => Box::pin(self.check_session_with(session, shared_logouts)).await,
                Ok(None) => SessionStatus::Ended(SessionEnd::ProviderRemoved),
                Err(e) => SessionStatus::Unavailable(RefreshError::Unavailable(
                    crate::Outage::ProviderSource(e.to_string()),
                )),
            };
        }
        let logged_out = if shared_logouts {
            self.logged_out(session).await
        } else {
            Ok(inner.logouts.logout_of(session))
        };
        match logged_out {
            Ok(Some(crate::session::logouts::LogoutKind::ProviderRemoved)) => {
                return SessionStatus::Ended(SessionEnd::ProviderRemoved);
            }
            Ok(Some(kind)) => return SessionStatus::Ended(SessionEnd::LoggedOut(kind)),
            Ok(None) => {}
            Err(e) => return SessionStatus::Unavailable(RefreshError::Unavailable(e.into())),
        }
        let now = inner.config.clock.now_secs();
        if let Some(why) = self.0.sessions.expired(session, now) {
            return SessionStatus::Ended(why);
        }
        let margin = inner.config.session.refresh_margin.as_secs() as i64;
        let Some(expires_at) = session.expires_at else {
            return SessionStatus::Valid;
        };
        if expires_at - margin > now {
            return SessionStatus::Valid;
        }
        let Some(refresh_token) = &session.refresh_token else {
            // Without a refresh token the session lives on; the access token is stale.
            return SessionStatus::Valid;
        };
        match Box::pin(self.refresh_shared(session, refresh_token)).await {
            Ok(r) => SessionStatus::Refreshed(Box::new(apply(session, r))),
            Err(e) if e.ends_session() => SessionStatus::RefreshFailed(e),
            Err(_) if expires_at > now => SessionStatus::Valid,
            Err(e) => SessionStatus::Unavailable(e),
        }
    }

    async fn refresh_shared(
        &self,
        session: &AuthSession,
        refresh_token: &RefreshToken,
    ) -> Result<Refreshed, RefreshError> {
        let now = self.0.config.clock.now_secs();
        let margin = self.0.config.session.refresh_margin.as_secs() as i64;
        let cell = self.0.refresher.cell_for(refresh_token, now, margin);
        cell.get_or_init(|| self.refresh_across_instances(session, refresh_token))
            .await
            .clone()
    }

    /// Runs `refresh` as the one use of `refresh_token` in this process: a refresh of
    /// the same token already under way (or just done) is shared instead.
    pub(crate) async fn single_flight<F>(
        &self,
        refresh_token: &RefreshToken,
        refresh: F,
    ) -> Result<Refreshed, RefreshError>
    where
        F: std::future::Future<Output = Result<Refreshed, RefreshError>>,
    {
        let now = self.0.config.clock.now_secs();
        let margin = self.0.config.session.refresh_margin.as_secs() as i64;
        let cell = self.0.refresher.cell_for(refresh_token, now, margin);
        cell.get_or_init(|| refresh).await.clone()
    }

    /// One refresh per refresh token across every instance: the instance that takes
    /// the token's lock in the shared state calls the provider and publishes the
    /// result; the others wait for it. Without Redis this process is the only instance:
    /// the lock is always free and there is no one to publish to.
    async fn refresh_across_instances(
        &self,
        session: &AuthSession,
        refresh_token: &RefreshToken,
    ) -> Result<Refreshed, RefreshError> {
        let (work_limit, lock_ttl) = self.refresh_lock_bounds();
        self.refresh_under_lock(session, refresh_token, work_limit, lock_ttl)
            .await
    }

    /// The two bounds of a refresh token's lock: the holder's work is cut off after the
    /// first, before the lock expires (the second): the lock covers the provider calls
    /// and every Redis command the holder sends while holding it (a read, the publish,
    /// the release), so it never expires under a live holder. A crashed holder blocks
    /// the session for the lock's lifetime.
    pub(crate) fn refresh_lock_bounds(&self) -> (Duration, Duration) {
        let work_limit = 3 * self.0.config.http.request_timeout;
        let lock_ttl = work_limit + 3 * self.0.config.redis.timeout + Duration::from_secs(1);
        (work_limit, lock_ttl)
    }

    /// Does `work` as the holder of `refresh_token`'s lock (taken by the caller under
    /// `owner`): cut off after `work_limit`; a result is published under the lock for
    /// the instances waiting on that token (and the lock released with it), a failure
    /// releases the lock at once.
    pub(crate) async fn hold_refresh_lock(
        &self,
        refresh_token: &str,
        owner: &str,
        work_limit: Duration,
        work: impl std::future::Future<Output = Result<Refreshed, RefreshError>>,
    ) -> Result<Refreshed, RefreshError> {
        let result = tokio::time::timeout(work_limit, work)
            .await
            .unwrap_or_else(|_| Err(RefreshError::Unavailable(Outage::RefreshTookTooLong)));
        match &result {
            Ok(done) => {
                match self
                    .0
                    .shared
                    .publish_refresh(
                        refresh_token,
                        owner,
                        done,
                        RESULT_TTL,
                        self.0.sessions.sealer(),
                    )
                    .await
                {
                    Ok(true) => {}
                    // Another instance may hold the lock now: nothing is published under
                    // it, and it is not released.
                    Ok(false) => tracing::error!(
                        "the refresh lock expired under its holder: result not published"
                    ),
                    // Keep the lock until it expires: releasing it now would let a waiter
                    // replay the rotated refresh token.
                    Err(e) => {
                        tracing::error!(error = %e, "could not publish the refresh result");
                    }
                }
            }
            Err(_) => {
                if let Err(e) = self.0.shared.unlock_refresh(refresh_token, owner).await {
                    tracing::warn!(error = %e, "could not release the refresh lock");
                }
            }
        }
        result
    }

    /// The refresh under the token's lock, with its two bounds: the holder's work is cut
    /// off after `work_limit`, a waiter gives up after `lock_ttl`.
    async fn refresh_under_lock(
        &self,
        session: &AuthSession,
        refresh_token: &RefreshToken,
        work_limit: Duration,
        lock_ttl: Duration,
    ) -> Result<Refreshed, RefreshError> {
        let unavailable = |e: SharedStateError| RefreshError::Unavailable(e.into());
        let shared = &*self.0.shared;
        let rt = refresh_token.secret();
        let sealer = self.0.sessions.sealer();
        // The lock holds a random owner token: only its owner releases it or publishes
        // under it (compare-and-delete).
        let owner = oauth2::CsrfToken::new_random().secret().clone();
        let give_up = Instant::now() + lock_ttl;
        let margin = self.0.config.session.refresh_margin.as_secs() as i64;
        let published = || async {
            match shared
                .published_refresh(rt, sealer)
                .await
                .map_err(unavailable)?
            {
                // A result that is itself due, for a refresh token the provider did
                // not rotate (refreshed again within the result's minute): refreshed
                // again with that token, not applied (it would be stored, found due
                // and applied again on every request). A rotated token is spent: its
                // result is applied whatever its age, never the token replayed.
                Some(Ok(done))
                    if done.same_user(session)
                        && done.due(self.0.config.clock.now_secs(), margin)
                        && done
                            .refresh_token
                            .as_ref()
                            .is_none_or(|new| constant_time_eq(new.secret(), rt)) =>
                {
                    Ok(None)
                }
                Some(Ok(done)) if done.same_user(session) => Ok(Some(done)),
                // Unreadable, or for another user: never apply it, never replay the
                // token either.
                Some(_) => Err(RefreshError::Unavailable(Outage::PublishedRefreshUnusable)),
                None => Ok(None),
            }
        };
        loop {
            if let Some(done) = published().await? {
                tracing::debug!("refresh done by another instance");
                return Ok(done);
            }
            if shared
                .lock_refresh(rt, &owner, lock_ttl)
                .await
                .map_err(unavailable)?
            {
                // The holder may have published and released between our two reads.
                // Whatever this read finds (or fails on), the lock is released before
                // returning without a refresh of our own: held, it would block the
                // session until it expires.
                match published().await {
                    Ok(None) => {}
                    found => {
                        let _ = shared.unlock_refresh(rt, &owner).await;
                        if let Some(done) = found? {
                            return Ok(done);
                        }
                    }
                }
                let work = self.refresh_now(session, refresh_token);
                return self.hold_refresh_lock(rt, &owner, work_limit, work).await;
            }
            if Instant::now() >= give_up {
                return Err(RefreshError::Unavailable(Outage::RefreshLockHeld));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One refresh call to the provider, in an `auth.refresh` span whose `outcome` is
    /// `refreshed`, `refused`, `invalid_tokens` or `unavailable`. The span also records
    /// the user's `sub` (an identifier, not a secret, but personal data: filter it in
    /// your subscriber if your logs must not hold any).
    async fn refresh_now(
        &self,
        session: &AuthSession,
        refresh_token: &RefreshToken,
    ) -> Result<Refreshed, RefreshError> {
        use tracing::Instrument as _;
        let span = tracing::info_span!(
            "auth.refresh",
            sub = %session.claims.sub(),
            outcome = tracing::field::Empty
        );
        let result = self
            .refresh_call(session, refresh_token)
            .instrument(span.clone())
            .await;
        span.record(
            "outcome",
            match &result {
                Ok(_) => "refreshed",
                Err(RefreshError::Refused(_)) => "refused",
                Err(RefreshError::InvalidTokens(_)) => "invalid_tokens",
                Err(RefreshError::Unavailable(_)) => "unavailable",
            },
        );
        crate::telemetry::refresh(
            session.provider.as_deref(),
            match &result {
                Ok(_) => "success",
                // Tokens the provider should not have issued end the session too.
                Err(RefreshError::Refused(_) | RefreshError::InvalidTokens(_)) => "refused",
                Err(RefreshError::Unavailable(_)) => "unavailable",
            },
        );
        if result.is_ok() {
            // Once per refresh at the provider (the requests and instances that share
            // it are not refreshes of their own).
            self.emit(&crate::AuthEvent::Refreshed(&crate::SessionEvent::of(
                session,
            )));
        }
        result
    }

    async fn refresh_call(
        &self,
        session: &AuthSession,
        refresh_token: &RefreshToken,
    ) -> Result<Refreshed, RefreshError> {
        let inner = &self.0;
        // A session of a provider the app no longer has cannot be renewed: it ends.
        let provider = inner
            .provider_of(session)
            .ok_or_else(|| RefreshError::Refused("provider_removed".into()))?;
        let discovered = provider
            .ready()
            .map_err(|e| RefreshError::Unavailable(e.into()))?;
        provider
            .config
            .protocol()
            .refresh(self, &provider, discovered, session, refresh_token)
            .await
    }
}

impl Refreshed {
    /// Whether its access token expires within `margin` s of `now` (a session holding
    /// it is due for a refresh): a result past that is not reused.
    fn due(&self, now: i64, margin: i64) -> bool {
        self.expires_at.is_some_and(|e| e - margin <= now)
    }

    /// A refresh's result: the new tokens, and the claims when they changed.
    pub(crate) fn new(
        access_token: AccessToken,
        refresh_token: Option<RefreshToken>,
        id_token: Option<(IdToken, crate::jose::Claims)>,
        expires_at: Option<i64>,
        access: Option<crate::session::Access>,
    ) -> Self {
        Self {
            access_token,
            refresh_token,
            id_token,
            expires_at,
            refresh_expires_at: None,
            scope: None,
            access,
        }
    }

    /// Whether a refresh result (from another instance) belongs to `session`'s user.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    fn same_user(&self, session: &AuthSession) -> bool {
        self.id_token
            .as_ref()
            .is_none_or(|(_, claims)| claims.sub() == session.claims.sub())
    }
}

/// The session with refreshed tokens; keeps the old refresh and ID tokens when the
/// provider sent no new ones.
pub(crate) fn apply(old: &AuthSession, r: Refreshed) -> AuthSession {
    let mut s = old.clone();
    s.access_token = r.access_token;
    s.expires_at = r.expires_at;
    if let Some(rt) = r.refresh_token {
        s.refresh_token = Some(rt);
        // A new refresh token has a new lifetime (none known unless the provider said).
        s.refresh_expires_at = r.refresh_expires_at;
    } else if r.refresh_expires_at.is_some() {
        s.refresh_expires_at = r.refresh_expires_at;
    }
    if let Some((raw, mut claims)) = r.id_token {
        // Keep the login's sid if the refreshed token does not repeat it.
        if claims.sid().is_none()
            && let Some(sid) = old.claims.sid()
        {
            claims = claims.with("sid", serde_json::Value::String(sid.to_owned()));
        }
        s.id_token = raw;
        s.claims = claims;
    }
    if r.scope.is_some() {
        s.scope = r.scope;
    }
    if let Some(access) = r.access {
        s.access = access;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refreshed(expires_at: Option<i64>) -> Refreshed {
        Refreshed {
            access_token: AccessToken::new("at"),
            refresh_token: None,
            id_token: None,
            expires_at,
            refresh_expires_at: None,
            scope: None,
            access: None,
        }
    }

    #[tokio::test]
    async fn a_failed_refresh_is_not_reused() {
        let c = RefreshCoordinator::default();
        let rt = RefreshToken::new("rt");
        let cell = c.cell_for(&rt, 1000, 30);
        let _ = cell
            .get_or_init(|| async { Err(RefreshError::Unavailable(Outage::NotDiscovered)) })
            .await;
        let next = c.cell_for(&rt, 1000, 30);
        assert!(
            next.get().is_none(),
            "a new attempt, not the cached failure"
        );
    }

    #[tokio::test]
    async fn a_result_is_reused_only_while_its_access_token_is_fresh() {
        let c = RefreshCoordinator::default();
        let rt = RefreshToken::new("rt");
        let cell = c.cell_for(&rt, 1000, 30);
        let _ = cell
            .get_or_init(|| async { Ok(refreshed(Some(1100))) })
            .await;
        // Within the result's freshness: the same result for concurrent requests.
        assert!(c.cell_for(&rt, 1060, 30).get().is_some());
        // Its access token is now within the margin (a provider that does not rotate
        // refresh tokens): refresh again.
        assert!(c.cell_for(&rt, 1070, 30).get().is_none());
    }

    /// Each refresh outcome by name: the provider refusing the grant
    /// (`RefreshError::Refused`, the session ends), tokens the session cannot use
    /// (`InvalidTokens`, it ends), the token endpoint down (`Outage::TokenEndpoint`) and
    /// the keys of the refreshed ID token unavailable (`Outage::Keys`): 503, kept.
    ///
    /// Each is counted in `auth_refreshes_total` (`refused` for both that end the
    /// session, `unavailable` for both outages), and each token request is measured.
    #[test]
    fn refresh_outcomes_are_each_named() {
        crate::telemetry::testing::recorded(refresh_outcomes_are_each_named_and_counted);
    }

    async fn refresh_outcomes_are_each_named_and_counted(
        metrics: crate::telemetry::testing::Recorded,
    ) {
        use std::sync::{Arc, Mutex};
        let mode: Arc<Mutex<&'static str>> = Arc::new(Mutex::new("refused"));
        let (for_token, for_jwks) = (Arc::clone(&mode), Arc::clone(&mode));
        let jwks = include_str!("../jose/testdata/jwks.json");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let issuer = base.clone();
        let app = axum::Router::new()
            .route(
                "/token",
                axum::routing::post(move || {
                    let mode = *for_token.lock().expect("mode");
                    let issuer = issuer.clone();
                    async move {
                        use axum::http::StatusCode;
                        let json = |status: StatusCode, body: serde_json::Value| {
                            (
                                status,
                                [(axum::http::header::CONTENT_TYPE, "application/json")],
                                body.to_string(),
                            )
                        };
                        let tokens = |token_type: &str, id_token: Option<String>| {
                            let mut body = serde_json::json!({
                                "access_token": "at-2", "token_type": token_type,
                                "expires_in": 3600, "refresh_token": "rt-2",
                            });
                            if let Some(t) = id_token {
                                body["id_token"] = serde_json::json!(t);
                            }
                            json(StatusCode::OK, body)
                        };
                        match mode {
                            "refused" => json(
                                StatusCode::BAD_REQUEST,
                                serde_json::json!({ "error": "invalid_grant" }),
                            ),
                            "dpop" => tokens("DPoP", None),
                            "down" => json(StatusCode::SERVICE_UNAVAILABLE, serde_json::json!({})),
                            _ => {
                                // An ID token signed with a key the cached set lacks.
                                let mut header =
                                    jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
                                header.kid = Some("rsa-new".into());
                                let now = crate::Clock::system().now_secs();
                                let claims = serde_json::json!({
                                    "iss": issuer, "aud": "client", "sub": "alice",
                                    "iat": now, "exp": now + 300,
                                });
                                let key = jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!(
                                    "../jose/testdata/rsa.pem"
                                ))
                                .expect("key");
                                let t = jsonwebtoken::encode(&header, &claims, &key).expect("sign");
                                tokens("Bearer", Some(t))
                            }
                        }
                    }
                }),
            )
            .route(
                "/jwks",
                axum::routing::get(move || {
                    let mode = *for_jwks.lock().expect("mode");
                    async move {
                        use axum::response::IntoResponse as _;
                        if mode == "keys_down" {
                            (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "").into_response()
                        } else {
                            jwks.into_response()
                        }
                    }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let endpoint = |p: &str| url::Url::parse(&format!("{base}{p}")).expect("url");
        let config = crate::AuthConfig::builder(&base, "client", "http://127.0.0.1:3000")
            .with_client_secret("secret")
            .with_endpoints(crate::ProviderEndpoints::new(
                endpoint("/authorize"),
                endpoint("/token"),
                endpoint("/jwks"),
            ))
            .with_jwks_refetch_cooldown(Duration::ZERO)
            .build()
            .expect("config");
        let auth = Auth::discover(config).await.expect("auth");
        let now = auth.0.config.clock.now_secs();
        let session = AuthSession {
            claims: crate::Claims::default()
                .with("sub", serde_json::json!("alice"))
                .with("iss", serde_json::json!(base)),
            refresh_token: Some(RefreshToken::new("rt")),
            expires_at: Some(now - 10),
            authenticated_at: now - 100,
            last_seen: Some(now),
            ..AuthSession::bare()
        };
        let check = async |m: &'static str| {
            *mode.lock().expect("mode") = m;
            metrics.take();
            let status = auth.check_session(&session).await;
            let seen = metrics.take();
            let outcome = match m {
                "refused" | "dpop" => "refused",
                _ => "unavailable",
            };
            let refreshes = [("provider", "default"), ("outcome", outcome)];
            assert_eq!(
                seen.counter("auth_refreshes_total", &refreshes),
                1,
                "{m}: {:?}",
                seen.counters()
            );
            let token = [("provider", "default"), ("endpoint", "token")];
            assert_eq!(
                seen.samples("auth_provider_request_duration_seconds", &token),
                1,
                "{m}"
            );
            status
        };
        match check("refused").await {
            SessionStatus::RefreshFailed(RefreshError::Refused(e)) => {
                assert_eq!(e, "invalid_grant")
            }
            other => panic!("{other:?}"),
        }
        match check("dpop").await {
            SessionStatus::RefreshFailed(RefreshError::InvalidTokens(
                TokenError::UnexpectedType,
            )) => {}
            other => panic!("{other:?}"),
        }
        match check("down").await {
            SessionStatus::Unavailable(RefreshError::Unavailable(Outage::TokenEndpoint(_))) => {}
            other => panic!("{other:?}"),
        }
        match check("keys_down").await {
            SessionStatus::Unavailable(RefreshError::Unavailable(Outage::Keys(
                crate::JwksError::Status(500),
            ))) => {}
            other => panic!("{other:?}"),
        }
    }

    /// A provider whose every endpoint answers after `delay` with a 503; its base URL.
    #[cfg(feature = "redis")]
    async fn slow_provider(delay: Duration) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let app = axum::Router::new().fallback(move || async move {
            tokio::time::sleep(delay).await;
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    /// An app on a real Redis, and an expired session of alice with refresh token `rt`.
    /// The provider never answers in time (every endpoint waits 60 s).
    #[cfg(feature = "redis")]
    async fn on_redis(url: &str) -> (Auth, AuthSession) {
        let provider = slow_provider(Duration::from_secs(60)).await;
        let endpoint = |p: &str| url::Url::parse(&format!("{provider}{p}")).expect("url");
        let config =
            crate::AuthConfig::builder(provider.as_str(), "client", "http://127.0.0.1:3000")
                .with_endpoints(crate::ProviderEndpoints::new(
                    endpoint("/authorize"),
                    endpoint("/token"),
                    endpoint("/jwks"),
                ))
                .with_redis_url(url)
                .with_redis_timeout(Duration::from_millis(200))
                .with_request_timeout(Duration::from_millis(200))
                .with_app_secret_hex(
                    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                )
                .build()
                .expect("config");
        let auth = Auth::discover(config).await.expect("auth");
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
        (auth, session)
    }

    /// Publishes `done` for refresh token `rt` as another instance does: under its lock,
    /// which the publication releases.
    #[cfg(feature = "redis")]
    async fn publish_as_another_instance(auth: &Auth, done: &Refreshed) {
        let redis = &auth.0.shared;
        assert!(
            redis
                .lock_refresh("rt", "other", Duration::from_secs(5))
                .await
                .expect("lock")
        );
        assert!(
            redis
                .publish_refresh("rt", "other", done, RESULT_TTL, auth.0.sessions.sealer())
                .await
                .expect("publish")
        );
    }

    /// A refresh result another instance published for this refresh token, but for
    /// another user, is never applied (and the token is not replayed either): the
    /// expired session answers 503.
    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn rp_published_refresh_of_another_user_is_not_applied() {
        let server = provider_harness::RedisServer::start();
        let (auth, session) = on_redis(&server.url()).await;
        let bob = crate::Claims::default()
            .with("sub", serde_json::json!("bob"))
            .with("iss", session.claims.get("iss").expect("iss"));
        let theirs = Refreshed::new(
            AccessToken::new("bobs-token"),
            None,
            Some((IdToken::new("id"), bob)),
            Some(i64::MAX),
            None,
        );
        publish_as_another_instance(&auth, &theirs).await;
        match auth.check_session(&session).await {
            SessionStatus::Unavailable(RefreshError::Unavailable(
                Outage::PublishedRefreshUnusable,
            )) => {}
            other => panic!("expected 503, got {other:?}"),
        }
    }

    /// A provider that does not rotate refresh tokens: a result another instance
    /// published for the same token is applied while its access token is fresh, and
    /// refreshed again (here: the provider, which never answers in time) once it is
    /// itself due, not applied (it would be stored and found due on every request).
    /// A due result that rotated the token is applied: the old token is spent.
    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn rp_published_refresh_already_due_is_refreshed_again() {
        let server = provider_harness::RedisServer::start();
        let (auth, session) = on_redis(&server.url()).await;
        let now = auth.0.config.clock.now_secs();
        let publish = async |expires_at: i64, rotated: Option<&str>| {
            let done = Refreshed::new(
                AccessToken::new("at"),
                rotated.map(RefreshToken::new),
                None,
                Some(expires_at),
                None,
            );
            publish_as_another_instance(&auth, &done).await;
        };
        publish(now + 3600, None).await;
        match auth.check_session(&session).await {
            SessionStatus::Refreshed(s) => assert_eq!(s.expires_at, Some(now + 3600)),
            other => panic!("a fresh published result is applied: {other:?}"),
        }
        // Due within the margin (30 s by default): not applied, refreshed again (by
        // another instance, whose process has not seen the first result).
        publish(now + 20, Some("rt")).await;
        let (other, session) = on_redis(&server.url()).await;
        match other.check_session(&session).await {
            SessionStatus::Unavailable(RefreshError::Unavailable(_)) => {}
            other => panic!("expected a refresh of its own (503 here), got {other:?}"),
        }
        // The same, but the provider rotated the token: applied.
        publish(now + 20, Some("rt-2")).await;
        let (third, session) = on_redis(&server.url()).await;
        match third.check_session(&session).await {
            SessionStatus::Refreshed(s) => assert_eq!(s.expires_at, Some(now + 20)),
            other => panic!("a rotated token's result is applied: {other:?}"),
        }
    }

    /// Another instance holds the refresh lock and never publishes: the wait gives up
    /// within the lock's lifetime and the expired session answers 503 (it is not ended).
    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn rp_refresh_lock_wait_gives_up() {
        let server = provider_harness::RedisServer::start();
        let (auth, session) = on_redis(&server.url()).await;
        let redis = &auth.0.shared;
        assert!(
            redis
                .lock_refresh("rt", "stuck", Duration::from_secs(60))
                .await
                .expect("lock")
        );
        let started = Instant::now();
        match auth.check_session(&session).await {
            SessionStatus::Unavailable(RefreshError::Unavailable(Outage::RefreshLockHeld)) => {}
            other => panic!("expected 503, got {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    /// This instance holds the refresh lock and the provider does not answer within the
    /// holder's work limit: the refresh is cut off (503, the session is not ended) and
    /// the lock released at once, so the next request can try again without waiting for
    /// the lock to expire.
    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn rp_refresh_lock_holder_took_too_long() {
        let server = provider_harness::RedisServer::start();
        let (auth, session) = on_redis(&server.url()).await;
        let redis = &auth.0.shared;
        let rt = session.refresh_token.clone().expect("rt");
        // The provider waits 60 s (the app's own request timeout is 200 ms): the work
        // limit of 100 ms is what cuts this refresh off.
        let result = auth
            .refresh_under_lock(
                &session,
                &rt,
                Duration::from_millis(100),
                Duration::from_secs(30),
            )
            .await;
        match result {
            Err(RefreshError::Unavailable(Outage::RefreshTookTooLong)) => {}
            other => panic!("expected 503, got {:?}", other.map(|_| "refreshed")),
        }
        assert!(
            redis
                .lock_refresh("rt", "next", Duration::from_secs(5))
                .await
                .expect("lock"),
            "the holder released the lock"
        );
        assert!(
            redis
                .published_refresh("rt", auth.0.sessions.sealer())
                .await
                .expect("read")
                .is_none(),
            "nothing published"
        );
    }
}

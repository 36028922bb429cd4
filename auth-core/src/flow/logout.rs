//! Logout: the RP-initiated logout URL, back-channel logout (validate the token,
//! record the logout, end matching sessions when they are next used) and front-channel
//! logout (the same record, by `iss` and `sid`).

use url::Url;

use crate::auth::Auth;
use crate::jose::TokenError;
use crate::session::AuthSession;
use crate::session::logouts::{LogoutKind, LogoutRegistry};
use crate::session::shared::Once;

/// How long the `jti` of a logout token without `exp` is remembered, from its `iat`
/// (the validator refuses such a token older than 5 minutes).
const LOGOUT_TOKEN_JTI_TTL: i64 = 300;

/// Longest logout token form body accepted.
pub(crate) const MAX_LOGOUT_BODY: usize = 32 * 1024;

/// Why a back-channel logout request was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackchannelError {
    /// No `logout_token` form field, or a malformed body.
    #[error("the request has no logout_token")]
    MissingToken,
    /// The body is too large.
    #[error("the request body is too large")]
    TooLarge,
    /// The logout token is invalid.
    #[error("invalid logout token: {0}")]
    Invalid(#[from] TokenError),
    /// The logout token was accepted before (same `jti`): a replay has no effect.
    #[error("the logout token was used before")]
    Replayed,
    /// The logout could not be recorded for the other instances (Redis down): the
    /// provider should retry.
    #[error("the logout could not be recorded: {0}")]
    Unavailable(#[source] crate::Outage),
}

/// Why a front-channel logout request was refused (OpenID Connect Front-Channel
/// Logout 1.0 §2: `iss` and `sid` are required here, as
/// `frontchannel_logout_session_required` says).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrontchannelError {
    /// `iss` or `sid` is missing, empty, repeated or oversized.
    #[error("a front-channel logout needs iss and sid, once each")]
    MissingParameter,
    /// `iss` is not the issuer of the provider whose route was called.
    #[error("iss is not this provider's issuer")]
    IssuerMismatch,
    /// The logout could not be recorded for the other instances (Redis down).
    #[error("the logout could not be recorded: {0}")]
    Unavailable(#[source] crate::Outage),
}

/// Longest front-channel logout query accepted (an issuer and a session id).
const MAX_FRONTCHANNEL_QUERY: usize = 4 * 1024;

impl Auth {
    /// The URL to send the browser to after the local session was cleared: the
    /// provider's `end_session_endpoint` with `id_token_hint`, `client_id`,
    /// `post_logout_redirect_uri` and a `state`; or the post-logout URL itself when the
    /// provider has no such endpoint.
    /// With several providers, the end-session endpoint is the one of the provider that
    /// signed the session in; without a session, the app's post-logout URL.
    pub(crate) fn logout_url(&self, session: Option<&AuthSession>) -> Url {
        let inner = &self.0;
        let post = &inner.config.post_logout_redirect_uri;
        let provider = match session {
            Some(s) => inner.provider_of(s),
            None => inner
                .providers
                .configured()
                .first()
                .filter(|p| p.config.id.is_none())
                .cloned(),
        };
        let Some(provider) = provider else {
            return post.clone();
        };
        let Some(end) = provider
            .endpoints()
            .and_then(|e| e.end_session_endpoint.as_ref())
        else {
            return post.clone();
        };
        provider
            .config
            .protocol()
            .end_session_url(&provider.config, end, session, post)
    }

    /// Handles a back-channel logout request body (`application/x-www-form-urlencoded`
    /// with `logout_token`): validates the token and ends the matching sessions (by
    /// `sid` when present, else every session of `sub`), at `{prefix}/backchannel-logout`
    /// (a single-provider app).
    #[cfg(all(test, feature = "redis"))]
    pub(crate) async fn backchannel_logout(&self, body: &[u8]) -> Result<(), BackchannelError> {
        self.backchannel_logout_with(self.0.provider_index(None), body)
            .await
    }

    /// A back-channel logout at provider `route`'s route
    /// (`{prefix}/backchannel-logout/{id}`; `None`: a single-provider app's): the token
    /// must be that provider's (its keys, issuer and client id), and ends only that
    /// provider's sessions.
    pub(crate) async fn backchannel_logout_with(
        &self,
        route: Option<usize>,
        body: &[u8],
    ) -> Result<(), BackchannelError> {
        if body.len() > MAX_LOGOUT_BODY {
            return Err(BackchannelError::TooLarge);
        }
        let mut token = None;
        for (k, v) in url::form_urlencoded::parse(body) {
            if k == "logout_token" {
                if token.is_some() {
                    return Err(BackchannelError::MissingToken);
                }
                token = Some(v.into_owned());
            }
        }
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(BackchannelError::MissingToken)?;
        // With the provider's keys unknowable now, the token is not judged bad: 503 lets
        // the provider retry instead of losing the logout.
        let provider = route
            .map(|i| self.0.provider(i))
            .ok_or(BackchannelError::Unavailable(
                crate::Outage::UnknownProvider,
            ))?;
        let discovered = provider
            .ready()
            .map_err(|e| BackchannelError::Unavailable(e.into()))?;
        let claims = discovered
            .verifier
            .logout_token(&token)
            .await
            .map_err(|e| match e {
                crate::VerifyError::Invalid(e) => BackchannelError::Invalid(e),
                crate::VerifyError::KeysUnavailable(e) => BackchannelError::Unavailable(e.into()),
            })?;
        let str_claim = |n: &str| {
            claims
                .get(n)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        let int_claim = |n: &str| claims.get(n).and_then(|v| v.as_i64());
        let (sid, sub) = (str_claim("sid"), str_claim("sub"));
        let iss = str_claim("iss").ok_or(TokenError::MissingClaim("iss"))?;
        let jti = str_claim("jti").ok_or(TokenError::MissingClaim("jti"))?;
        let jti = &LogoutRegistry::key_jti(iss, jti);
        let now = self.0.config.clock.now_secs();
        let leeway = self.0.config.tokens.leeway.as_secs() as i64;
        // The validator refused a token past its exp, or without exp past iat + 5 min.
        let iat = int_claim("iat").unwrap_or(now);
        let until = int_claim("exp")
            .unwrap_or_else(|| iat.saturating_add(LOGOUT_TOKEN_JTI_TTL))
            .saturating_add(leeway);
        // It applies to the sessions that began before the provider issued it (with
        // the leeway for clocks), never to one that began after it arrived here.
        let at = iat.saturating_add(leeway).min(now);
        let mut keys = Vec::with_capacity(2);
        match (sid, sub) {
            (Some(sid), sub) => {
                keys.push(LogoutRegistry::key_sid(iss, sid));
                keys.extend(sub.map(|sub| LogoutRegistry::key_sub_without_sid(iss, sub)));
            }
            (None, Some(sub)) => keys.push(LogoutRegistry::key_sub(iss, sub)),
            (None, None) => return Err(TokenError::MissingSidAndSub.into()),
        }
        // Recorded for every instance first (with Redis), then in this process.
        let shared = &*self.0.shared;
        let first = match shared.first_use(Once::LogoutToken, jti, until).await {
            Ok(first) => first,
            Err(e) => {
                // A command that timed out may have landed: forgotten, so that the
                // provider's retry (on 503) is not refused as a replay of a logout that
                // was never recorded.
                if let Err(e) = shared.forget_use(Once::LogoutToken, jti).await {
                    tracing::warn!(error = %e, "could not forget a logout token's jti");
                }
                return Err(BackchannelError::Unavailable(e.into()));
            }
        };
        if !first {
            tracing::warn!("back-channel logout token replayed: ignored");
            return Err(BackchannelError::Replayed);
        }
        if let Err(e) = self.record_shared(&keys, at, LogoutKind::Backchannel).await {
            // Not recorded, or recorded but not announced: the provider retries on 503,
            // and its retry must not look like a replay.
            if let Err(e) = shared.forget_use(Once::LogoutToken, jti).await {
                tracing::warn!(error = %e, "could not forget a logout token's jti");
            }
            return Err(BackchannelError::Unavailable(e.into()));
        }
        if !self.0.logouts.first_use(jti, until, now) {
            tracing::warn!("back-channel logout token replayed: ignored");
            return Err(BackchannelError::Replayed);
        }
        tracing::info!(
            by = if sid.is_some() { "sid" } else { "sub" },
            "back-channel logout accepted"
        );
        self.record_here(keys, at, LogoutKind::Backchannel);
        // The sessions it ends are ended now (and reported), where the user's index
        // finds them; any other is ended by the recorded logout when next used.
        if let Some(sub) = sub {
            let provider = route.and_then(|i| self.0.provider(i).config.id.clone());
            self.end_logged_out(provider.as_deref(), iss, sub, sid, at)
                .await;
        }
        Ok(())
    }

    /// Logouts under `keys` at `at`, recorded where every instance reads them (with
    /// Redis), then announced: every instance drops the sessions it serves from memory
    /// and reads the logouts again.
    async fn record_shared(
        &self,
        keys: &[String],
        at: i64,
        kind: LogoutKind,
    ) -> Result<(), crate::SharedStateError> {
        let shared = &*self.0.shared;
        let sealer = self.0.sessions.sealer();
        let lifetime = self.0.config.session.lifetime;
        for key in keys {
            shared
                .record_logout(key, at, kind, lifetime, sealer)
                .await?;
        }
        shared.logouts_recorded().await
    }

    /// Logouts under `keys` at `at`, recorded in this process (kept as long as the
    /// longest session).
    fn record_here(&self, keys: Vec<String>, at: i64, kind: LogoutKind) {
        let now = self.0.config.clock.now_secs();
        let forget_before = now - self.0.config.session.lifetime.as_secs() as i64;
        for key in keys {
            self.0.logouts.record_as(key, at, kind, forget_before);
        }
    }

    /// A front-channel logout at provider `route`'s route
    /// (`{prefix}/frontchannel-logout/{id}`; `None`: a single-provider app's), its
    /// query carrying `iss` and `sid`: the sessions of that provider's `iss` and `sid`
    /// that began before now end on every instance (the logout is recorded as a
    /// back-channel one by `sid` is, and they end when next used).
    pub(crate) async fn frontchannel_logout_with(
        &self,
        route: Option<usize>,
        query: &str,
    ) -> Result<(), FrontchannelError> {
        if query.len() > MAX_FRONTCHANNEL_QUERY {
            return Err(FrontchannelError::MissingParameter);
        }
        let [iss, sid] = super::once_each(query, ["iss", "sid"], MAX_FRONTCHANNEL_QUERY)
            .ok_or(FrontchannelError::MissingParameter)?;
        let nonempty = |v: Option<String>| v.filter(|v| !v.is_empty());
        let (Some(iss), Some(sid)) = (nonempty(iss), nonempty(sid)) else {
            return Err(FrontchannelError::MissingParameter);
        };
        let provider = route
            .map(|i| self.0.provider(i))
            .ok_or(FrontchannelError::Unavailable(
                crate::Outage::UnknownProvider,
            ))?;
        if !provider.config.is_issuer(&iss) {
            return Err(FrontchannelError::IssuerMismatch);
        }
        let now = self.0.config.clock.now_secs();
        let keys = vec![LogoutRegistry::key_sid(&iss, &sid)];
        self.record_shared(&keys, now, LogoutKind::Frontchannel)
            .await
            .map_err(|e| FrontchannelError::Unavailable(e.into()))?;
        self.record_here(keys, now, LogoutKind::Frontchannel);
        tracing::info!("front-channel logout accepted");
        Ok(())
    }

    /// The sessions the provider of the app named `id` signed in (it was removed
    /// while the app runs) end: recorded in this process, then where every instance
    /// reads it (`Err` when that failed).
    pub(crate) async fn end_sessions_of_provider(
        &self,
        id: &str,
    ) -> Result<(), crate::SharedStateError> {
        let now = self.0.config.clock.now_secs();
        let keys = vec![LogoutRegistry::key_provider(id)];
        self.record_here(keys.clone(), now, LogoutKind::ProviderRemoved);
        self.record_shared(&keys, now, LogoutKind::ProviderRemoved)
            .await
    }

    /// The provider's logout (back-channel or front-channel) that ended `session`: in
    /// this process, or (with Redis) on any instance. `Err` when Redis cannot be asked.
    pub(crate) async fn logged_out(
        &self,
        session: &AuthSession,
    ) -> Result<Option<LogoutKind>, crate::SharedStateError> {
        if let Some(kind) = self.0.logouts.logout_of(session) {
            return Ok(Some(kind));
        }
        if !self.0.shared.shares_logouts() {
            return Ok(None);
        }
        self.0
            .shared
            .logged_out(session, self.0.sessions.sealer())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::Claims;

    const ISS: &str = "https://id.example.com";

    fn session(sid: Option<&str>, began: i64) -> AuthSession {
        let mut claims = Claims::default()
            .with("sub", serde_json::json!("alice"))
            .with("iss", serde_json::json!(ISS));
        if let Some(sid) = sid {
            claims = claims.with("sid", serde_json::json!(sid));
        }
        AuthSession {
            claims,
            authenticated_at: began,
            ..AuthSession::bare()
        }
    }

    /// A `sid` logout ends the sessions of that `sid` that began at or before it, not
    /// a sign-in two seconds later with the same `sid` (a provider that kept its
    /// session); in this process and as read from Redis.
    #[test]
    fn rp_sid_logout_spares_a_later_sign_in_with_the_same_sid() {
        let r = LogoutRegistry::default();
        r.record(LogoutRegistry::key_sid(ISS, "s1"), 100, 0);
        assert!(r.is_logged_out(&session(Some("s1"), 100)));
        assert!(r.is_logged_out(&session(Some("s1"), 90)));
        assert!(
            !r.is_logged_out(&session(Some("s1"), 102)),
            "signed in after"
        );
        assert!(!r.is_logged_out(&session(Some("s2"), 50)), "another sid");
        assert!(LogoutRegistry::ends(
            &session(Some("s1"), 90),
            None,
            None,
            Some(100)
        ));
        assert!(!LogoutRegistry::ends(
            &session(Some("s1"), 102),
            None,
            None,
            Some(100)
        ));
    }

    #[test]
    fn rp_backchannel_logout_token_replayed_has_no_effect() {
        let r = LogoutRegistry::default();
        assert!(r.first_use("j1", 200, 100));
        assert!(!r.first_use("j1", 200, 150), "a replay before exp");
        assert!(r.first_use("j2", 200, 150));
        assert!(r.first_use("j1", 400, 201), "forgotten once expired");
    }

    #[test]
    fn a_logout_with_sid_and_sub_ends_that_sid_and_the_sub_sessions_without_sid() {
        let r = LogoutRegistry::default();
        r.record(LogoutRegistry::key_sid(ISS, "s1"), 100, 0);
        r.record(LogoutRegistry::key_sub_without_sid(ISS, "alice"), 100, 0);
        assert!(r.is_logged_out(&session(Some("s1"), 90)));
        assert!(r.is_logged_out(&session(None, 90)), "alice without sid");
        assert!(
            !r.is_logged_out(&session(Some("s2"), 90)),
            "alice's other sid"
        );
        assert!(!r.is_logged_out(&session(None, 101)), "began after");
        assert!(LogoutRegistry::ends(
            &session(None, 90),
            None,
            Some(100),
            None
        ));
        assert!(!LogoutRegistry::ends(
            &session(Some("s2"), 90),
            None,
            Some(100),
            None
        ));
        assert!(LogoutRegistry::ends(
            &session(Some("s2"), 90),
            None,
            None,
            Some(100)
        ));
    }

    #[test]
    fn a_logged_out_sub_ends_only_sessions_that_began_before() {
        let r = LogoutRegistry::default();
        r.record(LogoutRegistry::key_sub(ISS, "alice"), 100, 0);
        assert!(r.is_logged_out(&session(None, 90)));
        assert!(!r.is_logged_out(&session(None, 101)));
    }

    /// Back-channel logout while Redis is down: the logout cannot be recorded where
    /// every instance reads it, so it is refused as unavailable (the route's 503, which
    /// the provider retries), not accepted and half done; once Redis is back, the same
    /// token (the provider's retry) is accepted, not taken for a replay.
    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn rp_backchannel_logout_while_redis_is_down_is_unavailable() {
        use jsonwebtoken::{EncodingKey, Header, encode};
        let jwks = include_str!("../jose/testdata/jwks.json");
        let app =
            axum::Router::new().route("/jwks", axum::routing::get(move || async move { jwks }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut redis = provider_harness::RedisServer::start();
        let url = |p: &str| url::Url::parse(&format!("{issuer}{p}")).expect("url");
        let redis_url = redis.url();
        let config_for_redis = || {
            crate::AuthConfig::builder(&issuer, "client", "http://127.0.0.1:3000")
                .with_endpoints(crate::ProviderEndpoints::new(
                    url("/authorize"),
                    url("/token"),
                    url("/jwks"),
                ))
                .with_redis_url(&redis_url)
                .with_redis_timeout(std::time::Duration::from_millis(300))
                .with_app_secret_hex(
                    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                )
                .build()
                .expect("config")
        };
        let auth = Auth::discover(config_for_redis()).await.expect("auth");
        let now = auth.0.config.clock.now_secs();
        let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("rsa1".into());
        header.typ = Some("logout+jwt".into());
        let claims = serde_json::json!({
            "iss": issuer, "aud": "client", "iat": now, "exp": now + 120, "jti": "j-down",
            "sid": "s-1", "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
        });
        let key =
            EncodingKey::from_rsa_pem(include_bytes!("../jose/testdata/rsa.pem")).expect("key");
        let body = format!(
            "logout_token={}",
            encode(&header, &claims, &key).expect("sign")
        );

        redis.stop();
        match auth.backchannel_logout(body.as_bytes()).await {
            Err(BackchannelError::Unavailable(crate::Outage::SharedState(_))) => {}
            other => panic!("expected Unavailable(SharedState), got {other:?}"),
        }
        let r = auth.backchannel_response(body.as_bytes()).await;
        assert_eq!(r.status(), http::StatusCode::SERVICE_UNAVAILABLE);

        redis.restart();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            match auth.backchannel_logout(body.as_bytes()).await {
                Ok(()) => break,
                Err(BackchannelError::Unavailable(why)) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "Redis is back, the logout still fails: {why}"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("the retry must be accepted, got {e:?}"),
            }
        }
        // The pool's connections come back one by one after the restart, and a command
        // sent on one still reconnecting times out (300 ms here): the steps below need
        // Redis whole, so wait until eight pings in a row (every connection, twice)
        // answer.
        let mut answered = 0;
        while answered < 8 {
            let ping = auth.0.shared.ping().expect("Redis");
            if ping.await.is_ok() {
                answered += 1;
            } else {
                answered = 0;
                assert!(
                    std::time::Instant::now() < deadline,
                    "Redis never came back whole"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        // The logout is recorded in Redis: another instance (its own process, nothing in
        // its local registry) sees a session of that `sid` that began before it as over.
        let other = Auth::discover(config_for_redis()).await.expect("auth");
        let mut before = session(Some("s-1"), now - 10);
        before.claims = before.claims.with("iss", serde_json::json!(issuer));
        assert!(matches!(
            other.logged_out(&before).await,
            Ok(Some(LogoutKind::Backchannel))
        ));
        assert!(matches!(
            auth.logged_out(&before).await,
            Ok(Some(LogoutKind::Backchannel))
        ));

        // A front-channel logout is recorded the same way, with its kind: the other
        // instance ends that sid's session as a front-channel logout.
        let mut front = session(Some("s-2"), now - 10);
        front.claims = front.claims.with("iss", serde_json::json!(issuer));
        assert!(matches!(other.logged_out(&front).await, Ok(None)));
        let query = format!("iss={}&sid=s-2", urlencoding(&issuer));
        auth.frontchannel_logout_with(auth.0.provider_index(None), &query)
            .await
            .expect("front-channel logout");
        assert!(matches!(
            other.logged_out(&front).await,
            Ok(Some(LogoutKind::Frontchannel))
        ));

        // A provider removed while the app runs on one instance: the other (which
        // never served it) reads its sessions that began before as ended by the removal.
        let corp = || {
            crate::ProviderConfig::builder("corp", &issuer, "client")
                .with_client_secret("secret")
                .with_endpoints(crate::ProviderEndpoints::new(
                    url("/authorize"),
                    url("/token"),
                    url("/jwks"),
                ))
        };
        let mut of_corp = session(Some("s-3"), now - 10);
        of_corp.provider = Some("corp".into());
        auth.add_provider(corp()).await.expect("added");
        assert!(matches!(other.logged_out(&of_corp).await, Ok(None)));
        assert!(auth.remove_provider("corp").await.expect("recorded"));
        assert!(matches!(
            other.logged_out(&of_corp).await,
            Ok(Some(LogoutKind::ProviderRemoved))
        ));
        redis.stop();
        assert!(matches!(
            auth.frontchannel_logout_with(auth.0.provider_index(None), &query)
                .await,
            Err(FrontchannelError::Unavailable(_))
        ));
        // Removed while Redis is down: stopped here all the same, and said so.
        auth.add_provider(corp()).await.expect("added again");
        assert!(auth.remove_provider("corp").await.is_err());
        assert!(auth.added_providers().is_empty());
    }

    #[cfg(feature = "redis")]
    fn urlencoding(s: &str) -> String {
        url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }

    /// A front-channel logout needs `iss` and `sid`, once each, and `iss` must be the
    /// provider's: otherwise refused and nothing recorded. Accepted, it ends that
    /// sid's sessions that began before it, reported as a front-channel logout, and not
    /// a later sign-in, another sid or another issuer's session.
    #[tokio::test]
    async fn rp_frontchannel_logout_without_sid_or_of_another_issuer_refused() {
        let url = |p: &str| url::Url::parse(&format!("{ISS}{p}")).expect("url");
        let config = crate::AuthConfig::builder(ISS, "client", "http://127.0.0.1:3000")
            .with_endpoints(crate::ProviderEndpoints::new(
                url("/authorize"),
                url("/token"),
                url("/jwks"),
            ))
            .build()
            .expect("config");
        let auth = Auth::discover(config).await.expect("auth");
        let route = auth.0.provider_index(None);
        let now = auth.0.config.clock.now_secs();
        let iss = "https%3A%2F%2Fid.example.com";
        for query in [
            String::new(),
            format!("iss={iss}"),
            "sid=s1".to_owned(),
            format!("iss={iss}&sid="),
            format!("iss={iss}&sid=s1&sid=s2"),
            "iss=https%3A%2F%2Fother.example&sid=s1".to_owned(),
            format!("iss={iss}&sid={}", "x".repeat(5000)),
        ] {
            let refused = auth.frontchannel_logout_with(route, &query).await;
            assert!(
                matches!(
                    refused,
                    Err(FrontchannelError::MissingParameter | FrontchannelError::IssuerMismatch)
                ),
                "{query}: {refused:?}"
            );
            assert_eq!(
                auth.0.logouts.logout_of(&session(Some("s1"), now - 5)),
                None
            );
        }
        auth.frontchannel_logout_with(route, &format!("iss={iss}&sid=s1"))
            .await
            .expect("accepted");
        assert_eq!(
            auth.0.logouts.logout_of(&session(Some("s1"), now - 5)),
            Some(LogoutKind::Frontchannel)
        );
        assert_eq!(
            auth.0.logouts.logout_of(&session(Some("s1"), now + 5)),
            None,
            "later"
        );
        assert_eq!(
            auth.0.logouts.logout_of(&session(Some("s2"), now - 5)),
            None
        );
        let mut elsewhere = session(Some("s1"), now - 5);
        elsewhere.claims = elsewhere
            .claims
            .with("iss", serde_json::json!("https://other.example"));
        assert_eq!(auth.0.logouts.logout_of(&elsewhere), None);
    }

    /// A marker's value keeps its kind; one written before kinds existed (the time
    /// alone) reads as back-channel.
    #[test]
    fn logout_markers_keep_their_kind() {
        for kind in [
            LogoutKind::Backchannel,
            LogoutKind::Frontchannel,
            LogoutKind::ProviderRemoved,
        ] {
            assert_eq!(LogoutKind::parse_marker(&kind.marker(42)), Some((42, kind)));
        }
        assert_eq!(
            LogoutKind::parse_marker("42"),
            Some((42, LogoutKind::Backchannel))
        );
        assert_eq!(LogoutKind::parse_marker("x frontchannel"), None);
    }
}

//! Logout: the RP-initiated logout URL, and back-channel logout (validate the token,
//! record the logout, end matching sessions when they are next used).

use std::collections::HashMap;
use std::sync::RwLock;

use url::Url;

use crate::auth::Auth;
use crate::session::AuthSession;
use crate::token::TokenError;

/// Longest logout token form body accepted.
pub(crate) const MAX_LOGOUT_BODY: usize = 32 * 1024;

/// Back-channel logouts seen, by `sid` or `sub`, with the time they happened. A session
/// that began before a matching logout is over. Records expire after the longest
/// session lifetime.
#[derive(Debug, Default)]
pub(crate) struct LogoutRegistry {
    entries: RwLock<HashMap<String, i64>>,
}

impl LogoutRegistry {
    pub(crate) fn key_sid(sid: &str) -> String {
        format!("sid:{sid}")
    }

    pub(crate) fn key_sub(sub: &str) -> String {
        format!("sub:{sub}")
    }

    pub(crate) fn record(&self, key: String, at: i64, forget_before: i64) {
        let mut map = self.entries.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, t| *t >= forget_before);
        let e = map.entry(key).or_insert(at);
        *e = (*e).max(at);
    }

    pub(crate) fn is_logged_out(&self, session: &AuthSession) -> bool {
        let map = self.entries.read().unwrap_or_else(|p| p.into_inner());
        if map.is_empty() {
            return false;
        }
        let began = session.authenticated_at;
        // A provider session that was logged out is over, whenever this login began
        // (no clock comparison between instances); by `sub`, logins before the logout.
        let by_sid = session
            .claims
            .sid()
            .is_some_and(|sid| map.contains_key(&Self::key_sid(sid)));
        by_sid
            || map
                .get(&Self::key_sub(session.claims.sub()))
                .is_some_and(|t| *t >= began)
    }
}

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
    /// The logout could not be recorded for the other instances (Redis down): the
    /// provider should retry.
    #[error("the logout could not be recorded: {0}")]
    Unavailable(String),
}

impl Auth {
    /// The URL to send the browser to after the local session was cleared: the
    /// provider's `end_session_endpoint` with `id_token_hint`, `client_id`,
    /// `post_logout_redirect_uri` and a `state`; or the post-logout URL itself when the
    /// provider has no such endpoint.
    pub fn logout_url(&self, session: Option<&AuthSession>) -> Url {
        let inner = &self.0;
        let post = &inner.config.post_logout_redirect_uri;
        let Some(end) = &inner.endpoints.end_session_endpoint else {
            return post.clone();
        };
        let mut url = end.clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = session {
                q.append_pair("id_token_hint", s.id_token.secret());
            }
            q.append_pair("client_id", &inner.config.client_id)
                .append_pair("post_logout_redirect_uri", post.as_str())
                .append_pair("state", oauth2::CsrfToken::new_random().secret());
        }
        url
    }

    /// Handles a back-channel logout request body (`application/x-www-form-urlencoded`
    /// with `logout_token`): validates the token and ends the matching sessions (by
    /// `sid` when present, else every session of `sub`).
    pub async fn backchannel_logout(&self, body: &[u8]) -> Result<(), BackchannelError> {
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
        let claims = self
            .0
            .verifier
            .logout_token(&token)
            .await
            .map_err(|e| match e {
                TokenError::Jwks(why) => BackchannelError::Unavailable(why),
                other => BackchannelError::Invalid(other),
            })?;
        let str_claim = |n: &str| {
            claims
                .get(n)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        let key = match (str_claim("sid"), str_claim("sub")) {
            (Some(sid), _) => LogoutRegistry::key_sid(sid),
            (None, Some(sub)) => LogoutRegistry::key_sub(sub),
            (None, None) => return Err(TokenError::MissingSidAndSub.into()),
        };
        let now = self.0.config.clock.now();
        let forget_before = now - self.0.config.session_lifetime.as_secs() as i64;
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.0.redis {
            redis
                .record_logout(&key, now, self.0.config.session_lifetime)
                .await
                .map_err(|e| BackchannelError::Unavailable(e.to_string()))?;
        }
        tracing::info!(by = %key.split(':').next().unwrap_or_default(), "back-channel logout accepted");
        self.0.logouts.record(key, now, forget_before);
        Ok(())
    }

    /// Whether a back-channel logout ended `session`: in this process, or (with Redis)
    /// on any instance. `Err` when Redis cannot be asked.
    pub(crate) async fn logged_out(&self, session: &AuthSession) -> Result<bool, String> {
        if self.0.logouts.is_logged_out(session) {
            return Ok(true);
        }
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.0.redis {
            let mut keys = vec![LogoutRegistry::key_sub(session.claims.sub())];
            if let Some(sid) = session.claims.sid() {
                keys.push(LogoutRegistry::key_sid(sid));
            }
            let found = redis.logouts(&keys).await.map_err(|e| e.to_string())?;
            let by_sub = found
                .first()
                .copied()
                .flatten()
                .is_some_and(|t| t >= session.authenticated_at);
            let by_sid = found.get(1).copied().flatten().is_some();
            return Ok(by_sub || by_sid);
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::{AccessToken, IdToken};
    use crate::token::Claims;

    fn session(sid: Option<&str>, began: i64) -> AuthSession {
        let mut claims = Claims::default().with("sub", serde_json::json!("alice"));
        if let Some(sid) = sid {
            claims = claims.with("sid", serde_json::json!(sid));
        }
        AuthSession {
            claims,
            id_token: IdToken::new("id"),
            access_token: AccessToken::new("at"),
            refresh_token: None,
            expires_at: None,
            authenticated_at: began,
            scope: None,
            last_seen: None,
            refresh_expires_at: None,
        }
    }

    #[test]
    fn a_logged_out_sid_ends_its_session_whatever_the_clocks_say() {
        let r = LogoutRegistry::default();
        r.record(LogoutRegistry::key_sid("s1"), 100, 0);
        // The login instance's clock ran ahead of the one that got the logout.
        assert!(r.is_logged_out(&session(Some("s1"), 105)));
        assert!(!r.is_logged_out(&session(Some("s2"), 50)));
    }

    #[test]
    fn a_logged_out_sub_ends_only_sessions_that_began_before() {
        let r = LogoutRegistry::default();
        r.record(LogoutRegistry::key_sub("alice"), 100, 0);
        assert!(r.is_logged_out(&session(None, 90)));
        assert!(!r.is_logged_out(&session(None, 101)));
    }
}

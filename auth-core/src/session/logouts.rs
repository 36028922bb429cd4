//! The back-channel logouts this process has seen, by issuer and `sid` or `sub`, and
//! the rule that says which sessions they end (Redis holds the same markers for every
//! instance: `session/redis.rs`).

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use crate::session::AuthSession;

/// Logout tokens whose `jti` is remembered at most (each until its `exp`); past it,
/// the ones closest to expiry are forgotten first. Only tokens signed by the provider
/// get here, so nobody else can fill it.
const MAX_REMEMBERED_JTIS: usize = 100_000;

/// Back-channel logouts seen, by `sid` or `sub`, with the time they apply to (the logout
/// token's `iat`): a session with a logged-out `sid`, or of a logged-out `sub`, is over
/// when it began at or before that time. Records expire after the longest session lifetime.
/// The `jti`s of accepted logout tokens are remembered until the tokens expire, so a
/// replayed token has no effect.
#[derive(Debug, Default)]
pub(crate) struct LogoutRegistry {
    entries: RwLock<HashMap<String, i64>>,
    jtis: Mutex<HashMap<String, i64>>,
}

impl LogoutRegistry {
    // Every key names the issuer: a user is (iss, sub), and a provider's logout must
    // never end another provider's session of the same `sub` or `sid`. An issuer has no
    // fragment, so the first `#` ends it.

    pub(crate) fn key_sid(iss: &str, sid: &str) -> String {
        format!("sid:{iss}#{sid}")
    }

    pub(crate) fn key_sub(iss: &str, sub: &str) -> String {
        format!("sub:{iss}#{sub}")
    }

    /// The sessions of `sub` that carry no `sid` (a token with both ends the session
    /// of that `sid` and these).
    pub(crate) fn key_sub_without_sid(iss: &str, sub: &str) -> String {
        format!("subnosid:{iss}#{sub}")
    }

    /// A logout token's `jti`, unique per issuer only.
    pub(crate) fn key_jti(iss: &str, jti: &str) -> String {
        format!("{iss}#{jti}")
    }

    /// True the first time `jti` is seen before `until` (when its token expires).
    pub(crate) fn first_use(&self, jti: &str, until: i64, now: i64) -> bool {
        let mut jtis = self.jtis.lock().unwrap_or_else(|p| p.into_inner());
        if jtis.get(jti).is_some_and(|t| *t >= now) {
            return false;
        }
        if jtis.len() >= MAX_REMEMBERED_JTIS {
            jtis.retain(|_, t| *t >= now);
        }
        if jtis.len() >= MAX_REMEMBERED_JTIS {
            let mut by_expiry: Vec<(i64, String)> =
                jtis.iter().map(|(j, t)| (*t, j.clone())).collect();
            by_expiry.sort_unstable();
            for (_, j) in by_expiry.into_iter().take(MAX_REMEMBERED_JTIS / 10) {
                jtis.remove(&j);
            }
        }
        jtis.insert(jti.to_owned(), until);
        true
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
        // A logout ends the sessions that began at or before it (its `iat`), by `sid`
        // as by `sub`: a provider that keeps its session (and so its `sid`) across a
        // logout starts a new sign-in that the old logout must not end.
        let sid = session.claims.sid();
        let iss = session.claims.iss();
        let ended = |key: String| map.get(&key).is_some_and(|t| *t >= began);
        let by_sid = sid.is_some_and(|sid| ended(Self::key_sid(iss, sid)));
        let sub = session.claims.sub();
        by_sid
            || ended(Self::key_sub(iss, sub))
            || (sid.is_none() && ended(Self::key_sub_without_sid(iss, sub)))
    }

    #[cfg(any(feature = "redis", test))]
    /// Whether recorded logout times (`by_sub`, `by_sub_without_sid`, `by_sid`, as
    /// read from Redis) end `session`: the same rule as [`Self::is_logged_out`].
    pub(crate) fn ends(
        session: &AuthSession,
        by_sub: Option<i64>,
        by_sub_without_sid: Option<i64>,
        by_sid: Option<i64>,
    ) -> bool {
        let began = session.authenticated_at;
        let since = |t: Option<i64>| t.is_some_and(|t| t >= began);
        since(by_sid)
            || since(by_sub)
            || (session.claims.sid().is_none() && since(by_sub_without_sid))
    }
}

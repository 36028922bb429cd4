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
    entries: RwLock<HashMap<String, (i64, LogoutKind)>>,
    jtis: Mutex<HashMap<String, i64>>,
}

/// Which logout recorded a marker: what a session it ends is reported as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum LogoutKind {
    /// A logout token (OpenID Connect Back-Channel Logout 1.0).
    #[default]
    Backchannel,
    /// The provider's page loading the app's front-channel route in an iframe.
    Frontchannel,
    /// The app removed the provider that signed the session in (the marker is the
    /// provider's id's).
    ProviderRemoved,
}

#[cfg(any(feature = "redis", test))]
impl LogoutKind {
    /// A marker's value in a shared store: the time, then the kind unless back-channel
    /// (what markers written before kinds existed hold).
    pub(crate) fn marker(self, at: i64) -> String {
        match self {
            Self::Backchannel => at.to_string(),
            Self::Frontchannel => format!("{at} frontchannel"),
            Self::ProviderRemoved => format!("{at} provider_removed"),
        }
    }

    /// Reads [`LogoutKind::marker`]'s value.
    pub(crate) fn parse_marker(value: &str) -> Option<(i64, Self)> {
        let mut parts = value.split(' ');
        let at = parts.next()?.parse().ok()?;
        let kind = match parts.next() {
            Some("frontchannel") => Self::Frontchannel,
            Some("provider_removed") => Self::ProviderRemoved,
            _ => Self::Backchannel,
        };
        Some((at, kind))
    }
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

    /// The sessions signed in by the provider of the app named `id` (removed while the
    /// app runs). An id is `[a-z0-9-]`: no other key's prefix.
    pub(crate) fn key_provider(id: &str) -> String {
        format!("provider:{id}")
    }

    /// The removal of `session`'s provider (`at`, as [`Self::key_provider`]'s marker
    /// gives it) ends it when it began at or before the removal.
    pub(crate) fn ended_by_removal(
        session: &AuthSession,
        at: Option<(i64, LogoutKind)>,
    ) -> Option<LogoutKind> {
        at.filter(|(t, _)| *t >= session.authenticated_at)
            .map(|_| LogoutKind::ProviderRemoved)
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

    #[cfg(test)]
    pub(crate) fn record(&self, key: String, at: i64, forget_before: i64) {
        self.record_as(key, at, LogoutKind::Backchannel, forget_before);
    }

    /// Records a logout of `kind` under `key` at `at` (the latest one of a key wins),
    /// forgetting those older than `forget_before`.
    pub(crate) fn record_as(&self, key: String, at: i64, kind: LogoutKind, forget_before: i64) {
        let mut map = self.entries.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (t, _)| *t >= forget_before);
        let e = map.entry(key).or_insert((at, kind));
        if at >= e.0 {
            *e = (at, kind);
        }
    }

    #[cfg(test)]
    pub(crate) fn is_logged_out(&self, session: &AuthSession) -> bool {
        self.logout_of(session).is_some()
    }

    /// The logout recorded in this process that ends `session`, if any.
    pub(crate) fn logout_of(&self, session: &AuthSession) -> Option<LogoutKind> {
        let map = self.entries.read().unwrap_or_else(|p| p.into_inner());
        if map.is_empty() {
            return None;
        }
        let sid = session.claims.sid();
        let iss = session.claims.iss();
        let sub = session.claims.sub();
        let at = |key: String| map.get(&key).copied();
        Self::ended_by(
            session,
            at(Self::key_sub(iss, sub)),
            at(Self::key_sub_without_sid(iss, sub)),
            sid.and_then(|sid| at(Self::key_sid(iss, sid))),
        )
        .or_else(|| {
            let removed = session.provider.as_deref().map(Self::key_provider);
            Self::ended_by_removal(session, removed.and_then(at))
        })
    }

    /// Which of the recorded logouts (`by_sub`, `by_sub_without_sid`, `by_sid`: time
    /// and kind, in this process or as read from Redis) ends `session`. A logout ends
    /// the sessions that began at or before it (its `iat`), by `sid` as by `sub`: a
    /// provider that keeps its session (and so its `sid`) across a logout starts a new
    /// sign-in that the old logout must not end.
    pub(crate) fn ended_by(
        session: &AuthSession,
        by_sub: Option<(i64, LogoutKind)>,
        by_sub_without_sid: Option<(i64, LogoutKind)>,
        by_sid: Option<(i64, LogoutKind)>,
    ) -> Option<LogoutKind> {
        let began = session.authenticated_at;
        let since = |m: Option<(i64, LogoutKind)>| m.filter(|(t, _)| *t >= began).map(|(_, k)| k);
        since(by_sid).or_else(|| since(by_sub)).or_else(|| {
            session
                .claims
                .sid()
                .is_none()
                .then(|| since(by_sub_without_sid))
                .flatten()
        })
    }

    #[cfg(test)]
    /// Whether back-channel logout times end `session` ([`Self::ended_by`]).
    pub(crate) fn ends(
        session: &AuthSession,
        by_sub: Option<i64>,
        by_sub_without_sid: Option<i64>,
        by_sid: Option<i64>,
    ) -> bool {
        let back = |t: Option<i64>| t.map(|t| (t, LogoutKind::Backchannel));
        Self::ended_by(
            session,
            back(by_sub),
            back(by_sub_without_sid),
            back(by_sid),
        )
        .is_some()
    }
}

//! The signed-in session: what the adapters keep in their framework's session store.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

pub(crate) mod cookie;
pub(crate) mod logouts;
pub(crate) mod memory;
#[cfg(feature = "redis")]
pub(crate) mod redis;
#[cfg(feature = "redis")]
pub(crate) mod redis_cache;
pub(crate) mod seal;
pub(crate) mod settings;
pub(crate) mod shared;
pub(crate) mod store;

use crate::clock::at_epoch_secs;
use crate::jose::Claims;
use crate::jose::secret::{AccessToken, IdToken, RefreshToken};

/// A map keyed by session ids or store keys. Those are random 128-bit values this
/// crate makes (or keyed hashes of them), never chosen by a client (one only looks up,
/// and a lookup cannot grow a bucket), so a fast seeded hash serves them (foldhash,
/// what `hashbrown` uses by default); the standard SipHash cost each signed-in
/// request about 240 instructions of its lookup.
pub(crate) type IdMap<V> =
    std::collections::HashMap<tower_sessions_core::session::Id, V, foldhash::fast::RandomState>;

/// A signed-in user's session: validated claims and the tokens. Adapters store it in
/// their server-side session (never in a readable cookie) under [`AuthSession::KEY`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthSession {
    pub(crate) claims: Claims,
    pub(crate) id_token: IdToken,
    pub(crate) access_token: AccessToken,
    #[serde(default)]
    pub(crate) refresh_token: Option<RefreshToken>,
    /// Access-token expiry, seconds since the epoch.
    #[serde(default)]
    pub(crate) expires_at: Option<i64>,
    /// When the user signed in (our clock), seconds since the epoch.
    pub(crate) authenticated_at: i64,
    #[serde(default)]
    pub(crate) scope: Option<String>,
    /// When the session was last used, as recorded (seconds since the epoch).
    #[serde(default)]
    pub(crate) last_seen: Option<i64>,
    /// When the refresh token expires, if the provider said.
    #[serde(default)]
    pub(crate) refresh_expires_at: Option<i64>,
    /// The organization, roles and permissions the provider stated, read at sign-in
    /// and at every refresh.
    #[serde(default)]
    pub(crate) access: crate::session::Access,
    /// The id of the provider that signed the user in (`None`: the one provider of a
    /// single-provider app).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) provider: Option<String>,
    /// The session's DPoP key (RFC 9449), when its tokens are bound to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dpop_key: Option<crate::jose::dpop::DpopKey>,
    /// The session's handle (set when it is stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) handle: Option<Handle>,
    /// The app's user id and data, and the browser's user agent (none: no allocation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) app: Option<Box<AppMeta>>,
}

/// A session's handle: 128 bits of a keyed hash of its store key, kept inline (a
/// session costs no allocation for it), written as base64url.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Handle(pub(crate) [u8; 16]);

impl std::fmt::Display for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use base64::Engine as _;
        f.write_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handle({self})")
    }
}

impl std::str::FromStr for Handle {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| ())?;
        Ok(Self(bytes.try_into().map_err(|_| ())?))
    }
}

impl Serialize for Handle {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Handle {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|()| serde::de::Error::custom("not a session handle"))
    }
}

/// What the app keeps in a session (from its sign-in hook), and the user agent the
/// session was created from.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct AppMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_id: Option<String>,
    /// The app's data, as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_agent: Option<String>,
}

/// The app data of a session does not read as the type asked for (an app upgrade
/// changed it): treat the user as signed out.
#[derive(Debug, thiserror::Error)]
#[error("the session's app data does not read as this type: {0}")]
pub struct AppDataError(#[source] serde_json::Error);

impl AuthSession {
    /// The key under which adapters store the session.
    pub const KEY: &'static str = "auth.session";

    /// The user's validated ID-token claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The id of the provider that signed the user in (`None`: the one provider of a
    /// single-provider app). A user is (`iss`, `sub`), never `sub` alone.
    pub fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }

    /// Adds the session's access token to `request` at time `now` (seconds since the
    /// epoch): what [`Auth::authorize`](crate::Auth::authorize) does with its clock.
    pub(crate) fn authorize_at<B>(&self, request: &mut http::Request<B>, now: i64) {
        let token = self.access_token.secret();
        let scheme = match &self.dpop_key {
            None => "Bearer",
            Some(key) => {
                let url = request.uri().to_string();
                let proof = key.proof(request.method().as_str(), &url, None, Some(token), now);
                if let Ok(v) = http::HeaderValue::try_from(proof) {
                    request.headers_mut().insert("dpop", v);
                }
                "DPoP"
            }
        };
        if let Ok(mut v) = http::HeaderValue::try_from(format!("{scheme} {token}")) {
            v.set_sensitive(true);
            request.headers_mut().insert(http::header::AUTHORIZATION, v);
        }
    }

    /// Whether the session's tokens are bound to a DPoP key (RFC 9449).
    pub fn is_dpop_bound(&self) -> bool {
        self.dpop_key.is_some()
    }

    /// The subject (the provider's user id).
    pub fn sub(&self) -> &str {
        self.claims.sub()
    }

    /// The current access token.
    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    /// The raw ID token.
    pub fn id_token(&self) -> &IdToken {
        &self.id_token
    }

    /// Whether a refresh token is held.
    pub fn has_refresh_token(&self) -> bool {
        self.refresh_token.is_some()
    }

    /// When the access token expires, if the provider said.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at.map(at_epoch_secs)
    }

    /// When the user signed in (the app's clock).
    pub fn authenticated_at(&self) -> SystemTime {
        at_epoch_secs(self.authenticated_at)
    }

    /// When the session was last used, as recorded (at most a tenth of the idle
    /// timeout ago).
    pub fn last_seen(&self) -> SystemTime {
        at_epoch_secs(self.last_seen_secs())
    }

    /// [`AuthSession::last_seen`], in seconds since the epoch.
    pub(crate) fn last_seen_secs(&self) -> i64 {
        self.last_seen.unwrap_or(self.authenticated_at)
    }

    /// Granted scopes, as the token endpoint returned them.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The issuer that signed the user in: a user is `(iss, sub)`, never `sub` alone.
    pub fn iss(&self) -> &str {
        self.claims.iss()
    }

    /// The user's organization, where the provider kind puts it (Scalekit `oid`,
    /// WorkOS and Auth0 `org_id`, Keycloak `organization`, Entra `tid`, Google `hd`) or
    /// in the claim the app named.
    pub fn organization(&self) -> Option<&str> {
        self.access.organization.as_deref()
    }

    /// The user's roles, from the ID token and the access token, where the provider
    /// kind puts them or in the claim the app named.
    pub fn roles(&self) -> &[String] {
        &self.access.roles
    }

    /// The user's permissions (Scalekit, WorkOS and Auth0 `permissions`), or from the
    /// claim the app named.
    pub fn permissions(&self) -> &[String] {
        &self.access.permissions
    }

    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.access.roles.iter().any(|r| r == role)
    }

    /// Whether the user has `permission`.
    pub fn has_permission(&self, permission: &str) -> bool {
        self.access.permissions.iter().any(|p| p == permission)
    }

    /// When the user last authenticated at the provider: the ID token's `auth_time`
    /// when it has one, else when this session began.
    pub fn auth_time(&self) -> SystemTime {
        at_epoch_secs(self.auth_time_secs())
    }

    /// [`AuthSession::auth_time`], in seconds since the epoch.
    pub(crate) fn auth_time_secs(&self) -> i64 {
        self.access.auth_time.unwrap_or(self.authenticated_at)
    }

    /// How the user authenticated (the ID token's `acr`), if the provider said.
    pub fn acr(&self) -> Option<&str> {
        self.access.acr.as_deref()
    }

    /// The app's own id of the user, as its sign-in hook gave it
    /// ([`SignInDecision::with_user_id`](crate::SignInDecision::with_user_id)).
    pub fn user_id(&self) -> Option<&str> {
        self.app.as_ref()?.user_id.as_deref()
    }

    /// The app's data, as its sign-in hook gave it
    /// ([`SignInDecision::with_app_data`](crate::SignInDecision::with_app_data)), read
    /// as `T`; `Ok(None)` when it gave none.
    ///
    /// # Errors
    /// When the data does not read as `T` (stored by an older version of the app):
    /// treat the user as signed out (the adapters' app-data extractors do).
    pub fn app_data<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, AppDataError> {
        self.app
            .as_ref()
            .and_then(|a| a.data.as_deref())
            .map(serde_json::from_str)
            .transpose()
            .map_err(AppDataError)
    }

    /// The session's handle: opaque and stable, never usable as a session cookie. It
    /// names the session in events, in [`Auth::sessions_of`](crate::Auth::sessions_of)
    /// and to [`Auth::end_session_by_handle`](crate::Auth::end_session_by_handle).
    pub fn handle(&self) -> Option<String> {
        self.handle.map(|h| h.to_string())
    }

    /// The user agent of the browser the session was created from (at most 256
    /// characters).
    pub fn user_agent(&self) -> Option<&str> {
        self.app.as_ref()?.user_agent.as_deref()
    }

    /// The app's part of the session, made when first needed.
    pub(crate) fn app_mut(&mut self) -> &mut AppMeta {
        self.app.get_or_insert_with(Default::default)
    }
}

/// What a refresh gave, as a protocol's refresh call made it (and as an instance
/// publishes it to the others through the shared state).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Refreshed {
    pub(crate) access_token: AccessToken,
    pub(crate) refresh_token: Option<RefreshToken>,
    /// A new ID token and its validated claims, when the provider sent one.
    pub(crate) id_token: Option<(IdToken, Claims)>,
    pub(crate) expires_at: Option<i64>,
    #[serde(default)]
    pub(crate) refresh_expires_at: Option<i64>,
    pub(crate) scope: Option<String>,
    /// The organization, roles and permissions as the new tokens state them.
    #[serde(default)]
    pub(crate) access: Option<Access>,
}

/// The organization, roles and permissions of a user, as the provider stated them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Access {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) organization: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) permissions: Vec<String>,
    /// The ID token's `auth_time`: when the user last authenticated at the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) auth_time: Option<i64>,
    /// The ID token's `acr`: how the user authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) acr: Option<String>,
}

#[cfg(test)]
impl AuthSession {
    /// A session with no claims, access token `at` and nothing else, for tests.
    pub(crate) fn bare() -> Self {
        Self {
            claims: Claims::default(),
            id_token: IdToken::new("id"),
            access_token: AccessToken::new("at"),
            refresh_token: None,
            expires_at: None,
            authenticated_at: 0,
            scope: None,
            last_seen: None,
            refresh_expires_at: None,
            access: Default::default(),
            provider: None,
            dpop_key: None,
            handle: None,
            app: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sessions_stored_before_claims_were_kept_compact() {
        // A session as serialized by 0.1.0-dev before the compact `Claims`.
        let stored = r#"{"claims":{"sub":"alice","sid":"s-1","email":"a@example.com",
            "name":"Alice","roles":["admin"]},"id_token":"h.p.s","access_token":"at",
            "refresh_token":"rt","expires_at":10,"authenticated_at":1,"scope":null,
            "last_seen":2,"refresh_expires_at":null}"#;
        let s: AuthSession = serde_json::from_str(stored).expect("old session");
        assert_eq!((s.sub(), s.claims().sid()), ("alice", Some("s-1")));
        assert_eq!(s.claims().get("roles"), Some(serde_json::json!(["admin"])));
        // And it is written back in the same shape.
        let again = serde_json::to_value(&s).expect("serialize");
        assert_eq!(again["claims"]["email"], "a@example.com");
    }

    #[test]
    fn debug_never_prints_tokens() {
        let s = AuthSession {
            id_token: IdToken::new("id.token.SECRET1"),
            access_token: AccessToken::new("SECRET2"),
            refresh_token: Some(RefreshToken::new("SECRET3")),
            expires_at: Some(1),
            ..AuthSession::bare()
        };
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("SECRET"), "{dbg}");
        // Stored server side, the tokens do serialize (the store needs them).
        assert!(serde_json::to_string(&s).expect("json").contains("SECRET3"));
    }
}

#[cfg(test)]
mod time_tests {
    use crate::clock::epoch_secs;
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::web::adapter::Requirement;

    #[test]
    fn public_times_are_system_times_of_the_stored_seconds() {
        for secs in [0, 1, 1_800_000_000, -5] {
            assert_eq!(epoch_secs(at_epoch_secs(secs)), secs);
        }
        let s = AuthSession {
            authenticated_at: 1_800_000_000,
            last_seen: Some(1_800_000_060),
            expires_at: Some(1_800_000_300),
            ..AuthSession::bare()
        };
        let t = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(s.authenticated_at(), t(1_800_000_000));
        assert_eq!(s.last_seen(), t(1_800_000_060));
        assert_eq!(s.expires_at(), Some(t(1_800_000_300)));
        assert_eq!(s.auth_time(), t(1_800_000_000), "no auth_time: the sign-in");
    }

    /// `signed_in_within` counts whole seconds (as tokens carry times): a sign-in
    /// exactly `max_age` ago meets it, one second more does not, and one dated in the
    /// future (clock skew) counts as just now.
    #[test]
    fn signed_in_within_is_measured_in_whole_seconds() {
        let mut s = AuthSession {
            authenticated_at: 1_700_000_000,
            ..AuthSession::bare()
        };
        s.access.auth_time = Some(1_800_000_000);
        let within = Requirement::signed_in_within(Duration::from_secs(300));
        let at = |secs: u64, millis: u64| {
            UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
        };
        assert!(within.is_met_by(&s, at(1_800_000_300, 999)));
        assert!(!within.is_met_by(&s, at(1_800_000_301, 0)));
        assert!(within.is_met_by(&s, at(1_799_999_990, 0)));
    }

    /// Step-up needs the provider's `auth_time`: a session without one (an SSO sign-in
    /// with no prompt) does not meet `signed_in_within`, even one that began a second
    /// ago (before, the session's own start stood in for it).
    #[test]
    fn rp_signed_in_within_without_auth_time_not_met() {
        let s = AuthSession {
            authenticated_at: 1_800_000_000,
            ..AuthSession::bare()
        };
        assert_eq!(s.access.auth_time, None);
        let within = Requirement::signed_in_within(Duration::from_secs(300));
        assert!(!within.is_met_by(&s, UNIX_EPOCH + Duration::from_secs(1_800_000_001)));
    }

    /// A role scoped to a provider or an organization counts only there: a tenant of a
    /// multi-tenant provider (or another provider) granting `admin` does not pass.
    #[test]
    fn rp_scoped_role_granted_elsewhere_not_met() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut s = AuthSession {
            provider: Some("partner".into()),
            ..AuthSession::bare()
        };
        s.access.roles = vec!["admin".into()];
        s.access.organization = Some("org_partner".into());
        assert!(Requirement::role("admin").is_met_by(&s, now));
        assert!(!Requirement::role_from(Some("corp"), "admin").is_met_by(&s, now));
        assert!(Requirement::role_from(Some("partner"), "admin").is_met_by(&s, now));
        assert!(!Requirement::role_in("org_corp", "admin").is_met_by(&s, now));
        assert!(Requirement::role_in("org_partner", "admin").is_met_by(&s, now));
        assert!(!Requirement::role_in("org_partner", "owner").is_met_by(&s, now));
    }
}

//! What the app is told as it happens ([`AuthConfigBuilder::with_event_hook`](crate::AuthConfigBuilder::with_event_hook)):
//! refusals with their typed reasons, and a session's life (signed in, refreshed,
//! signed out, ended), for an audit trail. No event carries a token or a cookie value.

use serde::Serialize;

use crate::session::AuthSession;

/// What happened. Refusals carry their typed reason; session events say whose
/// session it was ([`SessionEvent`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthEvent<'a> {
    /// A sign-in was refused at the callback (a protocol check failed).
    LoginRefused(&'a crate::CallbackError),
    /// A bearer token was refused.
    BearerRefused(&'a crate::BearerError),
    /// A back-channel logout request was refused.
    BackchannelLogoutRefused(&'a crate::BackchannelError),
    /// A sign-in completed: the session was created.
    SignedIn(&'a SessionEvent),
    /// The app's sign-in hook refused the user (with the app's reason), or failed
    /// (`sign_in_hook_failed`): no session was created.
    SignInRefused(&'a SessionEvent, Option<&'a str>),
    /// The user signed out (RP-initiated logout).
    SignedOut(&'a SessionEvent),
    /// The session's tokens were refreshed at the provider.
    Refreshed(&'a SessionEvent),
    /// The session ended other than by the user's sign-out.
    SessionEnded(&'a SessionEvent, SessionEndReason),
}

/// Whose session an event is about: never a token or a cookie value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionEvent {
    provider: Option<String>,
    sub: String,
    user_id: Option<String>,
    session: Option<String>,
}

impl SessionEvent {
    pub(crate) fn of(session: &AuthSession) -> Self {
        Self {
            provider: session.provider.clone(),
            sub: session.sub().to_owned(),
            user_id: session.user_id().map(str::to_owned),
            session: session.handle(),
        }
    }

    /// The id of the provider that signed the user in (`None`: the one provider of a
    /// single-provider app).
    pub fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }

    /// The provider's id of the user.
    pub fn sub(&self) -> &str {
        &self.sub
    }

    /// The app's id of the user, when its sign-in hook gave one.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// The session's handle ([`AuthSession::handle`]): opaque, stable, never usable
    /// as a session cookie. `None` before the session exists (a refused sign-in).
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }
}

/// Why a session ended ([`AuthEvent::SessionEnded`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEndReason {
    /// The provider's back-channel logout.
    BackchannelLogout,
    /// The provider's front-channel logout.
    FrontchannelLogout,
    /// The app ended every session of the user ([`Auth::end_sessions_of`](crate::Auth::end_sessions_of)).
    Admin,
    /// The user (or the app) ended this one session by its handle.
    Revoked,
    /// Its lifetime, or its refresh token's, is over.
    Expired,
    /// Unused for longer than the idle timeout.
    Idle,
    /// The provider refused to refresh its tokens.
    RefreshRefused,
    /// Its provider was removed while the app ran ([`Auth::remove_provider`](crate::Auth::remove_provider)).
    ProviderRemoved,
}

impl SessionEndReason {
    /// The reason as an audit trail names it (`backchannel_logout`, `admin`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BackchannelLogout => "backchannel_logout",
            Self::FrontchannelLogout => "frontchannel_logout",
            Self::Admin => "admin",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Idle => "idle",
            Self::RefreshRefused => "refresh_refused",
            Self::ProviderRemoved => "provider_removed",
        }
    }
}

/// An event as one line of an audit trail ([`AuthEvent::audit`]): serialize it (JSON)
/// and add the time. Never a token or a cookie value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AuditRecord<'a> {
    /// `signed_in`, `sign_in_refused`, `signed_out`, `refreshed`, `session_ended` or
    /// `bearer_refused`.
    pub event: &'static str,
    /// The provider's id (`None`: the one provider of a single-provider app).
    pub provider: Option<&'a str>,
    /// The provider's id of the user (`None` for a refused bearer token).
    pub sub: Option<&'a str>,
    /// The app's id of the user, when its sign-in hook gave one.
    pub user_id: Option<&'a str>,
    /// The session's handle.
    pub session: Option<&'a str>,
    /// Why: the session's end, the hook's refusal.
    pub reason: Option<&'a str>,
}

impl AuthEvent<'_> {
    /// A sign-out's provider and kind (`rp`, `backchannel`, `frontchannel`, `admin`,
    /// `revoked`), for `auth_sign_outs_total`; `None` for the other events (an expired
    /// session was not signed out).
    pub(crate) fn sign_out(&self) -> Option<(Option<&str>, &'static str)> {
        let (session, kind) = match self {
            AuthEvent::SignedOut(s) => (s, "rp"),
            AuthEvent::SessionEnded(s, reason) => match reason {
                SessionEndReason::BackchannelLogout => (s, "backchannel"),
                SessionEndReason::FrontchannelLogout => (s, "frontchannel"),
                SessionEndReason::Admin | SessionEndReason::ProviderRemoved => (s, "admin"),
                SessionEndReason::Revoked => (s, "revoked"),
                SessionEndReason::Expired
                | SessionEndReason::Idle
                | SessionEndReason::RefreshRefused => return None,
            },
            _ => return None,
        };
        Some((session.provider(), kind))
    }

    /// The event as an audit record, for the events an audit trail keeps (sign-ins,
    /// refused sign-ins, sign-outs, refreshes, ended sessions, refused bearer tokens);
    /// `None` for the protocol refusals (their typed reason is the event itself).
    pub fn audit(&self) -> Option<AuditRecord<'_>> {
        fn of<'a>(event: &'static str, s: &'a SessionEvent) -> AuditRecord<'a> {
            AuditRecord {
                event,
                provider: s.provider(),
                sub: Some(s.sub()),
                user_id: s.user_id(),
                session: s.session(),
                reason: None,
            }
        }
        Some(match self {
            AuthEvent::LoginRefused(_) | AuthEvent::BackchannelLogoutRefused(_) => return None,
            AuthEvent::BearerRefused(_) => AuditRecord {
                event: "bearer_refused",
                provider: None,
                sub: None,
                user_id: None,
                session: None,
                reason: None,
            },
            AuthEvent::SignedIn(s) => of("signed_in", s),
            AuthEvent::SignInRefused(s, reason) => AuditRecord {
                reason: *reason,
                ..of("sign_in_refused", s)
            },
            AuthEvent::SignedOut(s) => of("signed_out", s),
            AuthEvent::Refreshed(s) => of("refreshed", s),
            AuthEvent::SessionEnded(s, why) => AuditRecord {
                reason: Some(why.as_str()),
                ..of("session_ended", s)
            },
        })
    }
}

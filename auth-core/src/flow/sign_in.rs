//! The app's moment at sign-in: a hook called after every check of the callback and
//! before the session is created, which lets the user in (with the app's own user id
//! and data, sealed with the session) or refuses them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Auth;
use crate::flow::callback::CallbackError;
use crate::jose::Claims;
use crate::session::AuthSession;

/// Who is signing in, as the callback validated them: what the sign-in hook decides on.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SignIn {
    provider: Option<String>,
    claims: Claims,
    organization: Option<String>,
    roles: Vec<String>,
    permissions: Vec<String>,
}

impl SignIn {
    pub(crate) fn of(session: &AuthSession) -> Self {
        Self {
            provider: session.provider.clone(),
            claims: session.claims.clone(),
            organization: session.access.organization.clone(),
            roles: session.access.roles.clone(),
            permissions: session.access.permissions.clone(),
        }
    }

    /// The id of the provider that signed the user in (`None`: the one provider of a
    /// single-provider app).
    pub fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }

    /// The issuer: a user is (`iss`, `sub`), never `sub` alone.
    pub fn iss(&self) -> &str {
        self.claims.iss()
    }

    /// The provider's id of the user.
    pub fn sub(&self) -> &str {
        self.claims.sub()
    }

    /// The validated claims (the ID token's, with UserInfo's when it was asked at
    /// sign-in).
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The user's organization, as the provider stated it.
    pub fn organization(&self) -> Option<&str> {
        self.organization.as_deref()
    }

    /// The user's roles, as the provider stated them.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// The user's permissions, as the provider stated them.
    pub fn permissions(&self) -> &[String] {
        &self.permissions
    }
}

/// What the sign-in hook answers: let the user in (optionally with the app's user id
/// and data, kept in the session), or refuse them.
#[derive(Clone, Debug)]
#[must_use]
pub struct SignInDecision(Decision);

#[derive(Clone, Debug)]
enum Decision {
    Allow {
        user_id: Option<String>,
        data: Option<String>,
    },
    Deny(Option<String>),
}

impl SignInDecision {
    /// Let the user in.
    pub fn allow() -> Self {
        Self(Decision::Allow {
            user_id: None,
            data: None,
        })
    }

    /// Refuse the sign-in: 403 with the page code `sign_in_refused`, no session.
    pub fn deny() -> Self {
        Self(Decision::Deny(None))
    }

    /// Refuse the sign-in, with a reason the page shows the user (and the
    /// `SignInRefused` event carries). Keep it free of anything secret.
    pub fn deny_because(reason: impl Into<String>) -> Self {
        Self(Decision::Deny(Some(reason.into())))
    }

    /// The app's own id of the user, kept in the session ([`AuthSession::user_id`]) and
    /// named by the session's events.
    pub fn with_user_id(self, id: impl Into<String>) -> Self {
        match self.0 {
            Decision::Allow { data, .. } => Self(Decision::Allow {
                user_id: Some(id.into()),
                data,
            }),
            deny => Self(deny),
        }
    }

    /// Data of the app's, sealed with the session, kept across refreshes and instances
    /// and read back with [`AuthSession::app_data`]. Keep it small: it is in every
    /// session record.
    ///
    /// # Errors
    /// When `data` does not serialize to JSON.
    pub fn with_app_data<T: serde::Serialize>(self, data: &T) -> Result<Self, serde_json::Error> {
        let text = serde_json::to_string(data)?;
        Ok(match self.0 {
            Decision::Allow { user_id, .. } => Self(Decision::Allow {
                user_id,
                data: Some(text),
            }),
            deny => Self(deny),
        })
    }
}

/// The error a sign-in hook may return: the sign-in is refused with 503 (try again),
/// and nothing is created.
pub type SignInHookError = Box<dyn std::error::Error + Send + Sync>;

type HookFuture = Pin<Box<dyn Future<Output = Result<SignInDecision, SignInHookError>> + Send>>;

/// The hook of [`AuthConfigBuilder::with_sign_in_hook`](crate::AuthConfigBuilder::with_sign_in_hook).
#[derive(Clone)]
pub(crate) struct SignInHook {
    call: Arc<dyn Fn(SignIn) -> HookFuture + Send + Sync>,
    pub(crate) timeout: Duration,
}

impl std::fmt::Debug for SignInHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInHook")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// How long a sign-in hook may take by default.
pub(crate) const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(10);

impl SignInHook {
    pub(crate) fn new<F, Fut, E>(hook: F) -> Self
    where
        F: Fn(SignIn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<SignInDecision, E>> + Send + 'static,
        E: Into<SignInHookError>,
    {
        Self {
            call: Arc::new(move |s| {
                let fut = hook(s);
                Box::pin(async move { fut.await.map_err(Into::into) })
            }),
            timeout: DEFAULT_HOOK_TIMEOUT,
        }
    }
}

/// Why a sign-in hook did not decide: the sign-in is refused with 503.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignInHookFailure {
    /// The hook returned an error.
    #[error("the sign-in hook failed: {0}")]
    Failed(String),
    /// The hook panicked.
    #[error("the sign-in hook panicked")]
    Panicked,
    /// The hook took longer than its time-out.
    #[error("the sign-in hook took longer than {0:?}")]
    TimedOut(Duration),
}

impl Auth {
    /// Runs the app's sign-in hook on the validated `session`: `Ok` with the session
    /// to create (carrying the app's user id and data), or the refusal. The hook runs
    /// in a task of its own, so that a panic is caught and a time-out stops it.
    pub(crate) async fn run_sign_in_hook(
        &self,
        mut session: AuthSession,
    ) -> Result<AuthSession, CallbackError> {
        let Some(hook) = &self.0.config.sign_in_hook else {
            return Ok(session);
        };
        let task = tokio::spawn((hook.call)(SignIn::of(&session)));
        let abort = task.abort_handle();
        let decided = match tokio::time::timeout(hook.timeout, task).await {
            Ok(Ok(Ok(decision))) => Ok(decision),
            Ok(Ok(Err(e))) => Err(SignInHookFailure::Failed(e.to_string())),
            Ok(Err(join)) if join.is_panic() => Err(SignInHookFailure::Panicked),
            Ok(Err(_)) => Err(SignInHookFailure::Panicked),
            Err(_) => {
                abort.abort();
                Err(SignInHookFailure::TimedOut(hook.timeout))
            }
        };
        let event = crate::SessionEvent::of(&session);
        match decided {
            Ok(SignInDecision(Decision::Allow { user_id, data })) => {
                if user_id.is_some() || data.is_some() {
                    let app = session.app_mut();
                    app.user_id = user_id;
                    app.data = data;
                }
                Ok(session)
            }
            Ok(SignInDecision(Decision::Deny(reason))) => {
                tracing::info!(sub = %session.sub(), reason = ?reason, "sign-in refused by the app");
                self.emit(&crate::AuthEvent::SignInRefused(&event, reason.as_deref()));
                Err(CallbackError::SignInRefused(reason))
            }
            Err(failure) => {
                tracing::error!(error = %failure, "sign-in hook failed: the sign-in is refused");
                self.emit(&crate::AuthEvent::SignInRefused(
                    &event,
                    Some("sign_in_hook_failed"),
                ));
                Err(CallbackError::SignInHook(failure))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    /// An app with manual endpoints (nothing is fetched), `hook` as its sign-in hook
    /// (with a 200 ms time-out), reporting its events.
    async fn app<F, Fut>(hook: F) -> (Auth, Arc<Mutex<Vec<String>>>)
    where
        F: Fn(SignIn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<SignInDecision, SignInHookError>> + Send + 'static,
    {
        let url = |p: &str| url::Url::parse(&format!("http://127.0.0.1:9{p}")).expect("url");
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&events);
        let config =
            crate::AuthConfig::builder("http://127.0.0.1:9", "client", "http://127.0.0.1:3000")
                .with_endpoints(crate::ProviderEndpoints::new(
                    url("/authorize"),
                    url("/token"),
                    url("/jwks"),
                ))
                .with_sign_in_hook(hook)
                .with_sign_in_hook_timeout(Duration::from_millis(200))
                .with_event_hook(move |e| seen.lock().expect("events").push(format!("{e:?}")))
                .build()
                .expect("config");
        (crate::Auth::discover(config).await.expect("auth"), events)
    }

    fn alice() -> AuthSession {
        AuthSession {
            claims: Claims::default()
                .with("sub", serde_json::json!("alice"))
                .with("iss", serde_json::json!("http://127.0.0.1:9")),
            ..AuthSession::bare()
        }
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Mine {
        id: String,
    }

    #[tokio::test]
    async fn an_allowed_sign_in_keeps_the_apps_user_id_and_data() {
        let (auth, _) = app(|who: SignIn| async move {
            assert_eq!((who.sub(), who.iss()), ("alice", "http://127.0.0.1:9"));
            Ok(SignInDecision::allow()
                .with_user_id("usr_1")
                .with_app_data(&Mine { id: "m-1".into() })?)
        })
        .await;
        let session = auth.run_sign_in_hook(alice()).await.expect("allowed");
        assert_eq!(session.user_id(), Some("usr_1"));
        assert_eq!(
            session.app_data::<Mine>().expect("reads"),
            Some(Mine { id: "m-1".into() })
        );
        // Data of another shape (an app upgrade changed the type) does not read.
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Upgraded {
            tier: u8,
        }
        assert!(session.app_data::<Upgraded>().is_err());
        let plain = app(|_| async { Ok(SignInDecision::allow()) }).await.0;
        let session = plain.run_sign_in_hook(alice()).await.expect("allowed");
        assert!(session.user_id().is_none() && session.app.is_none());
    }

    #[tokio::test]
    async fn rp_sign_in_refused_by_the_hook_with_its_reason() {
        let (auth, events) =
            app(|_| async { Ok(SignInDecision::deny_because("user_blocked")) }).await;
        match auth.run_sign_in_hook(alice()).await {
            Err(CallbackError::SignInRefused(Some(reason))) => assert_eq!(reason, "user_blocked"),
            other => panic!("{other:?}"),
        }
        let events = events.lock().expect("events");
        assert!(
            events[0].starts_with("SignInRefused(") && events[0].contains("\"user_blocked\""),
            "{events:?}"
        );
    }

    /// A hook that errors, panics or hangs refuses the sign-in (503), with the failure
    /// named.
    #[tokio::test]
    async fn rp_a_failing_sign_in_hook_refuses_the_sign_in() {
        let (auth, _) = app(|_| async {
            Err::<SignInDecision, SignInHookError>("the database is down".into())
        })
        .await;
        assert!(matches!(
            auth.run_sign_in_hook(alice()).await,
            Err(CallbackError::SignInHook(SignInHookFailure::Failed(m))) if m == "the database is down"
        ));
        let (auth, _) = app(|who: SignIn| async move {
            if who.sub() == "alice" {
                panic!("a bug in the hook");
            }
            Ok(SignInDecision::allow())
        })
        .await;
        assert!(matches!(
            auth.run_sign_in_hook(alice()).await,
            Err(CallbackError::SignInHook(SignInHookFailure::Panicked))
        ));
        let (auth, events) = app(|_| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(SignInDecision::allow())
        })
        .await;
        let started = std::time::Instant::now();
        assert!(matches!(
            auth.run_sign_in_hook(alice()).await,
            Err(CallbackError::SignInHook(SignInHookFailure::TimedOut(_)))
        ));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(events.lock().expect("events")[0].contains("sign_in_hook_failed"));
    }
}

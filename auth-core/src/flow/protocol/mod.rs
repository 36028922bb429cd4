//! How a provider signs users in, renews their sessions and signs them out. The flows
//! (`flow/callback`, `flow/refresh`, `flow/logout`, `auth`'s authorization URL) do the
//! checks every provider shares and ask the provider's [`Protocol`] for the rest; no
//! flow asks which kind of provider it talks to.
//!
//! - [`oidc`]: OpenID Connect. The code gives an ID token; refresh keeps its rules;
//!   sign-out goes to the end-session endpoint with `id_token_hint`.
//! - [`workos`]: WorkOS User Management, OAuth 2.0 without OpenID Connect. The code is
//!   exchanged at WorkOS's `authenticate` API; the identity is the validated access
//!   token and the `user` object; sign-out is by the access token's `sid`.
//!
//! A new protocol is a variant here and a module beside these two.

pub(crate) mod oidc;
pub(crate) mod workos;

use url::Url;

use crate::auth::Auth;
use crate::flow::callback::CallbackError;
use crate::flow::pending::PendingLogin;
use crate::flow::refresh::RefreshError;
use crate::jose::secret::RefreshToken;
use crate::provider::config::ProviderConfig;
use crate::provider::presets::ProviderKind;
use crate::provider::state::{Discovered, ProviderState};
use crate::session::AuthSession;
use crate::session::Refreshed;

/// The protocol a provider speaks, chosen by its kind when it is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// OpenID Connect: every provider but one.
    OpenIdConnect,
    /// WorkOS User Management (OAuth 2.0 and WorkOS's API; no ID token).
    WorkosUserManagement,
}

impl ProviderConfig {
    /// The protocol this provider speaks (from its kind).
    pub(crate) fn protocol(&self) -> Protocol {
        Protocol::of(self.provider_kind)
    }
}

impl Protocol {
    /// The protocol of a provider kind.
    pub(crate) fn of(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::WorkosUserManagement => Self::WorkosUserManagement,
            ProviderKind::Generic
            | ProviderKind::Scalekit
            | ProviderKind::WorkosAuthkit
            | ProviderKind::Auth0
            | ProviderKind::Keycloak
            | ProviderKind::EntraId
            | ProviderKind::Google
            | ProviderKind::Okta => Self::OpenIdConnect,
        }
    }

    /// Whether the authorization request is an OpenID one (`scope` with `openid`,
    /// `nonce`); User Management's authorize endpoint takes neither.
    pub(crate) fn is_openid(self) -> bool {
        self == Self::OpenIdConnect
    }

    /// Whether sessions of this protocol can be moved to another of the user's
    /// organizations (`{prefix}/organization`).
    pub(crate) fn switches_organizations(self) -> bool {
        self == Self::WorkosUserManagement
    }

    /// The callback's second half, once the authorization response passed the checks
    /// every protocol shares (`state`, pending login, `iss`, `error`, `code`): the
    /// code exchanged, the tokens checked, the session made.
    pub(crate) async fn sign_in(
        self,
        auth: &Auth,
        provider: &ProviderState,
        discovered: &Discovered,
        pending: &PendingLogin,
        code: &str,
        now: i64,
    ) -> Result<AuthSession, CallbackError> {
        match self {
            Self::OpenIdConnect => {
                auth.oidc_sign_in(provider, discovered, pending, code, now)
                    .await
            }
            Self::WorkosUserManagement => {
                auth.workos_sign_in(provider, discovered, pending, code, now)
                    .await
            }
        }
    }

    /// One refresh call (the lock protocol around it is the flow's).
    pub(crate) async fn refresh(
        self,
        auth: &Auth,
        provider: &ProviderState,
        discovered: &Discovered,
        session: &AuthSession,
        refresh_token: &RefreshToken,
    ) -> Result<Refreshed, RefreshError> {
        match self {
            Self::OpenIdConnect => {
                auth.oidc_refresh(provider, discovered, session, refresh_token)
                    .await
            }
            Self::WorkosUserManagement => {
                auth.workos_refresh(provider, discovered, session, refresh_token, None)
                    .await
            }
        }
    }

    /// Where the browser goes to end the provider's session (`end`: its end-session
    /// endpoint), then comes back to `post`.
    pub(crate) fn end_session_url(
        self,
        config: &ProviderConfig,
        end: &Url,
        session: Option<&AuthSession>,
        post: &Url,
    ) -> Url {
        match self {
            Self::OpenIdConnect => oidc::end_session_url(config, end, session, post),
            Self::WorkosUserManagement => workos::logout_url(end, session, post),
        }
    }
}

//! # auth-core
//!
//! Framework-agnostic OpenID Connect sign-in for Rust web apps: the authorization-code
//! flow with PKCE, state and nonce; ID and access token validation against one cached
//! JWKS; refresh shared by concurrent requests; RP-initiated and back-channel logout.
//! The adapters (`auth-axum`, `auth-actix`) only translate requests and responses.
//!
//! Most apps use it through an adapter (`auth-axum`: `.merge(auth_router(auth))`,
//! `AuthUser`; `auth-actix`: `.wrap(auth_middleware(&auth))`, `AuthUser`). What an
//! adapter calls, in `http` types, is all there is to it:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use auth_core::{Auth, AuthConfig, Authenticated};
//!
//! // OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, APP_URL (or AuthConfig::builder).
//! let auth = Auth::discover(AuthConfig::from_env()?).await?;
//!
//! // The auth routes (/auth/login, /auth/callback, /auth/logout...) as one table, and
//! // what each answers.
//! let request = http::Request::get("/auth/login?return_to=/me").body(Vec::<u8>::new())?;
//! for route in auth.routes() {
//!     if route.path() == request.uri().path() {
//!         let answer = auth.respond(route.endpoint(), &request).await; // 303 to the provider
//!         println!("{}", answer.status());
//!     }
//! }
//!
//! // Who is signed in, from a request's `Cookie` headers: the session is loaded,
//! // checked (logout, lifetime) and refreshed when due.
//! let id = auth.session_id_from_headers(request.headers());
//! match auth.authenticate(id.as_ref()).await {
//!     Authenticated::User(user) => println!("signed in as {}", user.sub()),
//!     Authenticated::Anonymous => println!("send the browser to /auth/login"),
//!     Authenticated::Unavailable => println!("answer 503: the store or provider is down"),
//! }
//! # Ok(()) }
//! ```
//!
//! [`adapter`] is the whole contract for a framework of your own (a runnable example
//! there): every route is [`Auth::routes`] and [`Auth::respond`], and there is no other
//! public way into them. [`Auth::begin_login`] starts a login from the app's own code,
//! with options the app chooses (step-up `acr_values`, an organization); the callback
//! route completes it.
//!
//! Security defaults: PKCE S256, `state` and `nonce` on every login; tokens validated
//! when they arrive (`iss`, `aud`, `azp`, `exp`, `iat`, `nbf`, `nonce`) with an
//! allow-list of asymmetric algorithms; pending logins in encrypted, HttpOnly,
//! SameSite=Lax cookies; secrets redacted in `Debug`; no redirects followed by the HTTP
//! client; bounded sizes everywhere.
//!
//! Providers: [`Preset`] knows the issuer layout and login parameters of Scalekit,
//! WorkOS AuthKit, Auth0, Keycloak, Entra ID, Google and Okta. For development and
//! tests, the `auth-testkit` crate runs an OpenID provider in-process.
//!
//! | feature | what |
//! |---|---|
//! | `redis` | Redis as the store shared by several instances: sessions, back-channel logouts, single-flight refresh (`REDIS_URL`) |

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Errors that carry their sources have no `PartialEq`: tests compare them by `Debug`.
#[cfg(test)]
macro_rules! assert_debug_eq {
    ($got:expr, $want:expr $(, $($why:tt)+)?) => {{
        let (got, want) = ($got, $want);
        // Of one type.
        let _ = [&got, &want];
        assert_eq!(format!("{got:?}"), format!("{want:?}") $(, $($why)+)?)
    }};
}

// The layers, lowest first (ARCHITECTURE.md; `scripts/check-layers` keeps a lower one
// from naming a higher one): the base files (`clock`, `config_error`, `http_client`),
// `jose`, `session`, `provider`, then the app's own parts, which `Auth` composes:
// `flow`, `bearer`, `web`, `config`, `outage`, `auth`.
mod clock;
mod config_error;
mod http_client;

mod jose;

mod session;

mod provider;

mod auth;
mod bearer;
mod config;
mod flow;
mod outage;
mod telemetry;
mod web;

pub use auth::{Auth, LoginError, LoginStart};
pub use bearer::{BearerAuth, BearerError};
pub use clock::Clock;
pub use config::{
    AuditRecord, AuthConfig, AuthConfigBuilder, AuthEvent, SessionEndReason, SessionEvent,
};
pub use config_error::ConfigError;
pub use flow::app_token::{AppTokenError, AppTokenRequest, AppTokens, UserInfoError};
pub use flow::authenticate::Authenticated;
pub use flow::bff::{BodyError, ForwardBody, RemoteApi};
pub use flow::callback::CallbackError;
pub use flow::control::SessionInfo;
pub use flow::health::{Health, ProviderHealth, SharedHealth};
pub use flow::logout::{BackchannelError, FrontchannelError};
pub use flow::protocol::workos::SwitchOrganizationError;
pub use flow::refresh::RefreshError;
pub use flow::runtime::AddProviderError;
pub use flow::sign_in::{SignIn, SignInDecision, SignInHookError, SignInHookFailure};
pub use flow::source::{
    PROVIDER_SOURCE_INTERVAL, ProviderSource, ProviderSourceError, ProviderSync, SourceFuture,
};
pub use http_client::HttpError;
pub use jose::client_key::ClientKey;
pub use jose::dpop::{DpopKey, DpopProofError};
pub use jose::secret::{AccessToken, ClientSecret, IdToken, RefreshToken};
pub use jose::{Algorithm, Claims, JwksError, TokenError, VerifyError};
pub use outage::Outage;
pub use provider::authorize::{LoginOptionError, LoginOptions, Prompt};
pub use provider::config::{
    ClientAuthMethod, ProviderConfig, ProviderConfigBuilder, ProviderLink, ResponseMode,
    SecurityProfile,
};
pub use provider::discovery::{DiscoveryError, ProviderEndpoints};
pub use provider::presets::{Preset, ProviderKind, UnknownProviderKind};
pub use provider::token::{InvalidTokenResponse, TokenExchangeError};
pub use session::cookie::SessionCookie;
pub use session::memory::MemoryStore;
pub use session::shared::{FastPathStats, SharedStateError};
pub use session::store::{SessionId, SessionStore, SharedStore, StoreError};
pub use session::{AppDataError, AuthSession};
/// The store trait's crate: a custom store implements [`SessionStore`] with its
/// `session::{Id, Record}`. Re-exported (a 0.x crate in our API) because that trait is
/// the point: any tower-sessions store (Redis, SQL...) works unchanged.
pub use tower_sessions_core;
pub use web::adapter;
pub use web::request_cookies;
pub use web::return_to::sanitize_return_to;

/// Re-exported so adapters and users share one `http` version.
pub use http;

/// What the scale bench (`benches/scale.rs`) needs and no public API gives: filling a
/// store with a million sessions without a million sign-ins. Feature `bench-internals`
/// only; not part of the API.
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub mod __bench {
    use crate::{Auth, AuthSession, SessionId, StoreError};

    /// Stores a copy of `template` (a signed-in session) as `sub`'s, as a sign-in
    /// stores one (its record, the user's index), without the sign-in: its id.
    pub async fn store_copy(
        auth: &Auth,
        template: &AuthSession,
        sub: &str,
    ) -> Result<SessionId, StoreError> {
        let mut session = template.clone();
        session.claims = session.claims.with("sub", serde_json::json!(sub));
        let cookie = auth.start_session(None, &mut session).await?;
        SessionId::from_set_cookie(&cookie)
            .ok_or_else(|| StoreError::Decode("the new session's cookie".into()))
    }

    /// Stores the session of `id` again as a refresh does (announced to the other
    /// instances); whether it was there.
    pub async fn store_again(auth: &Auth, id: &SessionId) -> Result<bool, StoreError> {
        let sessions = &auth.0.sessions;
        match sessions.load(&id.0).await? {
            Some(session) => sessions.save(&id.0, &session, None).await,
            None => Ok(false),
        }
    }
}

/// Entry points for the cargo-fuzz targets in `fuzz/`: compiled only under
/// `cargo fuzz`, which builds every crate with `--cfg fuzzing`; not a public API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod __fuzz {
    /// Parses a JWK set as the JWKS cache does: the number of keys it would use.
    pub fn parse_jwks(body: &[u8]) -> Result<usize, crate::JwksError> {
        crate::jose::jwks::parse_jwks(body).map(|keys| keys.len())
    }
}

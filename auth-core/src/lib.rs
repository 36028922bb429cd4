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

pub mod adapter;
mod app_token;
mod auth;
mod bearer;
mod client_key;
mod config;
mod dpop;
mod flow;
mod http_client;
mod identity;
mod memory_store;
mod outage;
mod presets;
mod protocol;
mod provider;
mod provider_config;
mod provider_state;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod redis_cache;
mod return_to;
mod seal;
mod secret;
mod session;
mod shared;
mod store;
mod token;
mod web;

pub use app_token::{AppTokenError, AppTokenRequest, AppTokens, UserInfoError};
pub use auth::{Auth, InvalidTokenResponse, LoginError, LoginStart, TokenExchangeError};
pub use bearer::{BearerAuth, BearerError};
pub use client_key::ClientKey;
pub use config::{AuthConfig, AuthConfigBuilder, AuthEvent, ClientAuthMethod, Clock, ConfigError};
pub use dpop::{DpopKey, DpopProofError};
pub use flow::authorize::{LoginOptionError, LoginOptions, Prompt};
pub use flow::callback::CallbackError;
pub use flow::logout::BackchannelError;
pub use flow::refresh::RefreshError;
pub use http_client::HttpError;
pub use memory_store::MemoryStore;
pub use outage::Outage;
pub use presets::{Preset, ProviderKind, UnknownProviderKind};
pub use protocol::workos::SwitchOrganizationError;
pub use provider::{DiscoveryError, ProviderEndpoints};
pub use provider_config::{ProviderConfig, ProviderConfigBuilder, ProviderLink, SecurityProfile};
pub use return_to::sanitize_return_to;
pub use secret::{AccessToken, ClientSecret, IdToken, RefreshToken};
pub use session::AuthSession;
pub use shared::SharedStateError;
pub use store::{Authenticated, SessionId, SessionStore, SharedStore, StoreError};
pub use token::{Algorithm, Claims, JwksError, TokenError, VerifyError};
/// The store trait's crate: a custom store implements [`SessionStore`] with its
/// `session::{Id, Record}`. Re-exported (a 0.x crate in our API) because that trait is
/// the point: any tower-sessions store (Redis, SQL...) works unchanged.
pub use tower_sessions_core;
pub use web::{SessionCookie, request_cookies};

/// Re-exported so adapters and users share one `http` version.
pub use http;

/// Entry points for the cargo-fuzz targets in `fuzz/`: compiled only under
/// `cargo fuzz`, which builds every crate with `--cfg fuzzing`; not a public API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod __fuzz {
    /// Parses a JWK set as the JWKS cache does: the number of keys it would use.
    pub fn parse_jwks(body: &[u8]) -> Result<usize, crate::JwksError> {
        crate::token::jwks::parse_jwks(body).map(|keys| keys.len())
    }
}

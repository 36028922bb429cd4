//! # auth-axum
//!
//! OpenID Connect sign-in for [axum] apps, on top of [`auth_core`]: one router to merge,
//! one layer, and the [`AuthUser`] extractor.
//!
//! ```no_run
//! use auth_axum::{Auth, AuthConfig, AuthUser, auth_layer, auth_router};
//! use axum::{Json, Router, routing::get};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = Auth::discover(AuthConfig::from_env()?).await?;
//! let app: Router = Router::new()
//!     .route("/me", get(|user: AuthUser| async move { Json(user.claims().clone()) }))
//!     .merge(auth_router(auth.clone()))
//!     .layer(auth_layer(&auth));
//! # Ok(()) }
//! ```
//!
//! Sessions are server side (kept by `auth-core` in a tower-sessions store, in memory by
//! default); the browser holds
//! only an opaque session id in an HttpOnly, SameSite=Lax cookie (`Secure` and
//! `__Host-` prefixed over https). The id is replaced at login.
//!
//! APIs called with `Authorization: Bearer <JWT access token>` take a [`BearerUser`]
//! instead (RFC 9068 validation, RFC 6750 answers, a cache of validated tokens); it is
//! enabled by configuring the API's audience (`with_api_audience`, `OIDC_API_AUDIENCE`).
//!
//! | feature | what |
//! |---|---|
//! | `redis` | Redis as the store shared by several instances (`REDIS_URL`): sessions, back-channel logouts, single-flight refresh |

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod app_user;
mod authorized;
mod bearer;
mod extract;
mod forward;
mod guard;
mod layer;
mod request;
mod routes;

pub use app_user::{AppUser, SameOrigin};
pub use auth_core;
pub use auth_core::adapter::shared::*;
pub use authorized::{Authorized, RequireLayer, RequireService, require};
pub use bearer::{BearerRejection, BearerUser};
pub use extract::{AuthRejection, AuthUser};
pub use forward::forward_router;
pub use guard::require_auth;
pub use layer::{AuthLayer, AuthService, auth_layer};
pub use routes::auth_router;

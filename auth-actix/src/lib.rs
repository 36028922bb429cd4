//! # auth-actix
//!
//! OpenID Connect sign-in for [actix-web] apps, on top of [`auth_core`]: one middleware
//! to wrap, one `configure` for the routes, and the [`AuthUser`] extractor.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use auth_actix::{Auth, AuthConfig, AuthUser, auth_middleware, auth_routes};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = Auth::discover(AuthConfig::from_env()?).await?;
//! HttpServer::new(move || {
//!     App::new()
//!         .wrap(auth_middleware(&auth))
//!         .configure(auth_routes(&auth))
//!         .route("/me", web::get().to(|user: AuthUser| async move {
//!             web::Json(user.claims().clone())
//!         }))
//! })
//! .bind(("127.0.0.1", 3000))?
//! .run()
//! .await?;
//! # Ok(()) }
//! ```
//!
//! Sessions are server side (kept by `auth-core` in a tower-sessions store, in memory
//! by default, shared by every worker); the browser holds only an opaque session id in
//! an HttpOnly, SameSite=Lax cookie (`Secure` and `__Host-` prefixed over https). The
//! id is replaced at login.
//!
//! `Option<AuthUser>` is actix-web's own `Option` extractor: it turns every rejection
//! into `None`, including the 503 of an unreachable session store. [`MaybeAuthUser`]
//! behaves like axum's `Option<AuthUser>` (503 stays 503); the example uses it.
//!
//! APIs called with `Authorization: Bearer <JWT access token>` take a [`BearerUser`]
//! instead (RFC 9068 validation, RFC 6750 answers, a cache of validated tokens); it is
//! enabled by configuring the API's audience (`with_api_audience`, `OIDC_API_AUDIENCE`).
//! [`MaybeBearerUser`] is `None` without a bearer header and refuses a bad token.
//!
//! | feature | what |
//! |---|---|
//! | `redis` | Redis as the store shared by several instances (`REDIS_URL`): sessions, back-channel logouts, single-flight refresh |
//!
//! [actix-web]: https://actix.rs

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod app_user;
mod authorized;
mod bearer;
mod convert;
mod extract;
mod forward;
mod middleware;
mod request;
mod routes;

pub use app_user::{AppUser, SameOrigin};
pub use auth_core;
pub use auth_core::adapter::shared::*;
pub use authorized::Authorized;
pub use bearer::{BearerRejection, BearerUser, MaybeBearerUser};
pub use extract::{AuthExt, AuthRejection, AuthUser, MaybeAuthUser};
pub use forward::forward_routes;
pub use middleware::{
    AuthMiddleware, AuthMiddlewareService, Require, RequireAuth, RequireAuthService,
    auth_middleware,
};
pub use routes::auth_routes;

//! The [`AuthUser`] extractor and the [`AuthExt`] accessor.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use auth_core::adapter::{self, Rejection};
use auth_core::{Auth, AuthSession};

use crate::convert;
use crate::request::ActixRequest;

/// The signed-in user of a request. It exists only when the session is valid
/// (refreshed if needed). Use [`MaybeAuthUser`] on pages that work both ways.
///
/// It dereferences to the [`AuthSession`]: `user.claims()`, `user.sub()`,
/// `user.access_token()`...
#[derive(Clone, Debug)]
pub struct AuthUser(pub(crate) Arc<AuthSession>);

type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl FromRequest for AuthUser {
    type Error = AuthRejection;
    type Future = LocalFuture<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let user = adapter::require_user(&mut ActixRequest(&req)).await;
            user.map(AuthUser).map_err(AuthRejection)
        })
    }
}

/// Why [`AuthUser`] could not be extracted. As a response: a redirect to login for a
/// browser, 401 JSON for an API client, 503 when sessions are unavailable, 500 when the
/// middleware is missing. [`AuthRejection::rejection`] tells which.
#[derive(Debug)]
pub struct AuthRejection(pub(crate) Rejection);

impl AuthRejection {
    /// The rejection as `auth-core` decided it: its reason, status, body and headers.
    pub fn rejection(&self) -> &Rejection {
        &self.0
    }
}

impl std::fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for AuthRejection {
    fn status_code(&self) -> actix_web::http::StatusCode {
        convert::status(self.0.status())
    }

    fn error_response(&self) -> HttpResponse {
        convert::rejection(&self.0)
    }
}

/// `Option<AuthUser>` with axum's semantics: `None` without a valid session, but
/// still a 503 when the session cannot be checked (store or provider down), so a
/// signed-in user is never shown a signed-out page by mistake. actix-web's own
/// `Option<AuthUser>` turns every rejection, 503 and 500 included, into `None`.
#[derive(Clone, Debug)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl FromRequest for MaybeAuthUser {
    type Error = AuthRejection;
    type Future = LocalFuture<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match adapter::optional_user(&mut ActixRequest(&req)).await {
                Ok(user) => Ok(MaybeAuthUser(user.map(AuthUser))),
                Err(rejection) => Err(AuthRejection(rejection)),
            }
        })
    }
}

/// Access to the auth state of a request, from handlers (`HttpRequest`) and
/// middleware (`ServiceRequest`).
pub trait AuthExt {
    /// The [`Auth`] handle put there by [`crate::auth_middleware`].
    fn auth(&self) -> Option<Auth>;

    /// The signed-in user, once resolved for this request by [`crate::RequireAuth`]
    /// or an [`AuthUser`] extractor. To resolve it, extract `AuthUser` (or call
    /// `ServiceRequest::extract::<AuthUser>()` in middleware).
    fn auth_user(&self) -> Option<AuthUser>;
}

impl AuthExt for HttpRequest {
    fn auth(&self) -> Option<Auth> {
        adapter::auth_of(&ActixRequest(self))
    }

    fn auth_user(&self) -> Option<AuthUser> {
        adapter::resolved_user(&ActixRequest(self)).map(AuthUser)
    }
}

impl AuthExt for ServiceRequest {
    fn auth(&self) -> Option<Auth> {
        self.request().auth()
    }

    fn auth_user(&self) -> Option<AuthUser> {
        self.request().auth_user()
    }
}

impl std::ops::Deref for AuthUser {
    type Target = AuthSession;

    fn deref(&self) -> &AuthSession {
        &self.0
    }
}

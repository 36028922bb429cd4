//! The [`AuthUser`] extractor.

use std::sync::Arc;

use auth_core::AuthSession;
use auth_core::adapter::{self, Rejection};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;

use crate::request::AxumRequest;

/// The signed-in user of a request. It exists only when the session is valid
/// (refreshed if needed). Use `Option<AuthUser>` on pages that work both ways.
///
/// It dereferences to the [`AuthSession`]: `user.claims()`, `user.sub()`,
/// `user.access_token()`...
#[derive(Clone, Debug)]
pub struct AuthUser(pub(crate) Arc<AuthSession>);

/// Why [`AuthUser`] could not be extracted. As a response: a redirect to login for a
/// browser, 401 JSON for an API client, 503 when sessions are unavailable, 500 when the
/// layer is missing. [`AuthRejection::rejection`] tells which.
#[derive(Debug)]
pub struct AuthRejection(pub(crate) Rejection);

impl AuthRejection {
    /// The rejection as `auth-core` decided it: its reason, status, body and headers.
    pub fn rejection(&self) -> &Rejection {
        &self.0
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        self.0.into_response().into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let user = adapter::require_user(&mut AxumRequest(parts)).await;
        user.map(Self).map_err(AuthRejection)
    }
}

/// `Option<AuthUser>`: `None` without a valid session; still 503 when the session
/// cannot be checked (store or provider down), so a signed-in user is never shown a
/// signed-out page by mistake.
impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let user = adapter::optional_user(&mut AxumRequest(parts)).await;
        user.map(|u| u.map(Self)).map_err(AuthRejection)
    }
}

impl std::ops::Deref for AuthUser {
    type Target = AuthSession;

    fn deref(&self) -> &AuthSession {
        &self.0
    }
}

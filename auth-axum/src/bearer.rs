//! The [`BearerUser`] extractor: APIs called with `Authorization: Bearer <access token>`.

use std::sync::Arc;

use auth_core::adapter::{self, Rejection};
use auth_core::{BearerAuth, BearerError};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;

use crate::request::AxumRequest;

/// The caller of an API, from a validated bearer access token (RFC 9068 JWT): the
/// signature by the provider's JWKS, `iss`, `aud` (one of the configured API
/// audiences), `exp`/`nbf`/`iat`, `sub`, and the required API scopes. A token seen
/// before costs a hash lookup. Without an `Authorization: Bearer` header, or with a bad
/// token, the handler is not called and the RFC 6750 answer is sent (401 with
/// `WWW-Authenticate: Bearer`, 403 for a missing scope).
///
/// A sibling of [`crate::AuthUser`] (a browser session): API callers hold no session,
/// and a bearer request never gets a redirect to a login page.
///
/// ```no_run
/// use auth_axum::BearerUser;
/// async fn orders(user: BearerUser) -> Result<String, auth_axum::BearerRejection> {
///     user.require_scope("orders:read")?;
///     Ok(format!("orders of {}", user.sub()))
/// }
/// ```
#[derive(Clone, Debug)]
pub struct BearerUser(Arc<BearerAuth>);

/// Why [`BearerUser`] could not be extracted, as its RFC 6750 response (401, 400, 403,
/// 503, or 500 when the layer is missing or no API audience is configured).
#[derive(Debug)]
pub struct BearerRejection(Rejection);

impl BearerRejection {
    /// Why the token was not accepted ([`BearerError::NotConfigured`] when the layer is
    /// missing).
    pub fn error(&self) -> &BearerError {
        self.0.bearer_refusal()
    }

    /// The rejection as `auth-core` decided it: its status, body and headers.
    pub fn rejection(&self) -> &Rejection {
        &self.0
    }
}

impl IntoResponse for BearerRejection {
    fn into_response(self) -> Response {
        self.0.into_response().into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BearerUser {
    type Rejection = BearerRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let caller = adapter::require_bearer(&mut AxumRequest(parts)).await;
        caller.map(Self).map_err(BearerRejection)
    }
}

/// `Option<BearerUser>`: `None` without an `Authorization: Bearer` header; a bad token
/// is still refused (401), never treated as anonymous.
impl<S: Send + Sync> OptionalFromRequestParts<S> for BearerUser {
    type Rejection = BearerRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let caller = adapter::optional_bearer(&mut AxumRequest(parts)).await;
        caller.map(|c| c.map(Self)).map_err(BearerRejection)
    }
}

impl BearerUser {
    /// `Ok` when the token grants `scope`; else the 403 `insufficient_scope` answer.
    pub fn require_scope(&self, scope: &str) -> Result<(), BearerRejection> {
        adapter::require_scopes(&self.0, &[scope]).map_err(BearerRejection)
    }
}

impl std::ops::Deref for BearerUser {
    type Target = BearerAuth;

    fn deref(&self) -> &BearerAuth {
        &self.0
    }
}

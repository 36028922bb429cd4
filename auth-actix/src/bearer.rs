//! The [`BearerUser`] extractor: APIs called with `Authorization: Bearer <access token>`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use auth_core::adapter::{self, Rejection};
use auth_core::{BearerAuth, BearerError};

use crate::convert;
use crate::request::ActixRequest;

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
/// For routes that also serve anonymous callers use [`MaybeBearerUser`], not
/// `Option<BearerUser>`: actix-web's `Option` turns every rejection into `None`, so a
/// forged or expired token would be treated as no token at all.
///
/// ```no_run
/// use auth_actix::{BearerRejection, BearerUser};
/// async fn orders(user: BearerUser) -> Result<String, BearerRejection> {
///     user.require_scope("orders:read")?;
///     Ok(format!("orders of {}", user.sub()))
/// }
/// ```
#[derive(Clone, Debug)]
pub struct BearerUser(Arc<BearerAuth>);

impl BearerUser {
    /// `Ok` when the token grants `scope`; else the 403 `insufficient_scope` answer.
    pub fn require_scope(&self, scope: &str) -> Result<(), BearerRejection> {
        adapter::require_scopes(&self.0, &[scope]).map_err(BearerRejection)
    }
}

/// Why [`BearerUser`] could not be extracted, answered as RFC 6750 says (401, 400,
/// 403, 503, or 500 when the middleware is missing or no API audience is configured).
#[derive(Debug)]
pub struct BearerRejection(Rejection);

impl BearerRejection {
    /// Why the token was not accepted ([`BearerError::NotConfigured`] when the
    /// middleware is missing).
    pub fn error(&self) -> &BearerError {
        self.0.bearer_refusal()
    }
}

impl std::fmt::Display for BearerRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for BearerRejection {
    fn status_code(&self) -> actix_web::http::StatusCode {
        convert::status(self.0.status())
    }

    fn error_response(&self) -> HttpResponse {
        convert::rejection(&self.0)
    }
}

impl FromRequest for BearerUser {
    type Error = BearerRejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let caller = adapter::require_bearer(&mut ActixRequest(&req)).await;
            caller.map(BearerUser).map_err(BearerRejection)
        })
    }
}

/// `Option<BearerUser>` with axum's semantics: `None` without an `Authorization:
/// Bearer` header, but a bad token is still refused (401), never treated as
/// anonymous. actix-web's own `Option<BearerUser>` turns every rejection into `None`.
#[derive(Clone, Debug)]
pub struct MaybeBearerUser(pub Option<BearerUser>);

impl FromRequest for MaybeBearerUser {
    type Error = BearerRejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match adapter::optional_bearer(&mut ActixRequest(&req)).await {
                Ok(caller) => Ok(MaybeBearerUser(caller.map(BearerUser))),
                Err(rejection) => Err(BearerRejection(rejection)),
            }
        })
    }
}

impl std::ops::Deref for BearerUser {
    type Target = BearerAuth;

    fn deref(&self) -> &BearerAuth {
        &self.0
    }
}

//! The [`AuthUser`] extractor and the [`AuthExt`] accessor.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use auth_core::{Auth, AuthSession, Authenticated};

use crate::convert;

/// The signed-in user of a request. It exists only when the session is valid
/// (refreshed if needed). Use `Option<AuthUser>` on pages that work both ways.
///
/// It dereferences to the [`AuthSession`]: `user.claims()`, `user.sub()`,
/// `user.access_token()`...
#[derive(Clone, Debug)]
pub struct AuthUser(Arc<AuthSession>);

impl AuthUser {
    /// The whole session.
    pub fn session(&self) -> &AuthSession {
        &self.0
    }
}

impl std::ops::Deref for AuthUser {
    type Target = AuthSession;

    fn deref(&self) -> &AuthSession {
        &self.0
    }
}

/// Why [`AuthUser`] could not be extracted. As a response: a redirect to login for a
/// browser, 401 JSON for an API client, 503 when sessions are unavailable, 500 when the
/// middleware is missing.
#[derive(Debug)]
pub struct AuthRejection(http::Response<String>);

impl AuthRejection {
    pub(crate) fn to_response(&self) -> HttpResponse {
        convert::response(&self.0)
    }
}

impl std::fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not signed in ({})", self.0.status())
    }
}

impl ResponseError for AuthRejection {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::from_u16(self.0.status().as_u16())
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        self.to_response()
    }
}

/// The outcome of resolving a request's session.
pub(crate) enum Outcome {
    User(AuthUser),
    Not(Auth, Authenticated),
}

/// Resolves the signed-in user of `req` once per request (the result is kept in the
/// request's extensions for later extractors).
pub(crate) async fn authenticate(req: &HttpRequest) -> Result<Outcome, AuthRejection> {
    if let Some(user) = req.extensions().get::<AuthUser>() {
        return Ok(Outcome::User(user.clone()));
    }
    let Some(auth) = req.extensions().get::<Auth>().cloned() else {
        tracing::error!(
            "AuthUser used without the middleware: add `.wrap(auth_middleware(&auth))`"
        );
        let mut missing = http::Response::new("auth middleware missing".to_string());
        *missing.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        return Err(AuthRejection(missing));
    };
    let id = auth.session_id(convert::cookie_headers(req));
    match auth.authenticate(id.as_ref()).await {
        Authenticated::User(session) => {
            let user = AuthUser(session);
            req.extensions_mut().insert(user.clone());
            Ok(Outcome::User(user))
        }
        other => Ok(Outcome::Not(auth, other)),
    }
}

fn reject(req: &HttpRequest, auth: &Auth, outcome: &Authenticated) -> AuthRejection {
    AuthRejection(auth.rejection_response(
        outcome,
        &convert::method(req),
        &convert::uri(req),
        &convert::headers(req),
    ))
}

/// The signed-in user of `req`, or the rejection to answer.
pub(crate) async fn resolve(req: &HttpRequest) -> Result<AuthUser, AuthRejection> {
    match authenticate(req).await? {
        Outcome::User(user) => Ok(user),
        Outcome::Not(auth, outcome) => Err(reject(req, &auth, &outcome)),
    }
}

impl FromRequest for AuthUser {
    type Error = AuthRejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { resolve(&req).await })
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
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match authenticate(&req).await? {
                Outcome::User(user) => Ok(MaybeAuthUser(Some(user))),
                Outcome::Not(auth, outcome @ Authenticated::Unavailable) => {
                    Err(reject(&req, &auth, &outcome))
                }
                Outcome::Not(..) => Ok(MaybeAuthUser(None)),
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
        self.extensions().get::<Auth>().cloned()
    }

    fn auth_user(&self) -> Option<AuthUser> {
        self.extensions().get::<AuthUser>().cloned()
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

//! Routes that require more than a signed-in user: a role, a permission, an
//! organization, a recent or strong sign-in ([`Requirement`]), as an extractor
//! ([`Authorized`]) or a layer for a whole router ([`require`]).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use auth_core::AuthSession;
use auth_core::adapter::{self, Policy, Requirement};
use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use tower::{Layer, Service};

use crate::extract::{AuthRejection, AuthUser};
use crate::request::AxumRequest;

/// The signed-in user, who meets the [`Policy`] `P`; else the handler is not called:
/// anonymous as [`AuthUser`], 403 without the role, permission or organization, and a
/// new sign-in (browser) or 401 `insufficient_user_authentication` (API) for a sign-in
/// too old or too weak.
///
/// ```no_run
/// use auth_axum::Authorized;
/// use auth_axum::{Policy, Requirement};
///
/// struct ReportReaders;
/// impl Policy for ReportReaders {
///     fn requirement() -> Requirement {
///         Requirement::permission("reports:read")
///     }
/// }
///
/// async fn reports(user: Authorized<ReportReaders>) -> String {
///     format!("reports for {}", user.sub())
/// }
/// ```
#[derive(Debug)]
pub struct Authorized<P>(AuthUser, PhantomData<fn() -> P>);

impl<P> std::ops::Deref for Authorized<P> {
    type Target = AuthSession;

    fn deref(&self) -> &AuthSession {
        &self.0
    }
}

impl<S: Send + Sync, P: Policy> FromRequestParts<S> for Authorized<P> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let user = adapter::require(&mut AxumRequest(parts), &P::requirement()).await;
        match user {
            Ok(session) => Ok(Self(AuthUser(session), PhantomData)),
            Err(rejection) => Err(AuthRejection(rejection)),
        }
    }
}

/// A layer that lets through only signed-in users who meet `requirement`, answering
/// like [`Authorized`] otherwise.
///
/// ```no_run
/// use auth_axum::{Requirement, require};
/// use axum::{Router, routing::get};
/// let admin: Router = Router::new()
///     .route("/admin", get(|| async { "admin" }))
///     .route_layer(require(Requirement::role("admin")));
/// ```
pub fn require(requirement: Requirement) -> RequireLayer {
    RequireLayer(Arc::new(requirement))
}

/// The layer of [`require`].
#[derive(Clone, Debug)]
pub struct RequireLayer(Arc<Requirement>);

impl<S> Layer<S> for RequireLayer {
    type Service = RequireService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireService {
            inner,
            requirement: Arc::clone(&self.0),
        }
    }
}

/// The service of [`RequireLayer`].
#[derive(Clone, Debug)]
pub struct RequireService<S> {
    inner: S,
    requirement: Arc<Requirement>,
}

impl<S> Service<Request> for RequireService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The clone that was polled ready serves this request.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let requirement = Arc::clone(&self.requirement);
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            match adapter::require(&mut AxumRequest(&mut parts), &requirement).await {
                Ok(_) => inner.call(Request::from_parts(parts, body)).await,
                Err(rejection) => Ok(rejection.into_response().into_response()),
            }
        })
    }
}

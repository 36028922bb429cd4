//! The middleware: makes the [`Auth`] handle available to the extractors, and a guard
//! middleware for scopes that require a signed-in user.

use std::future::{Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};

use auth_core::Auth;
use auth_core::adapter::{self, RequestAuth, Requirement};

use crate::request::ActixRequest;

/// Puts the [`Auth`] handle in each request's extensions (a [`RequestAuth`]). Build it with
/// [`auth_middleware`] and `.wrap()` it around the `App`.
#[derive(Clone, Debug)]
pub struct AuthMiddleware {
    auth: Auth,
}

/// The middleware for `auth` (an [`Auth`] or a reference to one, like
/// [`crate::auth_routes`]). Calling it in every worker's app factory is fine: every
/// clone of `auth` shares one session store.
pub fn auth_middleware(auth: impl Into<Auth>) -> AuthMiddleware {
    AuthMiddleware { auth: auth.into() }
}

impl<S, B> Transform<S, ServiceRequest> for AuthMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = AuthMiddlewareService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AuthMiddlewareService {
            service,
            auth: self.auth.clone(),
        }))
    }
}

/// The service of [`AuthMiddleware`].
#[derive(Debug)]
pub struct AuthMiddlewareService<S> {
    service: S,
    auth: Auth,
}

impl<S, B> Service<ServiceRequest> for AuthMiddlewareService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = S::Future;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        req.extensions_mut()
            .insert(RequestAuth::new(self.auth.clone()));
        self.service.call(req)
    }
}

/// Lets only signed-in requests through a scope or resource, answering like the
/// [`crate::AuthUser`] extractor otherwise (redirect to login, 401 JSON, or 503). The
/// user is then available to handlers (as `AuthUser`, or by [`crate::AuthExt`]).
///
/// ```no_run
/// # use actix_web::{web, App};
/// let admin = web::scope("/admin")
///     .wrap(auth_actix::RequireAuth)
///     .route("", web::get().to(|| async { "secret stuff" }));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RequireAuth;

impl<S, B> Transform<S, ServiceRequest> for RequireAuth
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireAuthService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireAuthService {
            service: Rc::new(service),
            requirement: None,
        }))
    }
}

/// Lets through a scope or resource only signed-in users who meet a [`Requirement`]
/// (a role, a permission, an organization, a recent or strong sign-in), answering like
/// [`crate::Authorized`] otherwise: anonymous as [`crate::AuthUser`], 403 without the
/// role, permission or organization, a new sign-in (browser) or 401
/// `insufficient_user_authentication` (API) for a sign-in too old or too weak.
///
/// ```no_run
/// # use actix_web::{web, App};
/// use auth_actix::{Require, Requirement};
/// let admin = web::scope("/admin")
///     .wrap(Require::new(Requirement::role("admin")))
///     .route("", web::get().to(|| async { "admin" }));
/// ```
#[derive(Clone, Debug)]
pub struct Require(Arc<Requirement>);

impl Require {
    /// The middleware for `requirement`.
    pub fn new(requirement: Requirement) -> Self {
        Self(Arc::new(requirement))
    }
}

impl<S, B> Transform<S, ServiceRequest> for Require
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireAuthService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        let requirement = Some(Arc::clone(&self.0));
        let service = Rc::new(service);
        ready(Ok(RequireAuthService {
            service,
            requirement,
        }))
    }
}

/// The service of [`RequireAuth`] and [`Require`].
#[derive(Debug)]
pub struct RequireAuthService<S> {
    service: Rc<S>,
    requirement: Option<Arc<Requirement>>,
}

type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B> Service<ServiceRequest> for RequireAuthService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let requirement = self.requirement.clone();
        Box::pin(async move {
            let mut request = ActixRequest(req.request());
            let user = match &requirement {
                None => adapter::require_user(&mut request).await,
                Some(requirement) => adapter::require(&mut request, requirement).await,
            };
            match user {
                Ok(_) => service
                    .call(req)
                    .await
                    .map(ServiceResponse::map_into_left_body),
                Err(rejection) => {
                    let response = crate::convert::rejection(&rejection);
                    Ok(req.into_response(response).map_into_right_body())
                }
            }
        })
    }
}

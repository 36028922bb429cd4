//! The [`Authorized`] extractor: a signed-in user who meets a [`Policy`].

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use auth_core::AuthSession;
use auth_core::adapter::{self, Policy};

use crate::extract::{AuthRejection, AuthUser};
use crate::request::ActixRequest;

/// The signed-in user, who meets the [`Policy`] `P`; else the handler is not called:
/// anonymous as [`AuthUser`], 403 without the role, permission or organization, and a
/// new sign-in (browser) or 401 `insufficient_user_authentication` (API) for a sign-in
/// too old or too weak. For a whole scope, wrap it in [`crate::Require`].
///
/// ```no_run
/// use auth_actix::{Authorized, Policy, Requirement};
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

impl<P: Policy> FromRequest for Authorized<P> {
    type Error = AuthRejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let requirement = P::requirement();
            match adapter::require(&mut ActixRequest(&req), &requirement).await {
                Ok(session) => Ok(Authorized(AuthUser(session), PhantomData)),
                Err(rejection) => Err(AuthRejection(rejection)),
            }
        })
    }
}

impl<P> std::ops::Deref for Authorized<P> {
    type Target = AuthSession;

    fn deref(&self) -> &AuthSession {
        &self.0
    }
}

//! The [`AppUser`] and [`SameOrigin`] extractors.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use auth_core::AuthSession;
use auth_core::adapter;

use crate::extract::AuthRejection;
use crate::request::ActixRequest;

/// The signed-in user with the app's own data (what its sign-in hook kept with
/// [`SignInDecision::with_app_data`](auth_core::SignInDecision::with_app_data)), read
/// as `T`. A session whose data no longer reads as `T` (an older version of the app
/// stored it) is signed out cleanly: the request gets what a signed-out one gets.
#[derive(Clone, Debug)]
pub struct AppUser<T> {
    /// The session.
    pub user: Arc<AuthSession>,
    /// The app's data.
    pub data: T,
}

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for AppUser<T> {
    type Error = AuthRejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (user, data) = adapter::require_app_user::<T>(&mut ActixRequest(&req))
                .await
                .map_err(AuthRejection)?;
            Ok(Self { user, data })
        })
    }
}

/// A state-changing request the app's own pages sent: another site's (an `Origin`
/// other than the app's, `Sec-Fetch-Site` other than `same-origin`) gets 403
/// `cross_site_request`. Put it first among a handler's arguments.
#[derive(Clone, Copy, Debug)]
pub struct SameOrigin;

impl FromRequest for SameOrigin {
    type Error = AuthRejection;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        std::future::ready(
            adapter::require_same_origin(&ActixRequest(req))
                .map(|()| Self)
                .map_err(AuthRejection),
        )
    }
}

//! The [`AppUser`] and [`SameOrigin`] extractors.

use std::sync::Arc;

use auth_core::AuthSession;
use auth_core::adapter;
use axum::extract::FromRequestParts;
use http::request::Parts;

use crate::extract::AuthRejection;
use crate::request::AxumRequest;

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

impl<S, T> FromRequestParts<S> for AppUser<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let (user, data) = adapter::require_app_user::<T>(&mut AxumRequest(parts))
            .await
            .map_err(AuthRejection)?;
        Ok(Self { user, data })
    }
}

/// A state-changing request the app's own pages sent: another site's (an `Origin`
/// other than the app's, `Sec-Fetch-Site` other than `same-origin`) gets 403
/// `cross_site_request`. Put it first among a handler's arguments.
#[derive(Clone, Copy, Debug)]
pub struct SameOrigin;

impl<S: Send + Sync> FromRequestParts<S> for SameOrigin {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        adapter::require_same_origin(&AxumRequest(parts)).map_err(AuthRejection)?;
        Ok(Self)
    }
}

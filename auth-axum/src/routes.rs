//! The auth routes: login, signup, callback, logout and back-channel logout. Each one
//! only translates between axum and `auth-core`'s HTTP edge.

use auth_core::Auth;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use http::{HeaderMap, Uri};

use crate::into_axum;

/// The auth routes under the configured prefix (default `/auth`): `GET login`,
/// `GET signup`, `GET callback`, `GET logout`, `POST backchannel-logout`. Merge it into
/// your router and add [`crate::auth_layer`].
pub fn auth_router<S: Clone + Send + Sync + 'static>(auth: Auth) -> Router<S> {
    let p = auth.config().route_prefix().to_string();
    Router::new()
        .route(&format!("{p}/login"), get(login))
        .route(&format!("{p}/signup"), get(signup))
        .route(&format!("{p}/callback"), get(callback))
        .route(&format!("{p}/logout"), get(logout))
        .route(&format!("{p}/backchannel-logout"), post(backchannel))
        .with_state(auth)
}

async fn login(State(auth): State<Auth>, uri: Uri, headers: HeaderMap) -> Response {
    into_axum(auth.login_response(&uri, &headers, false))
}

async fn signup(State(auth): State<Auth>, uri: Uri, headers: HeaderMap) -> Response {
    into_axum(auth.login_response(&uri, &headers, true))
}

async fn callback(State(auth): State<Auth>, uri: Uri, headers: HeaderMap) -> Response {
    into_axum(auth.callback_response(&uri, &headers).await)
}

async fn logout(State(auth): State<Auth>, headers: HeaderMap) -> Response {
    into_axum(auth.logout_response(&headers).await)
}

async fn backchannel(State(auth): State<Auth>, body: Bytes) -> Response {
    into_axum(auth.backchannel_response(&body).await)
}

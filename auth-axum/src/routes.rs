//! The auth routes: login, signup, callback, logout and back-channel logout.

use auth_core::{Auth, AuthSession};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use http::{HeaderMap, Uri};
use tower_sessions::Session;

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

async fn callback(
    State(auth): State<Auth>,
    session: Session,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let result = auth.callback_response(&uri, &headers).await;
    if let Some(new) = result.session {
        // A fresh session id at login (no fixation), then the signed-in session.
        let stored = async {
            session.cycle_id().await?;
            session.insert(AuthSession::KEY, &new).await
        };
        if let Err(e) = stored.await {
            tracing::error!(error = %e, "could not store the new session");
            return into_axum(auth.unavailable_response(&headers));
        }
    }
    into_axum(result.response)
}

async fn logout(State(auth): State<Auth>, session: Session) -> Response {
    let current = session
        .get::<AuthSession>(AuthSession::KEY)
        .await
        .ok()
        .flatten();
    if let Err(e) = session.flush().await {
        tracing::error!(error = %e, "could not delete the session at logout");
    }
    into_axum(auth.logout_response(current.as_ref()))
}

async fn backchannel(State(auth): State<Auth>, body: Bytes) -> Response {
    into_axum(auth.backchannel_response(&body).await)
}

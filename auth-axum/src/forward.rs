//! A single-page app's calls to a remote API, forwarded with the session's access token
//! ([`forward_router`]).

use auth_core::adapter::{RequestAuth, Requirement};
use auth_core::{ForwardBody, RemoteApi};
use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::any;
use http::{HeaderMap, Method, Uri};

use crate::authorized::require;
use crate::extract::AuthUser;

/// Every method under `{prefix}/{*path}` forwarded to `api` (`{prefix}/x?y` to the
/// API's base URL + `x?y`) with the signed-in user's access token, through
/// [`Auth::forward`](auth_core::Auth::forward): the request needs the session and the
/// anti-forgery header ([`Requirement::anti_forgery_header`], JSON 401/403); bodies
/// stream both ways within [`RemoteApi::max_body`] (413 for a longer request). Merge it
/// into your router, inside [`crate::auth_layer`].
///
/// ```no_run
/// # fn app(auth: auth_axum::Auth) -> Result<axum::Router, auth_axum::auth_core::ConfigError> {
/// let api = auth_axum::auth_core::RemoteApi::new("https://api.example.com/v1")?;
/// Ok(axum::Router::new()
///     .merge(auth_axum::forward_router("/bff/remote", api))
///     .layer(auth_axum::auth_layer(&auth)))
/// # }
/// ```
pub fn forward_router<S: Clone + Send + Sync + 'static>(prefix: &str, api: RemoteApi) -> Router<S> {
    let prefix = prefix.trim_end_matches('/').to_owned();
    let path = format!("{prefix}/{{*path}}");
    let handler = move |State(api): State<RemoteApi>,
                        Extension(scope): Extension<RequestAuth>,
                        user: AuthUser,
                        method: Method,
                        uri: Uri,
                        headers: HeaderMap,
                        body: Body| async move {
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
        let body = ForwardBody::from_stream(body.into_data_stream());
        let answer = scope
            .auth()
            .forward(
                &user,
                &api,
                &prefix,
                &method,
                path_and_query,
                &headers,
                body,
            )
            .await;
        let (parts, body) = answer.into_parts();
        Response::from_parts(parts, Body::from_stream(body))
    };
    Router::new()
        .route(&path, any(handler))
        .route_layer(require(Requirement::anti_forgery_header()))
        .with_state(api)
}

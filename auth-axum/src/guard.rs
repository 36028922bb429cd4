//! A guard for a whole router: every route behind it requires a signed-in user.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::request::AxumRequest;

/// Middleware that lets only signed-in requests through, answering like the
/// [`crate::AuthUser`] extractor otherwise (redirect to login, 401 JSON, or 503). The
/// user is kept in the request for the handlers' extractors.
///
/// ```no_run
/// # use axum::{Router, routing::get};
/// let admin: Router = Router::new()
///     .route("/admin", get(|| async { "secret stuff" }))
///     .route_layer(axum::middleware::from_fn(auth_axum::require_auth));
/// ```
pub async fn require_auth(req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    match auth_core::adapter::require_user(&mut AxumRequest(&mut parts)).await {
        Ok(_) => next.run(Request::from_parts(parts, body)).await,
        Err(rejection) => rejection.into_response().into_response(),
    }
}

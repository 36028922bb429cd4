//! The auth routes, registered from `auth-core`'s route table: each answers through
//! [`Auth::respond`].

use auth_core::Auth;
use auth_core::adapter::Route;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, on};
use http::{HeaderMap, Method, Request, Uri};

/// The auth routes under the configured prefix (default `/auth`): `GET login`,
/// `GET signup`, `GET callback`, `GET logout`, `POST backchannel-logout`, `GET jwks`
/// (with several providers, the chooser at `login` and `signup`, and `login/{id}`,
/// `signup/{id}`, `callback/{id}`, `backchannel-logout/{id}`). Merge it into
/// your router and add [`crate::auth_layer`]. It takes an [`Auth`] or a reference to
/// one, as `auth_layer` does.
pub fn auth_router<S: Clone + Send + Sync + 'static>(auth: impl Into<Auth>) -> Router<S> {
    let auth = auth.into();
    auth.routes()
        .into_iter()
        .fold(Router::new(), |router, route| {
            router.route(route.path(), method_router(&route))
        })
        .with_state(auth)
}

fn method_router(route: &Route) -> axum::routing::MethodRouter<Auth> {
    let endpoint = route.endpoint();
    let filter = route
        .methods()
        .iter()
        .filter_map(|m| MethodFilter::try_from(m.clone()).ok())
        .reduce(MethodFilter::or)
        .unwrap_or(MethodFilter::GET);
    let handler = move |State(auth): State<Auth>,
                        method: Method,
                        uri: Uri,
                        headers: HeaderMap,
                        body: Bytes| async move {
        let mut request = Request::new(body);
        (
            *request.method_mut(),
            *request.uri_mut(),
            *request.headers_mut(),
        ) = (method, uri, headers);
        auth.respond(endpoint, &request).await.into_response()
    };
    on(filter, handler).layer(DefaultBodyLimit::max(route.body_limit()))
}

//! `auth-core` reads an axum request through [`RequestHead`].

use auth_core::adapter::RequestHead;
use axum::extract::OriginalUri;
use http::request::Parts;

/// An axum request's parts, as `auth-core` reads them.
pub(crate) struct AxumRequest<'a>(pub(crate) &'a mut Parts);

impl RequestHead for AxumRequest<'_> {
    fn method(&self) -> &str {
        self.0.method.as_str()
    }

    fn path_and_query(&self) -> &str {
        // Inside `Router::nest` the URI lost its prefix; `return_to` needs the whole path.
        let uri = self
            .0
            .extensions
            .get::<OriginalUri>()
            .map_or(&self.0.uri, |o| &o.0);
        uri.path_and_query().map_or("/", |p| p.as_str())
    }

    fn header_values(&self, name: &'static str) -> impl Iterator<Item = &[u8]> {
        self.0.headers.get_all(name).iter().map(|v| v.as_bytes())
    }

    fn cookie_values(&self) -> impl Iterator<Item = &[u8]> {
        let values = self.0.headers.get_all(http::header::COOKIE);
        values.into_iter().map(|v| v.as_bytes())
    }

    fn extension<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.0.extensions.get::<T>().cloned()
    }

    fn insert_extension<T: Clone + Send + Sync + 'static>(&mut self, value: T) {
        self.0.extensions.insert(value);
    }

    fn update_extension<T: Clone + Send + Sync + 'static>(&mut self, change: impl FnOnce(&mut T)) {
        if let Some(value) = self.0.extensions.get_mut::<T>() {
            change(value);
        }
    }
}

//! `auth-core` reads an actix-web request through [`RequestHead`].

use actix_web::{HttpMessage, HttpRequest};
use auth_core::adapter::RequestHead;

/// An actix-web request, as `auth-core` reads it.
pub(crate) struct ActixRequest<'a>(pub(crate) &'a HttpRequest);

impl RequestHead for ActixRequest<'_> {
    fn method(&self) -> &str {
        self.0.method().as_str()
    }

    fn path_and_query(&self) -> &str {
        self.0.uri().path_and_query().map_or("/", |p| p.as_str())
    }

    fn header_values(&self, name: &'static str) -> impl Iterator<Item = &[u8]> {
        self.0.headers().get_all(name).map(|v| v.as_bytes())
    }

    fn cookie_values(&self) -> impl Iterator<Item = &[u8]> {
        let values = self.0.headers().get_all(actix_web::http::header::COOKIE);
        values.map(|v| v.as_bytes())
    }

    fn extension<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.0.extensions().get::<T>().cloned()
    }

    fn insert_extension<T: Clone + Send + Sync + 'static>(&mut self, value: T) {
        self.0.extensions_mut().insert(value);
    }

    fn update_extension<T: Clone + Send + Sync + 'static>(&mut self, change: impl FnOnce(&mut T)) {
        if let Some(value) = self.0.extensions_mut().get_mut::<T>() {
            change(value);
        }
    }
}

//! The layer: server-side sessions (tower-sessions) with our cookie attributes, and the
//! [`Auth`] handle made available to extractors.

use std::task::{Context, Poll};

use auth_core::Auth;
use http::Request;
use tower::{Layer, Service};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, MemoryStore, SessionManagerLayer};

/// Sessions in memory (the default) with the cookie attributes of [`Auth::session_cookie`],
/// plus the [`Auth`] handle in request extensions.
#[derive(Clone, Debug)]
pub struct AuthLayer {
    auth: Auth,
    sessions: SessionManagerLayer<MemoryStore>,
}

/// Builds the layer for `auth`, with an in-memory session store.
pub fn auth_layer(auth: &Auth) -> AuthLayer {
    let cookie = auth.session_cookie();
    let lifetime = auth.config().session_lifetime();
    let sessions = SessionManagerLayer::new(MemoryStore::default())
        .with_name(cookie.name)
        .with_secure(cookie.secure)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::seconds(lifetime.as_secs() as i64),
        ));
    AuthLayer {
        auth: auth.clone(),
        sessions,
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = <SessionManagerLayer<MemoryStore> as Layer<AuthService<S>>>::Service;

    fn layer(&self, inner: S) -> Self::Service {
        self.sessions.layer(AuthService {
            inner,
            auth: self.auth.clone(),
        })
    }
}

/// Inserts the [`Auth`] handle into each request's extensions.
#[derive(Clone, Debug)]
pub struct AuthService<S> {
    inner: S,
    auth: Auth,
}

impl<S, B> Service<Request<B>> for AuthService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.auth.clone());
        self.inner.call(req)
    }
}

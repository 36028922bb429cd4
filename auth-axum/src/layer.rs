//! The layer: makes the [`Auth`] handle available to the extractors and routes (a
//! [`RequestAuth`] in each request's extensions, where the extractors also keep the
//! user they resolved).
//! Sessions themselves are kept by `auth-core` (server side, in the store of
//! [`auth_core::AuthConfigBuilder::with_session_store`], in memory by default).

use std::task::{Context, Poll};

use auth_core::Auth;
use auth_core::adapter::RequestAuth;
use http::Request;
use tower::{Layer, Service};

/// Puts the [`Auth`] handle in each request's extensions (as a [`RequestAuth`]).
#[derive(Clone, Debug)]
pub struct AuthLayer {
    auth: Auth,
}

/// Builds the layer for `auth` (an [`Auth`] or a reference to one, like
/// [`crate::auth_router`]). Calling it several times is fine: every clone of `auth`
/// shares one session store.
pub fn auth_layer(auth: impl Into<Auth>) -> AuthLayer {
    AuthLayer { auth: auth.into() }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// Inserts a [`RequestAuth`] into each request's extensions.
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
        req.extensions_mut()
            .insert(RequestAuth::new(self.auth.clone()));
        self.inner.call(req)
    }
}

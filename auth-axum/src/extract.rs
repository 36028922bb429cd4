//! The [`AuthUser`] extractor.

use std::sync::Arc;

use auth_core::{Auth, AuthSession, Authenticated};
use axum::extract::{FromRequestParts, OptionalFromRequestParts, OriginalUri};
use axum::response::{IntoResponse, Response};
use http::request::Parts;

/// The signed-in user of a request. It exists only when the session is valid
/// (refreshed if needed). Use `Option<AuthUser>` on pages that work both ways.
///
/// It dereferences to the [`AuthSession`]: `user.claims()`, `user.sub()`,
/// `user.access_token()`...
#[derive(Clone, Debug)]
pub struct AuthUser(Arc<AuthSession>);

impl AuthUser {
    /// The whole session.
    pub fn session(&self) -> &AuthSession {
        &self.0
    }
}

impl std::ops::Deref for AuthUser {
    type Target = AuthSession;

    fn deref(&self) -> &AuthSession {
        &self.0
    }
}

/// Why [`AuthUser`] could not be extracted. As a response: a redirect to login for a
/// browser, 401 JSON for an API client, 503 when sessions are unavailable, 500 when the
/// layer is missing.
#[derive(Debug)]
pub struct AuthRejection(Response);

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        self.0
    }
}

enum Outcome {
    User(AuthUser),
    Not(Authenticated),
}

async fn authenticate(parts: &mut Parts) -> Result<(Auth, Outcome), AuthRejection> {
    let Some(auth) = parts.extensions.get::<Auth>().cloned() else {
        tracing::error!("AuthUser used without the auth layer: add `.layer(auth_layer(&auth))`");
        return Err(AuthRejection(
            (
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "auth layer missing",
            )
                .into_response(),
        ));
    };
    // Already resolved for this request (by `require_auth`, or an earlier extractor).
    if let Some(user) = parts.extensions.get::<AuthUser>() {
        return Ok((auth, Outcome::User(user.clone())));
    }
    let id = auth.session_id_from_headers(&parts.headers);
    match auth.authenticate(id.as_ref()).await {
        Authenticated::User(session) => {
            let user = AuthUser(session);
            parts.extensions.insert(user.clone());
            Ok((auth, Outcome::User(user)))
        }
        other => Ok((auth, Outcome::Not(other))),
    }
}

fn reject(auth: &Auth, outcome: &Authenticated, parts: &Parts) -> AuthRejection {
    // Inside `Router::nest` the URI lost its prefix; `return_to` needs the whole path.
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |o| &o.0);
    AuthRejection(crate::into_axum(auth.rejection_response(
        outcome,
        &parts.method,
        uri,
        &parts.headers,
    )))
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match authenticate(parts).await? {
            (_, Outcome::User(u)) => Ok(u),
            (auth, Outcome::Not(outcome)) => Err(reject(&auth, &outcome, parts)),
        }
    }
}

/// `Option<AuthUser>`: `None` without a valid session; still 503 when the session
/// cannot be checked (store or provider down), so a signed-in user is never shown a
/// signed-out page by mistake.
impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match authenticate(parts).await? {
            (_, Outcome::User(u)) => Ok(Some(u)),
            (auth, Outcome::Not(outcome @ Authenticated::Unavailable)) => {
                Err(reject(&auth, &outcome, parts))
            }
            (_, Outcome::Not(_)) => Ok(None),
        }
    }
}

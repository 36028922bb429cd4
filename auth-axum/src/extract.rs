//! The [`AuthUser`] extractor.

use std::sync::Arc;

use auth_core::{AccessToken, Auth, AuthSession, Claims, SessionStatus};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use tower_sessions::Session;

/// The signed-in user of a request. It exists only when the session is valid
/// (refreshed if needed). Use `Option<AuthUser>` on pages that work both ways.
#[derive(Clone, Debug)]
pub struct AuthUser {
    session: Arc<AuthSession>,
}

impl AuthUser {
    /// The user's validated ID-token claims.
    pub fn claims(&self) -> &Claims {
        self.session.claims()
    }

    /// The subject (the provider's user id).
    pub fn sub(&self) -> &str {
        self.session.claims().sub()
    }

    /// The current access token, to call APIs on the user's behalf.
    pub fn access_token(&self) -> &AccessToken {
        self.session.access_token()
    }

    /// The whole session.
    pub fn session(&self) -> &AuthSession {
        &self.session
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
    Anonymous,
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
    let session = Session::from_request_parts(parts, &())
        .await
        .map_err(|(status, msg)| AuthRejection((status, msg).into_response()))?;
    let stored = match session.get::<AuthSession>(AuthSession::KEY).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "session store unavailable");
            return Err(AuthRejection(crate::into_axum(
                auth.unavailable_response(&parts.headers),
            )));
        }
    };
    let Some(stored) = stored else {
        return Ok((auth, Outcome::Anonymous));
    };
    match auth.check_session(&stored).await {
        SessionStatus::Valid => Ok((
            auth,
            Outcome::User(AuthUser {
                session: Arc::new(stored),
            }),
        )),
        SessionStatus::Refreshed(new) => {
            if let Err(e) = session.insert(AuthSession::KEY, &new).await {
                tracing::error!(error = %e, "could not store refreshed session");
                return Err(AuthRejection(crate::into_axum(
                    auth.unavailable_response(&parts.headers),
                )));
            }
            Ok((
                auth,
                Outcome::User(AuthUser {
                    session: Arc::new(new),
                }),
            ))
        }
        SessionStatus::Ended(why) => {
            tracing::info!(reason = ?why, "session ended");
            if let Err(e) = session.flush().await {
                tracing::error!(error = %e, "could not delete ended session");
            }
            Ok((auth, Outcome::Anonymous))
        }
        SessionStatus::Unavailable(e) => {
            tracing::warn!(error = %e, "session check unavailable");
            Err(AuthRejection(crate::into_axum(
                auth.unavailable_response(&parts.headers),
            )))
        }
        _ => Ok((auth, Outcome::Anonymous)),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match authenticate(parts).await? {
            (_, Outcome::User(u)) => Ok(u),
            (auth, Outcome::Anonymous) => Err(AuthRejection(crate::into_axum(
                auth.unauthenticated_response(&parts.method, &parts.uri, &parts.headers),
            ))),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match authenticate(parts).await? {
            (_, Outcome::User(u)) => Ok(Some(u)),
            (_, Outcome::Anonymous) => Ok(None),
        }
    }
}

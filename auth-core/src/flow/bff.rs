//! The backend for a single-page app: the session as JSON for the SPA's script
//! (`GET {prefix}/user`), never a redirect. Tokens never reach the browser.

use serde::Serialize;

use crate::auth::Auth;
use crate::flow::authenticate::Authenticated;
use crate::session::AuthSession;

/// What `GET {prefix}/user` tells the SPA of its user: who, from where, with which
/// organization, roles and permissions, since when, and where to sign out. No token.
#[derive(Debug, Serialize)]
struct SpaUser<'a> {
    sub: &'a str,
    iss: &'a str,
    provider: Option<&'a str>,
    name: Option<&'a str>,
    email: Option<&'a str>,
    organization: Option<&'a str>,
    roles: &'a [String],
    permissions: &'a [String],
    /// When the user signed in (epoch seconds).
    authenticated_at: i64,
    /// When the access token expires (epoch seconds), if the provider said; the
    /// session is refreshed before then by any request that uses it.
    expires_at: Option<i64>,
    logout_url: String,
}

impl<'a> SpaUser<'a> {
    fn of(session: &'a AuthSession, logout_url: String) -> Self {
        let claims = session.claims();
        Self {
            sub: claims.sub(),
            iss: claims.iss(),
            provider: session.provider(),
            name: claims.name(),
            email: claims.email(),
            organization: session.organization(),
            roles: session.roles(),
            permissions: session.permissions(),
            authenticated_at: session.authenticated_at,
            expires_at: session.expires_at,
            logout_url,
        }
    }
}

impl Auth {
    /// `GET {prefix}/user`: 200 with the signed-in user as JSON ([`SpaUser`]'s
    /// fields), 401 `{"error": "not_signed_in"}` without a session, 503 while the
    /// session cannot be checked; never a redirect, whatever the `Accept`, and never
    /// cached (`Cache-Control: no-store`). The session is checked (and refreshed when
    /// due) as on any signed-in request.
    pub(crate) async fn user_response(&self, headers: &http::HeaderMap) -> http::Response<String> {
        let id = self.session_id_from_headers(headers);
        let (status, body) = match self.authenticate(id.as_ref()).await {
            Authenticated::User(session) => {
                let logout = format!("{}/logout", self.config().route_prefix());
                let user = SpaUser::of(&session, logout);
                (
                    http::StatusCode::OK,
                    serde_json::to_string(&user).unwrap_or_default(),
                )
            }
            Authenticated::Anonymous => (
                http::StatusCode::UNAUTHORIZED,
                r#"{"error":"not_signed_in"}"#.to_owned(),
            ),
            Authenticated::Unavailable => (
                http::StatusCode::SERVICE_UNAVAILABLE,
                r#"{"error":"temporarily_unavailable"}"#.to_owned(),
            ),
        };
        let mut r = http::Response::new(body);
        *r.status_mut() = status;
        let headers = r.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        headers.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        r
    }
}

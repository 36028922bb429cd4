//! The example app's router, shared by `main.rs` and the end-to-end tests.

use std::time::Duration;

use auth_axum::{
    Auth, AuthUser, Authorized, BearerUser, Policy, Requirement, auth_layer, auth_router, require,
};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

/// `GET /` (public), `GET /me` (protected by the session, JSON), `GET /admin` (role
/// `admin`), `GET /reports` (permission `reports:read`), `GET /sensitive` (signed in
/// within the last 300 s), `GET /api/me` (protected by a bearer access token, JSON) and
/// the auth routes.
pub fn app(auth: Auth) -> Router {
    let admins = require(Requirement::role("admin"));
    let recent = require(Requirement::signed_in_within(Duration::from_secs(300)));
    Router::new()
        .route("/", get(home))
        .route("/me", get(me))
        .route("/admin", get(me).route_layer(admins))
        .route("/reports", get(reports))
        .route("/sensitive", get(me).route_layer(recent))
        .route("/api/me", get(api_me))
        .merge(auth_router(auth.clone()))
        .layer(auth_layer(&auth))
}

async fn home(user: Option<AuthUser>) -> Html<String> {
    let body = match user {
        Some(u) => {
            let name = u.claims().name().or(u.claims().email()).unwrap_or(u.sub());
            format!(
                "<p>Signed in as <strong>{}</strong>.</p><p><a href=\"/me\">/me</a></p><form method=\"post\" action=\"/auth/logout\"><button type=\"submit\">Sign out</button></form>",
                escape(name)
            )
        }
        None => "<p>You are not signed in.</p><p><a href=\"/auth/login\">Sign in</a> · <a href=\"/auth/signup\">Sign up</a></p>".to_string(),
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>auth-axum example</title></head><body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto\"><h1>auth-axum example</h1>{body}</body></html>"
    ))
}

/// The signed-in user (the example contract's fields), serialized straight from the
/// session. Every claim is in `user.claims()` (`json()` gives them as JSON text).
#[derive(Serialize)]
struct Me<'a> {
    sub: &'a str,
    iss: &'a str,
    /// The id of the provider that signed the user in (apps with several providers).
    provider: Option<&'a str>,
    email: Option<&'a str>,
    name: Option<&'a str>,
    organization: Option<&'a str>,
    roles: &'a [String],
    permissions: &'a [String],
}

impl<'a> Me<'a> {
    fn of(user: &'a auth_axum::AuthSession) -> Self {
        let c = user.claims();
        Me {
            sub: c.sub(),
            iss: c.iss(),
            provider: user.provider(),
            email: c.email(),
            name: c.name(),
            organization: user.organization(),
            roles: user.roles(),
            permissions: user.permissions(),
        }
    }
}

async fn me(user: AuthUser) -> Response {
    Json(Me::of(&user)).into_response()
}

/// Who may read reports: the permission `reports:read`.
struct ReportReaders;

impl Policy for ReportReaders {
    fn requirement() -> Requirement {
        Requirement::permission("reports:read")
    }
}

async fn reports(user: Authorized<ReportReaders>) -> Response {
    Json(Me::of(&user)).into_response()
}

/// The caller of the API, from its bearer token.
#[derive(Serialize)]
struct ApiCaller<'a> {
    sub: &'a str,
    iss: &'a str,
    provider: Option<&'a str>,
    client_id: Option<&'a str>,
    scopes: Vec<&'a str>,
}

async fn api_me(caller: BearerUser) -> Response {
    let body = ApiCaller {
        sub: caller.sub(),
        iss: caller.iss(),
        provider: caller.provider(),
        client_id: caller.client_id(),
        scopes: caller.scopes().collect(),
    };
    Json(body).into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

//! The example app's router, shared by `main.rs` and the end-to-end tests.

use std::time::Duration;

use auth_axum::auth_core::RemoteApi;
use auth_axum::{
    Auth, AuthUser, Authorized, BearerUser, Policy, Requirement, SameOrigin, auth_layer,
    auth_router, forward_router, require,
};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use example_users::Users;
use serde::Serialize;
use serde_json::json;

/// `GET /` (public), `GET /me` (protected by the session, JSON), `GET /admin` (role
/// `admin`), `GET /reports` (permission `reports:read`), `GET /sensitive` (signed in
/// within the last 300 s), `GET /api/me` (protected by a bearer access token, JSON),
/// the admin's `/admin/users` routes (role `admin`), the user's own
/// `/account/sessions` routes, `POST /bff/echo` (a single-page app's API: the session
/// and `X-CSRF: 1`), with `remote` every method under `/bff/remote/` forwarded to that
/// API with the user's token, `GET /metrics` (Prometheus), and the auth routes. `users` are the app's own
/// (configure the sign-in hook with `example_users::configure`).
pub fn app(auth: Auth, users: Users, remote: Option<RemoteApi>) -> Router {
    let admins = require(Requirement::role("admin"));
    let recent = require(Requirement::signed_in_within(Duration::from_secs(300)));
    // The single-page app's API: the session's user, and the anti-forgery header.
    let spa_api = Router::new()
        .route("/bff/echo", post(bff_echo))
        .route_layer(require(Requirement::anti_forgery_header()));
    let admin_routes = Router::new()
        .route("/admin/users", get(admin_users))
        .route("/admin/users/{user_id}/sign-out", post(admin_sign_out))
        .route("/admin/users/{user_id}/block", post(admin_block))
        .route("/admin/users/{user_id}/unblock", post(admin_unblock))
        .route(
            "/admin/providers",
            get(admin_providers).post(admin_add_provider),
        )
        .route("/admin/providers/{id}", delete(admin_remove_provider))
        .route_layer(admins.clone());
    Router::new()
        .route("/", get(home))
        .route("/me", get(me))
        .route("/admin", get(me).route_layer(admins))
        .route("/reports", get(reports))
        .route("/sensitive", get(me).route_layer(recent))
        .route("/api/me", get(api_me))
        .route("/metrics", get(metrics))
        .route("/spa", get(|| async { Html(example_users::SPA_PAGE) }))
        .route("/account/sessions", get(account_sessions))
        .route("/account/sessions/{id}/revoke", post(revoke_session))
        .route(
            "/account/sessions/revoke-others",
            post(revoke_other_sessions),
        )
        .merge(admin_routes)
        .merge(spa_api)
        .merge(remote.map_or_else(Router::new, |api| forward_router("/bff/remote", api)))
        .with_state(App {
            auth: auth.clone(),
            users,
        })
        .merge(auth_router(auth.clone()))
        .layer(auth_layer(&auth))
}

/// `POST /bff/echo`: the signed-in user's `sub` and the JSON object sent (a single-page
/// app's call, with `X-CSRF: 1`).
async fn bff_echo(
    user: AuthUser,
    Json(body): Json<serde_json::Map<String, serde_json::Value>>,
) -> Response {
    Json(json!({ "sub": user.sub(), "body": body })).into_response()
}

/// `GET /metrics`: the library's counters and histogram, for Prometheus.
async fn metrics() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            example_users::METRICS_CONTENT_TYPE,
        )],
        example_users::render_metrics(),
    )
}

/// What the handlers share.
#[derive(Clone)]
struct App {
    auth: Auth,
    users: Users,
}

/// `GET /admin/users`: the local users.
async fn admin_users(State(app): State<App>) -> Response {
    match app.users.list().await {
        Ok(users) => Json(users).into_response(),
        Err(e) => unavailable(&*e),
    }
}

/// `POST /admin/users/{user_id}/sign-out`: ends every session of the user, on every
/// instance.
async fn admin_sign_out(_: SameOrigin, State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.users.get(&id).await {
        Ok(Some(user)) => end_sessions(&app, &user).await,
        Ok(None) => not_found(),
        Err(e) => unavailable(&*e),
    }
}

/// `POST /admin/users/{user_id}/block`: blocks the user and ends their sessions.
async fn admin_block(_: SameOrigin, State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.users.set_blocked(&id, true).await {
        Ok(Some(user)) => end_sessions(&app, &user).await,
        Ok(None) => not_found(),
        Err(e) => unavailable(&*e),
    }
}

/// `POST /admin/users/{user_id}/unblock`: lets the user in again.
async fn admin_unblock(_: SameOrigin, State(app): State<App>, Path(id): Path<String>) -> Response {
    match app.users.set_blocked(&id, false).await {
        Ok(Some(user)) => Json(user).into_response(),
        Ok(None) => not_found(),
        Err(e) => unavailable(&*e),
    }
}

/// `GET /admin/providers`: the providers added while the app runs (never a secret).
async fn admin_providers(State(app): State<App>) -> Response {
    match app.users.providers().await {
        Ok(providers) => Json(providers).into_response(),
        Err(e) => unavailable(&*e),
    }
}

/// `POST /admin/providers`: adds an OpenID provider while the app runs (201), kept in
/// the database for every instance and restart.
async fn admin_add_provider(
    _: SameOrigin,
    State(app): State<App>,
    Json(new): Json<example_users::NewProvider>,
) -> Response {
    match app.users.add_provider(&app.auth, new).await {
        Ok(added) => (StatusCode::CREATED, Json(added)).into_response(),
        Err(refusal) => refused(refusal),
    }
}

/// `DELETE /admin/providers/{id}`: removes it (204); its logins stop, its users'
/// sessions end.
async fn admin_remove_provider(
    _: SameOrigin,
    State(app): State<App>,
    Path(id): Path<String>,
) -> Response {
    match app.users.remove_provider(&app.auth, &id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(refusal) => refused(refusal),
    }
}

fn refused(r: example_users::Refusal) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = Json(json!({ "error": r.error, "message": r.message }));
    (status, body).into_response()
}

async fn end_sessions(app: &App, user: &example_users::User) -> Response {
    match app
        .auth
        .end_sessions_of(user.provider.as_deref(), &user.sub)
        .await
    {
        Ok(ended) => Json(json!({ "ended": ended })).into_response(),
        Err(e) => unavailable(&e),
    }
}

/// `GET /account/sessions`: the user's live sessions, newest first.
async fn account_sessions(State(app): State<App>, user: AuthUser) -> Response {
    match app.auth.sessions_of(user.provider(), user.sub()).await {
        Ok(list) => {
            let views = example_users::session_views(list, user.handle().as_deref());
            Json(views).into_response()
        }
        Err(e) => unavailable(&e),
    }
}

/// `POST /account/sessions/{id}/revoke`: ends one of the user's sessions.
async fn revoke_session(
    _: SameOrigin,
    State(app): State<App>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Response {
    match app
        .auth
        .end_session_by_handle(user.provider(), user.sub(), &id)
        .await
    {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => not_found(),
        Err(e) => unavailable(&e),
    }
}

/// `POST /account/sessions/revoke-others`: ends all the user's sessions but this one.
async fn revoke_other_sessions(_: SameOrigin, State(app): State<App>, user: AuthUser) -> Response {
    match app.auth.end_other_sessions(&user).await {
        Ok(ended) => Json(json!({ "ended": ended })).into_response(),
        Err(e) => unavailable(&e),
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": "not_found" }))).into_response()
}

fn unavailable(e: &dyn std::error::Error) -> Response {
    tracing::error!(error = %e, "the user store or the sessions are unavailable");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": "temporarily_unavailable" })),
    )
        .into_response()
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
    /// The app's own id of the user (from the sign-in hook).
    user_id: Option<&'a str>,
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
            user_id: user.user_id(),
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
    /// The granted scopes, space separated (as the token says them) and as a list.
    scope: String,
    scopes: Vec<&'a str>,
}

async fn api_me(caller: BearerUser) -> Response {
    let body = ApiCaller {
        sub: caller.sub(),
        iss: caller.iss(),
        provider: caller.provider(),
        client_id: caller.client_id(),
        scope: caller.scopes().collect::<Vec<_>>().join(" "),
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

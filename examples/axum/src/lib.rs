//! The example app's router, shared by `main.rs` and the end-to-end tests.

use auth_axum::{Auth, AuthUser, auth_layer, auth_router};
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

/// `GET /` (public), `GET /me` (protected, JSON) and the auth routes.
pub fn app(auth: Auth) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/me", get(me))
        .merge(auth_router(auth.clone()))
        .layer(auth_layer(&auth))
}

async fn home(user: Option<AuthUser>) -> Html<String> {
    let body = match user {
        Some(u) => {
            let name = u.claims().name().or(u.claims().email()).unwrap_or(u.sub());
            format!(
                "<p>Signed in as <strong>{}</strong>.</p><p><a href=\"/me\">/me</a> · <a href=\"/auth/logout\">Sign out</a></p>",
                escape(name)
            )
        }
        None => "<p>You are not signed in.</p><p><a href=\"/auth/login\">Sign in</a> · <a href=\"/auth/signup\">Sign up</a></p>".to_string(),
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>auth-axum example</title></head><body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto\"><h1>auth-axum example</h1>{body}</body></html>"
    ))
}

async fn me(user: AuthUser) -> Json<serde_json::Value> {
    let c = user.claims();
    Json(json!({ "sub": c.sub(), "email": c.email(), "name": c.name(), "claims": c.as_map() }))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

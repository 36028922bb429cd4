//! The example app, shared by `main.rs` and the acceptance tests.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use auth_actix::{Auth, AuthUser, MaybeAuthUser, auth_middleware, auth_routes};
use serde_json::json;

/// Serves `GET /` (public), `GET /me` (protected, JSON) and the auth routes on
/// `listener`. Run the returned server inside an actix system (`#[actix_web::main]`).
pub fn server(auth: Auth, listener: TcpListener) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || {
        App::new()
            .wrap(auth_middleware(&auth))
            .configure(auth_routes(&auth))
            .route("/", web::get().to(home))
            .route("/me", web::get().to(me))
    })
    .listen(listener)?
    .run())
}

async fn home(MaybeAuthUser(user): MaybeAuthUser) -> HttpResponse {
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
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>auth-actix example</title></head><body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto\"><h1>auth-actix example</h1>{body}</body></html>"
        ))
}

async fn me(user: AuthUser) -> web::Json<serde_json::Value> {
    let c = user.claims();
    web::Json(json!({ "sub": c.sub(), "email": c.email(), "name": c.name(), "claims": c.as_map() }))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

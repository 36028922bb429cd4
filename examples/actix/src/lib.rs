//! The example app, shared by `main.rs` and the acceptance tests.

use std::net::TcpListener;

use actix_web::dev::Server;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use auth_actix::{
    Auth, AuthUser, Authorized, BearerUser, MaybeAuthUser, Policy, Require, Requirement,
    auth_middleware, auth_routes,
};
use serde::Serialize;

/// Serves `GET /` (public), `GET /me` (protected by the session, JSON), `GET /admin`
/// (role `admin`), `GET /reports` (permission `reports:read`), `GET /sensitive` (signed
/// in within the last 300 s), `GET /api/me` (protected by a bearer access token, JSON)
/// and the auth routes on `listener`. Run the returned server inside an actix system
/// (`#[actix_web::main]`).
pub fn server(auth: Auth, listener: TcpListener) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || {
        let admins = Require::new(Requirement::role("admin"));
        let recent = Require::new(Requirement::signed_in_within(Duration::from_secs(300)));
        App::new()
            .wrap(auth_middleware(&auth))
            .configure(auth_routes(&auth))
            .route("/", web::get().to(home))
            .route("/me", web::get().to(me))
            .service(
                web::resource("/admin")
                    .wrap(admins)
                    .route(web::get().to(me)),
            )
            .route("/reports", web::get().to(reports))
            .service(
                web::resource("/sensitive")
                    .wrap(recent)
                    .route(web::get().to(me)),
            )
            .route("/api/me", web::get().to(api_me))
    })
    .listen(listener)?
    .run())
}

async fn home(MaybeAuthUser(user): MaybeAuthUser) -> HttpResponse {
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
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>auth-actix example</title></head><body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto\"><h1>auth-actix example</h1>{body}</body></html>"
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
    fn of(user: &'a auth_actix::AuthSession) -> Self {
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

async fn me(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(Me::of(&user))
}

/// Who may read reports: the permission `reports:read`.
struct ReportReaders;

impl Policy for ReportReaders {
    fn requirement() -> Requirement {
        Requirement::permission("reports:read")
    }
}

async fn reports(user: Authorized<ReportReaders>) -> HttpResponse {
    HttpResponse::Ok().json(Me::of(&user))
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

async fn api_me(caller: BearerUser) -> HttpResponse {
    HttpResponse::Ok().json(ApiCaller {
        sub: caller.sub(),
        iss: caller.iss(),
        provider: caller.provider(),
        client_id: caller.client_id(),
        scopes: caller.scopes().collect(),
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

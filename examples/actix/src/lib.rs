//! The example app, shared by `main.rs` and the acceptance tests.

use std::net::TcpListener;

use actix_web::dev::Server;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpResponse, HttpServer, web};
use auth_actix::auth_core::RemoteApi;
use auth_actix::{
    Auth, AuthUser, Authorized, BearerUser, MaybeAuthUser, Policy, Require, Requirement,
    SameOrigin, auth_middleware, auth_routes, forward_routes,
};
use example_users::Users;
use serde::Serialize;
use serde_json::json;

/// Serves `GET /` (public), `GET /me` (protected by the session, JSON), `GET /admin`
/// (role `admin`), `GET /reports` (permission `reports:read`), `GET /sensitive` (signed
/// in within the last 300 s), `GET /api/me` (protected by a bearer access token, JSON),
/// the admin's `/admin/users` routes (role `admin`), the user's own
/// `/account/sessions` routes, `POST /bff/echo` (a single-page app's API: the session
/// and `X-CSRF: 1`), with `remote` every method under `/bff/remote/` forwarded to that
/// API with the user's token, `GET /metrics` (Prometheus), and the auth routes on
/// `listener`. `users` are the app's
/// own (configure the sign-in hook with `example_users::configure`). Run the returned
/// server inside an actix system (`#[actix_web::main]`).
pub fn server(
    auth: Auth,
    users: Users,
    remote: Option<RemoteApi>,
    listener: TcpListener,
) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || app(&auth, &users, remote.as_ref()))
        .listen(listener)?
        .run())
}

/// The app of one worker (what [`server`] serves; also called in process by the
/// `overhead` bench, through `actix_web::test::init_service`).
pub fn app(
    auth: &Auth,
    users: &Users,
    remote: Option<&RemoteApi>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody + use<>>,
        Error = actix_web::Error,
        InitError = (),
    > + use<>,
> {
    let admins = Require::new(Requirement::role("admin"));
    let recent = Require::new(Requirement::signed_in_within(Duration::from_secs(300)));
    let shared = Shared {
        auth: auth.clone(),
        users: users.clone(),
    };
    let mut app = App::new()
        .app_data(web::Data::new(shared))
        .wrap(auth_middleware(auth))
        .configure(auth_routes(auth));
    if let Some(api) = remote {
        app = app.configure(forward_routes("/bff/remote", api.clone()));
    }
    app.service(
        web::scope("/admin/users")
            .wrap(Require::new(Requirement::role("admin")))
            .route("", web::get().to(admin_users))
            .route("/{user_id}/sign-out", web::post().to(admin_sign_out))
            .route("/{user_id}/block", web::post().to(admin_block))
            .route("/{user_id}/unblock", web::post().to(admin_unblock)),
    )
    .service(
        web::scope("/admin/providers")
            .wrap(Require::new(Requirement::role("admin")))
            .route("", web::get().to(admin_providers))
            .route("", web::post().to(admin_add_provider))
            .route("/{id}", web::delete().to(admin_remove_provider)),
    )
    .route("/account/sessions", web::get().to(account_sessions))
    .route(
        "/account/sessions/revoke-others",
        web::post().to(revoke_other_sessions),
    )
    .route(
        "/account/sessions/{id}/revoke",
        web::post().to(revoke_session),
    )
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
    .route("/metrics", web::get().to(metrics))
    .route("/spa", web::get().to(spa))
    .service(
        web::resource("/bff/echo")
            .wrap(Require::new(Requirement::anti_forgery_header()))
            .route(web::post().to(bff_echo)),
    )
}

/// `POST /bff/echo`: the signed-in user's `sub` and the JSON object sent (a single-page
/// app's call, with `X-CSRF: 1`).
async fn bff_echo(
    user: AuthUser,
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sub": user.sub(), "body": body.into_inner() }))
}

/// `GET /spa`: the single-page app (`example_users::SPA_PAGE`).
async fn spa() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(example_users::SPA_PAGE)
}

/// `GET /metrics`: the library's counters and histogram, for Prometheus.
async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(example_users::METRICS_CONTENT_TYPE)
        .body(example_users::render_metrics())
}

/// What the handlers share.
struct Shared {
    auth: Auth,
    users: Users,
}

/// `GET /admin/users`: the local users.
async fn admin_users(app: web::Data<Shared>) -> HttpResponse {
    match app.users.list().await {
        Ok(users) => HttpResponse::Ok().json(users),
        Err(e) => unavailable(&*e),
    }
}

/// `POST /admin/users/{user_id}/sign-out`: ends every session of the user, on every
/// instance.
async fn admin_sign_out(
    _: SameOrigin,
    app: web::Data<Shared>,
    id: web::Path<String>,
) -> HttpResponse {
    match app.users.get(&id).await {
        Ok(Some(user)) => end_sessions(&app, &user).await,
        Ok(None) => not_found(),
        Err(e) => unavailable(&*e),
    }
}

/// `POST /admin/users/{user_id}/block`: blocks the user and ends their sessions.
async fn admin_block(_: SameOrigin, app: web::Data<Shared>, id: web::Path<String>) -> HttpResponse {
    match app.users.set_blocked(&id, true).await {
        Ok(Some(user)) => end_sessions(&app, &user).await,
        Ok(None) => not_found(),
        Err(e) => unavailable(&*e),
    }
}

/// `POST /admin/users/{user_id}/unblock`: lets the user in again.
async fn admin_unblock(
    _: SameOrigin,
    app: web::Data<Shared>,
    id: web::Path<String>,
) -> HttpResponse {
    match app.users.set_blocked(&id, false).await {
        Ok(Some(user)) => HttpResponse::Ok().json(user),
        Ok(None) => not_found(),
        Err(e) => unavailable(&*e),
    }
}

/// `GET /admin/providers`: the providers added while the app runs (never a secret).
async fn admin_providers(app: web::Data<Shared>) -> HttpResponse {
    match app.users.providers().await {
        Ok(providers) => HttpResponse::Ok().json(providers),
        Err(e) => unavailable(&*e),
    }
}

/// `POST /admin/providers`: adds an OpenID provider while the app runs (201), kept in
/// the database for every instance and restart.
async fn admin_add_provider(
    _: SameOrigin,
    app: web::Data<Shared>,
    new: web::Json<example_users::NewProvider>,
) -> HttpResponse {
    match app.users.add_provider(&app.auth, new.into_inner()).await {
        Ok(added) => HttpResponse::Created().json(added),
        Err(refusal) => refused(refusal),
    }
}

/// `DELETE /admin/providers/{id}`: removes it (204); its logins stop, its users'
/// sessions end.
async fn admin_remove_provider(
    _: SameOrigin,
    app: web::Data<Shared>,
    id: web::Path<String>,
) -> HttpResponse {
    match app.users.remove_provider(&app.auth, &id).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(refusal) => refused(refusal),
    }
}

fn refused(r: example_users::Refusal) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(r.status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(json!({ "error": r.error, "message": r.message }))
}

async fn end_sessions(app: &Shared, user: &example_users::User) -> HttpResponse {
    match app
        .auth
        .end_sessions_of(user.provider.as_deref(), &user.sub)
        .await
    {
        Ok(ended) => HttpResponse::Ok().json(json!({ "ended": ended })),
        Err(e) => unavailable(&e),
    }
}

/// `GET /account/sessions`: the user's live sessions, newest first.
async fn account_sessions(app: web::Data<Shared>, user: AuthUser) -> HttpResponse {
    match app.auth.sessions_of(user.provider(), user.sub()).await {
        Ok(list) => {
            let views = example_users::session_views(list, user.handle().as_deref());
            HttpResponse::Ok().json(views)
        }
        Err(e) => unavailable(&e),
    }
}

/// `POST /account/sessions/{id}/revoke`: ends one of the user's sessions.
async fn revoke_session(
    _: SameOrigin,
    app: web::Data<Shared>,
    user: AuthUser,
    id: web::Path<String>,
) -> HttpResponse {
    match app
        .auth
        .end_session_by_handle(user.provider(), user.sub(), &id)
        .await
    {
        Ok(true) => HttpResponse::NoContent().finish(),
        Ok(false) => not_found(),
        Err(e) => unavailable(&e),
    }
}

/// `POST /account/sessions/revoke-others`: ends all the user's sessions but this one.
async fn revoke_other_sessions(
    _: SameOrigin,
    app: web::Data<Shared>,
    user: AuthUser,
) -> HttpResponse {
    match app.auth.end_other_sessions(&user).await {
        Ok(ended) => HttpResponse::Ok().json(json!({ "ended": ended })),
        Err(e) => unavailable(&e),
    }
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({ "error": "not_found" }))
}

fn unavailable(e: &dyn std::error::Error) -> HttpResponse {
    tracing::error!(error = %e, "the user store or the sessions are unavailable");
    HttpResponse::ServiceUnavailable().json(json!({ "error": "temporarily_unavailable" }))
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
    fn of(user: &'a auth_actix::AuthSession) -> Self {
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
    /// The granted scopes, space separated (as the token says them) and as a list.
    scope: String,
    scopes: Vec<&'a str>,
}

async fn api_me(caller: BearerUser) -> HttpResponse {
    HttpResponse::Ok().json(ApiCaller {
        sub: caller.sub(),
        iss: caller.iss(),
        provider: caller.provider(),
        client_id: caller.client_id(),
        scope: caller.scopes().collect::<Vec<_>>().join(" "),
        scopes: caller.scopes().collect(),
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

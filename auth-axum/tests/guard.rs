//! The shared guard suite (`testing/acceptance/src/guard.rs`) against this adapter: the
//! guard app it describes, built with axum.

use std::net::TcpListener;

use acceptance::Running;
use acceptance::{GuardApp, GuardData};
use auth_axum::{
    AppUser, AuthUser, BearerUser, Requirement, auth_layer, auth_router, require, require_auth,
};
use axum::Router;
use axum::routing::get;

fn serve(app: GuardApp, listener: TcpListener) -> Running {
    let GuardApp { auth, layer } = app;
    let guarded = Router::new()
        .route(
            "/admin",
            get(|| async { "admin" }).post(|| async { "admin" }),
        )
        .route_layer(axum::middleware::from_fn(require_auth));
    let nested = Router::new().route("/me", get(|u: AuthUser| async move { u.sub().to_owned() }));
    let mut router = Router::new()
        .route("/", get(|| async { "public" }))
        .route(
            "/maybe",
            get(|u: Option<AuthUser>| async move { if u.is_some() { "in" } else { "out" } }),
        )
        .route("/me", get(|u: AuthUser| async move { u.sub().to_owned() }))
        .route(
            "/api",
            get(|u: BearerUser| async move { u.sub().to_owned() }),
        )
        .route(
            "/maybe-api",
            get(|u: Option<BearerUser>| async move { if u.is_some() { "in" } else { "out" } }),
        )
        .nest("/nested", nested)
        .route(
            "/app-data",
            get(|u: AppUser<GuardData>| async move { u.data.plan }),
        )
        .route(
            "/mfa",
            get(|| async { "mfa" }).route_layer(require(Requirement::acr(["urn:mfa"]))),
        )
        .route(
            "/org",
            get(|| async { "org" }).route_layer(require(Requirement::organization("org_example"))),
        )
        .merge(guarded)
        .merge(auth_router(auth.clone()));
    if layer {
        router = router.layer(auth_layer(&auth));
    }
    listener.set_nonblocking(true).expect("nonblocking");
    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
    let task = tokio::spawn(async move { axum::serve(listener, router).await });
    Running::new(move || task.abort())
}

acceptance::guard_suite!(serve);

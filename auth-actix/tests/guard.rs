//! The shared guard suite (`testing/acceptance/src/guard.rs`) against this adapter: the
//! guard app it describes, built with actix-web; then what only actix-web has (its own
//! `Option<T>` extractor, `AuthExt`).

use std::net::TcpListener;

use acceptance::Running;
use acceptance::{GuardApp, GuardData};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Condition;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use auth_actix::{
    AppUser, Auth, AuthExt, AuthUser, BearerUser, MaybeAuthUser, MaybeBearerUser, Require,
    RequireAuth, Requirement, auth_middleware, auth_routes,
};

fn in_or_out(signed_in: bool) -> &'static str {
    if signed_in { "in" } else { "out" }
}

/// The guard app's routes (see `GuardApp`).
fn routes(auth: Auth) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.configure(auth_routes(&auth))
            .route("/", web::get().to(|| async { "public" }))
            .route(
                "/maybe",
                web::get()
                    .to(|MaybeAuthUser(u): MaybeAuthUser| async move { in_or_out(u.is_some()) }),
            )
            .route(
                "/me",
                web::get().to(|u: AuthUser| async move { u.sub().to_owned() }),
            )
            .route(
                "/api",
                web::get().to(|u: BearerUser| async move { u.sub().to_owned() }),
            )
            .route(
                "/maybe-api",
                web::get().to(|MaybeBearerUser(u): MaybeBearerUser| async move {
                    in_or_out(u.is_some())
                }),
            )
            .service(web::scope("/nested").route(
                "/me",
                web::get().to(|u: AuthUser| async move { u.sub().to_owned() }),
            ))
            .route(
                "/app-data",
                web::get().to(|u: AppUser<GuardData>| async move { u.data.plan }),
            )
            .service(
                web::resource("/mfa")
                    .wrap(Require::new(Requirement::acr(["urn:mfa"])))
                    .route(web::get().to(|| async { "mfa" })),
            )
            .service(
                web::resource("/org")
                    .wrap(Require::new(Requirement::organization("org_example")))
                    .route(web::get().to(|| async { "org" })),
            )
            .service(
                web::scope("/admin")
                    .wrap(RequireAuth)
                    .route("", web::get().to(|| async { "admin" }))
                    .route("", web::post().to(|| async { "admin" })),
            );
    }
}

fn serve(app: GuardApp, listener: TcpListener) -> Running {
    let GuardApp { auth, layer } = app;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new()
                    .configure(routes(auth.clone()))
                    .wrap(Condition::new(layer, auth_middleware(&auth)))
            })
            .workers(1)
            .listen(listener)
            .expect("listen")
            .run();
            tx.send(server.handle()).expect("handle");
            server.await.expect("serve");
        });
    });
    let handle = rx.recv().expect("server started");
    Running::new(move || drop(handle.stop(false)))
}

acceptance::guard_suite!(serve);

async fn public(user: Option<AuthUser>, req: HttpRequest) -> HttpResponse {
    assert!(
        req.auth().is_some(),
        "the middleware puts Auth in the request"
    );
    assert!(req.auth_user().is_none());
    HttpResponse::Ok().body(in_or_out(user.is_some()))
}

/// actix-web's own `Option<AuthUser>` (unlike `MaybeAuthUser`) turns every rejection
/// into `None`: with the store down the page is served as signed out. `AuthExt` finds
/// the `Auth` the middleware put in the request.
#[actix_web::test]
async fn actix_option_extractor_sees_an_outage_as_signed_out() {
    let config = acceptance::guard_config("/auth")
        .with_session_store(acceptance::DownStore)
        .build()
        .expect("config");
    let auth = Auth::discover(config).await.expect("auth");
    let app = init_service(
        App::new()
            .wrap(auth_middleware(&auth))
            .route("/", web::get().to(public)),
    )
    .await;
    let req = TestRequest::get()
        .uri("/")
        .insert_header((header::COOKIE, "auth_session=AAAAAAAAAAAAAAAAAAAAAA"))
        .to_request();
    let r = call_service(&app, req).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(read_body(r).await, "out");
}

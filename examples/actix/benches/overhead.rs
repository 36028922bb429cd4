//! The signed-in request's own cost (issue 35), in process: the example app's `App`
//! called directly (`actix_web::test::init_service`: no socket, no load generator),
//! public `GET /` without a cookie against `GET /` and `GET /me` signed in (signed in
//! through the development provider; the session in the memory store, or in Redis with
//! `REDIS_URL`, served by the fast path), alternated. Prints the time per request of
//! each and what signing in adds.
//!
//! The library's own part is measured apart: a bare app whose handler is the same with
//! and without the `AuthUser` extractor, both requests with the session cookie.
//!
//! `MODE=public|home|me|plain|user ITER=n` runs one kind only, inside `measure`, for
//! `valgrind --tool=callgrind --toggle-collect='*overhead*measure*'`: instructions per
//! request, and where they go (`callgrind_annotate`).
//!
//! `cargo bench -p example-actix --bench overhead`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header;
use actix_web::test::{self, TestRequest};
use actix_web::{App, web};
use auth_actix::AuthUser;
use auth_testkit::DevProvider;
use reqwest::cookie::CookieStore as _;

/// One request to `app`, its body read.
async fn call<S, B>(app: &S, path: &str, cookie: Option<&str>)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut request = TestRequest::get().uri(path);
    if let Some(c) = cookie {
        request = request.insert_header((header::COOKIE, c));
    }
    let response = test::call_service(app, request.to_request()).await;
    assert!(response.status().is_success(), "{path}");
    test::read_body(response).await;
}

/// `n` requests of one kind, on `system` (what callgrind counts: a plain function, so
/// that `--toggle-collect` finds it).
#[inline(never)]
fn measure<S, B>(
    system: &actix_web::rt::SystemRunner,
    app: &S,
    path: &str,
    cookie: Option<&str>,
    n: usize,
) where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    system.block_on(async {
        for _ in 0..n {
            call(app, path, cookie).await;
        }
    });
}

/// With Redis, waits until `request` is served by the fast path (the session cached,
/// the invalidation channel live); without it, returns at once.
async fn served_from_memory<F: Future<Output = ()>>(
    auth: &auth_actix::Auth,
    request: impl Fn() -> F,
) {
    for _ in 0..500 {
        let Some(before) = auth.fast_path() else {
            return;
        };
        request().await;
        if auth.fast_path().expect("on").hits > before.hits {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the fast path never served the session");
}

fn main() {
    // The provider and the fast path's heartbeat run on a runtime of their own, so that
    // a loop of requests that never waits does not starve them; the requests measured
    // run on the actix system of this thread.
    let background = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let app_url = format!("http://{}", listener.local_addr().expect("addr"));
    let (provider, auth) = background.block_on(async {
        let provider = DevProvider::builder()
            .app(&app_url)
            .auto_approve(true)
            .start()
            .await
            .expect("provider");
        let mut builder = provider.auth_config(&app_url);
        if let Ok(url) = std::env::var("REDIS_URL") {
            builder = builder
                .with_redis_url(url)
                .with_app_secret_hex(&"0f".repeat(32));
        }
        let config = builder.build().expect("config");
        let auth = auth_actix::Auth::discover(config).await.expect("auth");
        (provider, auth)
    });
    let system = actix_web::rt::System::new();
    let (app, bare, cookie) = system.block_on(async {
        let users = || example_users::Users::open("sqlite::memory:").expect("users");
        let server = example_actix::server(auth.clone(), users(), None, listener).expect("server");
        actix_web::rt::spawn(server);
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let browser = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        provider
            .sign_in(&browser, &format!("{app_url}/auth/login"), "alice")
            .await
            .expect("signed in");
        let cookie = jar
            .cookies(&app_url.parse().expect("url"))
            .expect("the session cookie");
        let cookie = cookie.to_str().expect("ascii").to_owned();
        let app = test::init_service(example_actix::app(&auth, &users(), None)).await;
        served_from_memory(&auth, || call(&app, "/me", Some(&cookie))).await;
        // The library's own part: the same cookie and the same handler, with and
        // without the extractor.
        let bare = test::init_service(
            App::new()
                .wrap(auth_actix::auth_middleware(&auth))
                .route("/plain", web::get().to(|| async { "ok" }))
                .route("/user", web::get().to(|_: AuthUser| async { "ok" })),
        )
        .await;
        (app, bare, cookie)
    });
    let iterations = |default: usize| {
        std::env::var("ITER")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    if let Ok(mode) = std::env::var("MODE") {
        let n = iterations(10_000);
        let cookie = Some(cookie.as_str());
        match mode.as_str() {
            "public" => measure(&system, &app, "/", None, n),
            "home" => measure(&system, &app, "/", cookie, n),
            "me" => measure(&system, &app, "/me", cookie, n),
            "plain" => measure(&system, &bare, "/plain", cookie, n),
            "user" => measure(&system, &bare, "/user", cookie, n),
            other => panic!("MODE {other}: public, home, me, plain or user"),
        }
        return;
    }
    system.block_on(async {
        let full = std::env::args().any(|a| a == "--bench");
        let rounds = iterations(if full { 50_000 } else { 500 });
        let kinds: [(&str, &str, Option<&str>); 5] = [
            ("public /", "/", None),
            ("signed-in /", "/", Some(&cookie)),
            ("signed-in /me", "/me", Some(&cookie)),
            ("cookie, no extractor", "/plain", Some(&cookie)),
            ("cookie, AuthUser", "/user", Some(&cookie)),
        ];
        let mut spent = [Duration::ZERO; 5];
        for round in 0..rounds {
            for k in 0..5 {
                let k = (k + round) % 5;
                let (_, path, cookie) = kinds[k];
                let started = Instant::now();
                if k < 3 {
                    call(&app, path, cookie).await;
                } else {
                    call(&bare, path, cookie).await;
                }
                spent[k] += started.elapsed();
            }
        }
        let per = |k: usize| spent[k].as_secs_f64() * 1e6 / rounds as f64;
        for (k, kind) in kinds.iter().enumerate() {
            println!("{}: {:.2} µs", kind.0, per(k));
        }
        println!(
            "signed in adds: / {:+.2} µs, /me {:+.2} µs ({rounds} interleaved rounds, in process)",
            per(1) - per(0),
            per(2) - per(0)
        );
        println!(
            "the AuthUser extractor alone (same cookie, same handler): {:+.2} µs",
            per(4) - per(3)
        );
        if let Some(stats) = auth.fast_path() {
            println!("fast path: {} hits, {} misses", stats.hits, stats.misses);
        }
    });
}

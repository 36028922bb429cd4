//! The signed-in request's own cost (issue 35), in process: the example app's router
//! called directly (no socket, no load generator), public `GET /` without a cookie
//! against `GET /` and `GET /me` signed in (a session in the memory store, signed in
//! through the development provider), alternated. Prints the time per request of each
//! and what signing in adds.
//!
//! The library's own part is measured apart: a bare router whose handler is the same
//! with and without the `AuthUser` extractor, both requests with the session cookie.
//!
//! `MODE=public|others|home|me|plain|user ITER=n` runs one kind only (`others`: the
//! public `/` with a browser's other cookies, no session), inside `measure`, for
//! `valgrind --tool=callgrind --toggle-collect='*measure*'`: instructions per request,
//! and where they go (`callgrind_annotate`).
//!
//! `REDIS_URL=redis://..` keeps the session in Redis instead (the fast path serving it:
//! the bench waits until it does).
//!
//! `cargo bench -p example-axum --bench overhead`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use auth_axum::AuthUser;
use auth_testkit::DevProvider;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::routing::get;
use reqwest::cookie::CookieStore as _;
use tower::ServiceExt as _;

/// One request to `app`, its body read.
async fn call(app: &axum::Router, path: &str, cookie: Option<&HeaderValue>) {
    let mut request = Request::get(path);
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, c);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
}

/// With Redis, waits until `request` is served by the fast path (the session cached,
/// the invalidation channel live); without it, returns at once.
async fn served_from_memory<F: Future<Output = ()>>(
    auth: &auth_axum::Auth,
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
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the fast path never served the session");
}

/// `n` requests of one kind, on `rt` (what callgrind counts: a plain function, so
/// that `--toggle-collect` finds it).
#[inline(never)]
fn measure(
    rt: &tokio::runtime::Runtime,
    app: &axum::Router,
    path: &str,
    cookie: Option<&HeaderValue>,
    n: usize,
) {
    rt.block_on(async {
        for _ in 0..n {
            call(app, path, cookie).await;
        }
    });
}

fn main() {
    // The requests measured run on this thread (`block_on`); the provider, the served
    // app and the fast path's heartbeat on a worker of their own, so that a loop of
    // requests that never waits does not starve them.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (app, auth, cookie, _provider) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let app_url = format!("http://{}", listener.local_addr().expect("addr"));
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
        let auth = auth_axum::Auth::discover(config).await.expect("auth");
        let users = || example_users::Users::open("sqlite::memory:").expect("users");
        let served = example_axum::app(auth.clone(), users(), None);
        tokio::spawn(async move { axum::serve(listener, served).await });
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
        let app = example_axum::app(auth.clone(), users(), None);
        served_from_memory(&auth, || call(&app, "/me", Some(&cookie))).await;
        (app, auth, cookie, provider)
    });
    // The library's own part: the same cookie and the same handler, with and without
    // the extractor.
    let bare = axum::Router::new()
        .route("/plain", get(|| async { "ok" }))
        .route("/user", get(|_: AuthUser| async { "ok" }))
        .layer(auth_axum::auth_layer(&auth));
    let iterations = |default: usize| {
        std::env::var("ITER")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    // What a visitor who is not signed in sends: analytics and preference cookies.
    let others = HeaderValue::from_static(
        "_ga=GA1.1.1234567890.1765000000; _ga_ABCDEF1234=GS1.1.1765000000.1.1.1765000100.0.0.0; \
         theme=dark; lang=en-GB; consent=%7B%22analytics%22%3Atrue%2C%22ads%22%3Afalse%7D; \
         _fbp=fb.1.1765000000000.1234567890; recently_viewed=sku-1%2Csku-2%2Csku-3",
    );
    if let Ok(mode) = std::env::var("MODE") {
        let (app, path, cookie) = match mode.as_str() {
            "public" => (&app, "/", None),
            "others" => (&app, "/", Some(&others)),
            "home" => (&app, "/", Some(&cookie)),
            "me" => (&app, "/me", Some(&cookie)),
            "plain" => (&bare, "/plain", Some(&cookie)),
            "user" => (&bare, "/user", Some(&cookie)),
            other => panic!("MODE {other}: public, others, home, me, plain or user"),
        };
        measure(&rt, app, path, cookie, iterations(10_000));
        return;
    }
    rt.block_on(async {
        let full = std::env::args().any(|a| a == "--bench");
        let rounds = iterations(if full { 50_000 } else { 500 });
        let kinds: [(&str, &axum::Router, &str, Option<&HeaderValue>); 5] = [
            ("public /", &app, "/", None),
            ("signed-in /", &app, "/", Some(&cookie)),
            ("signed-in /me", &app, "/me", Some(&cookie)),
            ("cookie, no extractor", &bare, "/plain", Some(&cookie)),
            ("cookie, AuthUser", &bare, "/user", Some(&cookie)),
        ];
        let mut spent = [Duration::ZERO; 5];
        for round in 0..rounds {
            for k in 0..5 {
                let k = (k + round) % 5;
                let (_, app, path, cookie) = kinds[k];
                let started = Instant::now();
                call(app, path, cookie).await;
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

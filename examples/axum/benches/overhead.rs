//! The signed-in request's own cost (issue 35), in process: the example app's router
//! called directly (no socket, no load generator), public `GET /` without a cookie
//! against `GET /` and `GET /me` signed in (a session in the memory store, signed in
//! through the development provider), alternated. Prints the time per request of each
//! and what signing in adds.
//!
//! `MODE=public|home|me ITER=n` runs one kind only, inside `measure`, for
//! `valgrind --tool=callgrind --toggle-collect='*measure*'`: instructions per request,
//! and where they go (`callgrind_annotate`).
//!
//! `cargo bench -p example-axum --bench overhead`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use auth_testkit::DevProvider;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (app, cookie, _provider) = rt.block_on(async {
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
        let config = provider.auth_config(&app_url).build().expect("config");
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
        (example_axum::app(auth, users(), None), cookie, provider)
    });
    let iterations = |default: usize| {
        std::env::var("ITER")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    if let Ok(mode) = std::env::var("MODE") {
        let (path, cookie) = match mode.as_str() {
            "public" => ("/", None),
            "home" => ("/", Some(&cookie)),
            "me" => ("/me", Some(&cookie)),
            other => panic!("MODE {other}: public, home or me"),
        };
        measure(&rt, &app, path, cookie, iterations(10_000));
        return;
    }
    rt.block_on(async {
        let full = std::env::args().any(|a| a == "--bench");
        let rounds = iterations(if full { 50_000 } else { 500 });
        let kinds: [(&str, &str, Option<&HeaderValue>); 3] = [
            ("public /", "/", None),
            ("signed-in /", "/", Some(&cookie)),
            ("signed-in /me", "/me", Some(&cookie)),
        ];
        let mut spent = [Duration::ZERO; 3];
        for round in 0..rounds {
            for k in 0..3 {
                let k = (k + round) % 3;
                let started = Instant::now();
                call(&app, kinds[k].1, kinds[k].2).await;
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
    });
}

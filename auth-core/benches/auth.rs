//! auth-core's own work, without the network but loopback:
//!
//! - `login/authorization_url`: a login's URL, state, nonce, PKCE and sealed cookie.
//! - `login/id_no_source_holds`: a login naming an id no provider source holds, against
//!   the same 404 in an app without a source.
//! - `callback/cpu`: a whole callback (pending cookie, state, code exchange over
//!   loopback, ID and access token validation, new session), in CPU time of the
//!   relying party's thread only (the provider runs on another thread).
//! - `id_token/*`, `bearer_cold/*`: our validation against a bare `jsonwebtoken`
//!   verification of the same token, with the same key.
//! - `bearer_cached`: a repeated bearer token (header parsing included).
//! - `session/*`: the signed-in hot path of every extractor (cookie header to session)
//!   for each store.
//!
//! `cargo bench -p auth-core --features redis --bench auth` (the Redis case needs
//! `redis-server`, installed by `./scripts/test`).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use auth_core::adapter::Endpoint;
use auth_core::http::{HeaderMap, header};
use auth_core::{Auth, Authenticated, LoginOptions};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use support::{API, CLIENT, MockProvider, sign};

/// A provider source that holds none, counting its lookups.
struct NoProviders(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl auth_core::ProviderSource for NoProviders {
    fn providers<'a>(
        &'a self,
        _: &'a Auth,
    ) -> auth_core::SourceFuture<'a, Vec<auth_core::ProviderConfigBuilder>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn provider<'a>(
        &'a self,
        _: &'a Auth,
        _: &'a str,
    ) -> auth_core::SourceFuture<'a, Option<auth_core::ProviderConfigBuilder>> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Box::pin(async { Ok(None) })
    }
}

/// The output of a future that completes without waiting (a cache hit, a session in
/// memory), polled once: what the request's own task pays, without a runtime's
/// `block_on` around it.
fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the future waited"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// What a bare `jsonwebtoken` user would decode.
#[derive(Deserialize)]
#[allow(dead_code)]
struct StdClaims {
    iss: String,
    sub: String,
    exp: i64,
    iat: i64,
    nonce: Option<String>,
}

fn bare_key(alg: Algorithm) -> DecodingKey {
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(include_str!("../src/jose/testdata/jwks.json")).expect("jwks");
    let kid = if alg == Algorithm::ES256 {
        "ec1"
    } else {
        "rsa1"
    };
    DecodingKey::from_jwk(jwks.find(kid).expect("key")).expect("decoding key")
}

fn bare_validation(alg: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut v = Validation::new(alg);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v
}

/// `ours` against `bare` on the same token, alternated pair by pair so that the
/// machine's load affects both alike; prints the ratio of their total times.
fn interleaved(name: &str, ours: impl FnMut(), bare: impl FnMut()) {
    interleaved_n(name, 3_000, ours, bare);
}

/// [`interleaved`] with `pairs` pairs (after as many warm-up pairs, at most 200).
fn interleaved_n(name: &str, pairs: u32, ours: impl FnMut(), bare: impl FnMut()) {
    interleaved_as(name, ("auth_core", "bare jsonwebtoken"), pairs, ours, bare);
}

/// [`interleaved_n`], the two sides printed as `labels`.
fn interleaved_as(
    name: &str,
    labels: (&str, &str),
    pairs: u32,
    mut ours: impl FnMut(),
    mut bare: impl FnMut(),
) {
    #[allow(non_snake_case)]
    let PAIRS = pairs;
    for _ in 0..pairs.min(200) {
        ours();
        bare();
    }
    let (mut a, mut b) = (Duration::ZERO, Duration::ZERO);
    for i in 0..PAIRS {
        // Alternate which goes first, so neither always runs on a warmer cache.
        let t = std::time::Instant::now();
        if i % 2 == 0 {
            ours();
            a += t.elapsed();
            let t = std::time::Instant::now();
            bare();
            b += t.elapsed();
        } else {
            bare();
            b += t.elapsed();
            let t = std::time::Instant::now();
            ours();
            a += t.elapsed();
        }
    }
    let (first, second) = labels;
    println!(
        "{name}: {first} {:.3} µs, {second} {:.3} µs, ratio {:.3} ({PAIRS} interleaved pairs)",
        a.as_secs_f64() * 1e6 / f64::from(PAIRS),
        b.as_secs_f64() * 1e6 / f64::from(PAIRS),
        a.as_secs_f64() / b.as_secs_f64()
    );
}

fn login_and_callback(c: &mut Criterion) {
    let rt = runtime();
    let provider = MockProvider::start(Algorithm::RS256);
    let auth = rt
        .block_on(Auth::discover(provider.config().build().expect("config")))
        .expect("auth");
    c.bench_function("login/authorization_url", |b| {
        b.iter(|| rt.block_on(auth.begin_login(&LoginOptions::default(), Some("/me"), &[])))
    });
    c.bench_function("callback/cpu", |b| {
        b.iter_custom(|n| {
            let mut cpu = Duration::ZERO;
            for _ in 0..n {
                let pending = rt.block_on(support::start_login(&auth));
                let start = cpu_time::ThreadTime::now();
                let done = rt.block_on(auth.respond(Endpoint::Callback, &pending.request));
                cpu += start.elapsed();
                assert_eq!(done.status(), 303, "{}", done.body());
            }
            cpu
        })
    });
    // A sign-in hook that does nothing (issue 29): the callback's CPU with it against
    // without, alternated (the login before each callback is not measured).
    let hooked = rt
        .block_on(Auth::discover(
            provider
                .config()
                .with_sign_in_hook(|_| async {
                    Ok::<_, std::io::Error>(auth_core::SignInDecision::allow())
                })
                .build()
                .expect("config"),
        ))
        .expect("auth");
    let callback_cpu = |auth: &Auth| {
        let pending = rt.block_on(support::start_login(auth));
        let start = cpu_time::ThreadTime::now();
        let done = rt.block_on(auth.respond(Endpoint::Callback, &pending.request));
        let spent = start.elapsed();
        assert_eq!(done.status(), 303, "{}", done.body());
        spent
    };
    let (mut with, mut without) = (Duration::ZERO, Duration::ZERO);
    let pairs = 300;
    for i in 0..pairs {
        if i % 2 == 0 {
            with += callback_cpu(&hooked);
            without += callback_cpu(&auth);
        } else {
            without += callback_cpu(&auth);
            with += callback_cpu(&hooked);
        }
    }
    println!(
        "callback/cpu_noop_sign_in_hook: with {:.0} µs, without {:.0} µs, ratio {:.3} ({pairs} interleaved pairs, RP thread CPU)",
        with.as_secs_f64() * 1e6 / f64::from(pairs),
        without.as_secs_f64() * 1e6 / f64::from(pairs),
        with.as_secs_f64() / without.as_secs_f64()
    );
}

fn token_validation(c: &mut Criterion) {
    let rt = runtime();
    let provider = MockProvider::start(Algorithm::RS256);
    let issuer = provider.issuer.clone();
    let auth = rt
        .block_on(Auth::discover(
            provider
                .config()
                .with_bearer_cache_capacity(0)
                .build()
                .expect("config"),
        ))
        .expect("auth");
    for alg in [Algorithm::RS256, Algorithm::ES256] {
        let name = format!("{alg:?}").to_lowercase();
        let id_token = sign(alg, None, &support::id_claims(&issuer, "n-1", 1));
        let key = bare_key(alg);
        let mut group = c.benchmark_group(format!("id_token/{name}"));
        group.bench_function("auth_core", |b| {
            b.iter(|| {
                rt.block_on(auth.validate_id_token(&id_token, "n-1"))
                    .expect("valid")
            })
        });
        let v = bare_validation(alg, &issuer, CLIENT);
        group.bench_function("bare_jsonwebtoken", |b| {
            b.iter(|| jsonwebtoken::decode::<StdClaims>(&id_token, &key, &v).expect("valid"))
        });
        group.finish();
        interleaved(
            &format!("id_token/{name}"),
            || {
                rt.block_on(auth.validate_id_token(&id_token, "n-1"))
                    .expect("valid");
            },
            || {
                jsonwebtoken::decode::<StdClaims>(&id_token, &key, &v).expect("valid");
            },
        );

        let access = sign(alg, Some("at+jwt"), &support::access_claims(&issuer));
        let mut group = c.benchmark_group(format!("bearer_cold/{name}"));
        group.bench_function("auth_core", |b| {
            b.iter(|| {
                rt.block_on(auth.authenticate_bearer(&access))
                    .expect("valid")
            })
        });
        let v = bare_validation(alg, &issuer, API);
        group.bench_function("bare_jsonwebtoken", |b| {
            b.iter(|| jsonwebtoken::decode::<StdClaims>(&access, &key, &v).expect("valid"))
        });
        group.finish();
        interleaved(
            &format!("bearer_cold/{name}"),
            || {
                rt.block_on(auth.authenticate_bearer(&access))
                    .expect("valid");
            },
            || {
                jsonwebtoken::decode::<StdClaims>(&access, &key, &v).expect("valid");
            },
        );
    }

    let cached = rt
        .block_on(Auth::discover(provider.config().build().expect("config")))
        .expect("auth");
    let access = sign(
        Algorithm::RS256,
        Some("at+jwt"),
        &support::access_claims(&issuer),
    );
    let authorization = format!("Bearer {access}");
    c.bench_function("bearer_cached/rs256", |b| {
        b.iter(|| {
            let token = Auth::bearer_token(std::iter::once(authorization.as_bytes()))
                .expect("well formed")
                .expect("bearer");
            ready(cached.authenticate_bearer(token)).expect("valid")
        })
    });
    // What a judged bearer token adds without a metrics recorder (issue 30): the
    // counter `authenticate_bearer` increments (a static key: its labels are literals),
    // on the facade's no-op recorder; and the same with a label the macro cannot see,
    // which builds its key on every call. A signed-in session request records nothing.
    c.bench_function("metrics/bearer_counter_without_recorder", |b| {
        b.iter(|| metrics::counter!("auth_bearer_total", "outcome" => "accepted").increment(1))
    });
    c.bench_function(
        "metrics/counter_with_a_runtime_label_without_recorder",
        |b| {
            b.iter(|| {
            metrics::counter!("auth_bearer_total", "outcome" => std::hint::black_box("accepted"))
                .increment(1)
        })
        },
    );
    // The cache key: SHA-256 of the token (`sha2`, as the bearer cache computes it), the
    // part of a cached validation that grows with the token's length.
    println!("bearer token: {} bytes", access.len());
    c.bench_function("bearer_cached/sha256_of_the_token", |b| {
        use sha2::Digest as _;
        b.iter(|| -> [u8; 32] {
            sha2::Sha256::digest(std::hint::black_box(&access).as_bytes()).into()
        })
    });
}

/// `session/<store>`: cookie header to a signed-in session.
/// A store in this process answers without waiting (polled once); a remote one needs
/// the runtime.
fn bench_session(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, auth: &Auth) {
    let cookie = rt.block_on(support::sign_in(auth));
    let mut headers = HeaderMap::new();
    headers.insert(header::COOKIE, cookie);
    let local = name == "memory";
    c.bench_function(&format!("session/{name}"), |b| {
        b.iter(|| {
            let id = auth.session_id_from_headers(&headers);
            let outcome = if local {
                ready(auth.authenticate(id.as_ref()))
            } else {
                rt.block_on(auth.authenticate(id.as_ref()))
            };
            match outcome {
                Authenticated::User(s) => s,
                other => panic!("not signed in: {other:?}"),
            }
        })
    });
}

fn sessions(c: &mut Criterion) {
    let rt = runtime();
    let provider = MockProvider::start(Algorithm::RS256);
    let memory = rt
        .block_on(Auth::discover(provider.config().build().expect("config")))
        .expect("auth");
    bench_session(c, &rt, "memory", &memory);

    // The app's data in the session (issue 29): a signed-in request with a user id and
    // a small struct from the sign-in hook, against one without, alternated.
    let with_data = rt
        .block_on(Auth::discover(
            provider
                .config()
                .with_sign_in_hook(|who: auth_core::SignIn| async move {
                    auth_core::SignInDecision::allow()
                        .with_user_id(format!("usr_{}", who.sub()))
                        .with_app_data(&serde_json::json!({
                            "user_id": format!("usr_{}", who.sub()), "plan": "pro", "seats": 25,
                        }))
                })
                .build()
                .expect("config"),
        ))
        .expect("auth");
    bench_session(c, &rt, "memory_with_app_data", &with_data);
    let signed_in = |auth: &Auth| {
        let cookie = rt.block_on(support::sign_in(auth));
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, cookie);
        headers
    };
    let (plain_headers, data_headers) = (signed_in(&memory), signed_in(&with_data));
    let check = |auth: &Auth, headers: &HeaderMap| {
        let id = auth.session_id_from_headers(headers);
        match ready(auth.authenticate(id.as_ref())) {
            Authenticated::User(s) => assert!(s.sub() != ""),
            other => panic!("not signed in: {other:?}"),
        }
    };
    interleaved(
        "session/memory_with_app_data vs session/memory",
        || check(&with_data, &data_headers),
        || check(&memory, &plain_headers),
    );

    // Issue 33: a user of a provider added while the app runs costs what a user of a
    // configured provider does (same app, alternated).
    let (configured, added) = (
        MockProvider::start(Algorithm::RS256),
        MockProvider::start(Algorithm::RS256),
    );
    let named = rt
        .block_on(Auth::discover(
            auth_core::AuthConfig::builder_for_providers("http://127.0.0.1:3000")
                .with_provider(configured.provider("configured"))
                .with_app_secret_hex(&"ab".repeat(32))
                .build()
                .expect("config"),
        ))
        .expect("auth");
    rt.block_on(named.add_provider(added.provider("added")))
        .expect("added at run time");
    let headers_at = |id: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, rt.block_on(support::sign_in_at(&named, id)));
        headers
    };
    let (added_headers, configured_headers) = (headers_at("added"), headers_at("configured"));
    interleaved_as(
        "session/provider_added_at_run_time vs session/configured_provider",
        ("added", "configured"),
        3_000,
        || check(&named, &added_headers),
        || check(&named, &configured_headers),
    );

    // Issue 33: a login for an id no provider source holds costs no discovery call, and
    // after the source's one lookup per listing, what the same login costs in an app
    // without a source (a 404 either way). Each login is polled once: one that waited
    // (for the network, the source) would panic.
    let lookups = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sourced = rt
        .block_on(Auth::discover(
            auth_core::AuthConfig::builder_for_providers("http://127.0.0.1:3000")
                .with_provider(configured.provider("configured"))
                .build()
                .expect("config"),
        ))
        .expect("auth");
    rt.block_on(sourced.use_provider_source_every(
        NoProviders(std::sync::Arc::clone(&lookups)),
        Duration::from_secs(3600),
    ))
    .expect("listed");
    let unknown = auth_core::http::Request::builder()
        .uri("/auth/login/nobody-knows")
        .body(Vec::new())
        .expect("request");
    let login_at = sourced
        .routes()
        .into_iter()
        .find(|r| r.path() == "/auth/login/{id}")
        .expect("route")
        .endpoint();
    let refuse = |auth: &Auth| {
        let r = ready(auth.respond(login_at, &unknown));
        assert_eq!(r.status(), 404);
    };
    rt.block_on(sourced.respond(login_at, &unknown));
    interleaved_as(
        "login/id_no_source_holds vs login/id_of_no_provider",
        ("with a source", "without"),
        20_000,
        || refuse(&sourced),
        || refuse(&named),
    );
    assert_eq!(
        lookups.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "one lookup until the next listing"
    );

    // Any tower-sessions store (SQL...): records sealed with AES-256-GCM, decoded per
    // request.
    let sealed = rt
        .block_on(Auth::discover(
            provider
                .config()
                .with_session_store(auth_core::MemoryStore::default())
                .with_session_encryption_key_hex(&"cd".repeat(32))
                .build()
                .expect("config"),
        ))
        .expect("auth");
    bench_session(c, &rt, "record_store_sealed", &sealed);

    #[cfg(feature = "redis")]
    {
        if std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok()
        {
            let server = provider_harness::RedisServer::start();
            let redis = rt
                .block_on(Auth::discover(
                    provider
                        .config()
                        .with_redis_url(server.url())
                        .build()
                        .expect("config"),
                ))
                .expect("auth");
            // The fast path: a session this instance checked is served from memory
            // while Redis's invalidation stream proves it fresh.
            bench_session(c, &rt, "redis", &redis);
            // Without it (`REDIS_SESSION_CACHE=0`): the record and the logout markers
            // read from Redis on every request, two round trips.
            let direct = rt
                .block_on(Auth::discover(
                    provider
                        .config()
                        .with_redis_url(server.url())
                        .with_redis_session_cache(false)
                        .build()
                        .expect("config"),
                ))
                .expect("auth");
            bench_session(c, &rt, "redis_direct", &direct);
        } else {
            eprintln!("session/redis skipped: redis-server is not installed");
        }
    }
}

/// A single-page app's call forwarded to a remote API (issue 31) against the same call
/// made directly with reqwest, alternated pair by pair against one loopback server on
/// this thread: the difference is what forwarding adds (header filtering, the path's
/// confinement, the token's header, the bounded read), the server's own time being in
/// both.
fn forwarding(_c: &mut Criterion) {
    let rt = runtime();
    let provider = MockProvider::start(Algorithm::RS256);
    let auth = rt
        .block_on(Auth::discover(provider.config().build().expect("config")))
        .expect("auth");
    let mut headers = HeaderMap::new();
    headers.insert(header::COOKIE, rt.block_on(support::sign_in(&auth)));
    let session =
        match rt.block_on(auth.authenticate(auth.session_id_from_headers(&headers).as_ref())) {
            Authenticated::User(s) => s,
            other => panic!("not signed in: {other:?}"),
        };
    for (name, value) in [
        ("accept", "application/json"),
        ("x-csrf", "1"),
        ("x-request-id", "bench"),
    ] {
        headers.insert(name, auth_core::http::HeaderValue::from_static(value));
    }
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    rt.spawn(async move {
        let app = axum::Router::new().fallback(|| async { r#"{"items":[1,2,3]}"# });
        axum::serve(listener, app).await
    });
    let api = auth_core::RemoteApi::new(&format!("{base}/v1")).expect("api");
    let direct = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let token = session.access_token().secret().to_owned();
    let method = auth_core::http::Method::GET;
    let mut forward = || {
        let body = rt.block_on(async {
            let r = auth
                .forward(
                    &session,
                    &api,
                    "/bff/remote",
                    &method,
                    "/bff/remote/items?page=2",
                    &headers,
                    auth_core::ForwardBody::empty(),
                )
                .await;
            assert_eq!(r.status(), 200);
            r.into_body().collect().await.expect("body")
        });
        assert!(!body.is_empty());
    };
    let mut call = || {
        let body = rt.block_on(async {
            direct
                .get(format!("{base}/v1/items?page=2"))
                .header("accept", "application/json")
                .header("x-request-id", "bench")
                .bearer_auth(&token)
                .send()
                .await
                .expect("direct")
                .bytes()
                .await
                .expect("body")
        });
        assert!(!body.is_empty());
    };
    const PAIRS: u32 = 2_000;
    for _ in 0..200 {
        forward();
        call();
    }
    let (mut ours, mut bare) = (Duration::ZERO, Duration::ZERO);
    for i in 0..PAIRS {
        let (first, second): (&mut dyn FnMut(), &mut dyn FnMut()) = if i % 2 == 0 {
            (&mut forward, &mut call)
        } else {
            (&mut call, &mut forward)
        };
        let t = std::time::Instant::now();
        first();
        let a = t.elapsed();
        let t = std::time::Instant::now();
        second();
        let b = t.elapsed();
        if i % 2 == 0 {
            (ours, bare) = (ours + a, bare + b);
        } else {
            (ours, bare) = (ours + b, bare + a);
        }
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(PAIRS);
    println!(
        "bff/forward vs a direct reqwest call: forward {:.1} µs, direct {:.1} µs, forwarding adds {:.1} µs ({PAIRS} interleaved pairs, one loopback server)",
        per(ours),
        per(bare),
        per(ours) - per(bare)
    );
}

criterion_group!(
    benches,
    login_and_callback,
    token_validation,
    sessions,
    forwarding
);
criterion_main!(benches);

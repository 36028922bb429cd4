//! The invalidation traffic of 4 instances under sign-in and refresh load, on a real
//! `redis-server` (issue 35, F2): users sign in through the login and callback routes
//! (each on one instance, a new session every `SESSION_SECS`), then send signed-in
//! requests to every instance in turn (no sticky routing, one every 20 ms) while their
//! access tokens expire every 2 s (each session refreshes about once a second while in
//! use) and a 30 s idle timeout records their use every 3 s. Reports per second:
//! sign-ins, refreshes, signed-in requests, session writes (records created at sign-in,
//! stored again or deleted: refreshes and recorded uses), messages each instance
//! received on the invalidation channel (heartbeats included) and of those the
//! invalidations, Redis's CPU; and per write, the invalidations announced and received.
//!
//! `cargo bench -p auth-core --features redis --bench traffic` (`USERS=n`,
//! `SECONDS=n`, `SESSION_SECS=n`). Under `cargo test` it runs for 1 s as a check.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use auth_core::{Auth, Authenticated};
use jsonwebtoken::Algorithm;
use provider_harness::RedisServer;

const APP_SECRET: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const INSTANCES: usize = 4;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if !support::redis_installed() {
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let users = env("USERS", if full { 200 } else { 16 }) as usize;
    let seconds = env("SECONDS", if full { 10 } else { 1 });
    let session_secs = env("SESSION_SECS", 5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = RedisServer::start();
    let provider = support::MockProvider::start_with_token_lifetime(Algorithm::ES256, 2);
    let instances: Vec<Auth> = (0..INSTANCES)
        .map(|_| {
            rt.block_on(Auth::discover(
                provider
                    .config()
                    .with_redis_url(server.url())
                    .with_app_secret_hex(APP_SECRET)
                    .with_refresh_margin(Duration::from_secs(1))
                    .with_idle_timeout(Some(Duration::from_secs(30)))
                    .build()
                    .expect("config"),
            ))
            .expect("auth")
        })
        .collect();
    rt.block_on(async {
        for auth in &instances {
            while !auth.fast_path().expect("on").live {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    let stats = |auth: &Auth| auth.fast_path().expect("on");
    let before: Vec<_> = instances.iter().map(stats).collect();
    let refreshes = provider.refreshes.load(Ordering::Relaxed);
    let (sign_ins, requests, anonymous) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    server.cli(&["CONFIG", "RESETSTAT"]);
    let cpu = support::redis_cpu(&server);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let instances = Arc::new(instances);
    rt.block_on(async {
        let tasks: Vec<_> = (0..users)
            .map(|u| {
                let (instances, sign_ins, requests, anonymous) = (
                    Arc::clone(&instances),
                    Arc::clone(&sign_ins),
                    Arc::clone(&requests),
                    Arc::clone(&anonymous),
                );
                tokio::spawn(async move {
                    // Spread the users' sign-ins over the first session.
                    let offset = session_secs * 1000 * u as u64 / users.max(1) as u64;
                    tokio::time::sleep(Duration::from_millis(offset % 1000)).await;
                    let mut k = u;
                    while Instant::now() < deadline {
                        let cookie = support::sign_in(&instances[k % INSTANCES]).await;
                        sign_ins.fetch_add(1, Ordering::Relaxed);
                        let mut headers = auth_core::http::HeaderMap::new();
                        headers.insert(auth_core::http::header::COOKIE, cookie);
                        let id = instances[0].session_id_from_headers(&headers);
                        let ends = Instant::now() + Duration::from_secs(session_secs);
                        while Instant::now() < ends.min(deadline) {
                            k += 1;
                            match instances[k % INSTANCES].authenticate(id.as_ref()).await {
                                Authenticated::User(_) => {}
                                Authenticated::Anonymous => {
                                    anonymous.fetch_add(1, Ordering::Relaxed);
                                }
                                Authenticated::Unavailable => panic!("unavailable"),
                            }
                            requests.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("user");
        }
    });
    let window = started.elapsed().as_secs_f64();
    let cpu = support::redis_cpu(&server) - cpu;
    let calls = support::redis_calls(&server);
    let after: Vec<_> = instances.iter().map(stats).collect();
    let refreshes = provider.refreshes.load(Ordering::Relaxed) - refreshes;
    let call = |name: &str| calls.get(name).copied().unwrap_or(0);
    let spublish = call("spublish");
    let sign_ins = sign_ins.load(Ordering::Relaxed);
    let written: u64 = after
        .iter()
        .zip(&before)
        .map(|(a, b)| a.written - b.written)
        .sum();
    let writes = sign_ins + written;
    let commands: u64 = calls.values().sum();
    let announced: u64 = after
        .iter()
        .zip(&before)
        .map(|(a, b)| a.announced - b.announced)
        .sum();
    let received: Vec<u64> = after
        .iter()
        .zip(&before)
        .map(|(a, b)| a.invalidations - b.invalidations)
        .collect();
    let per_sec = |n: u64| n as f64 / window;
    let requests = requests.load(Ordering::Relaxed);
    println!("instances {INSTANCES}");
    println!("users {users}");
    println!("window_secs {window:.2}");
    println!("sign_ins_per_sec {:.0}", per_sec(sign_ins));
    println!("refreshes_per_sec {:.0}", per_sec(refreshes));
    println!("requests_per_sec {:.0}", per_sec(requests));
    let anonymous = anonymous.load(Ordering::Relaxed);
    println!("anonymous_answers {anonymous}");
    println!(
        "session_writes_per_sec {:.0} (created {sign_ins}, stored again or deleted {written})",
        per_sec(writes)
    );
    println!(
        "writes_per_request {:.3}",
        writes as f64 / requests.max(1) as f64
    );
    println!("announced_per_sec {:.0}", per_sec(announced));
    println!(
        "announced_per_write {:.2}",
        announced as f64 / writes.max(1) as f64
    );
    // Every instance receives every message published on the one channel, its own
    // included.
    println!(
        "messages_received_per_instance_per_sec {:.0} (heartbeats {:.0})",
        per_sec(spublish),
        per_sec(spublish.saturating_sub(announced))
    );
    println!(
        "invalidations_received_per_instance_per_sec {:.0} ({received:?} in all)",
        per_sec(received.iter().sum::<u64>()) / INSTANCES as f64
    );
    println!(
        "received_per_announcement_per_other_instance {:.2}",
        received.iter().sum::<u64>() as f64 / ((INSTANCES - 1) as f64 * announced.max(1) as f64)
    );
    println!(
        "redis_commands_per_sec {:.0} (spublish {spublish}; {})",
        per_sec(commands),
        calls
            .iter()
            .filter(|(k, _)| k.as_str() != "spublish")
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("redis_cpu_percent {:.1}", cpu / window * 100.0);
    println!(
        "redis_cpu_us_per_request {:.1}",
        cpu * 1e6 / requests.max(1) as f64
    );
    println!(
        "fast_path_hit_ratio {:.3}",
        after
            .iter()
            .zip(&before)
            .map(|(a, b)| a.hits - b.hits)
            .sum::<u64>() as f64
            / requests.max(1) as f64
    );
    assert_eq!(anonymous, 0, "a session in use was lost");
    assert!(refreshes > 0 || seconds < 2, "no refresh happened");
}

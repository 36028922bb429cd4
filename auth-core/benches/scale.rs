//! Sessions at scale on a real `redis-server` (issue 35, the inputs of SCALING.md):
//!
//! - fills Redis with `SESSIONS` sessions (default 1 000 000 under `cargo bench`, 2 000
//!   as a check under `cargo test`), each a copy of one real sign-in's session under
//!   its own user, stored as a sign-in stores it (sealed record and the user's index),
//!   without a million sign-ins; reports the writes per second, Redis's memory per
//!   session (`INFO memory` over the fill, and `MEMORY USAGE` of sampled keys) and the
//!   Redis commands per stored session (`INFO commandstats`);
//! - the latency of a cache miss at that size (p50, p99: an instance that reads Redis
//!   for every request), and the Redis commands of a miss and of a hit;
//! - the invalidation traffic of 4 instances while one writes (announced) sessions:
//!   messages received per instance per write, and Redis's CPU per write.
//!
//! `cargo bench -p auth-core --features redis,bench-internals --bench scale`
//! (`SESSIONS=n` to change the count). Each figure prints as `name value`, and
//! `scripts/capacity` takes them as inputs.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use auth_core::{Auth, Authenticated};
use futures_util::StreamExt as _;
use jsonwebtoken::Algorithm;
use provider_harness::RedisServer;

const APP_SECRET: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// The calls of `calls` but the fast path's own traffic (heartbeats and their
/// subscription), which does not grow with requests.
fn request_calls(calls: &BTreeMap<String, u64>) -> (u64, String) {
    let mine = |c: &str| {
        !matches!(
            c,
            "spublish"
                | "ssubscribe"
                | "config|resetstat"
                | "info"
                | "ping"
                | "client|setinfo"
                | "hello"
                | "select"
        )
    };
    let total = calls.iter().filter(|(c, _)| mine(c)).map(|(_, n)| n).sum();
    let list = calls
        .iter()
        .filter(|(c, _)| mine(c))
        .map(|(c, n)| format!("{c}={n}"))
        .collect::<Vec<_>>()
        .join(" ");
    (total, list)
}

fn used_memory(server: &RedisServer) -> u64 {
    support::redis_info(server, "memory")["used_memory"]
        .parse()
        .expect("used_memory")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    if !support::redis_installed() {
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 1_000_000 } else { 2_000 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = RedisServer::start();
    let provider = support::MockProvider::start(Algorithm::ES256);
    let instance = |cache: bool| {
        rt.block_on(Auth::discover(
            provider
                .config()
                .with_redis_url(server.url())
                .with_redis_session_cache(cache)
                .with_app_secret_hex(APP_SECRET)
                .build()
                .expect("config"),
        ))
        .expect("auth")
    };
    let writer = instance(true);

    // One real sign-in: the template every stored session copies.
    let cookie = rt.block_on(support::sign_in(&writer));
    let mut headers = auth_core::http::HeaderMap::new();
    headers.insert(auth_core::http::header::COOKIE, cookie);
    let template =
        match rt.block_on(writer.authenticate(writer.session_id_from_headers(&headers).as_ref())) {
            Authenticated::User(s) => s,
            other => panic!("not signed in: {other:?}"),
        };

    // The fill.
    let before = used_memory(&server);
    server.cli(&["CONFIG", "RESETSTAT"]);
    let started = Instant::now();
    let ids: Vec<auth_core::SessionId> = rt.block_on(async {
        futures_util::stream::iter(0..n)
            .map(|i| {
                let (writer, template) = (&writer, &template);
                async move {
                    auth_core::__bench::store_copy(writer, template, &format!("user-{i}"))
                        .await
                        .expect("stored")
                }
            })
            .buffer_unordered(256)
            .collect()
            .await
    });
    let fill = started.elapsed();
    let (write_calls, write_list) = request_calls(&support::redis_calls(&server));
    let after = used_memory(&server);
    println!("sessions {n}");
    println!("fill_sessions_per_sec {:.0}", n as f64 / fill.as_secs_f64());
    println!(
        "redis_bytes_per_session {:.0}",
        (after - before) as f64 / n as f64
    );
    println!(
        "redis_commands_per_stored_session {:.2} ({write_list})",
        write_calls as f64 / n as f64
    );
    let keys = server.cli(&["--scan"]);
    let (mut records, mut indexes) = (Vec::new(), Vec::new());
    for key in keys.lines().take(400) {
        let bytes: u64 = server
            .cli(&["MEMORY", "USAGE", key])
            .trim()
            .parse()
            .unwrap_or(0);
        if key.starts_with("auth:") {
            indexes.push(bytes);
        } else {
            records.push(bytes);
        }
    }
    let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len().max(1) as f64;
    println!("redis_memory_usage_record {:.0}", mean(&records));
    println!("redis_memory_usage_index {:.0}", mean(&indexes));

    // Misses: an instance that reads Redis for every request, sessions picked across
    // the whole store.
    let reader = instance(false);
    let samples = n.min(if full { 20_000 } else { 1_000 });
    let step = (n / samples).max(1);
    let mut latencies = Vec::with_capacity(samples);
    server.cli(&["CONFIG", "RESETSTAT"]);
    rt.block_on(async {
        for id in ids.iter().step_by(step).take(samples) {
            let t = Instant::now();
            let got = reader.authenticate(Some(id)).await;
            latencies.push(t.elapsed());
            assert!(matches!(got, Authenticated::User(_)), "{got:?}");
        }
    });
    let (miss_calls, miss_list) = request_calls(&support::redis_calls(&server));
    latencies.sort_unstable();
    println!("miss_p50_us {}", percentile(&latencies, 0.50).as_micros());
    println!("miss_p99_us {}", percentile(&latencies, 0.99).as_micros());
    println!(
        "redis_commands_per_miss {:.2} ({miss_list})",
        miss_calls as f64 / latencies.len() as f64
    );

    // Hits: the writer's fast path, each session read once (a miss) then again.
    let some: Vec<_> = ids.iter().step_by(step).take(1_000).collect();
    rt.block_on(async {
        while !writer.fast_path().expect("on").live {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for id in &some {
            let _ = writer.authenticate(Some(id)).await;
        }
    });
    let hits = writer.fast_path().expect("on").hits;
    server.cli(&["CONFIG", "RESETSTAT"]);
    rt.block_on(async {
        for id in &some {
            let _ = writer.authenticate(Some(id)).await;
        }
    });
    let (hit_calls, hit_list) = request_calls(&support::redis_calls(&server));
    let served = writer.fast_path().expect("on").hits - hits;
    println!("fast_path_hits {served} of {}", some.len());
    println!(
        "redis_commands_per_hit {:.3} ({hit_list})",
        hit_calls as f64 / some.len() as f64
    );

    // Invalidation traffic: 4 instances; one stores existing sessions again (as a
    // refresh does: announced), the others hear it.
    let others: Vec<Auth> = (0..3).map(|_| instance(true)).collect();
    rt.block_on(async {
        for auth in &others {
            while !auth.fast_path().expect("on").live {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    let writes = n.min(5_000);
    let heard: Vec<u64> = others
        .iter()
        .map(|a| a.fast_path().expect("on").invalidations)
        .collect();
    let announced = writer.fast_path().expect("on").announced;
    server.cli(&["CONFIG", "RESETSTAT"]);
    let cpu = support::redis_cpu(&server);
    let started = Instant::now();
    rt.block_on(async {
        futures_util::stream::iter(ids.iter().take(writes))
            .map(|id| {
                let writer = &writer;
                async move {
                    auth_core::__bench::store_again(writer, id)
                        .await
                        .expect("stored again")
                }
            })
            .buffer_unordered(64)
            .collect::<Vec<_>>()
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    });
    let window = started.elapsed().as_secs_f64();
    let cpu = support::redis_cpu(&server) - cpu;
    let window_calls = support::redis_calls(&server);
    let spublish = window_calls.get("spublish").copied().unwrap_or(0);
    let (stored_again, stored_list) = request_calls(&window_calls);
    println!(
        "redis_commands_per_store_again {:.2} ({stored_list}) and spublish",
        stored_again as f64 / writes as f64
    );
    let announced = writer.fast_path().expect("on").announced - announced;
    let received: Vec<u64> = others
        .iter()
        .zip(&heard)
        .map(|(a, h)| a.fast_path().expect("on").invalidations - h)
        .collect();
    println!("instances 4");
    println!(
        "announced_per_write {:.2}",
        announced as f64 / writes as f64
    );
    println!(
        "received_per_instance_per_write {:.2} ({received:?})",
        received.iter().sum::<u64>() as f64 / (received.len() * writes) as f64
    );
    println!("heartbeats_per_instance_per_sec 50 (20 ms), received from each instance");
    println!(
        "spublish_per_sec {:.0} over {window:.2} s",
        spublish as f64 / window
    );
    println!("redis_cpu_us_per_write {:.1}", cpu * 1e6 / writes as f64);
}

//! Memory per session in the default in-memory store, with realistic tokens: signs in
//! 100 000 times through the real login and callback routes (ID tokens of about 1 KB,
//! JWT access tokens of about 1 KB, opaque refresh tokens), then reports the heap bytes
//! held per session (counted by the allocator) and the growth of the process's
//! resident memory per session (which includes the allocator's own overhead).
//!
//! `cargo bench -p auth-core --bench session_memory` (`SESSIONS=n` to change the count;
//! under `cargo test` it runs 500 sessions as a check).
//!
//! Measured twice: with ES256 ID tokens (`n` sessions) and with RS256 ones (a tenth
//! of them: the mock provider's RS256 signing would take minutes for 100 000).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::alloc::System;

use auth_core::Auth;
use auth_core::adapter::Endpoint;
use jsonwebtoken::Algorithm;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Resident memory of this process, in bytes (Linux).
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Signs in `n` times with ID tokens signed with `alg`; prints and returns the heap
/// bytes held per session, and prints the growth of resident memory if `rss_too` (only
/// meaningful for the first measurement: later ones reuse the memory freed before).
fn measure(rt: &tokio::runtime::Runtime, alg: Algorithm, n: usize, rss_too: bool) -> f64 {
    let provider = support::MockProvider::start(alg);
    let auth = rt
        .block_on(Auth::discover(provider.config().build().expect("config")))
        .expect("auth");
    // Warm up: connection pool, JWKS, lazily built statics.
    for _ in 0..50 {
        rt.block_on(support::sign_in(&auth));
    }
    // Logins prepared before counting: the pending-login cookies are the browser's.
    let pending: Vec<_> = (0..n)
        .map(|_| rt.block_on(support::start_login(&auth)))
        .collect();
    let rss_before = rss();
    let region = Region::new(GLOBAL);
    for p in &pending {
        let done = rt.block_on(auth.respond(Endpoint::Callback, &p.request));
        assert_eq!(done.status(), 303, "{}", done.body());
    }
    let stats = region.change();
    let rss_after = rss();
    // (`bytes_allocated`/`bytes_deallocated` already include the growth and shrinking
    // of reallocations.)
    let held = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64;
    let per_session = held as f64 / n as f64;
    println!("{alg:?} ID tokens, {n} sessions:");
    println!("  heap held per session: {per_session:.0} bytes");
    if let (true, Some(a), Some(b)) = (rss_too, rss_before, rss_after) {
        println!(
            "  resident memory growth per session: {:.0} bytes",
            (b.saturating_sub(a)) as f64 / n as f64
        );
    }
    // The sessions stay alive until here: `auth` holds them.
    drop(auth);
    per_session
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("SESSIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if bench { 100_000 } else { 500 });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let claims = support::id_claims("https://id.example.com", "n", 0);
    println!(
        "ID token: {} claims; access token: {} claims",
        claims.as_object().map_or(0, |c| c.len()),
        support::access_claims("https://id.example.com")
            .as_object()
            .map_or(0, |c| c.len())
    );
    let es256 = measure(&rt, Algorithm::ES256, n, true);
    // RS256 signing by the mock provider is slow (about 1 ms a token): a tenth of the
    // sessions, enough for a per-session average of counted allocations.
    let rs256 = measure(&rt, Algorithm::RS256, (n / 10).max(500.min(n)), false);
    // Counted allocations: the figures do not depend on the machine's load.
    for (alg, per_session) in [("ES256", es256), ("RS256", rs256)] {
        assert!(
            per_session <= 4096.0,
            "target <= 4096 bytes per session missed with {alg}: {per_session:.0} bytes (see PERFORMANCE.md)"
        );
    }
    println!("target: <= 4096 bytes per session (ES256 and RS256 ID tokens): met");
}

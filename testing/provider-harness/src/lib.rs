//! Test support: runs the real `oidc-provider` (Node, pinned in `test-provider/`) on a
//! free loopback port. Installs it with `npm ci` when missing; stops it on drop.

mod redis;
pub mod topologies;

pub use redis::RedisServer;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};

/// A running provider. Dropping it kills the process.
#[derive(Debug)]
pub struct TestProvider {
    /// The issuer URL, `http://127.0.0.1:<port>`.
    pub issuer: String,
    child: Child,
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test-provider")
}

/// Runs `npm ci` in the fixture unless `node_modules` is there.
pub fn ensure_installed() {
    let dir = fixture_dir();
    if dir.join("node_modules/oidc-provider").exists() {
        return;
    }
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .status()
        .expect("npm must be installed to run the provider tests");
    assert!(status.success(), "npm ci failed in {}", dir.display());
}

/// How long one start may take before it is retried. Node needs well under a
/// second here; a shared CI machine has been seen to need far more.
const START_TIMEOUT: Duration = Duration::from_secs(45);
/// Starts tried before the test fails.
const START_ATTEMPTS: usize = 2;
/// The provider's stderr kept for the failure message.
const STDERR_TAIL: usize = 8 * 1024;

impl TestProvider {
    /// Starts the provider with `config` (the `OIDC_TEST_CONFIG` JSON of
    /// `test-provider/README.md`) and waits for its `READY` line.
    ///
    /// A start that does not report ready in time is killed and tried once
    /// more; if that fails too, the panic message carries the provider's stderr.
    pub async fn start(config: serde_json::Value) -> TestProvider {
        ensure_installed();
        let mut failures = Vec::new();
        for attempt in 1..=START_ATTEMPTS {
            match Self::try_start(&config).await {
                Ok(provider) => return provider,
                Err(failure) => {
                    eprintln!("provider start {attempt}/{START_ATTEMPTS} failed: {failure}");
                    failures.push(failure);
                }
            }
        }
        panic!("the provider did not start: {}", failures.join("\n---\n"));
    }

    async fn try_start(config: &serde_json::Value) -> Result<TestProvider, String> {
        let mut child = Command::new("node")
            .arg("server.mjs")
            .current_dir(fixture_dir())
            .env("OIDC_TEST_CONFIG", config.to_string())
            .env_remove("PORT")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node must be installed to run the provider tests");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("piped stderr");
        tokio::spawn(keep_tail(pipe, Arc::clone(&stderr)));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let started = Instant::now();
        let ready = tokio::time::timeout(START_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(issuer) = line.strip_prefix("READY ") {
                    return Some(issuer.trim().to_string());
                }
            }
            None
        })
        .await;
        let describe = |what: &str| {
            let tail = stderr.lock().map(|s| s.clone()).unwrap_or_default();
            format!("{what} after {:?}; its stderr:\n{tail}", started.elapsed())
        };
        match ready {
            Ok(Some(issuer)) => Ok(TestProvider { issuer, child }),
            Ok(None) => Err(describe("the provider exited before it was ready")),
            Err(_) => {
                let _ = child.start_kill();
                Err(describe("the provider was not ready"))
            }
        }
    }

    /// The provider's test counters (`GET /test/stats`).
    pub fn stats_url(&self) -> String {
        format!("{}/test/stats", self.issuer)
    }
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Reads the provider's stderr to its end, keeping the last `STDERR_TAIL` bytes.
/// Draining it also keeps a chatty provider from blocking on a full pipe.
async fn keep_tail(mut pipe: ChildStderr, tail: Arc<Mutex<String>>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let Ok(mut tail) = tail.lock() else { break };
        tail.push_str(&String::from_utf8_lossy(&buf[..n]));
        if tail.len() > STDERR_TAIL {
            let mut cut = tail.len() - STDERR_TAIL;
            while !tail.is_char_boundary(cut) {
                cut += 1;
            }
            tail.drain(..cut);
        }
    }
}

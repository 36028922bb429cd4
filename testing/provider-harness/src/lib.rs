//! Test support: runs the real `oidc-provider` (Node, pinned in `test-provider/`) on a
//! free loopback port. Installs it with `npm ci` when missing; stops it on drop.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

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

impl TestProvider {
    /// Starts the provider with `config` (the `OIDC_TEST_CONFIG` JSON of
    /// `test-provider/README.md`) and waits for its `READY` line.
    pub async fn start(config: serde_json::Value) -> TestProvider {
        ensure_installed();
        let mut child = Command::new("node")
            .arg("server.mjs")
            .current_dir(fixture_dir())
            .env("OIDC_TEST_CONFIG", config.to_string())
            .env_remove("PORT")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node must be installed to run the provider tests");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let issuer = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(issuer) = line.strip_prefix("READY ") {
                    return issuer.trim().to_string();
                }
            }
            panic!("the provider exited before it was ready");
        })
        .await
        .expect("the provider did not start within 30 s");
        TestProvider { issuer, child }
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

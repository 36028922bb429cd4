//! Test support: runs the real `oidc-provider` (Node, pinned in `test-provider/`) on a
//! free loopback port. Installs it with `npm ci` when missing. One Node process per test
//! binary serves every provider its tests start (`server.mjs`'s shared mode), each under
//! its own issuer path with its own keys, clients and sessions, stopped on drop:
//! starting Node costs about half a second of CPU, a provider in it a few milliseconds.

mod django;
mod redis;
pub mod topologies;

pub use django::{DJANGO_CLIENT_SECRET, DJANGO_SVC_SECRET, DjangoProvider};
pub use redis::RedisServer;

use std::io::{BufRead as _, Read as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A running provider (its own issuer in the binary's shared Node process). Dropping it
/// stops it.
#[derive(Debug)]
pub struct TestProvider {
    /// The issuer URL, `http://127.0.0.1:<port>/p/<n>`.
    pub issuer: String,
    addr: SocketAddr,
    path: String,
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

/// How long the Node process may take to start before it is retried. Node needs well
/// under a second here; a shared CI machine has been seen to need far more.
const START_TIMEOUT: Duration = Duration::from_secs(45);
/// Starts tried before the test fails.
const START_ATTEMPTS: usize = 2;
/// The Node process's stderr kept for failure messages.
const STDERR_TAIL: usize = 8 * 1024;

/// The test binary's Node process. Its stdin is held until the binary exits: the
/// process ends when it closes, however the binary ends.
struct SharedNode {
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    _child: Child,
    _stdin: ChildStdin,
}

impl SharedNode {
    fn stderr_tail(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// The binary's Node process, started on first use.
fn shared_node() -> &'static SharedNode {
    static NODE: OnceLock<Result<SharedNode, String>> = OnceLock::new();
    let node = NODE.get_or_init(|| {
        ensure_installed();
        let mut failures = Vec::new();
        for attempt in 1..=START_ATTEMPTS {
            match start_node() {
                Ok(node) => return Ok(node),
                Err(failure) => {
                    eprintln!("provider start {attempt}/{START_ATTEMPTS} failed: {failure}");
                    failures.push(failure);
                }
            }
        }
        Err(failures.join("\n---\n"))
    });
    match node {
        Ok(node) => node,
        Err(failures) => panic!("the provider did not start: {failures}"),
    }
}

fn start_node() -> Result<SharedNode, String> {
    let mut command = Command::new("node");
    command
        .arg("server.mjs")
        .current_dir(fixture_dir())
        .env("OIDC_TEST_SHARED", "1")
        .env_remove("PORT")
        .env_remove("OIDC_TEST_CONFIG");
    let started = start_ready(command, "node")?;
    let addr = started
        .base
        .strip_prefix("http://")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("unexpected READY address {:?}", started.base))?;
    Ok(SharedNode {
        addr,
        stderr: started.stderr,
        _child: started.child,
        _stdin: started.stdin,
    })
}

/// A server process that printed `READY <base>`: it runs until its stdin closes.
pub(crate) struct Started {
    pub(crate) base: String,
    pub(crate) stderr: Arc<Mutex<String>>,
    pub(crate) child: Child,
    pub(crate) stdin: ChildStdin,
}

/// Spawns `command` (a server of the test binary, `program` for messages) and waits for
/// its `READY <base>` line on stdout; its stderr's tail is kept.
pub(crate) fn start_ready(mut command: Command, program: &str) -> Result<Started, String> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program} must be installed to run the provider tests: {e}"))?;
    let stderr = Arc::new(Mutex::new(String::new()));
    let pipe = child.stderr.take().ok_or("no stderr pipe")?;
    let tail = Arc::clone(&stderr);
    std::thread::spawn(move || keep_tail(pipe, &tail));
    let stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix("READY ").map(|s| s.trim().to_owned()));
        let _ = ready_tx.send(ready);
        // Drained to the end, so that the process never blocks on a full pipe.
        lines.for_each(drop);
    });
    let started = Instant::now();
    let describe = |what: &str, stderr: &Mutex<String>| {
        let tail = stderr.lock().map(|s| s.clone()).unwrap_or_default();
        format!("{what} after {:?}; its stderr:\n{tail}", started.elapsed())
    };
    let base = match ready_rx.recv_timeout(START_TIMEOUT) {
        Ok(Some(base)) => base,
        Ok(None) => return Err(describe("the provider exited before it was ready", &stderr)),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(describe("the provider was not ready", &stderr));
        }
    };
    let stdin = child.stdin.take().ok_or("no stdin pipe")?;
    Ok(Started {
        base,
        stderr,
        child,
        stdin,
    })
}

impl TestProvider {
    /// Starts a provider with `config` (the `OIDC_TEST_CONFIG` JSON of
    /// `test-provider/README.md`; `port` is the Node process's, not the provider's)
    /// in the test binary's Node process, which starts on first use.
    ///
    /// A Node process that does not report ready in time is killed and tried once
    /// more; if that fails too, the panic message carries its stderr.
    pub async fn start(config: serde_json::Value) -> TestProvider {
        let node = shared_node();
        let body = config.to_string();
        let request = format!(
            "POST /__providers HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            node.addr,
            body.len()
        );
        let answer = async {
            let mut stream = tokio::net::TcpStream::connect(node.addr).await?;
            stream.write_all(request.as_bytes()).await?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await?;
            Ok::<_, std::io::Error>(answer)
        };
        let answer = tokio::time::timeout(START_TIMEOUT, answer)
            .await
            .map_err(|_| "timed out".to_owned())
            .and_then(|r| r.map_err(|e| e.to_string()))
            .unwrap_or_else(|e| {
                panic!(
                    "starting a provider failed: {e}; stderr:\n{}",
                    node.stderr_tail()
                )
            });
        let (head, json) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        assert!(
            head.starts_with("HTTP/1.1 201"),
            "the provider refused the configuration: {head}\n{json}\nstderr:\n{}",
            node.stderr_tail()
        );
        let issuer = serde_json::from_str::<serde_json::Value>(json)
            .ok()
            .and_then(|v| v["issuer"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("no issuer in the provider's answer: {json}"));
        let path = issuer
            .strip_prefix(&format!("http://{}", node.addr))
            .unwrap_or_else(|| panic!("unexpected issuer {issuer}"))
            .to_owned();
        TestProvider {
            issuer,
            addr: node.addr,
            path,
        }
    }

    /// The provider's test counters (`GET /test/stats`).
    pub fn stats_url(&self) -> String {
        format!("{}/test/stats", self.issuer)
    }
}

impl Drop for TestProvider {
    /// Stops this provider (a short loopback request; the Node process goes on).
    fn drop(&mut self) {
        let stop = || -> std::io::Result<()> {
            let mut stream =
                std::net::TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))?;
            stream.set_read_timeout(Some(Duration::from_secs(2)))?;
            write!(
                stream,
                "DELETE {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.path, self.addr
            )?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer)?;
            Ok(())
        };
        let _ = stop();
    }
}

/// Reads a server process's stderr to its end, keeping the last `STDERR_TAIL` bytes.
/// Draining it also keeps a chatty process from blocking on a full pipe.
fn keep_tail(mut pipe: std::process::ChildStderr, tail: &Mutex<String>) {
    // This thread must drain the pipe until Node exits, whatever happens: Node writes
    // its stderr synchronously, and a full pipe would stop the whole shared provider
    // (every test of the binary then times out). So an interrupted read is retried,
    // and a poisoned tail is still written.
    let mut buf = [0u8; 4096];
    loop {
        let n = match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let mut tail = tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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

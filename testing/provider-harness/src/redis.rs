//! A real `redis-server` (Debian's package, installed by `scripts/test`) on a free
//! loopback port, with an append-only file in a private directory so that a restart
//! keeps the data, as a production Redis would.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A running `redis-server`. Dropping it kills the server and removes its files.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a port of its own and waits until it answers.
    ///
    /// A `redis-server` cannot be handed a listening socket, so the port is one the OS
    /// just called free; if another process took it meanwhile, the server exits (it
    /// cannot listen) or another server answers there (its `process_id` is not ours):
    /// then another port is tried.
    pub fn start() -> RedisServer {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("auth-redis-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("redis dir");
        let mut server = RedisServer {
            port: 0,
            dir,
            child: None,
        };
        for _ in 0..10 {
            server.port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            if server.spawn() {
                return server;
            }
        }
        panic!("no port of its own for redis-server after 10 tries");
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGTERM: it writes its data and exits).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Runs one `redis-cli` command against the server and returns its output (as
    /// written by someone with access to Redis but not to the app's keys).
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli (installed with redis-server)");
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    /// Every key and its value (as text; `redis-cli`), to check what is stored.
    pub fn dump(&self) -> Vec<(String, String)> {
        self.cli(&["--scan"])
            .lines()
            .map(|k| (k.to_string(), self.cli(&["get", k])))
            .collect()
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers, as with
    /// an overloaded or stalled Redis.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args([sig, &child.id().to_string()])
                .status();
        }
    }

    /// (Re)starts the server on the same port and data directory (the app keeps its
    /// URL). A port another process took while the server was down is waited for.
    ///
    /// # Panics
    /// When the port is not its own again within 20 s.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.spawn() {
            assert!(
                Instant::now() < deadline,
                "port {} is not free again for redis-server",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts `redis-server` on `self.port`: true once it answers there, false if it
    /// could not take the port.
    fn spawn(&mut self) -> bool {
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
            ])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test installs it)");
        let mine = format!("process_id:{}", child.id());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return false; // it could not listen
            }
            match self.server_info() {
                Some(info) if info.lines().any(|l| l.trim() == mine) => {
                    self.child = Some(child);
                    return true;
                }
                Some(_) => {
                    // Another server answers on this port.
                    let _ = child.kill();
                    let _ = child.wait();
                    return false;
                }
                None => {}
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {} within 20 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `INFO server` of whatever Redis answers on the port, if one does.
    fn server_info(&self) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
        s.write_all(b"INFO server\r\n").ok()?;
        // A bulk string: `$<length>\r\n<text>\r\n`.
        let mut reply = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).ok()?;
            if n == 0 {
                return None;
            }
            reply.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&reply);
            if let Some((head, body)) = text.split_once("\r\n") {
                // Not a bulk string (`-LOADING`, or not Redis): no answer yet.
                let len: usize = head.strip_prefix('$')?.parse().ok()?;
                if body.len() >= len {
                    return Some(body[..len].to_string());
                }
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.resume();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

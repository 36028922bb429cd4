//! Redis as production runs it: over TLS (a CA made at test time with openssl), as a
//! Cluster (3 masters and 3 replicas), and behind Sentinel (a master, a replica and a
//! sentinel), from Debian's `redis-server` 7 and `redis-cli`. Each is started once per
//! test binary ([`tls`], [`cluster`], [`sentinel`]) and shared by its tests; a watchdog
//! process stops the servers when the test binary exits.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A Redis deployment the app connects to with `url` (and, for TLS, `ca_file`).
#[derive(Debug)]
pub struct RedisTopology {
    /// The `REDIS_URL`.
    pub url: String,
    /// The CA certificate (PEM) of a TLS deployment (`REDIS_CA_FILE`).
    pub ca_file: Option<PathBuf>,
    /// `redis-cli` arguments that reach one of its servers (for checks).
    pub cli: Vec<String>,
    dir: PathBuf,
    /// Its servers (stopped by their watchdogs when the test binary exits).
    servers: Vec<Child>,
    kind: Kind,
}

/// What a deployment is, for [`RedisTopology::fail_over`].
#[derive(Debug, Clone)]
enum Kind {
    Tls,
    /// Its nodes' ports.
    Cluster(Vec<String>),
    /// The sentinel's port.
    Sentinel(String),
}

impl RedisTopology {
    /// Runs `redis-cli` with `args` against the deployment's first server.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(&self.cli)
            .args(args)
            .output()
            .expect("redis-cli (installed with redis-server)");
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    /// The directory holding its files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many `redis-server` processes it runs.
    pub fn servers(&self) -> usize {
        self.servers.len()
    }

    /// Fails over as an operator would, and returns once the deployment is healthy
    /// again. A Cluster: `CLUSTER FAILOVER` on every replica in turn (each takes over
    /// its master's slots once it has caught up), then `cluster_state:ok` on every
    /// node. Sentinel: `WAIT` until the replica has the master's writes, then
    /// `SENTINEL FAILOVER`, until the sentinel names the replica as master.
    ///
    /// # Panics
    /// On a TLS single server (nothing to fail over to), or when the deployment does
    /// not recover within 30 s.
    pub fn fail_over(&self) {
        match &self.kind {
            Kind::Tls => panic!("a single server has nothing to fail over to"),
            Kind::Cluster(ports) => {
                let nodes = cli(&["-p", &ports[0], "cluster", "nodes"]);
                let replicas: Vec<String> = nodes
                    .lines()
                    .filter(|l| l.split(' ').nth(2).is_some_and(|f| f.contains("slave")))
                    .filter_map(|l| {
                        let addr = l.split(' ').nth(1)?;
                        let port = addr.split('@').next()?.rsplit(':').next()?;
                        Some(port.to_string())
                    })
                    .collect();
                assert!(!replicas.is_empty(), "no replica in {nodes}");
                for port in &replicas {
                    assert_eq!(cli(&["-p", port, "cluster", "failover"]), "OK");
                    wait_for("the replica taking over", Duration::from_secs(30), || {
                        cli(&["-p", port, "role"]).starts_with("master")
                    });
                    for p in ports {
                        wait_for(
                            "cluster_state:ok after a failover",
                            Duration::from_secs(30),
                            || cli(&["-p", p, "cluster", "info"]).contains("cluster_state:ok"),
                        );
                    }
                }
            }
            Kind::Sentinel(sentinel) => {
                let master = || {
                    cli(&[
                        "-p",
                        sentinel,
                        "sentinel",
                        "get-master-addr-by-name",
                        "mymaster",
                    ])
                    .lines()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string()
                };
                let before = master();
                assert!(!before.is_empty(), "the sentinel names no master");
                cli(&["-p", &before, "wait", "1", "2000"]);
                assert_eq!(
                    cli(&["-p", sentinel, "sentinel", "failover", "mymaster"]),
                    "OK"
                );
                wait_for(
                    "the sentinel naming a new master",
                    Duration::from_secs(30),
                    || {
                        let now = master();
                        !now.is_empty()
                            && now != before
                            && cli(&["-p", &now, "role"]).starts_with("master")
                    },
                );
            }
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("auth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    // Removed once this process is gone and its servers with it.
    let cleanup = format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; sleep 2; rm -rf '{dir}'",
        parent = std::process::id(),
        dir = dir.display()
    );
    let _ = Command::new("sh")
        .args(["-c", &cleanup])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    dir
}

/// Starts `redis-server` with `args`, and a watchdog that kills it once this process
/// is gone (statics are never dropped).
fn spawn_server(args: &[String], dir: &Path) -> Child {
    let child = Command::new("redis-server")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (scripts/test installs it)");
    let watchdog = format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; kill {child} 2>/dev/null",
        parent = std::process::id(),
        child = child.id()
    );
    let _ = Command::new("sh")
        .args(["-c", &watchdog])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    child
}

/// Waits until `check` holds, or panics with `what`.
fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not happen within {limit:?}");
}

fn cli(args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl {args:?}");
}

/// A `redis-server` that speaks only TLS, with a certificate for 127.0.0.1 and
/// localhost issued by a CA made now.
pub fn tls() -> &'static RedisTopology {
    static TLS: OnceLock<RedisTopology> = OnceLock::new();
    TLS.get_or_init(|| {
        let dir = fresh_dir("redis-tls");
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "1",
                "-subj",
                "/CN=auth-test-ca",
            ],
        );
        openssl(
            &dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        );
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
        )
        .expect("ext.cnf");
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "1",
                "-extfile",
                "ext.cnf",
            ],
        );
        let port = free_port().to_string();
        let args: Vec<String> = [
            "--port",
            "0",
            "--tls-port",
            &port,
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            "server.crt",
            "--tls-key-file",
            "server.key",
            "--tls-ca-cert-file",
            "ca.crt",
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let servers = vec![spawn_server(&args, &dir)];
        let ca = dir.join("ca.crt");
        let cli_args: Vec<String> = ["--tls", "--cacert", ca.to_str().expect("path"), "-p", &port]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let topology = RedisTopology {
            url: format!("rediss://127.0.0.1:{port}"),
            ca_file: Some(ca),
            cli: cli_args,
            dir,
            servers,
            kind: Kind::Tls,
        };
        wait_for(
            "the TLS server answering PING",
            Duration::from_secs(20),
            || topology.cli(&["ping"]) == "PONG",
        );
        topology
    })
}

/// A Redis Cluster of three masters and three replicas on loopback.
pub fn cluster() -> &'static RedisTopology {
    static CLUSTER: OnceLock<RedisTopology> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let dir = fresh_dir("redis-cluster");
        let ports: Vec<String> = (0..6).map(|_| free_port().to_string()).collect();
        let mut servers = Vec::new();
        for port in &ports {
            let node_dir = dir.join(port);
            std::fs::create_dir_all(&node_dir).expect("node dir");
            let args: Vec<String> = [
                "--port",
                port,
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
                "--save",
                "",
                "--appendonly",
                "no",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            servers.push(spawn_server(&args, &node_dir));
        }
        for port in &ports {
            wait_for(
                "a cluster node answering PING",
                Duration::from_secs(20),
                || cli(&["-p", port, "ping"]) == "PONG",
            );
        }
        let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create").args(&nodes);
        create.args(["--cluster-replicas", "1", "--cluster-yes"]);
        let status = create
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli --cluster create");
        assert!(status.success(), "redis-cli --cluster create");
        for port in &ports {
            wait_for(
                "cluster_state:ok on every node",
                Duration::from_secs(30),
                || cli(&["-p", port, "cluster", "info"]).contains("cluster_state:ok"),
            );
        }
        let others: Vec<String> = ports[1..]
            .iter()
            .map(|p| format!("node=127.0.0.1:{p}"))
            .collect();
        RedisTopology {
            url: format!(
                "redis-cluster://127.0.0.1:{}?{}",
                ports[0],
                others.join("&")
            ),
            ca_file: None,
            cli: vec!["-c".into(), "-p".into(), ports[0].clone()],
            dir,
            servers,
            kind: Kind::Cluster(ports.clone()),
        }
    })
}

/// A master, its replica and a sentinel that monitors them as `mymaster`.
pub fn sentinel() -> &'static RedisTopology {
    static SENTINEL: OnceLock<RedisTopology> = OnceLock::new();
    SENTINEL.get_or_init(|| {
        let dir = fresh_dir("redis-sentinel");
        let (master, replica, sentinel) = (free_port(), free_port(), free_port());
        let mut servers = Vec::new();
        let mut server = |port: u16, extra: &[String]| {
            let node_dir = dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir).expect("node dir");
            let mut args: Vec<String> = ["--port", &port.to_string(), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            args.extend(extra.iter().cloned());
            servers.push(spawn_server(&args, &node_dir));
        };
        server(master, &[]);
        server(
            replica,
            &["--replicaof".into(), "127.0.0.1".into(), master.to_string()],
        );
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {sentinel}\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {master} 1\n\
                 sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 5000\n"
            ),
        )
        .expect("sentinel.conf");
        servers.push(spawn_server(
            &[conf.to_str().expect("path").to_string(), "--sentinel".into()],
            &dir,
        ));
        let s = sentinel.to_string();
        wait_for("the sentinel seeing the replica", Duration::from_secs(30), || {
            cli(&["-p", &s, "sentinel", "replicas", "mymaster"]).contains(&replica.to_string())
        });
        RedisTopology {
            url: format!("redis-sentinel://127.0.0.1:{sentinel}/0?sentinelServiceName=mymaster"),
            ca_file: None,
            cli: vec!["-p".into(), master.to_string()],
            dir,
            servers,
            kind: Kind::Sentinel(sentinel.to_string()),
        }
    })
}

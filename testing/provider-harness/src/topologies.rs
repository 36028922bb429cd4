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

/// Starts a `redis-server` (made with `args(port)`, in `dir`) on a port it owns, and
/// returns it with that port. A `redis-server` cannot be handed a listening socket, so
/// the port is one the OS just called free; if another process took it meanwhile, the
/// server exits (it cannot listen) or another server answers there (its `process_id`
/// is not ours): then another port is tried.
fn spawn_on_free_port(
    dir: &Path,
    args: impl Fn(u16) -> Vec<String>,
    cli_args: impl Fn(u16) -> Vec<String>,
) -> (Child, u16) {
    for _ in 0..10 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = spawn_server(&args(port), dir);
        let mine = format!("process_id:{}", child.id());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break; // it could not listen: another port
            }
            let info = cli(&cli_args(port)
                .iter()
                .map(String::as_str)
                .chain(["info", "server"])
                .collect::<Vec<_>>());
            if info.lines().any(|l| l.trim() == mine) {
                return (child, port);
            }
            if info.contains("process_id:") {
                // Another server answers on this port.
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("no port of its own for redis-server after 10 tries");
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
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
        let ca = dir.join("ca.crt");
        let ca_path = ca.to_str().expect("path").to_string();
        let (server, port) = spawn_on_free_port(
            &dir,
            |port| {
                strings(&[
                    "--port",
                    "0",
                    "--tls-port",
                    &port.to_string(),
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
                ])
            },
            |port| strings(&["--tls", "--cacert", &ca_path, "-p", &port.to_string()]),
        );
        let port = port.to_string();
        let servers = vec![server];
        let cli_args = strings(&["--tls", "--cacert", &ca_path, "-p", &port]);
        let topology = RedisTopology {
            url: format!("rediss://127.0.0.1:{port}"),
            ca_file: Some(ca),
            cli: cli_args,
            dir,
            servers,
            kind: Kind::Tls,
        };
        assert_eq!(topology.cli(&["ping"]), "PONG");
        topology
    })
}

/// A Redis Cluster of three masters and three replicas on loopback.
pub fn cluster() -> &'static RedisTopology {
    static CLUSTER: OnceLock<RedisTopology> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let dir = fresh_dir("redis-cluster");
        let mut servers = Vec::new();
        let mut ports = Vec::new();
        for node in 0..6 {
            let node_dir = dir.join(format!("node{node}"));
            std::fs::create_dir_all(&node_dir).expect("node dir");
            // The cluster bus listens on the port + 10000: a server that cannot take
            // either exits, and another port is tried.
            let (server, port) = spawn_on_free_port(
                &node_dir,
                |port| {
                    strings(&[
                        "--port",
                        &port.to_string(),
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
                    ])
                },
                |port| strings(&["-p", &port.to_string()]),
            );
            servers.push(server);
            ports.push(port.to_string());
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
        let mut servers = Vec::new();
        let mut server = |name: &str, extra: &[String]| {
            let node_dir = dir.join(name);
            std::fs::create_dir_all(&node_dir).expect("node dir");
            let (child, port) = spawn_on_free_port(
                &node_dir,
                |port| {
                    let mut args = strings(&[
                        "--port",
                        &port.to_string(),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ]);
                    args.extend(extra.iter().cloned());
                    args
                },
                |port| strings(&["-p", &port.to_string()]),
            );
            servers.push(child);
            port
        };
        let master = server("master", &[]);
        let replica = server(
            "replica",
            &["--replicaof".into(), "127.0.0.1".into(), master.to_string()],
        );
        let conf = dir.join("sentinel.conf");
        let (child, sentinel) = spawn_on_free_port(
            &dir,
            |port| {
                // Written for each port tried (a sentinel rewrites its file as it runs).
                std::fs::write(
                    &conf,
                    format!(
                        "port {port}\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {master} 1\n\
                         sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 5000\n"
                    ),
                )
                .expect("sentinel.conf");
                vec![conf.to_str().expect("path").to_string(), "--sentinel".into()]
            },
            |port| strings(&["-p", &port.to_string()]),
        );
        servers.push(child);
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

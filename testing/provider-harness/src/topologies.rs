//! Redis as production runs it: over TLS (a CA made at test time with openssl), as a
//! Cluster (3 masters and 3 replicas), and behind Sentinel (a master, a replica and a
//! sentinel), the last two also over TLS only, from Debian's `redis-server` 7 and
//! `redis-cli`. Each is started once per test binary ([`tls`], [`cluster`],
//! [`cluster_tls`], [`sentinel`], [`sentinel_tls`]) and shared by its tests; a watchdog
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
    /// Its nodes' ports, and whether they speak TLS.
    Cluster {
        ports: Vec<u16>,
        tls: bool,
    },
    /// The sentinel's port, and whether it speaks TLS.
    Sentinel {
        port: u16,
        tls: bool,
    },
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
            Kind::Cluster { ports, tls } => {
                let tls = *tls;
                let nodes = node_cli(ports[0], tls, &["cluster", "nodes"]);
                let replicas: Vec<u16> = nodes
                    .lines()
                    .filter(|l| l.split(' ').nth(2).is_some_and(|f| f.contains("slave")))
                    .filter_map(|l| {
                        let addr = l.split(' ').nth(1)?;
                        let port = addr.split('@').next()?.rsplit(':').next()?;
                        port.parse().ok()
                    })
                    .collect();
                assert!(!replicas.is_empty(), "no replica in {nodes}");
                for &port in &replicas {
                    assert_eq!(node_cli(port, tls, &["cluster", "failover"]), "OK");
                    wait_for("the replica taking over", Duration::from_secs(30), || {
                        node_cli(port, tls, &["role"]).starts_with("master")
                    });
                    for &p in ports {
                        wait_for(
                            "cluster_state:ok after a failover",
                            Duration::from_secs(30),
                            || node_cli(p, tls, &["cluster", "info"]).contains("cluster_state:ok"),
                        );
                    }
                }
            }
            Kind::Sentinel {
                port: sentinel,
                tls,
            } => {
                let (sentinel, tls) = (*sentinel, *tls);
                let master = || {
                    node_cli(
                        sentinel,
                        tls,
                        &["sentinel", "get-master-addr-by-name", "mymaster"],
                    )
                    .lines()
                    .nth(1)
                    .and_then(|p| p.parse::<u16>().ok())
                };
                let before = master().expect("the sentinel names a master");
                node_cli(before, tls, &["wait", "1", "2000"]);
                assert_eq!(
                    node_cli(sentinel, tls, &["sentinel", "failover", "mymaster"]),
                    "OK"
                );
                wait_for(
                    "the sentinel naming a new master",
                    Duration::from_secs(30),
                    || {
                        master().is_some_and(|now| {
                            now != before && node_cli(now, tls, &["role"]).starts_with("master")
                        })
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

/// `redis-cli` with `args` against the server on `port`, over TLS when `tls`.
fn node_cli(port: u16, tls: bool, args: &[&str]) -> String {
    let to = cli_to(port, tls);
    cli(&to
        .iter()
        .map(String::as_str)
        .chain(args.iter().copied())
        .collect::<Vec<_>>())
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

/// A CA made now and a server certificate it issued for 127.0.0.1 and localhost, in
/// one directory (`ca.crt`, `server.crt`, `server.key`), shared by every TLS deployment
/// of the test binary (Redis, and the development provider over https).
pub fn certificates() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = fresh_dir("redis-certs");
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
        dir
    })
}

/// The CA certificate of [`certificates`].
fn ca_file() -> PathBuf {
    certificates().join("ca.crt")
}

/// A server's arguments to listen on `port` with TLS only (`--port 0`: no plain port),
/// its cluster bus and replication over TLS too.
fn tls_server_args(port: u16) -> Vec<String> {
    let file = |name: &str| {
        certificates()
            .join(name)
            .to_str()
            .expect("path")
            .to_string()
    };
    strings(&[
        "--port",
        "0",
        "--tls-port",
        &port.to_string(),
        "--tls-cert-file",
        &file("server.crt"),
        "--tls-key-file",
        &file("server.key"),
        "--tls-ca-cert-file",
        &file("ca.crt"),
        "--tls-auth-clients",
        "no",
        "--tls-replication",
        "yes",
    ])
}

/// `redis-cli` arguments to reach `port`, over TLS when `tls`.
fn cli_to(port: u16, tls: bool) -> Vec<String> {
    let mut args = Vec::new();
    if tls {
        args.extend(strings(&[
            "--tls",
            "--cacert",
            ca_file().to_str().expect("path"),
        ]));
    }
    args.extend(strings(&["-p", &port.to_string()]));
    args
}

/// A `redis-server` that speaks only TLS, with a certificate for 127.0.0.1 and
/// localhost issued by a CA made now.
pub fn tls() -> &'static RedisTopology {
    static TLS: OnceLock<RedisTopology> = OnceLock::new();
    TLS.get_or_init(|| {
        let dir = fresh_dir("redis-tls");
        let (server, port) = spawn_on_free_port(
            &dir,
            |port| {
                let mut args = tls_server_args(port);
                args.extend(strings(&[
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ]));
                args
            },
            |port| cli_to(port, true),
        );
        let topology = RedisTopology {
            url: format!("rediss://127.0.0.1:{port}"),
            ca_file: Some(ca_file()),
            cli: cli_to(port, true),
            dir,
            servers: vec![server],
            kind: Kind::Tls,
        };
        assert_eq!(topology.cli(&["ping"]), "PONG");
        topology
    })
}

/// A Redis Cluster of three masters and three replicas on loopback.
pub fn cluster() -> &'static RedisTopology {
    static CLUSTER: OnceLock<RedisTopology> = OnceLock::new();
    CLUSTER.get_or_init(|| make_cluster(false))
}

/// [`cluster`] speaking only TLS (clients, cluster bus and replication), reached with
/// `rediss-cluster://`.
pub fn cluster_tls() -> &'static RedisTopology {
    static CLUSTER: OnceLock<RedisTopology> = OnceLock::new();
    CLUSTER.get_or_init(|| make_cluster(true))
}

fn make_cluster(tls: bool) -> RedisTopology {
    let dir = fresh_dir(if tls {
        "redis-cluster-tls"
    } else {
        "redis-cluster"
    });
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
                let mut args = if tls {
                    let mut args = tls_server_args(port);
                    args.extend(strings(&["--tls-cluster", "yes"]));
                    args
                } else {
                    strings(&["--port", &port.to_string()])
                };
                args.extend(strings(&[
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
                ]));
                args
            },
            |port| cli_to(port, tls),
        );
        servers.push(server);
        ports.push(port);
    }
    let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut create = Command::new("redis-cli");
    if tls {
        create.args(["--tls", "--cacert", ca_file().to_str().expect("path")]);
    }
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
            || node_cli(*port, tls, &["cluster", "info"]).contains("cluster_state:ok"),
        );
    }
    let others: Vec<String> = ports[1..]
        .iter()
        .map(|p| format!("node=127.0.0.1:{p}"))
        .collect();
    let mut cli = vec!["-c".to_string()];
    cli.extend(cli_to(ports[0], tls));
    RedisTopology {
        url: format!(
            "{}://127.0.0.1:{}?{}",
            if tls {
                "rediss-cluster"
            } else {
                "redis-cluster"
            },
            ports[0],
            others.join("&")
        ),
        ca_file: tls.then(ca_file),
        cli,
        dir,
        servers,
        kind: Kind::Cluster { ports, tls },
    }
}

/// A master, its replica and a sentinel that monitors them as `mymaster`.
pub fn sentinel() -> &'static RedisTopology {
    static SENTINEL: OnceLock<RedisTopology> = OnceLock::new();
    SENTINEL.get_or_init(|| make_sentinel(false))
}

/// [`sentinel`] speaking only TLS (the sentinel, the servers and replication),
/// reached with `rediss-sentinel://`.
pub fn sentinel_tls() -> &'static RedisTopology {
    static SENTINEL: OnceLock<RedisTopology> = OnceLock::new();
    SENTINEL.get_or_init(|| make_sentinel(true))
}

fn make_sentinel(tls: bool) -> RedisTopology {
    let dir = fresh_dir(if tls {
        "redis-sentinel-tls"
    } else {
        "redis-sentinel"
    });
    let mut servers = Vec::new();
    let mut server = |name: &str, extra: &[String]| {
        let node_dir = dir.join(name);
        std::fs::create_dir_all(&node_dir).expect("node dir");
        let (child, port) = spawn_on_free_port(
            &node_dir,
            |port| {
                let mut args = if tls {
                    tls_server_args(port)
                } else {
                    strings(&["--port", &port.to_string()])
                };
                args.extend(strings(&[
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ]));
                args.extend(extra.iter().cloned());
                args
            },
            |port| cli_to(port, tls),
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
            let listen = if tls {
                let file = |name: &str| certificates().join(name).display().to_string();
                format!(
                    "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\n\
                     tls-ca-cert-file {}\ntls-auth-clients no\ntls-replication yes\n",
                    file("server.crt"),
                    file("server.key"),
                    file("ca.crt")
                )
            } else {
                format!("port {port}\n")
            };
            // Written for each port tried (a sentinel rewrites its file as it runs).
            std::fs::write(
                &conf,
                format!(
                    "{listen}bind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {master} 1\n\
                     sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 5000\n"
                ),
            )
            .expect("sentinel.conf");
            vec![
                conf.to_str().expect("path").to_string(),
                "--sentinel".into(),
            ]
        },
        |port| cli_to(port, tls),
    );
    servers.push(child);
    wait_for(
        "the sentinel seeing the replica",
        Duration::from_secs(30),
        || {
            node_cli(sentinel, tls, &["sentinel", "replicas", "mymaster"])
                .contains(&replica.to_string())
        },
    );
    RedisTopology {
        url: format!(
            "{}://127.0.0.1:{sentinel}/0?sentinelServiceName=mymaster",
            if tls {
                "rediss-sentinel"
            } else {
                "redis-sentinel"
            }
        ),
        ca_file: tls.then(ca_file),
        cli: cli_to(master, tls),
        dir,
        servers,
        kind: Kind::Sentinel {
            port: sentinel,
            tls,
        },
    }
}

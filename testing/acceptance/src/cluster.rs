//! Scenarios with two instances of the app sharing a real `redis-server`, as behind a
//! load balancer: the browser's cookies go to both (cookies are not port-scoped), and
//! each instance is its own `Auth` (its own caches, refresh coordinator and logout
//! registry), restartable on its port.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use auth_core::{Auth, AuthConfig, AuthConfigBuilder};
use provider_harness::{RedisServer, TestProvider};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::{Running, SECRET, Serve, browser, sign_in_at, sign_out_at_provider};

/// The cookie key every instance shares (`APP_SECRET`).
const APP_SECRET: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// A change to every instance's configuration.
type Tweak = fn(AuthConfigBuilder) -> AuthConfigBuilder;

struct Cluster {
    serve: Serve,
    tweak: Tweak,
    provider: TestProvider,
    /// The single server these scenarios start and stop, or none when they run on a
    /// shared deployment (TLS, Cluster, Sentinel).
    redis: Option<RedisServer>,
    redis_url: String,
    redis_ca: Option<std::path::PathBuf>,
    bases: Vec<String>,
    running: Vec<Option<Running>>,
    /// Each instance's `Auth` (a handle on the one it serves with).
    auths: Vec<Option<Auth>>,
    /// Each instance's refresh margin.
    refresh_margins: Vec<Duration>,
    /// Each instance's clock, when not the system's.
    clocks: Vec<Option<auth_core::Clock>>,
    /// One of the few places for two-instance deployments at once (see `DEPLOYMENTS`).
    _place: tokio::sync::OwnedSemaphorePermit,
}

/// Two-instance deployments running at once in one test binary, at most: each is two
/// apps, a provider and Redis, and their scenarios time refreshes, failovers and
/// fast-path delivery against real clocks; the others' load would stretch them.
static DEPLOYMENTS: std::sync::LazyLock<std::sync::Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(tokio::sync::Semaphore::new(2)));

fn port_of(base: &str) -> u16 {
    base.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port")
}

impl Cluster {
    async fn start(serve: Serve, access_token_ttl: u64) -> Cluster {
        Self::start_with(serve, access_token_ttl, |b| b).await
    }

    async fn start_with(serve: Serve, access_token_ttl: u64, tweak: Tweak) -> Cluster {
        let redis = RedisServer::start();
        let url = redis.url();
        Self::start_many(serve, access_token_ttl, tweak, Some(redis), url, None, 2).await
    }

    /// `instances` instances on the Redis deployment at `redis_url`.
    async fn start_many(
        serve: Serve,
        access_token_ttl: u64,
        tweak: Tweak,
        redis: Option<RedisServer>,
        redis_url: String,
        redis_ca: Option<std::path::PathBuf>,
        instances: usize,
    ) -> Cluster {
        crate::init();
        let place = std::sync::Arc::clone(&DEPLOYMENTS)
            .acquire_owned()
            .await
            .expect("never closed");
        let listeners: Vec<TcpListener> = (0..instances)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
            .collect();
        let bases: Vec<String> = listeners
            .iter()
            .map(|l| format!("http://127.0.0.1:{}", l.local_addr().expect("addr").port()))
            .collect();
        let provider = TestProvider::start(json!({
            "access_token_ttl": access_token_ttl,
            "clients": [{
                "client_id": "example",
                "client_secret": SECRET,
                "redirect_uris": bases.iter().map(|b| format!("{b}/auth/callback")).collect::<Vec<_>>(),
                "post_logout_redirect_uris": bases.iter().map(|b| format!("{b}/")).collect::<Vec<_>>(),
                // The provider knows one back-channel URL: instance 0.
                "backchannel_logout_uri": format!("{}/auth/backchannel-logout", bases[0]),
            }]
        }))
        .await;
        let mut cluster = Cluster {
            serve,
            tweak,
            provider,
            redis,
            redis_url,
            redis_ca,
            bases,
            running: (0..instances).map(|_| None).collect(),
            auths: vec![None; instances],
            refresh_margins: vec![Duration::from_secs(4); instances],
            clocks: vec![None; instances],
            _place: place,
        };
        for (i, listener) in listeners.into_iter().enumerate() {
            cluster.launch(i, listener).await;
        }
        cluster
    }

    async fn launch(&mut self, i: usize, listener: TcpListener) {
        let mut builder = AuthConfig::builder(&self.provider.issuer, "example", &self.bases[i])
            .with_client_secret(SECRET)
            .with_refresh_margin(self.refresh_margins[i])
            .with_redis_url(&self.redis_url);
        if let Some(ca) = &self.redis_ca {
            builder = builder.with_redis_ca_file(ca);
        }
        if let Some(clock) = &self.clocks[i] {
            builder = builder.with_clock(clock.clone());
        }
        let builder = builder
            .with_redis_timeout(Duration::from_millis(500))
            .with_app_secret_hex(APP_SECRET);
        let config = (self.tweak)(builder).build().expect("config");
        let auth = Auth::discover(config).await.expect("discovery");
        self.auths[i] = Some(auth.clone());
        self.running[i] = Some((self.serve)(auth, listener));
    }

    /// Stops every instance, then starts new ones on the same ports.
    async fn restart_all(&mut self) {
        for r in &mut self.running {
            r.take();
        }
        for i in 0..self.bases.len() {
            let port = port_of(&self.bases[i]);
            let deadline = Instant::now() + Duration::from_secs(10);
            let listener = loop {
                match TcpListener::bind(("127.0.0.1", port)) {
                    Ok(l) => break l,
                    Err(e) if Instant::now() < deadline => {
                        tracing_wait(&e);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("port {port} not free again: {e}"),
                }
            };
            self.launch(i, listener).await;
        }
    }

    /// The single server of these scenarios.
    fn server(&self) -> &RedisServer {
        self.redis
            .as_ref()
            .expect("a scenario on its own redis-server")
    }

    fn server_mut(&mut self) -> &mut RedisServer {
        self.redis
            .as_mut()
            .expect("a scenario on its own redis-server")
    }

    async fn stats(&self) -> Value {
        reqwest::get(self.provider.stats_url())
            .await
            .expect("stats")
            .json()
            .await
            .expect("json")
    }
}

fn tracing_wait(e: &std::io::Error) {
    eprintln!("waiting for the port to be free: {e}");
}

/// How soon a logout or a refresh on one instance must be in force on the others.
const PROPAGATION: Duration = Duration::from_millis(100);

/// `GET /me` on `base` answers `expected` within [`PROPAGATION`] (polled).
async fn me_within(client: &Client, base: &str, expected: StatusCode) {
    let started = Instant::now();
    loop {
        let got = me_at(client, base).await;
        if got == expected {
            return;
        }
        assert!(
            started.elapsed() < PROPAGATION,
            "{base}: still {got} after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn me_at(client: &Client, base: &str) -> StatusCode {
    client
        .get(format!("{base}/me"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("me")
        .status()
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn cluster_signed_in_on_one_instance_is_signed_in_on_the_other(serve: Serve) {
    let c = Cluster::start(serve, 60).await;
    let client = browser();
    let (last, hops) = sign_in_at(&client, &c.bases[0], "").await;
    assert_eq!(last.status(), StatusCode::OK, "{hops:?}");
    assert_eq!(me_at(&client, &c.bases[1]).await, StatusCode::OK);
    assert_eq!(me_at(&client, &c.bases[0]).await, StatusCode::OK);
    // Logout on instance 1 ends the session on instance 0 too.
    let r = client
        .get(format!("{}/auth/logout", c.bases[1]))
        .send()
        .await
        .expect("logout");
    assert!(r.status().is_redirection());
    me_within(&client, &c.bases[0], StatusCode::UNAUTHORIZED).await;
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn cluster_backchannel_logout_on_one_instance_ends_the_session_on_all(
    serve: Serve,
) {
    let c = Cluster::start(serve, 60).await;
    let client = browser();
    sign_in_at(&client, &c.bases[1], "").await;
    assert_eq!(me_at(&client, &c.bases[0]).await, StatusCode::OK);
    assert_eq!(me_at(&client, &c.bases[1]).await, StatusCode::OK);
    // Sign out at the provider: it calls instance 0's back-channel URL only.
    sign_out_at_provider(&client, &c.provider.issuer).await;
    assert_eq!(c.stats().await["backchannel_logouts_ok"], 1);
    // Instance 1 never received the logout, and its own process remembers nothing.
    me_within(&client, &c.bases[1], StatusCode::UNAUTHORIZED).await;
    me_within(&client, &c.bases[0], StatusCode::UNAUTHORIZED).await;
}

/// Waits until instance `i`'s fast path is live, then proves it serves `client`'s
/// session from memory (its hit counter moves on a request).
async fn served_from_memory(c: &Cluster, client: &Client, i: usize) {
    let auth = c.auths[i].clone().expect("running");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = auth.fast_path().expect("the fast path is on");
        if before.live {
            assert_eq!(me_at(client, &c.bases[i]).await, StatusCode::OK);
            assert_eq!(me_at(client, &c.bases[i]).await, StatusCode::OK);
            let after = auth.fast_path().expect("on");
            if after.hits > before.hits {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "instance {i}: the fast path never served: {:?}",
            auth.fast_path()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The fast path (each instance keeps the sessions it checked) with its bounds: a
/// refresh on one instance is in force on the other within 100 ms (the other, whose
/// refresh is not due, serves the new tokens without refreshing), and so is a
/// back-channel logout received by one. Each instance is first proven to serve the
/// session from memory: without the invalidations it would serve its cached session
/// for up to 5 s; with the fast path off, the test would prove nothing.
pub(crate) async fn cluster_logout_and_refresh_reach_every_instance_within_100_ms(serve: Serve) {
    // 60 s tokens, refreshed 4 s before expiry; instance 0's clock is moved 57 s on
    // when its refresh should be due (nothing is due before, however slow the machine).
    let mut c = Cluster::start(serve, 60).await;
    let skew = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let ahead = std::sync::Arc::clone(&skew);
    c.clocks[0] = Some(auth_core::Clock::from_fn(move || {
        std::time::SystemTime::now()
            + Duration::from_secs(ahead.load(std::sync::atomic::Ordering::SeqCst))
    }));
    c.restart_all().await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = crate::browser_with(jar.clone());
    let (last, hops) = sign_in_at(&client, &c.bases[0], "").await;
    assert_eq!(last.status(), StatusCode::OK, "{hops:?}");
    for i in 0..2 {
        served_from_memory(&c, &client, i).await;
    }
    let session_of = |i: usize| {
        use reqwest::cookie::CookieStore as _;
        let url = url::Url::parse(&c.bases[i]).expect("url");
        let mut headers = http::HeaderMap::new();
        if let Some(v) = jar.cookies(&url) {
            headers.insert(http::header::COOKIE, v);
        }
        let auth = c.auths[i].clone().expect("running");
        let id = auth
            .session_id_from_headers(&headers)
            .expect("a session cookie");
        (auth, id)
    };
    let token_on = |i: usize| {
        let (auth, id) = session_of(i);
        async move {
            match auth.authenticate(Some(&id)).await {
                auth_core::Authenticated::User(s) => s.access_token().secret().to_owned(),
                other => panic!("instance {i}: {other:?}"),
            }
        }
    };
    let old = token_on(1).await;
    assert_eq!(token_on(0).await, old);
    let before = c.stats().await["refresh_grants_ok"].as_u64().expect("n");
    // Instance 0's refresh is due; instance 1's is not.
    skew.store(57, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(me_at(&client, &c.bases[0]).await, StatusCode::OK);
    let refreshed = Instant::now();
    let new = token_on(0).await;
    assert_ne!(new, old, "instance 0 refreshed");
    loop {
        let seen = token_on(1).await;
        if seen == new {
            break;
        }
        assert_eq!(seen, old);
        assert!(
            refreshed.elapsed() < PROPAGATION,
            "instance 1 still serves the old tokens after {:?}",
            refreshed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(me_at(&client, &c.bases[1]).await, StatusCode::OK);
    let s = c.stats().await;
    assert_eq!(
        s["refresh_grants_ok"].as_u64(),
        Some(before + 1),
        "one refresh: {s}"
    );

    // Both serve from memory again, then the provider signs the user out: it calls
    // instance 0's back-channel URL only, and has had its answer when the browser's
    // sign-out returns.
    for i in 0..2 {
        served_from_memory(&c, &client, i).await;
    }
    let (auth, id) = session_of(1);
    sign_out_at_provider(&client, &c.provider.issuer).await;
    let logged_out = Instant::now();
    while matches!(
        auth.authenticate(Some(&id)).await,
        auth_core::Authenticated::User(_)
    ) {
        assert!(
            logged_out.elapsed() < PROPAGATION,
            "instance 1 still serves the session after {:?}",
            logged_out.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(c.stats().await["backchannel_logouts_ok"], 1);
    me_within(&client, &c.bases[0], StatusCode::UNAUTHORIZED).await;
}

/// A browser with a jar of its own, signed in at instance `i`; the session id and
/// the `sub` it was signed in with.
async fn signed_in_browser(c: &Cluster, i: usize) -> (Client, auth_core::SessionId, String) {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = crate::browser_with(jar.clone());
    let (last, hops) = sign_in_at(&client, &c.bases[i], "").await;
    assert_eq!(last.status(), StatusCode::OK, "{hops:?}");
    use reqwest::cookie::CookieStore as _;
    let url = url::Url::parse(&c.bases[i]).expect("url");
    let mut headers = http::HeaderMap::new();
    if let Some(v) = jar.cookies(&url) {
        headers.insert(http::header::COOKIE, v);
    }
    let auth = c.auths[i].clone().expect("running");
    let id = auth.session_id_from_headers(&headers).expect("a session");
    let sub = match auth.authenticate(Some(&id)).await {
        auth_core::Authenticated::User(s) => s.sub().to_owned(),
        other => panic!("{other:?}"),
    };
    (client, id, sub)
}

/// `instance`'s answer for the session `id` becomes "signed out" within 100 ms of
/// `ended` (the other instance's answer that ended it).
async fn signed_out_within(
    c: &Cluster,
    instance: usize,
    id: &auth_core::SessionId,
    ended: Instant,
) {
    let auth = c.auths[instance].clone().expect("running");
    while matches!(
        auth.authenticate(Some(id)).await,
        auth_core::Authenticated::User(_)
    ) {
        assert!(
            ended.elapsed() < PROPAGATION,
            "instance {instance} still serves the session {:?} after it was ended",
            ended.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "instance {instance} saw the end after {:?}",
        ended.elapsed()
    );
}

/// Session control across instances (issue 29): the index of a user's sessions is
/// shared, so instance 1 lists the sessions made on either; ending every session of the
/// user on instance 0 is in force on instance 1 within 100 ms, and so is ending "all
/// but this one", both while instance 1 serves the sessions from memory.
pub(crate) async fn cluster_ending_a_users_sessions_reaches_every_instance_within_100_ms(
    serve: Serve,
) {
    let c = Cluster::start(serve, 60).await;
    let (first, first_id, sub) = signed_in_browser(&c, 0).await;
    let (second, second_id, same) = signed_in_browser(&c, 1).await;
    assert_eq!(sub, same, "one user");
    let listed = c.auths[1]
        .as_ref()
        .expect("running")
        .sessions_of(None, &sub)
        .await
        .expect("listed");
    assert_eq!(listed.len(), 2, "{listed:?}");
    for client in [&first, &second] {
        served_from_memory(&c, client, 1).await;
    }
    let ended = c.auths[0]
        .as_ref()
        .expect("running")
        .end_sessions_of(None, &sub)
        .await
        .expect("ended");
    let at = Instant::now();
    assert_eq!(ended, 2);
    signed_out_within(&c, 1, &first_id, at).await;
    signed_out_within(&c, 1, &second_id, at).await;

    // All but this one: the kept session goes on, the other ends everywhere.
    let (kept, kept_id, _) = signed_in_browser(&c, 0).await;
    let (other, other_id, _) = signed_in_browser(&c, 1).await;
    served_from_memory(&c, &other, 1).await;
    let current = match c.auths[0]
        .as_ref()
        .expect("running")
        .authenticate(Some(&kept_id))
        .await
    {
        auth_core::Authenticated::User(s) => s,
        o => panic!("{o:?}"),
    };
    let ended = c.auths[0]
        .as_ref()
        .expect("running")
        .end_other_sessions(&current)
        .await
        .expect("ended");
    let at = Instant::now();
    assert_eq!(ended, 1);
    signed_out_within(&c, 1, &other_id, at).await;
    assert_eq!(me_at(&kept, &c.bases[1]).await, StatusCode::OK);
}

/// The Redis key of a logout marker (`auth:logout:` and the SHA-256 of its name).
fn marker_key(name: &str) -> String {
    use sha2::Digest as _;
    format!(
        "auth:logout:{}",
        hex::encode(sha2::Sha256::digest(name.as_bytes()))
    )
}

/// Logout markers are sealed with the app's key: one written into Redis by anyone
/// without it (here a far-future logout of the signed-in user) has no effect.
pub(crate) async fn cluster_forged_logout_marker_in_redis_has_no_effect(serve: Serve) {
    let c = Cluster::start(serve, 60).await;
    let client = browser();
    sign_in_at(&client, &c.bases[0], "").await;
    let me: Value = client
        .get(format!("{}/me", c.bases[0]))
        .header("accept", "application/json")
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    let sub = me["sub"].as_str().expect("sub").to_owned();
    let iss = me["iss"].as_str().expect("iss").to_owned();
    // A user is (iss, sub): the markers name both.
    let forged_keys = [
        marker_key(&format!("sub:{iss}#{sub}")),
        marker_key(&format!("subnosid:{iss}#{sub}")),
    ];
    for key in &forged_keys {
        assert_eq!(
            c.server().cli(&["set", key, "99999999999", "EX", "600"]),
            "OK"
        );
    }
    for base in &c.bases {
        assert_eq!(me_at(&client, base).await, StatusCode::OK, "{base}");
    }
    // The forged names are the real ones: a real logout (sid and sub) writes one of
    // them, sealed, in place of the forged value, and ends the session.
    sign_out_at_provider(&client, &c.provider.issuer).await;
    assert_eq!(c.stats().await["backchannel_logouts_ok"], 1);
    let sealed = c.server().cli(&["get", &forged_keys[1]]);
    assert!(!sealed.is_empty() && sealed != "99999999999", "{sealed}");
    me_within(&client, &c.bases[1], StatusCode::UNAUTHORIZED).await;
}

/// Two instances on a shared Redis deployment: a session made on one is valid on the
/// other, one refresh serves 2 x 8 concurrent requests across both (lock and result in
/// one hash tag), and a back-channel logout received by one ends the session on both.
async fn shared_deployment(
    serve: Serve,
    topology: &'static provider_harness::topologies::RedisTopology,
    fail_over: bool,
) {
    let c = Cluster::start_many(
        serve,
        5,
        |b| b,
        None,
        topology.url.clone(),
        topology.ca_file.clone(),
        2,
    )
    .await;
    let client = browser();
    let (last, hops) = sign_in_at(&client, &c.bases[0], "").await;
    assert_eq!(last.status(), StatusCode::OK, "{hops:?}");
    assert_eq!(me_at(&client, &c.bases[1]).await, StatusCode::OK);
    let before = c.stats().await["refresh_grants_ok"].as_u64().expect("n");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let client = client.clone();
        let base = c.bases[i % 2].clone();
        tasks.push(tokio::spawn(async move { me_at(&client, &base).await }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join"), StatusCode::OK);
    }
    let s = c.stats().await;
    assert_eq!(s["refresh_grants_ok"].as_u64(), Some(before + 1), "{s}");
    if fail_over {
        failover_keeps_the_session(&c, &client, topology).await;
    }
    // Invalidations and heartbeats share one sharded channel, so each instance's
    // heartbeat proves delivery on this topology too (after a failover as well).
    for i in 0..2 {
        served_from_memory(&c, &client, i).await;
    }
    sign_out_at_provider(&client, &c.provider.issuer).await;
    assert_eq!(c.stats().await["backchannel_logouts_ok"], 1);
    me_within(&client, &c.bases[1], StatusCode::UNAUTHORIZED).await;
    me_within(&client, &c.bases[0], StatusCode::UNAUTHORIZED).await;
}

/// A failover of the deployment (every replica of a Cluster taking over with
/// `CLUSTER FAILOVER`, or `SENTINEL FAILOVER`) while the signed-in user keeps using
/// both instances: 200 or at worst 503 meanwhile, never a sign-out (401) or a 500,
/// and the session works on both afterwards (nothing lost: the replicas had caught
/// up).
async fn failover_keeps_the_session(
    c: &Cluster,
    client: &Client,
    topology: &'static provider_harness::topologies::RedisTopology,
) {
    let failing = tokio::task::spawn_blocking(move || topology.fail_over());
    let mut seen = std::collections::BTreeMap::new();
    while !failing.is_finished() {
        for base in &c.bases {
            let s = me_at(client, base).await;
            assert!(
                s == StatusCode::OK || s == StatusCode::SERVICE_UNAVAILABLE,
                "during the failover {base} answered {s}"
            );
            *seen.entry(s.as_u16()).or_insert(0) += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    failing.await.expect("the failover");
    assert!(
        seen.values().sum::<u32>() > 0,
        "no answer seen during the failover"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    for base in &c.bases {
        loop {
            let s = me_at(client, base).await;
            if s == StatusCode::OK {
                break;
            }
            assert_eq!(
                s,
                StatusCode::SERVICE_UNAVAILABLE,
                "after the failover {base}"
            );
            assert!(
                Instant::now() < deadline,
                "{base} still 503 after the failover"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // A request served from an instance's memory proves little: new sign-ins (a
    // session written to Redis by each instance) must work again too. Until the
    // client has the new layout, a write may fail: 503 at worst, never a 500.
    for base in &c.bases {
        loop {
            let fresh = browser();
            let (last, hops) = sign_in_at(&fresh, base, "").await;
            if last.status() == StatusCode::OK {
                break;
            }
            assert_eq!(
                last.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "a sign-in after the failover: {hops:?}"
            );
            assert!(
                Instant::now() < deadline,
                "{base}: no sign-in after the failover"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    eprintln!("answers during the failover: {seen:?}");
}

/// F2 (issue 35): with 4 instances on `redis-cluster://`, a sign-out on one is in
/// force on each of the other three within 100 ms, while they serve the session from
/// memory (invalidations travel as sharded pub/sub, `SPUBLISH` on the channel's slot).
pub(crate) async fn redis_cluster_sign_out_reaches_four_instances_within_100_ms(serve: Serve) {
    let topology = provider_harness::topologies::cluster();
    let c = Cluster::start_many(
        serve,
        60,
        |b| b,
        None,
        topology.url.clone(),
        topology.ca_file.clone(),
        4,
    )
    .await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = crate::browser_with(jar.clone());
    let (last, hops) = sign_in_at(&client, &c.bases[0], "").await;
    assert_eq!(last.status(), StatusCode::OK, "{hops:?}");
    for i in 0..4 {
        served_from_memory(&c, &client, i).await;
    }
    let id = {
        use reqwest::cookie::CookieStore as _;
        let url = url::Url::parse(&c.bases[0]).expect("url");
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::COOKIE, jar.cookies(&url).expect("cookie"));
        c.auths[0]
            .as_ref()
            .expect("running")
            .session_id_from_headers(&headers)
            .expect("a session cookie")
    };
    let r = client
        .post(format!("{}/auth/logout", c.bases[0]))
        .header("origin", &c.bases[0])
        .send()
        .await
        .expect("logout");
    let ended = Instant::now();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for i in 1..4 {
        signed_out_within(&c, i, &id, ended).await;
    }
}

/// `rediss://` with `REDIS_CA_FILE`: a TLS-only server whose certificate a CA made at
/// test time issued.
pub(crate) async fn redis_tls_shared_sessions_refresh_and_logout(serve: Serve) {
    shared_deployment(serve, provider_harness::topologies::tls(), false).await;
}

/// `redis-cluster://`: three masters and three replicas.
pub(crate) async fn redis_cluster_shared_sessions_refresh_and_logout(serve: Serve) {
    shared_deployment(serve, provider_harness::topologies::cluster(), true).await;
}

/// `redis-sentinel://…?sentinelServiceName=mymaster`: the master found through a
/// sentinel.
pub(crate) async fn redis_sentinel_shared_sessions_refresh_and_logout(serve: Serve) {
    shared_deployment(serve, provider_harness::topologies::sentinel(), true).await;
}

/// `rediss-cluster://`: the Cluster over TLS only (no plain port on any node; the
/// cluster bus and replication over TLS too).
pub(crate) async fn redis_tls_cluster_shared_sessions_refresh_and_logout(serve: Serve) {
    shared_deployment(serve, provider_harness::topologies::cluster_tls(), false).await;
}

/// `rediss-sentinel://`: the sentinel and both servers over TLS only.
pub(crate) async fn redis_tls_sentinel_shared_sessions_refresh_and_logout(serve: Serve) {
    shared_deployment(serve, provider_harness::topologies::sentinel_tls(), false).await;
}

/// A relay in front of `port` that keeps every byte the app sends; its port.
async fn recording_relay(port: u16, sent: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let relay = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut app, _)) = listener.accept().await {
            let sent = std::sync::Arc::clone(&sent);
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
                    return;
                };
                let (mut from_server, mut to_server) = server.into_split();
                let (mut from_app, mut to_app) = app.split();
                let index = {
                    let mut all = sent.lock().expect("lock");
                    all.push(Vec::new());
                    all.len() - 1
                };
                let upstream = async {
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = from_app.read(&mut buf).await {
                        sent.lock().expect("lock")[index].extend_from_slice(&buf[..n]);
                        if to_server.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                let downstream = tokio::io::copy(&mut from_server, &mut to_app);
                let _ = tokio::join!(upstream, downstream);
            });
        }
    });
    relay
}

/// A `rediss://` server whose certificate does not chain to `REDIS_CA_FILE` is never
/// used: requests answer 503, and nothing is sent in clear (a relay in front of the
/// server sees only TLS records from the app: each connection opens with a handshake
/// record, and no Redis command appears in what it sent).
pub(crate) async fn redis_tls_with_another_ca_is_refused(serve: Serve) {
    let tls = provider_harness::topologies::tls();
    // The server's own certificate is no CA of itself.
    let wrong_ca = tls
        .ca_file
        .as_ref()
        .expect("ca")
        .with_file_name("server.crt");
    let port = port_of(tls.url.trim_end_matches('/'));
    let sent = std::sync::Arc::default();
    let relay = recording_relay(port, std::sync::Arc::clone(&sent)).await;
    let url = format!("rediss://127.0.0.1:{relay}");
    let c = Cluster::start_many(serve, 60, |b| b, None, url, Some(wrong_ca), 2).await;
    let client = browser();
    let (last, _) = sign_in_at(&client, &c.bases[0], "").await;
    assert_eq!(last.status(), StatusCode::SERVICE_UNAVAILABLE);
    let sent = sent.lock().expect("lock").clone();
    assert!(!sent.is_empty(), "the app never tried the server");
    for bytes in sent.iter().filter(|b| !b.is_empty()) {
        assert_eq!(
            bytes[0], 0x16,
            "a connection that did not open with a TLS handshake"
        );
        for command in [&b"PING"[..], b"HELLO", b"AUTH", b"CLIENT", b"SET", b"GET"] {
            assert!(
                !bytes.windows(command.len()).any(|w| w == command),
                "{} sent in clear",
                String::from_utf8_lossy(command)
            );
        }
    }
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn cluster_refresh_is_single_flight_across_instances(serve: Serve) {
    // Access tokens live 5 s; refresh when under 4 s remain.
    let c = Cluster::start(serve, 5).await;
    let client = browser();
    let (last, hops) = sign_in_at(&client, &c.bases[0], "").await;
    assert_eq!(last.status(), StatusCode::OK, "{hops:?}");
    let before = c.stats().await;
    let (tries, oks) = (
        before["refresh_grants"].as_u64().expect("n"),
        before["refresh_grants_ok"].as_u64().expect("n"),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // 16 concurrent requests on each instance.
    let mut tasks = Vec::new();
    for i in 0..32 {
        let client = client.clone();
        let base = c.bases[i % 2].clone();
        tasks.push(tokio::spawn(async move { me_at(&client, &base).await }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("join"));
    }
    assert!(results.iter().all(|s| *s == StatusCode::OK), "{results:?}");
    let s = c.stats().await;
    assert_eq!(
        s["refresh_grants"].as_u64(),
        Some(tries + 1),
        "one refresh for 2 x 16 requests: {s}"
    );
    assert_eq!(s["refresh_grants_ok"].as_u64(), Some(oks + 1), "{s}");
    // Both instances hold the rotated tokens: the next refresh (on instance 1) works.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(me_at(&client, &c.bases[1]).await, StatusCode::OK);
    assert_eq!(c.stats().await["refresh_grants_ok"].as_u64(), Some(oks + 2));
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn cluster_sessions_survive_restarting_every_instance(serve: Serve) {
    let mut c = Cluster::start(serve, 60).await;
    let client = browser();
    sign_in_at(&client, &c.bases[0], "").await;
    assert_eq!(me_at(&client, &c.bases[1]).await, StatusCode::OK);
    c.restart_all().await;
    assert_eq!(me_at(&client, &c.bases[0]).await, StatusCode::OK);
    assert_eq!(me_at(&client, &c.bases[1]).await, StatusCode::OK);
    // A pending login started before the restart still completes after it: the
    // cookie key is shared (APP_SECRET), not per process.
    let login = client
        .get(format!("{}/auth/login?return_to=/me", c.bases[0]))
        .send()
        .await
        .expect("login");
    assert!(login.status().is_redirection());
    c.restart_all().await;
    let location = login.headers()["location"]
        .to_str()
        .expect("loc")
        .to_string();
    let (last, hops) = crate::follow(&client, &location).await;
    assert_eq!(last.status(), StatusCode::OK, "{hops:?}");
    assert!(hops.last().expect("hop").ends_with("/me"), "{hops:?}");
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn cluster_redis_down_answers_503_then_recovers(serve: Serve) {
    let mut c = Cluster::start(serve, 60).await;
    let client = browser();
    sign_in_at(&client, &c.bases[0], "").await;
    assert_eq!(me_at(&client, &c.bases[1]).await, StatusCode::OK);
    c.server_mut().stop();
    // The fast path serves what it can prove fresh: with Redis gone its heartbeat
    // stops, and within 100 ms every request reads Redis again.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = Instant::now();
    assert_eq!(
        me_at(&client, &c.bases[0]).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the Redis timeout"
    );
    let page = client
        .get(format!("{}/me", c.bases[1]))
        .send()
        .await
        .expect("me");
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.text()
            .await
            .expect("body")
            .contains("temporarily unavailable")
    );
    // A visitor without a session is not affected.
    let anonymous = browser();
    let home = anonymous
        .get(format!("{}/", c.bases[0]))
        .send()
        .await
        .expect("home");
    assert_eq!(home.status(), StatusCode::OK);
    // Redis comes back (with its data): the session works again, no restart needed.
    c.server_mut().restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = me_at(&client, &c.bases[0]).await;
        if s == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: still {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(me_at(&client, &c.bases[1]).await, StatusCode::OK);
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn cluster_idle_session_ends_on_every_instance(serve: Serve) {
    // Both instances read one clock that the test moves (the system's plus
    // `IDLE_CLOCK_AHEAD` seconds): idle timeout 4 s.
    static IDLE_CLOCK_AHEAD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    fn idle(b: AuthConfigBuilder) -> AuthConfigBuilder {
        b.with_idle_timeout(Some(Duration::from_secs(4)))
            .with_clock(auth_core::Clock::from_fn(|| {
                let ahead = IDLE_CLOCK_AHEAD.load(std::sync::atomic::Ordering::SeqCst);
                std::time::SystemTime::now() + Duration::from_secs(ahead)
            }))
    }
    let advance = |secs: u64| {
        IDLE_CLOCK_AHEAD.fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
    };
    let c = Cluster::start_with(serve, 60, idle).await;
    let client = browser();
    sign_in_at(&client, &c.bases[0], "").await;
    // Used every second, alternately on each instance, for longer than the timeout.
    // A use that recorded itself (a write, announced) is waited for on the other
    // instance before the next use there: its fast path must not judge the idle time
    // by the record before it.
    let stats = |i: usize| {
        c.auths[i]
            .as_ref()
            .expect("running")
            .fast_path()
            .expect("on")
    };
    for i in 0..6 {
        advance(1);
        let (this, other) = (i % 2, 1 - i % 2);
        let (announced, heard) = (stats(this).announced, stats(other).invalidations);
        assert_eq!(
            me_at(&client, &c.bases[this]).await,
            StatusCode::OK,
            "use {i}"
        );
        // (A paused fast path serves nothing it could not prove fresh: no wait then.)
        if stats(this).announced > announced && stats(other).live {
            let deadline = Instant::now() + Duration::from_secs(10);
            while stats(other).invalidations == heard {
                assert!(
                    Instant::now() < deadline,
                    "use {i} never reached instance {other}"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    // Then unused for 6 s: over on both.
    advance(6);
    assert_eq!(me_at(&client, &c.bases[1]).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_at(&client, &c.bases[0]).await, StatusCode::UNAUTHORIZED);
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn cluster_redis_stalled_is_bounded_by_the_timeout(serve: Serve) {
    let c = Cluster::start(serve, 60).await;
    let client = browser();
    sign_in_at(&client, &c.bases[0], "").await;
    // Instance 1 serves the session from memory when Redis stalls.
    served_from_memory(&c, &client, 1).await;
    let auth = c.auths[1].clone().expect("running");
    c.server().pause();
    let stalled = Instant::now();
    // Its heartbeat no longer comes back: it stops serving from memory (80 ms, and a
    // heartbeat's interval), and a request then waits on Redis, bounded.
    while auth.fast_path().expect("on").live {
        assert!(
            stalled.elapsed() < Duration::from_millis(300),
            "still serving from memory {:?} into the stall",
            stalled.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    let status = me_at(&client, &c.bases[1]).await;
    let waited = started.elapsed();
    c.server().resume();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // The Redis timeout is 500 ms here; a check makes at most a few Redis calls.
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while me_at(&client, &c.bases[1]).await != StatusCode::OK {
        assert!(Instant::now() < deadline, "no recovery after the stall");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn cluster_redis_holds_no_token_claim_or_session_id_in_clear(serve: Serve) {
    let c = Cluster::start(serve, 60).await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = crate::browser_with(std::sync::Arc::clone(&jar));
    sign_in_at(&client, &c.bases[0], "").await;
    let me: Value = client
        .get(format!("{}/me", c.bases[1]))
        .header("accept", "application/json")
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    let id = crate::session_id_at(&jar, &c.bases[0]).expect("signed in");
    let sub = me["sub"].as_str().expect("sub").to_string();
    let email = me["email"].as_str().expect("email").to_string();
    let stored = c.server().dump();
    assert!(!stored.is_empty());
    for (key, value) in &stored {
        for secret in [&id, &sub, &email] {
            assert!(!key.contains(secret.as_str()), "{key} holds {secret}");
            assert!(
                !value.contains(secret.as_str()),
                "{key}'s value holds {secret}"
            );
        }
        // No JWT (an ID token) in clear either: its payload follows a '.' and starts
        // with `eyJ`. ('.' is not a base64 character, so a sealed value, random base64,
        // cannot match by chance, as a bare `eyJ` did about once in a hundred runs.)
        assert!(!value.contains(".eyJ"), "{key}'s value holds a JWT");
    }
}

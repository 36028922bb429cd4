//! The operations suite (issue 30): what an operator runs the example's binary with,
//! driven from outside as a deployment runs it: `GET /metrics` after each event, and
//! `APP_SECRET` rotated across restarts, the provider behind a private CA and proxies.

use std::collections::BTreeMap;
use std::time::Duration;

use auth_testkit::DevProvider;
use reqwest::StatusCode;
use serde_json::Value;

use crate::accounts::{Example, Launch};

/// The samples of a Prometheus text exposition: `name` and its labels (sorted) to
/// the value.
struct Scrape(BTreeMap<(String, Vec<(String, String)>), f64>);

impl Scrape {
    /// Parses the text format 0.0.4 (the lines this exporter writes: no escapes in
    /// label values, no timestamps).
    fn parse(text: &str) -> Self {
        let mut samples = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            let (name, labels) = match series.split_once('{') {
                None => (series, Vec::new()),
                Some((name, rest)) => {
                    let mut labels: Vec<(String, String)> = rest
                        .trim_end_matches('}')
                        .split(',')
                        .filter(|l| !l.is_empty())
                        .map(|l| {
                            let (k, v) = l.split_once('=').expect("label");
                            (k.to_owned(), v.trim_matches('"').to_owned())
                        })
                        .collect();
                    labels.sort_unstable();
                    (name, labels)
                }
            };
            samples.insert((name.to_owned(), labels), value.parse().expect("a number"));
        }
        Self(samples)
    }

    /// The value of `name` with exactly `labels` (0 when absent).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        labels.sort_unstable();
        self.0
            .get(&(name.to_owned(), labels))
            .copied()
            .unwrap_or(0.0)
    }

    /// Every label name in use.
    fn label_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .0
            .keys()
            .flat_map(|(_, labels)| labels.iter().map(|(k, _)| k.as_str()))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

impl Example {
    /// `GET /metrics`, parsed.
    async fn scrape(&self) -> Scrape {
        let r = reqwest::get(format!("{}/metrics", self.base))
            .await
            .expect("metrics");
        assert_eq!(r.status(), StatusCode::OK);
        let kind = r.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
        Scrape::parse(&r.text().await.expect("body"))
    }
}

/// B3: `GET /metrics` counts each event by the contract's names and labels, by value
/// after each: a sign-in, refused callbacks (a tampered state, the sign-in hook's
/// refusal), a sign-out of each kind (RP-initiated, back-channel, an admin's, a revoked
/// session), a refresh, bearer tokens accepted and refused; and the provider's
/// endpoints are measured in the histogram. No label names a user or a session.
pub(crate) async fn operations_metrics_count_each_event(launch: Launch) {
    let api = [
        ("OIDC_API_AUDIENCE", crate::API),
        ("OIDC_API_SCOPES", crate::API_SCOPE),
    ];
    let ex = Example::start(
        launch,
        DevProvider::builder().api_audience(crate::API),
        None,
        &api,
    )
    .await;
    let sign_ins = |s: &Scrape, outcome| {
        s.value(
            "auth_sign_ins_total",
            &[("provider", "default"), ("outcome", outcome)],
        )
    };
    let sign_outs = |s: &Scrape, kind| {
        s.value(
            "auth_sign_outs_total",
            &[("provider", "default"), ("kind", kind)],
        )
    };
    let bearer = |s: &Scrape, outcome| s.value("auth_bearer_total", &[("outcome", outcome)]);
    let requests = |s: &Scrape, endpoint| {
        s.value(
            "auth_provider_request_duration_seconds_count",
            &[("provider", "default"), ("endpoint", endpoint)],
        )
    };

    let start = ex.scrape().await;
    assert_eq!(requests(&start, "discovery"), 1.0);
    assert_eq!(requests(&start, "jwks"), 1.0);
    assert_eq!(sign_ins(&start, "success"), 0.0);

    let alice = ex.signed_in("alice").await;
    let s = ex.scrape().await;
    assert_eq!(sign_ins(&s, "success"), 1.0);
    assert_eq!(requests(&s, "token"), 1.0);
    assert!(
        s.value(
            "auth_provider_request_duration_seconds_bucket",
            &[
                ("provider", "default"),
                ("endpoint", "token"),
                ("le", "+Inf")
            ],
        ) == 1.0,
        "a histogram with buckets"
    );

    // A callback with a state no login started, and a user the sign-in hook refuses.
    let tampered = alice
        .get(format!("{}/auth/callback?code=c&state=tampered", ex.base))
        .send()
        .await
        .expect("callback");
    assert_eq!(tampered.status(), StatusCode::BAD_REQUEST);
    let s = ex.scrape().await;
    assert_eq!(sign_ins(&s, "login_expired"), 1.0);
    assert_eq!(sign_ins(&s, "success"), 1.0);
    let (status, _, _) = ex.sign_in("eve", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(sign_ins(&ex.scrape().await, "sign_in_refused"), 1.0);

    // One sign-out of each kind.
    let out = ex.signed_in("alice").await;
    ex.log_out(&out).await;
    let s = ex.scrape().await;
    assert_eq!(sign_outs(&s, "rp"), 1.0);
    assert_eq!(requests(&s, "revocation"), 1.0, "the refresh token revoked");

    ex.signed_in("bob").await;
    let bob_id = ex.local_id(&alice, "bob").await;
    let r = ex
        .post(&alice, &format!("/admin/users/{bob_id}/sign-out"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(sign_outs(&ex.scrape().await, "admin"), 1.0);

    let other = ex.signed_in("alice").await;
    let handle = ex.json(&other, "/account/sessions").await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = ex
        .post(&alice, &format!("/account/sessions/{handle}/revoke"))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(sign_outs(&ex.scrape().await, "revoked"), 1.0);

    let bob = ex.signed_in("bob").await;
    ex.provider.log_out_user("bob").await;
    assert_eq!(ex.me_status(&bob).await, StatusCode::UNAUTHORIZED);
    let s = ex.scrape().await;
    assert_eq!(sign_outs(&s, "backchannel"), 1.0);
    assert_eq!(sign_outs(&s, "rp"), 1.0);
    assert_eq!(sign_outs(&s, "admin"), 1.0);

    // Bearer tokens: one accepted, one without the API's scope, one not a token.
    let api = reqwest::Client::new();
    let call = |token: String| {
        api.get(format!("{}/api/me", ex.base))
            .bearer_auth(token)
            .send()
    };
    let ok = call(ex.provider.access_token("alice", &[crate::API_SCOPE]))
        .await
        .expect("api");
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(bearer(&ex.scrape().await, "accepted"), 1.0);
    let r = call(ex.provider.access_token("alice", &["other"]))
        .await
        .expect("api");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = call("not.a-token".into()).await.expect("api");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let s = ex.scrape().await;
    assert_eq!(bearer(&s, "insufficient_scope"), 1.0);
    assert_eq!(bearer(&s, "invalid_token"), 1.0);
    assert_eq!(bearer(&s, "accepted"), 1.0);

    assert_eq!(
        s.label_names(),
        ["endpoint", "kind", "le", "outcome", "provider"],
        "no user or session label"
    );
    drop(ex);

    // Refreshes: 20 s access tokens, refreshed 30 s before expiry, so every request
    // of a session refreshes them.
    let ex = Example::start(
        launch,
        DevProvider::builder().access_token_ttl(Duration::from_secs(20)),
        None,
        &[],
    )
    .await;
    let alice = ex.signed_in("alice").await;
    let refreshes = |s: &Scrape, outcome| {
        s.value(
            "auth_refreshes_total",
            &[("provider", "default"), ("outcome", outcome)],
        )
    };
    // The page the sign-in lands on refreshed them once already.
    let s = ex.scrape().await;
    assert_eq!(refreshes(&s, "success"), 1.0);
    assert_eq!(requests(&s, "token"), 2.0, "the code, then the refresh");
    let me: Value = ex.json(&alice, "/me").await;
    assert_eq!(me["sub"], "alice");
    let s = ex.scrape().await;
    assert_eq!(refreshes(&s, "success"), 2.0);
    assert_eq!(refreshes(&s, "refused") + refreshes(&s, "unavailable"), 0.0);
    assert_eq!(requests(&s, "token"), 3.0);
}

impl Example {
    /// Restarts the binary with `APP_SECRET` set to `keys`.
    async fn restart_with_keys(&mut self, keys: &str) {
        self.env.retain(|(name, _)| name != "APP_SECRET");
        self.env.push(("APP_SECRET".into(), keys.into()));
        self.restart().await;
    }
}

/// B1: key rotation across restarts on a real `redis-server`. A session signed in
/// under `k1` keeps working after a restart with `k2,k1` and its first request moves it
/// under `k2`, so that a restart with `k2` alone still finds it; a login started under
/// `k1` completes after the restart with `k2,k1`; a restart with an unrelated `k3`
/// alone signs the session out cleanly (401, then a new sign-in works). A list with a
/// malformed entry stops the start, naming the entry.
pub(crate) async fn operations_app_secret_rotates_without_signing_anyone_out(launch: Launch) {
    let (k1, k2, k3) = ("a1".repeat(32), "b2".repeat(32), "c3".repeat(32));
    let redis = provider_harness::RedisServer::start();
    let mut ex = Example::start(
        launch,
        DevProvider::builder(),
        Some(&redis.url()),
        &[("APP_SECRET", &k1)],
    )
    .await;
    let alice = ex.signed_in("alice").await;
    let user_id = ex.user_id(&alice).await;
    // A login started under k1: the browser holds its pending cookie and is on its
    // way to the provider.
    let bob = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let started = bob
        .get(format!("{}/auth/login", ex.base))
        .send()
        .await
        .expect("login");
    assert!(started.status().is_redirection());
    let authorize = started.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let record_keys = || redis.cli(&["--scan", "--pattern", "*"]);
    let before = record_keys();

    ex.restart_with_keys(&format!("{k2},{k1}")).await;
    assert_eq!(ex.user_id(&alice).await, user_id, "still signed in");
    let after = record_keys();
    assert_ne!(before, after, "the record moved to k2's store key");
    let page = ex
        .provider
        .sign_in(&bob, &authorize, "bob")
        .await
        .expect("the login started under k1");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(ex.json(&bob, "/me").await["sub"], "bob");

    ex.restart_with_keys(&k2).await;
    assert_eq!(ex.user_id(&alice).await, user_id, "sealed again under k2");
    assert_eq!(ex.json(&bob, "/me").await["sub"], "bob");

    ex.restart_with_keys(&k3).await;
    assert_eq!(ex.me_status(&alice).await, StatusCode::UNAUTHORIZED);
    let home = alice.get(&ex.base).send().await.expect("home");
    assert_eq!(home.status(), StatusCode::OK, "signed out, not an error");
    ex.signed_in("alice").await;

    // A malformed entry: the example does not start, and says which entry.
    ex.env.retain(|(name, _)| name != "APP_SECRET");
    ex.env
        .push(("APP_SECRET".into(), format!("{k2},{}", "zz".repeat(32))));
    ex.running.take();
    let running = launch(&ex.env);
    let (status, stderr) = running
        .exit(Duration::from_secs(30))
        .await
        .expect("the example stops at start");
    assert!(!status.success());
    assert!(
        stderr.contains("APP_SECRET") && stderr.contains("key 2 of 2: expected hex"),
        "{stderr}"
    );
    assert!(!stderr.contains(&k2), "no key in the message: {stderr}");
}

/// A forward proxy on loopback that records what went through it: `CONNECT host:port`
/// for a tunnel (https), the request line for plain http (each request on a connection
/// of its own: the proxy asks the server to close it after the answer).
struct RecordingProxy {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RecordingProxy {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = std::sync::Arc::clone(&seen);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let record = std::sync::Arc::clone(&record);
                tokio::spawn(async move {
                    let _ = Self::relay(client, record).await;
                });
            }
        });
        Self { url, seen, task }
    }

    async fn relay(
        mut client: tokio::net::TcpStream,
        record: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    ) -> std::io::Result<()> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if client.read(&mut byte).await? == 0 || head.len() > 16 * 1024 {
                return Ok(());
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut lines = head.split("\r\n");
        let request = lines.next().unwrap_or_default().to_owned();
        let mut words = request.split(' ');
        let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        record.lock().expect("seen").push(request.clone());
        if method == "CONNECT" {
            let mut server = tokio::net::TcpStream::connect(target).await?;
            client
                .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                .await?;
            tokio::io::copy_bidirectional(&mut client, &mut server).await?;
            return Ok(());
        }
        let authority = url::Url::parse(target)
            .ok()
            .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
            .unwrap_or_default();
        let mut server = tokio::net::TcpStream::connect(authority).await?;
        let mut forwarded = format!("{request}\r\n");
        for line in lines.filter(|l| !l.is_empty()) {
            let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
            if name != "connection" && name != "proxy-connection" {
                forwarded.push_str(line);
                forwarded.push_str("\r\n");
            }
        }
        forwarded.push_str("connection: close\r\n\r\n");
        server.write_all(forwarded.as_bytes()).await?;
        tokio::io::copy_bidirectional(&mut client, &mut server).await?;
        Ok(())
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("seen").clone()
    }
}

/// B4: the provider served over https with a certificate of a CA made at test time.
/// Without `OIDC_CA_FILE` the example refuses to start and says why (the
/// certificate); with it, sign-ins work. With `HTTPS_PROXY`, every call to the
/// provider goes through the proxy (a tunnel to the provider, and nothing else), and
/// `NO_PROXY` naming the provider's host bypasses it. `HTTP_PROXY` carries the calls
/// to a provider on plain http: discovery, keys, token and revocation are each seen.
pub(crate) async fn operations_provider_behind_a_private_ca_and_a_proxy(launch: Launch) {
    crate::init();
    let certs = provider_harness::topologies::certificates();
    let read = |name: &str| std::fs::read(certs.join(name)).expect("certificate files");
    let port = crate::accounts::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider: std::sync::Arc<DevProvider> = DevProvider::builder()
        .tls(&read("server.crt"), &read("server.key"))
        .app(&base)
        .start()
        .await
        .expect("the provider over https")
        .into();
    assert!(provider.issuer().starts_with("https://"));
    let dir = crate::accounts::scenario_dir();
    let env = Example::env_for(&provider, port, &dir, None, &[]);
    let refused = launch(&env);
    let (status, stderr) = refused
        .exit(Duration::from_secs(30))
        .await
        .expect("the example stops at start");
    assert!(!status.success());
    assert!(
        stderr.contains("certificate") && stderr.contains(provider.issuer()),
        "names the certificate problem: {stderr}"
    );
    drop(refused);

    let proxy = RecordingProxy::start().await;
    let ca = certs.join("ca.crt").display().to_string();
    let mut ex = Example::on(
        launch,
        provider.clone(),
        port,
        dir,
        None,
        &[("OIDC_CA_FILE", &ca), ("HTTPS_PROXY", &proxy.url)],
    )
    .await;
    let alice = ex.signed_in("alice").await;
    assert_eq!(ex.json(&alice, "/me").await["sub"], "alice");
    let tunnel = format!("CONNECT {} HTTP/1.1", provider.addr());
    let seen = proxy.seen();
    assert!(!seen.is_empty(), "the calls went through the proxy");
    assert!(seen.iter().all(|line| *line == tunnel), "{seen:?}");

    let before = proxy.seen().len();
    ex.env.push(("NO_PROXY".into(), "127.0.0.1".into()));
    ex.restart().await;
    ex.signed_in("bob").await;
    assert_eq!(
        proxy.seen().len(),
        before,
        "NO_PROXY: not through the proxy"
    );
    drop(ex);

    let plain = RecordingProxy::start().await;
    let ex = Example::start(
        launch,
        DevProvider::builder(),
        None,
        &[("HTTP_PROXY", &plain.url)],
    )
    .await;
    let alice = ex.signed_in("alice").await;
    ex.log_out(&alice).await;
    let seen = plain.seen();
    let issuer = ex.provider.issuer();
    for (method, path) in [
        ("GET", "/.well-known/openid-configuration"),
        ("GET", "/jwks"),
        ("POST", "/token"),
        ("POST", "/revoke"),
    ] {
        let line = format!("{method} {issuer}{path} HTTP/1.1");
        assert!(seen.contains(&line), "{line} in {seen:?}");
    }
}

crate::suite! {$
    /// The operations suite: call `operations_suite!(launch)` in a test file, with a
    /// function that starts the example's binary ([`Launch`]).
    operations_suite(Launch):
        operations_metrics_count_each_event,
        operations_app_secret_rotates_without_signing_anyone_out,
        operations_provider_behind_a_private_ca_and_a_proxy,
}

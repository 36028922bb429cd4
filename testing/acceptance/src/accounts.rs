//! The accounts suite (issue 29): the examples' own users (SQLite at `DATABASE_URL`),
//! the sign-in hook's refusals, the admin's and the user's session control, the audit
//! log at `AUDIT_LOG` and refresh-token revocation. Driven from outside, as a deployment
//! runs: each scenario starts the example's binary (`main`, configured by its
//! environment) against the development provider.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use auth_testkit::{ClientRegistration, DevProvider, DevProviderBuilder};
use reqwest::StatusCode;
use serde_json::Value;

use crate::{Running, page_code};

/// Starts the example's binary with these environment variables, until the returned
/// [`Running`] is dropped.
pub type Launch = fn(&[(String, String)]) -> Running;

/// The example's binary, its provider and its files.
pub(crate) struct Example {
    pub(crate) base: String,
    pub(crate) provider: std::sync::Arc<DevProvider>,
    pub(crate) dir: PathBuf,
    pub(crate) env: Vec<(String, String)>,
    launch: Launch,
    pub(crate) running: Option<Running>,
}

impl Drop for Example {
    fn drop(&mut self) {
        self.running.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn free_port() -> u16 {
    // Below the kernel's ephemeral range (32768 and up on Linux), which `bind(0)` and
    // every outgoing connection draw from: a port found free there is not taken by a
    // connection's source port before the example binds it (which happened: "Address
    // already in use"). Spread by process and counter, checked free.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    loop {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port =
            20_000 + (std::process::id().wrapping_mul(7_919).wrapping_add(n) % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A directory of its own for one scenario's files.
pub(crate) fn scenario_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("auth-accounts-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

impl Example {
    /// The example on a free port, its own database and audit log, signing in at a
    /// development provider built from `provider`; `extra` variables on top.
    pub(crate) async fn start(
        launch: Launch,
        provider: DevProviderBuilder,
        redis: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Self {
        crate::init();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let provider = provider.app(&base).start().await.expect("dev provider");
        Self::on(launch, provider.into(), port, scenario_dir(), redis, extra).await
    }

    /// Two instances of the example on one Redis and one database, signing in at one
    /// development provider (a client registered for both).
    pub(crate) async fn pair(launch: Launch, redis: &str) -> (Self, Self) {
        crate::init();
        let ports = [free_port(), free_port()];
        let bases = ports.map(|p| format!("http://127.0.0.1:{p}"));
        let mut client =
            ClientRegistration::for_app(auth_testkit::DEV_CLIENT_ID, "pair-secret", &bases[0]);
        let second = ClientRegistration::for_app(auth_testkit::DEV_CLIENT_ID, "", &bases[1]);
        client.redirect_uris.extend(second.redirect_uris);
        client
            .post_logout_redirect_uris
            .extend(second.post_logout_redirect_uris);
        let provider: std::sync::Arc<DevProvider> = DevProvider::builder()
            .client(client)
            .start()
            .await
            .expect("dev provider")
            .into();
        let dir = scenario_dir();
        let a = Self::on(
            launch,
            provider.clone(),
            ports[0],
            dir.clone(),
            Some(redis),
            &[],
        )
        .await;
        let b = Self::on(launch, provider, ports[1], dir, Some(redis), &[]).await;
        (a, b)
    }

    /// The example on `port`, with its files in `dir`.
    pub(crate) async fn on(
        launch: Launch,
        provider: std::sync::Arc<DevProvider>,
        port: u16,
        dir: PathBuf,
        redis: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Self {
        let base = format!("http://127.0.0.1:{port}");
        let env = Self::env_for(&provider, port, &dir, redis, extra);
        let mut example = Self {
            base,
            provider,
            dir,
            env,
            launch,
            running: None,
        };
        example.run().await;
        example
    }

    /// The environment of the example on `port` signing in at `provider`, its files in
    /// `dir`, with `extra` on top.
    pub(crate) fn env_for(
        provider: &DevProvider,
        port: u16,
        dir: &std::path::Path,
        redis: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let base = format!("http://127.0.0.1:{port}");
        let (id, secret) = provider.client_credentials().expect("registered");
        let mut env: Vec<(String, String)> = [
            ("OIDC_ISSUER", provider.issuer()),
            ("OIDC_CLIENT_ID", id),
            ("OIDC_CLIENT_SECRET", secret),
            ("APP_URL", &base),
            ("PORT", &port.to_string()),
            (
                "DATABASE_URL",
                &format!("sqlite://{}", dir.join("users.db").display()),
            ),
            ("AUDIT_LOG", &dir.join("audit.log").display().to_string()),
            (
                "APP_SECRET",
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            ),
            ("RUST_LOG", "warn"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if let Some(url) = redis {
            env.push(("REDIS_URL".into(), url.into()));
        }
        for (k, v) in extra {
            env.retain(|(name, _)| name != k);
            env.push((k.to_string(), v.to_string()));
        }
        env
    }

    /// Starts the binary and waits until it answers.
    pub(crate) async fn run(&mut self) {
        self.running = Some((self.launch)(&self.env));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = reqwest::get(&self.base).await
                && r.status() == StatusCode::OK
            {
                return;
            }
            assert!(Instant::now() < deadline, "the example never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the binary and starts it again on the same port and database.
    pub(crate) async fn restart(&mut self) {
        self.running.take();
        self.run().await;
    }

    /// A browser signed in as `user` (asserting the sign-in succeeded).
    pub(crate) async fn signed_in(&self, user: &str) -> reqwest::Client {
        let (status, body, browser) = self.sign_in(user, None).await;
        assert_eq!(status, StatusCode::OK, "{user}: {body}");
        browser
    }

    /// Signs in as `user` in a new browser (with `user_agent`): the last page.
    pub(crate) async fn sign_in(
        &self,
        user: &str,
        user_agent: Option<&str>,
    ) -> (StatusCode, String, reqwest::Client) {
        let mut builder = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(agent) = user_agent {
            builder = builder.user_agent(agent);
        }
        if self.provider.issuer().starts_with("https://") {
            // The provider's certificate is the test CA's (operations suite, B4).
            let ca = provider_harness::topologies::certificates().join("ca.crt");
            let roots = reqwest::Certificate::from_pem_bundle(&std::fs::read(ca).expect("ca"))
                .expect("pem");
            builder = builder.tls_certs_merge(roots);
        }
        let browser = builder.build().expect("client");
        let page = self
            .provider
            .sign_in(&browser, &format!("{}/auth/login", self.base), user)
            .await
            .expect("the sign-in round trip");
        let status = page.status();
        (status, page.text().await.expect("body"), browser)
    }

    pub(crate) async fn get(&self, browser: &reqwest::Client, path: &str) -> reqwest::Response {
        browser
            .get(format!("{}{path}", self.base))
            .header("accept", "application/json")
            .send()
            .await
            .expect("get")
    }

    /// A same-origin POST (the app's own page sent it).
    pub(crate) async fn post(&self, browser: &reqwest::Client, path: &str) -> reqwest::Response {
        browser
            .post(format!("{}{path}", self.base))
            .header("accept", "application/json")
            .header("origin", &self.base)
            .send()
            .await
            .expect("post")
    }

    /// Signs `browser` out (RP-initiated, same-origin), asserting the logout was
    /// answered (a redirect to the provider, or a page).
    pub(crate) async fn log_out(&self, browser: &reqwest::Client) {
        let r = browser
            .get(format!("{}/auth/logout", self.base))
            .send()
            .await
            .expect("logout");
        assert!(
            r.status().is_success() || r.status().is_redirection(),
            "{}",
            r.status()
        );
    }

    pub(crate) async fn json(&self, browser: &reqwest::Client, path: &str) -> Value {
        let r = self.get(browser, path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.expect("json")
    }

    pub(crate) async fn me_status(&self, browser: &reqwest::Client) -> StatusCode {
        self.get(browser, "/me").await.status()
    }

    pub(crate) async fn user_id(&self, browser: &reqwest::Client) -> String {
        self.json(browser, "/me").await["user_id"]
            .as_str()
            .expect("a user_id")
            .to_owned()
    }

    /// The local id of the user whose `sub` is `sub`, as the admin lists it.
    pub(crate) async fn local_id(&self, admin: &reqwest::Client, sub: &str) -> String {
        let users = self.json(admin, "/admin/users").await;
        users
            .as_array()
            .expect("a list")
            .iter()
            .find(|u| u["sub"] == sub)
            .and_then(|u| u["user_id"].as_str())
            .unwrap_or_else(|| panic!("no local user {sub}: {users}"))
            .to_owned()
    }

    /// Every line of the audit log.
    pub(crate) fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("audit.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect()
    }
}

/// Runs `scenario` with the example's sessions in memory, then in Redis (a
/// `redis-server` of its own).
async fn both<F, Fut>(scenario: F)
where
    F: Fn(Option<String>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    scenario(None).await;
    let redis = provider_harness::RedisServer::start();
    scenario(Some(redis.url())).await;
}

/// A1: a first sign-in creates a local user (`usr_` + 16 or more random URL-safe
/// characters) that later sign-ins of the same (`iss`, `sub`) reuse, also after a
/// restart on the same `DATABASE_URL`.
pub(crate) async fn accounts_a_first_sign_in_creates_a_local_user_kept_across_restarts(
    launch: Launch,
) {
    both(|redis| a_first_sign_in_creates_a_local_user_kept_across_restarts(launch, redis)).await;
}

async fn a_first_sign_in_creates_a_local_user_kept_across_restarts(
    launch: Launch,
    redis: Option<String>,
) {
    let mut ex = Example::start(launch, DevProvider::builder(), redis.as_deref(), &[]).await;
    let alice = ex.signed_in("alice").await;
    let id = ex.user_id(&alice).await;
    let random = id.strip_prefix("usr_").expect("usr_ prefix");
    assert!(
        random.len() >= 16
            && random
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{id}"
    );
    let again = ex.signed_in("alice").await;
    assert_eq!(
        ex.user_id(&again).await,
        id,
        "the same user, another sign-in"
    );
    let bob = ex.signed_in("bob").await;
    assert_ne!(ex.user_id(&bob).await, id);
    ex.restart().await;
    let after = ex.signed_in("alice").await;
    assert_eq!(ex.user_id(&after).await, id, "kept across a restart");
}

/// A2: an ID token with `email_verified: false` is refused before anything is created,
/// and so is a blocked user: 403, page code `sign_in_refused`, no session.
pub(crate) async fn accounts_unverified_emails_and_blocked_users_are_refused(launch: Launch) {
    both(|redis| unverified_emails_and_blocked_users_are_refused(launch, redis)).await;
}

async fn unverified_emails_and_blocked_users_are_refused(launch: Launch, redis: Option<String>) {
    let ex = Example::start(launch, DevProvider::builder(), redis.as_deref(), &[]).await;
    let (status, page, eve) = ex.sign_in("eve", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert_eq!(page_code(&page), "sign_in_refused");
    assert_eq!(ex.me_status(&eve).await, StatusCode::UNAUTHORIZED);
    let alice = ex.signed_in("alice").await;
    let users = ex.json(&alice, "/admin/users").await;
    assert!(
        users
            .as_array()
            .expect("list")
            .iter()
            .all(|u| u["sub"] != "eve"),
        "no local user for a refused first sign-in: {users}"
    );
    let bob = ex.signed_in("bob").await;
    let bob_id = ex.local_id(&alice, "bob").await;
    let r = ex
        .post(&alice, &format!("/admin/users/{bob_id}/block"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.expect("json")["ended"], 1);
    assert_eq!(ex.me_status(&bob).await, StatusCode::UNAUTHORIZED);
    let (status, page, _) = ex.sign_in("bob", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert_eq!(page_code(&page), "sign_in_refused");
    let r = ex
        .post(&alice, &format!("/admin/users/{bob_id}/unblock"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    ex.signed_in("bob").await;
}

/// A3: `/admin/users` and its actions need the role `admin` (401 without a session, 403
/// without the role), refuse cross-site requests, answer 404 for an unknown user, and
/// a sign-out ends every session of the user.
pub(crate) async fn accounts_admin_ends_a_users_sessions(launch: Launch) {
    both(|redis| admin_ends_a_users_sessions(launch, redis)).await;
}

async fn admin_ends_a_users_sessions(launch: Launch, redis: Option<String>) {
    let ex = Example::start(launch, DevProvider::builder(), redis.as_deref(), &[]).await;
    let anonymous = reqwest::Client::new();
    assert_eq!(
        ex.get(&anonymous, "/admin/users").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let bob = ex.signed_in("bob").await;
    let bob_elsewhere = ex.signed_in("bob").await;
    assert_eq!(
        ex.get(&bob, "/admin/users").await.status(),
        StatusCode::FORBIDDEN
    );
    let alice = ex.signed_in("alice").await;
    let users = ex.json(&alice, "/admin/users").await;
    let row = users
        .as_array()
        .expect("list")
        .iter()
        .find(|u| u["sub"] == "bob")
        .cloned()
        .expect("bob");
    for field in ["user_id", "iss", "sub", "email", "blocked"] {
        assert!(row.get(field).is_some(), "{field} in {row}");
    }
    assert_eq!(row["blocked"], false);
    assert_eq!(row["email"], "bob@example.com");
    let bob_id = row["user_id"].as_str().expect("id").to_owned();
    let sign_out = format!("/admin/users/{bob_id}/sign-out");
    assert_eq!(
        ex.post(&bob, &sign_out).await.status(),
        StatusCode::FORBIDDEN,
        "not an admin"
    );
    assert_eq!(
        ex.post(&alice, "/admin/users/usr_nobody/sign-out")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let r = alice
            .post(format!("{}{sign_out}", ex.base))
            .header("accept", "application/json")
            .header(name, value)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{name}: {value}");
    }
    assert_eq!(
        ex.me_status(&bob).await,
        StatusCode::OK,
        "nothing ended yet"
    );
    let r = ex.post(&alice, &sign_out).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.expect("json")["ended"], 2);
    assert_eq!(ex.me_status(&bob).await, StatusCode::UNAUTHORIZED);
    assert_eq!(ex.me_status(&bob_elsewhere).await, StatusCode::UNAUTHORIZED);
    assert_eq!(ex.me_status(&alice).await, StatusCode::OK);
}

/// A4: a user lists their live sessions (newest first, the current one marked, each
/// with its user agent), ends one by its id (204, then 404), and ends all the others;
/// an id is never usable as a session cookie.
pub(crate) async fn accounts_users_see_and_end_their_own_sessions(launch: Launch) {
    both(|redis| users_see_and_end_their_own_sessions(launch, redis)).await;
}

async fn users_see_and_end_their_own_sessions(launch: Launch, redis: Option<String>) {
    let ex = Example::start(launch, DevProvider::builder(), redis.as_deref(), &[]).await;
    let (_, _, first) = ex.sign_in("alice", Some("first-browser/1.0")).await;
    let (_, _, second) = ex.sign_in("alice", Some("second-browser/2.0")).await;
    let (_, _, third) = ex.sign_in("alice", Some("third-browser/3.0")).await;
    let list = ex.json(&first, "/account/sessions").await;
    let list = list.as_array().expect("list").clone();
    assert_eq!(list.len(), 3, "{list:?}");
    let created: Vec<i64> = list
        .iter()
        .map(|s| s["created_at"].as_i64().expect("created_at"))
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first");
    for s in &list {
        assert!(
            s["last_seen"].as_i64().expect("last_seen") >= s["created_at"].as_i64().expect("c")
        );
    }
    let current: Vec<&Value> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{list:?}");
    assert_eq!(current[0]["user_agent"], "first-browser/1.0");
    let id_of = |agent: &str| {
        list.iter()
            .find(|s| s["user_agent"] == agent)
            .and_then(|s| s["id"].as_str())
            .expect("the session")
            .to_owned()
    };
    let second_id = id_of("second-browser/2.0");
    // An id is not a session cookie.
    let forged = reqwest::Client::new()
        .get(format!("{}/me", ex.base))
        .header("accept", "application/json")
        .header("cookie", format!("auth_session={second_id}"))
        .send()
        .await
        .expect("me");
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    // Another user's session is not this user's to end.
    let bob = ex.signed_in("bob").await;
    let bob_list = ex.json(&bob, "/account/sessions").await;
    let bob_id = bob_list[0]["id"].as_str().expect("id").to_owned();
    let revoke = |id: &str| format!("/account/sessions/{id}/revoke");
    assert_eq!(
        ex.post(&first, &revoke(&bob_id)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(ex.me_status(&bob).await, StatusCode::OK);
    let cross = first
        .post(format!("{}{}", ex.base, revoke(&second_id)))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("post");
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        ex.post(&first, &revoke(&second_id)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(ex.me_status(&second).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        ex.post(&first, &revoke(&second_id)).await.status(),
        StatusCode::NOT_FOUND,
        "no longer a live session"
    );
    let r = ex.post(&first, "/account/sessions/revoke-others").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.expect("json")["ended"], 1);
    assert_eq!(ex.me_status(&third).await, StatusCode::UNAUTHORIZED);
    assert_eq!(ex.me_status(&first).await, StatusCode::OK);
    let left = ex.json(&first, "/account/sessions").await;
    assert_eq!(left.as_array().expect("list").len(), 1);
}

/// A5: `AUDIT_LOG` gets one JSON object per event with the contract's fields, never a
/// token or a cookie value.
pub(crate) async fn accounts_audit_log_has_a_line_per_event(launch: Launch) {
    both(|redis| audit_log_has_a_line_per_event(launch, redis)).await;
}

async fn audit_log_has_a_line_per_event(launch: Launch, redis: Option<String>) {
    // 20 s access tokens, refreshed 30 s before expiry: every request refreshes.
    let ex = Example::start(
        launch,
        DevProvider::builder().access_token_ttl(Duration::from_secs(20)),
        redis.as_deref(),
        &[],
    )
    .await;
    let alice = ex.signed_in("alice").await;
    let alice_id = ex.user_id(&alice).await;
    let sessions = ex.json(&alice, "/account/sessions").await;
    let handle = sessions[0]["id"].as_str().expect("id").to_owned();
    ex.sign_in("eve", None).await;
    let bob = ex.signed_in("bob").await;
    let bob_id = ex.local_id(&alice, "bob").await;
    assert_eq!(
        ex.post(&alice, &format!("/admin/users/{bob_id}/sign-out"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(ex.me_status(&bob).await, StatusCode::UNAUTHORIZED);
    let other = ex.signed_in("alice").await;
    let r = ex.post(&other, "/account/sessions/revoke-others").await;
    assert_eq!(r.status(), StatusCode::OK);
    let out = ex.signed_in("alice").await;
    ex.log_out(&out).await;
    // A back-channel logout of bob's: his session ends (and is reported) at once, not
    // at its next request.
    let bob_again = ex.signed_in("bob").await;
    let t = crate::hostile::now();
    let token = ex.provider.sign_jwt(
        &auth_testkit::Signing::Key(auth_testkit::Alg::RS256),
        "logout+jwt",
        &serde_json::json!({
            "iss": ex.provider.issuer(), "aud": auth_testkit::DEV_CLIENT_ID, "iat": t,
            "exp": t + 120, "jti": format!("jti-audit-{t}"), "sub": "bob",
            "events": { crate::hostile::BACKCHANNEL_EVENT: {} },
        }),
    );
    let r = reqwest::Client::new()
        .post(format!("{}/auth/backchannel-logout", ex.base))
        .form(&[("logout_token", token)])
        .send()
        .await
        .expect("back-channel logout");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        ex.audit().iter().any(|l| l["event"] == "session_ended"
            && l["sub"] == "bob"
            && l["reason"] == "backchannel_logout"),
        "reported when the logout arrived: {:?}",
        ex.audit()
    );
    assert_eq!(ex.me_status(&bob_again).await, StatusCode::UNAUTHORIZED);
    let lines = ex.audit();
    let keys = [
        "event", "at", "provider", "sub", "user_id", "session", "reason",
    ];
    for line in &lines {
        let object = line.as_object().expect("an object");
        let mut found: Vec<&str> = object.keys().map(String::as_str).collect();
        found.sort_unstable();
        let mut expected = keys.to_vec();
        expected.sort_unstable();
        assert_eq!(found, expected, "{line}");
        assert!(line["at"].as_u64().is_some(), "{line}");
        for value in object.values().filter_map(Value::as_str) {
            assert!(
                value.len() < 128 && value.matches('.').count() < 2,
                "a token-like value in the audit log: {line}"
            );
        }
    }
    let has = |event: &str, pick: &dyn Fn(&Value) -> bool| {
        lines.iter().any(|l| l["event"] == event && pick(l))
    };
    assert!(
        has("signed_in", &|l| l["sub"] == "alice"
            && l["user_id"] == alice_id.as_str()
            && l["session"] == handle.as_str()),
        "{lines:?}"
    );
    assert!(
        has("sign_in_refused", &|l| l["sub"] == "eve"
            && l["reason"] == "email_not_verified"
            && l["session"].is_null()),
        "{lines:?}"
    );
    assert!(has("refreshed", &|l| l["sub"] == "alice"), "{lines:?}");
    assert!(
        has("session_ended", &|l| l["sub"] == "bob"
            && l["reason"] == "admin"),
        "{lines:?}"
    );
    assert!(
        has("session_ended", &|l| l["sub"] == "alice"
            && l["reason"] == "revoked"),
        "{lines:?}"
    );
    assert!(has("signed_out", &|l| l["sub"] == "alice"), "{lines:?}");
}

/// A6: signing out (RP-initiated, an admin's sign-out, a revoked session) revokes the
/// session's refresh token at the provider's `revocation_endpoint` (RFC 7009), after
/// the session ended; `OIDC_REVOKE_ON_LOGOUT=0` turns it off.
pub(crate) async fn accounts_ending_a_session_revokes_its_refresh_token(launch: Launch) {
    both(|redis| ending_a_session_revokes_its_refresh_token(launch, redis)).await;
}

async fn ending_a_session_revokes_its_refresh_token(launch: Launch, redis: Option<String>) {
    let ex = Example::start(launch, DevProvider::builder(), redis.as_deref(), &[]).await;
    let revoked = || ex.provider.stats().refresh_tokens_revoked;
    let alice = ex.signed_in("alice").await;
    ex.log_out(&alice).await;
    assert_eq!(ex.me_status(&alice).await, StatusCode::UNAUTHORIZED);
    assert_eq!(revoked(), 1, "RP-initiated logout");
    let admin = ex.signed_in("alice").await;
    ex.signed_in("bob").await;
    let bob_id = ex.local_id(&admin, "bob").await;
    ex.post(&admin, &format!("/admin/users/{bob_id}/sign-out"))
        .await;
    assert_eq!(revoked(), 2, "the admin's sign-out");
    let other = ex.signed_in("alice").await;
    let r = ex.post(&admin, "/account/sessions/revoke-others").await;
    assert_eq!(r.json::<Value>().await.expect("json")["ended"], 1);
    assert_eq!(ex.me_status(&other).await, StatusCode::UNAUTHORIZED);
    assert_eq!(revoked(), 3, "a revoked session");
    drop(ex);

    let off = Example::start(
        launch,
        DevProvider::builder(),
        redis.as_deref(),
        &[("OIDC_REVOKE_ON_LOGOUT", "0")],
    )
    .await;
    let alice = off.signed_in("alice").await;
    off.log_out(&alice).await;
    assert_eq!(off.me_status(&alice).await, StatusCode::UNAUTHORIZED);
    assert_eq!(off.provider.stats().revocations, 0, "turned off");
}

/// Two instances on one Redis and one database (A1-A4 across instances): a user
/// created on one is the same on the other, each lists the sessions made on either,
/// and an admin's sign-out or a revoke-others answered by one is in force on the
/// other within 100 ms, measured from that answer.
pub(crate) async fn accounts_two_instances_share_users_and_session_control(launch: Launch) {
    let redis = provider_harness::RedisServer::start();
    let (a, b) = Example::pair(launch, &redis.url()).await;
    let alice = a.signed_in("alice").await;
    let on_b = b.signed_in("alice").await;
    assert_eq!(a.user_id(&alice).await, b.user_id(&on_b).await);
    let listed = b.json(&on_b, "/account/sessions").await;
    assert_eq!(listed.as_array().expect("list").len(), 2, "{listed}");
    // Cookies are per host, not per port: a browser signed in on one is signed in on
    // both, as behind a load balancer.
    let bob = b.signed_in("bob").await;
    assert_eq!(a.me_status(&bob).await, StatusCode::OK);
    let bob_id = a.local_id(&alice, "bob").await;
    let r = a
        .post(&alice, &format!("/admin/users/{bob_id}/sign-out"))
        .await;
    let ended = Instant::now();
    assert_eq!(r.status(), StatusCode::OK);
    gone_within(&b, &bob, ended).await;
    let r = a.post(&alice, "/account/sessions/revoke-others").await;
    let ended = Instant::now();
    assert_eq!(r.json::<Value>().await.expect("json")["ended"], 1);
    gone_within(&b, &on_b, ended).await;
    assert_eq!(b.me_status(&alice).await, StatusCode::OK);
}

/// B2 (issue 30): the example starts while its provider does not answer, and
/// `GET /auth/health` says so (503, the provider `unreachable`) until the provider is
/// up and discovered in the background (200, `ready`); then sign-ins work. With Redis,
/// `shared_state` is `ok`; without, `none`.
pub(crate) async fn accounts_health_answers_503_until_the_provider_is_reachable(launch: Launch) {
    crate::init();
    let redis = provider_harness::RedisServer::start();
    for redis_url in [None, Some(redis.url())] {
        let (port, provider_port) = (free_port(), free_port());
        let base = format!("http://127.0.0.1:{port}");
        let issuer = format!("http://127.0.0.1:{provider_port}");
        let dir = scenario_dir();
        let mut env: Vec<(String, String)> = [
            ("OIDC_ISSUER", issuer.as_str()),
            ("OIDC_CLIENT_ID", auth_testkit::DEV_CLIENT_ID),
            ("OIDC_CLIENT_SECRET", "health-secret"),
            ("APP_URL", base.as_str()),
            ("PORT", &port.to_string()),
            (
                "DATABASE_URL",
                &format!("sqlite://{}", dir.join("users.db").display()),
            ),
            (
                "APP_SECRET",
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            ),
            ("RUST_LOG", "error"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if let Some(url) = &redis_url {
            env.push(("REDIS_URL".into(), url.clone()));
        }
        let _running = launch(&env);
        let health = || async {
            let r = loop {
                if let Ok(r) = reqwest::get(format!("{base}/auth/health")).await {
                    break r;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            assert_eq!(r.headers()["cache-control"], "no-store");
            let status = r.status();
            (status, r.json::<Value>().await.expect("json"))
        };
        let shared = if redis_url.is_some() { "ok" } else { "none" };
        let (status, body) = health().await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(
            body,
            serde_json::json!({
                "status": "unavailable",
                "providers": { "default": "unreachable" },
                "shared_state": shared,
            })
        );
        let provider = DevProvider::builder()
            .port(provider_port)
            .client(ClientRegistration::for_app(
                auth_testkit::DEV_CLIENT_ID,
                "health-secret",
                &base,
            ))
            .start()
            .await
            .expect("the provider comes up");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = health().await;
            if status == StatusCode::OK {
                assert_eq!(
                    body,
                    serde_json::json!({
                        "status": "ok",
                        "providers": { "default": "ready" },
                        "shared_state": shared,
                    })
                );
                break;
            }
            assert!(Instant::now() < deadline, "never ready: {body}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let page = provider
            .sign_in(&browser, &format!("{base}/auth/login"), "alice")
            .await
            .expect("sign in");
        assert_eq!(page.status(), StatusCode::OK);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `browser`'s `/me` on `ex` answers 401 within 100 ms of `ended`.
async fn gone_within(ex: &Example, browser: &reqwest::Client, ended: Instant) {
    while ex.me_status(browser).await != StatusCode::UNAUTHORIZED {
        assert!(
            ended.elapsed() < Duration::from_millis(100),
            "still signed in {:?} after the end",
            ended.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "signed out on the other instance after {:?}",
        ended.elapsed()
    );
}

/// Polls `path` on `ex` (no session) until it answers `status`, within 5 s.
async fn answers_within(ex: &Example, path: &str, status: StatusCode) {
    let client = crate::no_redirects();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = client
            .get(format!("{}{path}", ex.base))
            .send()
            .await
            .expect("get")
            .status();
        if got == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path} on {} still answers {got}, not {status}",
            ex.base
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Issue 33 (E1, E2): the admin adds a customer's provider while the app runs
/// (`POST /admin/providers`, 201): users sign in through it at `/auth/login/corp`
/// without a restart, a second instance on the same database serves it within 5 s,
/// `GET /admin/providers` lists it without its secret, and the database holds the
/// secret sealed. Refused: an id taken (409), an id that is not `[a-z0-9-]{1,32}`
/// (400), a domain another provider serves (409), an issuer whose discovery fails
/// (422), a cross-site POST (403). Removed (`DELETE`, 204): its login is 404 on both
/// instances within 5 s, its user's session ends, a callback of a login under way at it
/// is 404 `unknown_provider`. Added again, it survives a restart.
pub(crate) async fn accounts_an_admin_adds_and_removes_a_provider_at_run_time(launch: Launch) {
    let mut ex = Example::start(launch, DevProvider::builder(), None, &[]).await;
    let other = Example::on(
        launch,
        ex.provider.clone(),
        free_port(),
        ex.dir.clone(),
        None,
        &[],
    )
    .await;
    let corp = DevProvider::builder()
        .app_provider(&ex.base, "corp")
        .start()
        .await
        .expect("the customer's provider");
    let (client_id, secret) = corp.client_credentials().expect("registered");
    let admin = ex.signed_in("alice").await;
    let provider = |id: &str, issuer: &str, domain: &str| {
        serde_json::json!({ "id": id, "issuer": issuer, "client_id": client_id,
                            "client_secret": secret, "name": "Corp SSO",
                            "domains": [domain] })
    };
    let add = |body: Value, origin: String| {
        admin
            .post(format!("{}/admin/providers", ex.base))
            .header("origin", origin)
            .json(&body)
            .send()
    };
    let add_corp = || {
        add(
            provider("corp", corp.issuer(), "corp.example"),
            ex.base.clone(),
        )
    };
    let remove = || {
        admin
            .delete(format!("{}/admin/providers/corp", ex.base))
            .header("origin", &ex.base)
            .send()
    };
    let r = add_corp().await.expect("add");
    assert_eq!(r.status(), StatusCode::CREATED);
    let added = r.text().await.expect("body");
    assert!(!added.contains(secret), "{added}");
    let added: Value = serde_json::from_str(&added).expect("json");
    assert_eq!(added["id"], "corp");
    answers_within(&other, "/auth/login/corp", StatusCode::SEE_OTHER).await;

    // A user signs in through it, without a restart.
    let bob = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    corp.sign_in(&bob, &format!("{}/auth/login/corp", ex.base), "bob")
        .await
        .expect("sign in through the added provider");
    let me = ex.json(&bob, "/me").await;
    assert_eq!(
        (me["sub"].as_str(), me["provider"].as_str()),
        (Some("bob"), Some("corp")),
        "{me}"
    );
    let listed = ex
        .get(&admin, "/admin/providers")
        .await
        .text()
        .await
        .expect("body");
    assert!(!listed.contains(secret), "{listed}");
    let listed: Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(
        listed,
        serde_json::json!([{ "id": "corp", "issuer": corp.issuer(), "name": "Corp SSO",
                             "domains": ["corp.example"] }])
    );
    let db = std::fs::read(ex.dir.join("users.db")).expect("database");
    assert!(
        !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret is stored sealed"
    );

    for (body, origin, status, code) in [
        (
            provider("corp", corp.issuer(), "other.example"),
            ex.base.clone(),
            409,
            "provider_exists",
        ),
        (
            provider("Corp!", corp.issuer(), "other.example"),
            ex.base.clone(),
            400,
            "invalid_provider",
        ),
        (
            provider("corp2", corp.issuer(), "CORP.example"),
            ex.base.clone(),
            409,
            "domain_taken",
        ),
        (
            provider("down", "http://127.0.0.1:9", "down.example"),
            ex.base.clone(),
            422,
            "discovery_failed",
        ),
        (
            provider("evil", corp.issuer(), "evil.example"),
            "https://evil.example".to_owned(),
            403,
            "",
        ),
    ] {
        let r = add(body.clone(), origin).await.expect("add");
        assert_eq!(r.status().as_u16(), status, "{body}");
        if !code.is_empty() {
            let answer: Value = r.json().await.expect("json");
            assert_eq!(answer["error"], code, "{answer}");
        }
    }

    // Removed: its logins stop on both instances, its user's session ends.
    let r = remove().await.expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    answers_within(&ex, "/auth/login/corp", StatusCode::NOT_FOUND).await;
    answers_within(&other, "/auth/login/corp", StatusCode::NOT_FOUND).await;
    assert_eq!(ex.me_status(&bob).await, StatusCode::UNAUTHORIZED);
    // A login that was under way at it comes back to a callback that answers 404.
    let r = ex
        .get(&bob, "/auth/callback/corp?code=c&state=s&iss=x")
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let answer: Value = r.json().await.expect("json");
    assert_eq!(answer["error"], "unknown_provider", "{answer}");
    let r = remove().await.expect("delete");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Added again, it survives a restart.
    let r = add_corp().await.expect("add");
    assert_eq!(r.status(), StatusCode::CREATED);
    // (`other` shares the database: it stops last.)
    ex.restart().await;
    answers_within(&ex, "/auth/login/corp", StatusCode::SEE_OTHER).await;
}

/// Issue 33 (E1): the provider an admin adds while the app runs is the real
/// oidc-provider: added (201), bob signs in through it at `/auth/login/op`; an issuer
/// whose discovery document names another issuer (here the same one with a trailing
/// slash) is refused with 422 `discovery_failed`, naming both.
pub(crate) async fn accounts_the_real_oidc_provider_added_at_run_time(launch: Launch) {
    let ex = Example::start(launch, DevProvider::builder(), None, &[]).await;
    let op = provider_harness::TestProvider::start(serde_json::json!({
        "clients": [{
            "client_id": "op-client",
            "client_secret": "op-secret-op-secret-op-secret-op",
            "redirect_uris": [format!("{}/auth/callback/op", ex.base)],
        }]
    }))
    .await;
    let admin = ex.signed_in("alice").await;
    let add = |issuer: String| {
        admin
            .post(format!("{}/admin/providers", ex.base))
            .header("origin", &ex.base)
            .json(
                &serde_json::json!({ "id": "op", "issuer": issuer, "client_id": "op-client",
                                       "client_secret": "op-secret-op-secret-op-secret-op" }),
            )
            .send()
    };
    let r = add(format!("{}/", op.issuer)).await.expect("add");
    assert_eq!(r.status().as_u16(), 422);
    let answer: Value = r.json().await.expect("json");
    assert_eq!(answer["error"], "discovery_failed", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("names issuer")),
        "{answer}"
    );
    let r = add(op.issuer.clone()).await.expect("add");
    assert_eq!(r.status(), StatusCode::CREATED);
    let bob = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let (page, hops) =
        crate::follow(&bob, &format!("{}/auth/login/op?login_hint=bob", ex.base)).await;
    assert_eq!(page.status(), StatusCode::OK, "{hops:?}");
    assert!(hops.iter().any(|h| h.starts_with(&op.issuer)), "{hops:?}");
    let me = ex.json(&bob, "/me").await;
    assert_eq!(
        (me["sub"].as_str(), me["provider"].as_str()),
        (Some("bob"), Some("op")),
        "{me}"
    );
}

crate::suite! {$
    /// The accounts suite: call `accounts_suite!(launch)` in a test file, with a
    /// function that starts the example's binary ([`Launch`]).
    accounts_suite(Launch):
        accounts_a_first_sign_in_creates_a_local_user_kept_across_restarts,
        accounts_unverified_emails_and_blocked_users_are_refused,
        accounts_admin_ends_a_users_sessions,
        accounts_users_see_and_end_their_own_sessions,
        accounts_audit_log_has_a_line_per_event,
        accounts_ending_a_session_revokes_its_refresh_token,
        accounts_two_instances_share_users_and_session_control,
        accounts_health_answers_503_until_the_provider_is_reachable,
        accounts_an_admin_adds_and_removes_a_provider_at_run_time,
        accounts_the_real_oidc_provider_added_at_run_time,
}

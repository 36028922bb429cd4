//! The acceptance suite: every scenario of the example app contract
//! (`shared/DESIGN.md`), written once and run against each example app (axum and
//! actix-web) with the real `oidc-provider` on loopback, a real HTTP client and a
//! cookie jar. A scenario that passes on one framework and fails on the other is a
//! bug in an adapter.
//!
//! An example runs a suite with one line (its `tests/suites.rs` runs them all) plus how
//! to serve it:
//!
//! ```ignore
//! fn serve(auth: auth_core::Auth, listener: std::net::TcpListener) -> acceptance::Running { ... }
//! acceptance::acceptance_suite!(serve);
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
// A scenario that no suite lists is dead code: refused, not silently never run.
#![deny(dead_code)]

/// Declares a suite. `suite! {$ NAME(ServeType): scenario, ... }` makes
///
/// - the macro `NAME!(serve)` that a test file calls (one `#[tokio::test]` per
///   scenario, each serving the app with `serve`), and
/// - the module `NAME` of public entry points that those tests call.
///
/// The scenarios themselves are `pub(crate)`: one that no suite lists is never used,
/// and the build says so (`dead_code`, an error under CI's `-D warnings`), so a
/// scenario cannot be left out of its suite and silently never run. The leading `$`
/// is how the inner macro gets its own `$` (a `macro_rules!` cannot write one).
macro_rules! suite {
    ($d:tt $(#[$doc:meta])* $suite:ident($serve_ty:ty): $($name:ident),* $(,)?) => {
        $(#[$doc])*
        #[macro_export]
        macro_rules! $suite {
            ($d serve:path) => {
                $d crate::__scenarios!($d serve; $suite; $($name),*);
            };
        }

        #[doc(hidden)]
        pub mod $suite {
            #[allow(unused_imports)]
            use crate::*;
            $(
                pub async fn $name(serve: $serve_ty) {
                    crate::$name(serve).await
                }
            )*
        }
    };
}
pub(crate) use suite;

mod access;
mod accounts;
mod bff;
mod browser;
mod cluster;
mod dev;
mod fapi;
mod guard;
mod hardening;
mod hostile;
mod independent;
mod leaks;
mod operations;
mod providers;
mod referees;
mod vendors;

// The modules' items are the crate's own: a scenario, even one declared `pub`, is
// reachable from outside only through its suite, so one that no suite lists is dead
// code (denied above). What other crates use is re-exported by name.
pub(crate) use access::*;
pub(crate) use accounts::*;
pub(crate) use bff::*;
pub(crate) use browser::*;
pub(crate) use cluster::*;
pub(crate) use dev::*;
pub(crate) use fapi::*;
pub(crate) use guard::*;
pub(crate) use hardening::*;
pub(crate) use hostile::*;
pub(crate) use independent::*;
pub(crate) use leaks::*;
pub(crate) use operations::*;
pub(crate) use providers::*;
pub(crate) use referees::*;
pub(crate) use vendors::*;

pub use access::authorization_suite;
pub use accounts::{Launch, accounts_suite};
pub use bff::bff_suite;
pub use browser::browser_suite;
pub use fapi::fapi_suite;
pub use guard::{DownStore, GuardApp, GuardData, ServeGuard, guard_config, guard_suite};
pub use hardening::hardening_suite;
pub use hostile::hostile_suite;
pub use leaks::leaks_suite;
pub use operations::operations_suite;
pub use providers::providers_suite;
pub use referees::referees_suite;
pub use vendors::vendors_suite;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use auth_core::{Auth, AuthConfig};
use provider_harness::TestProvider;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::{Client, StatusCode, header::LOCATION};
use serde_json::{Value, json};
use url::Url;

const SECRET: &str = "test-secret-test-secret-test-secret";
/// The API audience the example apps accept bearer tokens for.
const API: &str = "https://api.test";
/// Every bearer token must grant this scope.
const API_SCOPE: &str = "api:read";

/// Starts the app under test: serve the example with `auth` on `listener` in the
/// background, until the returned [`Running`] is dropped.
pub type Serve = fn(Auth, TcpListener) -> Running;

/// A running app; dropping it stops it.
pub struct Running(Option<Box<dyn FnOnce()>>, Option<Process>);

/// An app's process: its exit and what it wrote to stderr.
struct Process {
    child: std::sync::Arc<std::sync::Mutex<std::process::Child>>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Running {
    /// `stop` is called when the app is dropped.
    pub fn new(stop: impl FnOnce() + 'static) -> Self {
        Self(Some(Box::new(stop)), None)
    }

    /// Spawns `command` (its stdout discarded, its stderr kept), killed when dropped.
    pub fn process(mut command: std::process::Command) -> Self {
        use std::io::Read as _;
        let mut child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the example's binary");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped");
        let into = std::sync::Arc::clone(&stderr);
        // Drained until the process exits (a full pipe would block it).
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let n = match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                let text = String::from_utf8_lossy(&buf[..n]);
                eprint!("{text}");
                into.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push_str(&text);
            }
        });
        let child = std::sync::Arc::new(std::sync::Mutex::new(child));
        let killed = std::sync::Arc::clone(&child);
        Self(
            Some(Box::new(move || {
                let mut child = killed.lock().expect("child");
                let _ = child.kill();
                let _ = child.wait();
            })),
            Some(Process { child, stderr }),
        )
    }

    /// The process's exit within `within`, and its stderr; `None` if it still runs
    /// (or is not a process).
    pub async fn exit(&self, within: Duration) -> Option<(std::process::ExitStatus, String)> {
        let process = self.1.as_ref()?;
        let deadline = std::time::Instant::now() + within;
        loop {
            let status = process.child.lock().expect("child").try_wait().ok()?;
            if let Some(status) = status {
                // The reader thread drains what is left of the pipe.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Some((status, process.stderr.lock().expect("stderr").clone()));
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            stop();
        }
    }
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Running")
    }
}

fn init() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("auth_core=debug,auth_axum=debug,auth_actix=debug")
        .try_init();
    let _ = rustls::crypto::ring::default_provider().install_default();
}

struct TestApp {
    base: String,
    provider: TestProvider,
    /// The app's handle (for `Debug` checks).
    auth: Auth,
    /// Every refusal the app reported ([`auth_core::AuthEvent`], as `Debug` text).
    events: Arc<std::sync::Mutex<Vec<String>>>,
    _server: Running,
}

impl TestApp {
    /// The last refusal the app reported.
    fn last_event(&self) -> String {
        self.events
            .lock()
            .expect("events")
            .last()
            .cloned()
            .unwrap_or_default()
    }
}

async fn start(serve: Serve, access_token_ttl: u64, refresh_margin: Duration) -> TestApp {
    start_with(
        serve,
        json!({ "access_token_ttl": access_token_ttl }),
        refresh_margin,
    )
    .await
}

/// Starts the provider with `provider` (token lifetimes) and the app.
async fn start_with(serve: Serve, provider: Value, refresh_margin: Duration) -> TestApp {
    start_configured(serve, provider, move |b| {
        b.with_refresh_margin(refresh_margin)
    })
    .await
}

/// Starts the provider with `provider` and the app, with `configure` applied to the
/// app's configuration.
async fn start_configured(
    serve: Serve,
    provider: Value,
    configure: impl FnOnce(auth_core::AuthConfigBuilder) -> auth_core::AuthConfigBuilder,
) -> TestApp {
    init();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let mut config = json!({
        "clients": [{
            "client_id": "example",
            "client_secret": SECRET,
            "redirect_uris": [format!("{base}/auth/callback")],
            "post_logout_redirect_uris": [format!("{base}/")],
            "backchannel_logout_uri": format!("{base}/auth/backchannel-logout"),
        }]
    });
    for (k, v) in provider.as_object().expect("provider settings") {
        config[k] = v.clone();
    }
    let provider = TestProvider::start(config).await;
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = events.clone();
    let config = configure(
        AuthConfig::builder(&provider.issuer, "example", &base).with_client_secret(SECRET),
    )
    .with_api_audience(API)
    .with_required_api_scopes([API_SCOPE])
    .with_event_hook(move |e| seen.lock().expect("events").push(format!("{e:?}")))
    .build()
    .expect("config");
    let auth = Auth::discover(config).await.expect("discovery");
    TestApp {
        base,
        provider,
        auth: auth.clone(),
        events,
        _server: serve(auth, listener),
    }
}

fn browser() -> Client {
    browser_with(Arc::new(Jar::default()))
}

fn browser_with(jar: Arc<Jar>) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A client without cookies that does not follow redirects: each request on its own.
fn no_redirects() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The action and hidden fields of a `form_post` page (the provider's form that posts
/// the authorization response; oidc-provider's and the development provider's).
fn posted_form(html: &str) -> (String, Vec<(String, String)>) {
    let attr = |tag: &str, name: &str| {
        tag.split(&format!(" {name}=\""))
            .nth(1)
            .and_then(|v| v.split('"').next())
            .map(|v| v.replace("&amp;", "&").replace("&quot;", "\""))
    };
    let form = html
        .split("<form ")
        .nth(1)
        .unwrap_or_else(|| panic!("no form: {html}"));
    let action = attr(form.split('>').next().expect("tag"), "action").expect("action");
    let fields = form
        .split("</form>")
        .next()
        .expect("form")
        .split("<input ")
        .skip(1)
        .filter_map(|tag| Some((attr(tag, "name")?, attr(tag, "value")?)))
        .collect();
    (action, fields)
}

/// Follows redirects by hand (so cookies of every hop are kept); returns the last
/// response and the URLs visited.
async fn follow(client: &Client, url: &str) -> (reqwest::Response, Vec<String>) {
    let mut url = Url::parse(url).expect("url");
    let mut seen = vec![url.to_string()];
    for _ in 0..20 {
        let resp = client.get(url.clone()).send().await.expect("request");
        if !resp.status().is_redirection() {
            return (resp, seen);
        }
        let loc = resp.headers()[LOCATION]
            .to_str()
            .expect("location")
            .to_string();
        url = url.join(&loc).expect("join");
        seen.push(url.to_string());
    }
    panic!("too many redirects: {seen:?}");
}

async fn stats(app: &TestApp) -> Value {
    reqwest::get(app.provider.stats_url())
        .await
        .expect("stats")
        .json()
        .await
        .expect("json")
}

async fn me(client: &Client, app: &TestApp) -> reqwest::Response {
    me_at(client, &app.base).await
}

/// `GET {base}/me` as an API client (JSON, 401 rather than a redirect).
async fn me_at(client: &Client, base: &str) -> reqwest::Response {
    client
        .get(format!("{base}/me"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("me")
}

async fn sign_in(client: &Client, app: &TestApp, query: &str) -> (reqwest::Response, Vec<String>) {
    sign_in_at(client, &app.base, query).await
}

async fn sign_in_at(client: &Client, base: &str, query: &str) -> (reqwest::Response, Vec<String>) {
    follow(client, &format!("{base}/auth/login{query}")).await
}

/// The code an error page shows (`<code class="auth-error">…</code>`): which rule
/// refused, as the user can report it.
fn page_code(body: &str) -> &str {
    let start = body
        .find("<code class=\"auth-error\">")
        .map(|i| i + "<code class=\"auth-error\">".len())
        .unwrap_or_else(|| panic!("no error code in the page: {body}"));
    let end = body[start..].find("</code>").expect("closed") + start;
    &body[start..end]
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn login_lands_on_return_to_and_me_shows_the_user(serve: Serve) {
    let app = start(serve, 60, Duration::from_secs(30)).await;
    let client = browser();
    assert_eq!(me(&client, &app).await.status(), StatusCode::UNAUTHORIZED);

    // A browser without a session is sent to login with return_to.
    let r = client
        .get(format!("{}/me?x=1", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/auth/login?return_to=%2Fme%3Fx%3D1");

    let (last, hops) = sign_in(&client, &app, "?return_to=%2Fme%3Fx%3D1&login_hint=bob").await;
    let status = last.status();
    assert_eq!(
        status,
        StatusCode::OK,
        "{hops:?} {}",
        last.text().await.unwrap_or_default()
    );
    assert!(hops.last().expect("hop").ends_with("/me?x=1"), "{hops:?}");
    let authz = Url::parse(&hops[1]).expect("authorization url");
    let q: Vec<(String, String)> = authz.query_pairs().into_owned().collect();
    for k in ["state", "nonce", "code_challenge"] {
        assert!(q.iter().any(|(n, _)| n == k), "{k} missing");
    }
    assert!(q.contains(&("code_challenge_method".into(), "S256".into())));

    let body: Value = me(&client, &app).await.json().await.expect("json");
    assert_eq!(body["sub"], "bob");
    assert_eq!(body["email"], "bob@example.com");
    assert_eq!(body["name"], "Bob");
    // (The session keeps `sid`: the back-channel logout scenarios end sessions by it.)
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn session_cookie_is_http_only_lax_and_new_at_login(serve: Serve) {
    let app = start(serve, 60, Duration::from_secs(30)).await;
    let client = browser();
    // Visit a page first: an anonymous session id must not survive login.
    let login = client
        .get(format!("{}/auth/login", app.base))
        .send()
        .await
        .expect("login");
    let pending = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_string())
        .collect::<Vec<_>>();
    // Exactly the new pending login (an `.all()` over no cookie would pass).
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(
        pending[0].contains("HttpOnly")
            && pending[0].contains("SameSite=Lax")
            && !pending[0].contains("Secure"),
        "{pending:?}"
    );
    let first = sign_in_once(&client, login).await;
    assert_eq!(me(&client, &app).await.status(), StatusCode::OK);
    // Signing in again in the same browser gives a new id, never the earlier one.
    let again = client
        .get(format!("{}/auth/login", app.base))
        .send()
        .await
        .expect("login");
    let second = sign_in_once(&client, again).await;
    let id = |c: &str| c.split(';').next().unwrap_or_default().to_owned();
    assert_ne!(id(&first), id(&second), "a new session id at each login");
    assert_eq!(me(&client, &app).await.status(), StatusCode::OK);
}

/// Follows a login from its redirect to the provider back to the app, and returns the
/// session cookie set on the way.
async fn sign_in_once(client: &Client, login: reqwest::Response) -> String {
    let mut url = Url::parse(login.headers()[LOCATION].to_str().expect("loc")).expect("url");
    let mut session_cookie = None;
    for _ in 0..20 {
        let r = client.get(url.clone()).send().await.expect("hop");
        for c in r.headers().get_all("set-cookie") {
            let c = c.to_str().expect("ascii");
            if c.starts_with("auth_session=") {
                session_cookie = Some(c.to_string());
            }
        }
        let Some(loc) = r.headers().get(LOCATION) else {
            break;
        };
        url = url.join(loc.to_str().expect("loc")).expect("join");
    }
    let c = session_cookie.expect("a session cookie is set at login");
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Path=/"),
        "{c}"
    );
    c
}

/// The session id in `jar` for `app`.
fn session_id(jar: &Jar, app: &TestApp) -> Option<String> {
    session_id_at(jar, &app.base)
}

/// The session id in `jar` for the app at `base`.
fn session_id_at(jar: &Jar, base: &str) -> Option<String> {
    let url = Url::parse(base).expect("base");
    let header = jar.cookies(&url)?;
    header
        .to_str()
        .expect("ascii")
        .split("; ")
        .find_map(|c| c.strip_prefix("auth_session="))
        .map(str::to_string)
}

/// `/me` with only the session cookie `id`.
async fn me_as(app: &TestApp, id: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{}/me", app.base))
        .header("accept", "application/json")
        .header("cookie", format!("auth_session={id}"))
        .send()
        .await
        .expect("me")
        .status()
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn rp_session_fixation_login_never_keeps_an_earlier_id(serve: Serve) {
    let app = start(serve, 60, Duration::from_secs(30)).await;
    let jar = Arc::new(Jar::default());
    let client = browser_with(Arc::clone(&jar));
    // An attacker plants a well-formed id before the victim signs in.
    let planted = "AAAAAAAAAAAAAAAAAAAAAA";
    jar.add_cookie_str(
        &format!("auth_session={planted}; Path=/"),
        &Url::parse(&app.base).expect("base"),
    );
    let (last, hops) = sign_in(&client, &app, "").await;
    assert_eq!(last.status(), StatusCode::OK, "{hops:?}");
    let first = session_id(&jar, &app).expect("signed in");
    assert_ne!(first, planted);
    assert_eq!(me_as(&app, planted).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_as(&app, &first).await, StatusCode::OK);
    // Signing in again gives a new id and ends the previous session.
    let (last, hops) = sign_in(&client, &app, "").await;
    assert_eq!(last.status(), StatusCode::OK, "{hops:?}");
    let second = session_id(&jar, &app).expect("signed in");
    assert_ne!(second, first);
    assert_eq!(me_as(&app, &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_as(&app, &second).await, StatusCode::OK);
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn signup_sends_prompt_create_and_parameters_pass_through(serve: Serve) {
    let app = start(serve, 60, Duration::from_secs(30)).await;
    let client = browser();
    let r = client
        .get(format!("{}/auth/signup?organization_id=org_1&connection_id=conn_1&domain_hint=example.com&screen_hint=sign-up&provider=authkit&redirect_uri=https%3A%2F%2Fevil.example%2F&scope=admin", app.base))
        .send()
        .await
        .expect("signup");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let loc = Url::parse(r.headers()[LOCATION].to_str().expect("loc")).expect("url");
    let q: Vec<(String, String)> = loc.query_pairs().into_owned().collect();
    assert!(q.contains(&("prompt".into(), "create".into())));
    assert!(q.contains(&("redirect_uri".into(), format!("{}/auth/callback", app.base))));
    assert!(
        !q.iter()
            .any(|(_, v)| v.contains("evil.example") || v == "admin")
    );

    let (last, hops) = follow(&client, loc.as_str()).await;
    let s = stats(&app).await;
    let params = &s["last_authorization_params"];
    assert_eq!(params["prompt"], "create");
    assert_eq!(params["organization_id"], "org_1");
    assert_eq!(params["connection_id"], "conn_1");
    assert_eq!(params["domain_hint"], "example.com");
    assert_eq!(params["screen_hint"], "sign-up");
    assert_eq!(params["provider"], "authkit");
    // This provider has no organizations, so its tokens name none: a login that asked
    // for org_1 is refused (the organization check of issue 16), and a sign-up
    // without one completes.
    assert_eq!(last.status(), StatusCode::FORBIDDEN, "{hops:?}");
    let page = last.text().await.expect("page");
    assert!(
        page.contains("<code class=\"auth-error\">organization_mismatch</code>"),
        "{page}"
    );
    assert_eq!(me(&client, &app).await.status(), StatusCode::UNAUTHORIZED);
    let (last, hops) = follow(
        &client,
        &format!("{}/auth/signup?connection_id=conn_1", app.base),
    )
    .await;
    assert_eq!(last.status(), StatusCode::OK, "{hops:?}");
    assert_eq!(me(&client, &app).await.status(), StatusCode::OK);
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn access_denied_shows_friendly_page_and_no_session(serve: Serve) {
    let app = start(serve, 60, Duration::from_secs(30)).await;
    let client = browser();
    let (last, hops) = sign_in(&client, &app, "?login_hint=deny").await;
    assert!(
        hops.last().expect("hop").contains("error=access_denied"),
        "{hops:?}"
    );
    assert_eq!(last.status(), StatusCode::FORBIDDEN);
    let page = last.text().await.expect("body");
    assert!(page.contains("Sign-in was cancelled"), "{page}");
    assert!(
        !page.contains("The user cancelled sign-in"),
        "provider details stay in logs"
    );
    assert_eq!(me(&client, &app).await.status(), StatusCode::UNAUTHORIZED);
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn rp_callback_without_pending_login_refused(serve: Serve) {
    let app = start(serve, 60, Duration::from_secs(30)).await;
    let client = browser();
    let r = client
        .get(format!(
            "{}/auth/callback?code=abc&state=forged-state-value",
            app.base
        ))
        .send()
        .await
        .expect("callback");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Sign-in link expired")
    );
    assert_eq!(app.last_event(), "LoginRefused(PendingLoginMissing)");
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn concurrent_requests_after_expiry_share_one_refresh(serve: Serve) {
    // Access tokens live 5 s; refresh when under 4 s remain.
    let app = start(serve, 5, Duration::from_secs(4)).await;
    let client = browser();
    let (last, hops) = sign_in(&client, &app, "").await;
    assert_eq!(last.status(), StatusCode::OK, "{hops:?}");
    // Landing on the app may already have refreshed on a slow machine: count from here.
    let before = stats(&app).await;
    let (tries, oks) = (
        before["refresh_grants"].as_u64().expect("n"),
        before["refresh_grants_ok"].as_u64().expect("n"),
    );
    // The newest access token was issued before `before`; 1.5 s later it is inside the
    // 4 s refresh margin of its 5 s lifetime.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let results = futures_join(&client, &app.base, 16).await;
    assert!(results.iter().all(|s| *s == StatusCode::OK), "{results:?}");
    let s = stats(&app).await;
    assert_eq!(
        s["refresh_grants"].as_u64(),
        Some(tries + 1),
        "one refresh for 16 requests: {s}"
    );
    assert_eq!(s["refresh_grants_ok"].as_u64(), Some(oks + 1), "{s}");
    // The rotated refresh token was stored: a later refresh works too.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(me(&client, &app).await.status(), StatusCode::OK);
    let s = stats(&app).await;
    assert_eq!(s["refresh_grants_ok"].as_u64(), Some(oks + 2), "{s}");
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn refused_refresh_ends_the_session(serve: Serve) {
    // Access tokens live 4 s, refresh tokens 3 s: the first refresh gets invalid_grant.
    let app = start_with(
        serve,
        json!({ "access_token_ttl": 4, "refresh_token_ttl": 3 }),
        Duration::from_secs(1),
    )
    .await;
    let client = browser();
    let (last, hops) = sign_in(&client, &app, "").await;
    assert_eq!(last.status(), StatusCode::OK, "{hops:?}");
    // Landing on the app may already have refreshed on a slow machine: count from here.
    let before = stats(&app).await;
    // Whatever tokens the session holds now, both have expired 4.5 s later.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(me(&client, &app).await.status(), StatusCode::UNAUTHORIZED);
    let s = stats(&app).await;
    assert_eq!(
        s["refresh_grants"].as_u64(),
        before["refresh_grants"].as_u64().map(|n| n + 1),
        "{s}"
    );
    assert_eq!(s["refresh_grants_ok"], before["refresh_grants_ok"], "{s}");
    // The session is gone for good: no second refresh attempt, the home page is public.
    let home = client
        .get(format!("{}/", app.base))
        .send()
        .await
        .expect("home");
    assert!(home.text().await.expect("body").contains("not signed in"));
    assert_eq!(
        stats(&app).await["refresh_grants"].as_u64(),
        s["refresh_grants"].as_u64()
    );
}

/// A JWT access token from the provider's client_credentials grant (RFC 9068).
async fn service_token(app: &TestApp, resource: &str, scope: &str) -> String {
    let resp: Value = browser()
        .post(format!("{}/token", app.provider.issuer))
        .basic_auth("example", Some(SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", resource),
            ("scope", scope),
        ])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token json");
    resp["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {resp}"))
        .to_string()
}

/// An acceptance scenario (see the crate docs): opaque access tokens of the real
/// oidc-provider (its `client_credentials` grant for a resource served opaque) checked
/// at its introspection endpoint: accepted on `/api/me` with the answer's `sub`,
/// `scope` and `client_id`, the answer cached (one introspection for two requests); a
/// token for another audience and a revoked token refused (401 `invalid_token`).
pub(crate) async fn introspection_against_oidc_provider(serve: Serve) {
    const OTHER: &str = "https://other.test";
    let app = start_configured(
        serve,
        json!({ "access_token_ttl": 300,
                "opaque_api_resources": { API: API_SCOPE, OTHER: API_SCOPE } }),
        |b| b.with_api_introspection(true),
    )
    .await;
    let token = service_token(&app, API, API_SCOPE).await;
    assert_eq!(token.split('.').count(), 1, "opaque: {token}");
    for _ in 0..2 {
        let r = api_me(&app, Some(&format!("Bearer {token}"))).await;
        assert_eq!(r.status(), StatusCode::OK, "{}", challenge(&r));
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["client_id"], "example", "{body}");
        assert_eq!(
            body["sub"], "example",
            "a service's token: its client is its subject"
        );
        assert_eq!(body["scope"], API_SCOPE, "{body}");
    }
    assert_eq!(stats(&app).await["introspections"], 1, "cached");

    let other = service_token(&app, OTHER, API_SCOPE).await;
    let r = api_me(&app, Some(&format!("Bearer {other}"))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&r).contains("invalid_token"), "{}", challenge(&r));

    let revoked = service_token(&app, API, API_SCOPE).await;
    let answer = no_redirects()
        .post(format!("{}/token/revocation", app.provider.issuer))
        .basic_auth("example", Some(SECRET))
        .form(&[
            ("token", revoked.as_str()),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .expect("revocation");
    assert_eq!(answer.status(), StatusCode::OK);
    let r = api_me(&app, Some(&format!("Bearer {revoked}"))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&r).contains("invalid_token"), "{}", challenge(&r));
    assert_eq!(stats(&app).await["introspections"], 3);
}

async fn api_me(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let mut req = browser().get(format!("{}/api/me", app.base));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    req.send().await.expect("api/me")
}

/// `GET {base}/api/me` with the bearer `token`: the status and the JSON answer.
async fn api_me_with(base: &str, token: &str) -> (StatusCode, Value) {
    let r = Client::new()
        .get(format!("{base}/api/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("api");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn challenge(r: &reqwest::Response) -> String {
    r.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ascii").to_string())
        .unwrap_or_default()
}

/// An acceptance scenario (see the crate docs): the app's own token (client
/// credentials, the app's client authentication, a resource indicator) from the real
/// provider, cached, used through `AppTokens::send` on an API that checks it; and the
/// provider's UserInfo claims for a signed-in user, whose `sub` is the session's.
pub(crate) async fn server_to_server_app_tokens_and_userinfo(serve: Serve) {
    let app = start_with(
        serve,
        json!({ "access_token_ttl": 300, "api_resources": { API: "api:read" } }),
        Duration::from_secs(30),
    )
    .await;
    let tokens = app.auth.app_tokens(
        auth_core::AppTokenRequest::new()
            .with_resource(API)
            .with_scope(API_SCOPE),
    );
    let token = tokens.access_token().await.expect("the app's token");
    assert_eq!(tokens.access_token().await.expect("cached"), token);
    let caller = app
        .auth
        .authenticate_bearer(token.secret())
        .await
        .expect("a valid RFC 9068 access token");
    assert_eq!(caller.sub(), "example");
    let request = http::Request::get(format!("{}/api/me", app.base))
        .body(Vec::new())
        .expect("request");
    let r = tokens.send(request).await.expect("api");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(r.body()).expect("json");
    assert_eq!(body["sub"], "example");

    // UserInfo for a signed-in user, with the session's access token.
    let jar = Arc::new(Jar::default());
    let client = browser_with(jar.clone());
    let (last, _) = sign_in(&client, &app, "").await;
    assert_eq!(last.status(), StatusCode::OK);
    let id = session_id(&jar, &app).expect("session cookie");
    let cookie = format!("auth_session={id}");
    let id = app.auth.session_id(std::iter::once(cookie.as_bytes()));
    let auth_core::Authenticated::User(session) = app.auth.authenticate(id.as_ref()).await else {
        panic!("the session is valid");
    };
    let info = app.auth.userinfo(&session).await.expect("userinfo");
    assert_eq!(info.sub(), session.sub());
    assert!(info.email().is_some(), "{:?}", info);
}

/// An acceptance scenario (see the crate docs): bearer access tokens issued by the
/// provider (client_credentials, JWT per RFC 9068) are accepted by the API route, and
/// every way of getting one wrong gets the RFC 6750 answer.
pub(crate) async fn api_bearer_tokens_from_the_provider_are_validated(serve: Serve) {
    let app = start_with(
        serve,
        json!({ "access_token_ttl": 300,
                "api_resources": { API: "api:read api:write", "https://other.test": "api:read" } }),
        Duration::from_secs(30),
    )
    .await;
    let token = service_token(&app, API, "api:read api:write").await;
    for _ in 0..3 {
        let r = api_me(&app, Some(&format!("Bearer {token}"))).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["sub"], "example");
        assert_eq!(body["client_id"], "example");
        assert_eq!(body["scopes"], json!(["api:read", "api:write"]));
    }

    // No token: 401 with a bare Bearer challenge, never a redirect to login.
    let r = api_me(&app, None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&r), "Bearer");
    let r = api_me(&app, Some("Basic ZXhhbXBsZTpzZWNyZXQ=")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A token for another API of the same provider.
    let other = service_token(&app, "https://other.test", "api:read").await;
    let r = api_me(&app, Some(&format!("Bearer {other}"))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        challenge(&r).contains("error=\"invalid_token\""),
        "{}",
        challenge(&r)
    );

    // A forged signature (a character in the middle of the signature changed: the last
    // one may only carry padding bits).
    let sig_start = token.rfind('.').expect("jwt") + 1;
    let i = sig_start + (token.len() - sig_start) / 2;
    let mut forged = token.clone();
    let c = if &token[i..=i] == "A" { "B" } else { "A" };
    forged.replace_range(i..=i, c);
    let r = api_me(&app, Some(&format!("Bearer {forged}"))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The payload of the valid token re-used under a forged signature never hits the
    // cache: the cache is keyed by the whole token.
    let (head_payload, _) = token.rsplit_once('.').expect("jwt");
    let r = api_me(&app, Some(&format!("Bearer {head_payload}.AAAA"))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A token without the scope every API call needs: 403 insufficient_scope.
    let write_only = service_token(&app, API, "api:write").await;
    let r = api_me(&app, Some(&format!("Bearer {write_only}"))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&r),
        "Bearer error=\"insufficient_scope\", scope=\"api:read\""
    );

    // Malformed credentials: 400 invalid_request.
    for bad in ["Bearer", "Bearer a b", "Bearer a\"b", "Bearer ==="] {
        let r = api_me(&app, Some(bad)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }

    // A bearer token does not open a session route, and is answered with 401 JSON, not a
    // redirect (the request is an API call).
    let r = browser()
        .get(format!("{}/me", app.base))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("me");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn futures_join(client: &Client, base: &str, n: usize) -> Vec<StatusCode> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let client = client.clone();
        let url = format!("{base}/me");
        tasks.push(tokio::spawn(async move {
            client
                .get(url)
                .header("accept", "application/json")
                .send()
                .await
                .expect("me")
                .status()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("join"));
    }
    out
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn rp_initiated_logout_clears_session_and_redirects_to_provider(serve: Serve) {
    let app = start(serve, 60, Duration::from_secs(30)).await;
    let client = browser();
    sign_in(&client, &app, "").await;
    assert_eq!(me(&client, &app).await.status(), StatusCode::OK);
    let r = client
        .get(format!("{}/auth/logout", app.base))
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let loc = Url::parse(r.headers()[LOCATION].to_str().expect("loc")).expect("url");
    assert!(
        loc.as_str()
            .starts_with(&format!("{}/session/end", app.provider.issuer)),
        "{loc}"
    );
    let q: Vec<(String, String)> = loc.query_pairs().into_owned().collect();
    assert!(
        q.iter()
            .any(|(k, v)| k == "id_token_hint" && v.split('.').count() == 3)
    );
    assert!(q.contains(&("post_logout_redirect_uri".into(), format!("{}/", app.base))));
    // The local session is gone before the provider is even visited, and its refresh
    // token was revoked at oidc-provider's revocation endpoint (RFC 7009).
    assert_eq!(me(&client, &app).await.status(), StatusCode::UNAUTHORIZED);
    let s = stats(&app).await;
    assert_eq!(s["revocations"], 1, "{s}");
    assert_eq!(s["revocation_hints"], json!(["refresh_token"]), "{s}");
    let (last, hops) = follow(&client, loc.as_str()).await;
    assert_eq!(last.status(), StatusCode::OK, "{hops:?}");
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn backchannel_logout_sent_by_the_provider_ends_the_session(serve: Serve) {
    let app = start(serve, 60, Duration::from_secs(30)).await;
    let client = browser();
    sign_in(&client, &app, "").await;
    assert_eq!(me(&client, &app).await.status(), StatusCode::OK);
    // Sign out at the provider directly (another app, or the provider's own page):
    // the app learns of it only through the back-channel.
    sign_out_at_provider(&client, &app.provider.issuer).await;
    let s = stats(&app).await;
    assert_eq!(s["backchannel_logouts_ok"], 1, "{s}");
    assert_eq!(me(&client, &app).await.status(), StatusCode::UNAUTHORIZED);
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn rp_backchannel_logout_bad_tokens_refused(serve: Serve) {
    let app = start(serve, 60, Duration::from_secs(30)).await;
    let client = browser();
    sign_in(&client, &app, "").await;
    for (body, rule) in [
        ("", "BackchannelLogoutRefused(MissingToken)"),
        ("logout_token=", "BackchannelLogoutRefused(MissingToken)"),
        (
            "logout_token=a.b.c",
            "BackchannelLogoutRefused(Invalid(Malformed))",
        ),
        (
            "logout_token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.",
            "BackchannelLogoutRefused(Invalid(AlgorithmNotAllowed(\"none\")))",
        ),
    ] {
        let r = client
            .post(format!("{}/auth/backchannel-logout", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let answer: Value = r.json().await.expect("json");
        assert_eq!(answer["error"], "invalid_request", "{body}");
        assert_eq!(app.last_event(), rule, "{body}");
    }
    assert_eq!(
        me(&client, &app).await.status(),
        StatusCode::OK,
        "the session survives bad tokens"
    );
}

/// Signs the browser out at the provider's own logout page (confirming its form); the
/// provider then sends back-channel logouts.
async fn sign_out_at_provider(client: &Client, issuer: &str) {
    let page = client
        .get(format!("{issuer}/session/end?client_id=example"))
        .send()
        .await
        .expect("end session")
        .text()
        .await
        .expect("body");
    let action = between(&page, "action=\"", "\"");
    let xsrf = between(&page, "name=\"xsrf\" value=\"", "\"");
    let r = client
        .post(action)
        .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
        .send()
        .await
        .expect("confirm");
    assert!(
        r.status().is_redirection() || r.status().is_success(),
        "{}",
        r.status()
    );
}

fn between(s: &str, start: &str, end: &str) -> String {
    let i = s
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in {s}"))
        + start.len();
    let j = s[i..].find(end).expect("end") + i;
    s[i..j].replace("&amp;", "&")
}

/// Runs the login up to the provider's redirect back to the app, and returns the
/// callback URL without visiting it.
async fn callback_url(client: &Client, app: &TestApp, query: &str) -> Url {
    let mut url = Url::parse(&format!("{}/auth/login{query}", app.base)).expect("url");
    for _ in 0..20 {
        let r = client.get(url.clone()).send().await.expect("hop");
        let loc = r.headers()[LOCATION]
            .to_str()
            .expect("location")
            .to_string();
        url = url.join(&loc).expect("join");
        if url.path() == "/auth/callback" {
            return url;
        }
    }
    panic!("no callback reached");
}

fn replace_param(url: &Url, name: &str, value: &str) -> Url {
    let mut out = url.clone();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    out.query_pairs_mut().clear().extend_pairs(
        pairs
            .iter()
            .map(|(k, v)| (k.as_str(), if k == name { value } else { v.as_str() })),
    );
    out
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn rp_iss_mismatch_in_authorization_response(serve: Serve) {
    let app = start(serve, 60, Duration::from_secs(30)).await;
    let client = browser();
    let cb = callback_url(&client, &app, "").await;
    let forged = replace_param(&cb, "iss", "https://evil.example.com");
    let r = client.get(forged).send().await.expect("callback");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.last_event(), "LoginRefused(IssuerMismatch)");
    assert_eq!(me(&client, &app).await.status(), StatusCode::UNAUTHORIZED);
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn rp_iss_missing_when_advertised(serve: Serve) {
    let app = start(serve, 60, Duration::from_secs(30)).await;
    let client = browser();
    let cb = callback_url(&client, &app, "").await;
    let mut stripped = cb.clone();
    let pairs: Vec<(String, String)> = cb
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != "iss")
        .collect();
    stripped.query_pairs_mut().clear().extend_pairs(pairs);
    let r = client.get(stripped).send().await.expect("callback");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.last_event(), "LoginRefused(MissingIssuer)");
    assert_eq!(me(&client, &app).await.status(), StatusCode::UNAUTHORIZED);
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn rp_state_tampered(serve: Serve) {
    let app = start(serve, 60, Duration::from_secs(30)).await;
    let client = browser();
    let cb = callback_url(&client, &app, "").await;
    let state: String = cb
        .query_pairs()
        .find(|(k, _)| k == "state")
        .expect("state")
        .1
        .into_owned();
    // A whole other state names no pending login of this browser (the pending cookie is
    // named after the state's first 16 characters): refused at the lookup.
    let other = "A".repeat(state.len());
    let r = client
        .get(replace_param(&cb, "state", &other))
        .send()
        .await
        .expect("callback");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.last_event(), "LoginRefused(PendingLoginMissing)");
    // Same cookie name (its first 16 characters), another state: the pending login is
    // found, and the constant-time comparison refuses it.
    let tampered = format!("{}{}", &state[..16], "X".repeat(state.len() - 16));
    let r = client
        .get(replace_param(&cb, "state", &tampered))
        .send()
        .await
        .expect("callback");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.last_event(), "LoginRefused(StateMismatch)");
    assert_eq!(me(&client, &app).await.status(), StatusCode::UNAUTHORIZED);
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn rp_callback_replay_refused(serve: Serve) {
    let app = start(serve, 60, Duration::from_secs(30)).await;
    let client = browser();
    let cb = callback_url(&client, &app, "").await;
    let first = client.get(cb.clone()).send().await.expect("callback");
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    // The pending login was consumed: the same response cannot be used twice, even by
    // another browser that stole the URL.
    let r = client.get(cb.clone()).send().await.expect("replay");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.last_event(), "LoginRefused(PendingLoginMissing)");
    assert_eq!(
        me(&client, &app).await.status(),
        StatusCode::OK,
        "a replay does not end the session it started"
    );
    let thief = browser();
    let r = thief.get(cb).send().await.expect("replay elsewhere");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.last_event(), "LoginRefused(PendingLoginMissing)");
    assert_eq!(me(&thief, &app).await.status(), StatusCode::UNAUTHORIZED);
}

/// An acceptance scenario (see the crate docs): `form_post` against the real
/// oidc-provider: the authorization request asks for it, the provider answers with its
/// own auto-posting page (code, state and the RFC 9207 iss in the form), the app
/// refuses that response as a `GET`, and completes it as the browser's cross-origin
/// `POST`.
pub(crate) async fn form_post_against_oidc_provider(serve: Serve) {
    let app = start_configured(serve, json!({}), |b| {
        b.with_response_mode(auth_core::ResponseMode::FormPost)
    })
    .await;
    let client = browser();
    let (page, hops) = sign_in(&client, &app, "?return_to=%2Fme&login_hint=bob").await;
    assert_eq!(page.status(), StatusCode::OK, "{hops:?}");
    assert!(hops[1].contains("response_mode=form_post"), "{hops:?}");
    assert!(
        hops.last().expect("hop").starts_with(&app.provider.issuer),
        "{hops:?}"
    );
    let (action, fields) = posted_form(&page.text().await.expect("page"));
    assert_eq!(action, format!("{}/auth/callback", app.base));
    for name in ["code", "state", "iss"] {
        assert!(fields.iter().any(|(k, _)| k == name), "{name}: {fields:?}");
    }
    let mut as_get = Url::parse(&action).expect("action");
    as_get.query_pairs_mut().extend_pairs(&fields);
    let r = client.get(as_get).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        page_code(&r.text().await.expect("page")),
        "response_mode_mismatch"
    );
    let origin = Url::parse(&app.provider.issuer)
        .expect("issuer")
        .origin()
        .ascii_serialization();
    let r = client
        .post(&action)
        .header("origin", origin)
        .form(&fields)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/me");
    let body: Value = me(&client, &app).await.json().await.expect("json");
    assert_eq!(body["sub"], "bob");
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn rp_return_to_open_redirect_is_dropped(serve: Serve) {
    let app = start(serve, 60, Duration::from_secs(30)).await;
    let client = browser();
    let (last, hops) = sign_in(&client, &app, "?return_to=%2F%2Fevil.example%2Fx").await;
    assert_eq!(last.status(), StatusCode::OK, "{hops:?}");
    assert_eq!(hops.last().expect("hop"), &format!("{}/", app.base));
}

crate::suite! {$
    /// Expands to one `#[tokio::test]` per scenario, each serving the app with `$serve`.
    acceptance_suite(Serve):
        login_lands_on_return_to_and_me_shows_the_user,
        session_cookie_is_http_only_lax_and_new_at_login,
        signup_sends_prompt_create_and_parameters_pass_through,
        access_denied_shows_friendly_page_and_no_session,
        rp_callback_without_pending_login_refused,
        concurrent_requests_after_expiry_share_one_refresh,
        refused_refresh_ends_the_session,
        rp_initiated_logout_clears_session_and_redirects_to_provider,
        backchannel_logout_sent_by_the_provider_ends_the_session,
        rp_backchannel_logout_bad_tokens_refused,
        rp_iss_mismatch_in_authorization_response,
        rp_iss_missing_when_advertised,
        rp_state_tampered,
        rp_callback_replay_refused,
        rp_return_to_open_redirect_is_dropped,
        form_post_against_oidc_provider,
        rp_session_fixation_login_never_keeps_an_earlier_id,
        api_bearer_tokens_from_the_provider_are_validated,
        server_to_server_app_tokens_and_userinfo,
        introspection_against_oidc_provider,
        dev_provider_sign_in_page_return_to_and_sign_out,
        dev_provider_signup_page_shows_the_parameters_sent,
        dev_provider_cancel_gives_the_friendly_page_and_no_session,
        dev_provider_concurrent_requests_after_expiry_share_one_refresh,
        dev_provider_backchannel_logout_ends_the_session,
        dev_provider_frontchannel_logout_ends_the_session,
        dev_provider_access_tokens_are_accepted_as_bearer_tokens,
        dev_provider_opaque_access_tokens_are_introspected,
        dev_provider_spa_reads_the_session_as_json,
        dev_provider_spa_api_needs_the_anti_forgery_header,
        dev_provider_silent_sign_in_returns_without_a_session,
        dev_provider_third_party_initiated_login,
        dev_provider_form_post_signs_in_and_refuses_a_mix_of_modes,
        cluster_signed_in_on_one_instance_is_signed_in_on_the_other,
        cluster_backchannel_logout_on_one_instance_ends_the_session_on_all,
        cluster_forged_logout_marker_in_redis_has_no_effect,
        cluster_logout_and_refresh_reach_every_instance_within_100_ms,
        cluster_ending_a_users_sessions_reaches_every_instance_within_100_ms,
        redis_tls_shared_sessions_refresh_and_logout,
        redis_cluster_shared_sessions_refresh_and_logout,
        redis_cluster_sign_out_reaches_four_instances_within_100_ms,
        redis_sentinel_shared_sessions_refresh_and_logout,
        redis_tls_cluster_shared_sessions_refresh_and_logout,
        redis_tls_sentinel_shared_sessions_refresh_and_logout,
        redis_tls_with_another_ca_is_refused,
        cluster_refresh_is_single_flight_across_instances,
        cluster_sessions_survive_restarting_every_instance,
        cluster_redis_down_answers_503_then_recovers,
        cluster_idle_session_ends_on_every_instance,
        cluster_redis_stalled_is_bounded_by_the_timeout,
        cluster_redis_holds_no_token_claim_or_session_id_in_clear,
}

#[doc(hidden)]
#[macro_export]
macro_rules! __scenarios {
    ($serve:path; $suite:ident; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test]
            async fn $name() {
                $crate::$suite::$name($serve).await
            }
        )*
    };
}

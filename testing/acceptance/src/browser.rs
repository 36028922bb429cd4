//! A real browser: headless Chromium (Debian's `chromium` and `chromium-driver`),
//! driven over WebDriver, signs in through the development provider's page, reloads,
//! signs out. This is where SameSite, cookie-path and redirect mistakes show up.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use auth_testkit::DevProvider;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::Serve;
use crate::dev::start_dev;

/// `chromedriver` on a free loopback port, killed on drop. It and Chromium keep their
/// temporary files (profiles, `scoped_dir`s) in a directory of their own, removed on
/// drop: a browser killed mid-test leaves nothing behind in `/tmp`.
struct ChromeDriver {
    child: Child,
    url: String,
    tmp: std::path::PathBuf,
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

impl ChromeDriver {
    /// Starts `chromedriver` on a port of its own. It cannot be handed a listening
    /// socket, so the port is one the OS just called free; `chromedriver` says on its
    /// standard output that it started on that port, or exits if another process took
    /// it meanwhile: then another port is tried.
    fn start() -> ChromeDriver {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = std::env::temp_dir().join(format!("auth-chromium-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&tmp).expect("a temporary directory for Chromium");
        for _ in 0..10 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let mut child = Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .env("TMPDIR", &tmp)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect(
                    "chromedriver not found: ./scripts/test installs Debian's chromium and \
                     chromium-driver (apt-get install chromium chromium-driver)",
                );
            // Read on another thread until the end, so that its log never fills the pipe.
            let stdout = child.stdout.take().expect("stdout");
            let (started, said) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                use std::io::BufRead;
                let mut started = Some(started);
                for line in std::io::BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if line.contains("started successfully")
                        && let Some(tx) = started.take()
                    {
                        let _ = tx.send(());
                    }
                }
            });
            match said.recv_timeout(Duration::from_secs(20)) {
                Ok(()) => {
                    return ChromeDriver {
                        child,
                        url: format!("http://127.0.0.1:{port}"),
                        tmp,
                    };
                }
                // It exited without starting (the port was taken): another port.
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = child.wait();
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    panic!("chromedriver did not start within 20 s");
                }
            }
        }
        panic!("no port of its own for chromedriver after 10 tries");
    }
}

/// Debian's `chromium` (or another Chromium on `PATH`).
fn chromium_binary() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate.to_string_lossy().into_owned();
            }
        }
    }
    panic!(
        "chromium not found on PATH: ./scripts/test installs Debian's chromium and chromium-driver"
    )
}

async fn wait_for_url(browser: &Client, what: &str, ok: impl Fn(&url::Url) -> bool) -> url::Url {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let url = browser.current_url().await.expect("current url");
        if ok(&url) {
            return url;
        }
        assert!(Instant::now() < deadline, "waiting for {what}, at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The page's text, once it has a body: right after a navigation the URL may already
/// be the new one while its document is still loading.
async fn body_text(browser: &Client) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(body) = browser.find(Locator::Css("body")).await
            && let Ok(text) = body.text().await
        {
            return text;
        }
        assert!(Instant::now() < deadline, "the page never had a body");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the page's text contains `needle` (the page may still be loading).
async fn wait_for_text(browser: &Client, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = body_text(browser).await;
        if text.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waiting for {needle:?}, page: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn screenshot_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir.canonicalize().expect("screenshot dir").join(name)
}

/// A headless Chromium session on `driver`, with `extra` command-line arguments.
async fn chromium(driver: &ChromeDriver, extra: &[String]) -> Client {
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=900,700",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(extra.iter().cloned());
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": chromium_binary(), "args": args },
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// From the public page, signed out: click "Sign in", pick Alice on the provider's
/// page (`issuer`), and land back on the app's `/`, signed in. Returns the provider's
/// page's URL (the authorization request).
async fn sign_in_as_alice(browser: &Client, base: &str, issuer: &str) -> url::Url {
    browser.goto(&format!("{base}/")).await.expect("open /");
    wait_for_text(browser, "You are not signed in.").await;
    browser
        .find(Locator::Css("a[href='/auth/login']"))
        .await
        .expect("sign-in link")
        .click()
        .await
        .expect("click sign in");
    let at_provider = wait_for_url(browser, "the provider's sign-in page", |u| {
        u.as_str().starts_with(&format!("{issuer}/authorize"))
    })
    .await;
    browser
        .find(Locator::Css("button[value='alice']"))
        .await
        .expect("Alice's button")
        .click()
        .await
        .expect("click Alice");
    wait_for_url(browser, "the app after sign-in", |u| {
        u.as_str().starts_with(base) && u.path() == "/"
    })
    .await;
    wait_for_text(browser, "Signed in as Alice Example").await;
    at_provider
}

/// Signs out from the public page (a same-origin POST form), through the provider and
/// back to the app's `/`, signed out.
async fn sign_out(browser: &Client, base: &str) {
    browser.goto(&format!("{base}/")).await.expect("open /");
    browser
        .find(Locator::Css(
            "form[method='post'][action='/auth/logout'] button",
        ))
        .await
        .expect("sign-out button")
        .click()
        .await
        .expect("click sign out");
    wait_for_url(browser, "the app after sign-out", |u| {
        u.as_str().starts_with(base) && u.path() == "/"
    })
    .await;
    wait_for_text(browser, "You are not signed in.").await;
}

/// An acceptance scenario, in headless Chromium: open `/`, click "Sign in", pick a
/// user on the provider's page, land signed in; open the protected `/me`, reload it;
/// sign out; `/me` asks for sign-in again. Screenshots go to
/// `target/browser/<framework>-*.png` (the example's package name without
/// `example-`).
pub(crate) async fn real_browser_signs_in_reloads_and_signs_out(serve: Serve) {
    // Cargo sets the package's variables for the test binaries it runs too.
    let package = std::env::var("CARGO_PKG_NAME").unwrap_or_default();
    let framework = package.strip_prefix("example-").unwrap_or(&package);
    let app = start_dev(serve, DevProvider::builder(), Duration::from_secs(30)).await;
    let driver = ChromeDriver::start();
    let browser = chromium(&driver, &[]).await;
    let base = app.base.clone();
    let issuer = app.provider.issuer().to_owned();

    // 1-3. The public page, signed out; "Sign in"; Alice on the provider's page; back
    // on the app, signed in, with an HttpOnly, SameSite=Lax session cookie.
    sign_in_as_alice(&browser, &base, &issuer).await;
    let signed_in = screenshot_path(&format!("{framework}-signed-in.png"));
    std::fs::write(&signed_in, browser.screenshot().await.expect("screenshot")).expect("write");
    let cookies = browser.get_all_cookies().await.expect("cookies");
    let session = cookies
        .iter()
        .find(|c| c.name().contains("auth_session"))
        .unwrap_or_else(|| panic!("no session cookie in {cookies:?}"));
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(session.same_site(), Some(cookie::SameSite::Lax));
    assert_eq!(session.path(), Some("/"));

    // 4. The protected page, then a reload: still signed in.
    browser.goto(&format!("{base}/me")).await.expect("open /me");
    wait_for_text(&browser, "alice@example.com").await;
    browser.refresh().await.expect("reload");
    let url = browser.current_url().await.expect("url");
    assert_eq!(url.path(), "/me", "a reload keeps the session");
    wait_for_text(&browser, "alice@example.com").await;
    let protected = screenshot_path(&format!("{framework}-protected-page.png"));
    std::fs::write(&protected, browser.screenshot().await.expect("screenshot")).expect("write");

    // 5. Sign out from the public page (a same-origin POST form): through the provider
    // and back.
    sign_out(&browser, &base).await;

    // 6. The protected page asks for sign-in again.
    browser.goto(&format!("{base}/me")).await.expect("open /me");
    wait_for_url(&browser, "the sign-in page again", |u| {
        u.as_str().starts_with(&format!("{issuer}/authorize"))
    })
    .await;
    wait_for_text(&browser, "Pick a test user").await;
    let signed_out = screenshot_path(&format!("{framework}-asked-to-sign-in-again.png"));
    std::fs::write(&signed_out, browser.screenshot().await.expect("screenshot")).expect("write");

    // 7. An app with two providers: "Sign in" opens the chooser; pick provider B, then
    // Bob on B's page; back on the app, signed in by B.
    let two = crate::providers::two_providers_approving(serve, false).await;
    browser
        .goto(&format!("{}/", two.base))
        .await
        .expect("open /");
    browser
        .find(Locator::Css("a[href='/auth/login']"))
        .await
        .expect("sign-in link")
        .click()
        .await
        .expect("click sign in");
    wait_for_text(&browser, "Choose how to continue").await;
    let chooser = screenshot_path(&format!("{framework}-provider-chooser.png"));
    std::fs::write(&chooser, browser.screenshot().await.expect("screenshot")).expect("write");
    browser
        .find(Locator::Css("a.auth-provider[data-provider='b']"))
        .await
        .expect("provider B's link")
        .click()
        .await
        .expect("click provider B");
    let b_issuer = two.b.issuer().to_owned();
    wait_for_url(&browser, "provider B's sign-in page", |u| {
        u.as_str().starts_with(&format!("{b_issuer}/authorize"))
    })
    .await;
    browser
        .find(Locator::Css("button[value='bob']"))
        .await
        .expect("Bob's button")
        .click()
        .await
        .expect("click Bob");
    wait_for_url(&browser, "the two-provider app after sign-in", |u| {
        u.as_str().starts_with(&two.base) && u.path() == "/"
    })
    .await;
    wait_for_text(&browser, "Signed in as Bob Example").await;
    browser
        .goto(&format!("{}/me", two.base))
        .await
        .expect("open /me");
    wait_for_text(&browser, &format!("\"iss\":\"{b_issuer}\"")).await;
    wait_for_text(&browser, "\"provider\":\"b\"").await;
    assert_eq!((two.a.stats().sign_ins, two.b.stats().sign_ins), (0, 1));
    browser.close().await.expect("close");
    eprintln!(
        "screenshots: {}, {}, {}, {}",
        signed_in.display(),
        protected.display(),
        signed_out.display(),
        chooser.display()
    );
    let s = app.provider.stats();
    assert_eq!(
        (s.sign_ins, s.code_grants, s.token_errors),
        (1, 1, 0),
        "{s:?}"
    );
}

/// The app behind a TLS front on loopback, as production runs it behind a
/// TLS-terminating proxy: `APP_URL` is `https://127.0.0.1:<port>`, with a certificate
/// made now (openssl), which Chromium is told to trust by its public key's hash.
struct HttpsFront {
    base: String,
    /// base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo, for
    /// `--ignore-certificate-errors-spki-list`.
    spki_sha256: String,
    dir: PathBuf,
}

impl Drop for HttpsFront {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &std::path::Path, script: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .stderr(Stdio::null())
        .output()
        .expect("openssl (./scripts/test installs it)");
    assert!(out.status.success(), "{script}");
    String::from_utf8(out.stdout)
        .expect("text")
        .trim()
        .to_owned()
}

impl HttpsFront {
    /// Listens on a loopback port; each TLS connection is forwarded to `backend`.
    async fn start(backend: std::net::SocketAddr) -> HttpsFront {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("auth-https-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        openssl(
            &dir,
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
             -keyout key.pem -out cert.pem -days 1 -subj /CN=127.0.0.1 \
             -addext subjectAltName=IP:127.0.0.1",
        );
        let spki_sha256 = openssl(
            &dir,
            "openssl pkey -in key.pem -pubout -outform der | openssl dgst -sha256 -binary | openssl base64 -A",
        );
        let cert = CertificateDer::from_pem_file(dir.join("cert.pem")).expect("cert");
        let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).expect("key");
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("https://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let Ok(mut app) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut app).await;
                });
            }
        });
        HttpsFront {
            base,
            spki_sha256,
            dir,
        }
    }
}

/// An acceptance scenario, in headless Chromium over https: the cookies take their
/// secure form (`__Host-` prefix, `Secure`), which a browser accepts only from a
/// secure origin and only with `Path=/` and no `Domain`. Signing in proves both the
/// pending-login cookie and the session cookie were accepted and sent back (the
/// callback needs the first, `/me` the second); signing out removes the session
/// cookie.
pub(crate) async fn real_browser_over_https_keeps_host_prefixed_secure_cookies(serve: Serve) {
    crate::init();
    let backend = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let front = HttpsFront::start(backend.local_addr().expect("addr")).await;
    let base = front.base.clone();
    let provider = DevProvider::builder()
        .app(&base)
        .start()
        .await
        .expect("dev provider");
    let config = provider.auth_config(&base).build().expect("config");
    let auth = auth_core::Auth::discover(config).await.expect("discovery");
    assert_eq!(auth.session_cookie().name, "__Host-auth_session");
    let _app = serve(auth, backend);
    let issuer = provider.issuer().to_owned();

    let driver = ChromeDriver::start();
    let trust = format!(
        "--ignore-certificate-errors-spki-list={}",
        front.spki_sha256
    );
    let browser = chromium(&driver, &[trust]).await;
    sign_in_as_alice(&browser, &base, &issuer).await;
    let cookies = browser.get_all_cookies().await.expect("cookies");
    let names: Vec<&str> = cookies.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["__Host-auth_session"], "{cookies:?}");
    let session = &cookies[0];
    assert_eq!(session.secure(), Some(true));
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(session.same_site(), Some(cookie::SameSite::Lax));
    assert_eq!(session.path(), Some("/"));
    // WebDriver reports a host-only cookie's domain as the host itself.
    assert!(
        session.domain().is_none_or(|d| d == "127.0.0.1"),
        "{session:?}"
    );

    browser.goto(&format!("{base}/me")).await.expect("open /me");
    wait_for_text(&browser, "alice@example.com").await;

    sign_out(&browser, &base).await;
    let cookies = browser.get_all_cookies().await.expect("cookies");
    assert!(cookies.is_empty(), "signed out: {cookies:?}");
    let _ = browser.close().await;
}

/// Issue 32 (D1): `form_post` in Chromium over https. The app is at
/// `https://localhost:<port>` and the provider at `http://127.0.0.1:<port>`: another
/// site, so the provider page's POST to the callback is a cross-site POST, which a
/// `SameSite=Lax` pending cookie would not reach. Signing in proves the
/// `SameSite=None; Secure` pending cookie was sent with it (the callback needs it),
/// and that the session cookie set in answer to that POST is kept.
pub(crate) async fn real_browser_form_post_over_https_signs_in_cross_site(serve: Serve) {
    crate::init();
    let backend = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let front = HttpsFront::start(backend.local_addr().expect("addr")).await;
    let base = front.base.replace("127.0.0.1", "localhost");
    let provider = DevProvider::builder()
        .app(&base)
        .start()
        .await
        .expect("dev provider");
    let config = provider
        .auth_config(&base)
        .with_response_mode(auth_core::ResponseMode::FormPost)
        .build()
        .expect("config");
    let auth = auth_core::Auth::discover(config).await.expect("discovery");
    let _app = serve(auth, backend);
    let issuer = provider.issuer().to_owned();
    assert!(
        issuer.starts_with("http://127.0.0.1:"),
        "another site: {issuer}"
    );

    let driver = ChromeDriver::start();
    let trust = format!(
        "--ignore-certificate-errors-spki-list={}",
        front.spki_sha256
    );
    let browser = chromium(&driver, &[trust]).await;
    // The provider's page posts the response (its script); the app redirects home.
    let at_provider = sign_in_as_alice(&browser, &base, &issuer).await;
    assert!(
        at_provider
            .query_pairs()
            .any(|(k, v)| k == "response_mode" && v == "form_post"),
        "{at_provider}"
    );
    assert_eq!(provider.stats().code_grants, 1, "the code was used once");
    let cookies = browser.get_all_cookies().await.expect("cookies");
    let names: Vec<&str> = cookies.iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        ["__Host-auth_session"],
        "the pending cookie is gone: {cookies:?}"
    );
    browser.goto(&format!("{base}/me")).await.expect("open /me");
    wait_for_text(&browser, "alice@example.com").await;
    let _ = browser.close().await;
}

/// Issue 31: the examples' single-page app (`/spa`) in Chromium. Signed out, its
/// `fetch("/auth/user")` gets 401 `not_signed_in` (no redirect to follow) and its API
/// call 403 (`X-CSRF` is checked first). Signed in, it reads alice from `/auth/user`,
/// its `POST /bff/echo` with `X-CSRF: 1` answers her `sub` and the object sent, and the
/// same call without the header is refused (403 `csrf_header_required`).
pub(crate) async fn real_browser_spa_reads_the_user_and_calls_its_api(serve: Serve) {
    let app = start_dev(serve, DevProvider::builder(), Duration::from_secs(30)).await;
    let driver = ChromeDriver::start();
    let browser = chromium(&driver, &[]).await;
    let (base, issuer) = (app.base.clone(), app.provider.issuer().to_owned());
    let code = |id: &'static str| {
        let browser = browser.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let text = browser
                    .find(Locator::Id(id))
                    .await
                    .expect(id)
                    .text()
                    .await
                    .expect("text");
                if text != "..." {
                    return text;
                }
                assert!(Instant::now() < deadline, "{id} never answered");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    browser
        .goto(&format!("{base}/spa"))
        .await
        .expect("open /spa");
    assert_eq!(code("user").await, r#"401 {"error":"not_signed_in"}"#);
    assert_eq!(code("echo").await, r#"401 {"error":"not_signed_in"}"#);
    assert_eq!(
        code("forged").await,
        r#"403 {"error":"csrf_header_required"}"#
    );

    sign_in_as_alice(&browser, &base, &issuer).await;
    browser
        .goto(&format!("{base}/spa"))
        .await
        .expect("open /spa");
    let user = code("user").await;
    let (status, json) = user.split_once(' ').expect("status and body");
    assert_eq!(status, "200", "{user}");
    let user: serde_json::Value = serde_json::from_str(json).expect("json");
    assert_eq!(user["sub"], "alice");
    assert_eq!(user["logout_url"], "/auth/logout");
    assert_eq!(
        code("echo").await,
        r#"200 {"body":{"from":"spa"},"sub":"alice"}"#
    );
    assert_eq!(
        code("forged").await,
        r#"403 {"error":"csrf_header_required"}"#
    );
    let package = std::env::var("CARGO_PKG_NAME").unwrap_or_default();
    let framework = package.strip_prefix("example-").unwrap_or(&package);
    let shot = screenshot_path(&format!("{framework}-spa.png"));
    std::fs::write(&shot, browser.screenshot().await.expect("screenshot")).expect("write");
    browser.close().await.expect("close");
}

crate::suite! {$
    /// The browser suite, in a test binary of its own (it starts Chromium).
    browser_suite(Serve):
        real_browser_signs_in_reloads_and_signs_out,
        real_browser_over_https_keeps_host_prefixed_secure_cookies,
        real_browser_form_post_over_https_signs_in_cross_site,
        real_browser_spa_reads_the_user_and_calls_its_api,
}

//! Nothing secret leaks: a complete flow (sign-in, refresh, a bearer call, callback
//! errors, logout) with every crate's tracing at TRACE, after which every secret the
//! provider saw or issued (codes, PKCE verifiers, access, refresh and ID tokens), the
//! client secret, the session id and the bearer token are looked for in the captured
//! logs, in what the app answered, and in `Debug` output.
//!
//! Run it in a test binary of its own: it installs the process-wide subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::cookie::Jar;
use serde_json::{Value, json};
use tracing_subscriber::fmt::format::FmtSpan;

use crate::{API, API_SCOPE, SECRET, Serve, browser_with, service_token, session_id, start_with};

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs a process-wide subscriber that keeps every event and span of every crate
/// at TRACE (fields included), and returns what it has captured so far.
pub(crate) fn capture_all_logs() -> Arc<Mutex<Vec<u8>>> {
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buf);
        use tracing_subscriber::filter::{LevelFilter, Targets};
        use tracing_subscriber::prelude::*;
        // Every crate at TRACE but `cookie_store`: the test browser's cookie jar (it logs
        // the cookies it stores; the app's own HTTP client keeps no cookies).
        let filter = Targets::new()
            .with_default(LevelFilter::TRACE)
            .with_target("cookie_store", LevelFilter::OFF);
        let layer = tracing_subscriber::fmt::layer()
            .with_span_events(FmtSpan::FULL)
            .with_ansi(false)
            .with_writer(move || Capture(Arc::clone(&writer)));
        let _ = tracing_subscriber::registry()
            .with(layer.with_filter(filter))
            .try_init();
        buf
    })
    .clone()
}

/// Everything the app answered: headers and body, but the two places a secret goes by
/// design: `Set-Cookie` (the session id) and the logout redirect (the ID token as
/// `id_token_hint`).
async fn record(out: &mut String, r: reqwest::Response) -> StatusCode {
    let status = r.status();
    let logout = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .is_some_and(|l| l.contains("id_token_hint"));
    for (name, value) in r.headers() {
        if !(logout && name == "location") && name != "set-cookie" {
            out.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("")));
        }
    }
    out.push_str(&r.text().await.unwrap_or_default());
    status
}

/// The leak scenario (see the module docs).
pub(crate) async fn no_secret_in_trace_logs_pages_or_debug(serve: Serve) {
    let logs = capture_all_logs();
    let app = start_with(
        serve,
        json!({ "access_token_ttl": 4, "api_resources": { API: API_SCOPE } }),
        Duration::from_secs(3),
    )
    .await;
    let jar = Arc::new(Jar::default());
    let client = browser_with(Arc::clone(&jar));
    let mut pages = String::new();

    // Sign in (every hop's answer from the app is recorded), use the session, let it
    // refresh, use it again.
    let mut url =
        url::Url::parse(&format!("{}/auth/login?return_to=%2Fme", app.base)).expect("url");
    for _ in 0..20 {
        let r = client.get(url.clone()).send().await.expect("hop");
        let from_app = url.as_str().starts_with(&app.base);
        let next = r
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        if from_app {
            record(&mut pages, r).await;
        }
        let Some(next) = next else { break };
        url = url.join(&next).expect("join");
    }
    let me = |client: &reqwest::Client| {
        client
            .get(format!("{}/me", app.base))
            .header("accept", "application/json")
            .send()
    };
    assert_eq!(
        record(&mut pages, me(&client).await.expect("me")).await,
        StatusCode::OK
    );
    // The access token lives 4 s and is refreshed 3 s before it expires: used until
    // the provider has seen the refresh (bounded), then once more.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while crate::stats(&app).await["refresh_grants_ok"].as_u64() == Some(0) {
        assert!(std::time::Instant::now() < deadline, "no refresh");
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            record(&mut pages, me(&client).await.expect("me")).await,
            StatusCode::OK
        );
    }
    assert_eq!(
        record(&mut pages, me(&client).await.expect("me")).await,
        StatusCode::OK
    );
    let sid = session_id(&jar, &app).expect("signed in");

    // A bearer call, and a bad one.
    let token = service_token(&app, API, API_SCOPE).await;
    for auth in [format!("Bearer {token}"), format!("Bearer {token}x")] {
        let r = client
            .get(format!("{}/api/me", app.base))
            .header("authorization", auth)
            .send()
            .await
            .expect("api");
        record(&mut pages, r).await;
    }

    // Callback errors: a tampered state, a replayed code, a provider error.
    let stats: Value = crate::stats(&app).await;
    let code = stats["token_secrets"][0]
        .as_str()
        .expect("the code")
        .to_string();
    for query in [
        format!("code={code}&state=tampered"),
        "error=access_denied&error_description=nope&state=x".to_string(),
    ] {
        let r = client
            .get(format!("{}/auth/callback?{query}", app.base))
            .send()
            .await
            .expect("callback");
        record(&mut pages, r).await;
    }

    // Sign out.
    let r = client
        .get(format!("{}/auth/logout", app.base))
        .send()
        .await
        .expect("logout");
    record(&mut pages, r).await;

    let debug = format!("{:?}\n{:?}", app.auth, app.auth.config());
    let stats: Value = crate::stats(&app).await;
    let mut secrets: Vec<String> = stats["token_secrets"]
        .as_array()
        .expect("token secrets")
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    assert!(
        secrets.len() >= 6,
        "the flow saw a code, a verifier and tokens, refreshed, and got a bearer token: {secrets:?}"
    );
    secrets.extend([SECRET.to_string(), sid, token]);
    // Each route and the refresh ran in a span of its own, with its outcome. A span's
    // last event may land just after its response: wait for all of them (bounded).
    let spans = [
        ("auth.login", "redirected"),
        ("auth.callback", "signed_in"),
        ("auth.callback", "login_expired"),
        ("auth.refresh", "refreshed"),
        ("auth.logout", "signed_out"),
    ];
    let captured =
        || String::from_utf8_lossy(&logs.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    let missing = |logs: &str| {
        spans
            .iter()
            .filter(|(span, outcome)| {
                !logs
                    .lines()
                    .any(|l| l.contains(&format!("{span}{{")) && l.contains(outcome))
            })
            .copied()
            .collect::<Vec<_>>()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let logs = loop {
        let logs = captured();
        let absent = missing(&logs);
        if absent.is_empty() {
            break logs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no span with these outcomes: {absent:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        logs.contains("auth_core") && logs.len() > 10_000,
        "TRACE capture is on ({} bytes)",
        logs.len()
    );
    for secret in &secrets {
        for (what, text) in [("logs", &logs), ("pages", &pages), ("Debug output", &debug)] {
            if let Some(at) = text.find(secret.as_str()) {
                let from = text[..at]
                    .char_indices()
                    .rev()
                    .nth(200)
                    .map_or(0, |(i, _)| i);
                panic!(
                    "a secret ({}...) is in the {what}: ...{}...",
                    &secret[..secret.len().min(8)],
                    &text[from..(at + secret.len()).min(text.len())]
                );
            }
        }
    }
}

crate::suite! {$
    /// The leak suite, in a test binary of its own: it captures every log line of its
    /// process.
    leaks_suite(Serve):
        no_secret_in_trace_logs_pages_or_debug,
}

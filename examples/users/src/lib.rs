//! The examples' own users, kept in SQLite at `DATABASE_URL`: the sign-in hook that
//! finds or creates the local user of a provider's identity (and refuses unverified
//! emails and blocked users), the admin's list and block, and the audit log at
//! `AUDIT_LOG`. Framework-free: the axum and actix-web examples share it.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use auth_core::{AuthConfigBuilder, AuthEvent, SignIn, SignInDecision};
use serde::{Deserialize, Serialize};

/// A local user, as `GET /admin/users` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    /// The local id (`usr_...`).
    pub user_id: String,
    /// The issuer of the provider's identity.
    pub iss: String,
    /// The provider's id of the user.
    pub sub: String,
    /// The email the provider gave at the last sign-in.
    pub email: Option<String>,
    /// Blocked users cannot sign in.
    pub blocked: bool,
    /// The provider that signed the user in (`None`: the one provider).
    #[serde(skip)]
    pub provider: Option<String>,
}

/// What the example keeps in each session (the sign-in hook's app data).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LocalUser {
    /// The local id.
    pub user_id: String,
}

/// Why a sign-in is refused (the page and the audit log show it).
pub const EMAIL_NOT_VERIFIED: &str = "email_not_verified";
/// Why a blocked user's sign-in is refused.
pub const USER_BLOCKED: &str = "user_blocked";

/// The users table, behind one connection (SQLite serializes writes anyway).
#[derive(Clone)]
pub struct Users(Arc<Mutex<rusqlite::Connection>>);

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Users(..)")
    }
}

/// A database error, as the examples report it.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

impl Users {
    /// Opens (and creates when missing) the database of `database_url`: `sqlite:path`,
    /// `sqlite://path`, `sqlite:///absolute/path` or `sqlite::memory:`.
    pub fn open(database_url: &str) -> Result<Self, Error> {
        let conn = match sqlite_path(database_url)? {
            None => rusqlite::Connection::open_in_memory()?,
            Some(path) => rusqlite::Connection::open(path)?,
        };
        // Two instances of the example may share the file.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS users (
                 user_id TEXT PRIMARY KEY,
                 provider TEXT,
                 iss TEXT NOT NULL,
                 sub TEXT NOT NULL,
                 email TEXT,
                 blocked INTEGER NOT NULL DEFAULT 0,
                 UNIQUE (iss, sub)
             );",
        )?;
        Ok(Self(Arc::new(Mutex::new(conn))))
    }

    /// The database of `DATABASE_URL` (default `sqlite://example.db`).
    pub fn from_env() -> Result<Self, Error> {
        let url = std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "sqlite://example.db".into());
        Self::open(&url)
    }

    /// Runs `f` on the connection, off the async runtime's threads.
    async fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, Error> {
        let conn = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn)
        })
        .await?
        .map_err(Into::into)
    }

    /// The sign-in hook: refuses an `email_verified: false` ID token before anything is
    /// created, finds or creates the local user of (`iss`, `sub`), refuses a blocked
    /// one, and lets the others in with their local id.
    pub async fn decide(&self, who: SignIn) -> Result<SignInDecision, Error> {
        if who.claims().get("email_verified") == Some(serde_json::Value::Bool(false)) {
            return Ok(SignInDecision::deny_because(EMAIL_NOT_VERIFIED));
        }
        let (iss, sub) = (who.iss().to_owned(), who.sub().to_owned());
        let provider = who.provider().map(str::to_owned);
        let email = who.claims().email().map(str::to_owned);
        let fresh = new_user_id()?;
        let (user_id, blocked) = self
            .with(move |c| {
                c.execute(
                    "INSERT INTO users (user_id, provider, iss, sub, email) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (iss, sub) DO UPDATE SET email = COALESCE(excluded.email, users.email)",
                    rusqlite::params![fresh, provider, iss, sub, email],
                )?;
                c.query_row(
                    "SELECT user_id, blocked FROM users WHERE iss = ?1 AND sub = ?2",
                    rusqlite::params![iss, sub],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)),
                )
            })
            .await?;
        if blocked {
            return Ok(SignInDecision::deny_because(USER_BLOCKED));
        }
        Ok(SignInDecision::allow()
            .with_user_id(user_id.clone())
            .with_app_data(&LocalUser { user_id })?)
    }

    /// Every local user.
    pub async fn list(&self) -> Result<Vec<User>, Error> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT user_id, iss, sub, email, blocked, provider FROM users ORDER BY rowid",
            )?;
            let rows = stmt.query_map([], user_of_row)?;
            rows.collect()
        })
        .await
    }

    /// The local user `user_id`.
    pub async fn get(&self, user_id: &str) -> Result<Option<User>, Error> {
        let id = user_id.to_owned();
        self.with(move |c| {
            use rusqlite::OptionalExtension as _;
            c.query_row(
                "SELECT user_id, iss, sub, email, blocked, provider FROM users WHERE user_id = ?1",
                [id],
                user_of_row,
            )
            .optional()
        })
        .await
    }

    /// Blocks or unblocks `user_id`; the user, or `None` when there is none.
    pub async fn set_blocked(&self, user_id: &str, blocked: bool) -> Result<Option<User>, Error> {
        let id = user_id.to_owned();
        self.with(move |c| {
            c.execute(
                "UPDATE users SET blocked = ?1 WHERE user_id = ?2",
                rusqlite::params![blocked, id],
            )
        })
        .await?;
        self.get(user_id).await
    }
}

fn user_of_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        user_id: r.get(0)?,
        iss: r.get(1)?,
        sub: r.get(2)?,
        email: r.get(3)?,
        blocked: r.get(4)?,
        provider: r.get(5)?,
    })
}

/// `usr_` and 22 random URL-safe characters (128 bits).
fn new_user_id() -> Result<String, Error> {
    use base64::Engine as _;
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| "no system randomness")?;
    Ok(format!(
        "usr_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The file of a `sqlite:` URL (`None`: in memory).
fn sqlite_path(url: &str) -> Result<Option<PathBuf>, Error> {
    let rest = url
        .strip_prefix("sqlite:")
        .ok_or("DATABASE_URL must be an sqlite: URL")?;
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    if rest == ":memory:" || rest == "//:memory:" {
        return Ok(None);
    }
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() {
        return Err("DATABASE_URL names no file".into());
    }
    Ok(Some(PathBuf::from(path)))
}

/// One of the user's sessions, as `GET /account/sessions` lists it.
#[derive(Clone, Debug, Serialize)]
pub struct SessionView {
    /// The session's handle: opaque, never a cookie.
    pub id: String,
    /// When the user signed in (seconds since the epoch).
    pub created_at: i64,
    /// When the session was last used, as recorded.
    pub last_seen: i64,
    /// Whether it is the session of the request.
    pub current: bool,
    /// The browser it was created from.
    pub user_agent: Option<String>,
}

/// `list` (newest first) as `GET /account/sessions` answers it, `current` marked.
pub fn session_views(list: Vec<auth_core::SessionInfo>, current: Option<&str>) -> Vec<SessionView> {
    list.into_iter()
        .map(|s| SessionView {
            current: current == Some(s.id.as_str()),
            id: s.id,
            created_at: s.created_at,
            last_seen: s.last_seen,
            user_agent: s.user_agent,
        })
        .collect()
}

/// The audit log at `AUDIT_LOG`: one JSON object per line per event.
#[derive(Clone)]
pub struct AuditLog(Arc<Mutex<std::fs::File>>);

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog(..)")
    }
}

impl AuditLog {
    /// Appends to `path` (created when missing).
    pub fn open(path: &str) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self(Arc::new(Mutex::new(file))))
    }

    /// The log of `AUDIT_LOG`, if set.
    pub fn from_env() -> std::io::Result<Option<Self>> {
        std::env::var("AUDIT_LOG")
            .ok()
            .filter(|p| !p.is_empty())
            .map(|p| Self::open(&p))
            .transpose()
    }

    /// Writes `event` as one line, when an audit trail keeps it.
    pub fn record(&self, event: &AuthEvent<'_>) {
        let Some(record) = event.audit() else {
            return;
        };
        #[derive(Serialize)]
        struct Line<'a> {
            #[serde(flatten)]
            record: auth_core::AuditRecord<'a>,
            at: u64,
        }
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let Ok(mut line) = serde_json::to_vec(&Line { record, at }) else {
            return;
        };
        line.push(b'\n');
        let mut file = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = file.write_all(&line) {
            tracing::error!(error = %e, "could not write the audit log");
        }
    }
}

/// The example's configuration on top of `builder`: the users' sign-in hook, the audit
/// log when there is one, and a start that does not wait for the provider (it is
/// retried in the background; `/auth/health` answers 503 meanwhile).
pub fn configure(
    builder: AuthConfigBuilder,
    users: &Users,
    audit: Option<AuditLog>,
) -> AuthConfigBuilder {
    let users = users.clone();
    let builder = builder
        .with_start_while_provider_down(true)
        .with_sign_in_hook(move |who| {
            let users = users.clone();
            async move { users.decide(who).await }
        });
    match audit {
        Some(log) => builder.with_event_hook(move |e| log.record(e)),
        None => builder,
    }
}

/// `GET /spa`: a single-page app in one file. Its script asks `/auth/user` who is
/// signed in, then calls `POST /bff/echo` with the anti-forgery header and once
/// without, and shows each answer (the browser suite reads them).
pub const SPA_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SPA example</title></head>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto">
<h1>Single-page app</h1>
<p>Who: <code id="user">...</code></p>
<p>API with X-CSRF: <code id="echo">...</code></p>
<p>API without it: <code id="forged">...</code></p>
<script>
const show = async (id, response) =>
  (document.getElementById(id).textContent = response.status + " " + (await response.text()));
(async () => {
  await show("user", await fetch("/auth/user"));
  const post = (headers) => fetch("/bff/echo", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ from: "spa" }),
  });
  await show("echo", await post({ "X-CSRF": "1" }));
  await show("forged", await post({}));
})();
</script>
</body></html>
"#;

/// The API of `REMOTE_API_URL`, when set: a single-page app reaches it through the
/// example at `/bff/remote/` with the user's access token.
/// `REMOTE_API_TIMEOUT_SECS` bounds each forwarded call (default 10).
pub fn remote_api_from_env() -> Result<Option<auth_core::RemoteApi>, auth_core::ConfigError> {
    let url = match std::env::var("REMOTE_API_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => return Ok(None),
    };
    let api = auth_core::RemoteApi::new(&url)?;
    match std::env::var("REMOTE_API_TIMEOUT_SECS") {
        Ok(secs) => {
            let secs = secs
                .trim()
                .parse()
                .map_err(|_| auth_core::ConfigError::Invalid {
                    name: "REMOTE_API_TIMEOUT_SECS",
                    reason: "expected whole seconds".into(),
                })?;
            api.with_timeout(std::time::Duration::from_secs(secs))
                .map(Some)
        }
        Err(_) => Ok(Some(api)),
    }
}

/// The Prometheus recorder of the process, installed at the first call (call it before
/// `Auth::discover`, so that the library's metrics carry their descriptions).
/// `auth_provider_request_duration_seconds` is exported as a histogram.
pub fn metrics() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(
                    "auth_provider_request_duration_seconds".into(),
                ),
                &[
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            )
            .expect("buckets are given")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder installed first (an app's own) keeps recording; this one
        // then renders nothing.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was installed already: /metrics shows nothing");
        }
        handle
    })
}

/// `GET /metrics`: the Prometheus text format (0.0.4).
pub fn render_metrics() -> String {
    let handle = metrics();
    // Upkeep at each scrape: histograms' samples are folded in as they are exported.
    handle.run_upkeep();
    handle.render()
}

/// The content type of [`render_metrics`].
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_name_their_file() {
        let path = |u: &str| sqlite_path(u).expect("url");
        assert_eq!(path("sqlite://example.db"), Some("example.db".into()));
        assert_eq!(path("sqlite:example.db"), Some("example.db".into()));
        assert_eq!(
            path("sqlite:///tmp/x.db?mode=rwc"),
            Some("/tmp/x.db".into())
        );
        assert_eq!(path("sqlite::memory:"), None);
        assert!(sqlite_path("postgres://x").is_err());
    }
}

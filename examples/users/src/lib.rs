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
             );
             CREATE TABLE IF NOT EXISTS providers (
                 id TEXT PRIMARY KEY,
                 issuer TEXT NOT NULL,
                 client_id TEXT NOT NULL,
                 client_secret_sealed TEXT NOT NULL,
                 name TEXT NOT NULL,
                 domains TEXT NOT NULL
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

/// A provider an admin added while the app runs (`POST /admin/providers`), as
/// `GET /admin/providers` lists it: never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AddedProvider {
    /// Its id in the routes (`/auth/login/{id}`).
    pub id: String,
    /// Its issuer.
    pub issuer: String,
    /// Its label on the chooser.
    pub name: String,
    /// The email domains it serves.
    pub domains: Vec<String>,
}

/// `POST /admin/providers`'s JSON body.
#[derive(Clone, Debug, Deserialize)]
pub struct NewProvider {
    /// `[a-z0-9-]{1,32}`.
    pub id: String,
    /// The issuer (its discovery document is fetched before it is added).
    pub issuer: String,
    /// The app's client id there.
    pub client_id: String,
    /// The app's client secret there (kept sealed under `APP_SECRET`).
    pub client_secret: String,
    /// The label (default: the id).
    #[serde(default)]
    pub name: Option<String>,
    /// The email domains it serves (home-realm discovery).
    #[serde(default)]
    pub domains: Vec<String>,
}

/// Why an admin's change of providers was refused: the status and the JSON answer's
/// `error` and `message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// 400, 404, 409, 422, or 503 (the database).
    pub status: u16,
    /// A stable code.
    pub error: &'static str,
    /// What to fix.
    pub message: String,
}

impl Refusal {
    fn new(status: u16, error: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            message: message.into(),
        }
    }

    fn database(e: &Error) -> Self {
        tracing::error!(error = %e, "the providers table failed");
        Self::new(
            503,
            "temporarily_unavailable",
            "the database is unavailable",
        )
    }
}

/// The sealing context of a provider's client secret.
fn secret_context(id: &str) -> String {
    format!("providers/{id}")
}

/// The builder of a provider of the table.
fn provider_builder(
    id: &str,
    issuer: &str,
    client_id: &str,
    secret: &str,
    name: &str,
    domains: &[String],
) -> auth_core::ProviderConfigBuilder {
    auth_core::ProviderConfig::builder(id, issuer, client_id)
        .with_client_secret(secret)
        .with_name(name)
        .with_domains(domains.iter().cloned())
}

impl Users {
    /// `POST /admin/providers`: checks and discovers the provider, adds it on this
    /// instance, then keeps it in the table (its secret sealed) for the other instances
    /// and restarts. 400 for bad settings, 409 for an id of the environment or one taken
    /// and a domain another provider serves, 422 when its discovery fails (with why).
    pub async fn add_provider(
        &self,
        auth: &auth_core::Auth,
        new: NewProvider,
    ) -> Result<AddedProvider, Refusal> {
        use auth_core::AddProviderError as E;
        let name = new
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| new.id.clone());
        if new.client_secret.is_empty() || new.client_id.is_empty() {
            return Err(Refusal::new(
                400,
                "invalid_provider",
                "client_id and client_secret are required",
            ));
        }
        let builder = provider_builder(
            &new.id,
            &new.issuer,
            &new.client_id,
            &new.client_secret,
            &name,
            &new.domains,
        );
        auth.add_provider(builder).await.map_err(|e| match e {
            E::Configured(_) | E::Duplicate(_) => {
                Refusal::new(409, "provider_exists", e.to_string())
            }
            E::DomainTaken { .. } => Refusal::new(409, "domain_taken", e.to_string()),
            E::Discovery(_) => Refusal::new(422, "discovery_failed", e.to_string()),
            _ => Refusal::new(400, "invalid_provider", e.to_string()),
        })?;
        let sealed = auth.seal_app_secret(&secret_context(&new.id), &new.client_secret);
        let domains: Vec<String> = new
            .domains
            .iter()
            .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
            .collect();
        let row = (
            new.id.clone(),
            new.issuer.clone(),
            new.client_id.clone(),
            sealed,
            name.clone(),
            domains.join(","),
        );
        let stored = self
            .with(move |c| {
                c.execute(
                    "INSERT INTO providers (id, issuer, client_id, client_secret_sealed, name, domains)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
                    rusqlite::params![row.0, row.1, row.2, row.3, row.4, row.5],
                )
            })
            .await;
        match stored {
            Ok(1) => Ok(AddedProvider {
                id: new.id,
                issuer: new.issuer,
                name,
                domains,
            }),
            // Another instance added this id meanwhile: its row is the one kept.
            Ok(_) => {
                let _ = auth.remove_provider(&new.id).await;
                Err(Refusal::new(
                    409,
                    "provider_exists",
                    format!("a provider named {:?} exists", new.id),
                ))
            }
            Err(e) => {
                let _ = auth.remove_provider(&new.id).await;
                Err(Refusal::database(&e))
            }
        }
    }

    /// `GET /admin/providers`: the providers added while the app runs.
    pub async fn providers(&self) -> Result<Vec<AddedProvider>, Error> {
        self.with(|c| {
            let mut stmt =
                c.prepare("SELECT id, issuer, name, domains FROM providers ORDER BY id")?;
            let rows = stmt.query_map([], |r| {
                let domains: String = r.get(3)?;
                Ok(AddedProvider {
                    id: r.get(0)?,
                    issuer: r.get(1)?,
                    name: r.get(2)?,
                    domains: domains
                        .split(',')
                        .filter(|d| !d.is_empty())
                        .map(str::to_owned)
                        .collect(),
                })
            })?;
            rows.collect()
        })
        .await
    }

    /// `DELETE /admin/providers/{id}`: out of the table, and stopped on this instance
    /// (the others at their next listing of the table, within 2 s); its users' sessions
    /// end at their next request on every instance. 404 for an id no admin added, 409
    /// for one of the environment.
    pub async fn remove_provider(&self, auth: &auth_core::Auth, id: &str) -> Result<(), Refusal> {
        if auth.config().providers().iter().any(|p| p.id() == Some(id)) {
            return Err(Refusal::new(
                409,
                "provider_from_environment",
                format!("provider {id:?} comes from the environment"),
            ));
        }
        let key = id.to_owned();
        let deleted = self
            .with(move |c| c.execute("DELETE FROM providers WHERE id = ?1", [key]))
            .await
            .map_err(|e| Refusal::database(&e))?;
        let stopped = auth.remove_provider(id).await.unwrap_or_else(|e| {
            tracing::warn!(provider = %id, error = %e, "the end of its sessions is not shared yet: each instance ends them when it stops the provider");
            true
        });
        if deleted == 0 && !stopped {
            return Err(Refusal::new(
                404,
                "unknown_provider",
                format!("no provider named {id:?}"),
            ));
        }
        Ok(())
    }

    /// The table's providers, their secrets opened with the app's key (a row whose
    /// secret does not open is left out, and logged).
    async fn table_providers(
        &self,
        auth: &auth_core::Auth,
        id: Option<String>,
    ) -> Result<Vec<auth_core::ProviderConfigBuilder>, Error> {
        type Row = (String, String, String, String, String, String);
        let rows: Vec<Row> = self
            .with(move |c| {
                let mut stmt = c.prepare(
                    "SELECT id, issuer, client_id, client_secret_sealed, name, domains
                     FROM providers WHERE ?1 IS NULL OR id = ?1",
                )?;
                let rows = stmt.query_map([id], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })?;
                rows.collect()
            })
            .await?;
        let mut providers = Vec::new();
        for (id, issuer, client_id, sealed, name, domains) in rows {
            let Some(secret) = auth.open_app_secret(&secret_context(&id), &sealed) else {
                tracing::error!(provider = %id, "its client secret does not open with APP_SECRET: not served");
                continue;
            };
            let domains: Vec<String> = domains
                .split(',')
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect();
            providers.push(provider_builder(
                &id, &issuer, &client_id, &secret, &name, &domains,
            ));
        }
        Ok(providers)
    }
}

/// The providers table is the app's provider source: every instance serves what it
/// holds (listed every 2 s, an id it does not serve yet looked up at once), and each
/// restart too.
impl auth_core::ProviderSource for Users {
    fn providers<'a>(
        &'a self,
        auth: &'a auth_core::Auth,
    ) -> auth_core::SourceFuture<'a, Vec<auth_core::ProviderConfigBuilder>> {
        Box::pin(self.table_providers(auth, None))
    }

    fn provider<'a>(
        &'a self,
        auth: &'a auth_core::Auth,
        id: &'a str,
    ) -> auth_core::SourceFuture<'a, Option<auth_core::ProviderConfigBuilder>> {
        Box::pin(async move {
            let found = self.table_providers(auth, Some(id.to_owned())).await?;
            Ok(found.into_iter().next())
        })
    }
}

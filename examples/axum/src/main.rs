//! Sign in with any OpenID provider in an axum app.
//!
//! ```text
//! OIDC_ISSUER=https://id.example.com OIDC_CLIENT_ID=… OIDC_CLIENT_SECRET=… \
//! APP_URL=http://127.0.0.1:3000 PORT=3000 cargo run -p example-axum
//! ```
//!
//! With no `OIDC_ISSUER` it starts a development provider of its own (auth-testkit,
//! test users alice, bob and eve) and prints the URL to open: `cargo run -p example-axum`.
//!
//! Reads `OIDC_ISSUER`, `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET`, `APP_URL`, `PORT`
//! (default 3000), and optionally `APP_SECRET` (hex, >= 32 bytes) and `REDIS_URL`
//! (sessions, logouts and refreshes shared through Redis, for several instances). `OIDC_API_AUDIENCE`
//! enables bearer tokens on `GET /api/me`. `GET /admin` needs the role `admin`,
//! `GET /reports` the permission `reports:read`, `GET /sensitive` a sign-in within the
//! last 300 s (the development provider's alice has all three, bob none); the roles,
//! organization and permissions come from the claims of `OIDC_PROVIDER`'s kind, or from
//! `OIDC_ROLES_CLAIM`, `OIDC_ORGANIZATION_CLAIM`, `OIDC_PERMISSIONS_CLAIM`. `./scripts/demo`
//! starts a local provider and this app together.
//! Several providers: `OIDC_PROVIDERS=a,b` with `OIDC_A_ISSUER`, `OIDC_A_CLIENT_ID`,
//! `OIDC_A_CLIENT_SECRET`... (`/auth/login` is then a chooser, `/auth/login/{id}` starts
//! at one). The enterprise client: `OIDC_CLIENT_AUTH=private_key_jwt` with
//! `OIDC_CLIENT_PRIVATE_KEY_FILE`, `OIDC_PAR=1`, `OIDC_DPOP=1`, or all of them with
//! `OIDC_PROFILE=fapi2`.
//!
//! The app's own users live in SQLite at `DATABASE_URL` (default `sqlite://example.db`):
//! a first sign-in creates one (`/me` shows its `user_id`), an `email_verified: false`
//! ID token or a blocked user is refused (403 `sign_in_refused`). `GET /admin/users`,
//! `POST /admin/users/{user_id}/sign-out|block|unblock` (role `admin`), and the user's
//! own `GET /account/sessions`, `POST /account/sessions/{id}/revoke` and
//! `POST /account/sessions/revoke-others`. `AUDIT_LOG=<file>` appends one JSON line per
//! event. Signing out revokes the refresh token where the provider can
//! (`OIDC_REVOKE_ON_LOGOUT=0` turns it off). `GET /auth/health` tells a load balancer
//! whether the instance can sign users in; `GET /metrics` is Prometheus's.
//! For a single-page app (`GET /spa` is one, in a page): `GET /auth/user` (the session
//! as JSON), `POST /bff/echo` (an
//! API guarded by the session and `X-CSRF: 1`), and with `REMOTE_API_URL` every method
//! under `/bff/remote/` forwarded to that API with the user's token
//! (`REMOTE_API_TIMEOUT_SECS`, default 10).

use auth_axum::Auth;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The message, not the error's Debug: what an operator reads at start.
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    // Without OIDC_ISSUER: a development provider, in this process (auth-testkit).
    // The app's own users (DATABASE_URL, default sqlite://example.db) decide who gets
    // in at sign-in; AUDIT_LOG (a file) gets one JSON line per sign-in, sign-out,
    // refresh and ended session.
    // The Prometheus recorder first, so that the library's metrics are described.
    example_users::metrics();
    let users = example_users::Users::from_env().map_err(|e| e.to_string())?;
    let audit = example_users::AuditLog::from_env()?;
    let (builder, dev_provider) =
        auth_testkit::builder_from_env_or_dev_provider(&format!("http://127.0.0.1:{port}"))
            .await
            .map_err(|e| e.to_string())?;
    let config = example_users::configure(builder, &users, audit).build()?;
    // REMOTE_API_URL: the API a single-page app reaches at /bff/remote/ with the user's
    // token (the backend-for-frontend pattern).
    let remote = example_users::remote_api_from_env()?;
    let auth = Auth::discover(config).await?;
    // Providers an admin added while the app ran (POST /admin/providers), from the
    // database: now, every 2 s (another instance's changes), and any id asked for.
    if let Err(e) = auth.use_provider_source(users.clone()).await {
        tracing::error!(error = %e, "the providers table could not be read");
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(
        "listening on http://127.0.0.1:{port} (APP_URL {})",
        auth.config().app_url()
    );
    if let Some(p) = &dev_provider {
        println!(
            "\nOpen {} and sign in as a test user (alice, bob, or eve whose email is unverified).\n\
             The development provider at {} is for development only; set OIDC_ISSUER,\n\
             OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and APP_URL to use a real one.\n",
            auth.config().app_url(),
            p.issuer()
        );
    }
    axum::serve(listener, example_axum::app(auth, users, remote)).await?;
    Ok(())
}

//! Sign in with any OpenID provider in an axum app.
//!
//! ```text
//! OIDC_ISSUER=https://id.example.com OIDC_CLIENT_ID=… OIDC_CLIENT_SECRET=… \
//! APP_URL=http://127.0.0.1:3000 PORT=3000 cargo run -p example-axum
//! ```
//!
//! Reads `OIDC_ISSUER`, `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET`, `APP_URL`, `PORT`
//! (default 3000), and optionally `APP_SECRET` (hex, >= 32 bytes) and `REDIS_URL`
//! (sessions, logouts and refreshes shared through Redis, for several instances). `OIDC_API_AUDIENCE`
//! enables bearer tokens on `GET /api/me`. `./scripts/demo`
//! starts a local provider and this app together.

use auth_axum::{Auth, AuthConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = AuthConfig::from_env()?;
    let auth = Auth::discover(config).await?;
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(
        "listening on http://127.0.0.1:{port} (APP_URL {})",
        auth.config().app_url()
    );
    axum::serve(listener, example_axum::app(auth)).await?;
    Ok(())
}

//! The development provider on its own, for apps in any language:
//!
//! ```text
//! APP_URL=http://127.0.0.1:3000 PORT=3001 cargo run -p auth-testkit
//! ```
//!
//! Registers the app at `APP_URL` (default `http://127.0.0.1:3000`) as client
//! `CLIENT_ID` (default `dev-client`) with secret `CLIENT_SECRET` (default: random,
//! printed), listens on `127.0.0.1:PORT` (default 3001) and prints the settings for the
//! app. `AUTO_APPROVE=1` skips the sign-in page. Never use it in production.

use std::time::Duration;

use auth_testkit::{ClientRegistration, DevProvider};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let app_url = env("APP_URL").unwrap_or_else(|| "http://127.0.0.1:3000".into());
    let port: u16 = env("PORT").map_or(Ok(3001), |p| p.parse())?;
    let client_id = env("CLIENT_ID").unwrap_or_else(|| auth_testkit::DEV_CLIENT_ID.into());
    let secret = env("CLIENT_SECRET").unwrap_or_else(random_secret);
    let provider = DevProvider::builder()
        .client(ClientRegistration::for_app(&client_id, &secret, &app_url))
        .auto_approve(env("AUTO_APPROVE").is_some_and(|v| v == "1"))
        .port(port)
        .start()
        .await?;
    println!(
        "auth-testkit development provider (never for production) at {issuer}\n\n\
         OIDC_ISSUER={issuer}\nOIDC_CLIENT_ID={client_id}\nOIDC_CLIENT_SECRET={secret}\nAPP_URL={app_url}\n\n\
         Test users: alice, bob. Ctrl-C stops it.",
        issuer = provider.issuer()
    );
    tokio::signal::ctrl_c().await?;
    drop(provider);
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}

fn random_secret() -> String {
    let mut bytes = [0u8; 24];
    aws_lc_rs::rand::fill(&mut bytes).expect("system randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

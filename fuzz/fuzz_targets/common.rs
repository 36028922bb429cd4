#![allow(dead_code)]

//! One `Auth` per fuzz process: manual endpoints on a loopback port where nothing
//! listens (the JWKS cannot be fetched, so tokens are judged up to their keys), a
//! fixed cookie key, and a runtime to drive it.

use std::sync::OnceLock;

use auth_core::{Auth, AuthConfig, ProviderEndpoints};

pub struct Fixture {
    pub rt: tokio::runtime::Runtime,
    pub auth: Auth,
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let url = |p: &str| url::Url::parse(&format!("http://127.0.0.1:9{p}")).expect("url");
        let config = AuthConfig::builder("http://127.0.0.1:9", "client", "http://127.0.0.1:3000")
            .with_client_secret("fuzz-secret-fuzz-secret-fuzz-secret")
            .with_endpoints(ProviderEndpoints {
                authorization_endpoint: url("/authorize"),
                token_endpoint: url("/token"),
                jwks_uri: url("/jwks"),
                end_session_endpoint: None,
                userinfo_endpoint: None,
                authorization_response_iss_parameter_supported: true,
            })
            .with_api_audience("https://api.test")
            .with_app_secret_hex(&"ab".repeat(32))
            .expect("key")
            .build()
            .expect("config");
        let auth = rt.block_on(Auth::discover(config)).expect("auth");
        Fixture { rt, auth }
    })
}

/// Splits fuzz input in two at the first 0xff byte.
pub fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

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
        // Port 0: no connection can be made, whatever runs on the machine.
        let url = |p: &str| url::Url::parse(&format!("http://127.0.0.1:0{p}")).expect("url");
        let mut endpoints = ProviderEndpoints::new(url("/authorize"), url("/token"), url("/jwks"));
        endpoints.authorization_response_iss_parameter_supported = true;
        let config = AuthConfig::builder("http://127.0.0.1:0", "client", "http://127.0.0.1:3000")
            .with_client_secret("fuzz-secret-fuzz-secret-fuzz-secret")
            .with_endpoints(endpoints)
            .with_api_audience("https://api.test")
            .with_app_secret_hex(&"ab".repeat(32))
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

pub const ISSUER: &str = "http://127.0.0.1:9";
pub const CLIENT: &str = "client";
pub const NONCE: &str = "n-0S6_WzA2Mj";

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// An `Auth` whose JWKS, served on a loopback port, publishes one Ed25519 key; and
/// that key, to sign fuzzed claims with.
pub struct Signed {
    pub rt: tokio::runtime::Runtime,
    pub auth: Auth,
    key: aws_lc_rs::signature::Ed25519KeyPair,
}

impl Signed {
    /// `claims` (any text) as the payload of an EdDSA JWS signed with the published key.
    pub fn sign(&self, claims: &str) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let message = format!(
            "{}.{}",
            b64.encode(r#"{"alg":"EdDSA","kid":"k1","typ":"JWT"}"#),
            b64.encode(claims)
        );
        let sig = self.key.sign(message.as_bytes());
        format!("{message}.{}", b64.encode(sig.as_ref()))
    }
}

pub fn signed_fixture() -> &'static Signed {
    static F: OnceLock<Signed> = OnceLock::new();
    F.get_or_init(|| {
        use aws_lc_rs::signature::KeyPair as _;
        use base64::Engine as _;
        let key = aws_lc_rs::signature::Ed25519KeyPair::generate().expect("key");
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.public_key().as_ref());
        let jwks = format!(
            r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","use":"sig","alg":"EdDSA","kid":"k1","x":"{x}"}}]}}"#
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            use std::io::{Read as _, Write as _};
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{jwks}",
                    jwks.len()
                );
            }
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let url = |p: &str| url::Url::parse(&format!("http://127.0.0.1:9{p}")).expect("url");
        let jwks_uri = url::Url::parse(&format!("http://127.0.0.1:{port}/jwks")).expect("url");
        let config = AuthConfig::builder(ISSUER, CLIENT, "http://127.0.0.1:3000")
            .with_client_secret("fuzz-secret-fuzz-secret-fuzz-secret")
            .with_endpoints(ProviderEndpoints::new(url("/authorize"), url("/token"), jwks_uri))
            .build()
            .expect("config");
        let auth = rt.block_on(Auth::discover(config)).expect("auth");
        Signed { rt, auth, key }
    })
}

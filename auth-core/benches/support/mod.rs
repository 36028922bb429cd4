//! Bench support: a minimal provider on loopback (JWKS and a token endpoint that signs
//! an ID token for the nonce passed as the code), on a thread and runtime of its own so
//! that its CPU time is not counted as ours; and helpers to sign in through the real
//! login and callback routes.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use auth_core::adapter::Endpoint;
use auth_core::http::{HeaderValue, header};
use auth_core::{
    Auth, AuthConfig, AuthConfigBuilder, ProviderConfig, ProviderConfigBuilder, ProviderEndpoints,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

pub const CLIENT: &str = "bench-client";
pub const API: &str = "https://api.example.com";
const RSA_PEM: &[u8] = include_bytes!("../../src/jose/testdata/rsa.pem");
const EC_PEM: &[u8] = include_bytes!("../../src/jose/testdata/ec.pem");
const JWKS: &str = include_str!("../../src/jose/testdata/jwks.json");

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Signs `claims` with the test RSA (`rsa1`) or EC (`ec1`) key.
pub fn sign(alg: Algorithm, typ: Option<&str>, claims: &Value) -> String {
    let (kid, key) = match alg {
        Algorithm::ES256 => ("ec1", EncodingKey::from_ec_pem(EC_PEM).expect("ec key")),
        _ => ("rsa1", EncodingKey::from_rsa_pem(RSA_PEM).expect("rsa key")),
    };
    let mut h = Header::new(alg);
    h.kid = Some(kid.into());
    h.typ = typ.map(str::to_owned);
    encode(&h, claims, &key).expect("sign")
}

/// The claims of a typical ID token from a hosted login page (about 1 KB signed with
/// RS256): identity, profile, session and organization claims.
pub fn id_claims(issuer: &str, nonce: &str, user: usize) -> Value {
    let t = now();
    json!({
        "iss": issuer, "aud": CLIENT, "azp": CLIENT,
        "sub": format!("user_01HZX3K9Q4W8N2V7T5R6Y1M{user:06}"),
        "exp": t + 3600, "iat": t, "auth_time": t, "nonce": nonce,
        "sid": format!("ses_01HZX3KB7P2M5Q9W3E6R8T{user:06}"),
        "email": format!("user{user}@example.com"), "email_verified": true,
        "name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace",
        "picture": "https://cdn.example.com/avatars/01HZX3K9Q4W8N2V7T5R6Y1M.png",
        "locale": "en-GB", "updated_at": t - 86_400,
        "org_id": "org_01HZX3JQ8T6W2N4V7R5Y9K3M1P", "amr": ["pwd", "mfa"], "acr": "urn:mfa",
        "at_hash": "Gd3fHo2nHk1v3zX5tq0j9A"
    })
}

/// A typical JWT access token for the API (RFC 9068), about 900 bytes with RS256.
pub fn access_claims(issuer: &str) -> Value {
    let t = now();
    json!({
        "iss": issuer, "aud": [API, format!("{issuer}/userinfo")], "sub": "user_01HZX3K9Q4W8N2V7T5R6Y1M000001",
        "client_id": CLIENT, "azp": CLIENT, "exp": t + 3600, "iat": t, "nbf": t,
        "jti": "at_01HZX3KD4V6B8N1M3Q5W7E9R2T", "scope": "openid profile email offline_access orders:read",
        "org_id": "org_01HZX3JQ8T6W2N4V7R5Y9K3M1P", "roles": ["member", "billing"],
        "permissions": ["orders:read", "orders:write", "invoices:read"]
    })
}

/// The provider: `GET /jwks`, `POST /token` (the code is the nonce to sign for; a
/// refresh grant gets new tokens without an ID token, the same refresh token).
pub struct MockProvider {
    pub issuer: String,
    /// Refresh grants answered so far.
    pub refreshes: Arc<std::sync::atomic::AtomicU64>,
}

impl MockProvider {
    /// Starts it on a thread of its own with ID tokens signed by `alg`.
    pub fn start(alg: Algorithm) -> MockProvider {
        Self::start_with_token_lifetime(alg, 3600)
    }

    /// As [`MockProvider::start`], with access tokens that expire in `expires_in` s.
    pub fn start_with_token_lifetime(alg: Algorithm, expires_in: u64) -> MockProvider {
        let refreshes = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = Arc::clone(&refreshes);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let iss = issuer.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let access = Arc::new(sign(Algorithm::RS256, Some("at+jwt"), &access_claims(&iss)));
                let users = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                let app = axum::Router::new()
                    .route("/jwks", axum::routing::get(|| async { JWKS }))
                    .route(
                        "/token",
                        axum::routing::post(move |body: String| {
                            let (iss, access, users) = (iss.clone(), access.clone(), users.clone());
                            let counted = Arc::clone(&counted);
                            async move {
                                let field = |name: &str| {
                                    url::form_urlencoded::parse(body.as_bytes())
                                        .find(|(k, _)| k == name)
                                        .map(|(_, v)| v.into_owned())
                                        .unwrap_or_default()
                                };
                                if field("grant_type") == "refresh_token" {
                                    counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    return axum::Json(json!({
                                        "access_token": *access, "token_type": "Bearer",
                                        "expires_in": expires_in,
                                        "refresh_token": field("refresh_token"),
                                    }));
                                }
                                let code = field("code");
                                let user = users.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let id_token = sign(alg, None, &id_claims(&iss, &code, user));
                                axum::Json(json!({
                                    "access_token": *access, "token_type": "Bearer",
                                    "expires_in": expires_in, "id_token": id_token,
                                    "refresh_token": format!("rt_{user:06}_8f3kQ2mV9xT4bN7cL1pZ6wR0yH5sJ3dG"),
                                    "scope": "openid profile email offline_access"
                                }))
                            }
                        }),
                    );
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app).await.expect("serve");
            });
        });
        MockProvider { issuer, refreshes }
    }

    /// A configuration for this provider (manual endpoints, an API audience).
    pub fn config(&self) -> AuthConfigBuilder {
        let url = |p: &str| url::Url::parse(&format!("{}{p}", self.issuer)).expect("url");
        AuthConfig::builder(&self.issuer, CLIENT, "http://127.0.0.1:3000")
            .with_client_secret("bench-secret-bench-secret-bench-secret")
            .with_endpoints(ProviderEndpoints::new(
                url("/authorize"),
                url("/token"),
                url("/jwks"),
            ))
            .with_api_audience(API)
            .with_app_secret_hex(&"ab".repeat(32))
    }
}

impl MockProvider {
    /// This provider as provider `id` of an app with several.
    pub fn provider(&self, id: &str) -> ProviderConfigBuilder {
        let url = |p: &str| url::Url::parse(&format!("{}{p}", self.issuer)).expect("url");
        ProviderConfig::builder(id, &self.issuer, CLIENT)
            .with_client_secret("bench-secret-bench-secret-bench-secret")
            .with_endpoints(ProviderEndpoints::new(
                url("/authorize"),
                url("/token"),
                url("/jwks"),
            ))
    }
}

/// A started login: the callback request the provider would send the browser back with.
pub struct PendingCallback {
    pub request: http::Request<Vec<u8>>,
}

/// `GET /auth/login`, then the callback URI with the code (= the nonce) and state, and
/// the browser's pending-login cookie.
pub async fn start_login(auth: &Auth) -> PendingCallback {
    start_login_at(auth, Endpoint::Login, "/auth/login", "/auth/callback").await
}

/// As [`start_login`], at `login` (answered by `endpoint`), called back at `callback`.
async fn start_login_at(
    auth: &Auth,
    endpoint: Endpoint,
    login: &str,
    callback: &str,
) -> PendingCallback {
    let login = auth.respond(endpoint, &get(login)).await;
    let location = url::Url::parse(login.headers()[header::LOCATION].to_str().expect("ascii"))
        .expect("authorization url");
    let param = |name: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .expect("param")
    };
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("code", &param("nonce"));
    query.append_pair("state", &param("state"));
    let mut request = get(&format!("{callback}?{}", query.finish()));
    let cookies: Vec<String> = login
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| {
            v.to_str()
                .expect("ascii")
                .split(';')
                .next()
                .expect("pair")
                .to_string()
        })
        .collect();
    request.headers_mut().insert(
        header::COOKIE,
        HeaderValue::from_str(&cookies.join("; ")).expect("cookie"),
    );
    PendingCallback { request }
}

/// A `GET` request for `uri`, as an adapter would hand it to [`Auth::respond`].
pub fn get(uri: &str) -> http::Request<Vec<u8>> {
    http::Request::get(uri).body(Vec::new()).expect("request")
}

/// Signs in through the login and callback routes; returns the `Cookie` header value
/// carrying the new session.
pub async fn sign_in(auth: &Auth) -> HeaderValue {
    let pending = start_login(auth).await;
    finish_sign_in(auth, Endpoint::Callback, pending).await
}

/// Signs in at provider `id` of an app with several (its `/auth/login/{id}` and
/// `/auth/callback/{id}`); the `Cookie` header value of the new session.
pub async fn sign_in_at(auth: &Auth, id: &str) -> HeaderValue {
    let endpoint = |path: &str| {
        auth.routes()
            .into_iter()
            .find(|r| r.path() == path)
            .expect("route")
            .endpoint()
    };
    let pending = start_login_at(
        auth,
        endpoint("/auth/login/{id}"),
        &format!("/auth/login/{id}"),
        &format!("/auth/callback/{id}"),
    )
    .await;
    finish_sign_in(auth, endpoint("/auth/callback/{id}"), pending).await
}

async fn finish_sign_in(auth: &Auth, callback: Endpoint, pending: PendingCallback) -> HeaderValue {
    let done = auth.respond(callback, &pending.request).await;
    assert_eq!(done.status(), 303, "callback failed: {}", done.body());
    let cookie = done
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .find(|c| c.starts_with("auth_session="))
        .expect("session cookie");
    HeaderValue::from_str(cookie.split(';').next().expect("pair")).expect("value")
}

/// `INFO <section>` of a Redis server, as a map.
pub fn redis_info(
    server: &provider_harness::RedisServer,
    section: &str,
) -> std::collections::BTreeMap<String, String> {
    server
        .cli(&["INFO", section])
        .lines()
        .filter_map(|l| l.trim().split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Calls per command since the last `CONFIG RESETSTAT` (`INFO commandstats`).
pub fn redis_calls(
    server: &provider_harness::RedisServer,
) -> std::collections::BTreeMap<String, u64> {
    redis_info(server, "commandstats")
        .into_iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("cmdstat_")?.to_owned();
            let n = v.split(',').next()?.strip_prefix("calls=")?.parse().ok()?;
            Some((name, n))
        })
        .collect()
}

/// The CPU seconds a Redis server has used so far (system + user).
pub fn redis_cpu(server: &provider_harness::RedisServer) -> f64 {
    let cpu = redis_info(server, "cpu");
    let secs = |k: &str| cpu[k].parse::<f64>().expect("cpu");
    secs("used_cpu_sys") + secs("used_cpu_user")
}

/// Whether `redis-server` is installed (the Redis benches say they are skipped when it
/// is not).
pub fn redis_installed() -> bool {
    let found = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        println!("redis-server is not installed: skipped (./scripts/test installs it)");
    }
    found
}

//! The router guard and the extractor's rejections, with manual endpoints (no
//! discovery) and no provider running.

use auth_axum::auth_core::AuthConfigBuilder;
use auth_axum::auth_core::tower_sessions_core::session::Id as RecordId;
use auth_axum::auth_core::tower_sessions_core::session::Record;
use auth_axum::auth_core::{ProviderEndpoints, SessionStore, StoreError};
use auth_axum::{Auth, AuthConfig, AuthUser, BearerUser, auth_layer, auth_router, require_auth};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode, header};
use tower::ServiceExt;

async fn app() -> Router {
    app_with_prefix("/auth").await
}

async fn app_with_prefix(prefix: &str) -> Router {
    app_with(prefix, None).await
}

/// A provider that cannot be reached: a loopback port this process holds (so no other
/// process can take it), where every connection is closed unanswered.
fn unreachable_provider() -> &'static str {
    static BASE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        std::thread::spawn(move || listener.incoming().for_each(drop));
        base
    })
}

/// Manual endpoints of a provider that cannot be reached.
fn config(prefix: &str) -> AuthConfigBuilder {
    let issuer = unreachable_provider();
    let url = |p: &str| url::Url::parse(&format!("{issuer}{p}")).expect("url");
    AuthConfig::builder(issuer, "client", "http://127.0.0.1:3000")
        .with_endpoints(ProviderEndpoints::new(
            url("/authorize"),
            url("/token"),
            url("/jwks"),
        ))
        .with_route_prefix(prefix)
}

async fn app_with(prefix: &str, store: Option<DownStore>) -> Router {
    let config = config(prefix);
    let config = match store {
        Some(s) => config.with_session_store(s),
        None => config,
    }
    .build()
    .expect("config");
    let auth = Auth::discover(config)
        .await
        .expect("manual endpoints need no discovery");
    let guarded = Router::new()
        .route("/admin", get(|| async { "admin" }))
        .route_layer(axum::middleware::from_fn(require_auth));
    Router::new()
        .route(
            "/",
            get(|u: Option<AuthUser>| async move { if u.is_some() { "in" } else { "out" } }),
        )
        .merge(guarded)
        .merge(auth_router(auth.clone()))
        .layer(auth_layer(&auth))
}

#[tokio::test]
async fn guard_redirects_anonymous_browser_to_login_with_return_to() {
    let r = app()
        .await
        .oneshot(
            Request::get("/admin?tab=1")
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .expect("resp");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()[header::LOCATION],
        "/auth/login?return_to=%2Fadmin%3Ftab%3D1"
    );
}

#[tokio::test]
async fn guard_answers_401_json_to_api_clients() {
    let req = Request::get("/admin")
        .header(header::ACCEPT, "application/json")
        .body(Body::empty())
        .expect("req");
    let r = app().await.oneshot(req).await.expect("resp");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
}

#[tokio::test]
async fn optional_user_lets_public_pages_through() {
    let r = app()
        .await
        .oneshot(Request::get("/").body(Body::empty()).expect("req"))
        .await
        .expect("resp");
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn login_uses_manual_authorization_endpoint() {
    let r = app()
        .await
        .oneshot(
            Request::get("/auth/login")
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .expect("resp");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let loc = r.headers()[header::LOCATION].to_str().expect("loc");
    assert!(
        loc.starts_with(&format!(
            "{}/authorize?response_type=code",
            unreachable_provider()
        )),
        "{loc}"
    );
}

#[tokio::test]
async fn logout_without_end_session_endpoint_returns_to_the_app() {
    let r = app()
        .await
        .oneshot(
            Request::get("/auth/logout")
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .expect("resp");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[header::LOCATION], "http://127.0.0.1:3000/");
}

#[tokio::test]
async fn rejects_oversized_login_hint_with_400() {
    let q = format!("/auth/login?login_hint={}", "a".repeat(600));
    let r = app()
        .await
        .oneshot(Request::get(q).body(Body::empty()).expect("req"))
        .await
        .expect("resp");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_or_malformed_session_cookie_is_anonymous() {
    for value in [
        "AAAAAAAAAAAAAAAAAAAAAA".to_string(),
        "not-a-session-id".to_string(),
        "x".repeat(5000),
    ] {
        let req = Request::get("/admin")
            .header(header::COOKIE, format!("auth_session={value}"))
            .header(header::ACCEPT, "application/json")
            .body(Body::empty())
            .expect("req");
        let r = app().await.oneshot(req).await.expect("resp");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "cookie {value:.20}");
    }
}

#[tokio::test]
async fn logout_clears_the_session_cookie() {
    let r = app()
        .await
        .oneshot(
            Request::get("/auth/logout")
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .expect("resp");
    let cookie = r.headers()[header::SET_COOKIE].to_str().expect("cookie");
    assert!(
        cookie.starts_with("auth_session=;") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
}

#[tokio::test]
async fn custom_prefix_moves_every_route() {
    let get = |uri: &str| Request::get(uri).body(Body::empty()).expect("req");
    let r = app_with_prefix("/oidc")
        .await
        .oneshot(get("/oidc/login"))
        .await
        .expect("resp");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app_with_prefix("/oidc")
        .await
        .oneshot(get("/auth/login"))
        .await
        .expect("resp");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app_with_prefix("/oidc")
        .await
        .oneshot(get("/admin"))
        .await
        .expect("resp");
    assert_eq!(
        r.headers()[header::LOCATION],
        "/oidc/login?return_to=%2Fadmin"
    );
}

/// A session store that is down: every call fails.
#[derive(Debug)]
struct DownStore;

#[async_trait::async_trait]
impl SessionStore for DownStore {
    async fn save(&self, _: &Record) -> Result<(), StoreError> {
        Err(StoreError::Backend("down".into()))
    }

    async fn load(&self, _: &RecordId) -> Result<Option<Record>, StoreError> {
        Err(StoreError::Backend("down".into()))
    }

    async fn delete(&self, _: &RecordId) -> Result<(), StoreError> {
        Err(StoreError::Backend("down".into()))
    }
}

#[tokio::test]
async fn store_down_answers_503_on_protected_and_optional_routes() {
    for (uri, accept) in [
        ("/admin", "text/html"),
        ("/admin", "application/json"),
        ("/", "text/html"),
    ] {
        let req = Request::get(uri)
            .header(header::COOKIE, "auth_session=AAAAAAAAAAAAAAAAAAAAAA")
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .expect("req");
        let r = app_with("/auth", Some(DownStore))
            .await
            .oneshot(req)
            .await
            .expect("resp");
        assert_eq!(
            r.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{uri} {accept}"
        );
    }
    // Without a session cookie the store is not asked: public pages still work.
    let r = app_with("/auth", Some(DownStore))
        .await
        .oneshot(Request::get("/").body(Body::empty()).expect("req"))
        .await
        .expect("resp");
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_with_store_down_says_so_and_still_clears_the_cookie() {
    let req = Request::get("/auth/logout")
        .header(header::COOKIE, "auth_session=AAAAAAAAAAAAAAAAAAAAAA")
        .body(Body::empty())
        .expect("req");
    let r = app_with("/auth", Some(DownStore))
        .await
        .oneshot(req)
        .await
        .expect("resp");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let cookie = r.headers()[header::SET_COOKIE].to_str().expect("cookie");
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
}

#[tokio::test]
async fn return_to_keeps_the_nest_prefix() {
    let issuer = unreachable_provider();
    let url = |p: &str| url::Url::parse(&format!("{issuer}{p}")).expect("url");
    let config = AuthConfig::builder(issuer, "client", "http://127.0.0.1:3000")
        .with_endpoints(ProviderEndpoints::new(
            url("/authorize"),
            url("/token"),
            url("/jwks"),
        ))
        .build()
        .expect("config");
    let auth = Auth::discover(config).await.expect("auth");
    let api = Router::new().route("/me", get(|u: AuthUser| async move { u.sub().to_string() }));
    let app = Router::new().nest("/api", api).layer(auth_layer(&auth));
    let r = app
        .oneshot(Request::get("/api/me").body(Body::empty()).expect("req"))
        .await
        .expect("resp");
    assert_eq!(
        r.headers()[header::LOCATION],
        "/auth/login?return_to=%2Fapi%2Fme"
    );
}

/// `/api` needs a bearer token, `/maybe-api` takes one if sent.
async fn bearer_app(api_audience: bool) -> Router {
    let mut config = config("/auth");
    if api_audience {
        config = config.with_api_audience("https://api.test");
    }
    let auth = Auth::discover(config.build().expect("config"))
        .await
        .expect("auth");
    Router::new()
        .route(
            "/api",
            get(|u: BearerUser| async move { u.sub().to_string() }),
        )
        .route(
            "/maybe-api",
            get(|u: Option<BearerUser>| async move { if u.is_some() { "in" } else { "out" } }),
        )
        .layer(auth_layer(&auth))
}

async fn get_with(
    app: Router,
    path: &str,
    authorization: Option<&str>,
) -> axum::response::Response {
    let mut req = Request::get(path);
    if let Some(a) = authorization {
        req = req.header(header::AUTHORIZATION, a);
    }
    app.oneshot(req.body(Body::empty()).expect("req"))
        .await
        .expect("resp")
}

/// A JWT-shaped token with an allowed algorithm: checking it needs the JWKS.
const JWT_SHAPED: &str = "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJhIn0.c2ln";

#[tokio::test]
async fn bearer_missing_answers_401_with_a_bearer_challenge() {
    for auth in [None, Some("Basic dTpw")] {
        let r = get_with(bearer_app(true).await, "/api", auth).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
    let r = get_with(bearer_app(true).await, "/maybe-api", None).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn bearer_malformed_header_rejected_with_400_even_when_optional() {
    for path in ["/api", "/maybe-api"] {
        for bad in ["Bearer", "Bearer a b", "Bearer a\"b"] {
            let r = get_with(bearer_app(true).await, path, Some(bad)).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path} {bad}");
        }
    }
}

#[tokio::test]
async fn bearer_invalid_token_rejected_with_401_even_when_optional() {
    for path in ["/api", "/maybe-api"] {
        let r = get_with(bearer_app(true).await, path, Some("Bearer not-a-jwt")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let challenge = r.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .expect("ascii");
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{challenge}"
        );
    }
}

#[tokio::test]
async fn bearer_token_when_jwks_unreachable_answers_503() {
    let r = get_with(bearer_app(true).await, "/api", Some(JWT_SHAPED)).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn bearer_without_configured_api_audience_is_a_500() {
    let r = get_with(bearer_app(false).await, "/api", Some(JWT_SHAPED)).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

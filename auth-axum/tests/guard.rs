//! The router guard and the extractor's rejections, with manual endpoints (no
//! discovery) and no provider running.

use auth_axum::{
    Auth, AuthConfig, AuthUser, auth_core::ProviderEndpoints, auth_layer, auth_router, require_auth,
};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode, header};
use tower::ServiceExt;

async fn app() -> Router {
    let url = |p: &str| url::Url::parse(&format!("http://127.0.0.1:9{p}")).expect("url");
    let config = AuthConfig::builder("http://127.0.0.1:9", "client", "http://127.0.0.1:3000")
        .with_endpoints(ProviderEndpoints {
            authorization_endpoint: url("/authorize"),
            token_endpoint: url("/token"),
            jwks_uri: url("/jwks"),
            end_session_endpoint: None,
            userinfo_endpoint: None,
            authorization_response_iss_parameter_supported: false,
        })
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
        loc.starts_with("http://127.0.0.1:9/authorize?response_type=code"),
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

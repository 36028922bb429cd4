//! The scope guard, the extractor's rejections and the routes, with manual endpoints
//! (no discovery) and no provider running.

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::test::{TestRequest, call_service, init_service};
use actix_web::{App, HttpRequest, HttpResponse, web};
use auth_actix::auth_core::AuthConfigBuilder;
use auth_actix::auth_core::tower_sessions_core::session::Id as RecordId;
use auth_actix::auth_core::tower_sessions_core::session::Record;
use auth_actix::auth_core::{ProviderEndpoints, SessionStore, StoreError};
use auth_actix::{
    Auth, AuthConfig, AuthExt, AuthUser, BearerUser, MaybeAuthUser, MaybeBearerUser, RequireAuth,
    auth_middleware, auth_routes,
};

async fn auth(prefix: &str) -> Auth {
    auth_with(prefix, None).await
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

async fn auth_with(prefix: &str, store: Option<DownStore>) -> Auth {
    let config = config(prefix);
    let config = match store {
        Some(s) => config.with_session_store(s),
        None => config,
    }
    .build()
    .expect("config");
    Auth::discover(config)
        .await
        .expect("manual endpoints need no discovery")
}

async fn public(user: Option<AuthUser>, req: HttpRequest) -> HttpResponse {
    assert!(
        req.auth().is_some(),
        "the middleware puts Auth in the request"
    );
    assert!(req.auth_user().is_none());
    HttpResponse::Ok().body(if user.is_some() { "in" } else { "out" })
}

async fn call(prefix: &str, req: TestRequest) -> ServiceResponse {
    call_with(auth(prefix).await, req).await
}

async fn call_with(auth: Auth, req: TestRequest) -> ServiceResponse {
    let app = init_service(
        App::new()
            .wrap(auth_middleware(&auth))
            .configure(auth_routes(&auth))
            .route("/", web::get().to(public))
            .route(
                "/maybe",
                web::get().to(|MaybeAuthUser(u): MaybeAuthUser| async move {
                    if u.is_some() { "in" } else { "out" }
                }),
            )
            .route(
                "/me",
                web::get().to(|u: AuthUser| async move { u.sub().to_string() }),
            )
            .service(
                web::scope("/admin")
                    .wrap(RequireAuth)
                    .route("", web::get().to(|| async { "admin" })),
            ),
    )
    .await;
    call_service(&app, req.to_request()).await
}

fn header_of(r: &ServiceResponse, name: header::HeaderName) -> &str {
    r.headers()
        .get(&name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("ascii header")
}

fn location(r: &ServiceResponse) -> &str {
    header_of(r, header::LOCATION)
}

#[actix_web::test]
async fn guard_redirects_anonymous_browser_to_login_with_return_to() {
    let r = call("/auth", TestRequest::get().uri("/admin?tab=1")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/auth/login?return_to=%2Fadmin%3Ftab%3D1");
}

#[actix_web::test]
async fn guard_answers_401_json_to_api_clients() {
    let req = TestRequest::get()
        .uri("/admin")
        .insert_header((header::ACCEPT, "application/json"));
    let r = call("/auth", req).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(&r, header::CONTENT_TYPE), "application/json");
    assert_eq!(header_of(&r, header::WWW_AUTHENTICATE), "Bearer");
}

#[actix_web::test]
async fn extractor_answers_401_to_xhr_and_non_get_requests() {
    let r = call(
        "/auth",
        TestRequest::get()
            .uri("/me")
            .insert_header(("x-requested-with", "XMLHttpRequest")),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A form POST is not redirected (the redirect would lose its body).
    let r = call("/auth", TestRequest::post().uri("/admin")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn optional_user_lets_public_pages_through() {
    let r = call("/auth", TestRequest::get().uri("/")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(actix_web::test::read_body(r).await, "out");
}

#[actix_web::test]
async fn unknown_or_malformed_session_cookie_is_anonymous() {
    for value in [
        "AAAAAAAAAAAAAAAAAAAAAA".to_string(),
        "not-a-session-id".to_string(),
        "x".repeat(5000),
    ] {
        let req = TestRequest::get()
            .uri("/me")
            .insert_header((header::COOKIE, format!("auth_session={value}")))
            .insert_header((header::ACCEPT, "application/json"));
        let r = call("/auth", req).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "cookie {value:.20}");
    }
}

#[actix_web::test]
async fn login_uses_manual_authorization_endpoint_and_sets_pending_cookie() {
    let r = call("/auth", TestRequest::get().uri("/auth/login")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&r).starts_with(&format!(
            "{}/authorize?response_type=code",
            unreachable_provider()
        )),
        "{}",
        location(&r)
    );
    let cookie = header_of(&r, header::SET_COOKIE);
    assert!(cookie.starts_with("auth_pending_"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(
        cookie.contains("Path=/;") || cookie.ends_with("Path=/"),
        "{cookie}"
    );
}

#[actix_web::test]
async fn signup_sends_prompt_create() {
    let r = call("/auth", TestRequest::get().uri("/auth/signup")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).contains("prompt=create"), "{}", location(&r));
}

#[actix_web::test]
async fn logout_without_end_session_endpoint_returns_to_the_app_and_clears_cookie() {
    let r = call("/auth", TestRequest::get().uri("/auth/logout")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "http://127.0.0.1:3000/");
    let cookie = header_of(&r, header::SET_COOKIE);
    assert!(
        cookie.starts_with("auth_session=;") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
}

#[actix_web::test]
async fn rejects_oversized_login_hint_with_400() {
    let q = format!("/auth/login?login_hint={}", "a".repeat(600));
    let r = call("/auth", TestRequest::get().uri(&q)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn rejects_callback_without_pending_login_with_400() {
    let r = call(
        "/auth",
        TestRequest::get().uri("/auth/callback?code=abc&state=def"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn rejects_bad_backchannel_logout_token_with_400() {
    let req = TestRequest::post()
        .uri("/auth/backchannel-logout")
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload("logout_token=not.a.jwt");
    let r = call("/auth", req).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn backchannel_logout_when_jwks_unreachable_answers_503_so_the_provider_retries() {
    let token = JWT_SHAPED.trim_start_matches("Bearer ");
    let req = TestRequest::post()
        .uri("/auth/backchannel-logout")
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(format!("logout_token={token}"));
    let r = call("/auth", req).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[actix_web::test]
async fn custom_prefix_moves_every_route() {
    let r = call("/oidc", TestRequest::get().uri("/oidc/login")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = call("/oidc", TestRequest::get().uri("/auth/login")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = call("/oidc", TestRequest::get().uri("/admin")).await;
    assert_eq!(location(&r), "/oidc/login?return_to=%2Fadmin");
}

#[actix_web::test]
async fn extractor_without_middleware_is_a_500() {
    let app = init_service(App::new().route(
        "/me",
        web::get().to(|u: AuthUser| async move { u.sub().to_string() }),
    ))
    .await;
    let r = app
        .call(TestRequest::get().uri("/me").to_request())
        .await
        .expect("response");
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
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

#[actix_web::test]
async fn store_down_answers_503_on_protected_and_maybe_routes() {
    for (uri, accept) in [
        ("/admin", "text/html"),
        ("/me", "application/json"),
        ("/maybe", "text/html"),
    ] {
        let req = TestRequest::get()
            .uri(uri)
            .insert_header((header::COOKIE, "auth_session=AAAAAAAAAAAAAAAAAAAAAA"))
            .insert_header((header::ACCEPT, accept));
        let r = call_with(auth_with("/auth", Some(DownStore)).await, req).await;
        assert_eq!(
            r.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{uri} {accept}"
        );
    }
    // actix-web's own Option<AuthUser> sees the outage as "signed out".
    let req = TestRequest::get()
        .uri("/")
        .insert_header((header::COOKIE, "auth_session=AAAAAAAAAAAAAAAAAAAAAA"));
    let r = call_with(auth_with("/auth", Some(DownStore)).await, req).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Without a session cookie the store is not asked.
    let r = call_with(
        auth_with("/auth", Some(DownStore)).await,
        TestRequest::get().uri("/maybe"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[actix_web::test]
async fn logout_with_store_down_says_so_and_still_clears_the_cookie() {
    let req = TestRequest::get()
        .uri("/auth/logout")
        .insert_header((header::COOKIE, "auth_session=AAAAAAAAAAAAAAAAAAAAAA"));
    let r = call_with(auth_with("/auth", Some(DownStore)).await, req).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(header_of(&r, header::SET_COOKIE).contains("Max-Age=0"));
}

/// `GET path` with `authorization` against `/api` (needs a bearer token) and
/// `/maybe-api` (takes one if sent).
async fn bearer_call(
    api_audience: bool,
    path: &str,
    authorization: Option<&str>,
) -> ServiceResponse {
    let mut config = config("/auth");
    if api_audience {
        config = config.with_api_audience("https://api.test");
    }
    let auth = Auth::discover(config.build().expect("config"))
        .await
        .expect("auth");
    let app = init_service(
        App::new()
            .wrap(auth_middleware(&auth))
            .route(
                "/api",
                web::get().to(|u: BearerUser| async move { u.sub().to_string() }),
            )
            .route(
                "/maybe-api",
                web::get().to(|MaybeBearerUser(u): MaybeBearerUser| async move {
                    if u.is_some() { "in" } else { "out" }
                }),
            ),
    )
    .await;
    let mut req = TestRequest::get().uri(path);
    if let Some(a) = authorization {
        req = req.insert_header((header::AUTHORIZATION, a));
    }
    call_service(&app, req.to_request()).await
}

/// A JWT-shaped token with an allowed algorithm: checking it needs the JWKS.
const JWT_SHAPED: &str = "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJhIn0.c2ln";

#[actix_web::test]
async fn bearer_missing_answers_401_with_a_bearer_challenge() {
    for auth in [None, Some("Basic dTpw")] {
        let r = bearer_call(true, "/api", auth).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(header_of(&r, header::WWW_AUTHENTICATE), "Bearer");
    }
    let r = bearer_call(true, "/maybe-api", None).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[actix_web::test]
async fn bearer_malformed_header_rejected_with_400_even_when_optional() {
    for path in ["/api", "/maybe-api"] {
        for bad in ["Bearer", "Bearer a b", "Bearer a\"b"] {
            let r = bearer_call(true, path, Some(bad)).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path} {bad}");
        }
    }
}

#[actix_web::test]
async fn bearer_invalid_token_rejected_with_401_even_when_optional() {
    for path in ["/api", "/maybe-api"] {
        let r = bearer_call(true, path, Some("Bearer not-a-jwt")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let challenge = header_of(&r, header::WWW_AUTHENTICATE);
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{challenge}"
        );
    }
}

#[actix_web::test]
async fn bearer_token_when_jwks_unreachable_answers_503() {
    let r = bearer_call(true, "/api", Some(JWT_SHAPED)).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[actix_web::test]
async fn bearer_without_configured_api_audience_is_a_500() {
    let r = bearer_call(false, "/api", Some(JWT_SHAPED)).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

//! The guard suite: the adapters' guards, extractors and routes, written once and run
//! against both (`auth-axum/tests/guard.rs`, `auth-actix/tests/guard.rs`), with manual
//! endpoints of a provider that cannot be reached (no discovery, no provider running):
//! everything here is decided before any provider is asked, except the guards of a
//! signed-in user's claims, which sign in at the development provider.
//!
//! Each adapter serves the same small app ([`GuardApp`]):
//!
//! | route | what it is |
//! |---|---|
//! | `/` | a public page, no extractor: `public` |
//! | `/maybe` | the optional user extractor: `in` or `out` |
//! | `/me` | the user extractor: the user's `sub` |
//! | `/admin` | a handler without extractor behind the adapter's guard: `admin` |
//! | `/mfa` | behind the guard of `Requirement::acr(["urn:mfa"])`: `mfa` |
//! | `/org` | behind the guard of `Requirement::organization("org_example")`: `org` |
//! | `/app-data` | the app-data extractor of [`GuardData`]: its `plan` |
//! | `/nested/me` | the user extractor inside a nested router / scope `/nested` |
//! | `/api` | the bearer extractor: the token's `sub` |
//! | `/maybe-api` | the optional bearer extractor: `in` or `out` |
//! | the auth routes | under the configured prefix |
//!
//! all behind the adapter's layer or middleware, or (when [`GuardApp::layer`] is false)
//! without it.

use std::net::TcpListener;

use auth_core::tower_sessions_core::session::{Id as RecordId, Record};
use auth_core::{Auth, AuthConfig, AuthConfigBuilder, ProviderEndpoints, SessionStore, StoreError};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION, SET_COOKIE, WWW_AUTHENTICATE};

use crate::Running;

/// What an adapter's guard app is given.
#[derive(Debug)]
pub struct GuardApp {
    /// The relying party.
    pub auth: Auth,
    /// Whether the adapter's layer or middleware wraps the app (the extractors find no
    /// `Auth` without it).
    pub layer: bool,
}

/// Serves the adapter's guard app on `listener` until the returned [`Running`] drops.
pub type ServeGuard = fn(GuardApp, TcpListener) -> Running;

/// A provider that cannot be reached: a loopback port this process holds (so no other
/// process can take it), where every connection is closed unanswered.
fn unreachable_provider() -> &'static str {
    static BASE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        std::thread::spawn(move || listener.incoming().for_each(drop));
        base
    })
}

/// Manual endpoints of a provider that cannot be reached, the auth routes under
/// `prefix`.
pub fn guard_config(prefix: &str) -> AuthConfigBuilder {
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

/// The app data the guard app's `/app-data` reads.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct GuardData {
    /// The user's plan.
    pub plan: String,
}

/// A session store that is down: every call fails.
#[derive(Debug)]
pub struct DownStore;

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

/// The guard app of `config`, served; requests go to its base URL without following
/// redirects.
struct Served {
    base: String,
    client: reqwest::Client,
    /// Every refusal the app reported ([`auth_core::AuthEvent`], as `Debug` text).
    events: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _running: Running,
}

impl Served {
    async fn start(serve: ServeGuard, config: AuthConfigBuilder, layer: bool) -> Self {
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&events);
        let config =
            config.with_event_hook(move |e| seen.lock().expect("events").push(format!("{e:?}")));
        let auth = Auth::discover(config.build().expect("config"))
            .await
            .expect("manual endpoints need no discovery");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let running = serve(GuardApp { auth, layer }, listener);
        let client = crate::no_redirects();
        Self {
            base,
            client,
            events,
            _running: running,
        }
    }

    /// The refusals reported so far.
    fn events(&self) -> Vec<String> {
        self.events.lock().expect("events").clone()
    }

    async fn app(serve: ServeGuard) -> Self {
        Self::start(serve, guard_config("/auth"), true).await
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        self.send(reqwest::Method::GET, path, headers, "").await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("the app answers")
    }
}

fn header(r: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    r.headers()
        .get(&name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("ascii header")
}

/// A session cookie of the right shape that no store holds.
const UNKNOWN_SESSION: &str = "auth_session=AAAAAAAAAAAAAAAAAAAAAA";

/// A JWT-shaped token with an allowed algorithm: checking it needs the JWKS.
const JWT_SHAPED: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJhIn0.c2ln";

pub(crate) async fn guard_redirects_anonymous_browser_to_login_with_return_to(serve: ServeGuard) {
    let app = Served::app(serve).await;
    let r = app.get("/admin?tab=1", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(&r, LOCATION),
        "/auth/login?return_to=%2Fadmin%3Ftab%3D1"
    );
}

pub(crate) async fn guard_answers_401_json_to_api_clients(serve: ServeGuard) {
    let app = Served::app(serve).await;
    for path in ["/admin", "/me"] {
        let r = app.get(path, &[("accept", "application/json")]).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(header(&r, CONTENT_TYPE), "application/json", "{path}");
        assert_eq!(header(&r, WWW_AUTHENTICATE), "Bearer", "{path}");
    }
}

pub(crate) async fn guard_answers_401_to_xhr_and_non_get_requests(serve: ServeGuard) {
    let app = Served::app(serve).await;
    let r = app
        .get("/me", &[("x-requested-with", "XMLHttpRequest")])
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A form POST is not redirected (the redirect would lose its body).
    let r = app.send(reqwest::Method::POST, "/admin", &[], "").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

pub(crate) async fn optional_user_lets_public_pages_through(serve: ServeGuard) {
    let app = Served::app(serve).await;
    let r = app.get("/maybe", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.expect("body"), "out");
    let r = app.get("/", &[]).await;
    assert_eq!(r.text().await.expect("body"), "public");
}

pub(crate) async fn unknown_or_malformed_session_cookie_is_anonymous(serve: ServeGuard) {
    let app = Served::app(serve).await;
    for value in [
        "AAAAAAAAAAAAAAAAAAAAAA".to_string(),
        "not-a-session-id".to_string(),
        "x".repeat(5000),
    ] {
        let cookie = format!("auth_session={value}");
        let r = app
            .get(
                "/me",
                &[("cookie", &cookie), ("accept", "application/json")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "cookie {value:.20}");
        let r = app.get("/maybe", &[("cookie", &cookie)]).await;
        assert_eq!(r.text().await.expect("body"), "out", "cookie {value:.20}");
    }
}

pub(crate) async fn login_uses_manual_authorization_endpoint_and_sets_pending_cookie(
    serve: ServeGuard,
) {
    let app = Served::app(serve).await;
    let r = app.get("/auth/login", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = header(&r, LOCATION);
    assert!(
        location.starts_with(&format!(
            "{}/authorize?response_type=code",
            unreachable_provider()
        )),
        "{location}"
    );
    let cookie = header(&r, SET_COOKIE);
    assert!(cookie.starts_with("auth_pending_"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(
        cookie.contains("Path=/;") || cookie.ends_with("Path=/"),
        "{cookie}"
    );
}

pub(crate) async fn signup_sends_prompt_create(serve: ServeGuard) {
    let app = Served::app(serve).await;
    let r = app.get("/auth/signup", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = header(&r, LOCATION);
    assert!(location.contains("prompt=create"), "{location}");
}

pub(crate) async fn logout_without_end_session_endpoint_returns_to_the_app_and_clears_cookie(
    serve: ServeGuard,
) {
    let app = Served::app(serve).await;
    let r = app.get("/auth/logout", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&r, LOCATION), "http://127.0.0.1:3000/");
    let cookie = header(&r, SET_COOKIE);
    assert!(
        cookie.starts_with("auth_session=;") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
}

pub(crate) async fn rp_login_hint_oversized_refused_with_400(serve: ServeGuard) {
    let app = Served::app(serve).await;
    let path = format!("/auth/login?login_hint={}", "a".repeat(600));
    let r = app.get(&path, &[]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get(LOCATION).is_none(), "no login started");
    let page = r.text().await.expect("body");
    assert_eq!(crate::page_code(&page), "invalid_request");
    assert!(
        page.contains("the login_hint parameter is too long"),
        "{page}"
    );
}

pub(crate) async fn rp_callback_without_pending_login_refused_with_400(serve: ServeGuard) {
    let app = Served::app(serve).await;
    let r = app.get("/auth/callback?code=abc&state=def", &[]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        crate::page_code(&r.text().await.expect("body")),
        "login_expired"
    );
    assert_eq!(app.events(), ["LoginRefused(PendingLoginMissing)"]);
}

pub(crate) async fn rp_backchannel_logout_token_malformed_refused_with_400(serve: ServeGuard) {
    let app = Served::app(serve).await;
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let r = app
        .send(
            reqwest::Method::POST,
            "/auth/backchannel-logout",
            &form,
            "logout_token=not.a.jwt",
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(
        app.events(),
        ["BackchannelLogoutRefused(Invalid(Malformed))"]
    );
}

pub(crate) async fn backchannel_logout_when_jwks_unreachable_answers_503_so_the_provider_retries(
    serve: ServeGuard,
) {
    let app = Served::app(serve).await;
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let body = format!("logout_token={JWT_SHAPED}");
    let r = app
        .send(
            reqwest::Method::POST,
            "/auth/backchannel-logout",
            &form,
            &body,
        )
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let events = app.events();
    assert!(
        matches!(events.as_slice(), [e] if e.starts_with("BackchannelLogoutRefused(Unavailable(Keys(Unreachable(")),
        "{events:?}"
    );
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"], "temporarily_unavailable");
}

pub(crate) async fn custom_prefix_moves_every_route(serve: ServeGuard) {
    let app = Served::start(serve, guard_config("/oidc"), true).await;
    let r = app.get("/oidc/login", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app.get("/auth/login", &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app.get("/admin", &[]).await;
    assert_eq!(header(&r, LOCATION), "/oidc/login?return_to=%2Fadmin");
}

pub(crate) async fn return_to_keeps_the_nest_prefix(serve: ServeGuard) {
    let app = Served::app(serve).await;
    let r = app.get("/nested/me", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&r, LOCATION), "/auth/login?return_to=%2Fnested%2Fme");
}

pub(crate) async fn extractor_without_the_layer_is_a_500(serve: ServeGuard) {
    let app = Served::start(serve, guard_config("/auth"), false).await;
    for path in ["/me", "/maybe", "/api", "/maybe-api"] {
        let r = app.get(path, &[]).await;
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        let body = r.text().await.expect("body");
        assert_eq!(body, "sign-in is not set up for this route", "{path}");
    }
}

pub(crate) async fn store_down_answers_503_on_protected_and_optional_routes(serve: ServeGuard) {
    let app = Served::start(
        serve,
        guard_config("/auth").with_session_store(DownStore),
        true,
    )
    .await;
    for (path, accept) in [
        ("/admin", "text/html"),
        ("/me", "application/json"),
        ("/maybe", "text/html"),
    ] {
        let r = app
            .get(path, &[("cookie", UNKNOWN_SESSION), ("accept", accept)])
            .await;
        assert_eq!(
            r.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{path} {accept}"
        );
    }
    // Without a session cookie the store is not asked: public pages still work.
    let r = app.get("/maybe", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.expect("body"), "out");
}

pub(crate) async fn logout_with_store_down_says_so_and_still_clears_the_cookie(serve: ServeGuard) {
    let app = Served::start(
        serve,
        guard_config("/auth").with_session_store(DownStore),
        true,
    )
    .await;
    let r = app
        .get("/auth/logout", &[("cookie", UNKNOWN_SESSION)])
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let cookie = header(&r, SET_COOKIE);
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    assert_eq!(
        crate::page_code(&r.text().await.expect("body")),
        "temporarily_unavailable"
    );
}

/// The guard app with bearer tokens for `https://api.test` (or none configured).
async fn bearer_app(serve: ServeGuard, api_audience: bool) -> Served {
    let mut config = guard_config("/auth");
    if api_audience {
        config = config.with_api_audience("https://api.test");
    }
    Served::start(serve, config, true).await
}

pub(crate) async fn bearer_missing_answers_401_with_a_bearer_challenge(serve: ServeGuard) {
    let app = bearer_app(serve, true).await;
    for headers in [&[][..], &[("authorization", "Basic dTpw")][..]] {
        let r = app.get("/api", headers).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{headers:?}");
        assert_eq!(header(&r, WWW_AUTHENTICATE), "Bearer", "{headers:?}");
    }
    let r = app.get("/maybe-api", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.expect("body"), "out");
}

pub(crate) async fn rp_bearer_header_malformed_refused_with_400_even_when_optional(
    serve: ServeGuard,
) {
    let app = bearer_app(serve, true).await;
    for path in ["/api", "/maybe-api"] {
        for bad in ["Bearer", "Bearer a b", "Bearer a\"b"] {
            let r = app.get(path, &[("authorization", bad)]).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path} {bad}");
        }
    }
}

pub(crate) async fn rp_bearer_token_invalid_refused_with_401_even_when_optional(serve: ServeGuard) {
    let app = bearer_app(serve, true).await;
    for path in ["/api", "/maybe-api"] {
        let r = app
            .get(path, &[("authorization", "Bearer not-a-jwt")])
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let challenge = header(&r, WWW_AUTHENTICATE);
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{challenge}"
        );
    }
}

pub(crate) async fn bearer_token_when_jwks_unreachable_answers_503(serve: ServeGuard) {
    let app = bearer_app(serve, true).await;
    let authorization = format!("Bearer {JWT_SHAPED}");
    for path in ["/api", "/maybe-api"] {
        let r = app.get(path, &[("authorization", &authorization)]).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
    }
}

pub(crate) async fn bearer_without_configured_api_audience_is_a_500(serve: ServeGuard) {
    let app = bearer_app(serve, false).await;
    let authorization = format!("Bearer {JWT_SHAPED}");
    let r = app.get("/api", &[("authorization", &authorization)]).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error_description"], "bearer tokens are not enabled");
    assert_eq!(app.events(), ["BearerRefused(NotConfigured)"]);
}

/// `Requirement::acr` and `Requirement::organization` as guards, for users signed in
/// at the development provider: alice (organization `org_example`) passes `/org` and
/// is sent to step up at `/mfa` until she signs in with `acr` `urn:mfa`; carol
/// (`org_other`) is refused `/org`.
pub(crate) async fn guards_check_the_acr_and_the_organization_of_the_user(serve: ServeGuard) {
    use auth_testkit::{DevProvider, Misbehaviour, TestUser};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let provider = DevProvider::builder()
        .app(&base)
        .auto_approve(true)
        .user(TestUser::new("alice").organization("org_example"))
        .user(TestUser::new("carol").organization("org_other"))
        .start()
        .await
        .expect("dev provider");
    let config = provider.auth_config(&base).build().expect("config");
    let auth = Auth::discover(config).await.expect("discovery");
    let _running = serve(GuardApp { auth, layer: true }, listener);
    let signed_in = |user: &'static str| {
        let (provider, base) = (&provider, &base);
        async move {
            let browser = DevProvider::browser();
            let r = provider
                .sign_in(&browser, &format!("{base}/auth/login"), user)
                .await
                .expect("sign in");
            assert_eq!(r.status(), StatusCode::OK, "{user}");
            browser
        }
    };
    let get = |browser: &reqwest::Client, path: &str| {
        browser
            .get(format!("{base}{path}"))
            .header("accept", "application/json")
            .send()
    };
    let alice = signed_in("alice").await;
    let r = get(&alice, "/org").await.expect("org");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.expect("body"), "org");
    let r = get(&alice, "/mfa").await.expect("mfa");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&r, WWW_AUTHENTICATE);
    assert!(
        challenge.contains("insufficient_user_authentication")
            && challenge.contains(r#"acr_values="urn:mfa""#),
        "{challenge}"
    );
    let carol = signed_in("carol").await;
    let r = get(&carol, "/org").await.expect("org");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"], "forbidden");
    provider.misbehave(Misbehaviour::default().id_token_claim("acr", serde_json::json!("urn:mfa")));
    let alice = signed_in("alice").await;
    let r = get(&alice, "/mfa").await.expect("mfa");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.expect("body"), "mfa");
}

/// App data that no longer reads as the app's type (an older version of the app wrote
/// another shape) signs the user out cleanly: 401, then no session, never a 500.
pub(crate) async fn app_data_that_no_longer_reads_signs_the_user_out(serve: ServeGuard) {
    use auth_testkit::DevProvider;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let provider = DevProvider::builder()
        .app(&base)
        .start()
        .await
        .expect("dev provider");
    let config = provider
        .auth_config(&base)
        .with_sign_in_hook(|who: auth_core::SignIn| async move {
            let decision = auth_core::SignInDecision::allow();
            if who.sub() == "alice" {
                decision.with_app_data(&GuardData { plan: "pro".into() })
            } else {
                decision.with_app_data(&serde_json::json!({ "old_shape": 1 }))
            }
        })
        .build()
        .expect("config");
    let auth = Auth::discover(config).await.expect("discovery");
    let _running = serve(GuardApp { auth, layer: true }, listener);
    let signed_in = |user: &'static str| {
        let (provider, base) = (&provider, &base);
        async move {
            let browser = DevProvider::browser();
            let r = provider
                .sign_in(&browser, &format!("{base}/auth/login"), user)
                .await
                .expect("sign in");
            assert_eq!(r.status(), StatusCode::OK, "{user}");
            browser
        }
    };
    let get = |browser: &reqwest::Client, path: &str| {
        browser
            .get(format!("{base}{path}"))
            .header("accept", "application/json")
            .send()
    };
    let alice = signed_in("alice").await;
    let r = get(&alice, "/app-data").await.expect("app data");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.expect("body"), "pro");
    let bob = signed_in("bob").await;
    assert_eq!(get(&bob, "/me").await.expect("me").status(), StatusCode::OK);
    let r = get(&bob, "/app-data").await.expect("app data");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&bob, "/me").await.expect("me").status(),
        StatusCode::UNAUTHORIZED,
        "signed out"
    );
}

crate::suite! {$
    /// Every guard scenario, run against the adapter's guard app: the argument serves it
    /// (see [`ServeGuard`]).
    guard_suite(ServeGuard):
        guard_redirects_anonymous_browser_to_login_with_return_to,
        guard_answers_401_json_to_api_clients,
        guard_answers_401_to_xhr_and_non_get_requests,
        optional_user_lets_public_pages_through,
        unknown_or_malformed_session_cookie_is_anonymous,
        login_uses_manual_authorization_endpoint_and_sets_pending_cookie,
        signup_sends_prompt_create,
        logout_without_end_session_endpoint_returns_to_the_app_and_clears_cookie,
        rp_login_hint_oversized_refused_with_400,
        rp_callback_without_pending_login_refused_with_400,
        rp_backchannel_logout_token_malformed_refused_with_400,
        backchannel_logout_when_jwks_unreachable_answers_503_so_the_provider_retries,
        custom_prefix_moves_every_route,
        return_to_keeps_the_nest_prefix,
        extractor_without_the_layer_is_a_500,
        store_down_answers_503_on_protected_and_optional_routes,
        logout_with_store_down_says_so_and_still_clears_the_cookie,
        bearer_missing_answers_401_with_a_bearer_challenge,
        rp_bearer_header_malformed_refused_with_400_even_when_optional,
        rp_bearer_token_invalid_refused_with_401_even_when_optional,
        bearer_token_when_jwks_unreachable_answers_503,
        bearer_without_configured_api_audience_is_a_500,
        guards_check_the_acr_and_the_organization_of_the_user,
        app_data_that_no_longer_reads_signs_the_user_out,
}

//! The same flows against the development provider (`auth-testkit`): it must be a
//! faithful stand-in for a real provider, and its sign-in helper must work for users'
//! own tests.

use std::net::TcpListener;
use std::time::Duration;

use auth_core::{Auth, AuthConfigBuilder};
use auth_testkit::{DevProvider, DevProviderBuilder};
use reqwest::StatusCode;

use crate::{API, API_SCOPE, Running, Serve, follow, futures_join, init, me_at};

pub(crate) struct DevApp {
    pub(crate) base: String,
    pub(crate) provider: DevProvider,
    /// Every refusal the app reported ([`auth_core::AuthEvent`], as `Debug` text).
    pub(crate) events: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// The app's `Auth` (a handle on the one it serves with).
    pub(crate) auth: Auth,
    _server: Running,
}

impl DevApp {
    /// The refusals reported so far.
    pub(crate) fn events(&self) -> Vec<String> {
        self.events.lock().expect("events").clone()
    }
}

pub(crate) async fn start_dev(
    serve: Serve,
    provider: DevProviderBuilder,
    refresh_margin: Duration,
) -> DevApp {
    start_dev_with(serve, provider, move |b| {
        b.with_refresh_margin(refresh_margin)
    })
    .await
}

/// Starts the provider and the app, with `configure` applied to the app's config.
pub(crate) async fn start_dev_with(
    serve: Serve,
    provider: DevProviderBuilder,
    configure: impl FnOnce(AuthConfigBuilder) -> AuthConfigBuilder,
) -> DevApp {
    start_dev_registered(serve, |base| provider.app(base), configure).await
}

/// Starts the provider (`register` registers the app at its URL) and the app, with
/// `configure` applied to the app's config.
pub(crate) async fn start_dev_registered(
    serve: Serve,
    register: impl FnOnce(&str) -> DevProviderBuilder,
    configure: impl FnOnce(AuthConfigBuilder) -> AuthConfigBuilder,
) -> DevApp {
    init();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let provider = register(&base).start().await.expect("dev provider");
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = events.clone();
    let config = configure(provider.auth_config(&base))
        .with_api_audience(API)
        .with_required_api_scopes([API_SCOPE])
        .with_event_hook(move |e| seen.lock().expect("events").push(format!("{e:?}")))
        .build()
        .expect("config");
    let auth = Auth::discover(config).await.expect("discovery");
    DevApp {
        base,
        provider,
        events,
        auth: auth.clone(),
        _server: serve(auth, listener),
    }
}

async fn me_json(browser: &reqwest::Client, app: &DevApp) -> (StatusCode, String) {
    let r = me_at(browser, &app.base).await;
    (r.status(), r.text().await.expect("body"))
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn dev_provider_sign_in_page_return_to_and_sign_out(serve: Serve) {
    let app = start_dev(serve, DevProvider::builder(), Duration::from_secs(30)).await;
    let browser = DevProvider::browser();
    let page = app
        .provider
        .sign_in(
            &browser,
            &format!("{}/auth/login?return_to=/me", app.base),
            "bob",
        )
        .await
        .expect("sign in");
    assert_eq!(page.url().path(), "/me");
    assert_eq!(page.status(), StatusCode::OK);
    let me: serde_json::Value = page.json().await.expect("json");
    assert_eq!(me["sub"], "bob");
    assert_eq!(me["email"], "bob@example.com");
    assert_eq!(me["name"], "Bob Example");
    let home = browser.get(&app.base).send().await.expect("home");
    assert!(home.text().await.expect("body").contains("Bob Example"));

    // Sign out: through the provider's end_session and back to the app.
    let (last, seen) = follow(&browser, &format!("{}/auth/logout", app.base)).await;
    assert_eq!(last.status(), StatusCode::OK);
    assert!(
        seen.iter()
            .any(|u| u.starts_with(&format!("{}/end_session?", app.provider.issuer()))),
        "{seen:?}"
    );
    assert!(
        seen.last()
            .expect("url")
            .starts_with(&format!("{}/", app.base))
    );
    assert_eq!(me_json(&browser, &app).await.0, StatusCode::UNAUTHORIZED);
    let s = app.provider.stats();
    assert_eq!((s.sign_ins, s.code_grants, s.token_errors), (1, 1, 0));
    // The provider also sent back-channel logout for the ended provider session, and
    // the app accepted it.
    assert_eq!(
        (s.backchannel_logouts_sent, s.backchannel_logouts_failed),
        (1, 0)
    );
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn dev_provider_signup_page_shows_the_parameters_sent(serve: Serve) {
    let app = start_dev(serve, DevProvider::builder(), Duration::from_secs(30)).await;
    let browser = DevProvider::browser();
    let (page, seen) = follow(
        &browser,
        &format!(
            "{}/auth/signup?organization_id=org_42&login_hint=bob",
            app.base
        ),
    )
    .await;
    let last = seen.last().expect("url");
    assert!(last.contains("prompt=create"), "{last}");
    let html = page.text().await.expect("body");
    assert!(html.contains("Create an account"), "{html}");
    assert!(html.contains("org_42"), "{html}");
    assert!(
        html.contains("value=\"bob\" autofocus"),
        "login_hint focuses the user"
    );
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn dev_provider_cancel_gives_the_friendly_page_and_no_session(serve: Serve) {
    let app = start_dev(serve, DevProvider::builder(), Duration::from_secs(30)).await;
    let browser = DevProvider::browser();
    let (page, _) = follow(&browser, &format!("{}/auth/login", app.base)).await;
    let html = page.text().await.expect("body");
    let pending = html
        .split("name=\"pending\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("pending id");
    let r = browser
        .post(format!("{}/authorize/decision", app.provider.issuer()))
        .form(&[("pending", pending), ("cancel", "1")])
        .send()
        .await
        .expect("cancel");
    let callback = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(callback.contains("error=access_denied"), "{callback}");
    let (page, _) = follow(&browser, &callback).await;
    assert!(page.status().is_client_error());
    assert!(page.text().await.expect("body").contains("cancelled"));
    assert_eq!(me_json(&browser, &app).await.0, StatusCode::UNAUTHORIZED);
    // The page cannot be answered twice.
    let again = browser
        .post(format!("{}/authorize/decision", app.provider.issuer()))
        .form(&[("pending", pending), ("user", "alice")])
        .send()
        .await
        .expect("again");
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn dev_provider_concurrent_requests_after_expiry_share_one_refresh(serve: Serve) {
    let provider = DevProvider::builder()
        .auto_approve(true)
        .access_token_ttl(Duration::from_secs(4));
    let app = start_dev(serve, provider, Duration::from_secs(0)).await;
    let browser = DevProvider::browser();
    app.provider
        .sign_in(&browser, &format!("{}/auth/login", app.base), "alice")
        .await
        .expect("sign in");
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    let statuses = futures_join(&browser, &app.base, 16).await;
    let s = app.provider.stats();
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let (status, body) = me_json(&browser, &app).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"sub\":\"alice\""), "{body}");
    assert_eq!(s.refresh_grants, 1, "{s:?}");
    assert_eq!(s.token_errors, 0, "{s:?}");
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn dev_provider_backchannel_logout_ends_the_session(serve: Serve) {
    let provider = DevProvider::builder().auto_approve(true);
    let app = start_dev(serve, provider, Duration::from_secs(30)).await;
    let alice = DevProvider::browser();
    let bob = DevProvider::browser();
    for (browser, user) in [(&alice, "alice"), (&bob, "bob")] {
        app.provider
            .sign_in(browser, &format!("{}/auth/login", app.base), user)
            .await
            .expect("sign in");
        assert_eq!(me_json(browser, &app).await.0, StatusCode::OK);
    }
    app.provider.log_out_user("alice").await;
    assert_eq!(app.provider.stats().backchannel_logouts_sent, 1);
    assert_eq!(me_json(&alice, &app).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(me_json(&bob, &app).await.0, StatusCode::OK, "bob is kept");
}

/// An acceptance scenario (see the crate docs): front-channel logout. The provider
/// cannot reach the app; its logout page loads the app's
/// `/auth/frontchannel-logout?iss=..&sid=..` in an iframe (without the app's cookies,
/// as a cross-site iframe is). Requests without `sid`, without `iss` or with another
/// issuer get 400 and end nothing; the provider's URL gets 200, `no-store`, framable by
/// the provider only, and ends alice's session (reported as a front-channel logout),
/// not bob's. With RP-initiated logout the provider's page carries the iframe.
pub(crate) async fn dev_provider_frontchannel_logout_ends_the_session(serve: Serve) {
    let app = start_dev_registered(
        serve,
        |base| {
            DevProvider::builder()
                .auto_approve(true)
                .app_with_frontchannel_logout(base)
        },
        |b| b,
    )
    .await;
    let alice = DevProvider::browser();
    let bob = DevProvider::browser();
    for (browser, user) in [(&alice, "alice"), (&bob, "bob")] {
        app.provider
            .sign_in(browser, &format!("{}/auth/login", app.base), user)
            .await
            .expect("sign in");
        assert_eq!(me_json(browser, &app).await.0, StatusCode::OK);
    }
    let frames = app.provider.log_out_user("alice").await;
    assert_eq!(app.provider.stats().backchannel_logouts_sent, 0);
    let [frame] = frames.as_slice() else {
        panic!("one front-channel URL: {frames:?}")
    };
    let url = url::Url::parse(frame).expect("url");
    assert_eq!(url.path(), "/auth/frontchannel-logout");
    let sid = url
        .query_pairs()
        .find(|(k, _)| k == "sid")
        .expect("sid")
        .1
        .into_owned();
    let issuer = app.provider.issuer().to_owned();
    let iframe = DevProvider::browser();
    let load = |query: Vec<(&'static str, String)>| {
        let mut url =
            url::Url::parse(&format!("{}/auth/frontchannel-logout", app.base)).expect("url");
        url.query_pairs_mut().extend_pairs(query);
        iframe
            .get(url)
            .header("sec-fetch-dest", "iframe")
            .header("sec-fetch-site", "cross-site")
            .send()
    };
    for query in [
        vec![("iss", issuer.clone())],
        vec![("sid", sid.clone())],
        vec![
            ("iss", "https://other.example".to_owned()),
            ("sid", sid.clone()),
        ],
        vec![("iss", issuer.clone()), ("sid", String::new())],
    ] {
        let r = load(query.clone()).await.expect("refused");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query:?}");
        assert_eq!(me_json(&alice, &app).await.0, StatusCode::OK, "{query:?}");
    }
    let r = iframe
        .get(frame)
        .header("sec-fetch-dest", "iframe")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("front-channel logout");
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers();
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["pragma"], "no-cache");
    assert!(h.get("x-frame-options").is_none(), "{h:?}");
    let origin = url::Url::parse(&issuer)
        .expect("issuer")
        .origin()
        .ascii_serialization();
    assert_eq!(
        h["content-security-policy"].to_str().expect("ascii"),
        format!("frame-ancestors {origin}")
    );
    assert_eq!(me_json(&alice, &app).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(me_json(&bob, &app).await.0, StatusCode::OK, "bob is kept");
    assert!(
        app.events()
            .iter()
            .any(|e| e.contains("SessionEnded") && e.contains("FrontchannelLogout")),
        "{:?}",
        app.events()
    );

    // RP-initiated logout: the provider's signed-out page carries bob's iframe.
    let r = bob
        .get(format!("{}/auth/logout", app.base))
        .send()
        .await
        .expect("logout");
    let end_session = r.headers()["location"].to_str().expect("ascii").to_owned();
    let page = bob.get(&end_session).send().await.expect("end session");
    let html = page.text().await.expect("page");
    assert!(
        html.contains(&format!("{}/auth/frontchannel-logout?iss=", app.base)),
        "{html}"
    );
}

/// An acceptance scenario (see the crate docs): opaque access tokens checked at the
/// development provider's introspection endpoint (`with_api_introspection`): accepted
/// with the answer's `sub`, `scope` and `client_id` and cached (one call for two
/// requests); refused (401 `invalid_token`) when inactive, for another audience or
/// expired; 503 while the endpoint fails.
pub(crate) async fn dev_provider_opaque_access_tokens_are_introspected(serve: Serve) {
    let provider = DevProvider::builder()
        .api_audience(API)
        .opaque_access_tokens(true);
    let app = start_dev_with(serve, provider, |b| b.with_api_introspection(true)).await;
    let client = reqwest::Client::new();
    let api = |token: String| {
        client
            .get(format!("{}/api/me", app.base))
            .bearer_auth(token)
            .send()
    };
    let token = app.provider.access_token("alice", &[API_SCOPE]);
    assert!(!token.contains('.'), "opaque: {token}");
    for _ in 0..2 {
        let r = api(token.clone()).await.expect("api");
        assert_eq!(r.status(), StatusCode::OK);
        let me: serde_json::Value = r.json().await.expect("json");
        assert_eq!(me["sub"], "alice");
        assert_eq!(me["client_id"], auth_testkit::DEV_CLIENT_ID);
        assert_eq!(me["scope"], API_SCOPE);
    }
    assert_eq!(app.provider.stats().introspections, 1, "cached");

    let refused = |r: reqwest::Response| {
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenge = r.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        challenge
    };
    let inactive = api("never-issued".into()).await.expect("api");
    assert!(refused(inactive).contains("invalid_token"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    for (claim, value) in [
        ("aud", serde_json::json!("https://other.api")),
        ("exp", serde_json::json!(now - 3600)),
    ] {
        app.provider.misbehave(
            auth_testkit::Misbehaviour::default().introspected_claim(claim, Some(value)),
        );
        let r = api(app.provider.access_token("alice", &[API_SCOPE]))
            .await
            .expect("api");
        assert!(refused(r).contains("invalid_token"), "{claim}");
    }
    app.provider
        .misbehave(auth_testkit::Misbehaviour::default().introspection_status(503));
    let r = api(app.provider.access_token("alice", &[API_SCOPE]))
        .await
        .expect("api");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    app.provider.behave();
    let r = api(token).await.expect("api");
    assert_eq!(r.status(), StatusCode::OK, "the cached answer still serves");
}

/// An acceptance scenario (see the crate docs).
pub(crate) async fn dev_provider_access_tokens_are_accepted_as_bearer_tokens(serve: Serve) {
    let provider = DevProvider::builder().api_audience(API);
    let app = start_dev(serve, provider, Duration::from_secs(30)).await;
    let client = reqwest::Client::new();
    let call = |token: String| {
        client
            .get(format!("{}/api/me", app.base))
            .bearer_auth(token)
            .send()
    };
    let ok = call(app.provider.access_token("alice", &[API_SCOPE]))
        .await
        .expect("api");
    assert_eq!(ok.status(), StatusCode::OK);
    let body: serde_json::Value = ok.json().await.expect("json");
    assert_eq!(body["sub"], "alice");
    let no_scope = call(app.provider.access_token("alice", &["other"]))
        .await
        .expect("api");
    assert_eq!(no_scope.status(), StatusCode::FORBIDDEN);
}

/// C1 (issue 31): `GET /auth/user` is the session as JSON for a single-page app: 401
/// `{"error": "not_signed_in"}` without one, whatever the `Accept` (never a redirect);
/// 200 with the contract's fields for alice, no token among them; `no-store` always.
pub(crate) async fn dev_provider_spa_reads_the_session_as_json(serve: Serve) {
    let app = start_dev(serve, DevProvider::builder(), Duration::from_secs(30)).await;
    let url = format!("{}/auth/user", app.base);
    let browser = DevProvider::browser();
    for accept in ["text/html", "application/json", "*/*"] {
        let r = browser
            .get(&url)
            .header("accept", accept)
            .send()
            .await
            .expect("user");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{accept}");
        assert!(r.headers().get("location").is_none());
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body, serde_json::json!({ "error": "not_signed_in" }));
    }
    let page = app
        .provider
        .sign_in(&browser, &format!("{}/auth/login", app.base), "alice")
        .await
        .expect("sign in");
    assert_eq!(page.status(), StatusCode::OK);
    let r = browser
        .get(&url)
        .header("accept", "text/html")
        .send()
        .await
        .expect("user");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let text = r.text().await.expect("body");
    let user: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut keys: Vec<&str> = user
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "authenticated_at",
            "email",
            "expires_at",
            "iss",
            "logout_url",
            "name",
            "organization",
            "permissions",
            "provider",
            "roles",
            "sub",
        ]
    );
    assert_eq!(user["sub"], "alice");
    assert_eq!(user["iss"], app.provider.issuer());
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["name"], "Alice Example");
    assert_eq!(user["organization"], "org_example");
    assert_eq!(user["roles"], serde_json::json!(["admin"]));
    assert_eq!(user["permissions"], serde_json::json!(["reports:read"]));
    assert!(user["provider"].is_null());
    assert_eq!(user["logout_url"], "/auth/logout");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let at = user["authenticated_at"].as_i64().expect("epoch seconds");
    assert!((now - 60..=now + 5).contains(&at), "{at} vs {now}");
    let expires = user["expires_at"].as_i64().expect("epoch seconds");
    assert!(expires > now, "{expires}");
    assert!(!text.contains("eyJ"), "no token in {text}");
}

/// C2 (issue 31): the examples' session-authenticated JSON API `POST /bff/echo` needs
/// the anti-forgery header `X-CSRF: 1`: without it (or with another value, or twice)
/// 403 `{"error": "csrf_header_required"}`, also with a valid session and also for a
/// form's navigation; with it and no session 401 JSON; never a redirect. With both, the
/// user's `sub` and the object sent.
pub(crate) async fn dev_provider_spa_api_needs_the_anti_forgery_header(serve: Serve) {
    let app = start_dev(serve, DevProvider::builder(), Duration::from_secs(30)).await;
    let url = format!("{}/bff/echo", app.base);
    let browser = DevProvider::browser();
    let body = serde_json::json!({ "hello": "world", "n": 1 });
    let post = |csrf: &[&str], navigate: bool| {
        let mut r = browser.post(&url).json(&body);
        for value in csrf {
            r = r.header("x-csrf", *value);
        }
        if navigate {
            r = r
                .header("accept", "text/html")
                .header("sec-fetch-mode", "navigate")
                .header("sec-fetch-site", "same-origin");
        }
        r.send()
    };
    let expect = async |r: reqwest::Response, status: StatusCode, error: &str| {
        assert_eq!(r.status(), status, "{error}");
        assert!(r.headers().get("location").is_none());
        let got: serde_json::Value = r.json().await.expect("json");
        assert_eq!(got, serde_json::json!({ "error": error }));
    };
    let forbidden = StatusCode::FORBIDDEN;
    expect(
        post(&[], false).await.expect("post"),
        forbidden,
        "csrf_header_required",
    )
    .await;
    expect(
        post(&["1"], true).await.expect("post"),
        StatusCode::UNAUTHORIZED,
        "not_signed_in",
    )
    .await;
    app.provider
        .sign_in(&browser, &format!("{}/auth/login", app.base), "alice")
        .await
        .expect("sign in");
    for csrf in [&[][..], &["0"], &["1", "1"]] {
        let r = post(csrf, false).await.expect("post");
        expect(r, forbidden, "csrf_header_required").await;
    }
    let r = post(&[], true).await.expect("post");
    expect(r, forbidden, "csrf_header_required").await;
    let ok = post(&["1"], false).await.expect("post");
    assert_eq!(ok.status(), StatusCode::OK);
    let got: serde_json::Value = ok.json().await.expect("json");
    assert_eq!(got, serde_json::json!({ "sub": "alice", "body": body }));
}

/// C4 (issue 31): silent sign-in. `GET /auth/login?prompt=none&return_to=/x`: the
/// development provider keeps no session and answers `login_required`; the callback
/// sends the browser to `/x` with no session and no error page (and the pending login
/// consumed). Each of the four "the user must interact" errors does; another error of
/// a silent login (`access_denied`), or `login_required` for a login that was not
/// silent, keeps its error page.
pub(crate) async fn dev_provider_silent_sign_in_returns_without_a_session(serve: Serve) {
    let app = start_dev(serve, DevProvider::builder(), Duration::from_secs(30)).await;
    let browser = DevProvider::browser();
    let (last, seen) = follow(
        &browser,
        &format!("{}/auth/login?prompt=none&return_to=/x", app.base),
    )
    .await;
    let callback = seen
        .iter()
        .position(|u| u.starts_with(&format!("{}/auth/callback?", app.base)))
        .expect("the provider answered the callback");
    assert!(seen[callback].contains("error=login_required"), "{seen:?}");
    assert_eq!(
        seen.get(callback + 1).map(String::as_str),
        Some(format!("{}/x", app.base).as_str()),
        "{seen:?}"
    );
    assert_eq!(last.url().path(), "/x");
    assert_eq!(
        me_at(&browser, &app.base).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // The callback a login's provider answers with `error`: the state of a login
    // started now (silent or not), and the provider's `iss`.
    let answer = async |silent: bool, error: &str| {
        let query = if silent {
            "?prompt=none&return_to=/x"
        } else {
            "?return_to=/x"
        };
        let start = browser
            .get(format!("{}/auth/login{query}", app.base))
            .send()
            .await
            .expect("login");
        let authorize =
            url::Url::parse(start.headers()["location"].to_str().expect("ascii")).expect("url");
        let state = authorize
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .expect("state");
        let mut callback = url::Url::parse(&format!("{}/auth/callback", app.base)).expect("url");
        callback
            .query_pairs_mut()
            .append_pair("error", error)
            .append_pair("state", &state)
            .append_pair("iss", app.provider.issuer());
        browser.get(callback).send().await.expect("callback")
    };
    for error in [
        "login_required",
        "interaction_required",
        "consent_required",
        "account_selection_required",
    ] {
        let r = answer(true, error).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{error}");
        assert_eq!(r.headers()["location"], "/x", "{error}");
    }
    let denied = answer(true, "access_denied").await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        crate::page_code(&denied.text().await.expect("page")),
        "access_denied"
    );
    let not_silent = answer(false, "login_required").await;
    assert_eq!(not_silent.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        crate::page_code(&not_silent.text().await.expect("page")),
        "provider_error"
    );
    assert_eq!(
        me_at(&browser, &app.base).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// D3 (issue 32): third-party initiated login. `GET /auth/login?iss=<issuer>` with
/// `login_hint` and `target_link_uri` starts a login at the provider of that issuer,
/// the hint passed on, and lands on the target (under `APP_URL`); a target elsewhere is
/// dropped (lands on `/`); an issuer the app does not use gets 400 `unknown_issuer`;
/// started by another site it gets the confirmation page, and no login starts.
pub(crate) async fn dev_provider_third_party_initiated_login(serve: Serve) {
    let app = start_dev(serve, DevProvider::builder(), Duration::from_secs(30)).await;
    let issuer = app.provider.issuer().to_owned();
    let login = |params: &[(&str, &str)]| {
        let mut url = url::Url::parse(&format!("{}/auth/login", app.base)).expect("url");
        url.query_pairs_mut().extend_pairs(params);
        url.to_string()
    };
    let target = format!("{}/me?from=portal", app.base);
    let browser = DevProvider::browser();
    let start = browser
        .get(login(&[
            ("iss", &issuer),
            ("login_hint", "bob"),
            ("target_link_uri", &target),
        ]))
        .send()
        .await
        .expect("login");
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let authorize = start.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        authorize.starts_with(&format!("{issuer}/authorize?")),
        "{authorize}"
    );
    assert!(authorize.contains("login_hint=bob"), "{authorize}");
    let page = app
        .provider
        .sign_in(&browser, &authorize, "bob")
        .await
        .expect("sign in");
    assert_eq!(page.url().path(), "/me");
    assert_eq!(page.url().query(), Some("from=portal"));
    let me: serde_json::Value = page.json().await.expect("json");
    assert_eq!(me["sub"], "bob");

    let elsewhere = DevProvider::browser();
    let page = app
        .provider
        .sign_in(
            &elsewhere,
            &login(&[
                ("iss", &issuer),
                ("target_link_uri", "https://evil.example/x"),
            ]),
            "alice",
        )
        .await
        .expect("sign in");
    assert_eq!(
        page.url().as_str(),
        format!("{}/", app.base),
        "the target dropped"
    );

    let unknown = browser
        .get(login(&[("iss", "https://other.example")]))
        .send()
        .await
        .expect("login");
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        crate::page_code(&unknown.text().await.expect("page")),
        "unknown_issuer"
    );

    let before = app.provider.stats().authorize_requests;
    let cross = browser
        .get(login(&[("iss", &issuer), ("target_link_uri", &target)]))
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .expect("login");
    assert_eq!(cross.status(), StatusCode::OK);
    let page = cross.text().await.expect("page");
    assert!(page.contains("Continue to sign in?"), "{page}");
    assert_eq!(
        app.provider.stats().authorize_requests,
        before,
        "no login started"
    );
}

/// An acceptance scenario (see the crate docs): `form_post` (the authorization
/// response posted by the provider's page) signs in, with the pending cookie
/// `SameSite=None; Secure`; a form_post callback without the pending cookie, one
/// posted from another origin, and a `GET` carrying a code in form_post mode are each
/// refused, and none of them uses the code.
pub(crate) async fn dev_provider_form_post_signs_in_and_refuses_a_mix_of_modes(serve: Serve) {
    let app = start_dev_with(serve, DevProvider::builder().auto_approve(true), |b| {
        b.with_response_mode(auth_core::ResponseMode::FormPost)
    })
    .await;
    let issuer = app.provider.issuer().to_owned();
    let origin = url::Url::parse(&issuer)
        .expect("issuer")
        .origin()
        .ascii_serialization();
    let browser = DevProvider::browser();

    // The whole sign-in through the helper users' tests call.
    let page = app
        .provider
        .sign_in(
            &browser,
            &format!("{}/auth/login?return_to=/me", app.base),
            "bob",
        )
        .await
        .expect("sign in");
    assert_eq!(page.url().path(), "/me");
    let me: serde_json::Value = page.json().await.expect("json");
    assert_eq!(me["sub"], "bob");

    // Step by step: the request asks for form_post, the pending cookie can reach a
    // cross-site POST, and the provider answers with a form.
    let alice = DevProvider::browser();
    let start = alice
        .get(format!(
            "{}/auth/login?return_to=/me&login_hint=alice",
            app.base
        ))
        .send()
        .await
        .expect("login");
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let pending = start
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .find(|c| c.starts_with("auth_pending_") && !c.contains("Max-Age=0"))
        .expect("pending cookie");
    assert!(
        pending.contains("SameSite=None")
            && pending.contains("Secure")
            && pending.contains("HttpOnly"),
        "{pending}"
    );
    let authorize = start.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(authorize.contains("response_mode=form_post"), "{authorize}");
    let form = alice.get(&authorize).send().await.expect("authorize");
    assert_eq!(form.status(), StatusCode::OK);
    let (action, fields) = crate::posted_form(&form.text().await.expect("page"));
    assert_eq!(action, format!("{}/auth/callback", app.base));
    let code = fields
        .iter()
        .find(|(k, _)| k == "code")
        .expect("code")
        .1
        .clone();
    let state = fields
        .iter()
        .find(|(k, _)| k == "state")
        .expect("state")
        .1
        .clone();
    let grants = app.provider.stats().code_grants;

    // A GET carrying the code: refused before the code is used.
    let mut get = url::Url::parse(&action).expect("action");
    get.query_pairs_mut().extend_pairs(&fields);
    let r = alice
        .get(get)
        .header("accept", "text/html")
        .send()
        .await
        .expect("get callback");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        crate::page_code(&r.text().await.expect("page")),
        "response_mode_mismatch"
    );
    // Posted from another origin: refused.
    let r = alice
        .post(&action)
        .header("origin", "https://evil.example")
        .form(&fields)
        .send()
        .await
        .expect("foreign post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        crate::page_code(&r.text().await.expect("page")),
        "callback_origin_refused"
    );
    // Posted by a browser without the pending cookie: refused.
    let thief = DevProvider::browser();
    let r = thief
        .post(&action)
        .header("origin", &origin)
        .form(&[
            ("code", code.as_str()),
            ("state", state.as_str()),
            ("iss", issuer.as_str()),
        ])
        .send()
        .await
        .expect("post without the cookie");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        crate::page_code(&r.text().await.expect("page")),
        "login_expired"
    );
    assert!(
        app.events()
            .last()
            .is_some_and(|e| e.contains("PendingLoginMissing")),
        "{:?}",
        app.events()
    );
    assert_eq!(me_json(&thief, &app).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.provider.stats().code_grants,
        grants,
        "no refusal used the code"
    );

    // The provider's own POST, with the pending cookie: signed in.
    let r = alice
        .post(&action)
        .header("origin", &origin)
        .form(&fields)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/me");
    let (status, body) = me_json(&alice, &app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("\"sub\":\"alice\""), "{body}");
    assert_eq!(app.provider.stats().code_grants, grants + 1);
}

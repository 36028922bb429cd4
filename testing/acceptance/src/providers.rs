//! Several providers in one app (issue 15), on both frameworks: two development
//! providers with distinct keys behind one app, the chooser, sign-in at each, and every
//! mix-up variant of RFC 9700 §4.4 refused with its named reason.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_core::{Auth, AuthConfig, ProviderConfigBuilder};
use auth_testkit::{Alg, DevProvider, Misbehaviour, Signing};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use url::Url;

use crate::hostile::BACKCHANNEL_EVENT;
use crate::{API, API_SCOPE, Running, SECRET, Serve, follow, init, me_at, page_code};

/// An app with providers `a` and `b`, each a development provider of its own (own
/// keys, own issuer), auto-approving.
pub(crate) struct TwoProviders {
    pub(crate) base: String,
    pub(crate) a: DevProvider,
    pub(crate) b: DevProvider,
    events: Arc<Mutex<Vec<String>>>,
    /// The app's `Auth` (a handle on the one it serves with).
    pub(crate) auth: Auth,
    _server: Running,
}

impl TwoProviders {
    fn events(&self) -> Vec<String> {
        self.events.lock().expect("events").clone()
    }

    fn last_event(&self) -> String {
        self.events().last().cloned().unwrap_or_default()
    }
}

fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    (listener, base)
}

async fn dev(base: &str, id: &str) -> DevProvider {
    dev_approving(base, id, true).await
}

async fn dev_approving(base: &str, id: &str, auto_approve: bool) -> DevProvider {
    DevProvider::builder()
        .app_provider(base, id)
        .auto_approve(auto_approve)
        .api_audience(API)
        .start()
        .await
        .expect("dev provider")
}

fn with_api(p: ProviderConfigBuilder) -> ProviderConfigBuilder {
    p.with_api_audience(API)
}

async fn two_providers(serve: Serve) -> TwoProviders {
    two_providers_approving(serve, true).await
}

/// Providers `a` and `b`; with `auto_approve` off they show their sign-in page.
pub(crate) async fn two_providers_approving(serve: Serve, auto_approve: bool) -> TwoProviders {
    two_providers_configured(serve, auto_approve, |_, p| p).await
}

/// Providers `a` and `b`, each configured by `tweak` (given its id) as well.
async fn two_providers_configured(
    serve: Serve,
    auto_approve: bool,
    tweak: impl Fn(&str, ProviderConfigBuilder) -> ProviderConfigBuilder,
) -> TwoProviders {
    init();
    let (listener, base) = bind();
    let a = dev_approving(&base, "a", auto_approve).await;
    let b = dev_approving(&base, "b", auto_approve).await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let config = AuthConfig::builder_for_providers(&base)
        .with_provider(tweak(
            "a",
            with_api(a.provider_config("a").with_name("Provider A")),
        ))
        .with_provider(tweak(
            "b",
            with_api(b.provider_config("b").with_name("Provider B")),
        ))
        .with_required_api_scopes([API_SCOPE])
        .with_event_hook(move |e| seen.lock().expect("events").push(format!("{e:?}")))
        .build()
        .expect("config");
    let auth = Auth::discover(config).await.expect("discovery");
    TwoProviders {
        base,
        a,
        b,
        events,
        auth: auth.clone(),
        _server: serve(auth, listener),
    }
}

/// Signs in at provider `id` as `user`; returns `/me`.
async fn sign_in_at(app: &TwoProviders, browser: &reqwest::Client, id: &str, user: &str) -> Value {
    let provider = if id == "a" { &app.a } else { &app.b };
    let page = provider
        .sign_in(
            browser,
            &format!("{}/auth/login/{id}?return_to=/me", app.base),
            user,
        )
        .await
        .expect("sign in");
    assert_eq!(page.status(), StatusCode::OK);
    page.json().await.expect("json")
}

/// Starts a login at provider `id` and returns the authorization response the
/// provider sent back (the URL of the app's callback, not yet opened).
async fn authorization_response(app: &TwoProviders, browser: &reqwest::Client, id: &str) -> Url {
    let start = browser
        .get(format!("{}/auth/login/{id}", app.base))
        .send()
        .await
        .expect("login");
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    assert!(start.headers().get(SET_COOKIE).is_some(), "pending login");
    let authorize = start.headers()[LOCATION]
        .to_str()
        .expect("ascii")
        .to_owned();
    let answer = browser.get(&authorize).send().await.expect("authorize");
    let to = answer.headers()[LOCATION].to_str().expect("ascii");
    Url::parse(to).expect("url")
}

async fn status_and_body(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    (status, r.text().await.expect("body"))
}

/// `GET /auth/login` with several providers: a chooser page, one link per provider to
/// its own login route, keeping `return_to`; each provider has its own routes, and the
/// single-provider routes are gone.
pub(crate) async fn providers_chooser_links_each_provider_keeping_return_to(serve: Serve) {
    let app = two_providers(serve).await;
    let r = reqwest::get(format!("{}/auth/login?return_to=/reports", app.base))
        .await
        .expect("chooser");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let html = r.text().await.expect("body");
    for (id, name) in [("a", "Provider A"), ("b", "Provider B")] {
        let link = format!("href=\"/auth/login/{id}?return_to=/reports\"");
        assert!(html.contains(&link), "{link} in {html}");
        assert!(html.contains(name), "{name} in {html}");
    }
    let signup = reqwest::get(format!("{}/auth/signup", app.base))
        .await
        .expect("chooser")
        .text()
        .await
        .expect("body");
    assert!(signup.contains("href=\"/auth/signup/b\""), "{signup}");
    for (path, status) in [
        ("/auth/login/c", StatusCode::NOT_FOUND),
        ("/auth/callback", StatusCode::NOT_FOUND),
    ] {
        let r = reqwest::get(format!("{}{path}", app.base))
            .await
            .expect("get");
        assert_eq!(r.status(), status, "{path}");
    }
}

/// Signing in at each provider: `/me` names the provider and its issuer; logout goes
/// to the end-session endpoint of the provider that signed the session in.
pub(crate) async fn providers_sign_in_at_each_and_log_out_at_the_right_one(serve: Serve) {
    let app = two_providers(serve).await;
    for (id, provider) in [("a", &app.a), ("b", &app.b)] {
        let browser = DevProvider::browser();
        let me = sign_in_at(&app, &browser, id, "alice").await;
        assert_eq!(me["sub"], "alice");
        assert_eq!(me["iss"], provider.issuer());
        assert_eq!(me["provider"], id);
        let (last, seen) = follow(&browser, &format!("{}/auth/logout", app.base)).await;
        assert_eq!(last.status(), StatusCode::OK);
        assert!(
            seen.iter()
                .any(|u| u.starts_with(&format!("{}/end_session?", provider.issuer()))),
            "{id}: {seen:?}"
        );
        assert_eq!(
            me_at(&browser, &app.base).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(app.a.stats().code_grants, 1);
    assert_eq!(app.b.stats().code_grants, 1);
}

/// Mix-up: provider A's authorization response delivered to provider B's callback
/// path. The sealed pending login says A; the callback of B refuses and no token
/// request reaches either provider.
pub(crate) async fn mixup_callback_at_another_providers_path_is_refused(serve: Serve) {
    let app = two_providers(serve).await;
    let browser = DevProvider::browser();
    let response = authorization_response(&app, &browser, "a").await;
    assert_eq!(response.path(), "/auth/callback/a");
    let mut at_b = response.clone();
    at_b.set_path("/auth/callback/b");
    let (status, body) = status_and_body(browser.get(at_b).send().await.expect("cb")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(page_code(&body), "provider_mismatch");
    assert_eq!(app.last_event(), "LoginRefused(ProviderMismatch)");
    assert_eq!(
        (app.a.stats().token_requests, app.b.stats().token_requests),
        (0, 0)
    );
    assert_eq!(
        me_at(&browser, &app.base).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Mix-up: an authorization response at A's callback whose `iss` (RFC 9207) names B.
pub(crate) async fn mixup_iss_parameter_naming_another_issuer_is_refused(serve: Serve) {
    let app = two_providers(serve).await;
    let browser = DevProvider::browser();
    let response = authorization_response(&app, &browser, "a").await;
    let mut forged = response.clone();
    let pairs: Vec<(String, String)> = response
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "iss" {
                app.b.issuer().to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let (status, body) = status_and_body(browser.get(forged).send().await.expect("cb")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(page_code(&body), "invalid_callback");
    assert_eq!(app.last_event(), "LoginRefused(IssuerMismatch)");
    assert_eq!(app.a.stats().token_requests, 0);
}

/// Mix-up: A's token endpoint answers with an ID token whose `iss` is B's (signed by
/// A): judged by A's rules, it is refused.
pub(crate) async fn mixup_id_token_from_a_naming_bs_issuer_is_refused(serve: Serve) {
    let app = two_providers(serve).await;
    app.a
        .misbehave(Misbehaviour::default().id_token_claim("iss", json!(app.b.issuer())));
    let browser = DevProvider::browser();
    let page = app
        .a
        .sign_in(&browser, &format!("{}/auth/login/a", app.base), "alice")
        .await
        .expect("round trip");
    let (status, body) = status_and_body(page).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(page_code(&body), "invalid_token");
    assert_eq!(app.last_event(), "LoginRefused(IdToken(InvalidIssuer))");
    assert_eq!(
        me_at(&browser, &app.base).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn post_logout_token(app: &TwoProviders, id: &str, token: String) -> StatusCode {
    reqwest::Client::new()
        .post(format!("{}/auth/backchannel-logout/{id}", app.base))
        .form(&[("logout_token", token)])
        .send()
        .await
        .expect("post")
        .status()
}

fn logout_claims(iss: &str, sub: &str) -> Value {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    json!({
        "iss": iss, "aud": auth_testkit::DEV_CLIENT_ID, "iat": t, "exp": t + 120,
        "jti": format!("jti-{iss}-{t}"), "sub": sub, "events": { BACKCHANNEL_EVENT: {} },
    })
}

/// Mix-up at the back channel: at A's path, a logout token signed by B (naming A's
/// issuer, or B's own) is refused, and the A-session survives.
pub(crate) async fn mixup_logout_token_of_another_provider_is_refused(serve: Serve) {
    let app = two_providers(serve).await;
    let browser = DevProvider::browser();
    sign_in_at(&app, &browser, "a", "alice").await;
    let signed_by_b = app.b.sign_jwt(
        &Signing::Key(Alg::RS256),
        "logout+jwt",
        &logout_claims(app.a.issuer(), "alice"),
    );
    assert_eq!(
        post_logout_token(&app, "a", signed_by_b).await,
        StatusCode::BAD_REQUEST
    );
    assert!(
        app.last_event()
            .starts_with("BackchannelLogoutRefused(Invalid(UnknownKey"),
        "{:?}",
        app.events()
    );
    let issued_by_b = app.b.sign_jwt(
        &Signing::Key(Alg::RS256),
        "logout+jwt",
        &logout_claims(app.b.issuer(), "alice"),
    );
    assert_eq!(
        post_logout_token(&app, "a", issued_by_b).await,
        StatusCode::BAD_REQUEST
    );
    assert!(
        app.last_event()
            .starts_with("BackchannelLogoutRefused(Invalid(UnknownKey"),
        "{:?}",
        app.events()
    );
    assert_eq!(me_at(&browser, &app.base).await.status(), StatusCode::OK);
}

/// A user is (iss, sub): alice at A and alice at B are two users. B's back-channel
/// logout of alice, by `sub` alone or by her B-session's `sid`, ends only B-sessions.
pub(crate) async fn backchannel_logout_at_one_provider_ends_only_its_session(serve: Serve) {
    let app = two_providers(serve).await;
    let (at_a, at_b) = (DevProvider::browser(), DevProvider::browser());
    sign_in_at(&app, &at_a, "a", "alice").await;
    sign_in_at(&app, &at_b, "b", "alice").await;
    // By `sub` alone (no `sid`): every session of B's alice.
    let by_sub = app.b.sign_jwt(
        &Signing::Key(Alg::RS256),
        "logout+jwt",
        &logout_claims(app.b.issuer(), "alice"),
    );
    assert_eq!(post_logout_token(&app, "b", by_sub).await, StatusCode::OK);
    assert_eq!(
        me_at(&at_b, &app.base).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me_at(&at_a, &app.base).await.status(), StatusCode::OK);
    // By `sid`, as the provider sends it when an administrator ends her sessions.
    // (Session times are whole seconds: a sign-in in the second of a logout by `sub`
    // counts as before it.)
    tokio::time::sleep(Duration::from_millis(1100)).await;
    sign_in_at(&app, &at_b, "b", "alice").await;
    app.b.log_out_user("alice").await;
    let s = app.b.stats();
    // Both of her provider sessions at B (the first one's logout was only ours).
    assert_eq!(
        (s.backchannel_logouts_sent, s.backchannel_logouts_failed),
        (2, 0)
    );
    assert_eq!(
        me_at(&at_b, &app.base).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me_at(&at_a, &app.base).await.status(), StatusCode::OK);
    // A's own logout token, at A's path, ends the A-session.
    let token = app.a.sign_jwt(
        &Signing::Key(Alg::RS256),
        "logout+jwt",
        &logout_claims(app.a.issuer(), "alice"),
    );
    assert_eq!(post_logout_token(&app, "a", token).await, StatusCode::OK);
    assert_eq!(
        me_at(&at_a, &app.base).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn api_with(app: &TwoProviders, token: &str) -> (StatusCode, Value) {
    crate::api_me_with(&app.base, token).await
}

/// Bearer tokens from each provider are accepted, each checked with its own issuer's
/// keys; a token naming A but signed with B's key, and a token of an issuer that is
/// not configured, are refused.
pub(crate) async fn bearer_tokens_are_checked_with_their_own_providers_keys(serve: Serve) {
    let app = two_providers(serve).await;
    for (id, provider) in [("a", &app.a), ("b", &app.b)] {
        let (status, body) = api_with(&app, &provider.access_token("alice", &[API_SCOPE])).await;
        assert_eq!(status, StatusCode::OK, "{id}: {body}");
        assert_eq!(body["iss"], provider.issuer());
        assert_eq!(body["provider"], id);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = |iss: &str| {
        json!({ "iss": iss, "sub": "alice", "aud": API, "client_id": "dev-client",
                "scope": API_SCOPE, "iat": t, "exp": t + 300 })
    };
    let a_named_b_signed =
        app.b
            .sign_jwt(&Signing::Key(Alg::RS256), "at+jwt", &claims(app.a.issuer()));
    assert_eq!(
        api_with(&app, &a_named_b_signed).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        app.last_event()
            .starts_with("BearerRefused(Invalid(UnknownKey"),
        "{:?}",
        app.events()
    );
    let other = DevProvider::builder()
        .api_audience(API)
        .start()
        .await
        .expect("third provider");
    let unconfigured = other.sign_jwt(&Signing::Key(Alg::RS256), "at+jwt", &claims(other.issuer()));
    assert_eq!(
        api_with(&app, &unconfigured).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.last_event(), "BearerRefused(Invalid(InvalidIssuer))");
}

/// A provider that is down at start does not stop the app: its routes answer 503
/// while the other works, and once it is up (found again by the background retry)
/// its sign-in works.
pub(crate) async fn provider_down_at_start_answers_503_until_it_is_discovered(serve: Serve) {
    init();
    let (listener, base) = bind();
    let a = dev(&base, "a").await;
    // B's port is reserved and released: nothing listens there at start.
    let b_port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let b_issuer = format!("http://127.0.0.1:{b_port}");
    let config = AuthConfig::builder_for_providers(&base)
        .with_provider(a.provider_config("a"))
        .with_provider(
            auth_core::ProviderConfig::builder("b", &b_issuer, auth_testkit::DEV_CLIENT_ID)
                .with_client_secret("b-secret"),
        )
        .with_connect_timeout(Duration::from_millis(500))
        .build()
        .expect("config");
    let auth = Auth::discover(config).await.expect("A is up");
    let _server = serve(auth, listener);
    let browser = DevProvider::browser();
    let r = browser
        .get(format!("{base}/auth/login/b"))
        .send()
        .await
        .expect("login");
    let (status, body) = status_and_body(r).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(page_code(&body), "provider_unavailable");
    let r = browser
        .get(format!("{base}/auth/login/a"))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "A works meanwhile");
    let b = DevProvider::builder()
        .port(b_port)
        .app_provider(&base, "b")
        .start()
        .await
        .expect("B comes up");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = browser
            .get(format!("{base}/auth/login/b"))
            .send()
            .await
            .expect("login");
        if r.status() == StatusCode::SEE_OTHER {
            let to = r.headers()[LOCATION].to_str().expect("ascii");
            assert!(
                to.starts_with(&format!("{}/authorize?", b.issuer())),
                "{to}"
            );
            break;
        }
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(Instant::now() < deadline, "B was never discovered");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The real `oidc-provider` and the development provider behind one app, configured
/// from the environment as a deployment would be (`OIDC_PROVIDERS=corp,dev` and
/// `OIDC_CORP_*`, `OIDC_DEV_*`): the chooser lists both, each signs in with its own
/// issuer, and logout goes to the end-session endpoint of the session's provider.
pub(crate) async fn providers_from_the_environment_real_oidc_provider_and_dev_provider(
    serve: Serve,
) {
    init();
    let (listener, base) = bind();
    let corp = provider_harness::TestProvider::start(json!({
        "clients": [{
            "client_id": "example",
            "client_secret": SECRET,
            "redirect_uris": [format!("{base}/auth/callback/corp")],
            "post_logout_redirect_uris": [format!("{base}/")],
            "backchannel_logout_uri": format!("{base}/auth/backchannel-logout/corp"),
        }]
    }))
    .await;
    let dev = dev(&base, "dev").await;
    let (dev_id, dev_secret) = dev.client_credentials().expect("client");
    let env = [
        ("APP_URL", base.as_str()),
        ("OIDC_PROVIDERS", "corp, dev"),
        ("OIDC_CORP_ISSUER", corp.issuer.as_str()),
        ("OIDC_CORP_CLIENT_ID", "example"),
        ("OIDC_CORP_CLIENT_SECRET", SECRET),
        ("OIDC_CORP_NAME", "Corporate SSO"),
        ("OIDC_CORP_API_AUDIENCE", API),
        ("OIDC_DEV_ISSUER", dev.issuer()),
        ("OIDC_DEV_CLIENT_ID", dev_id),
        ("OIDC_DEV_CLIENT_SECRET", dev_secret),
        ("OIDC_DEV_API_AUDIENCE", API),
    ];
    let config = AuthConfig::from_lookup(|name| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("config from the environment");
    let auth = Auth::discover(config).await.expect("discovery");
    let _server = serve(auth, listener);

    let chooser = reqwest::get(format!("{base}/auth/login"))
        .await
        .expect("chooser")
        .text()
        .await
        .expect("body");
    assert!(chooser.contains("href=\"/auth/login/corp\""), "{chooser}");
    assert!(chooser.contains("Corporate SSO"), "{chooser}");
    assert!(chooser.contains("href=\"/auth/login/dev\""), "{chooser}");

    let browser = crate::browser();
    let (page, seen) = follow(&browser, &format!("{base}/auth/login/corp?return_to=/me")).await;
    assert_eq!(page.status(), StatusCode::OK, "{seen:?}");
    let me: Value = page.json().await.expect("json");
    assert_eq!(me["iss"], corp.issuer.as_str());
    assert_eq!(me["provider"], "corp");
    let (_, seen) = follow(&browser, &format!("{base}/auth/logout")).await;
    assert!(
        seen.iter()
            .any(|u| u.starts_with(&format!("{}/session/end", corp.issuer))),
        "{seen:?}"
    );

    let browser = DevProvider::browser();
    let page = dev
        .sign_in(
            &browser,
            &format!("{base}/auth/login/dev?return_to=/me"),
            "bob",
        )
        .await
        .expect("sign in");
    let me: Value = page.json().await.expect("json");
    assert_eq!(
        (me["sub"].as_str(), me["iss"].as_str()),
        (Some("bob"), Some(dev.issuer()))
    );
    assert_eq!(me["provider"], "dev");
}

/// An acceptance scenario (issue 33, E3): home-realm discovery. With `a` serving
/// `a.example` and `b` serving `b.example`, a login whose `login_hint` is an email of
/// `b.example` (any case) goes straight to `b` with the hint; an email of a domain no
/// provider serves gets the chooser, saying so, with the hint kept in every link; the
/// chooser offers a "work email" field (a GET form to the same route) that signs in
/// through the provider of its domain. Started by another site, the same login asks
/// the user first.
pub(crate) async fn home_realm_discovery_picks_the_provider_of_the_email_domain(serve: Serve) {
    let app = two_providers_configured(serve, true, |id, p| {
        p.with_domains([format!("{id}.example")])
    })
    .await;
    let client = DevProvider::browser();
    let login = |query: &str| client.get(format!("{}/auth/login{query}", app.base)).send();
    let r = login("?login_hint=carol%40B.example&return_to=%2Fme")
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()[LOCATION].to_str().expect("ascii").to_owned();
    assert!(
        to.starts_with(&format!("{}/authorize?", app.b.issuer())),
        "{to}"
    );
    assert!(to.contains("login_hint=carol%40B.example"), "{to}");

    let r = login("?login_hint=dave%40other.example")
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.expect("page");
    assert!(page.contains("is set up for other.example"), "{page}");
    assert!(
        page.contains("href=\"/auth/login/a?login_hint=dave%40other.example\""),
        "{page}"
    );

    let r = login("?return_to=%2Fme").await.expect("chooser");
    let page = r.text().await.expect("page");
    let form = page
        .split("<form class=\"auth-work-email\" method=\"get\" action=\"/auth/login\">")
        .nth(1)
        .unwrap_or_else(|| panic!("a work email field: {page}"));
    let form = form.split("</form>").next().expect("form");
    assert!(form.contains("name=\"return_to\" value=\"/me\""), "{form}");
    assert!(
        form.contains("type=\"email\" name=\"login_hint\""),
        "{form}"
    );
    // The field's submission: the same route with the email.
    let page = app
        .b
        .sign_in(
            &client,
            &format!(
                "{}/auth/login?return_to=%2Fme&login_hint=bob%40b.example",
                app.base
            ),
            "bob",
        )
        .await
        .expect("sign in");
    assert_eq!(page.url().path(), "/me");
    let me: Value = page.json().await.expect("json");
    assert_eq!(
        (me["sub"].as_str(), me["provider"].as_str()),
        (Some("bob"), Some("b"))
    );

    let before = app.a.stats().authorize_requests + app.b.stats().authorize_requests;
    let r = client
        .get(format!(
            "{}/auth/login?login_hint=carol%40a.example",
            app.base
        ))
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .expect("cross-site");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("Continue to sign in?")
    );
    let after = app.a.stats().authorize_requests + app.b.stats().authorize_requests;
    assert_eq!(before, after, "no login started");
}

crate::suite! {$
    /// The providers suite: every scenario of this module, on one framework.
    providers_suite(Serve):
        providers_chooser_links_each_provider_keeping_return_to,
        providers_sign_in_at_each_and_log_out_at_the_right_one,
        mixup_callback_at_another_providers_path_is_refused,
        mixup_iss_parameter_naming_another_issuer_is_refused,
        mixup_id_token_from_a_naming_bs_issuer_is_refused,
        mixup_logout_token_of_another_provider_is_refused,
        backchannel_logout_at_one_provider_ends_only_its_session,
        bearer_tokens_are_checked_with_their_own_providers_keys,
        provider_down_at_start_answers_503_until_it_is_discovered,
        providers_from_the_environment_real_oidc_provider_and_dev_provider,
        home_realm_discovery_picks_the_provider_of_the_email_domain,
}

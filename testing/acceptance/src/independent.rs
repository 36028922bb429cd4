//! A second provider that no one here wrote (issue 34): the core scenarios against
//! Django OAuth Toolkit (`django-provider/`, pinned), one process per test binary.
//! Sign-in goes through its own login page (Django's, with its CSRF token), as a user's
//! browser would.

use std::net::TcpListener;
use std::time::Duration;

use auth_core::{Auth, AuthConfig, AuthConfigBuilder};
use provider_harness::{DJANGO_CLIENT_SECRET, DJANGO_SVC_SECRET, DjangoProvider};
use reqwest::header::LOCATION;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use url::Url;

use crate::{API, API_SCOPE, Running, Serve, browser, follow, init, me_at};

struct DotApp {
    base: String,
    dot: &'static DjangoProvider,
    _server: Running,
}

/// The example app signing in at the binary's Django OAuth Toolkit (discovered), its
/// API taking that provider's opaque access tokens by introspection.
async fn dot_app(
    serve: Serve,
    configure: impl FnOnce(AuthConfigBuilder) -> AuthConfigBuilder,
) -> DotApp {
    init();
    let dot = DjangoProvider::shared();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let config = configure(
        AuthConfig::builder(&dot.issuer, "example", &base)
            .with_client_secret(DJANGO_CLIENT_SECRET)
            .with_api_audience(API)
            .with_required_api_scopes([API_SCOPE])
            .with_api_introspection(true),
    )
    .build()
    .expect("config");
    let auth = Auth::discover(config)
        .await
        .expect("Django OAuth Toolkit discovered");
    DotApp {
        base,
        dot,
        _server: serve(auth, listener),
    }
}

/// The value of the hidden field `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    html.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|v| v.split('"').next())
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        .replace("&amp;", "&")
}

/// Starts a login at the app and signs in as `user` at Django's login page: the URL the
/// provider sends the browser back to (the app's callback, not visited).
async fn authorize_as(client: &Client, app: &DotApp, user: &str) -> Url {
    let (page, hops) = follow(client, &format!("{}/auth/login", app.base)).await;
    let login_url = hops.last().expect("hops").clone();
    assert!(login_url.contains("/accounts/login/"), "{hops:?}");
    let html = page.text().await.expect("login page");
    let posted = client
        .post(&login_url)
        .form(&[
            ("csrfmiddlewaretoken", hidden(&html, "csrfmiddlewaretoken")),
            ("username", user.to_owned()),
            ("password", format!("{user}-password")),
            ("next", hidden(&html, "next")),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(posted.status(), StatusCode::FOUND, "signed in at Django");
    let next = Url::parse(&login_url)
        .expect("url")
        .join(posted.headers()[LOCATION].to_str().expect("ascii"))
        .expect("join");
    let authorized = client.get(next.clone()).send().await.expect("authorize");
    if authorized.status() != StatusCode::FOUND {
        let status = authorized.status();
        panic!(
            "{next}: {status} {}",
            authorized.text().await.unwrap_or_default()
        );
    }
    let back = Url::parse(authorized.headers()[LOCATION].to_str().expect("ascii")).expect("url");
    assert!(
        back.as_str()
            .starts_with(&format!("{}/auth/callback?", app.base)),
        "{back}"
    );
    back
}

async fn sign_in_as(client: &Client, app: &DotApp, user: &str) {
    let back = authorize_as(client, app, user).await;
    let (landed, hops) = follow(client, back.as_str()).await;
    assert_eq!(landed.status(), StatusCode::OK, "{hops:?}");
}

async fn stats(app: &DotApp) -> Value {
    reqwest::get(app.dot.stats_url())
        .await
        .expect("stats")
        .json()
        .await
        .expect("json")
}

async fn me_json(client: &Client, app: &DotApp) -> Value {
    let r = me_at(client, &app.base).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.expect("json")
}

/// Sign-in at Django OAuth Toolkit (its login page, PKCE, its RFC 9207 `iss`, an RS256
/// ID token with the claims its validator gives), refresh with rotation (the toolkit
/// revokes the old refresh token), then RP-initiated logout at its end-session endpoint:
/// the app's session ends, the toolkit's too (a new login asks for the password again).
pub(crate) async fn independent_provider_sign_in_refresh_and_logout(serve: Serve) {
    let app = dot_app(serve, |b| b.with_refresh_margin(Duration::from_secs(0))).await;
    let client = browser();
    let back = authorize_as(&client, &app, "alice").await;
    let params: Vec<(String, String)> = back.query_pairs().into_owned().collect();
    assert!(
        params.contains(&("iss".into(), app.dot.issuer.clone())),
        "{back}"
    );
    let (landed, hops) = follow(&client, back.as_str()).await;
    assert_eq!(landed.status(), StatusCode::OK, "{hops:?}");
    let me = me_json(&client, &app).await;
    assert_eq!(me["email"], "alice@example.com", "{me}");

    // Refresh: the app refreshes at the next request whose token is near its end.
    let refreshing = dot_app(serve, |b| {
        b.with_refresh_margin(Duration::from_secs(10 * 3600 + 60))
    })
    .await;
    let client = browser();
    sign_in_as(&client, &refreshing, "alice").await;
    let before = stats(&refreshing).await;
    assert_eq!(
        me_json(&client, &refreshing).await["email"],
        "alice@example.com"
    );
    let after = stats(&refreshing).await;
    let grew = |k: &str| after[k].as_i64().unwrap_or(0) - before[k].as_i64().unwrap_or(0);
    assert!(
        grew("refresh_tokens_revoked") >= 1,
        "rotated: {before} -> {after}"
    );
    assert!(
        grew("refresh_tokens") >= 1,
        "a new one: {before} -> {after}"
    );
    // The rotated refresh token is the one the session keeps: it refreshes again.
    let before = stats(&refreshing).await;
    assert_eq!(
        me_json(&client, &refreshing).await["email"],
        "alice@example.com"
    );
    let after = stats(&refreshing).await;
    assert!(after["refresh_tokens_revoked"].as_i64() > before["refresh_tokens_revoked"].as_i64());

    // RP-initiated logout.
    let r = client
        .get(format!("{}/auth/logout", refreshing.base))
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()[LOCATION].to_str().expect("ascii").to_owned();
    assert!(
        to.starts_with(&format!("{}/logout/?", app.dot.issuer)),
        "{to}"
    );
    assert_eq!(
        me_at(&client, &refreshing.base).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (done, hops) = follow(&client, &to).await;
    assert!(
        hops.last()
            .is_some_and(|h| h.starts_with(&format!("{}/", refreshing.base))),
        "back at the app: {hops:?} {}",
        done.status()
    );
    let (again, hops) = follow(&client, &format!("{}/auth/login", refreshing.base)).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(
        hops.last().is_some_and(|h| h.contains("/accounts/login/")),
        "signed out at Django too: {hops:?}"
    );
}

/// A client-credentials token of the toolkit's `svc` client for `resource` (RFC 8707),
/// opaque.
async fn svc_token(app: &DotApp, resource: Option<&str>, scope: &str) -> String {
    let mut form = vec![("grant_type", "client_credentials"), ("scope", scope)];
    form.extend(resource.map(|r| ("resource", r)));
    let r = Client::new()
        .post(format!("{}/token/", app.dot.issuer))
        .basic_auth("svc", Some(DJANGO_SVC_SECRET))
        .form(&form)
        .send()
        .await
        .expect("token");
    let body: Value = r.json().await.expect("json");
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {body}"))
        .to_owned()
}

async fn api_me(app: &DotApp, token: &str) -> (StatusCode, Value) {
    crate::api_me_with(&app.base, token).await
}

/// A bearer token on `/api/me`: the toolkit's access tokens are opaque, so the app
/// asks its introspection endpoint (which the toolkit names in its RFC 8414 metadata
/// only) with the app's client credentials. A token for this API with its scope is
/// accepted; one for no API, one without the scope, and a made-up one are refused.
pub(crate) async fn independent_provider_bearer_token_by_introspection(serve: Serve) {
    let app = dot_app(serve, |b| b).await;
    let token = svc_token(&app, Some(API), API_SCOPE).await;
    let (status, body) = api_me(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sub"], "svc", "{body}");
    let no_audience = svc_token(&app, None, API_SCOPE).await;
    assert_eq!(api_me(&app, &no_audience).await.0, StatusCode::UNAUTHORIZED);
    let no_scope = svc_token(&app, Some(API), "openid").await;
    assert_eq!(api_me(&app, &no_scope).await.0, StatusCode::FORBIDDEN);
    assert_eq!(api_me(&app, "made-up").await.0, StatusCode::UNAUTHORIZED);
}

/// A callback whose `state` was altered on the way back from the toolkit is refused
/// (400) before its code is used, and nobody is signed in.
pub(crate) async fn rp_independent_provider_tampered_state_refused(serve: Serve) {
    let app = dot_app(serve, |b| b).await;
    let client = browser();
    let back = authorize_as(&client, &app, "bob").await;
    let mut tampered = back.clone();
    let pairs: Vec<(String, String)> = back
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                format!("{v}x")
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    let r = client.get(tampered).send().await.expect("callback");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        me_at(&client, &app.base).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

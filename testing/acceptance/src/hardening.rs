//! The hardening suite: what an attacker's site, a sibling subdomain or a replayed
//! request must not be able to do to a signed-in user (issue 13). The cases where the
//! provider's own answers matter (a removed key, replayed or late logout tokens) are
//! also here and run in the hostile-provider suite. Each case is run on
//! both frameworks against the development provider, and each asserts the specific
//! answer of the rule it names (status, page code, and that the session survived or
//! ended).

use std::time::Duration;

use auth_testkit::{DevProvider, Misbehaviour, Signing};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::json;

use crate::API_SCOPE;
use crate::dev::DevApp;
use crate::hostile::{BACKCHANNEL_EVENT, hostile, hostile_with, me_status, now, sign_in};
use crate::{Serve, page_code};

/// A signed-in browser (alice) on a fresh app.
async fn signed_in(serve: Serve) -> (DevApp, reqwest::Client) {
    let app = hostile(serve).await;
    let browser = DevProvider::browser();
    assert_eq!(sign_in(&app, &browser).await.0, StatusCode::OK);
    assert_eq!(me_status(&browser, &app).await, StatusCode::OK);
    (app, browser)
}

fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()[LOCATION].to_str().expect("location").to_owned()
}

// ---- Logout (RP-Initiated Logout 1.0 §6) ----

/// A link or redirect from another site to `GET /auth/logout` only asks: 200 with a
/// POST form, and the session survives.
pub(crate) async fn rp_logout_cross_site_get_keeps_the_session(serve: Serve) {
    let (app, browser) = signed_in(serve).await;
    for site in ["cross-site", "same-site"] {
        let r = browser
            .get(format!("{}/auth/logout", app.base))
            .header("sec-fetch-site", site)
            .header("sec-fetch-mode", "navigate")
            .send()
            .await
            .expect("logout");
        assert_eq!(r.status(), StatusCode::OK, "{site}");
        assert!(set_cookies(&r).is_empty(), "nothing is removed ({site})");
        let body = r.text().await.expect("body");
        assert!(
            body.contains("<form method=\"post\" action=\"/auth/logout\">"),
            "{body}"
        );
        assert_eq!(me_status(&browser, &app).await, StatusCode::OK, "{site}");
    }
}

/// A form on another site that POSTs to `/auth/logout` gets 403; the session survives.
pub(crate) async fn rp_logout_cross_site_post_is_refused(serve: Serve) {
    let (app, browser) = signed_in(serve).await;
    let cases: [&[(&str, &str)]; 3] = [
        &[("origin", "https://attacker.example")],
        &[("origin", "null")],
        &[("sec-fetch-site", "cross-site")],
    ];
    for headers in cases {
        let mut request = browser.post(format!("{}/auth/logout", app.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let r = request.send().await.expect("logout");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{headers:?}");
        assert!(set_cookies(&r).is_empty(), "{headers:?}");
        assert_eq!(
            page_code(&r.text().await.expect("body")),
            "cross_site_logout"
        );
        assert_eq!(
            me_status(&browser, &app).await,
            StatusCode::OK,
            "{headers:?}"
        );
    }
}

/// `HEAD /auth/logout` (a prefetch, a link checker) never ends a session.
pub(crate) async fn rp_logout_head_keeps_the_session(serve: Serve) {
    let (app, browser) = signed_in(serve).await;
    let r = browser
        .head(format!("{}/auth/logout", app.base))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(set_cookies(&r).is_empty());
    assert_eq!(me_status(&browser, &app).await, StatusCode::OK);
}

/// The examples' sign-out button: a same-origin POST ends the session and goes to the
/// provider's end_session endpoint.
pub(crate) async fn logout_same_origin_post_ends_the_session(serve: Serve) {
    let (app, browser) = signed_in(serve).await;
    let r = browser
        .post(format!("{}/auth/logout", app.base))
        .header("origin", &app.base)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&r).starts_with(&format!("{}/end_session?", app.provider.issuer())),
        "{}",
        location(&r)
    );
    assert_eq!(me_status(&browser, &app).await, StatusCode::UNAUTHORIZED);
}

/// The public page offers sign-out as a POST form, not a link another site could copy.
pub(crate) async fn home_page_signs_out_with_a_post_form(serve: Serve) {
    let (app, browser) = signed_in(serve).await;
    let home = browser
        .get(format!("{}/", app.base))
        .send()
        .await
        .expect("home");
    let body = home.text().await.expect("body");
    assert!(
        body.contains("<form method=\"post\" action=\"/auth/logout\">"),
        "{body}"
    );
    assert!(!body.contains("href=\"/auth/logout\""), "{body}");
}

// ---- Login CSRF ----

/// Over https (also behind a proxy that speaks plain http to the app) the pending-login
/// cookie is `__Host-`: `Secure`, `Path=/`, no `Domain`, so a sibling subdomain cannot
/// plant one (RFC 9700 §4.7.1).
pub(crate) async fn rp_pending_cookie_is_host_bound_over_https(serve: Serve) {
    crate::init();
    let public = "https://app.example.test";
    let provider = DevProvider::builder()
        .auto_approve(true)
        .app(public)
        .start()
        .await
        .expect("dev provider");
    let config = provider.auth_config(public).build().expect("config");
    let auth = auth_core::Auth::discover(config).await.expect("discovery");
    // The app itself listens on plain http, as behind a TLS-terminating proxy.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let _app = serve(auth, listener);
    let r = DevProvider::browser()
        .get(format!("{base}/auth/login"))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookies = set_cookies(&r);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let c = cookie::Cookie::parse(cookies[0].clone()).expect("cookie");
    assert!(c.name().starts_with("__Host-auth_pending_"), "{c}");
    assert_eq!(c.path(), Some("/"));
    assert_eq!(c.domain(), None);
    assert_eq!(c.secure(), Some(true));
    assert_eq!(c.http_only(), Some(true));
    assert_eq!(c.same_site(), Some(cookie::SameSite::Lax));
}

/// A login that another site starts and that names an identity provider or account
/// is not forwarded: the user is asked, and no pending login exists yet (RFC 6749
/// §10.12). From this site it goes straight through.
pub(crate) async fn rp_cross_site_login_cannot_pick_the_identity_provider(serve: Serve) {
    let app = hostile(serve).await;
    let browser = DevProvider::browser();
    let login = format!(
        "{}/auth/login?connection_id=conn_attacker&return_to=/me",
        app.base
    );
    for option in [
        "connection_id=conn_attacker",
        "organization_id=org_attacker",
        "provider=GoogleOAuth",
        "login_hint=attacker%40example.com",
        "domain_hint=attacker.example",
    ] {
        let r = browser
            .get(format!("{}/auth/login?{option}&return_to=/me", app.base))
            .header("sec-fetch-site", "cross-site")
            .header("sec-fetch-mode", "navigate")
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), StatusCode::OK, "{option}");
        assert!(set_cookies(&r).is_empty(), "no pending login ({option})");
        let body = r.text().await.expect("body");
        let continue_link = format!(
            "href=\"/auth/login?{}&amp;return_to=/me\"",
            option.replace('&', "&amp;")
        );
        assert!(body.contains(&continue_link), "{option}: {body}");
    }
    // Without an identity option, or from this site, the login starts.
    let plain = browser
        .get(format!("{}/auth/login?return_to=/me", app.base))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("login");
    assert_eq!(plain.status(), StatusCode::SEE_OTHER);
    let same = browser
        .get(&login)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .expect("login");
    assert_eq!(same.status(), StatusCode::SEE_OTHER);
    assert!(location(&same).contains("connection_id=conn_attacker"));
}

/// An option the app set is never replaced by a visitor's (Google's `hd`, say).
pub(crate) async fn rp_visitor_option_never_replaces_a_pinned_one(serve: Serve) {
    let app = hostile_with(serve, DevProvider::builder(), |b| {
        b.with_default_login_options(
            auth_core::LoginOptions::default().with_domain_hint("corp.example"),
        )
    })
    .await;
    let r = DevProvider::browser()
        .get(format!(
            "{}/auth/login?domain_hint=attacker.example",
            app.base
        ))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = reqwest::Url::parse(&location(&r)).expect("url");
    let hints: Vec<_> = to
        .query_pairs()
        .filter(|(k, _)| k == "domain_hint")
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(hints, ["corp.example"]);
}

// ---- Sub-resources ----

/// An image, script or `fetch()` of a protected route without a session gets 401 and
/// no cookie: it never starts a login.
pub(crate) async fn rp_protected_route_from_a_subresource_gets_401_and_no_cookie(serve: Serve) {
    let app = hostile(serve).await;
    let browser = DevProvider::browser();
    for (mode, dest) in [
        ("no-cors", "image"),
        ("cors", "empty"),
        ("no-cors", "script"),
    ] {
        let r = browser
            .get(format!("{}/me", app.base))
            .header("accept", "*/*")
            .header("sec-fetch-mode", mode)
            .header("sec-fetch-dest", dest)
            .send()
            .await
            .expect("me");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{mode} {dest}");
        assert!(set_cookies(&r).is_empty(), "{mode} {dest}");
        assert!(r.headers().get(LOCATION).is_none(), "{mode} {dest}");
    }
    // A navigation is still sent to sign in.
    let page = browser
        .get(format!("{}/me", app.base))
        .header("accept", "text/html")
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .expect("me");
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&page), "/auth/login?return_to=%2Fme");
}

/// `/auth/login` loaded as a sub-resource creates no pending login.
pub(crate) async fn rp_login_from_a_subresource_creates_no_pending_login(serve: Serve) {
    let app = hostile(serve).await;
    let r = DevProvider::browser()
        .get(format!("{}/auth/login", app.base))
        .header("sec-fetch-mode", "no-cors")
        .header("sec-fetch-dest", "image")
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookies(&r).is_empty());
    assert_eq!(
        page_code(&r.text().await.expect("body")),
        "not_a_navigation"
    );
}

// ---- Body limit ----

/// Posts a body of 32 KiB and one of 32 KiB + 1 to every auth route of `auth` that
/// takes `POST`: the first is read (whatever the route then answers), the second gets
/// 413 unread. Returns the paths checked.
async fn bodies_bounded(auth: &auth_core::Auth, base: &str) -> Vec<String> {
    let client = DevProvider::browser();
    let mut checked = Vec::new();
    let ids: Vec<&str> = auth
        .config()
        .providers()
        .iter()
        .filter_map(|p| p.id())
        .collect();
    // A per-provider route (`{id}`) is checked at each provider's path.
    let paths = auth.routes().into_iter().flat_map(|route| {
        let at: Vec<String> = if route.path().contains("{id}") {
            ids.iter()
                .map(|id| route.path().replace("{id}", id))
                .collect()
        } else {
            vec![route.path().to_owned()]
        };
        at.into_iter().map(move |path| (route.clone(), path))
    });
    for (route, path) in paths.collect::<Vec<_>>() {
        if !route.methods().contains(&http::Method::POST) {
            continue;
        }
        assert_eq!(route.body_limit(), 32 * 1024, "{path}");
        let post = |len: usize| {
            client
                .post(format!("{base}{path}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", base)
                .body("a".repeat(len))
                .send()
        };
        let at_limit = post(32 * 1024).await.expect("post").status();
        assert_ne!(
            at_limit,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{path}: 32 KiB is read"
        );
        let over = post(32 * 1024 + 1).await.expect("post").status();
        assert_eq!(over, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        checked.push(path);
    }
    checked
}

/// Every auth route that takes a body (sign-out, back-channel logout with one
/// provider and per provider, the per-provider callbacks (a form_post provider's
/// posted response), the organization switch) reads at most 32 KiB, on both
/// frameworks.
pub(crate) async fn rp_every_auth_route_with_a_body_refuses_more_than_32_kib(serve: Serve) {
    let app = hostile(serve).await;
    assert_eq!(
        bodies_bounded(&app.auth, &app.base).await,
        ["/auth/logout", "/auth/backchannel-logout"]
    );
    let workos = hostile_with(serve, DevProvider::builder(), |b| {
        b.with_provider_kind(auth_core::ProviderKind::WorkosUserManagement)
    })
    .await;
    assert_eq!(
        bodies_bounded(&workos.auth, &workos.base).await,
        [
            "/auth/logout",
            "/auth/backchannel-logout",
            "/auth/organization"
        ]
    );
    let two = crate::providers::two_providers_approving(serve, true).await;
    assert_eq!(
        bodies_bounded(&two.auth, &two.base).await,
        [
            "/auth/logout",
            "/auth/callback/a",
            "/auth/callback/b",
            "/auth/backchannel-logout/a",
            "/auth/backchannel-logout/b"
        ]
    );
}

/// One body limit on both frameworks: a back-channel logout body over 32 KiB gets 413.
pub(crate) async fn rp_backchannel_logout_oversized_body_gets_413(serve: Serve) {
    let app = hostile(serve).await;
    let body = format!("logout_token={}", "a".repeat(64 * 1024));
    let r = DevProvider::browser()
        .post(format!("{}/auth/backchannel-logout", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("backchannel");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

// ---- max_age and auth_time (OIDC Core §3.1.3.7 item 11) ----

async fn sign_in_with_max_age(app: &DevApp, browser: &reqwest::Client) -> (StatusCode, String) {
    let r = app
        .provider
        .sign_in(
            browser,
            &format!("{}/auth/login?max_age=60&return_to=/me", app.base),
            "alice",
        )
        .await
        .expect("the sign-in round trip");
    let status = r.status();
    (status, r.text().await.expect("body"))
}

/// With `max_age` sent, an ID token without `auth_time` is refused.
pub(crate) async fn rp_auth_time_missing_with_max_age_refused(serve: Serve) {
    let app = hostile(serve).await;
    app.provider
        .misbehave(Misbehaviour::default().without_id_token_claim("auth_time"));
    let browser = DevProvider::browser();
    let (status, body) = sign_in_with_max_age(&app, &browser).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(page_code(&body), "auth_time_missing");
    assert_eq!(me_status(&browser, &app).await, StatusCode::UNAUTHORIZED);
    // Without max_age, auth_time is not required.
    assert_eq!(sign_in(&app, &browser).await.0, StatusCode::OK);
}

/// With `max_age` sent, an `auth_time` older than `max_age` plus the leeway is refused.
pub(crate) async fn rp_auth_time_older_than_max_age_refused(serve: Serve) {
    let app = hostile(serve).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    app.provider.misbehave(
        Misbehaviour::default().id_token_claim("auth_time", serde_json::json!(now - 3600)),
    );
    let browser = DevProvider::browser();
    let (status, body) = sign_in_with_max_age(&app, &browser).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(page_code(&body), "sign_in_too_old");
    assert_eq!(me_status(&browser, &app).await, StatusCode::UNAUTHORIZED);
    // A fresh sign-in within max_age is accepted.
    app.provider.behave();
    assert_eq!(sign_in_with_max_age(&app, &browser).await.0, StatusCode::OK);
}

// ---- ID tokens are not bearer tokens (RFC 9068 §4, RFC 8725 §3.11) ----

/// With an API audience equal to the client id (Entra ID's default), a token of that
/// audience is accepted as a bearer token only if typed `at+jwt`: an ID token of this
/// client (typed `JWT`) has the same audience.
pub(crate) async fn rp_untyped_bearer_refused_when_the_api_audience_is_the_client_id(serve: Serve) {
    let app = hostile_with(serve, DevProvider::builder(), |b| {
        b.with_api_audience("dev-client")
    })
    .await;
    let t = now();
    let claims = json!({ "iss": app.provider.issuer(), "aud": "dev-client", "sub": "alice",
                         "iat": t, "exp": t + 120, "scope": API_SCOPE });
    let call = |typ: &str| {
        let token = app.provider.sign_jwt(&Signing::default(), typ, &claims);
        reqwest::Client::new()
            .get(format!("{}/api/me", app.base))
            .bearer_auth(token)
            .send()
    };
    let refused = call("JWT").await.expect("api");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let challenge = refused.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        challenge.contains("the token is not an access token"),
        "{challenge}"
    );
    let events = app.events();
    assert!(
        events
            .last()
            .is_some_and(|e| e == "BearerRefused(Invalid(UnexpectedType))"),
        "{events:?}"
    );
    assert_eq!(call("at+jwt").await.expect("api").status(), StatusCode::OK);
}

// ---- Keys the provider removes (OIDC Core §10.1.1) ----

/// A key the provider removed from its JWKS stops working once the key set's
/// `Cache-Control: max-age` has passed, although the token is otherwise valid and was
/// accepted (and cached) before.
pub(crate) async fn rp_key_removed_is_refused_after_the_key_set_max_age(serve: Serve) {
    let app = hostile(serve).await;
    app.provider
        .misbehave(Misbehaviour::default().jwks_max_age(Duration::from_secs(5)));
    let api = reqwest::Client::new();
    let call = |token: &str| {
        api.get(format!("{}/api/me", app.base))
            .bearer_auth(token)
            .send()
    };
    // New keys: the app fetches the set (it names an unknown kid), now with max-age=5.
    app.provider.rotate_keys();
    let token = app.provider.access_token("alice", &[API_SCOPE]);
    assert_eq!(call(&token).await.expect("api").status(), StatusCode::OK);
    let fetched_at = std::time::Instant::now();
    // The provider removes that key (a leak, say) and signs with another one.
    app.provider.rotate_keys();
    let fresh = app.provider.access_token("alice", &[API_SCOPE]);
    // Within the key set's lifetime the removed key still works...
    assert_eq!(call(&token).await.expect("api").status(), StatusCode::OK);
    // ...and once it has passed, the set is fetched again and the key is gone.
    tokio::time::sleep(
        Duration::from_secs(5).saturating_sub(fetched_at.elapsed()) + Duration::from_millis(300),
    )
    .await;
    let refused = call(&token).await.expect("api");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let challenge = refused.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        challenge.contains("no key of the provider matches the token"),
        "{challenge}"
    );
    assert_eq!(call(&fresh).await.expect("api").status(), StatusCode::OK);
}

// ---- Logout tokens (OIDC Back-Channel Logout 1.0 §2.6) ----

pub(crate) async fn post_logout_token(app: &DevApp, token: &str) -> (StatusCode, String) {
    let r = reqwest::Client::new()
        .post(format!("{}/auth/backchannel-logout", app.base))
        .form(&[("logout_token", token)])
        .send()
        .await
        .expect("post");
    let status = r.status();
    (status, r.text().await.expect("body"))
}

fn logout_token(app: &DevApp, jti: &str, iat: i64) -> String {
    app.provider.sign_jwt(
        &Signing::default(),
        "logout+jwt",
        &json!({ "iss": app.provider.issuer(), "aud": "dev-client", "iat": iat,
                 "exp": now() + 120, "jti": jti, "sub": "alice",
                 "events": { BACKCHANNEL_EVENT: {} } }),
    )
}

/// A logout token is used once: a replay is refused and has no effect on a session
/// that began since.
pub(crate) async fn rp_backchannel_logout_token_replayed_has_no_effect(serve: Serve) {
    let app = hostile(serve).await;
    let browser = DevProvider::browser();
    assert_eq!(sign_in(&app, &browser).await.0, StatusCode::OK);
    let token = logout_token(&app, "jti-replayed", now());
    assert_eq!(post_logout_token(&app, &token).await.0, StatusCode::OK);
    assert_eq!(me_status(&browser, &app).await, StatusCode::UNAUTHORIZED);
    // alice signs in again (times are whole seconds: a session that begins in the
    // second the logout arrived counts as begun before it); the same token, posted
    // again, ends nothing.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(sign_in(&app, &browser).await.0, StatusCode::OK);
    let (status, body) = post_logout_token(&app, &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("logout token already used"), "{body}");
    assert_eq!(me_status(&browser, &app).await, StatusCode::OK);
}

/// A logout applies to the sessions that began before the provider issued it (its
/// `iat`, with the leeway), not to one that began after.
pub(crate) async fn rp_backchannel_logout_ends_only_sessions_begun_before_its_iat(serve: Serve) {
    let app = hostile(serve).await;
    let browser = DevProvider::browser();
    assert_eq!(sign_in(&app, &browser).await.0, StatusCode::OK);
    // Issued two minutes ago (past the 60 s leeway), delivered only now.
    let token = logout_token(&app, "jti-late", now() - 120);
    assert_eq!(post_logout_token(&app, &token).await.0, StatusCode::OK);
    assert_eq!(
        me_status(&browser, &app).await,
        StatusCode::OK,
        "began after"
    );
    // The same logout issued now ends it.
    let token = logout_token(&app, "jti-now", now());
    assert_eq!(post_logout_token(&app, &token).await.0, StatusCode::OK);
    assert_eq!(me_status(&browser, &app).await, StatusCode::UNAUTHORIZED);
}

crate::suite! {$
    /// The scenarios of the hardening suite, run against `$serve`.
    hardening_suite(Serve):
        rp_logout_cross_site_get_keeps_the_session,
        rp_logout_cross_site_post_is_refused,
        rp_logout_head_keeps_the_session,
        logout_same_origin_post_ends_the_session,
        home_page_signs_out_with_a_post_form,
        rp_pending_cookie_is_host_bound_over_https,
        rp_cross_site_login_cannot_pick_the_identity_provider,
        rp_visitor_option_never_replaces_a_pinned_one,
        rp_protected_route_from_a_subresource_gets_401_and_no_cookie,
        rp_login_from_a_subresource_creates_no_pending_login,
        rp_backchannel_logout_oversized_body_gets_413,
        rp_every_auth_route_with_a_body_refuses_more_than_32_kib,
        rp_auth_time_missing_with_max_age_refused,
        rp_auth_time_older_than_max_age_refused,
        rp_untyped_bearer_refused_when_the_api_audience_is_the_client_id,
}

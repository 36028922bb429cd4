//! The authorization suite: organizations, roles and permissions, the guards that
//! require them, step-up sign-in, and the checks the vendors' SDKs do at the callback
//! (issue 16), on both frameworks against the development provider. Its default users:
//! alice (organization `org_example`, role `admin`, permission `reports:read`) and bob
//! (organization `org_example`, role `member`).

use auth_testkit::{DevProvider, Misbehaviour};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, WWW_AUTHENTICATE};
use serde_json::{Value, json};

use crate::dev::DevApp;
use crate::hostile::{hostile, hostile_with, now};
use crate::{Serve, page_code};

async fn sign_in_as(app: &DevApp, user: &str, query: &str) -> (StatusCode, String) {
    let browser_login = format!("{}/auth/login?return_to=/me{query}", app.base);
    let browser = DevProvider::browser();
    let r = app
        .provider
        .sign_in(&browser, &browser_login, user)
        .await
        .expect("the sign-in round trip");
    let status = r.status();
    (status, r.text().await.expect("body"))
}

/// A browser signed in as `user`.
async fn browser_of(app: &DevApp, user: &str) -> reqwest::Client {
    let browser = DevProvider::browser();
    let r = app
        .provider
        .sign_in(&browser, &format!("{}/auth/login", app.base), user)
        .await
        .expect("sign in");
    assert!(r.status().is_success(), "{}", r.status());
    browser
}

async fn get_json(browser: &reqwest::Client, url: &str) -> reqwest::Response {
    browser
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .expect("get")
}

async fn get_page(browser: &reqwest::Client, url: &str) -> reqwest::Response {
    browser
        .get(url)
        .header("accept", "text/html")
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .expect("get")
}

/// `/me` says who signed the user in and what the provider says they may do.
pub(crate) async fn me_shows_iss_organization_roles_and_permissions(serve: Serve) {
    let app = hostile(serve).await;
    let alice = browser_of(&app, "alice").await;
    let me: Value = get_json(&alice, &format!("{}/me", app.base))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["sub"], "alice");
    assert_eq!(me["iss"], app.provider.issuer());
    assert_eq!(me["organization"], "org_example");
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(me["permissions"], json!(["reports:read"]));
    assert_eq!(me["email"], "alice@example.com");
    let bob = browser_of(&app, "bob").await;
    let me: Value = get_json(&bob, &format!("{}/me", app.base))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["roles"], json!(["member"]));
    assert_eq!(me["permissions"], json!([]), "an empty array, not null");
}

/// `/admin` requires the role `admin`: 403 otherwise (JSON for an API client, a page for
/// a browser); anonymous visitors are sent to sign in as for any protected route.
pub(crate) async fn admin_requires_the_admin_role(serve: Serve) {
    let app = hostile(serve).await;
    let url = format!("{}/admin", app.base);
    let alice = browser_of(&app, "alice").await;
    let ok = get_json(&alice, &url).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let body: Value = ok.json().await.expect("json");
    assert_eq!(body["sub"], "alice");
    let bob = browser_of(&app, "bob").await;
    let api = get_json(&bob, &url).await;
    assert_eq!(api.status(), StatusCode::FORBIDDEN);
    let body: Value = api.json().await.expect("json");
    assert_eq!(body["error"], "forbidden");
    let page = get_page(&bob, &url).await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert_eq!(page_code(&page.text().await.expect("body")), "forbidden");
    let anonymous = DevProvider::browser();
    assert_eq!(
        get_json(&anonymous, &url).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let to_login = get_page(&anonymous, &url).await;
    assert_eq!(to_login.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        to_login.headers()[LOCATION],
        "/auth/login?return_to=%2Fadmin"
    );
}

/// An app whose users tell the role guard from the permission guard: carol has the
/// permission `reports:read` and not the role `admin`, dave the role and not the
/// permission (swapping the two guards fails the test below).
async fn role_or_permission(serve: Serve) -> DevApp {
    use auth_testkit::TestUser;
    hostile_with(
        serve,
        DevProvider::builder()
            .user(
                TestUser::new("carol")
                    .organization("org_example")
                    .role("member")
                    .permission("reports:read"),
            )
            .user(
                TestUser::new("dave")
                    .organization("org_example")
                    .role("admin"),
            ),
        crate::hostile::keep,
    )
    .await
}

/// `/admin` checks the role and `/reports` the permission, not each other's.
pub(crate) async fn role_and_permission_guards_are_told_apart(serve: Serve) {
    let app = role_or_permission(serve).await;
    let (admin, reports) = (
        format!("{}/admin", app.base),
        format!("{}/reports", app.base),
    );
    let carol = browser_of(&app, "carol").await;
    assert_eq!(get_json(&carol, &reports).await.status(), StatusCode::OK);
    let refused = get_json(&carol, &admin).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"], "forbidden");
    let dave = browser_of(&app, "dave").await;
    assert_eq!(get_json(&dave, &admin).await.status(), StatusCode::OK);
    let refused = get_json(&dave, &reports).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"], "forbidden");
}

/// `/reports` requires the permission `reports:read`.
pub(crate) async fn reports_require_the_reports_permission(serve: Serve) {
    let app = hostile(serve).await;
    let url = format!("{}/reports", app.base);
    let alice = browser_of(&app, "alice").await;
    assert_eq!(get_json(&alice, &url).await.status(), StatusCode::OK);
    let bob = browser_of(&app, "bob").await;
    let refused = get_json(&bob, &url).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"], "forbidden");
}

/// `/sensitive` requires a sign-in within the last 300 s (by the ID token's
/// `auth_time`): a browser is sent through login again with `max_age=300`, an API
/// client gets 401 `insufficient_user_authentication` with `max_age` (RFC 9470).
pub(crate) async fn sensitive_requires_a_recent_sign_in(serve: Serve) {
    let app = hostile(serve).await;
    let url = format!("{}/sensitive", app.base);
    let fresh = browser_of(&app, "alice").await;
    assert_eq!(get_json(&fresh, &url).await.status(), StatusCode::OK);
    // A session whose authentication is an hour old (a long-lived session).
    app.provider
        .misbehave(Misbehaviour::default().id_token_claim("auth_time", json!(now() - 3600)));
    let stale = browser_of(&app, "alice").await;
    app.provider.behave();
    assert_eq!(
        get_json(&stale, &format!("{}/me", app.base)).await.status(),
        StatusCode::OK
    );
    let api = get_json(&stale, &url).await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let challenge = api.headers()[WWW_AUTHENTICATE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_user_authentication\""),
        "{challenge}"
    );
    assert!(challenge.contains("max_age=\"300\""), "{challenge}");
    let page = get_page(&stale, &url).await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    let login = page.headers()[LOCATION].to_str().expect("ascii").to_owned();
    assert_eq!(login, "/auth/login?return_to=%2Fsensitive&max_age=300");
    // Signing in again through that link gives a fresh authentication.
    let r = app
        .provider
        .sign_in(&stale, &format!("{}{login}", app.base), "alice")
        .await
        .expect("step-up sign-in");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.url().path(), "/sensitive");
}

/// A session whose ID token carried no `auth_time` (an SSO sign-in that prompted for
/// nothing) does not count as a recent sign-in, however new the session: `/sensitive`
/// sends it to step-up, whose login asks for `max_age` (and so demands `auth_time`).
pub(crate) async fn rp_step_up_without_auth_time_is_not_a_recent_sign_in(serve: Serve) {
    let app = hostile(serve).await;
    app.provider
        .misbehave(Misbehaviour::default().without_id_token_claim("auth_time"));
    let browser = browser_of(&app, "alice").await;
    app.provider.behave();
    assert_eq!(
        get_json(&browser, &format!("{}/me", app.base))
            .await
            .status(),
        StatusCode::OK,
        "signed in a moment ago"
    );
    let url = format!("{}/sensitive", app.base);
    let api = get_json(&browser, &url).await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let challenge = api.headers()[WWW_AUTHENTICATE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_user_authentication\""),
        "{challenge}"
    );
    let page = get_page(&browser, &url).await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        page.headers()[LOCATION].to_str().expect("ascii"),
        "/auth/login?return_to=%2Fsensitive&max_age=300"
    );
    let r = app
        .provider
        .sign_in(
            &browser,
            &format!("{}/auth/login?return_to=%2Fsensitive&max_age=300", app.base),
            "alice",
        )
        .await
        .expect("step-up sign-in");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the step-up sign-in carries auth_time"
    );
    assert_eq!(r.url().path(), "/sensitive");
}

/// A login that asked for an organization refuses a token of another one (Auth0's
/// SDKs do the same).
pub(crate) async fn rp_organization_mismatch_refused(serve: Serve) {
    let app = hostile(serve).await;
    let (status, body) = sign_in_as(&app, "alice", "&organization_id=org_other").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(page_code(&body), "organization_mismatch");
    let (status, _) = sign_in_as(&app, "alice", "&organization_id=org_example").await;
    assert_eq!(status, StatusCode::OK);
}

/// A login that sent `acr_values` refuses an ID token whose `acr` is none of them.
pub(crate) async fn rp_acr_not_among_the_acr_values_refused(serve: Serve) {
    let app = hostile(serve).await;
    let (status, body) = sign_in_as(&app, "alice", "&acr_values=urn%3Amfa").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(page_code(&body), "acr_not_satisfied");
    app.provider
        .misbehave(Misbehaviour::default().id_token_claim("acr", json!("urn:mfa")));
    let (status, _) = sign_in_as(&app, "alice", "&acr_values=urn%3Amfa").await;
    assert_eq!(status, StatusCode::OK);
}

/// An app that pins a Google hosted domain requires the `hd` claim to equal it (the
/// `hd` parameter is only a hint to Google's page).
pub(crate) async fn rp_google_hosted_domain_mismatch_refused(serve: Serve) {
    let app = hostile_with(serve, DevProvider::builder(), |b| {
        b.with_provider_kind(auth_core::ProviderKind::Google)
            .with_default_login_options(
                auth_core::LoginOptions::default().with_domain_hint("corp.example"),
            )
    })
    .await;
    let (status, body) = sign_in_as(&app, "alice", "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(page_code(&body), "hosted_domain_mismatch");
    app.provider
        .misbehave(Misbehaviour::default().id_token_claim("hd", json!("other.example")));
    assert_eq!(sign_in_as(&app, "alice", "").await.0, StatusCode::FORBIDDEN);
    app.provider
        .misbehave(Misbehaviour::default().id_token_claim("hd", json!("corp.example")));
    assert_eq!(sign_in_as(&app, "alice", "").await.0, StatusCode::OK);
}

/// UserInfo at sign-in that fails refuses the sign-in: 502, and the rule names the
/// UserInfo answer; once UserInfo answers, the same app signs in.
pub(crate) async fn rp_userinfo_failing_at_sign_in_refuses_it(serve: Serve) {
    let app = hostile_with(serve, DevProvider::builder(), |b| {
        b.with_userinfo_at_sign_in(true)
    })
    .await;
    crate::hostile::refused(
        &app,
        Misbehaviour::default().userinfo_status(500),
        "UserInfo(Status(500))",
    )
    .await;
    app.provider.behave();
    let (status, _) = sign_in_as(&app, "alice", "").await;
    assert_eq!(status, StatusCode::OK);
}

/// A sign-in hook that fails (here: its user store is down) refuses the sign-in with
/// 503 `sign_in_unavailable` and creates no session; the event names the failure.
pub(crate) async fn rp_sign_in_hook_failure_answers_503_and_creates_no_session(serve: Serve) {
    let app = hostile_with(serve, DevProvider::builder(), |b| {
        b.with_sign_in_hook(|_| async {
            Err::<auth_core::SignInDecision, auth_core::SignInHookError>(
                "the user store is down".into(),
            )
        })
    })
    .await;
    let browser = DevProvider::browser();
    let page = app
        .provider
        .sign_in(&browser, &format!("{}/auth/login", app.base), "alice")
        .await
        .expect("the sign-in round trip");
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.headers()
            .get("set-cookie")
            .is_none_or(|c| { !c.to_str().unwrap_or_default().starts_with("auth_session=") })
    );
    assert_eq!(
        page_code(&page.text().await.expect("body")),
        "sign_in_unavailable"
    );
    assert_eq!(
        get_json(&browser, &format!("{}/me", app.base))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let events = app.events();
    let last = events.last().cloned().unwrap_or_default();
    assert!(
        last.starts_with("SignInRefused(") && last.contains("sign_in_hook_failed"),
        "{events:?}"
    );
}

/// With UserInfo at sign-in, the claims the ID token lacks come from the provider's
/// UserInfo endpoint (the ID token's own claims win).
pub(crate) async fn userinfo_at_sign_in_adds_what_the_id_token_lacks(serve: Serve) {
    let app = hostile_with(serve, DevProvider::builder(), |b| {
        b.with_userinfo_at_sign_in(true)
    })
    .await;
    app.provider.misbehave(
        Misbehaviour::default()
            .without_id_token_claim("email")
            .id_token_claim("name", json!("Alice (ID token)")),
    );
    let alice = browser_of(&app, "alice").await;
    let me: Value = get_json(&alice, &format!("{}/me", app.base))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["email"], "alice@example.com", "from UserInfo");
    assert_eq!(me["name"], "Alice (ID token)", "the ID token wins");
    assert!(app.provider.stats().userinfo_requests >= 1);
}

crate::suite! {$
    /// The scenarios of the authorization suite, run against `$serve`.
    authorization_suite(Serve):
        me_shows_iss_organization_roles_and_permissions,
        admin_requires_the_admin_role,
        reports_require_the_reports_permission,
        role_and_permission_guards_are_told_apart,
        sensitive_requires_a_recent_sign_in,
        rp_step_up_without_auth_time_is_not_a_recent_sign_in,
        rp_organization_mismatch_refused,
        rp_acr_not_among_the_acr_values_refused,
        rp_google_hosted_domain_mismatch_refused,
        userinfo_at_sign_in_adds_what_the_id_token_lacks,
        rp_userinfo_failing_at_sign_in_refuses_it,
        rp_sign_in_hook_failure_answers_503_and_creates_no_session,
}

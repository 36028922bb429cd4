//! The vendors' own flows (issue 19), on both frameworks against the development
//! provider: the callback's error replies as Scalekit's "Handle errors" lists them
//! (`access_denied`, `invalid_request`, `server_error`; seeds/002), Auth0's
//! organization invitation links, and WorkOS User Management (the development
//! provider answers as WorkOS's reference describes; see its `server/workos.rs`).

use auth_testkit::DevProvider;
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use url::Url;

use crate::dev::DevApp;
use crate::hostile::{hostile, hostile_with, me_status};
use crate::{Serve, page_code};

/// Starts a login with `return_to` and answers its callback with `error` (and a
/// description the user must never see), as the provider would.
async fn error_reply(app: &DevApp, error: &str) -> (StatusCode, String) {
    let browser = DevProvider::browser();
    let start = browser
        .get(format!("{}/auth/login?return_to=/reports", app.base))
        .send()
        .await
        .expect("login");
    assert!(start.headers().get(SET_COOKIE).is_some());
    let to = Url::parse(start.headers()[LOCATION].to_str().expect("ascii")).expect("url");
    let state = to
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let mut callback = Url::parse(&format!("{}/auth/callback", app.base)).expect("url");
    callback
        .query_pairs_mut()
        .append_pair("error", error)
        .append_pair("error_description", "secret detail\r\nINFO forged log line")
        .append_pair("state", &state)
        .append_pair("iss", app.provider.issuer());
    let r = browser.get(callback).send().await.expect("callback");
    let status = r.status();
    let body = r.text().await.expect("body");
    assert!(!body.contains("secret detail"), "never shown: {body}");
    assert_eq!(me_status(&browser, app).await, StatusCode::UNAUTHORIZED);
    (status, body)
}

/// The retry link keeps the login's `return_to`.
const RETRY: &str = "href=\"/auth/login?return_to=%2Freports\"";

/// `access_denied` (the user cancelled): 403, "try again", the retry keeps `return_to`.
pub(crate) async fn callback_access_denied_gives_the_cancelled_page(serve: Serve) {
    let app = hostile(serve).await;
    let (status, body) = error_reply(&app, "access_denied").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(page_code(&body), "access_denied");
    assert!(body.contains("try again"), "{body}");
    assert!(body.contains(RETRY), "{body}");
}

/// `invalid_request`: a request problem, 400.
pub(crate) async fn callback_invalid_request_gives_a_400_page(serve: Serve) {
    let app = hostile(serve).await;
    let (status, body) = error_reply(&app, "invalid_request").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(page_code(&body), "invalid_request");
    assert!(body.contains(RETRY), "{body}");
}

/// `server_error`: the provider failed, 502, "try again in a moment".
pub(crate) async fn callback_server_error_gives_a_502_page(serve: Serve) {
    let app = hostile(serve).await;
    let (status, body) = error_reply(&app, "server_error").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(page_code(&body), "server_error");
    assert!(
        body.contains("The sign-in service had a problem, try again in a moment."),
        "{body}"
    );
    assert!(body.contains(RETRY), "{body}");
}

/// Any other error code: the generic page.
pub(crate) async fn callback_other_error_gives_the_generic_page(serve: Serve) {
    let app = hostile(serve).await;
    let (status, body) = error_reply(&app, "interaction_required").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(page_code(&body), "provider_error");
}

/// An `error=` reply without `state` (a provider that failed before it had one) still
/// gets its error page, not "invalid callback".
pub(crate) async fn callback_error_without_state_still_gets_its_page(serve: Serve) {
    let app = hostile(serve).await;
    let r = DevProvider::browser()
        .get(format!(
            "{}/auth/callback?error=access_denied&error_description=no",
            app.base
        ))
        .send()
        .await
        .expect("callback");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(page_code(&r.text().await.expect("body")), "access_denied");
}

/// Auth0's organization invitation link (`/auth/login?invitation=…&organization=…`)
/// passes both through under Auth0's names, and the sign-in completes when the token
/// names that organization.
pub(crate) async fn auth0_invitation_link_passes_through(serve: Serve) {
    let app = hostile_with(serve, DevProvider::builder(), |b| {
        b.with_provider_kind(auth_core::ProviderKind::Auth0)
    })
    .await;
    let browser = DevProvider::browser();
    let link = format!(
        "{}/auth/login?invitation=inv_123&organization=org_example",
        app.base
    );
    let r = browser.get(&link).send().await.expect("login");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = Url::parse(r.headers()[LOCATION].to_str().expect("ascii")).expect("url");
    let q: Vec<(String, String)> = to.query_pairs().into_owned().collect();
    assert!(
        q.contains(&("invitation".into(), "inv_123".into())),
        "{q:?}"
    );
    assert!(
        q.contains(&("organization".into(), "org_example".into())),
        "{q:?}"
    );
    let done = app
        .provider
        .sign_in(&browser, &link, "alice")
        .await
        .expect("sign in");
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(me_status(&browser, &app).await, StatusCode::OK);
}

pub(crate) fn workos_user_management(
    b: auth_core::AuthConfigBuilder,
) -> auth_core::AuthConfigBuilder {
    b.with_provider_kind(auth_core::ProviderKind::WorkosUserManagement)
        // Every request renews the 60-second access token (refresh through
        // /user_management/authenticate).
        .with_refresh_margin(std::time::Duration::from_secs(120))
}

/// WorkOS's authenticate endpoint failing with a server error refuses the sign-in
/// with 502 and names the status (`CallbackError::Exchange(Status)`), no session.
pub(crate) async fn rp_workos_authenticate_server_error_gives_502(serve: Serve) {
    let app = hostile_with(serve, DevProvider::builder(), workos_user_management).await;
    crate::hostile::refused(
        &app,
        auth_testkit::Misbehaviour::default()
            .token_endpoint(auth_testkit::TokenFault::Status(500, "{}".into())),
        "Exchange(Status(500))",
    )
    .await;
}

/// WorkOS User Management end to end: the authorize request of WorkOS's reference
/// (`provider=authkit`, PKCE S256, no `scope` or `nonce`), the code exchanged at
/// `/user_management/authenticate` with the API key, `/me` from the validated access
/// token and the `user` object, a refresh through the same endpoint, and sign-out
/// through `/user_management/sessions/logout` with the access token's `sid`.
pub(crate) async fn workos_user_management_sign_in_refresh_and_sign_out(serve: Serve) {
    let app = hostile_with(
        serve,
        DevProvider::builder().access_token_ttl(std::time::Duration::from_secs(60)),
        workos_user_management,
    )
    .await;
    let browser = DevProvider::browser();
    let start = browser
        .get(format!("{}/auth/login", app.base))
        .send()
        .await
        .expect("login");
    let to = Url::parse(start.headers()[LOCATION].to_str().expect("ascii")).expect("url");
    assert!(
        to.as_str().starts_with(&format!(
            "{}/user_management/authorize?",
            app.provider.issuer()
        )),
        "{to}"
    );
    let q: Vec<(String, String)> = to.query_pairs().into_owned().collect();
    let has = |k: &str, v: &str| q.contains(&(k.to_owned(), v.to_owned()));
    assert!(
        has("provider", "authkit") && has("response_type", "code"),
        "{q:?}"
    );
    assert!(has("code_challenge_method", "S256"), "{q:?}");
    assert!(
        !q.iter().any(|(k, _)| k == "scope" || k == "nonce"),
        "{q:?}"
    );

    let done = app
        .provider
        .sign_in(
            &browser,
            &format!("{}/auth/login?return_to=/me", app.base),
            "alice",
        )
        .await
        .expect("sign in");
    assert_eq!(done.status(), StatusCode::OK);
    let me: serde_json::Value = crate::me_at(&browser, &app.base)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["sub"], "alice");
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["name"], "Alice Example");
    assert_eq!(me["organization"], "org_example", "{me}");
    assert_eq!(me["roles"], serde_json::json!(["admin"]), "{me}");
    assert_eq!(
        me["permissions"],
        serde_json::json!(["reports:read"]),
        "{me}"
    );
    let s = app.provider.stats();
    assert_eq!((s.code_grants, s.token_errors), (1, 0));
    assert!(s.refresh_grants >= 1, "the session was renewed: {s:?}");
    assert_eq!(me_status(&browser, &app).await, StatusCode::OK);

    let (last, seen) = crate::follow(&browser, &format!("{}/auth/logout", app.base)).await;
    assert_eq!(last.status(), StatusCode::OK);
    let logout = format!(
        "{}/user_management/sessions/logout?session_id=",
        app.provider.issuer()
    );
    assert!(seen.iter().any(|u| u.starts_with(&logout)), "{seen:?}");
    assert!(
        seen.last()
            .expect("url")
            .starts_with(&format!("{}/", app.base)),
        "{seen:?}"
    );
    assert_eq!(me_status(&browser, &app).await, StatusCode::UNAUTHORIZED);
}

/// WorkOS's rules checked before the redirect: a visitor's `provider` outside the
/// reference's list, a `screen_hint` without AuthKit, or `connection_id` with
/// `organization_id` get a 400 page and no redirect; `provider_scopes` set by the app
/// go out once per scope, as WorkOS's Node SDK sends the array, and the provider
/// takes them.
pub(crate) async fn workos_user_management_options_checked_before_the_redirect(serve: Serve) {
    fn scoped(b: auth_core::AuthConfigBuilder) -> auth_core::AuthConfigBuilder {
        workos_user_management(b).with_default_login_options(
            auth_core::LoginOptions::default().with_provider_scopes(["repo", "read:user"]),
        )
    }
    let app = hostile_with(serve, DevProvider::builder(), scoped).await;
    let browser = DevProvider::browser();
    // Three rules: each refusal's page names the rule it broke.
    for (query, rule) in [
        (
            "provider=github",
            "provider must be one of authkit, AppleOAuth, GitHubOAuth, GoogleOAuth, MicrosoftOAuth",
        ),
        (
            "provider=GoogleOAuth&screen_hint=sign-up",
            "screen_hint applies only to provider=authkit",
        ),
        (
            "connection_id=conn_1&organization_id=org_1",
            "connection_id names one SSO connection: send it without organization_id or provider",
        ),
    ] {
        let r = browser
            .get(format!("{}/auth/login?{query}", app.base))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(r.headers().get(LOCATION).is_none(), "{query}");
        let page = r.text().await.expect("body");
        assert_eq!(page_code(&page), "invalid_request");
        assert!(page.contains(&format!("<p>{rule}</p>")), "{query}: {page}");
    }
    let r = browser
        .get(format!("{}/auth/login?provider=GitHubOAuth", app.base))
        .send()
        .await
        .expect("login");
    let to = Url::parse(r.headers()[LOCATION].to_str().expect("ascii")).expect("url");
    let scopes: Vec<String> = to
        .query_pairs()
        .filter(|(k, _)| k == "provider_scopes")
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(scopes, ["repo", "read:user"]);
    let done = app
        .provider
        .sign_in(
            &browser,
            &format!("{}/auth/login?provider=GitHubOAuth", app.base),
            "bob",
        )
        .await
        .expect("sign in");
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(me_status(&browser, &app).await, StatusCode::OK);
}

/// WorkOS User Management's organization switch (a refresh with `organization_id`,
/// as WorkOS's reference describes): `POST /auth/organization` from the app's own
/// page moves the session to another of the user's organizations and back to
/// `return_to`; one the user is not in is refused (403) and the session stays as it
/// was; a cross-site post is refused (403), and without a session it is 401.
pub(crate) async fn workos_user_management_switches_organization(serve: Serve) {
    fn plain(b: auth_core::AuthConfigBuilder) -> auth_core::AuthConfigBuilder {
        b.with_provider_kind(auth_core::ProviderKind::WorkosUserManagement)
    }
    let app = hostile_with(serve, DevProvider::builder(), plain).await;
    organization_switch(&app).await;
}

/// An app that pins its organization (its login options name one, which the callback
/// enforces) never lets a session switch out of it, whichever organizations the user
/// belongs to: 403 `organization_pinned`, the session unchanged. A switch to the
/// pinned organization itself goes through.
pub(crate) async fn rp_organization_switch_out_of_the_pinned_organization_refused(serve: Serve) {
    fn pinned(b: auth_core::AuthConfigBuilder) -> auth_core::AuthConfigBuilder {
        b.with_provider_kind(auth_core::ProviderKind::WorkosUserManagement)
            .with_default_login_options(
                auth_core::LoginOptions::default().with_organization_id("org_example"),
            )
    }
    let app = hostile_with(serve, DevProvider::builder(), pinned).await;
    let browser = DevProvider::browser();
    app.provider
        .sign_in(&browser, &format!("{}/auth/login", app.base), "alice")
        .await
        .expect("sign in");
    let switch = |org: &'static str| {
        browser
            .post(format!("{}/auth/organization", app.base))
            .header("origin", &app.base)
            .form(&[("organization_id", org), ("return_to", "/me")])
            .send()
    };
    let organization = || organization_of(&browser, &app.base);
    assert_eq!(organization().await, "org_example");
    let r = switch("org_partner").await.expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        page_code(&r.text().await.expect("body")),
        "organization_pinned"
    );
    assert_eq!(organization().await, "org_example", "the session stays");
    let r = switch("org_example").await.expect("post");
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "to the pinned one itself"
    );
    assert_eq!(organization().await, "org_example");
}

/// WorkOS answering a switch with tokens for another organization than the one
/// asked for (`SwitchOrganizationError::OtherOrganization`): 403 `organization_refused`,
/// and since the old refresh token is spent the session goes on with the new tokens
/// (their organization), not with a refresh token that no longer works.
pub(crate) async fn rp_organization_switch_answered_for_another_organization_is_refused(
    serve: Serve,
) {
    let app = hostile_with(serve, DevProvider::builder(), workos_user_management).await;
    let browser = DevProvider::browser();
    app.provider
        .sign_in(&browser, &format!("{}/auth/login", app.base), "alice")
        .await
        .expect("sign in");
    assert_eq!(organization_of(&browser, &app.base).await, "org_example");
    app.provider.misbehave(
        auth_testkit::Misbehaviour::default()
            .access_token_claim("org_id", serde_json::json!("org_elsewhere")),
    );
    let r = browser
        .post(format!("{}/auth/organization", app.base))
        .header("origin", &app.base)
        .form(&[("organization_id", "org_partner")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        page_code(&r.text().await.expect("body")),
        "organization_refused"
    );
    app.provider.behave();
    assert_eq!(organization_of(&browser, &app.base).await, "org_elsewhere");
}

/// An app that turns the organization switch off (`with_organization_switch(false)`,
/// `OIDC_ORGANIZATION_SWITCH=0`) does not serve the route: a signed-in user's post
/// finds nothing (404) and the session keeps its organization.
pub(crate) async fn organization_switch_turned_off_is_not_served(serve: Serve) {
    fn off(b: auth_core::AuthConfigBuilder) -> auth_core::AuthConfigBuilder {
        b.with_provider_kind(auth_core::ProviderKind::WorkosUserManagement)
            .with_organization_switch(false)
    }
    let app = hostile_with(serve, DevProvider::builder(), off).await;
    let browser = DevProvider::browser();
    app.provider
        .sign_in(&browser, &format!("{}/auth/login", app.base), "alice")
        .await
        .expect("sign in");
    let r = browser
        .post(format!("{}/auth/organization", app.base))
        .header("origin", &app.base)
        .form(&[("organization_id", "org_partner"), ("return_to", "/me")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(organization_of(&browser, &app.base).await, "org_example");
}

/// The organization switch with Redis sessions: the switch is the refresh token's one
/// use under its lock in Redis, the switched session is stored (and announced to the
/// fast path of every instance), and it behaves as with memory sessions.
pub(crate) async fn workos_user_management_switches_organization_with_redis_sessions(serve: Serve) {
    let redis = provider_harness::RedisServer::start();
    let url = redis.url();
    let app = crate::dev::start_dev_with(
        serve,
        DevProvider::builder()
            .auto_approve(true)
            .api_audience(crate::API),
        move |b| {
            b.with_provider_kind(auth_core::ProviderKind::WorkosUserManagement)
                .with_redis_url(url)
                .with_app_secret_hex(
                    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                )
        },
    )
    .await;
    organization_switch(&app).await;
    drop(redis);
}

/// The organization `/me` shows for `browser`'s session.
async fn organization_of(browser: &reqwest::Client, base: &str) -> serde_json::Value {
    let me: serde_json::Value = crate::me_at(browser, base)
        .await
        .json()
        .await
        .expect("json");
    me["organization"].clone()
}

async fn organization_switch(app: &DevApp) {
    let browser = DevProvider::browser();
    let switch = |origin: &str, org: &str| {
        browser
            .post(format!("{}/auth/organization", app.base))
            .header("origin", origin)
            .form(&[("organization_id", org), ("return_to", "/me")])
            .send()
    };
    let anonymous = switch(&app.base, "org_partner").await.expect("post");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    app.provider
        .sign_in(&browser, &format!("{}/auth/login", app.base), "alice")
        .await
        .expect("sign in");
    let organization = || organization_of(&browser, &app.base);
    assert_eq!(organization().await, "org_example");

    let r = switch(&app.base, "org_partner").await.expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/me");
    assert_eq!(organization().await, "org_partner");

    let r = switch(&app.base, "org_elsewhere").await.expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        page_code(&r.text().await.expect("body")),
        "organization_refused"
    );
    assert_eq!(organization().await, "org_partner", "the session stays");

    let r = switch("https://evil.example", "org_example")
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        page_code(&r.text().await.expect("body")),
        "cross_site_request"
    );
    // An opaque origin, and a cross-site post that sends only Fetch Metadata.
    let r = switch("null", "org_example").await.expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = browser
        .post(format!("{}/auth/organization", app.base))
        .header("sec-fetch-site", "cross-site")
        .form(&[("organization_id", "org_example")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(organization().await, "org_partner");
    // A return_to that leaves the site is not followed.
    for evil in ["//evil.example/x", "https://evil.example/x"] {
        let r = browser
            .post(format!("{}/auth/organization", app.base))
            .header("origin", &app.base)
            .form(&[("organization_id", "org_partner"), ("return_to", evil)])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[LOCATION], "/", "{evil}");
    }
    // Back to the first organization: the refresh token of the switch works.
    let r = switch(&app.base, "org_example").await.expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(organization().await, "org_example");
}

/// An app on the Scalekit preset against the development provider, whose access
/// tokens name `api_audience` (default: the client id, as Scalekit's do).
pub(crate) async fn scalekit_app(
    serve: Serve,
    provider: auth_testkit::DevProviderBuilder,
) -> DevApp {
    crate::dev::start_dev_with(serve, provider.auto_approve(true), |b| {
        b.with_provider_kind(auth_core::ProviderKind::Scalekit)
    })
    .await
}

/// Scalekit's web-app guide sends the client secret in the form body: with a
/// discovery document that lists no client authentication methods, the Scalekit
/// preset uses `client_secret_post` (the generic default is `client_secret_basic`).
pub(crate) async fn scalekit_sends_the_client_secret_in_the_form_body(serve: Serve) {
    let provider = DevProvider::builder().advertise_client_authentication_methods(false);
    let app = scalekit_app(serve, provider).await;
    let browser = DevProvider::browser();
    let (status, body) = crate::hostile::sign_in(&app, &browser).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let s = app.provider.stats();
    assert_eq!(
        (
            s.client_secret_post_authentications,
            s.client_secret_basic_authentications
        ),
        (1, 0)
    );
}

/// Scalekit's guide validates access tokens with `aud` including the client id: the
/// preset refuses a sign-in whose access token is for another audience.
pub(crate) async fn rp_scalekit_access_token_for_another_audience_refused(serve: Serve) {
    let app = scalekit_app(
        serve,
        DevProvider::builder().api_audience("https://other.example"),
    )
    .await;
    crate::hostile::refused(
        &app,
        auth_testkit::Misbehaviour::default(),
        "AccessToken(InvalidAudience",
    )
    .await;
}

/// Scalekit's guide validates `exp` and `iat`: the preset refuses an access token
/// without `iat`, and signs in once the provider sends it again.
pub(crate) async fn rp_scalekit_access_token_without_iat_refused(serve: Serve) {
    let app = scalekit_app(serve, DevProvider::builder()).await;
    crate::hostile::refused(
        &app,
        auth_testkit::Misbehaviour::default().without_access_token_claim("iat"),
        "AccessToken(MissingClaim(\"iat\")",
    )
    .await;
    app.provider.behave();
    let browser = DevProvider::browser();
    assert_eq!(
        crate::hostile::sign_in(&app, &browser).await.0,
        StatusCode::OK
    );
}

crate::suite! {$
    /// The scenarios of the vendors suite, run against `$serve`.
    vendors_suite(Serve):
        callback_access_denied_gives_the_cancelled_page,
        callback_invalid_request_gives_a_400_page,
        callback_server_error_gives_a_502_page,
        callback_other_error_gives_the_generic_page,
        callback_error_without_state_still_gets_its_page,
        auth0_invitation_link_passes_through,
        workos_user_management_sign_in_refresh_and_sign_out,
        workos_user_management_options_checked_before_the_redirect,
        rp_workos_authenticate_server_error_gives_502,
        rp_organization_switch_answered_for_another_organization_is_refused,
        workos_user_management_switches_organization,
        workos_user_management_switches_organization_with_redis_sessions,
        rp_organization_switch_out_of_the_pinned_organization_refused,
        organization_switch_turned_off_is_not_served,
        scalekit_sends_the_client_secret_in_the_form_body,
        rp_scalekit_access_token_for_another_audience_refused,
        rp_scalekit_access_token_without_iat_refused,
}

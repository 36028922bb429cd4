//! Referees we did not write (issue 34): the vendors' own Node SDKs (`referees/`,
//! pinned by its lockfile) build URLs and send requests for the same inputs as this
//! library, against auth-testkit's emulations. Where they differ, the SDK wins.

use std::collections::BTreeMap;

use auth_core::LoginOptions;
use auth_testkit::{DevProvider, RecordedRequest};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};
use url::Url;

use crate::Serve;
use crate::hostile::hostile_with;

/// Runs one call of `referees/sdk.mjs` (a vendor SDK), its answer as JSON.
async fn referee(input: Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../referees/sdk.mjs");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(script)
            .arg(input.to_string())
            .output()
            .expect("node (./scripts/test installs it and referees/'s packages)")
    })
    .await
    .expect("join");
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "the referee's answer is not JSON: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "the referee failed: {answer}");
    answer
}

/// A URL's query as a sorted multiset (order aside), and its path.
fn params(url: &str) -> (String, Vec<(String, String)>) {
    let url = Url::parse(url).expect("url");
    let mut q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    q.sort();
    (url.path().to_owned(), q)
}

/// The code the development provider gives (auto-approving) for the SDK's
/// authorization URL `url`.
async fn code_for(url: &Value) -> String {
    let approved = DevProvider::browser()
        .get(url.as_str().expect("url"))
        .send()
        .await
        .expect("authorize");
    let back = Url::parse(approved.headers()[LOCATION].to_str().expect("ascii")).expect("url");
    back.query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap_or_else(|| panic!("no code: {back}"))
        .1
        .into_owned()
}

/// An acceptance scenario (issue 34): WorkOS's Node SDK (`@workos-inc/node`) as the
/// referee of this library's WorkOS User Management support and of auth-testkit's
/// emulation of it. For the same inputs (each way in, hints, screen hint, provider
/// scopes) the SDK's authorization URL and the library's carry the same parameters and
/// values; the SDK's code exchange and refreshes (with and without an organization)
/// succeed against the emulation, and the emulation recorded the same requests from the
/// SDK as from the library (method, path, content type, fields, authorization scheme);
/// the SDK's logout and JWKS URLs are the library's.
pub(crate) async fn referee_workos_sdk_agrees_with_the_library_and_the_emulation(serve: Serve) {
    let app = hostile_with(
        serve,
        DevProvider::builder().access_token_ttl(std::time::Duration::from_secs(60)),
        crate::vendors::workos_user_management,
    )
    .await;
    let (client_id, key) = app.provider.client_credentials().expect("client");
    let api = json!({ "base": app.provider.issuer(), "key": key, "client_id": client_id });

    // 1. Authorization URLs: the library's (its own state and PKCE challenge), then the
    // SDK's for the same inputs.
    let cases: [(LoginOptions, Value); 4] = [
        (
            LoginOptions::default()
                .with_provider("authkit")
                .with_screen_hint("sign-up")
                .with_login_hint("alice@example.com"),
            json!({ "provider": "authkit", "screen_hint": "sign-up", "login_hint": "alice@example.com" }),
        ),
        (
            LoginOptions::default()
                .with_connection_id("conn_1")
                .with_login_hint("bob@example.com")
                .with_domain_hint("example.com"),
            json!({ "connection_id": "conn_1", "login_hint": "bob@example.com", "domain_hint": "example.com" }),
        ),
        (
            LoginOptions::default().with_organization_id("org_example"),
            json!({ "organization_id": "org_example" }),
        ),
        (
            LoginOptions::default()
                .with_provider("GitHubOAuth")
                .with_provider_scopes(["repo", "read:user"]),
            json!({ "provider": "GitHubOAuth", "provider_scopes": ["repo", "read:user"] }),
        ),
    ];
    for (options, mut inputs) in cases {
        let ours = app
            .auth
            .begin_login(&options, None, &[])
            .await
            .expect("login")
            .authorization_url;
        let q: BTreeMap<String, String> = ours.query_pairs().into_owned().collect();
        for name in ["state", "code_challenge", "redirect_uri"] {
            inputs[name] = q[name].clone().into();
        }
        let sdk = referee(json!({ "sdk": "workos", "call": "authorization_url",
                                  "api": api, "params": inputs }))
        .await;
        assert_eq!(
            params(sdk["url"].as_str().expect("url")),
            params(ours.as_str()),
            "{inputs}"
        );
    }

    // 2. The library signs alice in, renews her session and switches her organization:
    // its requests as the emulation recorded them.
    let browser = DevProvider::browser();
    app.provider
        .sign_in(&browser, &format!("{}/auth/login", app.base), "alice")
        .await
        .expect("sign in");
    assert_eq!(
        crate::me_at(&browser, &app.base).await.status(),
        StatusCode::OK
    );
    let switched = browser
        .post(format!("{}/auth/organization", app.base))
        .header("origin", &app.base)
        .form(&[("organization_id", "org_partner"), ("return_to", "/me")])
        .send()
        .await
        .expect("switch");
    assert_eq!(switched.status(), StatusCode::SEE_OTHER);
    let library = app.provider.recorded_requests();

    // The SDK does the same: a login it starts (its own PKCE pair), the code exchange,
    // a refresh, a refresh into another organization.
    let pkce = referee(json!({ "call": "pkce" })).await;
    let redirect_uri = format!("{}/auth/callback", app.base);
    let start = referee(
        json!({ "sdk": "workos", "call": "authorization_url", "api": api,
        "params": { "provider": "authkit", "state": "sdk-state", "redirect_uri": redirect_uri,
                    "code_challenge": pkce["challenge"], "login_hint": "alice" } }),
    )
    .await;
    let code = code_for(&start["url"]).await;
    let signed_in = referee(json!({ "sdk": "workos", "call": "authenticate_with_code",
        "api": api, "code": code, "code_verifier": pkce["verifier"] }))
    .await;
    assert_eq!(signed_in["user_id"], "alice", "{signed_in}");
    let renewed = referee(
        json!({ "sdk": "workos", "call": "authenticate_with_refresh_token",
        "api": api, "refresh_token": signed_in["refresh_token"] }),
    )
    .await;
    let moved = referee(
        json!({ "sdk": "workos", "call": "authenticate_with_refresh_token",
        "api": api, "refresh_token": renewed["refresh_token"], "organization_id": "org_partner" }),
    )
    .await;
    assert_eq!(moved["organization_id"], "org_partner", "{moved}");
    let sdk: Vec<RecordedRequest> = app.provider.recorded_requests()[library.len()..].to_vec();

    // Each kind of request the SDK sent is what the library sent for it.
    let kind = |r: &RecordedRequest| {
        let organization = r.fields.iter().any(|f| f == "organization_id");
        (r.grant_type.clone(), organization)
    };
    assert_eq!(sdk.len(), 3, "{sdk:#?}");
    for sent in &sdk {
        let ours = library
            .iter()
            .find(|r| kind(r) == kind(sent))
            .unwrap_or_else(|| panic!("the library never sent {:?}: {library:#?}", kind(sent)));
        assert_eq!(ours, sent, "the library's request, then the SDK's");
    }

    // 3. The logout and JWKS URLs.
    let jwks = referee(json!({ "sdk": "workos", "call": "jwks_url", "api": api })).await;
    assert_eq!(
        jwks["url"],
        app.auth.endpoints().expect("endpoints").jwks_uri.as_str()
    );
    let logout = browser
        .post(format!("{}/auth/logout", app.base))
        .header("origin", &app.base)
        .send()
        .await
        .expect("logout");
    let ours = logout.headers()[LOCATION]
        .to_str()
        .expect("ascii")
        .to_owned();
    let q: BTreeMap<String, String> = Url::parse(&ours)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect();
    let sdk = referee(json!({ "sdk": "workos", "call": "logout_url", "api": api,
        "session_id": q.get("session_id"), "return_to": q.get("return_to") }))
    .await;
    assert_eq!(params(sdk["url"].as_str().expect("url")), params(&ours));
}

/// An acceptance scenario (issue 34): Scalekit's Node SDK (`@scalekit-sdk/node`) as the
/// referee of the Scalekit preset and of the development provider in Scalekit's shape
/// (its `/oauth/authorize`, `/oauth/token` and `/keys`). For the same inputs the SDK's
/// authorization URL and the library's carry the same parameters and values (the path
/// is discovery's, `/authorize` here); the SDK's code exchange succeeds with the request
/// the library sends (form body with `client_secret_post`, the same fields), and the SDK
/// accepts the access token the development provider issues for the Scalekit preset.
pub(crate) async fn referee_scalekit_sdk_agrees_with_the_library_and_the_emulation(serve: Serve) {
    let app = crate::vendors::scalekit_app(
        serve,
        DevProvider::builder().advertise_client_authentication_methods(false),
    )
    .await;
    let (client_id, secret) = app.provider.client_credentials().expect("client");
    let api = json!({ "base": app.provider.issuer(), "client_id": client_id, "secret": secret });

    let cases: [(LoginOptions, Value); 2] = [
        (
            LoginOptions::default()
                .with_connection_id("conn_1")
                .with_login_hint("alice@example.com")
                .with_domain_hint("example.com")
                .with_prompt(auth_core::Prompt::Login),
            json!({ "connection_id": "conn_1", "login_hint": "alice@example.com",
                    "domain_hint": "example.com", "prompt": "login" }),
        ),
        (
            LoginOptions::default().with_organization_id("org_example"),
            json!({ "organization_id": "org_example" }),
        ),
    ];
    for (options, mut inputs) in cases {
        let ours = app
            .auth
            .begin_login(&options, None, &[])
            .await
            .expect("login")
            .authorization_url;
        let q: BTreeMap<String, String> = ours.query_pairs().into_owned().collect();
        for name in ["state", "nonce", "code_challenge", "redirect_uri"] {
            inputs[name] = q[name].clone().into();
        }
        inputs["scopes"] = q["scope"].split(' ').collect::<Vec<_>>().into();
        let sdk = referee(json!({ "sdk": "scalekit", "call": "authorization_url",
                                  "api": api, "params": inputs }))
        .await;
        assert_eq!(
            params(sdk["url"].as_str().expect("url")).1,
            params(ours.as_str()).1,
            "{inputs}"
        );
    }

    // The library signs in; then the SDK exchanges a code of its own login.
    let browser = DevProvider::browser();
    app.provider
        .sign_in(&browser, &format!("{}/auth/login", app.base), "alice")
        .await
        .expect("sign in");
    let library = app.provider.recorded_requests();
    let pkce = referee(json!({ "call": "pkce" })).await;
    let redirect_uri = format!("{}/auth/callback", app.base);
    let start = referee(
        json!({ "sdk": "scalekit", "call": "authorization_url", "api": api,
        "params": { "state": "sdk-state", "nonce": "sdk-nonce", "redirect_uri": redirect_uri,
                    "code_challenge": pkce["challenge"], "login_hint": "alice",
                    "scopes": ["openid", "profile", "email", "offline_access"] } }),
    )
    .await;
    let code = code_for(&start["url"]).await;
    let signed_in = referee(json!({ "sdk": "scalekit", "call": "authenticate_with_code",
        "api": api, "code": code, "redirect_uri": redirect_uri,
        "code_verifier": pkce["verifier"] }))
    .await;
    assert_eq!(
        signed_in["user"]["email"], "alice@example.com",
        "{signed_in}"
    );
    let sdk = app.provider.recorded_requests();
    let (ours, theirs) = (&library[0], sdk.last().expect("the SDK's request"));
    assert_eq!(theirs.path, "/oauth/token", "Scalekit's token path");
    let comparable = |r: &RecordedRequest| {
        (
            r.content_type.clone(),
            r.fields.clone(),
            r.grant_type.clone(),
            r.authorization.clone(),
        )
    };
    assert_eq!(
        comparable(ours),
        comparable(theirs),
        "the library's request, then the SDK's"
    );
    let valid = referee(json!({ "sdk": "scalekit", "call": "validate_access_token",
        "api": api, "token": signed_in["access_token"] }))
    .await;
    assert_eq!(
        valid["valid"], true,
        "the SDK accepts the emulation's access token"
    );
}

crate::suite! {$
    /// The referees: vendors' SDKs and independent providers, run against `$serve`.
    referees_suite(Serve):
        referee_workos_sdk_agrees_with_the_library_and_the_emulation,
        referee_scalekit_sdk_agrees_with_the_library_and_the_emulation,
        independent_provider_sign_in_refresh_and_logout,
        independent_provider_bearer_token_by_introspection,
        rp_independent_provider_tampered_state_refused,
}

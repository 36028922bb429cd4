//! The hostile-provider suite: the development provider (`auth-testkit`) is told to
//! misbehave, one case per test, and the example app must refuse what the OpenID RP
//! certification and FAPI 2.0 client checks say it must refuse (no session, a 4xx or
//! 502 page, never a 500 or a panic), and accept what it must accept. Test names follow
//! the certification's ids where there is one.

use std::time::{Duration, Instant};

use auth_core::AuthConfigBuilder;
use auth_testkit::{Alg, DevProvider, Misbehaviour, Signing, TokenFault};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::dev::{DevApp, start_dev_with};
use crate::{API, API_SCOPE, Serve, follow, futures_join, me_at};

pub(crate) const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

pub(crate) fn keep(b: AuthConfigBuilder) -> AuthConfigBuilder {
    b
}

pub(crate) async fn hostile(serve: Serve) -> DevApp {
    hostile_with(serve, DevProvider::builder(), keep).await
}

pub(crate) async fn hostile_with(
    serve: Serve,
    provider: auth_testkit::DevProviderBuilder,
    configure: fn(AuthConfigBuilder) -> AuthConfigBuilder,
) -> DevApp {
    start_dev_with(
        serve,
        provider.auto_approve(true).api_audience(API),
        configure,
    )
    .await
}

pub(crate) async fn me_status(browser: &reqwest::Client, app: &DevApp) -> StatusCode {
    me_at(browser, &app.base).await.status()
}

/// Signs in as alice (auto-approved) and returns the last page.
pub(crate) async fn sign_in(app: &DevApp, browser: &reqwest::Client) -> (StatusCode, String) {
    let r = app
        .provider
        .sign_in(
            browser,
            &format!("{}/auth/login?return_to=/me", app.base),
            "alice",
        )
        .await
        .expect("the sign-in round trip");
    let status = r.status();
    (status, r.text().await.expect("body"))
}

/// The status and page code a callback refused for `reason` (a `CallbackError`'s
/// `Debug` text, or its start) answers with.
fn refusal_page(reason: &str) -> (StatusCode, &'static str) {
    let starts = |p: &str| reason.starts_with(p);
    if starts("IdToken") || starts("AccessToken") || starts("MissingIdToken") {
        (StatusCode::BAD_REQUEST, "invalid_token")
    } else if starts("Exchange(Refused") {
        (StatusCode::BAD_REQUEST, "login_expired")
    } else if starts("UserInfo(SubjectMismatch") {
        (StatusCode::BAD_REQUEST, "invalid_token")
    } else if starts("Exchange") || starts("KeysUnavailable") || starts("UserInfo") {
        (StatusCode::BAD_GATEWAY, "provider_unavailable")
    } else {
        panic!("no expected page for the rule {reason}")
    }
}

/// A sign-in while the provider misbehaves must fail with the page of `reason` (its
/// status and code) and leave no session; returns the status.
pub(crate) async fn refused(app: &DevApp, misbehaviour: Misbehaviour, reason: &str) -> StatusCode {
    app.provider.misbehave(misbehaviour);
    let browser = DevProvider::browser();
    let (status, body) = sign_in(app, &browser).await;
    let (expected, code) = refusal_page(reason);
    assert_eq!(status, expected, "the sign-in must be refused: {body}");
    assert_eq!(crate::page_code(&body), code);
    assert!(!body.contains("alice@example.com"), "{body}");
    assert_eq!(me_status(&browser, app).await, StatusCode::UNAUTHORIZED);
    // The rule that refused, as the app reported it (the callback, not another route).
    let events = app.events();
    let last = events.last().map(String::as_str).unwrap_or_default();
    // Prefix: a random `kid` or a parser's column may follow the named rule.
    assert!(
        last.starts_with(&format!("LoginRefused({reason}")),
        "{events:?}"
    );
    status
}

async fn id_token_refused(serve: Serve, misbehaviour: Misbehaviour, reason: &str) {
    let app = hostile(serve).await;
    refused(&app, misbehaviour, reason).await;
    // The same app signs in once the provider behaves: the refusal was for the token.
    app.provider.behave();
    let browser = DevProvider::browser();
    assert_eq!(sign_in(&app, &browser).await.0, StatusCode::OK);
}

/// A sign-in while the provider answers this way must succeed.
async fn accepted(serve: Serve, misbehaviour: Misbehaviour) {
    let app = hostile(serve).await;
    app.provider.misbehave(misbehaviour);
    let browser = DevProvider::browser();
    let (status, body) = sign_in(&app, &browser).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("\"sub\":\"alice\""), "{body}");
}

fn claim(name: &str, value: Value) -> Misbehaviour {
    Misbehaviour::default().id_token_claim(name, value)
}

fn without(name: &str) -> Misbehaviour {
    Misbehaviour::default().without_id_token_claim(name)
}

fn signed(signing: Signing) -> Misbehaviour {
    Misbehaviour::default().id_token_signing(signing)
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

// ---- ID token: every claim rule, broken and missing ----

/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_iss_wrong(serve: Serve) {
    id_token_refused(
        serve,
        claim("iss", json!("https://evil.example")),
        "IdToken(InvalidIssuer)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_iss_missing(serve: Serve) {
    id_token_refused(serve, without("iss"), "IdToken(MissingClaim(\"iss\"))").await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_aud_wrong(serve: Serve) {
    id_token_refused(
        serve,
        claim("aud", json!("another-client")),
        "IdToken(InvalidAudience)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_aud_missing(serve: Serve) {
    id_token_refused(serve, without("aud"), "IdToken(MissingClaim(\"aud\"))").await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_azp_of_another_client(serve: Serve) {
    let m = claim("aud", json!(["dev-client", "another-client"]))
        .id_token_claim("azp", json!("another-client"));
    id_token_refused(serve, m, "IdToken(InvalidAuthorizedParty)").await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_azp_missing_with_several_audiences(serve: Serve) {
    let m = claim("aud", json!(["dev-client", "another-client"])).without_id_token_claim("azp");
    id_token_refused(serve, m, "IdToken(InvalidAuthorizedParty)").await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_sub_missing(serve: Serve) {
    id_token_refused(serve, without("sub"), "IdToken(MissingClaim(\"sub\"))").await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_sub_not_a_string(serve: Serve) {
    id_token_refused(
        serve,
        claim("sub", json!(42)),
        "IdToken(InvalidClaimType(\"sub\"))",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_exp_in_the_past(serve: Serve) {
    id_token_refused(
        serve,
        claim("exp", json!(now() - 3_600)),
        "IdToken(Expired)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_exp_missing(serve: Serve) {
    id_token_refused(serve, without("exp"), "IdToken(MissingClaim(\"exp\"))").await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_iat_in_the_future(serve: Serve) {
    id_token_refused(
        serve,
        claim("iat", json!(now() + 3_600)),
        "IdToken(InvalidIssuedAt)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_iat_missing(serve: Serve) {
    id_token_refused(serve, without("iat"), "IdToken(MissingClaim(\"iat\"))").await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_nbf_in_the_future(serve: Serve) {
    id_token_refused(
        serve,
        claim("nbf", json!(now() + 3_600)),
        "IdToken(NotYetValid)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_azp_of_another_client_with_one_audience(serve: Serve) {
    id_token_refused(
        serve,
        claim("azp", json!("another-client")),
        "IdToken(InvalidAuthorizedParty)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_azp_not_a_string(serve: Serve) {
    id_token_refused(
        serve,
        claim("azp", json!(4_102_444_800_u64)),
        "IdToken(InvalidClaimType(\"azp\"))",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_nbf_not_a_number(serve: Serve) {
    id_token_refused(
        serve,
        claim("nbf", json!("9999999999")),
        "IdToken(InvalidClaimType(\"nbf\"))",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_nonce_invalid(serve: Serve) {
    id_token_refused(
        serve,
        claim("nonce", json!("another-login")),
        "IdToken(NonceMismatch)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_nonce_missing(serve: Serve) {
    id_token_refused(serve, without("nonce"), "IdToken(MissingClaim(\"nonce\"))").await;
}

// ---- ID token: signatures ----

/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_bad_sig_rs256(serve: Serve) {
    id_token_refused(
        serve,
        signed(Signing::CorruptSignature(Alg::RS256)),
        "IdToken(BadSignature)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_bad_sig_ps256(serve: Serve) {
    id_token_refused(
        serve,
        signed(Signing::CorruptSignature(Alg::PS256)),
        "IdToken(BadSignature)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_bad_sig_es256(serve: Serve) {
    id_token_refused(
        serve,
        signed(Signing::CorruptSignature(Alg::ES256)),
        "IdToken(BadSignature)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_bad_sig_eddsa(serve: Serve) {
    id_token_refused(
        serve,
        signed(Signing::CorruptSignature(Alg::EdDSA)),
        "IdToken(BadSignature)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_sig_none(serve: Serve) {
    id_token_refused(
        serve,
        signed(Signing::None),
        "IdToken(AlgorithmNotAllowed(\"none\"))",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_hs256_with_the_client_secret(serve: Serve) {
    let app = hostile(serve).await;
    let (_, secret) = app.provider.client_credentials().expect("client");
    let secret = secret.as_bytes().to_vec();
    refused(
        &app,
        signed(Signing::Hs256(secret)),
        "IdToken(AlgorithmNotAllowed(\"HS256\"))",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_hs256_keyed_with_the_rsa_public_key(serve: Serve) {
    id_token_refused(
        serve,
        signed(Signing::Hs256WithRsaPublicKey),
        "IdToken(AlgorithmNotAllowed(\"HS256\"))",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_sig_by_an_unpublished_key(serve: Serve) {
    id_token_refused(
        serve,
        signed(Signing::UnpublishedKey),
        "IdToken(BadSignature)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_kid_unknown(serve: Serve) {
    id_token_refused(
        serve,
        signed(Signing::UnknownKid),
        "IdToken(UnknownKey(Some(\"unknown-",
    )
    .await;
}

// ---- ID token: what must be accepted ----

/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_sig_ps256_accepted(serve: Serve) {
    accepted(serve, signed(Signing::Key(Alg::PS256))).await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_sig_es256_accepted(serve: Serve) {
    accepted(serve, signed(Signing::Key(Alg::ES256))).await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_sig_eddsa_accepted(serve: Serve) {
    accepted(serve, signed(Signing::Key(Alg::EdDSA))).await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_several_audiences_with_azp_accepted(serve: Serve) {
    let m = claim("aud", json!(["dev-client", "https://api.example.com"]))
        .id_token_claim("azp", json!("dev-client"));
    accepted(serve, m).await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_id_token_without_email_or_name_accepted(serve: Serve) {
    let m = without("email")
        .without_id_token_claim("name")
        .without_id_token_claim("sid");
    accepted(serve, m).await;
}

// ---- JWKS ----

/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_key_rotation_after_the_keys_were_cached(serve: Serve) {
    let app = hostile(serve).await;
    let first = DevProvider::browser();
    assert_eq!(sign_in(&app, &first).await.0, StatusCode::OK);
    let fetches = app.provider.stats().jwks_fetches;
    app.provider.rotate_keys();
    let second = DevProvider::browser();
    assert_eq!(
        sign_in(&app, &second).await.0,
        StatusCode::OK,
        "the new key is fetched"
    );
    assert_eq!(app.provider.stats().jwks_fetches, fetches + 1);
    assert_eq!(
        me_status(&first, &app).await,
        StatusCode::OK,
        "earlier sessions stay"
    );
}

/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_unknown_kid_storm_costs_at_most_one_fetch(serve: Serve) {
    let app = hostile(serve).await;
    let before = app.provider.stats().jwks_fetches;
    let t = now();
    let client = reqwest::Client::new();
    let mut calls = Vec::new();
    for i in 0..40 {
        let token = app.provider.sign_jwt(
            &Signing::UnknownKid,
            "at+jwt",
            &json!({ "iss": app.provider.issuer(), "sub": format!("u{i}"), "aud": API,
                     "scope": API_SCOPE, "iat": t, "exp": t + 300, "client_id": "dev-client" }),
        );
        let request = client
            .get(format!("{}/api/me", app.base))
            .bearer_auth(token)
            .send();
        calls.push(tokio::spawn(request));
    }
    for c in calls {
        let status = c.await.expect("join").expect("api").status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let fetched = app.provider.stats().jwks_fetches - before;
    assert_eq!(fetched, 1, "JWKS fetches for 40 unknown-kid tokens");
}

/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_jwks_unreachable_gives_502_and_no_session(serve: Serve) {
    let app = hostile(serve).await;
    // New keys the app has not cached, and a JWKS endpoint that fails.
    app.provider.rotate_keys();
    let status = refused(
        &app,
        Misbehaviour::default().jwks_status(500),
        "KeysUnavailable(Status(500))",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
}

// ---- Authorization response ----

/// A hostile-provider case (see the module docs): a login (not a silent one, whose
/// `login_required` returns to the app quietly: issue 31, C4) answered with
/// `error=login_required`.
pub(crate) async fn rp_error_response_gives_a_friendly_page(serve: Serve) {
    let app = hostile(serve).await;
    let browser = DevProvider::browser();
    let state = login_state(&app, &browser).await;
    let mut callback = reqwest::Url::parse(&format!("{}/auth/callback", app.base)).expect("url");
    callback
        .query_pairs_mut()
        .append_pair("error", "login_required")
        .append_pair(
            "error_description",
            "this provider keeps no sign-in session",
        )
        .append_pair("state", &state)
        .append_pair("iss", app.provider.issuer());
    let r = browser.get(callback).send().await.expect("callback");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.expect("body");
    assert!(body.contains("Sign-in did not complete"), "{body}");
    assert!(
        !body.contains("login_required"),
        "details stay in the logs: {body}"
    );
    assert_eq!(me_status(&browser, &app).await, StatusCode::UNAUTHORIZED);
}
/// Starts a login on `browser` and returns the state the app sent to the provider.
async fn login_state(app: &DevApp, browser: &reqwest::Client) -> String {
    let r = browser
        .get(format!("{}/auth/login", app.base))
        .send()
        .await
        .expect("login");
    let to = reqwest::Url::parse(r.headers()["location"].to_str().expect("location")).expect("url");
    to.query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state")
}

/// The last refusal the app reported, which must be the callback's `reason`.
fn assert_refused_by(app: &DevApp, reason: &str) {
    let events = app.events();
    let last = events.last().map(String::as_str).unwrap_or_default();
    assert!(
        last.starts_with(&format!("LoginRefused({reason}")),
        "{events:?}"
    );
}

/// A hostile-provider case (see the module docs): an authorization response with the
/// right state and issuer but neither `code` nor `error`.
pub(crate) async fn rp_callback_without_code_refused(serve: Serve) {
    let app = hostile(serve).await;
    let browser = DevProvider::browser();
    let state = login_state(&app, &browser).await;
    let mut callback = reqwest::Url::parse(&format!("{}/auth/callback", app.base)).expect("url");
    callback
        .query_pairs_mut()
        .append_pair("state", &state)
        .append_pair("iss", app.provider.issuer());
    let r = browser.get(callback).send().await.expect("callback");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        crate::page_code(&r.text().await.expect("body")),
        "invalid_callback"
    );
    assert_refused_by(&app, "MissingCode");
    assert_eq!(me_status(&browser, &app).await, StatusCode::UNAUTHORIZED);
}

/// A hostile-provider case (see the module docs): a callback more than 10 minutes
/// after its login (the app's clock moved on; the provider's did not) is refused
/// before the code is exchanged.
pub(crate) async fn rp_callback_after_the_pending_login_expired_refused(serve: Serve) {
    use std::sync::atomic::{AtomicI64, Ordering};
    let skew = std::sync::Arc::new(AtomicI64::new(0));
    let clock = std::sync::Arc::clone(&skew);
    let app = crate::dev::start_dev_with(
        serve,
        DevProvider::builder().auto_approve(true).api_audience(API),
        move |b| {
            b.with_clock(auth_core::Clock::from_fn(move || {
                // The skew only moves the clock forward.
                let ahead = u64::try_from(clock.load(Ordering::SeqCst)).unwrap_or(0);
                std::time::SystemTime::now() + std::time::Duration::from_secs(ahead)
            }))
        },
    )
    .await;
    let browser = DevProvider::browser();
    let state = login_state(&app, &browser).await;
    skew.store(601, Ordering::SeqCst);
    let mut callback = reqwest::Url::parse(&format!("{}/auth/callback", app.base)).expect("url");
    callback
        .query_pairs_mut()
        .append_pair("code", "never-exchanged")
        .append_pair("state", &state)
        .append_pair("iss", app.provider.issuer());
    let r = browser.get(callback).send().await.expect("callback");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        crate::page_code(&r.text().await.expect("body")),
        "login_expired"
    );
    assert_refused_by(&app, "PendingLoginExpired");
    assert_eq!(
        app.provider.stats().token_requests,
        0,
        "no exchange was tried"
    );
}

/// A session store whose writes can be made to fail, and which remembers the last
/// record it created (to damage it).
#[derive(Clone, Default)]
struct FlakyStore {
    inner: auth_core::MemoryStore,
    fail_writes: std::sync::Arc<std::sync::atomic::AtomicBool>,
    last: std::sync::Arc<std::sync::Mutex<Option<auth_core::tower_sessions_core::session::Id>>>,
}

impl std::fmt::Debug for FlakyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlakyStore")
    }
}

type Record = auth_core::tower_sessions_core::session::Record;

#[async_trait::async_trait]
impl auth_core::SessionStore for FlakyStore {
    async fn create(&self, record: &mut Record) -> Result<(), auth_core::StoreError> {
        if self.fail_writes.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(auth_core::StoreError::Backend("the store is down".into()));
        }
        self.inner.create(record).await?;
        *self.last.lock().expect("last") = Some(record.id);
        Ok(())
    }
    async fn save(&self, record: &Record) -> Result<(), auth_core::StoreError> {
        if self.fail_writes.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(auth_core::StoreError::Backend("the store is down".into()));
        }
        self.inner.save(record).await
    }
    async fn load(
        &self,
        id: &auth_core::tower_sessions_core::session::Id,
    ) -> Result<Option<Record>, auth_core::StoreError> {
        self.inner.load(id).await
    }
    async fn delete(
        &self,
        id: &auth_core::tower_sessions_core::session::Id,
    ) -> Result<(), auth_core::StoreError> {
        self.inner.delete(id).await
    }
}

async fn flaky_store_app(serve: Serve) -> (DevApp, FlakyStore) {
    let store = FlakyStore::default();
    let given = store.clone();
    let app = start_dev_with(
        serve,
        DevProvider::builder().auto_approve(true).api_audience(API),
        move |b| b.with_session_store(given),
    )
    .await;
    (app, store)
}

/// A hostile case (see the module docs): the session store refuses the new session
/// at the callback: a 503 page, no session cookie that works, and a later sign-in
/// works once the store is back.
pub(crate) async fn rp_session_store_write_failure_at_the_callback_gives_503(serve: Serve) {
    use std::sync::atomic::Ordering;
    let (app, store) = flaky_store_app(serve).await;
    store.fail_writes.store(true, Ordering::SeqCst);
    let browser = DevProvider::browser();
    let (status, body) = sign_in(&app, &browser).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(!body.contains("alice@example.com"), "{body}");
    assert_eq!(me_status(&browser, &app).await, StatusCode::UNAUTHORIZED);
    store.fail_writes.store(false, Ordering::SeqCst);
    assert_eq!(sign_in(&app, &browser).await.0, StatusCode::OK);
    assert_eq!(me_status(&browser, &app).await, StatusCode::OK);
}

/// A hostile case (see the module docs): a stored session that cannot be read (a
/// damaged record) is treated as signed out: 401, never a 500.
pub(crate) async fn rp_unreadable_stored_session_is_signed_out(serve: Serve) {
    use auth_core::SessionStore as _;
    let (app, store) = flaky_store_app(serve).await;
    let browser = DevProvider::browser();
    assert_eq!(sign_in(&app, &browser).await.0, StatusCode::OK);
    assert_eq!(me_status(&browser, &app).await, StatusCode::OK);
    let id = store.last.lock().expect("last").expect("a stored session");
    let mut record = store.inner.load(&id).await.expect("load").expect("record");
    for value in record.data.values_mut() {
        *value = json!({ "not": "a session" });
    }
    store.inner.save(&record).await.expect("save");
    assert_eq!(me_status(&browser, &app).await, StatusCode::UNAUTHORIZED);
}

// ---- Token endpoint ----

async fn token_endpoint_refused(serve: Serve, fault: TokenFault, reason: &str) -> StatusCode {
    let app = hostile(serve).await;
    refused(&app, Misbehaviour::default().token_endpoint(fault), reason).await
}

/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_token_endpoint_invalid_grant(serve: Serve) {
    let body = r#"{"error":"invalid_grant","error_description":"code expired"}"#;
    let s = token_endpoint_refused(
        serve,
        TokenFault::Status(400, body.into()),
        "Exchange(Refused { error: \"invalid_grant\", description: \"code expired\" })",
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_token_response_without_id_token(serve: Serve) {
    token_endpoint_refused(
        serve,
        TokenFault::RemoveFields(vec!["id_token".into()]),
        "MissingIdToken",
    )
    .await;
}
/// A hostile-provider case (see the module docs): token responses that are not an
/// RFC 6749 §5.1 answer. These are one rule, the response's parse (inside `oauth2`), seen
/// through five shapes: each is a 502 naming what the parse found missing or malformed.
pub(crate) async fn rp_token_response_unparseable_gives_502(serve: Serve) {
    let app = hostile(serve).await;
    let shapes = [
        // An error status without an RFC 6749 §5.2 error body.
        (
            TokenFault::Status(500, "{}".into()),
            "missing field `error`",
        ),
        (
            TokenFault::Status(200, "<html>oops</html>".into()),
            "expected value",
        ),
        (
            TokenFault::Status(200, "{}".into()),
            "missing field `access_token`",
        ),
        (
            TokenFault::RemoveFields(vec!["access_token".into()]),
            "missing field `access_token`",
        ),
        (
            TokenFault::RemoveFields(vec!["token_type".into()]),
            "missing field `token_type`",
        ),
    ];
    for (fault, parse_error) in shapes {
        let status = refused(
            &app,
            Misbehaviour::default().token_endpoint(fault),
            &format!("Exchange(InvalidResponse(\"{parse_error}"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{parse_error}");
    }
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_token_response_of_another_token_type(serve: Serve) {
    // A DPoP-bound access token cannot be used as a bearer token.
    let fault = TokenFault::SetFields(vec![("token_type".into(), json!("DPoP"))]);
    token_endpoint_refused(
        serve,
        fault,
        "Exchange(InvalidResponse(\"token_type \\\"dpop\\\" is not Bearer\"))",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_token_response_with_a_huge_expires_in(serve: Serve) {
    // u64::MAX seconds: must mean "far away", not wrap around into the past (which
    // would refresh on every request).
    let app = hostile(serve).await;
    let fault = TokenFault::SetFields(vec![("expires_in".into(), json!(u64::MAX))]);
    app.provider
        .misbehave(Misbehaviour::default().token_endpoint(fault));
    let browser = DevProvider::browser();
    assert_eq!(sign_in(&app, &browser).await.0, StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(me_status(&browser, &app).await, StatusCode::OK);
    }
    assert_eq!(app.provider.stats().refresh_grants, 0);
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_token_response_id_token_not_a_jwt(serve: Serve) {
    let fault = TokenFault::SetFields(vec![("id_token".into(), json!("not-a-jwt"))]);
    token_endpoint_refused(serve, fault, "IdToken(Malformed)").await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_token_endpoint_hang_is_bounded_and_slows_nobody(serve: Serve) {
    let hang = || Misbehaviour::default().token_endpoint(TokenFault::Hang(Duration::from_secs(60)));
    let login = |app: &DevApp| {
        let browser = DevProvider::browser();
        let url = format!("{}/auth/login", app.base);
        tokio::spawn(async move {
            let page = follow(&browser, &url).await.0;
            (page.status(), page.text().await.expect("body"))
        })
    };
    // Slows nobody: the app gives the provider 60 s, longer than this part takes on
    // any machine. While the callback waits on the hanging token endpoint (its token
    // request has arrived), other requests are answered; the callback is still waiting
    // after them (no bound on how fast each one is, which would measure the machine's
    // load rather than whether anything waits on the hang).
    let app = hostile_with(serve, DevProvider::builder(), |b| {
        b.with_request_timeout(Duration::from_secs(60))
    })
    .await;
    let signed_in = DevProvider::browser();
    assert_eq!(sign_in(&app, &signed_in).await.0, StatusCode::OK);
    app.provider.misbehave(hang());
    let token_requests = app.provider.stats().token_requests;
    let waiting = login(&app);
    while app.provider.stats().token_requests == token_requests {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..5 {
        assert_eq!(me_status(&signed_in, &app).await, StatusCode::OK);
        let home = signed_in.get(&app.base).send().await.expect("home");
        assert_eq!(home.status(), StatusCode::OK);
    }
    assert!(
        !waiting.is_finished(),
        "the callback still waits on the provider"
    );
    waiting.abort();

    // Bounded: with a 1 s limit the callback gives up (502, and the rule that refused
    // it) long before the provider's 60 s hang ends.
    let app = hostile_with(serve, DevProvider::builder(), |b| {
        b.with_request_timeout(Duration::from_secs(1))
    })
    .await;
    app.provider.misbehave(hang());
    let started = Instant::now();
    let (status, page) = login(&app).await.expect("join");
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(crate::page_code(&page), "provider_unavailable");
    let events = app.events();
    assert!(
        events
            .last()
            .is_some_and(|e| e.starts_with("LoginRefused(Exchange(Unreachable(")),
        "{events:?}"
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "the callback was held {took:?}"
    );
}

// ---- Refresh ----

async fn refresh_app(serve: Serve) -> (DevApp, reqwest::Client) {
    let app = hostile_with(
        serve,
        DevProvider::builder().access_token_ttl(Duration::from_secs(4)),
        |b| b.with_refresh_margin(Duration::from_secs(0)),
    )
    .await;
    let browser = DevProvider::browser();
    assert_eq!(sign_in(&app, &browser).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    (app, browser)
}

/// A refresh answered with `misbehaviour` ends the session: exactly one refresh was
/// tried (a refused refresh is not retried), the request is signed out, and it stays
/// ended once the provider behaves (no further refresh is tried for it).
async fn refresh_refused(serve: Serve, misbehaviour: Misbehaviour) {
    let (app, browser) = refresh_app(serve).await;
    let before = app.provider.stats().token_requests;
    app.provider.misbehave(misbehaviour);
    assert_eq!(me_status(&browser, &app).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.provider.stats().token_requests,
        before + 1,
        "one refresh was tried"
    );
    app.provider.behave();
    assert_eq!(
        me_status(&browser, &app).await,
        StatusCode::UNAUTHORIZED,
        "it stays ended"
    );
    assert_eq!(
        app.provider.stats().token_requests,
        before + 1,
        "an ended session is not refreshed again"
    );
}

/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_refresh_with_another_sub_ends_the_session(serve: Serve) {
    refresh_refused(serve, claim("sub", json!("mallory"))).await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_refresh_with_another_iss_ends_the_session(serve: Serve) {
    refresh_refused(serve, claim("iss", json!("https://evil.example"))).await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_refresh_with_a_bad_signature_ends_the_session(serve: Serve) {
    refresh_refused(serve, signed(Signing::CorruptSignature(Alg::RS256))).await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_refresh_invalid_grant_ends_the_session(serve: Serve) {
    let body = r#"{"error":"invalid_grant"}"#;
    refresh_refused(
        serve,
        Misbehaviour::default().token_endpoint(TokenFault::Status(400, body.into())),
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_refresh_provider_down_keeps_the_session(serve: Serve) {
    let (app, browser) = refresh_app(serve).await;
    app.provider
        .misbehave(Misbehaviour::default().token_endpoint(TokenFault::Status(503, "{}".into())));
    assert_eq!(
        me_status(&browser, &app).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    app.provider.behave();
    assert_eq!(
        me_status(&browser, &app).await,
        StatusCode::OK,
        "the session survived"
    );
}
/// A hostile-provider case (see the module docs): a refresh answered with a token
/// type the session cannot use (a DPoP token for a Bearer session) ends the session,
/// as other invalid refreshed tokens do: the provider has already spent the old
/// refresh token, so keeping the session would only fail later.
pub(crate) async fn rp_refresh_of_another_token_type_ends_the_session(serve: Serve) {
    let fault = TokenFault::SetFields(vec![("token_type".into(), json!("DPoP"))]);
    refresh_refused(serve, Misbehaviour::default().token_endpoint(fault)).await;
}
/// A hostile-provider case (see the module docs): a refresh that fails while the
/// access token is still valid (within the refresh margin) keeps serving the session.
pub(crate) async fn rp_refresh_failing_before_expiry_keeps_serving(serve: Serve) {
    let app = hostile_with(
        serve,
        DevProvider::builder().access_token_ttl(Duration::from_secs(60)),
        |b| b.with_refresh_margin(Duration::from_secs(120)),
    )
    .await;
    let browser = DevProvider::browser();
    assert_eq!(sign_in(&app, &browser).await.0, StatusCode::OK);
    app.provider
        .misbehave(Misbehaviour::default().token_endpoint(TokenFault::Status(503, "{}".into())));
    let before = app.provider.stats().token_requests;
    assert_eq!(me_status(&browser, &app).await, StatusCode::OK);
    assert!(
        app.provider.stats().token_requests > before,
        "a refresh was tried"
    );
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_refresh_sixteen_requests_at_expiry_make_one_call(serve: Serve) {
    let (app, browser) = refresh_app(serve).await;
    let statuses = futures_join(&browser, &app.base, 16).await;
    let refreshes = app.provider.stats().refresh_grants;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(refreshes, 1);
}

// ---- Logout ----

/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_initiated_logout_sends_id_token_hint_and_registered_uri(serve: Serve) {
    let app = hostile(serve).await;
    let browser = DevProvider::browser();
    assert_eq!(sign_in(&app, &browser).await.0, StatusCode::OK);
    let r = browser
        .get(format!("{}/auth/logout", app.base))
        .send()
        .await
        .expect("logout");
    let to = reqwest::Url::parse(r.headers()["location"].to_str().expect("location")).expect("url");
    assert!(
        to.as_str()
            .starts_with(&format!("{}/end_session?", app.provider.issuer()))
    );
    let q: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
    assert_eq!(q["post_logout_redirect_uri"], format!("{}/", app.base));
    assert_eq!(q["client_id"], "dev-client");
    assert!(q["state"].len() >= 16);
    assert_eq!(q["id_token_hint"].split('.').count(), 3);
    // The provider accepts it and sends the browser back with the same state.
    let back = browser.get(to).send().await.expect("end_session");
    let back = back.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert_eq!(back, format!("{}/?state={}", app.base, q["state"]));
    assert_eq!(me_status(&browser, &app).await, StatusCode::UNAUTHORIZED);
}

/// A back-channel logout by `sid` ends the sessions of that `sid` that began before it,
/// not a sign-in two seconds later that the provider gave the same `sid` (a provider
/// that keeps its own session across the logout).
pub(crate) async fn rp_backchannel_logout_by_sid_spares_a_later_sign_in_with_that_sid(
    serve: Serve,
) {
    let app = hostile(serve).await;
    app.provider
        .misbehave(Misbehaviour::default().id_token_claim("sid", json!("kept-sid")));
    let before = DevProvider::browser();
    assert_eq!(sign_in(&app, &before).await.0, StatusCode::OK);
    let t = now();
    let token = app.provider.sign_jwt(
        &Signing::default(),
        "logout+jwt",
        &json!({
            "iss": app.provider.issuer(), "aud": "dev-client", "iat": t, "exp": t + 120,
            "jti": format!("jti-sid-{t}"), "sid": "kept-sid",
            "events": { BACKCHANNEL_EVENT: {} },
        }),
    );
    let (status, _) = crate::hardening::post_logout_token(&app, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        me_status(&before, &app).await,
        StatusCode::UNAUTHORIZED,
        "the session that began before the logout ends"
    );
    // Sessions count whole seconds: two later, a new sign-in with the same sid.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = DevProvider::browser();
    assert_eq!(sign_in(&app, &after).await.0, StatusCode::OK);
    assert_eq!(
        me_status(&after, &app).await,
        StatusCode::OK,
        "a sign-in after the logout is not ended by it"
    );
}

/// A signed-in app, and a back-channel logout token for alice's session with claims
/// changed by `change`, signed by `signing`; posts it and checks 400 and a kept session.
async fn backchannel_refused(serve: Serve, signing: Signing, change: fn(&mut Value), reason: &str) {
    let app = hostile(serve).await;
    let browser = DevProvider::browser();
    assert_eq!(sign_in(&app, &browser).await.0, StatusCode::OK);
    let t = now();
    let mut claims = json!({
        "iss": app.provider.issuer(), "aud": "dev-client", "iat": t, "exp": t + 120,
        "jti": format!("jti-{t}"), "sub": "alice", "events": { BACKCHANNEL_EVENT: {} },
    });
    change(&mut claims);
    let token = app.provider.sign_jwt(&signing, "logout+jwt", &claims);
    let r = reqwest::Client::new()
        .post(format!("{}/auth/backchannel-logout", app.base))
        .form(&[("logout_token", token)])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        me_status(&browser, &app).await,
        StatusCode::OK,
        "the session is kept"
    );
    let events = app.events();
    let last = events.last().map(String::as_str).unwrap_or_default();
    // Prefix: a random `kid` may follow the named rule.
    assert!(
        last.starts_with(&format!("BackchannelLogoutRefused({reason}")),
        "{events:?}"
    );
}

fn remove(c: &mut Value, name: &str) {
    c.as_object_mut().expect("object").remove(name);
}

/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_backchannel_logout_token_iss_wrong(serve: Serve) {
    backchannel_refused(
        serve,
        Signing::default(),
        |c| c["iss"] = json!("https://evil.example"),
        "Invalid(InvalidIssuer)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_backchannel_logout_token_aud_wrong(serve: Serve) {
    backchannel_refused(
        serve,
        Signing::default(),
        |c| c["aud"] = json!("another-client"),
        "Invalid(InvalidAudience)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_backchannel_logout_token_events_missing(serve: Serve) {
    backchannel_refused(
        serve,
        Signing::default(),
        |c| remove(c, "events"),
        "Invalid(MissingLogoutEvent)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_backchannel_logout_token_events_wrong_member(serve: Serve) {
    backchannel_refused(
        serve,
        Signing::default(),
        |c| c["events"] = json!({ "http://schemas.openid.net/event/other": {} }),
        "Invalid(MissingLogoutEvent)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_backchannel_logout_token_with_nonce(serve: Serve) {
    backchannel_refused(
        serve,
        Signing::default(),
        |c| c["nonce"] = json!("n"),
        "Invalid(NonceInLogoutToken)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_backchannel_logout_token_without_sid_or_sub(serve: Serve) {
    backchannel_refused(
        serve,
        Signing::default(),
        |c| remove(c, "sub"),
        "Invalid(MissingSidAndSub)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_backchannel_logout_token_expired(serve: Serve) {
    backchannel_refused(
        serve,
        Signing::default(),
        |c| {
            c["iat"] = json!(now() - 7_200);
            c["exp"] = json!(now() - 3_600);
        },
        "Invalid(Expired)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_backchannel_logout_token_iat_missing(serve: Serve) {
    backchannel_refused(
        serve,
        Signing::default(),
        |c| remove(c, "iat"),
        "Invalid(MissingClaim(\"iat\"))",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_backchannel_logout_token_sig_none(serve: Serve) {
    backchannel_refused(
        serve,
        Signing::None,
        |_| {},
        "Invalid(AlgorithmNotAllowed(\"none\"))",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_backchannel_logout_token_bad_sig(serve: Serve) {
    backchannel_refused(
        serve,
        Signing::CorruptSignature(Alg::RS256),
        |_| {},
        "Invalid(BadSignature)",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_backchannel_logout_token_hs256_keyed_with_the_rsa_public_key(serve: Serve) {
    backchannel_refused(
        serve,
        Signing::Hs256WithRsaPublicKey,
        |_| {},
        "Invalid(AlgorithmNotAllowed(\"HS256\"))",
    )
    .await;
}
/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_backchannel_logout_token_kid_unknown(serve: Serve) {
    backchannel_refused(
        serve,
        Signing::UnknownKid,
        |_| {},
        "Invalid(UnknownKey(Some(\"unknown-",
    )
    .await;
}

/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_backchannel_logout_malformed_requests(serve: Serve) {
    let app = hostile(serve).await;
    let browser = DevProvider::browser();
    assert_eq!(sign_in(&app, &browser).await.0, StatusCode::OK);
    let url = format!("{}/auth/backchannel-logout", app.base);
    let client = reqwest::Client::new();
    let big = "a".repeat(200_000);
    // Each shape, the status it gets and the rule that refused it (`None`: refused by
    // the framework before the route ran: over the body limit).
    let bodies: Vec<(&str, String, StatusCode, Option<&str>)> = vec![
        (
            "application/x-www-form-urlencoded",
            String::new(),
            StatusCode::BAD_REQUEST,
            Some("BackchannelLogoutRefused(MissingToken)"),
        ),
        (
            "application/x-www-form-urlencoded",
            "logout_token=".into(),
            StatusCode::BAD_REQUEST,
            Some("BackchannelLogoutRefused(MissingToken)"),
        ),
        (
            "application/x-www-form-urlencoded",
            "logout_token=not.a.jwt".into(),
            StatusCode::BAD_REQUEST,
            Some("BackchannelLogoutRefused(Invalid(Malformed))"),
        ),
        (
            "application/x-www-form-urlencoded",
            "logout_token=a&logout_token=b".into(),
            StatusCode::BAD_REQUEST,
            Some("BackchannelLogoutRefused(MissingToken)"),
        ),
        (
            "application/x-www-form-urlencoded",
            format!("logout_token={big}"),
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        ),
        (
            "application/x-www-form-urlencoded",
            "logout_token=%ZZ".into(),
            StatusCode::BAD_REQUEST,
            Some("BackchannelLogoutRefused(Invalid(Malformed))"),
        ),
        (
            "application/json",
            r#"{"logout_token":"x"}"#.into(),
            StatusCode::BAD_REQUEST,
            Some("BackchannelLogoutRefused(MissingToken)"),
        ),
    ];
    for (content_type, body, status, rule) in bodies {
        let events = app.events().len();
        let r = client
            .post(&url)
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .expect("post");
        let shape = &body[..body.len().min(40)];
        let got = r.status();
        let seen = app.events();
        assert_eq!(got, status, "{shape}");
        match rule {
            Some(rule) => assert_eq!(seen.get(events..), Some(&[rule.to_owned()][..]), "{shape}"),
            None => assert_eq!(seen.len(), events, "{shape}: the route never ran"),
        }
    }
    assert_eq!(
        me_status(&browser, &app).await,
        StatusCode::OK,
        "the session is kept"
    );
}

/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_backchannel_logout_valid_token_ends_only_that_session(serve: Serve) {
    let app = hostile(serve).await;
    let alice = DevProvider::browser();
    assert_eq!(sign_in(&app, &alice).await.0, StatusCode::OK);
    let bob = DevProvider::browser();
    let r = app
        .provider
        .sign_in(&bob, &format!("{}/auth/login", app.base), "bob")
        .await
        .expect("bob");
    assert_eq!(r.status(), StatusCode::OK);
    let t = now();
    let token = app.provider.sign_jwt(
        &Signing::default(),
        "logout+jwt",
        &json!({ "iss": app.provider.issuer(), "aud": "dev-client", "iat": t, "exp": t + 120,
                 "jti": "j1", "sub": "alice", "events": { BACKCHANNEL_EVENT: {} } }),
    );
    let r = reqwest::Client::new()
        .post(format!("{}/auth/backchannel-logout", app.base))
        .form(&[("logout_token", token)])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(me_status(&alice, &app).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_status(&bob, &app).await, StatusCode::OK);
}

// ---- Redirects ----

/// A hostile-provider case (see the module docs).
pub(crate) async fn rp_return_to_that_leaves_the_site_is_never_followed(serve: Serve) {
    let app = hostile(serve).await;
    let shapes = [
        "https://evil.example/x",
        "http:evil.example",
        "https:/evil.example",
        "//evil.example/x",
        "///evil.example",
        "/\\evil.example/x",
        "\\\\evil.example",
        "/%2F%2Fevil.example",
        "%2F%2Fevil.example",
        "/%5Cevil.example",
        "/\t/evil.example",
        " //evil.example",
        "evil.example",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "/.//evil.example",
    ];
    let base = reqwest::Url::parse(&app.base).expect("base");
    for shape in shapes {
        let browser = DevProvider::browser();
        let login = reqwest::Url::parse_with_params(
            &format!("{}/auth/login", app.base),
            [("return_to", shape)],
        )
        .expect("url");
        let r = app
            .provider
            .sign_in(&browser, login.as_str(), "alice")
            .await
            .unwrap_or_else(|e| panic!("return_to {shape:?} led off the site: {e}"));
        let landed = r.url();
        assert_eq!(
            (landed.host_str(), landed.port()),
            (base.host_str(), base.port()),
            "return_to {shape:?} landed on {landed}"
        );
        // Dropped for "/", except "/.//evil.example": a same-site path (a 404 of this app,
        // kept as the browser normalises it).
        let (status, path) = if shape == "/.//evil.example" {
            (StatusCode::NOT_FOUND, "//evil.example")
        } else {
            (StatusCode::OK, "/")
        };
        assert_eq!((r.status(), landed.path()), (status, path), "{shape:?}");
    }
}

// ---- Input ----

/// What the app must answer to one malformed request.
#[derive(Debug)]
enum Answer {
    /// The callback refused it: this status, and the app reported this rule.
    Callback(StatusCode, &'static str),
    /// The login route refused it with a 400 page naming this problem.
    LoginRefused(&'static str),
    /// A redirect whose `Location` starts with this (relative to the app or the provider).
    Redirect(&'static str),
    /// Exactly this status (a page that does not depend on the input).
    Status(StatusCode),
}

async fn answers(app: &DevApp, request: reqwest::RequestBuilder, expected: &Answer, what: &str) {
    let before = app.events().len();
    let r = request.send().await.expect("send");
    let status = r.status();
    let location = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned);
    let body = r.text().await.expect("body");
    let events = app.events();
    let reported = &events[before.min(events.len())..];
    let what = &what[..what.len().min(80)];
    match expected {
        Answer::Callback(code, rule) => {
            assert_eq!(status, *code, "{what}: {body}");
            assert!(
                reported.len() == 1 && reported[0].starts_with(&format!("LoginRefused({rule}")),
                "{what}: expected {rule}, the app reported {reported:?}"
            );
        }
        Answer::LoginRefused(problem) => {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
            assert!(
                body.contains(problem),
                "{what}: expected {problem:?} in {body}"
            );
            assert!(reported.is_empty(), "{what}: {reported:?}");
        }
        Answer::Redirect(prefix) => {
            assert_eq!(status, StatusCode::SEE_OTHER, "{what}: {body}");
            let location = location.unwrap_or_default();
            let provider = app.provider.issuer();
            let location = location.strip_prefix(provider).unwrap_or(&location);
            assert!(
                location.starts_with(prefix),
                "{what}: expected a redirect to {prefix}, got {location}"
            );
            assert!(reported.is_empty(), "{what}: {reported:?}");
        }
        Answer::Status(code) => {
            assert_eq!(status, *code, "{what}: {body}");
            assert!(reported.is_empty(), "{what}: {reported:?}");
        }
    }
}

/// A hostile-provider case (see the module docs): each malformed request gets the answer
/// of the rule that covers it (never a 5xx, never a sign-in it should not start), and
/// the signed-in browser beside it keeps its session.
pub(crate) async fn rp_malformed_input_refused_by_its_rule(serve: Serve) {
    use Answer::*;
    let app = hostile(serve).await;
    let browser = DevProvider::browser();
    assert_eq!(sign_in(&app, &browser).await.0, StatusCode::OK);
    let client = crate::no_redirects();
    let long = "x".repeat(20_000);
    let paths = [
        (
            "/auth/callback".to_string(),
            Callback(StatusCode::BAD_REQUEST, "MissingState"),
        ),
        (
            "/auth/callback?".into(),
            Callback(StatusCode::BAD_REQUEST, "MissingState"),
        ),
        (
            "/auth/callback?code=&state=".into(),
            Callback(StatusCode::BAD_REQUEST, "MissingState"),
        ),
        (
            "/auth/callback?code=a&code=b&state=s&state=t".into(),
            Callback(StatusCode::BAD_REQUEST, "Malformed(\"repeated parameter\")"),
        ),
        (
            format!("/auth/callback?code={long}&state={long}"),
            Callback(StatusCode::BAD_REQUEST, "Malformed(\"query too long\")"),
        ),
        (
            "/auth/callback?state=%ZZ&code=%C3%28".into(),
            Callback(StatusCode::BAD_REQUEST, "PendingLoginMissing"),
        ),
        (
            "/auth/callback?error=".into(),
            Callback(StatusCode::BAD_REQUEST, "Provider {"),
        ),
        (
            format!("/auth/callback?error=access_denied&error_description={long}"),
            Callback(StatusCode::BAD_REQUEST, "Malformed(\"query too long\")"),
        ),
        (
            "/auth/login?prompt=everything".into(),
            LoginRefused("prompt must be one of"),
        ),
        (
            format!("/auth/login?login_hint={long}"),
            LoginRefused("login_hint parameter is too long"),
        ),
        (
            format!("/auth/login?return_to=/{long}"),
            LoginRefused("return_to parameter is too long"),
        ),
        // Not a same-site path once decoded: dropped, the sign-in starts for "/".
        ("/auth/login?return_to=%ZZ".into(), Redirect("/authorize?")),
        (
            "/auth/login?organization_id=a&organization_id=b".into(),
            LoginRefused("organization_id parameter appears more than once"),
        ),
        ("/auth/login?unknown=1".into(), Redirect("/authorize?")),
        ("/auth/signup?prompt=none".into(), Redirect("/authorize?")),
        // No session on this client: nothing to end here, the provider's sign-out follows.
        ("/auth/logout?x=%00".into(), Redirect("/end_session?")),
        (
            "/me?%ZZ".into(),
            Redirect("/auth/login?return_to=%2Fme%3F%25ZZ"),
        ),
    ];
    for (path, expected) in &paths {
        let request = client.get(format!("{}{path}", app.base));
        answers(&app, request, expected, path).await;
    }
    let cookies = [
        "auth_session=".to_string(),
        "auth_session=%%%".into(),
        format!("auth_session={long}"),
        "auth_session=a; auth_session=b".into(),
        (0..150)
            .map(|i| format!("c{i}=v"))
            .collect::<Vec<_>>()
            .join("; "),
        "auth_pending_x=garbage; auth_session=\"quoted\"".into(),
    ];
    // None of these is a session or a pending login of this app.
    let per_path = [
        ("/me", Status(StatusCode::UNAUTHORIZED)),
        ("/", Status(StatusCode::OK)),
        (
            "/auth/callback?code=c&state=s",
            Callback(StatusCode::BAD_REQUEST, "PendingLoginMissing"),
        ),
        ("/auth/logout", Redirect("/end_session?")),
    ];
    for cookie in &cookies {
        for (path, expected) in &per_path {
            let request = client
                .get(format!("{}{path}", app.base))
                .header("cookie", cookie)
                .header("accept", "application/json");
            answers(
                &app,
                request,
                expected,
                &format!("{path} with cookie {cookie}"),
            )
            .await;
        }
    }
    // `HeaderValue::from_str` refuses control characters, so obs-text (0x80-0xff, which
    // HTTP/1.1 allows in a field value) is sent as bytes.
    let headers: [(&str, &[u8], Answer); 4] = [
        ("authorization", b"Bearer", Status(StatusCode::UNAUTHORIZED)),
        (
            "authorization",
            b"Bearer a.b.c",
            Status(StatusCode::UNAUTHORIZED),
        ),
        (
            "authorization",
            b"Basic x",
            Status(StatusCode::UNAUTHORIZED),
        ),
        (
            "accept",
            b"\xff\xfe",
            Redirect("/auth/login?return_to=%2Fme"),
        ),
    ];
    for (name, value, expected) in &headers {
        let value = reqwest::header::HeaderValue::from_bytes(value).expect("a valid field value");
        let request = client.get(format!("{}/me", app.base)).header(*name, value);
        answers(&app, request, expected, name).await;
    }
    assert_eq!(
        me_status(&browser, &app).await,
        StatusCode::OK,
        "nothing ended the session"
    );
}

crate::suite! {$
    /// The scenarios of the hostile suite, run against `$serve`.
    hostile_suite(Serve):
        rp_callback_without_code_refused,
        rp_backchannel_logout_by_sid_spares_a_later_sign_in_with_that_sid,
        rp_callback_after_the_pending_login_expired_refused,
        rp_session_store_write_failure_at_the_callback_gives_503,
        rp_unreadable_stored_session_is_signed_out,
        rp_refresh_of_another_token_type_ends_the_session,
        rp_refresh_failing_before_expiry_keeps_serving,
        rp_id_token_iss_wrong,
        rp_id_token_iss_missing,
        rp_id_token_aud_wrong,
        rp_id_token_aud_missing,
        rp_id_token_azp_of_another_client,
        rp_id_token_azp_missing_with_several_audiences,
        rp_id_token_sub_missing,
        rp_id_token_sub_not_a_string,
        rp_id_token_exp_in_the_past,
        rp_id_token_exp_missing,
        rp_id_token_iat_in_the_future,
        rp_id_token_iat_missing,
        rp_id_token_nbf_in_the_future,
        rp_id_token_azp_of_another_client_with_one_audience,
        rp_id_token_azp_not_a_string,
        rp_id_token_nbf_not_a_number,
        rp_nonce_invalid,
        rp_nonce_missing,
        rp_id_token_bad_sig_rs256,
        rp_id_token_bad_sig_ps256,
        rp_id_token_bad_sig_es256,
        rp_id_token_bad_sig_eddsa,
        rp_id_token_sig_none,
        rp_id_token_hs256_with_the_client_secret,
        rp_id_token_hs256_keyed_with_the_rsa_public_key,
        rp_id_token_sig_by_an_unpublished_key,
        rp_id_token_kid_unknown,
        rp_id_token_sig_ps256_accepted,
        rp_id_token_sig_es256_accepted,
        rp_id_token_sig_eddsa_accepted,
        rp_id_token_several_audiences_with_azp_accepted,
        rp_id_token_without_email_or_name_accepted,
        rp_key_rotation_after_the_keys_were_cached,
        rp_unknown_kid_storm_costs_at_most_one_fetch,
        rp_jwks_unreachable_gives_502_and_no_session,
        rp_error_response_gives_a_friendly_page,
        rp_token_endpoint_invalid_grant,
        rp_token_response_without_id_token,
        rp_token_response_unparseable_gives_502,
        rp_token_response_id_token_not_a_jwt,
        rp_token_response_of_another_token_type,
        rp_token_response_with_a_huge_expires_in,
        rp_token_endpoint_hang_is_bounded_and_slows_nobody,
        rp_refresh_with_another_sub_ends_the_session,
        rp_refresh_with_another_iss_ends_the_session,
        rp_refresh_with_a_bad_signature_ends_the_session,
        rp_refresh_invalid_grant_ends_the_session,
        rp_refresh_provider_down_keeps_the_session,
        rp_refresh_sixteen_requests_at_expiry_make_one_call,
        rp_initiated_logout_sends_id_token_hint_and_registered_uri,
        rp_backchannel_logout_token_iss_wrong,
        rp_backchannel_logout_token_aud_wrong,
        rp_backchannel_logout_token_events_missing,
        rp_backchannel_logout_token_events_wrong_member,
        rp_backchannel_logout_token_with_nonce,
        rp_backchannel_logout_token_without_sid_or_sub,
        rp_backchannel_logout_token_expired,
        rp_backchannel_logout_token_iat_missing,
        rp_backchannel_logout_token_sig_none,
        rp_backchannel_logout_token_bad_sig,
        rp_backchannel_logout_token_hs256_keyed_with_the_rsa_public_key,
        rp_backchannel_logout_token_kid_unknown,
        rp_backchannel_logout_malformed_requests,
        rp_backchannel_logout_valid_token_ends_only_that_session,
        rp_key_removed_is_refused_after_the_key_set_max_age,
        rp_backchannel_logout_token_replayed_has_no_effect,
        rp_backchannel_logout_ends_only_sessions_begun_before_its_iat,
        rp_return_to_that_leaves_the_site_is_never_followed,
        rp_malformed_input_refused_by_its_rule,
}

//! The enterprise client (issue 17, first part) against the real `oidc-provider` in its
//! FAPI 2.0 configuration (`fapi: true` in the test provider: pushed authorization
//! requests required, the FAPI 2.0 profile, which takes a client assertion only with
//! `aud` = the issuer): `private_key_jwt` with the key published at the app's own
//! `GET /auth/jwks` (the provider fetches it from there), PAR on every login, and the
//! assertion on every token request (code, refresh, client credentials).

use std::net::TcpListener;
use std::time::Duration;

use auth_core::{Auth, AuthConfig, ClientKey};
use provider_harness::TestProvider;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{API, API_SCOPE, Running, Serve, browser, follow, init, me_at, page_code};

const KEY: &[u8] = include_bytes!("../testdata/client-es256.pem");
const UNREGISTERED_KEY: &[u8] = include_bytes!("../testdata/client-es256-unregistered.pem");

struct FapiApp {
    base: String,
    provider: TestProvider,
    auth: Auth,
    _server: Running,
}

impl FapiApp {
    async fn stats(&self) -> Value {
        reqwest::get(self.provider.stats_url())
            .await
            .expect("stats")
            .json()
            .await
            .expect("json")
    }
}

/// How the client's keys are registered at the provider.
enum Keys {
    /// By `jwks_uri`: the app's own `/auth/jwks`.
    AppJwksUri,
    /// By value: the public half of this key.
    Registered(&'static [u8]),
}

/// The provider in FAPI 2.0 mode with client `fapi-app` registered with `keys`, and the
/// app signing its assertions with `key`.
async fn fapi_app(serve: Serve, key: &[u8], keys: Keys) -> FapiApp {
    fapi_app_with(serve, key, keys, false).await
}

/// As [`fapi_app`]; with `dpop`, the client is registered with
/// `dpop_bound_access_tokens` and the app binds every session to a DPoP key.
async fn fapi_app_with(serve: Serve, key: &[u8], keys: Keys, dpop: bool) -> FapiApp {
    fapi_app_configured(serve, key, keys, dpop, move |b| b.with_dpop(dpop)).await
}

/// As [`fapi_app_with`], with `configure` applied to the app's configuration.
async fn fapi_app_configured(
    serve: Serve,
    key: &[u8],
    keys: Keys,
    dpop: bool,
    configure: impl FnOnce(auth_core::AuthConfigBuilder) -> auth_core::AuthConfigBuilder,
) -> FapiApp {
    init();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let mut client = json!({
        "client_id": "fapi-app",
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
        "id_token_signed_response_alg": "ES256",
        "redirect_uris": [format!("{base}/auth/callback")],
        "post_logout_redirect_uris": [format!("{base}/")],
        "dpop_bound_access_tokens": dpop,
    });
    match keys {
        Keys::AppJwksUri => client["jwks_uri"] = json!(format!("{base}/auth/jwks")),
        Keys::Registered(pem) => {
            let public = ClientKey::from_pem(pem).expect("key").public_jwk();
            client["jwks"] = json!({ "keys": [public] });
        }
    }
    let provider = TestProvider::start(json!({
        "fapi": true,
        "access_token_ttl": 2,
        "api_resources": { API: API_SCOPE },
        "clients": [client],
    }))
    .await;
    let config = AuthConfig::builder(&provider.issuer, "fapi-app", &base)
        .with_client_key(ClientKey::from_pem(key).expect("key"))
        .with_refresh_margin(Duration::from_secs(1))
        .with_api_audience(API);
    let config = configure(config).build().expect("config");
    let auth = Auth::discover(config).await.expect("discovery");
    FapiApp {
        base,
        provider,
        auth: auth.clone(),
        _server: serve(auth, listener),
    }
}

/// private_key_jwt + PAR against oidc-provider's FAPI 2.0 profile: the login is pushed
/// (the browser carries only `client_id` and `request_uri`), the code exchange, a
/// refresh and a client-credentials grant each carry a fresh assertion, and the
/// provider found the app's key at its `/auth/jwks`.
pub(crate) async fn fapi_private_key_jwt_and_par_sign_in_refresh_and_app_tokens(serve: Serve) {
    let app = fapi_app(serve, KEY, Keys::AppJwksUri).await;
    let jwks: Value = reqwest::get(format!("{}/auth/jwks", app.base))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    assert!(jwks["keys"][0].get("d").is_none(), "never a private member");

    let client = browser();
    let (page, seen) = follow(&client, &format!("{}/auth/login?return_to=/me", app.base)).await;
    assert_eq!(page.status(), StatusCode::OK, "{seen:?}");
    let me: Value = page.json().await.expect("json");
    assert!(me["sub"].is_string(), "{me}");
    let stats = app.stats().await;
    assert_eq!(stats["pushed_requests"], 1, "{stats}");
    let front: Vec<&String> = stats["last_authorization_params"]
        .as_object()
        .expect("params")
        .keys()
        .collect();
    assert_eq!(
        front,
        ["client_id", "request_uri"],
        "the browser carries nothing else"
    );
    let pushed = &stats["last_pushed_params"];
    for name in ["state", "nonce", "code_challenge", "redirect_uri", "scope"] {
        assert!(pushed[name].is_string(), "{name} pushed: {pushed}");
    }
    assert_eq!(pushed["code_challenge_method"], "S256");
    assert_eq!(stats["code_grants"], 1);

    // The access token lives 2 s: a request after that refreshes, with a new
    // assertion (a slow machine may have refreshed once already during sign-in).
    let before = app.stats().await["refresh_grants_ok"].as_u64().expect("n");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(me_at(&client, &app.base).await.status(), StatusCode::OK);
    let after = app.stats().await["refresh_grants_ok"].as_u64().expect("n");
    assert_eq!(after, before + 1, "one refresh, accepted");

    // Logout: the local session ends, and the browser goes to the provider's
    // end-session endpoint (RP-initiated, with the ID token hint).
    let (last, seen) = follow(&client, &format!("{}/auth/logout", app.base)).await;
    assert_eq!(last.status(), StatusCode::OK, "{seen:?}");
    assert!(
        seen.iter()
            .any(|u| u.starts_with(&format!("{}/session/end", app.provider.issuer))),
        "{seen:?}"
    );
    assert_eq!(
        me_at(&client, &app.base).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Client credentials, authenticated by an assertion too.
    let tokens = app.auth.app_tokens(
        auth_core::AppTokenRequest::new()
            .with_resource(API)
            .with_scope(API_SCOPE),
    );
    let token = tokens.access_token().await.expect("the app's token");
    let caller = app
        .auth
        .authenticate_bearer(token.secret())
        .await
        .expect("an RFC 9068 token");
    assert_eq!(caller.sub(), "fapi-app");
}

/// A pushed request the provider refuses (here: an assertion signed by a key it does
/// not know) is a 502 page with its own code, and no login starts: no pending-login
/// cookie, nothing sent to the browser's address bar.
pub(crate) async fn fapi_par_refused_by_the_provider_gives_a_502_page_and_no_login(serve: Serve) {
    let app = fapi_app(serve, UNREGISTERED_KEY, Keys::Registered(KEY)).await;
    let r = crate::no_redirects()
        .get(format!("{}/auth/login", app.base))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(r.headers().get("set-cookie").is_none(), "no pending login");
    let body = r.text().await.expect("body");
    assert_eq!(page_code(&body), "pushed_authorization_failed");
    assert_eq!(app.stats().await["pushed_requests"], 0);
}

/// DPoP against oidc-provider with server nonces: the code exchange is asked for a
/// nonce and retried once with it (a new proof and a new assertion), the session's
/// tokens are bound to its key (the provider's UserInfo takes them only with a proof),
/// and a refresh carries a proof too.
pub(crate) async fn fapi_dpop_binds_the_session_through_the_nonce_dance_and_refresh(serve: Serve) {
    let app = fapi_app_with(serve, KEY, Keys::AppJwksUri, true).await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = crate::browser_with(jar.clone());
    let (page, seen) = follow(&client, &format!("{}/auth/login?return_to=/me", app.base)).await;
    assert_eq!(page.status(), StatusCode::OK, "{seen:?}");
    let stats = app.stats().await;
    assert_eq!(
        stats["code_grants"], 2,
        "one refused for want of a nonce, one with it: {stats}"
    );

    let url = url::Url::parse(&app.base).expect("url");
    let cookies = reqwest::cookie::CookieStore::cookies(&*jar, &url).expect("cookies");
    let cookies = cookies.to_str().expect("ascii").to_owned();
    let id = app.auth.session_id(cookies.split("; ").map(str::as_bytes));
    let auth_core::Authenticated::User(session) = app.auth.authenticate(id.as_ref()).await else {
        panic!("a valid session");
    };
    assert!(session.is_dpop_bound());
    let info = app
        .auth
        .userinfo(&session)
        .await
        .expect("userinfo with a DPoP proof");
    assert_eq!(info.sub(), session.sub());

    let before = app.stats().await["refresh_grants_ok"].as_u64().expect("n");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(me_at(&client, &app.base).await.status(), StatusCode::OK);
    let after = app.stats().await["refresh_grants_ok"].as_u64().expect("n");
    assert_eq!(after, before + 1, "a refresh with a DPoP proof");
}

/// Issue 31, C3: a single-page app's call forwarded for a DPoP-bound session carries
/// `Authorization: DPoP` and a fresh proof for that very request, which the real
/// oidc-provider verifies: its UserInfo endpoint, as the remote API, answers alice's
/// claims through `Auth::forward` (after the DPoP nonce it asks for, when it does), and
/// refuses the same token presented as a plain bearer token.
pub(crate) async fn fapi_forwarded_calls_of_a_dpop_bound_session_carry_a_proof_the_provider_verifies(
    serve: Serve,
) {
    let app = fapi_app_with(serve, KEY, Keys::AppJwksUri, true).await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = crate::browser_with(jar.clone());
    let (page, seen) = follow(&client, &format!("{}/auth/login?return_to=/me", app.base)).await;
    assert_eq!(page.status(), StatusCode::OK, "{seen:?}");
    let url = url::Url::parse(&app.base).expect("url");
    let cookies = reqwest::cookie::CookieStore::cookies(&*jar, &url).expect("cookies");
    let cookies = cookies.to_str().expect("ascii").to_owned();
    let id = app.auth.session_id(cookies.split("; ").map(str::as_bytes));
    let auth_core::Authenticated::User(session) = app.auth.authenticate(id.as_ref()).await else {
        panic!("a valid session");
    };
    assert!(session.is_dpop_bound());
    let discovery: Value = reqwest::get(format!(
        "{}/.well-known/openid-configuration",
        app.provider.issuer
    ))
    .await
    .expect("discovery")
    .json()
    .await
    .expect("json");
    let userinfo = discovery["userinfo_endpoint"].as_str().expect("userinfo");
    let (base, last) = userinfo.rsplit_once('/').expect("a path");
    let api = auth_core::RemoteApi::new(base).expect("api");
    let mut headers = auth_core::http::HeaderMap::new();
    headers.insert("accept", "application/json".parse().expect("header"));
    headers.insert("cookie", cookies.parse().expect("header"));
    let answer = app
        .auth
        .forward(
            &session,
            &api,
            "/bff/remote",
            &auth_core::http::Method::GET,
            &format!("/bff/remote/{last}"),
            &headers,
            auth_core::ForwardBody::empty(),
        )
        .await;
    let status = answer.status();
    let body = answer
        .into_body()
        .collect()
        .await
        .expect("the answer's body");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let claims: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(claims["sub"], session.sub());
    let plain = reqwest::Client::new()
        .get(userinfo)
        .bearer_auth(session.access_token().secret())
        .send()
        .await
        .expect("userinfo");
    assert_eq!(
        plain.status(),
        StatusCode::UNAUTHORIZED,
        "the provider demands the proof"
    );
}

/// The app's own API takes a DPoP-bound token (`cnf.jkt`) only with a proof of its
/// key for this very request (RFC 9449 §7), through the framework's `BearerUser`: not
/// as a plain bearer token, not with a proof for another URL, not twice with one proof,
/// not without a proof.
pub(crate) async fn api_takes_a_dpop_bound_token_only_with_its_proof(serve: Serve) {
    use auth_testkit::{Alg, Signing};
    let app = crate::hostile::hostile(serve).await;
    let key = auth_core::DpopKey::generate();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let token = app.provider.sign_jwt(
        &Signing::Key(Alg::RS256),
        "at+jwt",
        &json!({ "iss": app.provider.issuer(), "sub": "alice", "aud": API,
                 "client_id": "dev-client", "scope": API_SCOPE, "iat": now, "exp": now + 300,
                 "cnf": { "jkt": key.thumbprint() } }),
    );
    let url = format!("{}/api/me", app.base);
    let call = |scheme: &'static str, proof: Option<String>| {
        let mut request = reqwest::Client::new()
            .get(&url)
            .header("authorization", format!("{scheme} {token}"));
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.send()
    };
    let proof = key.proof("GET", &url, None, Some(&token), now);
    let r = call("DPoP", Some(proof.clone())).await.expect("api");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.expect("json")["sub"], "alice");

    let challenge = |r: &reqwest::Response| {
        r.headers()
            .get("www-authenticate")
            .map(|v| v.to_str().expect("ascii").to_owned())
            .unwrap_or_default()
    };
    let r = call("Bearer", None).await.expect("api");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&r).contains("invalid_token"), "{}", challenge(&r));
    for (what, proof) in [
        (
            "another URL",
            Some(key.proof(
                "GET",
                &format!("{}/api/other", app.base),
                None,
                Some(&token),
                now,
            )),
        ),
        ("a replay", Some(proof)),
        ("no proof", None),
    ] {
        let r = call("DPoP", proof).await.expect("api");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert!(
            challenge(&r).starts_with("DPoP error=\"invalid_dpop_proof\""),
            "{what}: {}",
            challenge(&r)
        );
    }
    let events = app.events();
    assert!(
        events
            .iter()
            .any(|e| e == "BearerRefused(InvalidProof(UrlMismatch))")
            && events
                .iter()
                .any(|e| e == "BearerRefused(InvalidProof(Replayed))")
            && events
                .iter()
                .any(|e| e == "BearerRefused(InvalidProof(Missing))")
            && events
                .iter()
                .any(|e| e == "BearerRefused(Invalid(SenderConstrained))"),
        "{events:?}"
    );
}

/// A token bound by another confirmation method (mTLS's `cnf.x5t#S256`, RFC 8705) is
/// never a bearer token: presented with a DPoP proof of any key it is refused (the
/// proof does not prove that binding) and then, presented as `Bearer`, refused too.
/// Before, the DPoP presentation cached the validated token and the bearer path
/// refused a cached token only for a `jkt`.
pub(crate) async fn rp_token_bound_by_another_method_is_never_a_bearer_token(serve: Serve) {
    use auth_testkit::{Alg, Signing};
    let app = crate::hostile::hostile(serve).await;
    let key = auth_core::DpopKey::generate();
    let now = crate::hostile::now();
    let token = app.provider.sign_jwt(
        &Signing::Key(Alg::RS256),
        "at+jwt",
        &json!({ "iss": app.provider.issuer(), "sub": "alice", "aud": API,
                 "client_id": "dev-client", "scope": API_SCOPE, "iat": now, "exp": now + 300,
                 "cnf": { "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" } }),
    );
    let url = format!("{}/api/me", app.base);
    let proof = key.proof("GET", &url, None, Some(&token), now);
    let r = reqwest::Client::new()
        .get(&url)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .send()
        .await
        .expect("api");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "as DPoP");
    let r = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("api");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "then as Bearer");
    let events = app.events();
    assert!(
        events
            .iter()
            .any(|e| e == "BearerRefused(Invalid(KeyBindingMismatch))")
            && events
                .iter()
                .any(|e| e == "BearerRefused(Invalid(SenderConstrained))"),
        "{events:?}"
    );
}

/// `OIDC_PROFILE=fapi2` against oidc-provider's FAPI 2.0 configuration: the profile
/// finds everything it needs in discovery, and one switch gives a pushed login, a
/// `private_key_jwt` client, DPoP-bound tokens (through the nonce dance) and ES256.
pub(crate) async fn fapi2_profile_signs_in_against_oidc_provider(serve: Serve) {
    let app = fapi_app_configured(serve, KEY, Keys::AppJwksUri, true, |b| {
        b.with_security_profile(auth_core::SecurityProfile::Fapi2)
    })
    .await;
    let client = browser();
    let (page, seen) = follow(&client, &format!("{}/auth/login?return_to=/me", app.base)).await;
    assert_eq!(page.status(), StatusCode::OK, "{seen:?}");
    let stats = app.stats().await;
    assert_eq!(stats["pushed_requests"], 1, "{stats}");
    assert_eq!(
        stats["code_grants"], 2,
        "DPoP nonce asked, then given: {stats}"
    );
}

/// A zero-configuration run with `OIDC_PROFILE=fapi2`: the development provider
/// registers a key made for the app, takes pushed requests only, authenticates the
/// client by its assertions and binds the tokens to the session's DPoP key; a sign-in
/// through its page works, and the session is DPoP-bound.
pub(crate) async fn dev_provider_speaks_fapi2_for_a_zero_configuration_run(serve: Serve) {
    init();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let vars = [
        ("APP_URL", base.clone()),
        ("OIDC_PROFILE", "fapi2".to_owned()),
    ];
    let (config, provider) = auth_testkit::config_from_lookup_or_dev_provider(&base, |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .await
    .expect("a development provider");
    let provider = provider.expect("started");
    let auth = Auth::discover(config).await.expect("the profile is met");
    let _server = serve(auth.clone(), listener);

    let browser = auth_testkit::DevProvider::browser();
    let start = browser
        .get(format!("{base}/auth/login"))
        .send()
        .await
        .expect("login");
    let to = start.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let query: Vec<String> = url::Url::parse(&to)
        .expect("url")
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .collect();
    assert_eq!(query, ["client_id", "request_uri"], "pushed: {to}");
    let page = provider
        .sign_in(
            &browser,
            &format!("{base}/auth/login?return_to=/me"),
            "alice",
        )
        .await
        .expect("sign in");
    assert_eq!(page.status(), StatusCode::OK);
    let me: Value = page.json().await.expect("json");
    assert_eq!(me["sub"], "alice");
    let s = provider.stats();
    assert_eq!((s.code_grants, s.token_errors), (1, 0), "{s:?}");
}

crate::suite! {$
    /// The FAPI suite: every scenario of this module, on one framework.
    fapi_suite(Serve):
        fapi_private_key_jwt_and_par_sign_in_refresh_and_app_tokens,
        fapi_par_refused_by_the_provider_gives_a_502_page_and_no_login,
        fapi_dpop_binds_the_session_through_the_nonce_dance_and_refresh,
        fapi_forwarded_calls_of_a_dpop_bound_session_carry_a_proof_the_provider_verifies,
        api_takes_a_dpop_bound_token_only_with_its_proof,
        rp_token_bound_by_another_method_is_never_a_bearer_token,
        fapi2_profile_signs_in_against_oidc_provider,
        dev_provider_speaks_fapi2_for_a_zero_configuration_run,
}

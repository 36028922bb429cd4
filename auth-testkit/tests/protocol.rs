//! The development provider refuses what a real provider refuses: it is a stand-in
//! for tests, so it must not let a broken client pass.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use auth_testkit::{ClientRegistration, DevProvider};
use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

const APP: &str = "http://127.0.0.1:9";
const SECRET: &str = "s3cret-s3cret-s3cret";
const VERIFIER: &str = "verifier-verifier-verifier-verifier-verifier-0123";

async fn provider() -> DevProvider {
    DevProvider::builder()
        .client(ClientRegistration::for_app("app", SECRET, APP))
        .auto_approve(true)
        .start()
        .await
        .unwrap()
}

fn challenge(verifier: &str) -> String {
    B64.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

fn client() -> reqwest::Client {
    DevProvider::browser()
}

/// `GET /authorize` with the usual parameters, `change` applied; the response.
async fn authorize(p: &DevProvider, change: &[(&str, Option<&str>)]) -> reqwest::Response {
    let challenge = challenge(VERIFIER);
    let redirect = format!("{APP}/auth/callback");
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", "app"),
        ("redirect_uri", &redirect),
        ("scope", "openid email offline_access"),
        ("state", "st"),
        ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in change {
        params.retain(|(name, _)| name != k);
        if let Some(v) = v {
            params.push((k, v));
        }
    }
    let url = Url::parse_with_params(&format!("{}/authorize", p.issuer()), &params).unwrap();
    client().get(url).send().await.unwrap()
}

fn location(r: &reqwest::Response) -> Url {
    Url::parse(r.headers()["location"].to_str().unwrap()).unwrap()
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn code(p: &DevProvider) -> String {
    let r = authorize(p, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let url = location(&r);
    assert_eq!(param(&url, "state").as_deref(), Some("st"));
    assert_eq!(param(&url, "iss").as_deref(), Some(p.issuer()));
    param(&url, "code").unwrap()
}

async fn exchange(p: &DevProvider, form: &[(&str, &str)], secret: &str) -> reqwest::Response {
    client()
        .post(format!("{}/token", p.issuer()))
        .basic_auth("app", Some(secret))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn redeem(p: &DevProvider, code: &str, verifier: &str) -> reqwest::Response {
    let redirect = format!("{APP}/auth/callback");
    exchange(
        p,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect),
            ("code_verifier", verifier),
        ],
        SECRET,
    )
    .await
}

async fn error_of(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    (status, body["error"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn discovery_advertises_s256_iss_parameter_and_backchannel_logout() {
    let p = provider().await;
    let d: Value = reqwest::get(format!("{}/.well-known/openid-configuration", p.issuer()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], p.issuer());
    assert_eq!(d["code_challenge_methods_supported"][0], "S256");
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert_eq!(d["backchannel_logout_session_supported"], true);
}

#[tokio::test]
async fn authorize_unregistered_redirect_uri_refused_without_redirecting() {
    let p = provider().await;
    for uri in [
        "http://127.0.0.1:9/auth/callback/x",
        "http://evil.example/auth/callback",
        "http://127.0.0.1:9/auth/callback?x=1",
    ] {
        let r = authorize(&p, &[("redirect_uri", Some(uri))]).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{uri}");
    }
    let r = authorize(&p, &[("client_id", Some("nobody"))]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn authorize_missing_pkce_and_plain_pkce_refused() {
    let p = provider().await;
    for change in [
        [("code_challenge", None), ("code_challenge_method", None)],
        [
            ("code_challenge_method", Some("plain")),
            ("state", Some("st")),
        ],
    ] {
        let r = authorize(&p, &change).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            param(&location(&r), "error").as_deref(),
            Some("invalid_request")
        );
    }
}

#[tokio::test]
async fn authorize_repeated_parameters_and_non_code_response_types_refused() {
    let p = provider().await;
    let r = authorize(&p, &[("response_type", Some("token"))]).await;
    assert_eq!(
        param(&location(&r), "error").as_deref(),
        Some("unsupported_response_type")
    );
    // A valid request is redirected; the same with one parameter repeated is refused.
    let valid = authorize(&p, &[]).await;
    assert_eq!(valid.status(), StatusCode::SEE_OTHER);
    let mut url = valid.url().clone();
    url.query_pairs_mut().append_pair("state", "second");
    let r = client().get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn prompt_none_answers_login_required() {
    let p = provider().await;
    let r = authorize(&p, &[("prompt", Some("none"))]).await;
    let url = location(&r);
    assert_eq!(param(&url, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&url, "iss").as_deref(), Some(p.issuer()));
}

#[tokio::test]
async fn token_wrong_client_secret_refused() {
    let p = provider().await;
    let code = code(&p).await;
    let redirect = format!("{APP}/auth/callback");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", &redirect),
        ("code_verifier", VERIFIER),
    ];
    let r = exchange(&p, &form, "wrong").await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
}

#[tokio::test]
async fn token_wrong_pkce_verifier_refused() {
    let p = provider().await;
    let code = code(&p).await;
    let wrong = "another-verifier-another-verifier-another-verifier";
    assert_eq!(
        error_of(redeem(&p, &code, wrong).await).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
}

#[tokio::test]
async fn token_code_used_twice_refused() {
    let p = provider().await;
    let code = code(&p).await;
    let first = redeem(&p, &code, VERIFIER).await;
    assert_eq!(first.status(), StatusCode::OK);
    let body: Value = first.json().await.unwrap();
    assert!(body["id_token"].as_str().unwrap().starts_with("eyJ"));
    assert!(body["refresh_token"].is_string());
    assert_eq!(
        error_of(redeem(&p, &code, VERIFIER).await).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_the_old_one_is_refused() {
    let p = provider().await;
    let code = code(&p).await;
    let body: Value = redeem(&p, &code, VERIFIER).await.json().await.unwrap();
    let rt = body["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", rt)];
    let next: Value = exchange(&p, &form, SECRET).await.json().await.unwrap();
    assert!(next["id_token"].is_string());
    assert_ne!(next["refresh_token"], body["refresh_token"]);
    assert_eq!(
        error_of(exchange(&p, &form, SECRET).await).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    assert_eq!(p.stats().refresh_grants, 1);
}

#[tokio::test]
async fn end_session_unregistered_post_logout_redirect_uri_refused() {
    let p = provider().await;
    let code = code(&p).await;
    let body: Value = redeem(&p, &code, VERIFIER).await.json().await.unwrap();
    let hint = body["id_token"].as_str().unwrap();
    let end = |uri: &str| {
        Url::parse_with_params(
            &format!("{}/end_session", p.issuer()),
            [("id_token_hint", hint), ("post_logout_redirect_uri", uri)],
        )
        .unwrap()
    };
    let r = client()
        .get(end("http://evil.example/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = client().get(end(&format!("{APP}/"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // A forged hint is refused.
    let i = hint.len() - 20;
    let swap = if &hint[i..=i] == "A" { "B" } else { "A" };
    let forged = format!("{}{swap}{}", &hint[..i], &hint[i + 1..]);
    let url = Url::parse_with_params(
        &format!("{}/end_session", p.issuer()),
        [("id_token_hint", forged.as_str())],
    )
    .unwrap();
    assert_eq!(
        client().get(url).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
}

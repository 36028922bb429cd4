//! Opaque access tokens, checked at the provider's introspection endpoint (RFC 7662):
//! one call per token at a time, the verdict judged here as a JWT's claims are.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::{BearerAuth, BearerError};
use crate::jose::TokenError;
use crate::provider::state::ProviderState;

/// An introspected token is served from the cache for at most this long: a token the
/// provider revokes is refused within this time.
pub(super) const MAX_CACHE_SECS: i64 = 60;

/// The introspection each token is waiting for: concurrent presentations of one token
/// share one call. Entries live while their call does.
type Verdict = Result<Arc<BearerAuth>, BearerError>;
type Calls = Mutex<HashMap<[u8; 32], Arc<tokio::sync::OnceCell<Verdict>>>>;

#[derive(Debug, Default)]
pub(super) struct InFlight {
    calls: Calls,
}

impl InFlight {
    /// The call for `key` (a token's SHA-256): the one under way, or a new one. Hold it
    /// until its verdict is cached, so that no presentation in between calls again.
    pub(super) fn call(&self, key: [u8; 32]) -> Call<'_> {
        let cell = {
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(calls.entry(key).or_default())
        };
        Call {
            calls: &self.calls,
            key,
            cell,
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.calls.lock().map(|c| c.len()).unwrap_or(0)
    }
}

/// A presentation's share of an introspection call. The call leaves the calls under
/// way when the last presentation holding it is done (answered or cancelled).
pub(super) struct Call<'a> {
    calls: &'a Calls,
    key: [u8; 32],
    cell: Arc<tokio::sync::OnceCell<Verdict>>,
}

impl Call<'_> {
    /// The verdict on `token`: asked of `provider` by the first presentation, waited
    /// for by the others.
    pub(super) async fn verdict(
        &self,
        provider: &ProviderState,
        token: &str,
        now: i64,
        leeway: i64,
    ) -> Verdict {
        self.cell
            .get_or_init(|| async { introspect(provider, token, now, leeway).await.map(Arc::new) })
            .await
            .clone()
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        // Held by the map and this presentation alone: the last one out.
        let last = calls
            .get(&self.key)
            .is_some_and(|c| Arc::ptr_eq(c, &self.cell) && Arc::strong_count(c) <= 2);
        if last {
            calls.remove(&self.key);
        }
    }
}

/// The provider that introspects `token`: the first that accepts bearer tokens by
/// introspection, when `token` is not a compact JWS (three dot-separated parts).
pub(super) fn introspecting<'p>(
    providers: &'p [Arc<ProviderState>],
    token: &str,
) -> Option<&'p ProviderState> {
    if token.split('.').count() == 3 {
        return None;
    }
    providers
        .iter()
        .find(|p| p.config.api_introspection && p.config.accepts_bearer_tokens() && !p.removed())
        .map(|p| &**p)
}

fn unavailable(why: impl Into<String>) -> BearerError {
    BearerError::Unavailable(crate::Outage::Introspection(why.into()))
}

/// Asks `provider`'s introspection endpoint about `token`, with the client's
/// authentication, and judges the answer: `active` must be `true`; `exp` (with the
/// leeway) and `nbf`, `iss` and `aud` when present; `sub` is required; a refresh token
/// is not an access token. An answer that is no verdict (unreachable, an error status,
/// not a JSON object) is an outage, never an acceptance.
async fn introspect(
    provider: &ProviderState,
    token: &str,
    now: i64,
    leeway: i64,
) -> Result<BearerAuth, BearerError> {
    let discovered = provider
        .ready()
        .map_err(|e| BearerError::Unavailable(e.into()))?;
    let endpoint = discovered
        .endpoints
        .introspection_endpoint
        .as_ref()
        .ok_or_else(|| unavailable("the provider names no introspection_endpoint"))?;
    let (headers, body) = discovered.client_form(
        provider.config.client_secret.as_ref(),
        &[("token", token), ("token_type_hint", "access_token")],
    );
    let response = provider
        .http
        .send(
            crate::http_client::Endpoint::Introspection,
            http::Method::POST,
            endpoint.as_str(),
            headers,
            body,
        )
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    if !response.status().is_success() {
        tracing::error!(
            status = response.status().as_u16(),
            "the introspection endpoint refused the request"
        );
        return Err(unavailable(format!("HTTP {}", response.status().as_u16())));
    }
    let mut claims: serde_json::Map<String, Value> = serde_json::from_slice(response.body())
        .map_err(|_| unavailable("the answer is not a JSON object"))?;
    judge(provider, &mut claims, now, leeway)?;
    let text = serde_json::to_string(&claims).unwrap_or_default();
    Ok(BearerAuth::new(
        claims,
        text.into_boxed_str(),
        token,
        &provider.config,
    ))
}

/// The rules an introspection answer must meet (RFC 7662 §2.2, and RFC 9068's for what
/// it says). A token without `sub` is a service's own (client credentials): its
/// `client_id` is its subject, as in RFC 9068's JWTs.
fn judge(
    provider: &ProviderState,
    claims: &mut serde_json::Map<String, Value>,
    now: i64,
    leeway: i64,
) -> Result<(), BearerError> {
    let invalid = BearerError::Invalid;
    match claims.get("active") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) | None => return Err(invalid(TokenError::Inactive)),
        Some(_) => return Err(invalid(TokenError::InvalidClaimType("active"))),
    }
    let time = |name: &'static str| match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or(invalid(TokenError::InvalidClaimType(name))),
    };
    if time("exp")?.is_some_and(|exp| exp.saturating_add(leeway) <= now) {
        return Err(invalid(TokenError::Expired));
    }
    if time("nbf")?.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(invalid(TokenError::NotYetValid));
    }
    match claims.get("iss") {
        None => {}
        Some(Value::String(iss)) if provider.config.is_issuer(iss) => {}
        Some(Value::String(_)) => return Err(invalid(TokenError::InvalidIssuer)),
        Some(_) => return Err(invalid(TokenError::InvalidClaimType("iss"))),
    }
    let audiences = &provider.config.api_audiences;
    let ours = |a: &Value| a.as_str().is_some_and(|a| audiences.iter().any(|x| x == a));
    let for_us = match claims.get("aud") {
        None => false,
        Some(a @ Value::String(_)) if ours(a) => true,
        Some(Value::Array(list)) if list.iter().any(ours) => true,
        Some(Value::String(_) | Value::Array(_)) => {
            return Err(invalid(TokenError::InvalidAudience));
        }
        Some(_) => return Err(invalid(TokenError::InvalidClaimType("aud"))),
    };
    // An access token says so (`token_type` Bearer or DPoP), or names this API as its
    // audience: a refresh token (which oidc-provider answers without a token_type, and
    // Keycloak with `typ: Refresh`) is never taken for one.
    let access_type = |v: &Value| {
        v.as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer") || t.eq_ignore_ascii_case("dpop"))
    };
    let refresh = claims
        .get("typ")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("refresh") || t == "refresh_token");
    let is_access = match claims.get("token_type") {
        Some(t) => access_type(t),
        None => for_us,
    };
    if refresh || !is_access {
        return Err(invalid(TokenError::UnexpectedType));
    }
    match (claims.get("sub"), claims.get("client_id")) {
        (Some(Value::String(s)), _) if !s.is_empty() => Ok(()),
        (None, Some(Value::String(client))) if !client.is_empty() => {
            let client = Value::String(client.clone());
            claims.insert("sub".into(), client);
            Ok(())
        }
        (Some(Value::String(_)) | None, _) => Err(invalid(TokenError::MissingClaim("sub"))),
        (Some(_), _) => Err(invalid(TokenError::InvalidClaimType("sub"))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};

    use crate::jose::TokenError;
    use crate::{Auth, AuthConfig, BearerError, Clock, ProviderEndpoints};

    const NOW: i64 = 1_800_000_000;
    const ISS: &str = "https://id.example.com";
    const API: &str = "https://api.test";

    /// The provider's introspection endpoint: the answer of each token (`"503"` and
    /// `"garbage"` name an error status and a body that is no JSON), after 50 ms, each
    /// call counted.
    struct Endpoint {
        calls: Arc<AtomicUsize>,
        answers: Arc<Mutex<HashMap<String, Value>>>,
    }

    async fn introspecting(now: Arc<AtomicI64>) -> (Auth, Endpoint) {
        let calls = Arc::new(AtomicUsize::new(0));
        let answers: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
        let (counted, known) = (Arc::clone(&calls), Arc::clone(&answers));
        let app = axum::Router::new().route(
            "/introspect",
            axum::routing::post(move |body: String| {
                let (counted, known) = (Arc::clone(&counted), Arc::clone(&known));
                async move {
                    use axum::response::IntoResponse as _;
                    counted.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    let token = url::form_urlencoded::parse(body.as_bytes())
                        .find(|(k, _)| k == "token")
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    match token.as_str() {
                        "503" => http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
                        "garbage" => "<html>".into_response(),
                        _ => {
                            let answer = known.lock().expect("answers").get(&token).cloned();
                            axum::Json(answer.unwrap_or(json!({ "active": false }))).into_response()
                        }
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let url = |p: &str| url::Url::parse(&format!("{base}{p}")).expect("url");
        let mut endpoints = ProviderEndpoints::new(url("/authorize"), url("/token"), url("/jwks"));
        endpoints.introspection_endpoint = Some(url("/introspect"));
        let config = AuthConfig::builder(ISS, "client", "http://127.0.0.1:3000")
            .with_client_secret("secret")
            .with_endpoints(endpoints)
            .with_api_audience(API)
            .with_api_introspection(true)
            .with_required_api_scopes(["read"])
            .with_clock(Clock::from_secs(move || now.load(Ordering::SeqCst)))
            .build()
            .expect("config");
        let auth = Auth::discover(config).await.expect("auth");
        (auth, Endpoint { calls, answers })
    }

    fn active(exp: i64) -> Value {
        json!({ "active": true, "iss": ISS, "sub": "alice", "aud": API, "client_id": "spa",
                "scope": "read write", "exp": exp, "token_type": "Bearer" })
    }

    /// An opaque token is introspected once however many requests present it at the
    /// same time, then served from the cache until its `exp` and at most 60 s; its
    /// claims are the answer's. A JWT is never introspected.
    #[tokio::test]
    async fn opaque_tokens_are_introspected_once_and_cached_until_exp_and_at_most_a_minute() {
        let now = Arc::new(AtomicI64::new(NOW));
        let (auth, endpoint) = introspecting(Arc::clone(&now)).await;
        let calls = || endpoint.calls.load(Ordering::SeqCst);
        endpoint.answers.lock().expect("answers").extend([
            ("long".to_owned(), active(NOW + 3600)),
            ("short".to_owned(), active(NOW + 20)),
        ]);
        let together =
            futures_util::future::join_all((0..10).map(|_| auth.authenticate_bearer("long"))).await;
        for caller in &together {
            let caller = caller.as_ref().expect("accepted");
            assert_eq!(
                (caller.sub(), caller.client_id(), caller.iss()),
                ("alice", Some("spa"), ISS)
            );
            assert!(caller.has_scope("write"));
        }
        assert_eq!(calls(), 1, "one call for ten presentations");
        assert_eq!(auth.0.bearers.introspections_under_way(), 0);
        auth.authenticate_bearer("long").await.expect("cached");
        assert_eq!(calls(), 1);
        now.store(NOW + 59, Ordering::SeqCst);
        auth.authenticate_bearer("long").await.expect("cached");
        assert_eq!(calls(), 1, "within the minute");
        now.store(NOW + 60, Ordering::SeqCst);
        auth.authenticate_bearer("long").await.expect("asked again");
        assert_eq!(calls(), 2, "a minute later the provider is asked again");

        now.store(NOW, Ordering::SeqCst);
        auth.authenticate_bearer("short").await.expect("accepted");
        now.store(NOW + 19, Ordering::SeqCst);
        auth.authenticate_bearer("short").await.expect("cached");
        assert_eq!(calls(), 3);
        now.store(NOW + 20, Ordering::SeqCst);
        auth.authenticate_bearer("short")
            .await
            .expect("within the leeway");
        assert_eq!(calls(), 4, "past its exp the cache does not serve it");

        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
        auth.authenticate_bearer(jwt).await.unwrap_err();
        assert_eq!(calls(), 4, "a JWT is judged by the keys, not introspected");
    }

    /// Each rule an introspection answer breaks refuses the token: not active, expired
    /// (past the leeway), not yet valid, another issuer, another audience, a refresh
    /// token (no token_type and no audience of ours, as oidc-provider answers for one;
    /// or Keycloak's `typ: Refresh`), no subject, a missing required scope, and a
    /// sender-constrained token presented as a bearer token. A service's own token
    /// (no `sub`, a `client_id`) is that client.
    #[tokio::test]
    async fn rp_introspected_token_inactive_expired_or_for_another_audience_refused() {
        let now = Arc::new(AtomicI64::new(NOW));
        let (auth, endpoint) = introspecting(now).await;
        let with = |changes: Value| {
            let mut answer = active(NOW + 300);
            for (k, v) in changes.as_object().expect("object") {
                match v {
                    Value::Null => answer.as_object_mut().expect("object").remove(k),
                    v => answer
                        .as_object_mut()
                        .expect("object")
                        .insert(k.clone(), v.clone()),
                };
            }
            answer
        };
        let cases = [
            ("inactive", json!({ "active": false }), TokenError::Inactive),
            ("no-active", json!({ "sub": "alice" }), TokenError::Inactive),
            (
                "expired",
                with(json!({ "exp": NOW - 61 })),
                TokenError::Expired,
            ),
            (
                "early",
                with(json!({ "nbf": NOW + 61 })),
                TokenError::NotYetValid,
            ),
            (
                "issuer",
                with(json!({ "iss": "https://other.example" })),
                TokenError::InvalidIssuer,
            ),
            (
                "audience",
                with(json!({ "aud": "https://other.api" })),
                TokenError::InvalidAudience,
            ),
            (
                "audiences",
                with(json!({ "aud": ["https://a", "https://b"] })),
                TokenError::InvalidAudience,
            ),
            (
                "refresh",
                with(json!({ "token_type": null, "aud": null })),
                TokenError::UnexpectedType,
            ),
            (
                "keycloak-refresh",
                with(json!({ "typ": "Refresh" })),
                TokenError::UnexpectedType,
            ),
            (
                "id-token",
                with(json!({ "token_type": "N_A" })),
                TokenError::UnexpectedType,
            ),
            (
                "no-sub",
                with(json!({ "sub": null, "client_id": null })),
                TokenError::MissingClaim("sub"),
            ),
            (
                "bound",
                with(json!({ "cnf": { "jkt": "abc" } })),
                TokenError::SenderConstrained,
            ),
        ];
        endpoint
            .answers
            .lock()
            .expect("answers")
            .extend(cases.iter().map(|(t, a, _)| (t.to_string(), a.clone())));
        for (token, _, rule) in &cases {
            let refused = auth.authenticate_bearer(token).await.unwrap_err();
            assert_eq!(refused.status(), http::StatusCode::UNAUTHORIZED, "{token}");
            assert_debug_eq!(refused, BearerError::Invalid(rule.clone()));
        }
        endpoint.answers.lock().expect("answers").extend([
            ("read-only".to_owned(), with(json!({ "scope": "write" }))),
            (
                "service".to_owned(),
                with(json!({ "sub": null, "client_id": "svc", "token_type": null })),
            ),
        ]);
        assert_debug_eq!(
            auth.authenticate_bearer("read-only").await.unwrap_err(),
            BearerError::InsufficientScope(vec!["read".into()])
        );
        let service = auth.authenticate_bearer("service").await.expect("service");
        assert_eq!((service.sub(), service.client_id()), ("svc", Some("svc")));
    }

    /// An introspection endpoint that fails (an error status, an answer that is not
    /// JSON, unreachable) makes the token unverifiable now: 503, never an acceptance,
    /// and nothing cached.
    #[tokio::test]
    async fn rp_introspection_endpoint_down_is_unavailable_never_accepted() {
        let now = Arc::new(AtomicI64::new(NOW));
        let (auth, endpoint) = introspecting(now).await;
        for token in ["503", "garbage", "503"] {
            let refused = auth.authenticate_bearer(token).await.unwrap_err();
            assert!(
                matches!(refused, BearerError::Unavailable(_)),
                "{refused:?}"
            );
            assert_eq!(refused.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        }
        assert_eq!(endpoint.calls.load(Ordering::SeqCst), 3, "never cached");

        let mut endpoints = auth.endpoints().expect("endpoints").clone();
        endpoints.introspection_endpoint =
            Some(url::Url::parse("http://127.0.0.1:9/x").expect("url"));
        let config = AuthConfig::builder(ISS, "client", "http://127.0.0.1:3000")
            .with_endpoints(endpoints)
            .with_api_audience(API)
            .with_api_introspection(true)
            .with_request_timeout(std::time::Duration::from_millis(300))
            .build()
            .expect("config");
        let unreachable = Auth::discover(config).await.expect("auth");
        let refused = unreachable.authenticate_bearer("opaque").await.unwrap_err();
        assert!(
            matches!(refused, BearerError::Unavailable(_)),
            "{refused:?}"
        );
    }

    /// With introspection on, a provider whose discovery names no introspection
    /// endpoint stops the start, saying what is missing.
    #[tokio::test]
    async fn introspection_without_the_providers_endpoint_is_refused_at_start() {
        let url = |p: &str| url::Url::parse(&format!("{ISS}{p}")).expect("url");
        let config = AuthConfig::builder(ISS, "client", "http://127.0.0.1:3000")
            .with_endpoints(ProviderEndpoints::new(url("/a"), url("/t"), url("/j")))
            .with_api_audience(API)
            .with_api_introspection(true)
            .build()
            .expect("config");
        let err = Auth::discover(config).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("OIDC_API_INTROSPECTION needs the provider's introspection_endpoint"),
            "{err}"
        );
    }
}

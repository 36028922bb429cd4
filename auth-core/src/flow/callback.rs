//! The callback: the checks every protocol shares, in the order of the design notes;
//! then the provider's protocol exchanges the code and checks the tokens.

use super::pending::PendingLogin;
use crate::auth::Auth;
use crate::jose::TokenError;
use crate::jose::secret::constant_time_eq;
use crate::provider::token::TokenExchangeError;
use crate::session::AuthSession;

/// Longest callback query string accepted.
const MAX_QUERY: usize = 8 * 1024;

/// Why a callback did not sign the user in.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// The query string is malformed, oversized, or repeats a parameter.
    #[error("malformed callback: {0}")]
    Malformed(&'static str),
    /// No `state` parameter.
    #[error("the callback has no state parameter")]
    MissingState,
    /// The authorization response came in another mode than the provider's: a `GET`
    /// carrying a code for a `form_post` provider (a code in a URL is what form_post
    /// avoids), or a `POST` for a provider that answers in the query.
    #[error(
        "the authorization response came in another response mode than this provider's (form_post answers with a POST, query with a GET)"
    )]
    ResponseModeMismatch,
    /// A posted authorization response came from a page of another origin than the
    /// provider's (its `Origin` header).
    #[error("the posted authorization response came from another origin than the provider's")]
    ForeignOrigin,
    /// No pending-login cookie for this `state`.
    #[error(
        "no pending login for this state: was the callback opened in another browser, did the login take over 10 minutes, or are cookies blocked (SameSite=Strict)?"
    )]
    PendingLoginMissing,
    /// The pending login is older than 10 minutes.
    #[error("the pending login expired (over 10 minutes)")]
    PendingLoginExpired,
    /// `state` does not match the pending login.
    #[error("state does not match the pending login")]
    StateMismatch,
    /// The provider advertises RFC 9207 but sent no `iss`.
    #[error(
        "the authorization response has no iss parameter, though the provider advertises RFC 9207"
    )]
    MissingIssuer,
    /// `iss` names another issuer (mix-up attack).
    #[error("the authorization response's iss is not the configured issuer")]
    IssuerMismatch,
    /// The callback came to another provider's redirect URI than the one the login
    /// was sent to (mix-up attack, RFC 9700 §4.4).
    #[error("the login was sent to another provider than this callback's")]
    ProviderMismatch,
    /// The provider was down at start and has not been discovered since.
    #[error("the identity provider is not reachable yet")]
    ProviderUnavailable,
    /// The provider answered with `error=`.
    // Both come from the provider (or whoever sent the browser here): printed escaped,
    // so no CR/LF of theirs reaches a log line.
    #[error("the provider returned error {error:?}: {description:?}")]
    Provider {
        /// The OAuth error code (`access_denied`, `login_required`...).
        error: String,
        /// The provider's description, if any.
        description: String,
    },
    /// No `code` parameter.
    #[error("the callback has neither code nor error")]
    MissingCode,
    /// The token endpoint refused the code.
    #[error("the token endpoint refused the code: {0}")]
    Exchange(#[from] TokenExchangeError),
    /// The token response has no ID token.
    #[error("the token response has no id_token (is the openid scope granted?)")]
    MissingIdToken,
    /// The ID token is invalid.
    #[error("invalid ID token: {0}")]
    IdToken(TokenError),
    /// The access token is a JWT of our issuer and is invalid.
    #[error("invalid access token: {0}")]
    AccessToken(TokenError),
    /// The provider's keys could not be loaded to check the tokens (try again).
    #[error(transparent)]
    KeysUnavailable(crate::JwksError),
    /// The login sent `max_age` and the ID token has no numeric `auth_time` (OIDC Core
    /// §3.1.2.1 makes it required then).
    #[error("the login sent max_age but the ID token has no auth_time")]
    AuthTimeMissing,
    /// The user authenticated longer ago than the `max_age` the login sent (plus the
    /// leeway): the provider did not make the user sign in again.
    #[error("the ID token's auth_time is older than the max_age the login sent")]
    AuthTimeTooOld,
    /// The login sent `acr_values` and the ID token's `acr` is none of them.
    #[error("the ID token's acr is not one of the acr_values the login sent")]
    AcrNotSatisfied,
    /// The login asked for an organization and the token names another one, or none
    /// (Auth0's SDKs refuse the same).
    #[error("the token's organization is not the one the login asked for")]
    OrganizationMismatch,
    /// The app pins a Google hosted domain and the ID token's `hd` is another one, or
    /// missing (the `hd` parameter is only a hint to Google's page).
    #[error("the ID token's hd is not the hosted domain the app requires")]
    HostedDomainMismatch,
    /// UserInfo at sign-in (`with_userinfo_at_sign_in`) failed.
    #[error("the userinfo claims could not be added")]
    UserInfo(#[source] crate::UserInfoError),
    /// The app's sign-in hook refused the user (with its reason, when it gave one).
    #[error("the app refused the sign-in")]
    SignInRefused(Option<String>),
    /// The app's sign-in hook failed (an error, a panic, a time-out): try again.
    #[error(transparent)]
    SignInHook(crate::SignInHookFailure),
}

impl CallbackError {
    /// Whether the app's sign-in hook refused or failed (reported as
    /// [`AuthEvent::SignInRefused`](crate::AuthEvent::SignInRefused), not as a
    /// protocol refusal).
    pub fn is_sign_in_hook(&self) -> bool {
        matches!(self, Self::SignInRefused(_) | Self::SignInHook(_))
    }
}

/// A successful callback: the new session and where to send the browser.
#[non_exhaustive]
#[derive(Debug)]
pub(crate) struct CompletedLogin {
    /// The session to store (under a fresh session id).
    pub(crate) session: AuthSession,
    /// A safe same-site path.
    pub(crate) return_to: String,
    /// `Set-Cookie` values to send (the consumed pending-login cookie's removal).
    pub(crate) set_cookies: Vec<String>,
}

impl CallbackError {
    /// An ID token that failed: invalid, or its keys could not be loaded.
    pub(crate) fn of_id_token(e: crate::VerifyError) -> Self {
        match e {
            crate::VerifyError::Invalid(e) => CallbackError::IdToken(e),
            crate::VerifyError::KeysUnavailable(e) => CallbackError::KeysUnavailable(e),
        }
    }

    /// An access token that failed: invalid, or its keys could not be loaded.
    pub(crate) fn of_access_token(e: crate::VerifyError) -> Self {
        match e {
            crate::VerifyError::Invalid(e) => CallbackError::AccessToken(e),
            crate::VerifyError::KeysUnavailable(e) => CallbackError::KeysUnavailable(e),
        }
    }
}

/// A failed callback: the error and the cookies to send anyway.
#[non_exhaustive]
#[derive(Debug)]
pub(crate) struct CallbackFailure {
    /// What went wrong.
    pub(crate) error: CallbackError,
    /// `Set-Cookie` values to send (removal of the pending login once state matched).
    pub(crate) set_cookies: Vec<String>,
    /// The login's `return_to`, once its pending login was found: a retry keeps it.
    pub(crate) return_to: Option<String>,
    /// A silent login (`prompt=none`) that the provider could not complete without
    /// the user: the browser goes back to `return_to`, without a session or an error
    /// page.
    pub(crate) silent: bool,
}

/// The provider's errors that mean "the user must interact" (OpenID Connect Core
/// §3.1.2.6), which a silent login (`prompt=none`) expects.
const INTERACTION_NEEDED: [&str; 4] = [
    "login_required",
    "interaction_required",
    "consent_required",
    "account_selection_required",
];

#[derive(Default)]
struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn parse_query(query: &str) -> Result<CallbackQuery, CallbackError> {
    if query.len() > MAX_QUERY {
        return Err(CallbackError::Malformed("query too long"));
    }
    let mut q = CallbackQuery::default();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match k.as_ref() {
            "state" => &mut q.state,
            "code" => &mut q.code,
            "iss" => &mut q.iss,
            "error" => &mut q.error,
            "error_description" => &mut q.error_description,
            _ => continue,
        };
        if slot.is_some() {
            return Err(CallbackError::Malformed("repeated parameter"));
        }
        *slot = Some(v.into_owned());
    }
    Ok(q)
}

impl Auth {
    /// The callback of provider `route` (the one whose redirect URI was called).
    pub(crate) async fn complete_login_with(
        &self,
        route: Option<usize>,
        query: &str,
        request_cookies: &[(String, String)],
    ) -> Result<CompletedLogin, CallbackFailure> {
        let mut return_to = None;
        self.complete_login_inner(route, query, request_cookies, &mut return_to)
            .await
            .map_err(|mut failure| {
                failure.return_to = return_to;
                failure
            })
    }

    /// The callback; `return_to` is set as soon as the pending login is found.
    async fn complete_login_inner(
        &self,
        route: Option<usize>,
        query: &str,
        request_cookies: &[(String, String)],
        return_to: &mut Option<String>,
    ) -> Result<CompletedLogin, CallbackFailure> {
        let fail = |error, set_cookies| CallbackFailure {
            error,
            set_cookies,
            return_to: None,
            silent: false,
        };
        let q = parse_query(query).map_err(|e| fail(e, vec![]))?;
        let state = q.state.as_deref().filter(|s| !s.is_empty());
        let Some(state) = state else {
            // An error reply without state (a provider that failed early) still gets
            // its error page, not "invalid callback".
            return Err(match q.error {
                Some(error) => fail(
                    CallbackError::Provider {
                        error,
                        description: q.error_description.unwrap_or_default(),
                    },
                    vec![],
                ),
                None => fail(CallbackError::MissingState, vec![]),
            });
        };
        let inner = &self.0;
        let pending: PendingLogin = inner
            .pending
            .open(request_cookies, state)
            .ok_or_else(|| fail(CallbackError::PendingLoginMissing, vec![]))?;
        return_to.clone_from(&pending.return_to);
        if !constant_time_eq(&pending.state, state) {
            return Err(fail(CallbackError::StateMismatch, vec![]));
        }
        // From here on the pending login is consumed, whatever happens.
        let consumed = vec![inner.pending.removal(state)];
        let now = inner.config.clock.now_secs();
        if pending.created_at + super::pending::PENDING_TTL_SECS < now {
            return Err(fail(CallbackError::PendingLoginExpired, consumed));
        }
        // The provider is the one whose redirect URI was called, and it must be the one
        // the login went to: the sealed pending login says which.
        let provider = route
            .map(|i| inner.provider(i))
            .filter(|p| p.config.id == pending.provider)
            .ok_or_else(|| fail(CallbackError::ProviderMismatch, consumed.clone()))?;
        let config = &provider.config;
        let discovered = provider
            .ready()
            .map_err(|_| fail(CallbackError::ProviderUnavailable, consumed.clone()))?;
        match (
            &q.iss,
            discovered
                .endpoints
                .authorization_response_iss_parameter_supported,
        ) {
            (Some(iss), _) if !config.is_issuer(iss) => {
                return Err(fail(CallbackError::IssuerMismatch, consumed));
            }
            (None, true) => return Err(fail(CallbackError::MissingIssuer, consumed)),
            _ => {}
        }
        if let Some(error) = q.error {
            let silent = pending.silent && INTERACTION_NEEDED.contains(&error.as_str());
            return Err(CallbackFailure {
                silent,
                ..fail(
                    CallbackError::Provider {
                        error,
                        description: q.error_description.unwrap_or_default(),
                    },
                    consumed,
                )
            });
        }
        let Some(code) = q.code.filter(|c| !c.is_empty()) else {
            return Err(fail(CallbackError::MissingCode, consumed));
        };
        let session = config
            .protocol()
            .sign_in(self, &provider, discovered, &pending, &code, now)
            .await
            .map_err(|e| fail(e, consumed.clone()))?;
        // Every check passed: the app decides now, before anything is created.
        let session = self
            .run_sign_in_hook(session)
            .await
            .map_err(|e| fail(e, consumed.clone()))?;
        Ok(self.completed(&pending, session, consumed))
    }

    /// The successful end of a callback: the session, and where the browser goes.
    fn completed(
        &self,
        pending: &PendingLogin,
        session: AuthSession,
        set_cookies: Vec<String>,
    ) -> CompletedLogin {
        let app_url = &self.0.config.app_url;
        let return_to = pending
            .return_to
            .as_deref()
            .and_then(|r| crate::web::return_to::sanitize_return_to(app_url, r))
            .unwrap_or_else(|| app_url.path().to_string());
        CompletedLogin {
            session,
            return_to,
            set_cookies,
        }
    }
}

/// The `max_age` and `acr_values` a login sent, checked against the sign-in's claims.
pub(crate) fn check_login_claims(
    pending: &PendingLogin,
    claims: &crate::Claims,
    map: &serde_json::Map<String, serde_json::Value>,
    now: i64,
    auth: &Auth,
) -> Result<(), CallbackError> {
    if let Some(max_age) = pending.max_age {
        check_auth_time(claims, max_age, now, auth.0.config.tokens.leeway.as_secs())?;
    }
    check_acr(map, &pending.acr_values)
}

/// With `acr_values` sent, the ID token's `acr` must be one of them.
fn check_acr(
    claims: &serde_json::Map<String, serde_json::Value>,
    asked: &[String],
) -> Result<(), CallbackError> {
    if asked.is_empty() {
        return Ok(());
    }
    let acr = claims.get("acr").and_then(|v| v.as_str());
    if acr.is_some_and(|acr| asked.iter().any(|a| a == acr)) {
        Ok(())
    } else {
        Err(CallbackError::AcrNotSatisfied)
    }
}

/// The organization a login asked for must be the token's. Auth0 accepts an
/// organization's name as well as its id: a value without the `org_` prefix is
/// compared with `org_name`, ignoring case (as Auth0's SDKs do).
pub(crate) fn check_organization(
    asked: &str,
    access: &crate::session::Access,
    id_claims: &serde_json::Map<String, serde_json::Value>,
    auth0: bool,
) -> Result<(), CallbackError> {
    let matches = if auth0 && !asked.starts_with("org_") {
        id_claims
            .get("org_name")
            .and_then(|v| v.as_str())
            .is_some_and(|name| name.eq_ignore_ascii_case(asked))
    } else {
        access.organization.as_deref() == Some(asked)
    };
    if matches {
        Ok(())
    } else {
        Err(CallbackError::OrganizationMismatch)
    }
}

/// OIDC Core §3.1.3.7 item 11: with `max_age` sent, `auth_time` is required and must
/// be within `max_age` (plus the leeway) of now.
fn check_auth_time(
    claims: &crate::Claims,
    max_age: u64,
    now: i64,
    leeway: u64,
) -> Result<(), CallbackError> {
    let auth_time = claims
        .get("auth_time")
        .and_then(|v| v.as_i64())
        .ok_or(CallbackError::AuthTimeMissing)?;
    let allowed = i64::try_from(max_age.saturating_add(leeway)).unwrap_or(i64::MAX);
    if auth_time.saturating_add(allowed) < now {
        return Err(CallbackError::AuthTimeTooOld);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().expect("object").clone()
    }

    #[test]
    fn rp_acr_not_among_the_acr_values_refused() {
        let asked = vec!["urn:mfa".to_owned(), "gold".to_owned()];
        assert!(check_acr(&map(serde_json::json!({})), &[]).is_ok());
        assert!(check_acr(&map(serde_json::json!({ "acr": "gold" })), &asked).is_ok());
        for refused in [
            serde_json::json!({ "acr": "bronze" }),
            serde_json::json!({}),
            serde_json::json!({ "acr": 2 }),
        ] {
            assert!(matches!(
                check_acr(&map(refused), &asked),
                Err(CallbackError::AcrNotSatisfied)
            ));
        }
    }

    #[test]
    fn rp_organization_mismatch_refused() {
        let access = |org: Option<&str>| crate::session::Access {
            organization: org.map(str::to_owned),
            ..Default::default()
        };
        let none = map(serde_json::json!({}));
        assert!(check_organization("org_1", &access(Some("org_1")), &none, false).is_ok());
        for got in [Some("org_2"), None] {
            assert!(matches!(
                check_organization("org_1", &access(got), &none, false),
                Err(CallbackError::OrganizationMismatch)
            ));
        }
        // Auth0: a name (no org_ prefix) is compared with org_name, ignoring case.
        let named = map(serde_json::json!({ "org_id": "org_9", "org_name": "Acme" }));
        assert!(check_organization("acme", &access(Some("org_9")), &named, true).is_ok());
        assert!(check_organization("globex", &access(Some("org_9")), &named, true).is_err());
        assert!(check_organization("org_9", &access(Some("org_9")), &named, true).is_ok());
    }

    fn claims(auth_time: serde_json::Value) -> crate::Claims {
        let mut map = serde_json::Map::new();
        map.insert("sub".into(), "u".into());
        if !auth_time.is_null() {
            map.insert("auth_time".into(), auth_time);
        }
        crate::Claims::new(map)
    }

    /// Provider- or visitor-supplied text never brings a raw CR or LF into a log line.
    #[test]
    fn rp_error_description_with_line_breaks_is_logged_escaped() {
        let forged = "denied\r\n2026-11-30T00:00:00Z INFO login completed sub=admin";
        let e = CallbackError::Provider {
            error: "access_denied\nx".into(),
            description: forged.into(),
        };
        let shown = e.to_string();
        assert!(!shown.contains('\n') && !shown.contains('\r'), "{shown}");
        assert!(shown.contains("\\r\\n2026"), "{shown}");
        let refused = TokenExchangeError::Refused {
            error: "invalid_grant".into(),
            description: forged.into(),
        };
        let shown = CallbackError::Exchange(refused).to_string();
        assert!(!shown.contains('\n') && !shown.contains('\r'), "{shown}");
    }

    #[test]
    fn rp_auth_time_missing_with_max_age_refused() {
        let err = check_auth_time(&claims(serde_json::Value::Null), 60, 1000, 5);
        assert!(matches!(err, Err(CallbackError::AuthTimeMissing)));
        let err = check_auth_time(&claims("900".into()), 60, 1000, 5);
        assert!(
            matches!(err, Err(CallbackError::AuthTimeMissing)),
            "a string"
        );
    }

    #[test]
    fn rp_auth_time_older_than_max_age_refused() {
        let err = check_auth_time(&claims(934.into()), 60, 1000, 5);
        assert!(matches!(err, Err(CallbackError::AuthTimeTooOld)));
        assert!(check_auth_time(&claims(935.into()), 60, 1000, 5).is_ok());
        assert!(check_auth_time(&claims(1000.into()), 0, 1000, 0).is_ok());
        // No overflow at the number range's edges.
        let huge = check_auth_time(&claims(i64::MIN.into()), u64::MAX, 1000, 5);
        assert!(matches!(huge, Err(CallbackError::AuthTimeTooOld)));
        assert!(check_auth_time(&claims(i64::MAX.into()), u64::MAX, 1000, 5).is_ok());
    }

    #[test]
    fn repeated_parameters_refused() {
        assert!(matches!(
            parse_query("state=a&state=b"),
            Err(CallbackError::Malformed(_))
        ));
        assert!(matches!(
            parse_query("code=a&code=b&state=s"),
            Err(CallbackError::Malformed(_))
        ));
    }

    #[test]
    fn oversized_query_refused() {
        let q = format!("state={}", "a".repeat(MAX_QUERY));
        assert!(matches!(parse_query(&q), Err(CallbackError::Malformed(_))));
    }

    /// An app with two named providers: `a` (manual endpoints) and `b`, whose issuer
    /// does not answer (down at start: not discovered), with every refusal reported.
    async fn b_down() -> (
        crate::Auth,
        std::sync::Arc<std::sync::Mutex<Vec<String>>>,
        String,
    ) {
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            format!("http://{}", l.local_addr().expect("addr"))
        };
        let a = "http://127.0.0.1:9";
        let url = |p: &str| url::Url::parse(&format!("{a}{p}")).expect("url");
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&events);
        let config = crate::AuthConfig::builder_for_providers("http://127.0.0.1:3000")
            .with_provider(
                crate::ProviderConfig::builder("a", a, "client")
                    .with_client_secret("secret")
                    .with_endpoints(crate::ProviderEndpoints::new(
                        url("/authorize"),
                        url("/token"),
                        url("/jwks"),
                    )),
            )
            .with_provider(
                crate::ProviderConfig::builder("b", &closed, "client").with_client_secret("secret"),
            )
            .with_connect_timeout(std::time::Duration::from_millis(200))
            .with_app_secret_hex(&"ab".repeat(32))
            .with_event_hook(move |e| seen.lock().expect("events").push(format!("{e:?}")))
            .build()
            .expect("config");
        let auth = crate::Auth::discover(config).await.expect("a is up");
        (auth, events, closed)
    }

    /// A callback for a provider that is not discovered (its pending login made by an
    /// instance that had it): 503 `provider_unavailable`, `CallbackError::ProviderUnavailable`.
    #[tokio::test]
    async fn rp_callback_of_a_provider_not_discovered_is_unavailable() {
        let (auth, events, _) = b_down().await;
        let now = auth.0.config.clock.now_secs();
        let pending = crate::flow::pending::PendingLogin {
            state: "s-1".into(),
            nonce: "n-1".into(),
            pkce_verifier: "v".repeat(43),
            return_to: None,
            created_at: now,
            max_age: None,
            acr_values: Vec::new(),
            organization: None,
            provider: Some("b".into()),
            silent: false,
        };
        let cookie = auth.0.pending.seal(&pending, false);
        let pair = cookie.split(';').next().expect("name=value").to_owned();
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::COOKIE, pair.parse().expect("header"));
        let uri: http::Uri = "/auth/callback/b?code=c&state=s-1".parse().expect("uri");
        let b = auth.0.provider_index(Some("b"));
        let r = auth
            .callback_response_at(b, &http::Method::GET, &uri, &headers, b"")
            .await;
        assert_eq!(r.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.body().contains("provider_unavailable"), "{}", r.body());
        assert_eq!(
            events.lock().expect("events").as_slice(),
            ["LoginRefused(ProviderUnavailable)"]
        );
    }

    /// Whatever needs a provider that is not discovered says so by name: an ID token
    /// of its issuer (`JwksError::NotDiscovered`), and the app's own token from it
    /// (`TokenExchangeError::NotDiscovered`).
    #[tokio::test]
    async fn what_needs_a_provider_not_discovered_says_so() {
        let (auth, _, b_issuer) = b_down().await;
        let unsigned = |claims: serde_json::Value| {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            format!(
                "{}.{}.c2ln",
                b64.encode(r#"{"alg":"RS256","kid":"k"}"#),
                b64.encode(claims.to_string())
            )
        };
        let token = unsigned(serde_json::json!({ "iss": b_issuer, "sub": "alice" }));
        let e = auth
            .validate_id_token(&token, "n")
            .await
            .expect_err("refused");
        assert!(
            matches!(
                e,
                crate::VerifyError::KeysUnavailable(crate::JwksError::NotDiscovered)
            ),
            "{e:?}"
        );
        let tokens = auth.app_tokens(
            crate::AppTokenRequest::new()
                .at_provider("b")
                .with_audience("https://api.test"),
        );
        let e = tokens.access_token().await.expect_err("refused");
        assert!(
            matches!(
                e,
                crate::AppTokenError::Token(crate::TokenExchangeError::NotDiscovered)
            ),
            "{e:?}"
        );
    }
}

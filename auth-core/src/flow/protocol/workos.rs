//! WorkOS User Management (`api.workos.com/user_management`), as WorkOS's API reference
//! describes it. It is OAuth 2.0 without OpenID Connect: the code is exchanged at
//! `POST /user_management/authenticate` (a JSON body with `grant_type`, `client_id`,
//! the API key as `client_secret`, `code` and the PKCE `code_verifier`, and the API
//! key as `Authorization: Bearer`, as WorkOS's Node SDK sends it in
//! `authenticateWithCode`: its referee test compares), which answers with the `user`, an
//! `organization_id`, an `access_token` (a JWT signed by the keys at
//! `/sso/jwks/<client_id>`) and a `refresh_token`, and no ID token. The session's
//! identity is therefore the validated access token (its `sub`, `sid`, `org_id`,
//! roles and permissions) with the `user` object's profile beside it, under the
//! OpenID claim names (`email`, `given_name`, `family_name`, `name`, `picture`).
//!
//! Refresh goes to the same endpoint (`grant_type=refresh_token`; refresh tokens are
//! single use), and sign-out to `/user_management/sessions/logout?session_id=<sid>`
//! (`getLogoutUrl` in the Node SDK).

use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use crate::auth::Auth;
use crate::flow::callback::CallbackError;
use crate::flow::pending::PendingLogin;
use crate::flow::refresh::RefreshError;
use crate::http_client::HttpClient;
use crate::jose::secret::{AccessToken, ClientSecret, IdToken, RefreshToken};
use crate::jose::{Claims, TokenError};
use crate::provider::state::{Discovered, ProviderState};
use crate::provider::token::{InvalidTokenResponse, TokenExchangeError};
use crate::session::AuthSession;
use crate::session::Refreshed;

/// The answer of `/user_management/authenticate`.
#[derive(Deserialize)]
struct Authentication {
    user: User,
    #[serde(default)]
    organization_id: Option<String>,
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// WorkOS's user object (the fields a session keeps).
#[derive(Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    profile_picture_url: Option<String>,
}

/// What is exchanged.
enum Grant<'a> {
    Code {
        code: &'a str,
        verifier: &'a str,
    },
    Refresh {
        token: &'a str,
        organization: Option<&'a str>,
    },
}

/// `POST /user_management/authenticate`.
async fn authenticate(
    http: &HttpClient,
    endpoint: &Url,
    config: &crate::ProviderConfig,
    grant: Grant<'_>,
) -> Result<Authentication, TokenExchangeError> {
    // Required when the configuration is built.
    let secret: &ClientSecret = config.client_secret.as_ref().ok_or_else(|| {
        TokenExchangeError::InvalidResponse(InvalidTokenResponse::rule("no API key configured"))
    })?;
    let mut body = serde_json::json!({
        "client_id": config.client_id,
        "client_secret": secret.secret(),
    });
    match grant {
        Grant::Code { code, verifier } => {
            body["grant_type"] = "authorization_code".into();
            body["code"] = code.into();
            body["code_verifier"] = verifier.into();
        }
        Grant::Refresh {
            token,
            organization,
        } => {
            body["grant_type"] = "refresh_token".into();
            body["refresh_token"] = token.into();
            if let Some(org) = organization {
                body["organization_id"] = org.into();
            }
        }
    }
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json"),
    );
    // The API key also as a bearer credential, as WorkOS's Node SDK sends every API
    // call (its referee test found the library without it); marked sensitive.
    if let Ok(mut key) = http::HeaderValue::try_from(format!("Bearer {}", secret.secret())) {
        key.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, key);
    }
    let response = http
        .send(
            crate::http_client::Endpoint::Token,
            http::Method::POST,
            endpoint.as_str(),
            headers,
            body.to_string().into_bytes(),
        )
        .await
        .map_err(TokenExchangeError::Unreachable)?;
    let status = response.status();
    if status.is_server_error() {
        return Err(TokenExchangeError::Status(status.as_u16()));
    }
    // A 400 is the answer about the grant; other statuses (401 for a wrong API key,
    // 429...) are the service's, not the user's.
    if status != http::StatusCode::BAD_REQUEST && !status.is_success() {
        return Err(TokenExchangeError::Status(status.as_u16()));
    }
    if !status.is_success() {
        // OAuth errors (`error`, `error_description`) or WorkOS API errors (`code`,
        // `message`).
        let parsed: Map<String, Value> =
            serde_json::from_slice(response.body()).unwrap_or_default();
        let text = |a: &str, b: &str| {
            parsed
                .get(a)
                .or_else(|| parsed.get(b))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        return Err(TokenExchangeError::Refused {
            error: text("error", "code").unwrap_or_else(|| format!("http_{}", status.as_u16())),
            description: text("error_description", "message").unwrap_or_default(),
        });
    }
    serde_json::from_slice(response.body())
        .map_err(|e| TokenExchangeError::InvalidResponse(InvalidTokenResponse::parse(e)))
}

/// The claims a session keeps: the validated access token's, with the user's profile
/// under the OpenID names. The user object must be the token's subject.
fn session_claims(
    access: &Map<String, Value>,
    user: &User,
    organization_id: Option<&str>,
) -> Result<Claims, TokenError> {
    if access.get("sub").and_then(Value::as_str) != Some(user.id.as_str()) {
        return Err(TokenError::IdentityChanged);
    }
    let mut map = access.clone();
    // The access token's own lifetime claims are not the session's.
    for name in ["jti", "exp", "iat", "nbf"] {
        map.remove(name);
    }
    let mut set = |name: &str, value: Option<Value>| {
        if let Some(v) = value {
            map.entry(name.to_owned()).or_insert(v);
        }
    };
    set("email", user.email.clone().map(Value::from));
    set("email_verified", user.email_verified.map(Value::from));
    set("given_name", user.first_name.clone().map(Value::from));
    set("family_name", user.last_name.clone().map(Value::from));
    let full = [user.first_name.as_deref(), user.last_name.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    set("name", (!full.is_empty()).then(|| Value::from(full)));
    set("picture", user.profile_picture_url.clone().map(Value::from));
    set("org_id", organization_id.map(Value::from));
    Ok(Claims::new(map))
}

/// Who an answer of `/user_management/authenticate` names: its access token,
/// validated, and the session's claims made of it and the `user` object.
async fn identity(
    discovered: &Discovered,
    answer: &Authentication,
) -> Result<(Map<String, Value>, Claims), crate::VerifyError> {
    let access_claims = discovered
        .verifier
        .identity_access_token(&answer.access_token)
        .await?;
    let claims = session_claims(
        &access_claims,
        &answer.user,
        answer.organization_id.as_deref(),
    )?;
    Ok((access_claims, claims))
}

/// The access token's `exp` (validated, so present; a JSON number, maybe with a
/// fraction).
fn expiry(access: &Map<String, Value>) -> Option<i64> {
    let exp = access.get("exp")?;
    exp.as_i64().or_else(|| {
        exp.as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor() as i64)
    })
}

impl Auth {
    /// The callback's code exchange and checks for WorkOS User Management.
    pub(crate) async fn workos_sign_in(
        &self,
        provider: &ProviderState,
        discovered: &Discovered,
        pending: &PendingLogin,
        code: &str,
        now: i64,
    ) -> Result<AuthSession, CallbackError> {
        let config = &provider.config;
        let answer = authenticate(
            &provider.http,
            &discovered.endpoints.token_endpoint,
            config,
            Grant::Code {
                code,
                verifier: &pending.pkce_verifier,
            },
        )
        .await?;
        let (access_claims, claims) = identity(discovered, &answer)
            .await
            .map_err(CallbackError::of_access_token)?;
        let map = claims.to_map();
        // No ID token: max_age and acr_values cannot be proven, so a login that sent
        // them is refused as their checks refuse a token without the claims.
        crate::flow::callback::check_login_claims(pending, &claims, &map, now, self)?;
        let access = crate::provider::identity::access_for(config, &map, Some(&access_claims));
        if let Some(asked) = &pending.organization {
            crate::flow::callback::check_organization(asked, &access, &map, false)?;
        }
        Ok(AuthSession {
            claims,
            id_token: IdToken::new(String::new()),
            access_token: AccessToken::new(answer.access_token),
            refresh_token: answer.refresh_token.map(RefreshToken::new),
            expires_at: expiry(&access_claims),
            authenticated_at: now,
            scope: None,
            last_seen: Some(now),
            refresh_expires_at: None,
            access,
            provider: config.id.clone(),
            dpop_key: None,
            handle: None,
            app: None,
        })
    }

    /// A refresh at `/user_management/authenticate` (into `organization` when given):
    /// the new access token must be the same user's.
    pub(crate) async fn workos_refresh(
        &self,
        provider: &ProviderState,
        discovered: &Discovered,
        session: &AuthSession,
        refresh_token: &RefreshToken,
        organization: Option<&str>,
    ) -> Result<Refreshed, RefreshError> {
        let config = &provider.config;
        let answer = authenticate(
            &provider.http,
            &discovered.endpoints.token_endpoint,
            config,
            Grant::Refresh {
                token: refresh_token.secret(),
                organization,
            },
        )
        .await
        .map_err(|e| match e {
            // Only a refused grant ends the session: a rate limit or a rotated API
            // key must not sign every user out.
            TokenExchangeError::Refused { error, .. } if error == "invalid_grant" => {
                RefreshError::Refused(error)
            }
            other @ (TokenExchangeError::Refused { .. }
            | TokenExchangeError::Unreachable(_)
            | TokenExchangeError::Status(_)
            | TokenExchangeError::NotDiscovered
            | TokenExchangeError::InvalidResponse(_)) => {
                RefreshError::Unavailable(crate::Outage::TokenEndpoint(other))
            }
        })?;
        let (access_claims, claims) = identity(discovered, &answer)
            .await
            .map_err(RefreshError::from_token_error)?;
        if claims.sub() != session.sub() {
            return Err(RefreshError::InvalidTokens(TokenError::IdentityChanged));
        }
        let map = claims.to_map();
        let mut access = crate::provider::identity::access_for(config, &map, Some(&access_claims));
        access.auth_time = session.access.auth_time;
        access.acr = session.access.acr.clone();
        tracing::info!(sub = %session.sub(), "tokens refreshed");
        Ok(Refreshed::new(
            AccessToken::new(answer.access_token),
            answer.refresh_token.map(RefreshToken::new),
            Some((IdToken::new(String::new()), claims)),
            expiry(&access_claims),
            Some(access),
        ))
    }
}

/// Why a session could not switch organizations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SwitchOrganizationError {
    /// The session's provider is not WorkOS User Management, or the session has no
    /// refresh token: there is nothing to switch with.
    #[error("switching organizations needs a WorkOS User Management session with a refresh token")]
    Unsupported,
    /// The organization id is empty or too long.
    #[error("the organization id is empty or too long")]
    InvalidOrganization,
    /// The provider refused (the user is not a member, or the session has ended);
    /// or the new tokens did not name the organization asked for.
    #[error("the provider refused the switch: {0}")]
    Refused(String),
    /// The app pins this provider's organization (its login options name one): a
    /// session never leaves it, whatever the provider would allow.
    #[error("the app pins the organization: no switch to another")]
    Pinned,
    /// The provider (or the shared state) could not be reached: try again later.
    #[error("the provider is unavailable: {0}")]
    Unavailable(#[source] crate::Outage),
    /// The provider answered with tokens for another organization than the one asked
    /// for. The old refresh token is spent: store this session (the route does) and
    /// treat the switch as refused.
    #[error("the new tokens name another organization than the one asked for")]
    OtherOrganization(Box<AuthSession>),
}

impl Auth {
    /// Switches a WorkOS User Management session to another of the user's
    /// organizations: a refresh with `organization_id`, as WorkOS's reference
    /// describes. Returns the new session (store it in place of the old one; the
    /// `{prefix}/organization` route does). The old refresh token is spent.
    pub async fn switch_organization(
        &self,
        session: &AuthSession,
        organization_id: &str,
    ) -> Result<AuthSession, SwitchOrganizationError> {
        if organization_id.is_empty()
            || organization_id.len() > crate::provider::authorize::MAX_OPTION_LEN
        {
            return Err(SwitchOrganizationError::InvalidOrganization);
        }
        let provider = self
            .0
            .provider_of(session)
            .filter(|p| p.config.protocol().switches_organizations())
            .ok_or(SwitchOrganizationError::Unsupported)?;
        // The callback refuses a sign-in into any other organization than the pinned
        // one; a switch must not be the way out of it.
        if provider
            .config
            .default_login
            .organization_id
            .as_deref()
            .is_some_and(|pinned| pinned != organization_id)
        {
            return Err(SwitchOrganizationError::Pinned);
        }
        let refresh_token = session
            .refresh_token
            .as_ref()
            .ok_or(SwitchOrganizationError::Unsupported)?;
        let discovered = provider
            .ready()
            .map_err(|e| SwitchOrganizationError::Unavailable(e.into()))?;
        // The refresh token is single use: the switch is the one use of it, in this
        // process and (with Redis) across instances, like any refresh.
        let switch = self.switch_with_lock(
            &provider,
            discovered,
            session,
            refresh_token,
            organization_id,
        );
        let refreshed = self
            .single_flight(refresh_token, switch)
            .await
            .map_err(|e| match e {
                RefreshError::Unavailable(why) => SwitchOrganizationError::Unavailable(why),
                other @ (RefreshError::Refused(_) | RefreshError::InvalidTokens(_)) => {
                    SwitchOrganizationError::Refused(other.to_string())
                }
            })?;
        let switched = crate::flow::refresh::apply(session, refreshed);
        if switched.access.organization.as_deref() != Some(organization_id) {
            // The old refresh token is spent: the new tokens are the session's now.
            return Err(SwitchOrganizationError::OtherOrganization(Box::new(
                switched,
            )));
        }
        tracing::info!(sub = %session.sub(), "organization switched");
        Ok(switched)
    }
}

impl Auth {
    /// The switch under the refresh token's lock in the shared state: refused (503,
    /// try again) while another instance refreshes the same token; its result published
    /// for the instances that wait on that token.
    async fn switch_with_lock(
        &self,
        provider: &ProviderState,
        discovered: &Discovered,
        session: &AuthSession,
        refresh_token: &RefreshToken,
        organization_id: &str,
    ) -> Result<Refreshed, RefreshError> {
        let unavailable = |e: crate::SharedStateError| RefreshError::Unavailable(e.into());
        let rt = refresh_token.secret();
        let (work_limit, lock_ttl) = self.refresh_lock_bounds();
        let owner = oauth2::CsrfToken::new_random().secret().clone();
        if !self
            .0
            .shared
            .lock_refresh(rt, &owner, lock_ttl)
            .await
            .map_err(unavailable)?
        {
            return Err(RefreshError::Unavailable(crate::Outage::RefreshUnderWay));
        }
        // The switch is the refresh token's one use: done as a refresh's holder is.
        let work = self.workos_refresh(
            provider,
            discovered,
            session,
            refresh_token,
            Some(organization_id),
        );
        self.hold_refresh_lock(rt, &owner, work_limit, work).await
    }
}

/// The sign-out URL: `/user_management/sessions/logout` with the access token's `sid`
/// and `return_to`; without a `sid`, the app's own post-logout URL.
pub(crate) fn logout_url(end: &Url, session: Option<&AuthSession>, return_to: &Url) -> Url {
    let Some(sid) = session.and_then(|s| s.claims.sid()) else {
        if session.is_some() {
            tracing::warn!(
                "the WorkOS access token named no sid: the WorkOS session is not ended, only the app's"
            );
        }
        return return_to.clone();
    };
    let mut url = end.clone();
    url.query_pairs_mut()
        .append_pair("session_id", sid)
        .append_pair("return_to", return_to.as_str());
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> User {
        User {
            id: id.into(),
            email: Some("ada@example.com".into()),
            email_verified: Some(true),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            profile_picture_url: None,
        }
    }

    fn access(sub: &str) -> Map<String, Value> {
        serde_json::json!({
            "iss": "https://api.workos.com", "sub": sub, "sid": "session_1",
            "org_id": "org_1", "role": "admin", "exp": 2, "iat": 1, "jti": "j",
        })
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    #[test]
    fn the_session_is_the_access_token_with_the_users_profile() {
        let claims =
            session_claims(&access("user_1"), &user("user_1"), Some("org_2")).expect("same user");
        let map = claims.to_map();
        assert_eq!(claims.sub(), "user_1");
        assert_eq!(claims.sid(), Some("session_1"));
        assert_eq!(map["name"], "Ada Lovelace");
        assert_eq!(map["given_name"], "Ada");
        assert_eq!(map["email_verified"], true);
        // The token's org_id wins over the answer's organization_id.
        assert_eq!(map["org_id"], "org_1");
        for gone in ["exp", "iat", "jti"] {
            assert!(!map.contains_key(gone), "{gone}");
        }
    }

    #[test]
    fn rp_workos_user_object_of_another_subject_refused() {
        let err = session_claims(&access("user_1"), &user("user_2"), None).err();
        assert_eq!(err, Some(TokenError::IdentityChanged));
    }

    /// WorkOS's refusal text reaches the logs escaped, as other provider text does: a
    /// forged line break cannot start a log line of its own.
    #[test]
    fn rp_switch_refusal_text_is_logged_escaped() {
        let forged = "invalid_grant\r\n2026-12-07T00:00:00Z INFO organization switched";
        let refused = RefreshError::Refused(forged.into());
        let e = SwitchOrganizationError::Refused(refused.to_string());
        let shown = e.to_string();
        assert!(!shown.contains('\n') && !shown.contains('\r'), "{shown}");
        assert!(shown.contains("\\r\\n2026"), "{shown}");
    }

    /// A WorkOS API stub: the key set, and `/user_management/authenticate` answering
    /// `status` with `body`; its base URL.
    async fn workos_api(status: u16, body: &'static str) -> String {
        let jwks = include_str!("../../jose/testdata/jwks.json");
        let app = axum::Router::new()
            .route(
                "/sso/jwks/client_1",
                axum::routing::get(move || async move { jwks }),
            )
            .route(
                "/user_management/authenticate",
                axum::routing::post(move || async move {
                    (
                        http::StatusCode::from_u16(status).expect("status"),
                        [(http::header::CONTENT_TYPE, "application/json")],
                        body,
                    )
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    async fn workos_app(
        base: &str,
        tweak: impl FnOnce(crate::AuthConfigBuilder) -> crate::AuthConfigBuilder,
    ) -> Auth {
        let config = tweak(
            crate::AuthConfig::builder(base, "client_1", "http://127.0.0.1:3000")
                .with_client_secret("sk_test")
                .with_provider_kind(crate::ProviderKind::WorkosUserManagement),
        )
        .build()
        .expect("config");
        Auth::discover(config).await.expect("auth")
    }

    fn signed_in(refresh_token: Option<&str>) -> AuthSession {
        AuthSession {
            claims: crate::Claims::default().with("sub", serde_json::json!("user_1")),
            refresh_token: refresh_token.map(crate::RefreshToken::new),
            ..AuthSession::bare()
        }
    }

    /// Each refusal of `Auth::switch_organization` by name: an organization id that
    /// cannot be one, a provider or session that cannot switch, a pinned organization,
    /// WorkOS refusing the grant, and WorkOS down.
    #[tokio::test]
    async fn switch_organization_refusals_are_each_named() {
        let refusing = workos_api(400, r#"{"error":"invalid_grant"}"#).await;
        let auth = workos_app(&refusing, |b| b).await;
        let session = signed_in(Some("rt"));
        for bad in [String::new(), "o".repeat(2000)] {
            let e = auth
                .switch_organization(&session, &bad)
                .await
                .expect_err("refused");
            assert!(
                matches!(e, SwitchOrganizationError::InvalidOrganization),
                "{e:?}"
            );
        }
        let e = auth
            .switch_organization(&signed_in(None), "org_2")
            .await
            .expect_err("refused");
        assert!(
            matches!(e, SwitchOrganizationError::Unsupported),
            "no refresh token: {e:?}"
        );
        let e = auth
            .switch_organization(&session, "org_2")
            .await
            .expect_err("refused");
        assert!(
            matches!(&e, SwitchOrganizationError::Refused(why) if why.contains("invalid_grant")),
            "{e:?}"
        );
        let pinned = workos_app(&refusing, |b| {
            b.with_default_login_options(
                crate::LoginOptions::default().with_organization_id("org_1"),
            )
        })
        .await;
        let e = pinned
            .switch_organization(&session, "org_2")
            .await
            .expect_err("refused");
        assert!(matches!(e, SwitchOrganizationError::Pinned), "{e:?}");
        let down = workos_api(500, "{}").await;
        let auth = workos_app(&down, |b| b).await;
        let e = auth
            .switch_organization(&session, "org_2")
            .await
            .expect_err("refused");
        assert!(
            matches!(
                e,
                SwitchOrganizationError::Unavailable(crate::Outage::TokenEndpoint(
                    crate::TokenExchangeError::Status(500)
                ))
            ),
            "{e:?}"
        );
        // A provider that is not WorkOS User Management cannot switch.
        let url = |p: &str| url::Url::parse(&format!("{down}{p}")).expect("url");
        let oidc = crate::AuthConfig::builder(&down, "client", "http://127.0.0.1:3000")
            .with_endpoints(crate::ProviderEndpoints::new(
                url("/authorize"),
                url("/token"),
                url("/sso/jwks/client_1"),
            ))
            .build()
            .expect("config");
        let oidc = Auth::discover(oidc).await.expect("auth");
        let e = oidc
            .switch_organization(&session, "org_2")
            .await
            .expect_err("refused");
        assert!(matches!(e, SwitchOrganizationError::Unsupported), "{e:?}");
    }

    /// Another instance refreshes the same refresh token (it holds the lock in Redis):
    /// the switch does not wait for it, `Outage::RefreshUnderWay` (503, try again).
    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn a_switch_during_another_instances_refresh_is_under_way() {
        let server = provider_harness::RedisServer::start();
        let base = workos_api(400, r#"{"error":"invalid_grant"}"#).await;
        let auth = workos_app(&base, |b| {
            b.with_redis_url(server.url())
                .with_app_secret_hex(&"ab".repeat(32))
        })
        .await;
        assert!(
            auth.0
                .shared
                .lock_refresh("rt", "another-instance", std::time::Duration::from_secs(30))
                .await
                .expect("lock")
        );
        let e = auth
            .switch_organization(&signed_in(Some("rt")), "org_2")
            .await
            .expect_err("refused");
        assert!(
            matches!(
                e,
                SwitchOrganizationError::Unavailable(crate::Outage::RefreshUnderWay)
            ),
            "{e:?}"
        );
    }
}

//! The provider's endpoints: discovery, authorize (with its sign-in page), token,
//! JWKS, userinfo and end_session, and the back-channel logout calls it makes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64_STD, URL_SAFE_NO_PAD as B64};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use url::Url;

use crate::keys::{KeySet, Signing};
use crate::{ClientRegistration, Misbehaviour, Stats, TestUser, TokenFault, pages, random_token};

/// How long a sign-in page and an authorization code stay usable.
const PENDING_TTL: u64 = 600;
const CODE_TTL: u64 = 60;
/// Bounds on what the provider keeps (it is for development and tests).
const MAX_PENDING: usize = 10_000;
const MAX_SESSIONS: usize = 100_000;
const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

pub(crate) struct Provider {
    pub(crate) issuer: String,
    pub(crate) users: Vec<TestUser>,
    pub(crate) clients: Vec<ClientRegistration>,
    pub(crate) auto_approve: bool,
    pub(crate) access_token_ttl: Duration,
    pub(crate) id_token_ttl: Duration,
    pub(crate) refresh_token_ttl: Duration,
    pub(crate) api_audience: Option<String>,
    /// Authorization requests are taken only when pushed first (RFC 9126).
    pub(crate) par_required: bool,
    /// Discovery lists `token_endpoint_auth_methods_supported`.
    pub(crate) advertise_client_auth: bool,
    /// Access tokens are random strings, known by introspection only.
    pub(crate) opaque_access_tokens: bool,
    pub(crate) keys: RwLock<Arc<KeySet>>,
    /// The keys rotated out: kept until the provider stops, so that their RSA pairs
    /// are not handed to another provider (or back to this one) while it lives.
    pub(crate) retired: Mutex<Vec<Arc<KeySet>>>,
    pub(crate) misbehaviour: Mutex<Misbehaviour>,
    pub(crate) http: reqwest::Client,
    pub(crate) state: Mutex<Grants>,
    pub(crate) counters: Counters,
    /// The requests its WorkOS token endpoint received, as a referee compares them.
    pub(crate) recorded: Mutex<Vec<crate::RecordedRequest>>,
}

#[derive(Default)]
pub(crate) struct Counters {
    authorize: AtomicU64,
    sign_ins: AtomicU64,
    token_requests: AtomicU64,
    code_grants: AtomicU64,
    refresh_grants: AtomicU64,
    client_credentials_grants: AtomicU64,
    token_errors: AtomicU64,
    jwks: AtomicU64,
    userinfo: AtomicU64,
    backchannel_sent: AtomicU64,
    backchannel_failed: AtomicU64,
    secret_post: AtomicU64,
    secret_basic: AtomicU64,
    revocations: AtomicU64,
    refresh_tokens_revoked: AtomicU64,
    introspections: AtomicU64,
}

/// What the provider remembers between requests.
#[derive(Default)]
pub(crate) struct Grants {
    /// Sign-in pages shown and not yet answered, by their opaque id.
    pending: HashMap<String, Authorization>,
    codes: HashMap<String, CodeGrant>,
    refresh: HashMap<String, RefreshGrant>,
    /// Provider sessions (`sid`): who, and which clients signed in with it.
    sessions: HashMap<String, ProviderSession>,
    /// Pushed authorization requests (RFC 9126), by `request_uri`.
    pushed: HashMap<String, Pushed>,
    /// The `jti`s of client assertions and DPoP proofs seen, each until it expires.
    jtis: HashMap<String, u64>,
    /// Opaque access tokens and their claims ([`Provider::opaque_access_tokens`]).
    opaque: HashMap<String, Value>,
}

/// What a token response is issued for.
struct Issue<'a> {
    client_id: &'a str,
    user: &'a str,
    sid: &'a str,
    scope: &'a str,
    auth_time: u64,
    nonce: Option<&'a str>,
    /// The DPoP key the tokens are bound to.
    jkt: Option<&'a str>,
}

/// A pushed authorization request: its client, parameters and time.
struct Pushed {
    client_id: String,
    params: Vec<(String, String)>,
    created: u64,
}

/// How long a `request_uri` can be used (RFC 9126 §2.2).
const PUSHED_TTL: u64 = 60;

impl Grants {
    /// True the first time `jti` is seen before `until`.
    fn first_use(&mut self, jti: String, until: u64) -> bool {
        let t = now();
        self.jtis.retain(|_, u| *u >= t);
        if self.jtis.contains_key(&jti) || self.jtis.len() >= MAX_SESSIONS {
            return false;
        }
        self.jtis.insert(jti, until);
        true
    }
}

/// A validated authorization request.
#[derive(Clone)]
pub(crate) struct Authorization {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) scope: String,
    pub(crate) state: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: String,
    /// Every parameter received, for the sign-in page.
    pub(crate) params: Vec<(String, String)>,
    pub(crate) signup: bool,
    pub(crate) login_hint: Option<String>,
    pub(crate) created: u64,
    /// A WorkOS User Management request: its response carries no `iss`.
    pub(crate) workos: bool,
}

struct CodeGrant {
    auth: Authorization,
    user: String,
    sid: String,
    auth_time: u64,
    expires: u64,
}

struct RefreshGrant {
    /// The DPoP key the grant is bound to: its refreshes need a proof by it.
    jkt: Option<String>,
    /// The organization the session is in (WorkOS User Management), when switched.
    organization: Option<String>,
    client_id: String,
    user: String,
    sid: String,
    scope: String,
    auth_time: u64,
    expires: u64,
}

struct ProviderSession {
    user: String,
    clients: HashSet<String>,
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

mod workos;

pub(crate) fn router(provider: std::sync::Arc<Provider>) -> Router {
    workos::routes(Router::new())
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/authorize", get(authorize))
        // Scalekit's paths (its Node SDK builds them from the environment URL).
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/token", post(token))
        .route("/keys", get(jwks))
        .route("/authorize/decision", post(decision))
        .route("/token", post(token))
        .route("/par", post(par))
        .route("/jwks", get(jwks))
        .route("/userinfo", get(userinfo))
        .route("/end_session", get(end_session))
        .route("/revoke", post(revoke))
        .route("/introspect", post(introspect))
        .with_state(provider)
}

type P = State<std::sync::Arc<Provider>>;

async fn discovery(State(p): P) -> Json<Value> {
    let i = &p.issuer;
    let named = p
        .misbehaviour()
        .discovery_issuer
        .unwrap_or_else(|| i.clone());
    let mut document = json!({
        "issuer": named,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "end_session_endpoint": format!("{i}/end_session"),
        "revocation_endpoint": format!("{i}/revoke"),
        "introspection_endpoint": format!("{i}/introspect"),
        "pushed_authorization_request_endpoint": format!("{i}/par"),
        "require_pushed_authorization_requests": p.par_required,
        "dpop_signing_alg_values_supported": ["ES256"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "name", "email", "email_verified"],
        "prompt_values_supported": ["none", "login", "consent", "select_account", "create"],
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": true,
        "frontchannel_logout_session_supported": true,
    });
    if !p.advertise_client_auth
        && let Some(o) = document.as_object_mut()
    {
        o.remove("token_endpoint_auth_methods_supported");
    }
    Json(document)
}

async fn jwks(State(p): P) -> Response {
    p.counters.jwks.fetch_add(1, Ordering::Relaxed);
    if let Some(status) = p.misbehaviour().jwks_status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, "no keys today").into_response();
    }
    match p.misbehaviour().jwks_max_age {
        Some(age) => (
            [(
                header::CACHE_CONTROL,
                format!("public, max-age={}", age.as_secs()),
            )],
            Json(p.keys().jwks()),
        )
            .into_response(),
        None => Json(p.keys().jwks()).into_response(),
    }
}

/// `GET /authorize`. Errors that cannot be sent back to a registered redirect URI
/// (unknown client, unregistered redirect URI) are shown on a page; the others are
/// sent to the client as `error=` (RFC 6749 §4.1.2.1).
async fn authorize(State(p): P, Query(params): Query<Vec<(String, String)>>) -> Response {
    p.counters.authorize.fetch_add(1, Ordering::Relaxed);
    // A pushed request: its parameters, once (RFC 9126 §4).
    let request_uri = params
        .iter()
        .find(|(k, _)| k == "request_uri")
        .map(|(_, v)| v.clone());
    let params = match request_uri {
        Some(uri) => {
            let pushed = p.grants().pushed.remove(&uri);
            let client = params
                .iter()
                .find(|(k, _)| k == "client_id")
                .map(|(_, v)| v);
            match pushed.filter(|r| r.created + PUSHED_TTL > now()) {
                Some(r) if client == Some(&r.client_id) => r.params,
                _ => {
                    return pages::error(
                        StatusCode::BAD_REQUEST,
                        "Unknown, used or expired request_uri.",
                    );
                }
            }
        }
        None if p.par_required => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "This provider takes pushed authorization requests only (RFC 9126).",
            );
        }
        None => params,
    };
    let (client, redirect_uri) = match p.authorization_client(&params, &[]) {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let get = |name: &str| param(&params, name);
    let state = get("state");
    let form_post = posts_the_response(&params);
    let refuse = |error: &str, description: &str| {
        p.error_redirect(
            &redirect_uri,
            state.as_deref(),
            error,
            description,
            form_post,
        )
    };
    if get("response_type").as_deref() != Some("code") {
        return refuse(
            "unsupported_response_type",
            "only response_type=code is supported",
        );
    }
    if !matches!(
        get("response_mode").as_deref(),
        None | Some("query" | "form_post")
    ) {
        return p.error_redirect(
            &redirect_uri,
            state.as_deref(),
            "unsupported_response_mode",
            "response_mode is query or form_post",
            false,
        );
    }
    let scope = get("scope").unwrap_or_default();
    if !scope.split(' ').any(|s| s == "openid") {
        return refuse("invalid_scope", "the openid scope is required");
    }
    let code_challenge = match (
        get("code_challenge"),
        get("code_challenge_method").as_deref(),
    ) {
        (Some(c), Some("S256")) if c.len() == 43 => c,
        _ => {
            return refuse(
                "invalid_request",
                "PKCE is required: code_challenge with code_challenge_method=S256",
            );
        }
    };
    let prompt = get("prompt").unwrap_or_default();
    if prompt.split(' ').any(|v| v == "none") {
        return refuse(
            "login_required",
            "this provider keeps no sign-in session of its own",
        );
    }
    let signup =
        prompt.split(' ').any(|v| v == "create") || get("screen_hint").as_deref() == Some("signup");
    let auth = Authorization {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.clone(),
        scope,
        state: state.clone(),
        nonce: get("nonce"),
        code_challenge,
        signup,
        login_hint: get("login_hint"),
        params,
        created: now(),
        workos: false,
    };
    p.show_sign_in(client, auth)
}

/// Whether the request asked for the response as a posted form (`form_post`).
pub(crate) fn posts_the_response(params: &[(String, String)]) -> bool {
    param(params, "response_mode").as_deref() == Some("form_post")
}

/// The value of parameter `name`.
pub(crate) fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

impl Provider {
    /// The client of an authorization request and its redirect URI, once the
    /// parameters are not repeated (but for `repeatable` ones), the client is known
    /// and the redirect URI is registered; else the error page (these errors cannot
    /// be sent back to the client, RFC 6749 §4.1.2.1).
    pub(crate) fn authorization_client(
        &self,
        params: &[(String, String)],
        repeatable: &[&str],
    ) -> Result<(&ClientRegistration, String), Box<Response>> {
        let mut seen = HashSet::new();
        for (k, _) in params {
            if !repeatable.contains(&k.as_str()) && !seen.insert(k.as_str()) {
                return Err(Box::new(pages::error(
                    StatusCode::BAD_REQUEST,
                    &format!("The parameter {k} is repeated."),
                )));
            }
        }
        let Some(client) = param(params, "client_id").and_then(|id| self.client(&id)) else {
            return Err(Box::new(pages::error(
                StatusCode::BAD_REQUEST,
                "Unknown client_id.",
            )));
        };
        let redirect_uri = param(params, "redirect_uri").unwrap_or_default();
        if !client.redirect_uris.contains(&redirect_uri) {
            return Err(Box::new(pages::error(
                StatusCode::BAD_REQUEST,
                "The redirect_uri is not registered for this client.",
            )));
        }
        Ok((client, redirect_uri))
    }

    /// A validated authorization request: approved at once (auto-approval), or the
    /// sign-in page.
    pub(crate) fn show_sign_in(
        &self,
        client: &ClientRegistration,
        auth: Authorization,
    ) -> Response {
        let p = self;
        if p.auto_approve {
            let user = auth
                .login_hint
                .as_deref()
                .and_then(|h| p.user(h))
                .or(p.users.first())
                .map(|u| u.id.clone());
            return match user {
                Some(user) => p.approve(auth, &user),
                None => p.error_redirect(
                    &auth.redirect_uri,
                    auth.state.as_deref(),
                    "access_denied",
                    "no test users are configured",
                    posts_the_response(&auth.params),
                ),
            };
        }
        let id = random_token(16);
        let mut grants = p.grants();
        let t = now();
        grants.pending.retain(|_, a| a.created + PENDING_TTL > t);
        if grants.pending.len() >= MAX_PENDING {
            return pages::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many sign-ins in progress.",
            );
        }
        grants.pending.insert(id.clone(), auth.clone());
        drop(grants);
        pages::sign_in(
            p,
            client,
            &id,
            &auth.params,
            auth.signup,
            auth.login_hint.as_deref(),
        )
    }
}

#[derive(Deserialize)]
struct Decision {
    pending: String,
    user: Option<String>,
    cancel: Option<String>,
}

/// `POST /authorize/decision`: the sign-in page's answer.
async fn decision(State(p): P, Form(d): Form<Decision>) -> Response {
    let auth = p.grants().pending.remove(&d.pending);
    let Some(auth) = auth.filter(|a| a.created + PENDING_TTL > now()) else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "This sign-in page has expired or was already used. Start again from the app.",
        );
    };
    match (d.cancel, d.user) {
        (None, Some(user)) if p.user(&user).is_some() => p.approve(auth, &user),
        (None, Some(_)) => pages::error(StatusCode::BAD_REQUEST, "Unknown test user."),
        _ => p.error_redirect_as(
            &auth.redirect_uri,
            auth.state.as_deref(),
            "access_denied",
            "the user cancelled the sign-in",
            !auth.workos,
            posts_the_response(&auth.params),
        ),
    }
}

/// A token endpoint error (RFC 6749 §5.2).
/// `POST /par`: a pushed authorization request (RFC 9126), client authenticated.
async fn par(State(p): P, headers: HeaderMap, body: String) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let client = match p.authenticate_client(&headers, &form) {
        Ok(c) => c,
        Err(description) => {
            return token_error(&p, StatusCode::UNAUTHORIZED, "invalid_client", description);
        }
    };
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if field("request_uri").is_some() {
        return token_error(
            &p,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "request_uri cannot be pushed",
        );
    }
    if !field("redirect_uri").is_some_and(|r| client.redirect_uris.iter().any(|u| u == r)) {
        return token_error(
            &p,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the redirect_uri is not registered for this client",
        );
    }
    let params: Vec<(String, String)> = form
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "client_secret" | "client_assertion" | "client_assertion_type"
            )
        })
        .cloned()
        .collect();
    let request_uri = format!("urn:ietf:params:oauth:request_uri:{}", random_token(24));
    let mut grants = p.grants();
    let t = now();
    grants.pushed.retain(|_, r| r.created + PUSHED_TTL > t);
    if grants.pushed.len() >= MAX_PENDING {
        return token_error(
            &p,
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "too many pushed requests",
        );
    }
    grants.pushed.insert(
        request_uri.clone(),
        Pushed {
            client_id: client.id.clone(),
            params,
            created: t,
        },
    );
    (
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "request_uri": request_uri, "expires_in": PUSHED_TTL })),
    )
        .into_response()
}

fn token_error(p: &Provider, status: StatusCode, error: &str, description: &str) -> Response {
    p.counters.token_errors.fetch_add(1, Ordering::Relaxed);
    let mut resp = (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"token\""),
        );
    }
    resp
}

/// The answer of a token endpoint told to fail ([`TokenFault::Status`]): `status`
/// with `body` as JSON, the grant left unused.
pub(crate) fn status_answer(status: u16, body: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_owned(),
    )
        .into_response()
}

/// `POST /revoke` (RFC 7009): the client authenticates as at the token endpoint; a
/// refresh token of its own is forgotten (later refreshes with it are refused). 200
/// for an unknown token too, as the RFC says.
async fn revoke(State(p): P, headers: HeaderMap, body: String) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let client = match p.authenticate_client(&headers, &form) {
        Ok(c) => c.id.clone(),
        Err(description) => {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({ "error": "invalid_client", "error_description": description })),
            )
                .into_response();
        }
    };
    p.counters.revocations.fetch_add(1, Ordering::Relaxed);
    let token = form
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let mut grants = p.grants();
    if grants
        .refresh
        .get(token)
        .is_some_and(|g| g.client_id == client)
    {
        grants.refresh.remove(token);
        p.counters
            .refresh_tokens_revoked
            .fetch_add(1, Ordering::Relaxed);
    }
    if grants
        .opaque
        .get(token)
        .is_some_and(|c| c["client_id"] == client.as_str())
    {
        grants.opaque.remove(token);
    }
    StatusCode::OK.into_response()
}

/// `POST /introspect` (RFC 7662): what an access token grants, to an authenticated
/// client: its claims with `active: true` while it is live (an opaque token this
/// provider issued and did not revoke, or a JWT access token it signed), else
/// `{"active": false}` alone.
async fn introspect(State(p): P, headers: HeaderMap, body: String) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    if let Err(description) = p.authenticate_client(&headers, &form) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": "invalid_client", "error_description": description })),
        )
            .into_response();
    }
    p.counters.introspections.fetch_add(1, Ordering::Relaxed);
    let m = p.misbehaviour();
    if let Some(status) = m.introspection_status {
        return status_answer(status, "{}");
    }
    let token = param(&form, "token").unwrap_or_default();
    let opaque = p.grants().opaque.get(&token).cloned();
    let claims = opaque.or_else(|| p.keys().verify(&token, "at+jwt"));
    let live = claims.filter(|c| c["exp"].as_u64().is_some_and(|exp| exp > now()));
    let Some(mut claims) = live else {
        return axum::Json(json!({ "active": false })).into_response();
    };
    claims["active"] = true.into();
    claims["token_type"] = "Bearer".into();
    set_claims(&mut claims, m.introspected_claims);
    axum::Json(claims).into_response()
}

/// `POST /token`: `authorization_code` (PKCE checked) and `refresh_token` (rotated).
async fn token(State(p): P, uri: axum::http::Uri, headers: HeaderMap, body: String) -> Response {
    p.counters.token_requests.fetch_add(1, Ordering::Relaxed);
    let fields = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .map(|(k, v)| (k, Some(v)))
        .collect();
    record(&p, uri.path(), &headers, fields);
    let fault = p.misbehaviour().token;
    match &fault {
        Some(TokenFault::Hang(delay)) => tokio::time::sleep(*delay).await,
        Some(TokenFault::Status(status, body)) => return status_answer(*status, body),
        _ => {}
    }
    let mut response = match token_grant(&p, &headers, &body) {
        Ok(body) => body,
        Err(r) => return token_error(&p, r.status, r.error, r.description),
    };
    match fault {
        Some(TokenFault::RemoveFields(names)) => {
            if let Some(o) = response.as_object_mut() {
                for n in names {
                    o.remove(&n);
                }
            }
        }
        Some(TokenFault::SetFields(fields)) => {
            for (k, v) in fields {
                response[k] = v;
            }
        }
        _ => {}
    }
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(response),
    )
        .into_response()
}

/// A refused token request, answered by [`token_error`].
struct Refusal {
    status: StatusCode,
    error: &'static str,
    description: &'static str,
}

fn refuse(
    status: StatusCode,
    error: &'static str,
    description: &'static str,
) -> Result<Value, Refusal> {
    Err(Refusal {
        status,
        error,
        description,
    })
}

/// The grant's token response, or the error response.
fn token_grant(p: &Provider, headers: &HeaderMap, body: &str) -> Result<Value, Refusal> {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let client = match p.authenticate_client(headers, &form) {
        Ok(c) => c,
        Err(description) => {
            return refuse(StatusCode::UNAUTHORIZED, "invalid_client", description);
        }
    };
    let t = now();
    // DPoP (RFC 9449 §5): a proof binds the tokens to its key.
    let jkt = match headers.get("dpop") {
        None => None,
        Some(value) => {
            let proof = value.to_str().unwrap_or_default();
            let url = format!("{}/token", p.issuer);
            let (jti, jkt) =
                crate::fapi::verify_proof(proof, "POST", &url, None, t).map_err(|d| Refusal {
                    status: StatusCode::BAD_REQUEST,
                    error: "invalid_dpop_proof",
                    description: d,
                })?;
            if !p.grants().first_use(format!("dpop:{jkt}:{jti}"), t + 180) {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_dpop_proof",
                    "the DPoP proof was used before",
                );
            }
            Some(jkt)
        }
    };
    match get("grant_type") {
        Some("authorization_code") => {
            let grant = p.grants().codes.remove(get("code").unwrap_or_default());
            let Some(grant) = grant.filter(|g| g.expires > t) else {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "unknown, used or expired code",
                );
            };
            if grant.auth.client_id != client.id {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the code was issued to another client",
                );
            }
            if get("redirect_uri") != Some(grant.auth.redirect_uri.as_str()) {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "redirect_uri differs from the authorization request",
                );
            }
            let verifier = get("code_verifier").unwrap_or_default();
            let challenge = B64.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
            if !(43..=128).contains(&verifier.len())
                || !bool::from(
                    challenge
                        .as_bytes()
                        .ct_eq(grant.auth.code_challenge.as_bytes()),
                )
            {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "PKCE verification failed",
                );
            }
            p.counters.code_grants.fetch_add(1, Ordering::Relaxed);
            let a = grant.auth;
            p.tokens(Issue {
                client_id: &client.id,
                user: &grant.user,
                sid: &grant.sid,
                scope: &a.scope,
                auth_time: grant.auth_time,
                nonce: a.nonce.as_deref(),
                jkt: jkt.as_deref(),
            })
        }
        Some("refresh_token") => {
            let grant = p
                .grants()
                .refresh
                .remove(get("refresh_token").unwrap_or_default());
            let Some(grant) = grant.filter(|g| g.expires > t && g.client_id == client.id) else {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "unknown, used, expired or revoked refresh token",
                );
            };
            if grant.jkt.is_some() && grant.jkt != jkt {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the refresh token is bound to another DPoP key",
                );
            }
            p.counters.refresh_grants.fetch_add(1, Ordering::Relaxed);
            p.tokens(Issue {
                client_id: &client.id,
                user: &grant.user,
                sid: &grant.sid,
                scope: &grant.scope,
                auth_time: grant.auth_time,
                nonce: None,
                jkt: jkt.as_deref(),
            })
        }
        Some("client_credentials") => {
            // The client's own token (RFC 6749 §4.4): `sub` is the client, the audience
            // is the `audience` or `resource` asked for, else the API audience.
            p.counters
                .client_credentials_grants
                .fetch_add(1, Ordering::Relaxed);
            let aud = get("audience")
                .or(get("resource"))
                .map(str::to_owned)
                .or_else(|| p.api_audience.clone())
                .unwrap_or_else(|| client.id.clone());
            let ttl = p.access_token_ttl.as_secs();
            let scope = get("scope").unwrap_or_default();
            let token = p.keys().sign(
                &Signing::default(),
                "at+jwt",
                &json!({
                    "iss": p.issuer, "sub": client.id, "aud": aud, "client_id": client.id,
                    "scope": scope, "iat": t, "exp": t + ttl, "jti": random_token(16),
                }),
            );
            Ok(json!({
                "access_token": token, "token_type": "Bearer", "expires_in": ttl,
                "scope": scope,
            }))
        }
        Some(_) => refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "authorization_code, refresh_token and client_credentials are supported",
        ),
        None => refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is missing",
        ),
    }
}

async fn userinfo(State(p): P, headers: HeaderMap) -> Response {
    p.counters.userinfo.fetch_add(1, Ordering::Relaxed);
    if let Some(status) = p.misbehaviour().userinfo_status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, axum::Json(serde_json::json!({}))).into_response();
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let (token, dpop) = match authorization {
        Some(v) if v.starts_with("Bearer ") => (v.strip_prefix("Bearer "), false),
        Some(v) if v.starts_with("DPoP ") => (v.strip_prefix("DPoP "), true),
        _ => (None, false),
    };
    let claims = token
        .and_then(|t| p.keys().verify(t, "at+jwt"))
        .filter(|c| {
            c["iss"] == p.issuer.as_str() && c["exp"].as_u64().is_some_and(|exp| exp > now())
        })
        // A bound token needs its proof (RFC 9449 §7); an unbound one goes as Bearer.
        .filter(|c| {
            let bound = c.pointer("/cnf/jkt").and_then(Value::as_str);
            match (bound, dpop, token) {
                (None, false, _) => true,
                (Some(jkt), true, Some(t)) => headers
                    .get("dpop")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|proof| {
                        let url = format!("{}/userinfo", p.issuer);
                        crate::fapi::verify_proof(proof, "GET", &url, Some(t), now()).ok()
                    })
                    .is_some_and(|(jti, key)| {
                        key == jkt
                            && p.grants()
                                .first_use(format!("dpop:{key}:{jti}"), now() + 180)
                    }),
                _ => false,
            }
        });
    let Some(user) = claims.and_then(|c| p.user(c["sub"].as_str()?).cloned()) else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        )
            .into_response();
    };
    Json(user.claims()).into_response()
}

#[derive(Deserialize)]
struct EndSession {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
}

/// `GET /end_session` (RP-initiated logout 1.0): ends the provider session named by
/// `id_token_hint`, sends back-channel logout to every client of that session, then
/// redirects to a registered `post_logout_redirect_uri` or shows a page.
async fn end_session(State(p): P, Query(q): Query<EndSession>) -> Response {
    let hint = q.id_token_hint.as_deref().map(|t| {
        p.keys()
            .verify(t, "JWT")
            .filter(|c| c["iss"] == p.issuer.as_str())
    });
    let hint = match hint {
        Some(None) => {
            return pages::error(StatusCode::BAD_REQUEST, "The id_token_hint is not valid.");
        }
        Some(Some(c)) => Some(c),
        None => None,
    };
    let hinted = hint
        .as_ref()
        .and_then(|c| c["aud"].as_str().map(str::to_owned));
    if let (Some(a), Some(b)) = (&hinted, &q.client_id)
        && a != b
    {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "The client_id differs from the audience of the id_token_hint.",
        );
    }
    let client_id = hinted.or(q.client_id.clone());
    if let Some(uri) = &q.post_logout_redirect_uri {
        let registered = client_id
            .as_deref()
            .and_then(|id| p.client(id))
            .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|u| u == uri));
        if !registered {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "The post_logout_redirect_uri is not registered for this client.",
            );
        }
    }
    let frames = match hint.as_ref().and_then(|c| c["sid"].as_str()) {
        Some(sid) => p.end_sessions(|id, _| id == sid).await,
        None => Vec::new(),
    };
    if !frames.is_empty() {
        // Front-channel logout: the page loads each client's URI, then goes on.
        let then = q.post_logout_redirect_uri.as_deref().and_then(|uri| {
            let mut url = Url::parse(uri).ok()?;
            if let Some(state) = &q.state {
                url.query_pairs_mut().append_pair("state", state);
            }
            Some(url.to_string())
        });
        return pages::front_channel_logout(&frames, then.as_deref());
    }
    match q.post_logout_redirect_uri {
        Some(uri) => {
            let mut url = match Url::parse(&uri) {
                Ok(u) => u,
                Err(_) => return pages::error(StatusCode::BAD_REQUEST, "Bad redirect URI."),
            };
            if let Some(state) = &q.state {
                url.query_pairs_mut().append_pair("state", state);
            }
            Redirect::to(url.as_str()).into_response()
        }
        None => pages::signed_out(),
    }
}

impl Provider {
    pub(crate) fn keys(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn misbehaviour(&self) -> Misbehaviour {
        self.misbehaviour
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn grants(&self) -> std::sync::MutexGuard<'_, Grants> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn client(&self, id: &str) -> Option<&ClientRegistration> {
        self.clients.iter().find(|c| c.id == id)
    }

    pub(crate) fn user(&self, id: &str) -> Option<&TestUser> {
        self.users.iter().find(|u| u.id == id)
    }

    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            authorize_requests: get(&c.authorize),
            sign_ins: get(&c.sign_ins),
            token_requests: get(&c.token_requests),
            code_grants: get(&c.code_grants),
            refresh_grants: get(&c.refresh_grants),
            client_credentials_grants: get(&c.client_credentials_grants),
            token_errors: get(&c.token_errors),
            jwks_fetches: get(&c.jwks),
            userinfo_requests: get(&c.userinfo),
            backchannel_logouts_sent: get(&c.backchannel_sent),
            backchannel_logouts_failed: get(&c.backchannel_failed),
            client_secret_post_authentications: get(&c.secret_post),
            client_secret_basic_authentications: get(&c.secret_basic),
            revocations: get(&c.revocations),
            refresh_tokens_revoked: get(&c.refresh_tokens_revoked),
            introspections: get(&c.introspections),
        }
    }

    /// The user signed in: a provider session and a code, sent to the client.
    fn approve(&self, auth: Authorization, user: &str) -> Response {
        self.counters.sign_ins.fetch_add(1, Ordering::Relaxed);
        let with_iss = !auth.workos;
        let form_post = posts_the_response(&auth.params);
        let code = random_token(32);
        let sid = random_token(16);
        let t = now();
        let (redirect_uri, state) = (auth.redirect_uri.clone(), auth.state.clone());
        let mut grants = self.grants();
        grants.codes.retain(|_, c| c.expires > t);
        if grants.codes.len() >= MAX_PENDING || grants.sessions.len() >= MAX_SESSIONS {
            drop(grants);
            return self.error_redirect(
                &redirect_uri,
                state.as_deref(),
                "temporarily_unavailable",
                "too many sign-ins at once",
                form_post,
            );
        }
        grants.sessions.insert(
            sid.clone(),
            ProviderSession {
                user: user.to_owned(),
                clients: HashSet::from([auth.client_id.clone()]),
            },
        );
        grants.codes.insert(
            code.clone(),
            CodeGrant {
                auth,
                user: user.to_owned(),
                sid,
                auth_time: t,
                expires: t + CODE_TTL,
            },
        );
        drop(grants);
        let mut url = Url::parse(&redirect_uri).expect("registered redirect URIs are URLs");
        url.query_pairs_mut().append_pair("code", &code);
        self.finish_authorization_response(&mut url, state.as_deref(), with_iss);
        deliver(url, form_post)
    }

    fn error_redirect(
        &self,
        redirect_uri: &str,
        state: Option<&str>,
        error: &str,
        description: &str,
        form_post: bool,
    ) -> Response {
        self.error_redirect_as(redirect_uri, state, error, description, true, form_post)
    }

    /// An error sent to the client, with `iss` (RFC 9207) or without (WorkOS).
    fn error_redirect_as(
        &self,
        redirect_uri: &str,
        state: Option<&str>,
        error: &str,
        description: &str,
        with_iss: bool,
        form_post: bool,
    ) -> Response {
        let mut url = Url::parse(redirect_uri).expect("registered redirect URIs are URLs");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("error", error)
                .append_pair("error_description", description);
        }
        self.finish_authorization_response(&mut url, state, with_iss);
        deliver(url, form_post)
    }

    /// Adds `state` and `iss` (RFC 9207), unless told to misbehave.
    fn finish_authorization_response(&self, url: &mut Url, state: Option<&str>, with_iss: bool) {
        let m = self.misbehaviour();
        let mut q = url.query_pairs_mut();
        if let Some(s) = m.authorization_state.as_deref().or(state) {
            q.append_pair("state", s);
        }
        if !with_iss {
            return;
        }
        match m.authorization_iss {
            None => {
                q.append_pair("iss", &self.issuer);
            }
            Some(Some(other)) => {
                q.append_pair("iss", &other);
            }
            Some(None) => {}
        }
    }

    /// `client_secret_basic` or `client_secret_post` (not both), secrets compared in
    /// constant time.
    fn authenticate_client(
        &self,
        headers: &HeaderMap,
        form: &[(String, String)],
    ) -> Result<&ClientRegistration, &'static str> {
        let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        if let Some(assertion) = field("client_assertion") {
            return self.authenticate_assertion(
                &assertion,
                field("client_assertion_type"),
                field("client_id"),
            );
        }
        let basic = headers
            .get(header::AUTHORIZATION)
            .map(|v| {
                let v = v.to_str().ok()?.strip_prefix("Basic ")?;
                let decoded = String::from_utf8(B64_STD.decode(v).ok()?).ok()?;
                let (id, secret) = decoded.split_once(':')?;
                let unescape = |s: &str| {
                    url::form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                };
                Some((unescape(id)?, unescape(secret)?))
            })
            .map(|c| c.ok_or("malformed Basic credentials"))
            .transpose()?;
        let post = field("client_secret").map(|s| (field("client_id").unwrap_or_default(), s));
        let (id, secret, counter) = match (basic, post) {
            (Some(_), Some(_)) => return Err("use one client authentication method"),
            (Some((id, secret)), None) => (id, secret, &self.counters.secret_basic),
            (None, Some((id, secret))) => (id, secret, &self.counters.secret_post),
            (None, None) => return Err("client authentication is required"),
        };
        let client = self.client(&id).ok_or("unknown client")?;
        if client.jwks.is_some() {
            return Err("this client authenticates with private_key_jwt");
        }
        if bool::from(client.secret.as_bytes().ct_eq(secret.as_bytes())) {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(client)
        } else {
            Err("wrong client secret")
        }
    }

    /// A `private_key_jwt` client assertion (RFC 7523 §3): ES256 by one of the client's
    /// registered keys, `iss` = `sub` = the client, `aud` the issuer (or the token or
    /// PAR endpoint), unexpired, at most five minutes long, `jti` never seen.
    fn authenticate_assertion(
        &self,
        assertion: &str,
        kind: Option<String>,
        client_id: Option<String>,
    ) -> Result<&ClientRegistration, &'static str> {
        if kind.as_deref() != Some(crate::fapi::ASSERTION_TYPE) {
            return Err("unsupported client_assertion_type");
        }
        let unverified = crate::fapi::claims(assertion).ok_or("malformed client assertion")?;
        let id = unverified
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let client = self.client(id).ok_or("unknown client")?;
        if client_id.is_some_and(|c| c != client.id) {
            return Err("client_id is not the assertion's client");
        }
        let keys = client
            .jwks
            .as_ref()
            .and_then(|j| j.get("keys"))
            .and_then(Value::as_array)
            .ok_or("the client has no registered keys")?;
        let kid = crate::fapi::header(assertion)
            .and_then(|h| h.get("kid").and_then(Value::as_str).map(str::to_owned));
        let (_, claims) = keys
            .iter()
            .filter(|k| kid.is_none() || k.get("kid").and_then(Value::as_str) == kid.as_deref())
            .find_map(|k| crate::fapi::verify_es256(k, assertion))
            .ok_or("the client assertion is not signed by a registered key")?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        if text("sub") != Some(client.id.as_str()) {
            return Err("the client assertion's sub is not the client");
        }
        let audiences = [
            self.issuer.clone(),
            format!("{}/token", self.issuer),
            format!("{}/par", self.issuer),
        ];
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => audiences.contains(a),
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .any(|a| audiences.iter().any(|x| x == a)),
            _ => false,
        };
        if !aud_ok {
            return Err("the client assertion's aud is not this provider");
        }
        let t = now();
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        if exp <= t || exp > t + 300 {
            return Err("the client assertion is expired or too long-lived");
        }
        let jti = text("jti")
            .filter(|j| !j.is_empty())
            .ok_or("the client assertion has no jti")?;
        if !self
            .grants()
            .first_use(format!("assertion:{}:{jti}", client.id), exp)
        {
            return Err("the client assertion was used before");
        }
        Ok(client)
    }

    /// The token response: an ID token, a JWT access token (RFC 9068) and, with
    /// `offline_access`, a new refresh token.
    fn tokens(&self, grant: Issue<'_>) -> Result<Value, Refusal> {
        let Issue {
            client_id,
            user,
            sid,
            scope,
            auth_time,
            nonce,
            jkt,
        } = grant;
        let Some(u) = self.user(user) else {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "the user no longer exists",
            );
        };
        let t = now();
        let mut id = u.claims();
        let extra = json!({
            "iss": self.issuer, "aud": client_id, "azp": client_id,
            "iat": t, "exp": t + self.id_token_ttl.as_secs(), "auth_time": auth_time, "sid": sid,
        });
        merge(&mut id, extra);
        if let Some(n) = nonce {
            id["nonce"] = n.into();
        }
        let misbehaviour = self.misbehaviour();
        set_claims(&mut id, misbehaviour.id_token_claims);
        let signing = misbehaviour
            .id_token_signing
            .unwrap_or_else(|| self.signing_for(client_id));
        let access_ttl = self.access_token_ttl.as_secs();
        let access = self.access_token_bound(client_id, user, scope, access_ttl, jkt);
        let mut body = json!({
            "access_token": access,
            "token_type": if jkt.is_some() { "DPoP" } else { "Bearer" },
            "expires_in": access_ttl,
            "id_token": self.keys().sign(&signing, "JWT", &id),
            "scope": scope,
        });
        if scope.split(' ').any(|s| s == "offline_access") {
            let rt = random_token(32);
            let mut grants = self.grants();
            grants.refresh.retain(|_, g| g.expires > t);
            grants.refresh.insert(
                rt.clone(),
                RefreshGrant {
                    jkt: jkt.map(str::to_owned),
                    organization: None,
                    client_id: client_id.to_owned(),
                    user: user.to_owned(),
                    sid: sid.to_owned(),
                    scope: scope.to_owned(),
                    auth_time,
                    expires: t + self.refresh_token_ttl.as_secs(),
                },
            );
            body["refresh_token"] = rt.into();
        }
        Ok(body)
    }

    /// A JWT access token (`typ: at+jwt`) for `user`.
    pub(crate) fn access_token(
        &self,
        client_id: &str,
        user: &str,
        scope: &str,
        ttl: u64,
    ) -> String {
        self.access_token_bound(client_id, user, scope, ttl, None)
    }

    /// As [`Self::access_token`], bound to the DPoP key `jkt` (`cnf.jkt`) when given.
    fn access_token_bound(
        &self,
        client_id: &str,
        user: &str,
        scope: &str,
        ttl: u64,
        jkt: Option<&str>,
    ) -> String {
        let t = now();
        let aud = self.api_audience.as_deref().unwrap_or(client_id);
        let mut claims = json!({
            "iss": self.issuer, "sub": user, "aud": aud, "client_id": client_id,
            "scope": scope, "iat": t, "exp": t + ttl, "jti": random_token(16),
        });
        if let Some(jkt) = jkt {
            claims["cnf"] = json!({ "jkt": jkt });
        }
        let mut claims = self.access_token_claims(user, claims);
        set_claims(&mut claims, self.misbehaviour().access_token_claims);
        if self.opaque_access_tokens {
            let token = random_token(32);
            let mut grants = self.grants();
            grants
                .opaque
                .retain(|_, c| c["exp"].as_u64().is_some_and(|exp| exp > t));
            if grants.opaque.len() < MAX_SESSIONS {
                grants.opaque.insert(token.clone(), claims);
            }
            return token;
        }
        self.keys()
            .sign(&self.signing_for(client_id), "at+jwt", &claims)
    }

    /// How tokens for `client_id` are signed: PS256 for a client with registered keys
    /// (an enterprise client, which may follow FAPI 2.0 and refuse RS256), else RS256.
    fn signing_for(&self, client_id: &str) -> Signing {
        match self.client(client_id) {
            Some(c) if c.jwks.is_some() => Signing::Key(crate::keys::Alg::PS256),
            _ => Signing::default(),
        }
    }

    /// An access token's claims with the user's organization, roles and permissions.
    fn access_token_claims(&self, user: &str, mut claims: Value) -> Value {
        if let Some(u) = self.user(user) {
            merge(&mut claims, u.membership_claims());
            if !u.permissions.is_empty() {
                claims["permissions"] = u.permissions.clone().into();
            }
        }
        claims
    }

    /// Ends the provider sessions `pick` selects (by `sid` and user), revokes their
    /// refresh tokens and sends back-channel logout to every client that signed in
    /// with them, waiting for the answers; returns the front-channel logout URLs of
    /// the clients registered with one (for a page to load in iframes).
    pub(crate) async fn end_sessions(&self, pick: impl Fn(&str, &str) -> bool) -> Vec<String> {
        let ended: Vec<(String, ProviderSession)> = {
            let mut grants = self.grants();
            let sids: Vec<String> = grants
                .sessions
                .iter()
                .filter(|(sid, s)| pick(sid, &s.user))
                .map(|(sid, _)| sid.clone())
                .collect();
            let ended: Vec<_> = sids
                .into_iter()
                .filter_map(|sid| grants.sessions.remove(&sid).map(|s| (sid, s)))
                .collect();
            grants
                .refresh
                .retain(|_, g| !ended.iter().any(|(sid, _)| *sid == g.sid));
            ended
        };
        let mut frames = Vec::new();
        for (sid, session) in ended {
            for client_id in &session.clients {
                let front = self
                    .client(client_id)
                    .and_then(|c| c.frontchannel_logout_uri.as_deref())
                    .and_then(|uri| Url::parse(uri).ok());
                if let Some(mut url) = front {
                    url.query_pairs_mut()
                        .append_pair("iss", &self.issuer)
                        .append_pair("sid", &sid);
                    frames.push(url.to_string());
                }
                let Some(uri) = self
                    .client(client_id)
                    .and_then(|c| c.backchannel_logout_uri.clone())
                else {
                    continue;
                };
                let t = now();
                let token = self.keys().sign(
                    &Signing::default(),
                    "logout+jwt",
                    &json!({
                        "iss": self.issuer, "aud": client_id, "iat": t, "exp": t + 120,
                        "jti": random_token(16), "sub": session.user, "sid": sid,
                        "events": { BACKCHANNEL_EVENT: {} },
                    }),
                );
                let sent = self
                    .http
                    .post(&uri)
                    .form(&[("logout_token", token)])
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {
                        self.counters
                            .backchannel_sent
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        self.counters
                            .backchannel_failed
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            client_id,
                            status = ?other.as_ref().map(|r| r.status()).ok(),
                            "dev provider: back-channel logout was not accepted"
                        );
                    }
                }
            }
        }
        frames
    }
}

/// Sends the authorization response `url` carries to the client: a redirect, or with
/// `form_post` a page whose form the browser posts to the redirect URI (OAuth 2.0
/// Form Post Response Mode), the parameters in the body and none in the URL.
fn deliver(url: Url, form_post: bool) -> Response {
    if !form_post {
        return Redirect::to(url.as_str()).into_response();
    }
    // The redirect URI's own query stays; the response's parameters go in the form.
    let (fields, own): (Vec<_>, Vec<_>) = url
        .query_pairs()
        .into_owned()
        .partition(|(k, _)| fields_of_the_response(k));
    let mut action = url;
    action.set_query(None);
    if !own.is_empty() {
        action.query_pairs_mut().extend_pairs(own);
    }
    pages::form_post(action.as_str(), &fields)
}

fn fields_of_the_response(name: &str) -> bool {
    matches!(
        name,
        "code" | "state" | "iss" | "error" | "error_description"
    )
}

/// Keeps what a referee compares of a request to a token endpoint at `path`: its
/// content type, the names of its body's `fields` (with their text values, of which
/// only `grant_type` is kept) and its authorization scheme.
pub(crate) fn record(
    p: &Provider,
    path: &str,
    headers: &HeaderMap,
    fields: Vec<(String, Option<String>)>,
) {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let grant_type = fields
        .iter()
        .find(|(k, _)| k == "grant_type")
        .and_then(|(_, v)| v.clone());
    let mut names: Vec<String> = fields.into_iter().map(|(k, _)| k).collect();
    names.sort();
    let request = crate::RecordedRequest {
        method: "POST".into(),
        path: path.to_owned(),
        content_type: text(header::CONTENT_TYPE)
            .map(|t| t.split(';').next().unwrap_or_default().trim().to_owned()),
        fields: names,
        grant_type,
        authorization: text(header::AUTHORIZATION)
            .and_then(|a| a.split(' ').next().map(str::to_owned)),
    };
    let mut recorded = p.recorded.lock().unwrap_or_else(|e| e.into_inner());
    if recorded.len() >= crate::MAX_RECORDED {
        recorded.remove(0);
    }
    recorded.push(request);
}

/// Sets each claim to its value (`None`: removes it), as a misbehaviour says.
pub(crate) fn set_claims(claims: &mut Value, changes: Vec<(String, Option<Value>)>) {
    let Some(o) = claims.as_object_mut() else {
        return;
    };
    for (claim, value) in changes {
        match value {
            Some(v) => {
                o.insert(claim, v);
            }
            None => {
                o.remove(&claim);
            }
        }
    }
}

/// Adds every member of `extra` to `target`.
fn merge(target: &mut Value, extra: Value) {
    if let (Some(t), Value::Object(e)) = (target.as_object_mut(), extra) {
        t.extend(e);
    }
}

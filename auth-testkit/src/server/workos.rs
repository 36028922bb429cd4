//! WorkOS User Management, answered as WorkOS's API reference describes it, so that
//! `auth_core::Preset::workos_user_management_at` is tested end to end without an
//! account. What comes from the reference (the AuthKit "Authentication" and "Session
//! tokens" pages and `user_management.get_authorization_url`):
//! - `GET /user_management/authorize`: `response_type=code`, `client_id`,
//!   `redirect_uri`, and one way in: `provider` (`authkit`, `AppleOAuth`,
//!   `GitHubOAuth`, `GoogleOAuth`, `MicrosoftOAuth`), `connection_id` or
//!   `organization_id` (with `provider=authkit` at most); `screen_hint` (`sign-up`,
//!   `sign-in`) only for AuthKit; PKCE with `S256` only; `provider_scopes` may repeat.
//!   The answer carries `code` and `state`, no `iss`.
//! - `POST /user_management/authenticate` (JSON): `grant_type` `authorization_code`
//!   (`code`, `code_verifier`) or `refresh_token` (`refresh_token`, optionally
//!   `organization_id`), with `client_id` and the API key as `client_secret`. The
//!   answer is `user`, `organization_id`, `access_token`, `refresh_token`,
//!   `authentication_method`; no ID token, no `expires_in`. Refresh tokens are single
//!   use.
//! - The access token is a JWT signed by the keys at `/sso/jwks/<client_id>`, with
//!   `iss` (the API's base URL), `sub`, `sid`, `org_id`, `role`, `roles`,
//!   `permissions`, `jti`, `exp`, `iat`.
//! - `GET /user_management/sessions/logout?session_id=…&return_to=…` ends the session
//!   and sends the browser to `return_to` (one of the app's sign-out redirects).
//!
//! The error bodies (`{"error", "error_description"}`) are OAuth's, which is what the
//! authenticate endpoint answers for a bad code; the other checks are this provider's.

use super::*;

const PROVIDERS: [&str; 5] = [
    "authkit",
    "AppleOAuth",
    "GitHubOAuth",
    "GoogleOAuth",
    "MicrosoftOAuth",
];

pub(super) fn routes(router: Router<Arc<Provider>>) -> Router<Arc<Provider>> {
    router
        .route("/user_management/authorize", get(authorize))
        .route("/user_management/authenticate", post(authenticate))
        .route("/sso/jwks/{client_id}", get(jwks))
        .route("/user_management/sessions/logout", get(logout))
}

/// `GET /user_management/authorize`.
async fn authorize(State(p): P, Query(params): Query<Vec<(String, String)>>) -> Response {
    p.counters.authorize.fetch_add(1, Ordering::Relaxed);
    // `provider_scopes` is an array, one parameter per scope.
    let (client, redirect_uri) = match p.authorization_client(&params, &["provider_scopes"]) {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let get = |name: &str| param(&params, name);
    let state = get("state");
    let refuse = |error: &str, description: &str| {
        p.error_redirect_as(
            &redirect_uri,
            state.as_deref(),
            error,
            description,
            false,
            false,
        )
    };
    if get("response_type").as_deref() != Some("code") {
        return refuse(
            "unsupported_response_type",
            "The only valid response_type is code.",
        );
    }
    let provider = get("provider");
    let (connection, organization) = (get("connection_id"), get("organization_id"));
    if provider.is_none() && connection.is_none() && organization.is_none() {
        return refuse(
            "invalid_request",
            "Specify one of connection_id, organization_id or provider.",
        );
    }
    if provider.as_deref().is_some_and(|v| !PROVIDERS.contains(&v)) {
        return refuse("invalid_request", "Unknown provider.");
    }
    if connection.is_some() && (organization.is_some() || provider.is_some()) {
        return refuse(
            "invalid_request",
            "connection_id cannot be combined with organization_id or provider.",
        );
    }
    if organization.is_some() && provider.as_deref().is_some_and(|v| v != "authkit") {
        return refuse(
            "invalid_request",
            "organization_id goes with provider=authkit only.",
        );
    }
    let screen_hint = get("screen_hint");
    if let Some(hint) = &screen_hint {
        if !["sign-up", "sign-in"].contains(&hint.as_str()) {
            return refuse("invalid_request", "screen_hint is sign-up or sign-in.");
        }
        if provider.as_deref() != Some("authkit") {
            return refuse(
                "invalid_request",
                "screen_hint is only supported for the authkit provider.",
            );
        }
    }
    let code_challenge = match (
        get("code_challenge"),
        get("code_challenge_method").as_deref(),
    ) {
        (Some(c), Some("S256")) if c.len() == 43 => c,
        (None, None) => String::new(),
        _ => {
            return refuse(
                "invalid_request",
                "The only valid code_challenge_method is S256.",
            );
        }
    };
    let auth = Authorization {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.clone(),
        scope: String::new(),
        state: state.clone(),
        nonce: None,
        code_challenge,
        signup: screen_hint.as_deref() == Some("sign-up"),
        login_hint: get("login_hint"),
        params,
        created: now(),
        workos: true,
    };
    p.show_sign_in(client, auth)
}

#[derive(Deserialize)]
struct Authenticate {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    code: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    organization_id: Option<String>,
}

/// `POST /user_management/authenticate`.
async fn authenticate(State(p): P, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    p.counters.token_requests.fetch_add(1, Ordering::Relaxed);
    let fields = serde_json::from_slice::<serde_json::Map<String, Value>>(&body)
        .map(|o| {
            o.into_iter()
                .map(|(k, v)| (k, v.as_str().map(str::to_owned)))
                .collect()
        })
        .unwrap_or_default();
    super::record(&p, "/user_management/authenticate", &headers, fields);
    // The one token-endpoint fault WorkOS's endpoint plays: an answer of this status.
    if let Some(crate::TokenFault::Status(status, body)) = &p.misbehaviour().token {
        return super::status_answer(*status, body);
    }
    let Ok(request) = serde_json::from_slice::<Authenticate>(&body) else {
        return token_error(
            &p,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body is not a JSON object",
        );
    };
    match answer(&p, request) {
        Ok(v) => ([(header::CACHE_CONTROL, "no-store")], Json(v)).into_response(),
        Err(r) => token_error(&p, r.status, r.error, r.description),
    }
}

fn answer(p: &Provider, r: Authenticate) -> Result<Value, Refusal> {
    let client = r
        .client_id
        .as_deref()
        .and_then(|id| p.client(id))
        .ok_or(Refusal {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "unknown client_id",
        })?;
    let key_ok = r
        .client_secret
        .as_deref()
        .is_some_and(|s| bool::from(client.secret.as_bytes().ct_eq(s.as_bytes())));
    if !key_ok {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "the API key (client_secret) is wrong or missing",
        );
    }
    let t = now();
    let (user, sid, current) = match r.grant_type.as_deref() {
        Some("authorization_code") => {
            let grant = p
                .grants()
                .codes
                .remove(r.code.as_deref().unwrap_or_default());
            let Some(grant) = grant.filter(|g| g.expires > t && g.auth.workos) else {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the code has expired or is invalid",
                );
            };
            if grant.auth.client_id != client.id {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the code was issued to another client",
                );
            }
            if !grant.auth.code_challenge.is_empty() {
                let verifier = r.code_verifier.as_deref().unwrap_or_default();
                let challenge = B64.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
                if !bool::from(
                    challenge
                        .as_bytes()
                        .ct_eq(grant.auth.code_challenge.as_bytes()),
                ) {
                    return refuse(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "the code_verifier does not match the code_challenge",
                    );
                }
            }
            p.counters.code_grants.fetch_add(1, Ordering::Relaxed);
            (grant.user, grant.sid, None)
        }
        Some("refresh_token") => {
            let token = r.refresh_token.as_deref().unwrap_or_default();
            // A switch to an organization the user is not in is refused before the
            // refresh token is spent.
            let outsider = {
                let grants = p.grants();
                let user = grants.refresh.get(token).and_then(|g| p.user(&g.user));
                matches!((user, &r.organization_id), (Some(u), Some(o)) if !u.belongs_to(o))
            };
            if outsider {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the user is not a member of that organization",
                );
            }
            let grant = p.grants().refresh.remove(token);
            let Some(grant) = grant.filter(|g| g.expires > t && g.client_id == client.id) else {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the refresh token is invalid, used or revoked",
                );
            };
            p.counters.refresh_grants.fetch_add(1, Ordering::Relaxed);
            (grant.user, grant.sid, grant.organization)
        }
        _ => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "authorization_code and refresh_token are supported",
            );
        }
    };
    let Some(u) = p.user(&user) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the user no longer exists",
        );
    };
    // A refresh with `organization_id` switches to another of the user's
    // organizations; the session stays in it afterwards.
    let organization = match &r.organization_id {
        Some(asked) if !u.belongs_to(asked) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "the user is not a member of that organization",
            );
        }
        Some(asked) => Some(asked.clone()),
        None => current.or_else(|| u.organization.clone()),
    };
    let ttl = p.access_token_ttl.as_secs();
    let mut claims = json!({
        "iss": p.issuer, "sub": u.id, "sid": sid, "jti": random_token(16),
        "iat": t, "exp": t + ttl,
    });
    if let Some(org) = &organization {
        claims["org_id"] = org.as_str().into();
    }
    if let Some(role) = u.roles.first() {
        claims["role"] = role.as_str().into();
        claims["roles"] = u.roles.clone().into();
    }
    if !u.permissions.is_empty() {
        claims["permissions"] = u.permissions.clone().into();
    }
    // Misbehaviour: access token claims set or removed, as at the OpenID token endpoint.
    super::set_claims(&mut claims, p.misbehaviour().access_token_claims);
    let access_token = p.keys().sign(&Signing::default(), "JWT", &claims);
    let refresh_token = random_token(32);
    {
        let mut grants = p.grants();
        grants.refresh.retain(|_, g| g.expires > t);
        grants.refresh.insert(
            refresh_token.clone(),
            RefreshGrant {
                jkt: None,
                organization: organization.clone(),
                client_id: client.id.clone(),
                user: u.id.clone(),
                sid: sid.clone(),
                scope: String::new(),
                auth_time: t,
                expires: t + p.refresh_token_ttl.as_secs(),
            },
        );
    }
    let (first_name, last_name) = match u.name.as_deref().map(|n| n.split_once(' ')) {
        Some(Some((first, last))) => (Some(first.to_owned()), Some(last.to_owned())),
        Some(None) => (u.name.clone(), None),
        None => (None, None),
    };
    Ok(json!({
        "user": {
            "object": "user",
            "id": u.id,
            "email": u.email,
            "email_verified": u.email.is_some(),
            "first_name": first_name,
            "last_name": last_name,
            "profile_picture_url": null,
        },
        "organization_id": organization,
        "access_token": access_token,
        "refresh_token": refresh_token,
        "authentication_method": "Password",
    }))
}

/// `GET /sso/jwks/{client_id}`.
async fn jwks(
    State(p): P,
    axum::extract::Path(client_id): axum::extract::Path<String>,
) -> Response {
    p.counters.jwks.fetch_add(1, Ordering::Relaxed);
    if p.client(&client_id).is_none() {
        return (StatusCode::NOT_FOUND, "unknown client").into_response();
    }
    Json(p.keys().jwks()).into_response()
}

#[derive(Deserialize)]
struct Logout {
    session_id: Option<String>,
    return_to: Option<String>,
}

/// `GET /user_management/sessions/logout`: ends the session (its refresh tokens go
/// with it) and sends the browser to `return_to`, when it is one of a client's
/// sign-out redirects.
async fn logout(State(p): P, Query(q): Query<Logout>) -> Response {
    let Some(sid) = q.session_id.filter(|s| !s.is_empty()) else {
        return pages::error(StatusCode::BAD_REQUEST, "session_id is required.");
    };
    {
        let mut grants = p.grants();
        grants.sessions.remove(&sid);
        grants.refresh.retain(|_, g| g.sid != sid);
    }
    match q.return_to {
        Some(to)
            if p.clients
                .iter()
                .any(|c| c.post_logout_redirect_uris.contains(&to)) =>
        {
            Redirect::to(&to).into_response()
        }
        Some(_) => pages::error(
            StatusCode::BAD_REQUEST,
            "return_to is not one of the app's sign-out redirects.",
        ),
        None => pages::signed_out(),
    }
}

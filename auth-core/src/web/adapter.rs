//! What a web-framework adapter calls: every decision about a request is made here, so
//! that an adapter is trait impls and type conversions only.
//!
//! - [`RequestHead`]: the few things core reads from a request (method, path, headers)
//!   and the request's extensions, where the adapter's layer puts a [`RequestAuth`]
//!   (the [`Auth`] handle, and the user once resolved). An adapter implements it for
//!   its framework's request type.
//! - [`require_user`], [`optional_user`], [`require_bearer`], [`optional_bearer`]: the
//!   signed-in user or API caller of a request, or a [`Rejection`] to answer.
//! - [`Auth::routes`] and [`Auth::respond`]: the auth routes as one table (path,
//!   methods, body limit, [`Endpoint`]) and what each answers.
//!
//! A minimal adapter over plain `http` types, to show the whole contract:
//!
//! ```
//! use auth_core::adapter::{self, RequestHead};
//!
//! struct Req(http::request::Parts);
//!
//! impl RequestHead for Req {
//!     fn method(&self) -> &str {
//!         self.0.method.as_str()
//!     }
//!     fn path_and_query(&self) -> &str {
//!         self.0.uri.path_and_query().map_or("/", |p| p.as_str())
//!     }
//!     fn header_values(&self, name: &'static str) -> impl Iterator<Item = &[u8]> {
//!         self.0.headers.get_all(name).iter().map(|v| v.as_bytes())
//!     }
//!     fn extension<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
//!         self.0.extensions.get::<T>().cloned()
//!     }
//!     fn insert_extension<T: Clone + Send + Sync + 'static>(&mut self, value: T) {
//!         self.0.extensions.insert(value);
//!     }
//!     fn update_extension<T: Clone + Send + Sync + 'static>(&mut self, f: impl FnOnce(&mut T)) {
//!         self.0.extensions.get_mut::<T>().map(f);
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let (parts, ()) = http::Request::get("/me").body(()).unwrap().into_parts();
//! let mut req = Req(parts);
//! // No `RequestAuth` in the extensions: the adapter's layer is missing, a 500 for the app's
//! // developer, never a redirect.
//! let rejection = adapter::require_user(&mut req).await.unwrap_err();
//! assert_eq!(rejection.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
//! assert!(rejection.is_missing_layer());
//! # }
//! ```

/// What every adapter crate re-exports from core (`pub use auth_core::adapter::shared::*;`):
/// the handle and its configuration, the signed-in session and its claims, login
/// options, bearer callers, and the requirements of guarded routes. One list, so the
/// adapters offer the same names.
pub mod shared {
    pub use crate::web::adapter::{Policy, Requirement};
    pub use crate::{
        Auth, AuthConfig, AuthSession, BearerAuth, BearerError, Claims, LoginOptions, Prompt,
    };
}

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method, Response, StatusCode, Uri};

use crate::auth::Auth;
use crate::bearer::{BearerAuth, BearerError};
use crate::flow::authenticate::Authenticated;
use crate::session::AuthSession;

/// A request as core reads it. Implement it for a framework's request type; every
/// method is a plain accessor.
pub trait RequestHead {
    /// The method, as sent (`"GET"`, `"POST"`...).
    fn method(&self) -> &str;

    /// The path and query as the client sent them (before any router nesting removed a
    /// prefix): the `return_to` of a login started here.
    fn path_and_query(&self) -> &str;

    /// Every value of the header `name` (lowercase), in order.
    fn header_values(&self, name: &'static str) -> impl Iterator<Item = &[u8]>;

    /// Every `Cookie` header value, in order: what the session id is read from, on
    /// every request through an extractor. The default is `header_values("cookie")`;
    /// an adapter overrides it with its framework's constant header name, so that no
    /// name is parsed per request.
    fn cookie_values(&self) -> impl Iterator<Item = &[u8]> {
        self.header_values("cookie")
    }

    /// A value of the request's extensions (the [`RequestAuth`] put there by the
    /// adapter's layer).
    fn extension<T: Clone + Send + Sync + 'static>(&self) -> Option<T>;

    /// Keeps `value` in the request's extensions for later extractors.
    fn insert_extension<T: Clone + Send + Sync + 'static>(&mut self, value: T);

    /// Changes the value of type `T` in the request's extensions, if there is one.
    /// Override it to change the value in place (the default reads a copy and inserts
    /// it again).
    fn update_extension<T: Clone + Send + Sync + 'static>(&mut self, change: impl FnOnce(&mut T)) {
        if let Some(mut value) = self.extension::<T>() {
            change(&mut value);
            self.insert_extension(value);
        }
    }
}

/// What the adapter's layer puts in each request's extensions: the [`Auth`] handle,
/// and once an extractor or guard resolved them, the signed-in user and the API caller
/// (a second extractor of the same request finds them there). One entry for all
/// three: resolving the user changes it in place, with no allocation of its own (an
/// entry of its own was a fifth of the signed-in request's cost, PERFORMANCE.md).
#[derive(Clone, Debug)]
pub struct RequestAuth {
    auth: Auth,
    user: Option<Arc<AuthSession>>,
    caller: Option<Arc<BearerAuth>>,
}

impl RequestAuth {
    /// What the layer inserts for a request served with `auth`.
    pub fn new(auth: Auth) -> Self {
        Self {
            auth,
            user: None,
            caller: None,
        }
    }

    /// The handle.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }
}

/// Why a request was not let through, and what to answer: [`Rejection::status`],
/// [`Rejection::body_text`] and [`Rejection::headers`] are the response, which
/// [`Rejection::into_response`] hands over whole. The body never holds a secret or
/// anything the request sent.
#[derive(Debug)]
pub struct Rejection(Box<RejectionInner>);

#[derive(Debug)]
struct RejectionInner {
    reason: Reason,
    response: Response<String>,
}

/// The reasons a [`Rejection`] can have.
#[derive(Debug)]
enum Reason {
    SignInRequired,
    Unavailable,
    MissingLayer,
    Bearer(BearerError),
    Forbidden,
    StepUpRequired,
}

impl Rejection {
    fn new(reason: Reason, response: Response<String>) -> Self {
        Self(Box::new(RejectionInner { reason, response }))
    }

    fn missing_layer(what: &str) -> Self {
        tracing::error!(
            "{what} used on a route without the auth layer: add the adapter's layer or middleware (auth_layer / auth_middleware) around it"
        );
        let mut response = Response::new("sign-in is not set up for this route".to_owned());
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        Self::new(Reason::MissingLayer, response)
    }

    fn bearer(error: BearerError) -> Self {
        let response = error.to_response();
        Self::new(Reason::Bearer(error), response)
    }

    /// The status to answer: a redirect (303) to login, 401, 403, 400, 503, or 500 when
    /// the adapter's layer is missing.
    pub fn status(&self) -> StatusCode {
        self.0.response.status()
    }

    /// The body to answer (JSON for API clients, empty for a redirect).
    pub fn body_text(&self) -> &str {
        self.0.response.body()
    }

    /// The headers to answer (`Location`, `WWW-Authenticate`, `Content-Type`...).
    pub fn headers(&self) -> &HeaderMap {
        self.0.response.headers()
    }

    /// Where a browser is sent (the login route, with `return_to`), for a redirect.
    pub fn redirect_target(&self) -> Option<&str> {
        self.0
            .response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }

    /// No valid session (a browser is sent to login, an API client gets 401).
    pub fn is_sign_in_required(&self) -> bool {
        matches!(self.0.reason, Reason::SignInRequired)
    }

    /// The session or token cannot be checked now (session store or provider down).
    pub fn is_unavailable(&self) -> bool {
        matches!(self.0.reason, Reason::Unavailable)
            || matches!(self.0.reason, Reason::Bearer(BearerError::Unavailable(_)))
    }

    /// The adapter's layer (which puts the [`Auth`] handle in the request) is missing:
    /// a mistake in the app's setup.
    pub fn is_missing_layer(&self) -> bool {
        matches!(self.0.reason, Reason::MissingLayer)
    }

    /// Why a bearer token was refused, for the bearer entry points.
    pub fn bearer_error(&self) -> Option<&BearerError> {
        match &self.0.reason {
            Reason::Bearer(e) => Some(e),
            Reason::SignInRequired
            | Reason::Unavailable
            | Reason::MissingLayer
            | Reason::Forbidden
            | Reason::StepUpRequired => None,
        }
    }

    /// Why a bearer entry point ([`require_bearer`], [`optional_bearer`]) refused: the
    /// token's [`BearerError`], or [`BearerError::NotConfigured`] when the adapter's
    /// layer is missing (the app cannot check bearer tokens). What an adapter's bearer
    /// rejection reports.
    pub fn bearer_refusal(&self) -> &BearerError {
        self.bearer_error().unwrap_or(&BearerError::NotConfigured)
    }

    /// Signed in, but without the role, permission or organization the route
    /// requires (403).
    pub fn is_forbidden(&self) -> bool {
        matches!(self.0.reason, Reason::Forbidden)
    }

    /// Signed in, but not recently enough or not strongly enough (`max_age`,
    /// `acr_values`): a browser is sent through login again, an API client gets 401
    /// `insufficient_user_authentication` (RFC 9470).
    pub fn is_step_up_required(&self) -> bool {
        matches!(self.0.reason, Reason::StepUpRequired)
    }

    /// The whole response.
    pub fn into_response(self) -> Response<String> {
        self.0.response
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0.reason {
            Reason::SignInRequired => f.write_str("sign-in required"),
            Reason::Unavailable => f.write_str("the session cannot be checked now"),
            Reason::MissingLayer => f.write_str("the auth layer is missing"),
            Reason::Bearer(e) => e.fmt(f),
            Reason::Forbidden => f.write_str("the user lacks what the route requires"),
            Reason::StepUpRequired => f.write_str("a more recent or stronger sign-in is required"),
        }
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.reason {
            Reason::Bearer(e) => Some(e),
            Reason::SignInRequired
            | Reason::Unavailable
            | Reason::MissingLayer
            | Reason::Forbidden
            | Reason::StepUpRequired => None,
        }
    }
}

/// The signed-in user of the request, resolved once per request (kept in its
/// extensions): the session is loaded, checked and refreshed if needed. Without one,
/// the rejection sends a browser to login (with `return_to`) and gives an API client
/// 401; 503 when the session cannot be checked now.
pub async fn require_user(req: &mut impl RequestHead) -> Result<Arc<AuthSession>, Rejection> {
    match resolve_user(req, "AuthUser").await? {
        (_, Ok(user)) => Ok(user),
        (auth, Err(outcome)) => Err(reject_user(&auth, req, &outcome)),
    }
}

/// The signed-in user of the request, or `None` without a valid session. A session
/// that cannot be checked now is still a 503 rejection, so a signed-in user is never
/// shown a signed-out page by mistake.
pub async fn optional_user(
    req: &mut impl RequestHead,
) -> Result<Option<Arc<AuthSession>>, Rejection> {
    match resolve_user(req, "Option<AuthUser>").await? {
        (_, Ok(user)) => Ok(Some(user)),
        (auth, Err(outcome @ Authenticated::Unavailable)) => Err(reject_user(&auth, req, &outcome)),
        (_, Err(Authenticated::Anonymous | Authenticated::User(_))) => Ok(None),
    }
}

/// Refuses a state-changing request (any method but `GET`, `HEAD` and `OPTIONS`) that
/// another site started: an `Origin` other than the app's (`null` included), or
/// `Sec-Fetch-Site` other than `same-origin`. A request with neither header (a
/// script, an API client) passes: a browser sends them on cross-site requests. The
/// rejection is 403, page code `cross_site_request` (JSON `{"error":
/// "cross_site_request"}` for an API client). Use it on the app's own state-changing
/// routes (the auth routes check themselves).
pub fn require_same_origin(req: &impl RequestHead) -> Result<(), Rejection> {
    if matches!(req.method(), "GET" | "HEAD" | "OPTIONS") {
        return Ok(());
    }
    let Some(auth) = auth_of(req) else {
        return Err(Rejection::missing_layer("the same-origin check"));
    };
    let app_origin = auth.config().app_url().origin().ascii_serialization();
    let origin_ok = req
        .header_values("origin")
        .all(|o| o == app_origin.as_bytes());
    let site_ok = req
        .header_values("sec-fetch-site")
        .all(|s| s == b"same-origin");
    if origin_ok && site_ok {
        return Ok(());
    }
    tracing::warn!(method = req.method(), "a cross-site request refused");
    let headers = request_headers(req, &["accept", "x-requested-with", "sec-fetch-mode"]);
    let response = auth.error_response(
        &headers,
        StatusCode::FORBIDDEN,
        "cross_site_request",
        "The request was not confirmed",
        "Another site sent this request. Use this site's own pages.",
    );
    Err(Rejection::new(Reason::Forbidden, response))
}

/// The signed-in user with the app's data ([`AuthSession::app_data`]) read as `T`. A
/// session whose data does not read as `T` (stored by an older version of the app),
/// or has none, is signed out cleanly: it is ended and the request is answered as for
/// no session (a browser to login, 401 for an API client), never a 500.
pub async fn require_app_user<T: serde::de::DeserializeOwned>(
    req: &mut impl RequestHead,
) -> Result<(Arc<AuthSession>, T), Rejection> {
    let user = require_user(req).await?;
    match user.app_data::<T>() {
        Ok(Some(data)) => Ok((user, data)),
        unreadable => {
            let auth = auth_of(req).ok_or_else(|| Rejection::missing_layer("the app data"))?;
            if let Err(e) = unreadable {
                tracing::warn!(error = %e, "a session's app data does not read: it is signed out");
            } else {
                tracing::warn!("a session without the app's data: it is signed out");
            }
            let id = auth.session_id(req.cookie_values());
            let (_, ended, _) = auth.end_session_quietly(id.as_ref()).await;
            if let Err(e) = ended {
                tracing::error!(error = %e, "could not end the session");
                return Err(reject_user(&auth, req, &Authenticated::Unavailable));
            }
            Err(reject_user(&auth, req, &Authenticated::Anonymous))
        }
    }
}

/// What a route requires of its signed-in user beyond being signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requirement {
    /// The role ([`AuthSession::roles`]), from whichever provider signed the user in.
    ///
    /// A role is what the provider's administrators grant: with a multi-tenant provider
    /// (Entra's `common` or `organizations` without allowed tenants) every tenant's
    /// own administrators grant it. Scope it with [`Requirement::role_from`] or
    /// [`Requirement::role_in`] unless every provider's administrators are trusted.
    Role(String),
    /// The role, granted by the provider of this id ([`AuthSession::provider`]).
    RoleFrom {
        /// The provider's id (`None`: the one provider of a single-provider app).
        provider: Option<String>,
        /// The role.
        role: String,
    },
    /// The role, held in this organization ([`AuthSession::organization`]).
    RoleIn {
        /// The organization.
        organization: String,
        /// The role.
        role: String,
    },
    /// The permission ([`AuthSession::permissions`]).
    Permission(String),
    /// Membership of the organization ([`AuthSession::organization`]).
    Organization(String),
    /// Authenticated at the provider within this long ([`AuthSession::auth_time`]);
    /// else the user signs in again with `max_age`.
    SignedInWithin(Duration),
    /// Authenticated with one of these `acr` values; else the user signs in again with
    /// `acr_values`.
    Acr(Vec<String>),
    /// A session-authenticated API route of a single-page app: the request carries the
    /// anti-forgery header (`X-CSRF: 1` by default,
    /// [`with_anti_forgery_header`](crate::AuthConfigBuilder::with_anti_forgery_header)),
    /// else 403 `{"error": "csrf_header_required"}`; without a session 401
    /// `{"error": "not_signed_in"}`; never a redirect. It is a property of the request,
    /// checked by [`require`]; [`Requirement::is_met_by`], which cannot see it, says
    /// no.
    AntiForgeryHeader,
}

impl Requirement {
    /// The role `role`.
    pub fn role(role: impl Into<String>) -> Self {
        Self::Role(role.into())
    }

    /// The role `role`, granted by the provider `provider` (its id; `None` for the one
    /// provider of a single-provider app): a role from another provider does not count.
    pub fn role_from(provider: Option<&str>, role: impl Into<String>) -> Self {
        Self::RoleFrom {
            provider: provider.map(str::to_owned),
            role: role.into(),
        }
    }

    /// The role `role`, held in `organization`: the user's session must be in that
    /// organization (a tenant's own administrators cannot grant it elsewhere).
    pub fn role_in(organization: impl Into<String>, role: impl Into<String>) -> Self {
        Self::RoleIn {
            organization: organization.into(),
            role: role.into(),
        }
    }

    /// The permission `permission`.
    pub fn permission(permission: impl Into<String>) -> Self {
        Self::Permission(permission.into())
    }

    /// Membership of `organization`.
    pub fn organization(organization: impl Into<String>) -> Self {
        Self::Organization(organization.into())
    }

    /// A sign-in within `max_age`, by the provider's `auth_time`: a session whose
    /// tokens carry no `auth_time` does not meet it (whenever it began), and goes to
    /// step-up, whose login asks for `max_age` and so demands `auth_time`.
    pub fn signed_in_within(max_age: Duration) -> Self {
        Self::SignedInWithin(max_age)
    }

    /// A sign-in with one of `values` as its `acr`.
    pub fn acr<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Acr(values.into_iter().map(Into::into).collect())
    }

    /// The anti-forgery header on a session-authenticated API route
    /// ([`Requirement::AntiForgeryHeader`]).
    pub fn anti_forgery_header() -> Self {
        Self::AntiForgeryHeader
    }

    /// Whether `user` meets it, at `now`.
    pub fn is_met_by(&self, user: &AuthSession, now: std::time::SystemTime) -> bool {
        match self {
            // The request's (checked by `require`): a user alone never meets it.
            Self::AntiForgeryHeader => false,
            Self::Role(role) => user.has_role(role),
            Self::RoleFrom { provider, role } => {
                user.provider() == provider.as_deref() && user.has_role(role)
            }
            Self::RoleIn { organization, role } => {
                user.organization() == Some(organization.as_str()) && user.has_role(role)
            }
            Self::Permission(permission) => user.has_permission(permission),
            Self::Organization(org) => user.organization() == Some(org.as_str()),
            Self::SignedInWithin(max_age) => {
                // Only the provider's `auth_time` says when the user last proved who
                // they are: a session begins without one after an SSO sign-in that
                // asked for nothing, so without it the requirement is not met (the
                // step-up login with `max_age` then demands it).
                let Some(auth_time) = user.access.auth_time else {
                    return false;
                };
                // In whole seconds, as tokens carry times; a sign-in dated after
                // `now` (clock skew) counts as just now.
                match now.duration_since(crate::clock::at_epoch_secs(auth_time)) {
                    Ok(age) => age.as_secs() <= max_age.as_secs(),
                    Err(_) => true,
                }
            }
            Self::Acr(values) => user
                .acr()
                .is_some_and(|acr| values.iter().any(|v| v == acr)),
        }
    }
}

/// A requirement named by a type, for the adapters' `Authorized<P>` extractors:
///
/// ```
/// use auth_core::adapter::{Policy, Requirement};
/// struct Admins;
/// impl Policy for Admins {
///     fn requirement() -> Requirement {
///         Requirement::role("admin")
///     }
/// }
/// ```
pub trait Policy: Send + Sync + 'static {
    /// What the route requires.
    fn requirement() -> Requirement;
}

/// The signed-in user of the request if they meet `requirement`. Else: anonymous as
/// [`require_user`]; without the role, permission or organization, 403 (JSON for an
/// API client, a small page for a browser); not recently or strongly enough signed in,
/// a browser is sent through login again with `max_age` or `acr_values` (and
/// `return_to`), an API client gets 401 with `WWW-Authenticate: Bearer
/// error="insufficient_user_authentication"` and the `max_age` or `acr_values` it
/// needs (RFC 9470).
pub async fn require(
    req: &mut impl RequestHead,
    requirement: &Requirement,
) -> Result<Arc<AuthSession>, Rejection> {
    if *requirement == Requirement::AntiForgeryHeader {
        return require_api_session(req).await;
    }
    let user = require_user(req).await?;
    let Some(auth) = auth_of(req) else {
        return Err(Rejection::missing_layer("a requirement"));
    };
    if requirement.is_met_by(&user, auth.config().clock.now()) {
        return Ok(user);
    }
    let headers = request_headers(
        req,
        &[
            "accept",
            "authorization",
            "x-requested-with",
            "sec-fetch-mode",
        ],
    );
    match requirement {
        Requirement::Role(_)
        | Requirement::RoleFrom { .. }
        | Requirement::RoleIn { .. }
        | Requirement::Permission(_)
        | Requirement::Organization(_) => {
            tracing::info!(requirement = ?requirement, "signed-in user refused: requirement not met");
            Err(Rejection::new(
                Reason::Forbidden,
                auth.forbidden_response(&headers),
            ))
        }
        // Met by every user (`require_api_session` answered above).
        Requirement::AntiForgeryHeader => Ok(user),
        Requirement::SignedInWithin(_) | Requirement::Acr(_) => {
            let method = Method::from_bytes(req.method().as_bytes()).unwrap_or(Method::GET);
            let uri = http::Uri::try_from(req.path_and_query())
                .unwrap_or_else(|_| http::Uri::from_static("/"));
            Err(Rejection::new(
                Reason::StepUpRequired,
                auth.step_up_response(&method, &uri, &headers, requirement, user.provider()),
            ))
        }
    }
}

/// A session-authenticated API request ([`Requirement::AntiForgeryHeader`]): the
/// anti-forgery header first (403), then the session (401, 503), answered in JSON.
async fn require_api_session(req: &mut impl RequestHead) -> Result<Arc<AuthSession>, Rejection> {
    let Some(auth) = auth_of(req) else {
        return Err(Rejection::missing_layer(
            "the anti-forgery header requirement",
        ));
    };
    let (name, value) = auth.config().anti_forgery.clone();
    let carried = {
        let mut sent = req.header_values(name);
        matches!((sent.next(), sent.next()), (Some(v), None) if v == value.as_bytes())
    };
    if !carried {
        tracing::info!(header = %name, "an API request without the anti-forgery header refused");
        return Err(Rejection::new(
            Reason::Forbidden,
            api_error(StatusCode::FORBIDDEN, "csrf_header_required"),
        ));
    }
    match resolve_user(req, "the anti-forgery header requirement").await? {
        (_, Ok(user)) => Ok(user),
        (_, Err(Authenticated::Unavailable)) => Err(Rejection::new(
            Reason::Unavailable,
            api_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"),
        )),
        (_, Err(Authenticated::Anonymous | Authenticated::User(_))) => Err(Rejection::new(
            Reason::SignInRequired,
            api_error(StatusCode::UNAUTHORIZED, "not_signed_in"),
        )),
    }
}

/// `{"error": code}` with `status`, never cached.
fn api_error(status: StatusCode, code: &str) -> Response<String> {
    let mut r = Response::new(serde_json::json!({ "error": code }).to_string());
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    r
}

/// The user already resolved for this request by an extractor or guard, if any.
pub fn resolved_user(req: &impl RequestHead) -> Option<Arc<AuthSession>> {
    req.extension::<RequestAuth>().and_then(|r| r.user)
}

/// The [`Auth`] handle the adapter's layer put in the request.
pub fn auth_of(req: &impl RequestHead) -> Option<Auth> {
    req.extension::<RequestAuth>().map(|r| r.auth)
}

type UserOutcome = (Auth, Result<Arc<AuthSession>, Authenticated>);

async fn resolve_user(req: &mut impl RequestHead, what: &str) -> Result<UserOutcome, Rejection> {
    let Some(RequestAuth { auth, user, .. }) = req.extension::<RequestAuth>() else {
        return Err(Rejection::missing_layer(what));
    };
    if let Some(user) = user {
        return Ok((auth, Ok(user)));
    }
    let id = auth.session_id(req.cookie_values());
    match auth.authenticate(id.as_ref()).await {
        Authenticated::User(user) => {
            req.update_extension(|r: &mut RequestAuth| r.user = Some(Arc::clone(&user)));
            Ok((auth, Ok(user)))
        }
        other @ (Authenticated::Anonymous | Authenticated::Unavailable) => Ok((auth, Err(other))),
    }
}

fn reject_user(auth: &Auth, req: &impl RequestHead, outcome: &Authenticated) -> Rejection {
    let headers = request_headers(
        req,
        &[
            "accept",
            "authorization",
            "x-requested-with",
            "sec-fetch-mode",
        ],
    );
    match outcome {
        Authenticated::Unavailable => {
            Rejection::new(Reason::Unavailable, auth.unavailable_response(&headers))
        }
        Authenticated::Anonymous | Authenticated::User(_) => {
            let method = Method::from_bytes(req.method().as_bytes()).unwrap_or(Method::GET);
            let uri = http::Uri::try_from(req.path_and_query())
                .unwrap_or_else(|_| http::Uri::from_static("/"));
            Rejection::new(
                Reason::SignInRequired,
                auth.unauthenticated_response(&method, &uri, &headers),
            )
        }
    }
}

/// The named headers of a request as an `http` header map (for building an answer;
/// the signed-in path never converts headers).
fn request_headers(req: &impl RequestHead, names: &[&'static str]) -> HeaderMap {
    let mut out = HeaderMap::new();
    for &name in names {
        for value in req.header_values(name) {
            if let Ok(v) = http::HeaderValue::from_bytes(value) {
                out.append(name, v);
            }
        }
    }
    out
}

/// The API caller of the request, from its `Authorization: Bearer` access token,
/// resolved once per request. Without a bearer token, or with a bad one, the rejection
/// is the RFC 6750 answer (401 with `WWW-Authenticate: Bearer`, 400, 403, 503).
pub async fn require_bearer(req: &mut impl RequestHead) -> Result<Arc<BearerAuth>, Rejection> {
    match resolve_bearer(req, "BearerUser").await? {
        Some(caller) => Ok(caller),
        None => Err(Rejection::bearer(BearerError::Missing)),
    }
}

/// The API caller of the request, or `None` without an `Authorization: Bearer`
/// header. A bad token is still refused, never taken as anonymous.
pub async fn optional_bearer(
    req: &mut impl RequestHead,
) -> Result<Option<Arc<BearerAuth>>, Rejection> {
    resolve_bearer(req, "Option<BearerUser>").await
}

async fn resolve_bearer(
    req: &mut impl RequestHead,
    what: &str,
) -> Result<Option<Arc<BearerAuth>>, Rejection> {
    let Some(RequestAuth { auth, caller, .. }) = req.extension::<RequestAuth>() else {
        return Err(Rejection::missing_layer(what));
    };
    if let Some(caller) = caller {
        return Ok(Some(caller));
    }
    let (scheme, token) = match Auth::access_credential(req.header_values("authorization")) {
        Ok(Some(credential)) => credential,
        Ok(None) => return Ok(None),
        Err(e) => {
            crate::telemetry::bearer(BearerError::outcome::<()>(Err(&e)));
            return Err(Rejection::bearer(e));
        }
    };
    let caller = match scheme {
        crate::bearer::Scheme::Bearer => auth.authenticate_bearer(token).await,
        crate::bearer::Scheme::Dpop => {
            let mut proofs = req.header_values("dpop");
            let proof = match (proofs.next(), proofs.next()) {
                (Some(proof), None) => std::str::from_utf8(proof).ok(),
                _ => None,
            };
            // The URL as the app is reached: behind a proxy the Host header is the
            // proxy's business, APP_URL is the app's.
            let mut url = auth.config().app_url().clone();
            url.set_path(req.path_and_query().split('?').next().unwrap_or("/"));
            url.set_query(None);
            auth.authenticate_dpop(token, proof, req.method(), url.as_str())
                .await
        }
    }
    .map_err(Rejection::bearer)?;
    req.update_extension(|r: &mut RequestAuth| r.caller = Some(Arc::clone(&caller)));
    Ok(Some(caller))
}

/// A caller's token lacks a scope: the RFC 6750 `insufficient_scope` rejection (403).
pub fn require_scopes<S: AsRef<str>>(caller: &BearerAuth, scopes: &[S]) -> Result<(), Rejection> {
    caller.require_scopes(scopes).map_err(Rejection::bearer)
}

/// One of the auth routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `GET {prefix}/login`: starts a login at the provider.
    Login,
    /// `GET {prefix}/signup`: starts a login on the provider's sign-up screen.
    Signup,
    /// `GET {prefix}/callback` (and `POST` for a `form_post` provider): the
    /// provider's authorization response.
    Callback,
    /// `GET`, `POST` and `HEAD {prefix}/logout`: ends the session, then the
    /// provider's, when the app itself asked (a same-origin request).
    Logout,
    /// `POST {prefix}/backchannel-logout`: a logout token from the provider.
    BackchannelLogout,
    /// `GET {prefix}/login/{id}`: starts a login at one provider of several.
    LoginAt(ProviderSlot),
    /// `GET {prefix}/signup/{id}`: starts a sign-up at one provider of several.
    SignupAt(ProviderSlot),
    /// `GET {prefix}/callback/{id}` (and `POST` for a `form_post` provider): that
    /// provider's authorization response.
    CallbackAt(ProviderSlot),
    /// `POST {prefix}/backchannel-logout/{id}`: a logout token from that provider.
    BackchannelLogoutAt(ProviderSlot),
    /// `GET {prefix}/frontchannel-logout?iss=..&sid=..`: the provider's logout page
    /// loading the app in an iframe.
    FrontchannelLogout,
    /// `GET {prefix}/frontchannel-logout/{id}?iss=..&sid=..`: that provider's.
    FrontchannelLogoutAt(ProviderSlot),
    /// `GET {prefix}/jwks`: the public keys of the app's `private_key_jwt` keys.
    Jwks,
    /// `POST {prefix}/organization`: switches a WorkOS User Management session to
    /// another of the user's organizations (only with such a provider).
    SwitchOrganization,
    /// `GET {prefix}/health`: readiness ([`Auth::health`]).
    Health,
    /// `GET {prefix}/user`: the signed-in user as JSON for a single-page app (401 JSON
    /// without a session, never a redirect).
    User,
}

/// Which provider of several a route belongs to: the one its `{id}` path segment names,
/// read from each request's path (only [`Auth::routes`] makes them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProviderSlot(());

/// An auth route: where it is, which methods it answers, the largest body it reads,
/// and which [`Endpoint`] answers it ([`Auth::respond`]).
#[derive(Clone, Debug)]
pub struct Route {
    path: String,
    methods: &'static [Method],
    endpoint: Endpoint,
}

impl Route {
    /// The whole path, prefix included (`/auth/login`). A `{id}` segment
    /// (`/auth/login/{id}`) matches any one segment, as axum's and actix-web's route
    /// syntax say: the provider is the one that segment names, and an id of no provider
    /// gets 404 `unknown_provider`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The methods it answers (any other gets 405 from the framework).
    pub fn methods(&self) -> &'static [Method] {
        self.methods
    }

    /// What answers it.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    /// The largest request body read; a larger one gets 413 from the framework
    /// without being read.
    pub fn body_limit(&self) -> usize {
        MAX_BODY_BYTES
    }
}

/// The largest body an auth route reads (a back-channel logout token is a few KiB).
pub(crate) const MAX_BODY_BYTES: usize = 32 * 1024;

const GET: &[Method] = &[Method::GET];
const POST: &[Method] = &[Method::POST];
const LOGOUT: &[Method] = &[Method::GET, Method::POST, Method::HEAD];
/// A `form_post` provider's callback: the browser posts the response; a `GET` is
/// still answered (an early error, or a refusal naming the mix of modes).
const FORM_POST_CALLBACK: &[Method] = &[Method::GET, Method::POST];

/// The methods of the one provider's callback route.
fn callback_methods(p: &crate::ProviderConfig) -> &'static [Method] {
    match p.response_mode() {
        crate::ResponseMode::FormPost => FORM_POST_CALLBACK,
        _ => GET,
    }
}

impl Auth {
    /// The auth routes, under the configured prefix. An adapter registers each one
    /// with its methods and body limit, and answers it with [`Auth::respond`].
    ///
    /// Every app: `health`, `user`, `jwks`, `login`, `signup` and `logout`, and for each
    /// named provider (of the configuration, or added while the app runs) one route of
    /// each kind, its id a path segment: `login/{id}`, `signup/{id}`, `callback/{id}`
    /// (GET, and POST for a `form_post` provider), `backchannel-logout/{id}` and
    /// `frontchannel-logout/{id}` (a distinct redirect URI per provider is RFC 9700's
    /// defence against mix-up). With one unnamed provider, its `callback`,
    /// `backchannel-logout` and `frontchannel-logout` too; with several, `login` and
    /// `signup` are the chooser. `organization` with a WorkOS User Management provider.
    /// The table does not change with the providers.
    pub fn routes(&self) -> Vec<Route> {
        let prefix = self.config().route_prefix();
        let mut routes: Vec<(String, &'static [Method], Endpoint)> = vec![
            ("/login".into(), GET, Endpoint::Login),
            ("/signup".into(), GET, Endpoint::Signup),
            ("/logout".into(), LOGOUT, Endpoint::Logout),
            ("/jwks".into(), GET, Endpoint::Jwks),
            ("/health".into(), GET, Endpoint::Health),
            ("/user".into(), GET, Endpoint::User),
        ];
        // Every provider of several, and those added while the app runs (also beside a
        // single provider): one pattern route per kind.
        let slot = ProviderSlot(());
        routes.extend([
            ("/login/{id}".into(), GET, Endpoint::LoginAt(slot)),
            ("/signup/{id}".into(), GET, Endpoint::SignupAt(slot)),
            (
                "/callback/{id}".into(),
                FORM_POST_CALLBACK,
                Endpoint::CallbackAt(slot),
            ),
            (
                "/backchannel-logout/{id}".into(),
                POST,
                Endpoint::BackchannelLogoutAt(slot),
            ),
            (
                "/frontchannel-logout/{id}".into(),
                GET,
                Endpoint::FrontchannelLogoutAt(slot),
            ),
        ]);
        if !self.config().has_named_providers() {
            routes.extend([
                (
                    "/callback".into(),
                    callback_methods(&self.config().providers()[0]),
                    Endpoint::Callback,
                ),
                (
                    "/backchannel-logout".into(),
                    POST,
                    Endpoint::BackchannelLogout,
                ),
                (
                    "/frontchannel-logout".into(),
                    GET,
                    Endpoint::FrontchannelLogout,
                ),
            ]);
        }
        if self.config().organization_switch
            && self
                .config()
                .providers()
                .iter()
                .any(|p| p.protocol().switches_organizations())
        {
            routes.push(("/organization".into(), POST, Endpoint::SwitchOrganization));
        }
        routes
            .into_iter()
            .map(|(path, methods, endpoint)| Route {
                path: format!("{prefix}{path}"),
                methods,
                endpoint,
            })
            .collect()
    }

    /// The answer of `endpoint` to `request` (its method, URI, headers and body, the
    /// body already bounded by [`Route::body_limit`]).
    pub async fn respond<B: AsRef<[u8]>>(
        &self,
        endpoint: Endpoint,
        request: &http::Request<B>,
    ) -> Response<String> {
        let (uri, headers) = (request.uri(), request.headers());
        match endpoint {
            Endpoint::Login => self.login_response(uri, headers, false).await,
            Endpoint::Signup => self.login_response(uri, headers, true).await,
            Endpoint::Callback => {
                self.callback_response(request.method(), uri, headers, request.body().as_ref())
                    .await
            }
            Endpoint::Logout => self.logout_response(request.method(), headers).await,
            Endpoint::BackchannelLogout => self.backchannel_response(request.body().as_ref()).await,
            Endpoint::LoginAt(_) => match self.named_in_path(uri).await {
                Some(i) => self.login_response_at(Some(i), uri, headers, false).await,
                None => self.unknown_provider_response(headers),
            },
            Endpoint::SignupAt(_) => match self.named_in_path(uri).await {
                Some(i) => self.login_response_at(Some(i), uri, headers, true).await,
                None => self.unknown_provider_response(headers),
            },
            Endpoint::Jwks => self.jwks_response(),
            Endpoint::Health => self.health_response().await,
            Endpoint::User => self.user_response(headers).await,
            Endpoint::SwitchOrganization => {
                self.organization_response(request.method(), headers, request.body().as_ref())
                    .await
            }
            Endpoint::CallbackAt(_) => match self.named_in_path(uri).await {
                Some(i) => {
                    let body = request.body().as_ref();
                    self.callback_response_at(Some(i), request.method(), uri, headers, body)
                        .await
                }
                None => self.unknown_provider_response(headers),
            },
            Endpoint::BackchannelLogoutAt(_) => match self.named_in_path(uri).await {
                Some(i) => {
                    self.backchannel_response_at(Some(i), request.body().as_ref())
                        .await
                }
                None => self.unknown_provider_response(headers),
            },
            Endpoint::FrontchannelLogout => {
                self.frontchannel_response_at(self.0.provider_index(None), uri)
                    .await
            }
            Endpoint::FrontchannelLogoutAt(_) => match self.named_in_path(uri).await {
                Some(i) => self.frontchannel_response_at(Some(i), uri).await,
                None => self.unknown_provider_response(headers),
            },
        }
    }
}

impl Auth {
    /// The provider a per-provider route's last path segment names (its `{id}`): one
    /// this instance serves, or one the app's provider source holds (asked now, an id
    /// it does not hold not asked again until its next listing); else the route
    /// answers 404 `unknown_provider` (also when the source cannot be read: logged).
    async fn named_in_path(&self, uri: &Uri) -> Option<usize> {
        let id = uri.path().rsplit('/').next().unwrap_or_default();
        if id.is_empty() {
            return None;
        }
        self.provider_or_source(id, true).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the provider source could not be asked");
            None
        })
    }
}

/// Adapters run [`Auth::respond`] on multi-threaded runtimes: its future must be `Send`.
#[allow(dead_code)]
fn respond_is_send(auth: &Auth, request: &http::Request<Vec<u8>>) {
    fn send<T: Send>(_: T) {}
    send(auth.respond(Endpoint::Login, request));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract's minimal adapter (as in the module's docs).
    struct Req(http::request::Parts);

    impl RequestHead for Req {
        fn method(&self) -> &str {
            self.0.method.as_str()
        }
        fn path_and_query(&self) -> &str {
            self.0.uri.path_and_query().map_or("/", |p| p.as_str())
        }
        fn header_values(&self, name: &'static str) -> impl Iterator<Item = &[u8]> {
            self.0.headers.get_all(name).iter().map(|v| v.as_bytes())
        }
        fn extension<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
            self.0.extensions.get::<T>().cloned()
        }
        fn insert_extension<T: Clone + Send + Sync + 'static>(&mut self, value: T) {
            self.0.extensions.insert(value);
        }
    }

    async fn auth(
        tweak: impl FnOnce(crate::AuthConfigBuilder) -> crate::AuthConfigBuilder,
    ) -> Auth {
        let url = |p: &str| url::Url::parse(&format!("http://127.0.0.1:9{p}")).expect("url");
        let config =
            crate::AuthConfig::builder("http://127.0.0.1:9", "client", "http://127.0.0.1:3000")
                .with_endpoints(crate::ProviderEndpoints::new(
                    url("/authorize"),
                    url("/token"),
                    url("/jwks"),
                ));
        Auth::discover(tweak(config).build().expect("config"))
            .await
            .expect("auth")
    }

    fn request(auth: &Auth, headers: &[(&'static str, &str)]) -> Req {
        let mut builder = http::Request::post("/bff/echo");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let (mut parts, ()) = builder.body(()).expect("request").into_parts();
        parts.extensions.insert(RequestAuth::new(auth.clone()));
        Req(parts)
    }

    /// The anti-forgery header an app configured is the one demanded (the default
    /// `X-CSRF: 1` then refused), and it is checked before the session: without it
    /// 403, with it and no session 401. An uppercase name or an empty value is refused
    /// at build.
    #[tokio::test]
    async fn the_configured_anti_forgery_header_is_demanded_before_the_session() {
        let auth = auth(|b| b.with_anti_forgery_header("x-requested-by", "spa")).await;
        let needs = Requirement::anti_forgery_header();
        for headers in [&[("x-csrf", "1")][..], &[("x-requested-by", "other")], &[]] {
            let refused = require(&mut request(&auth, headers), &needs)
                .await
                .unwrap_err();
            assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{headers:?}");
        }
        let anonymous = require(&mut request(&auth, &[("x-requested-by", "spa")]), &needs)
            .await
            .unwrap_err();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        for (name, value) in [("X-Csrf", "1"), ("x-csrf", "")] {
            let built =
                crate::AuthConfig::builder("https://id.example", "c", "https://app.example")
                    .with_anti_forgery_header(name, value)
                    .build();
            assert!(
                matches!(
                    built,
                    Err(crate::ConfigError::Invalid {
                        name: "anti-forgery header",
                        ..
                    })
                ),
                "{name}: {value:?}"
            );
        }
    }
}

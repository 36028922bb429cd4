//! The HTTP edge, in `http` 1.x types: what each auth route answers (this file), the
//! pages and refusals (`pages`), and what kind of request it is (`request`: API client
//! or navigation, this site or another). Adapters translate their framework's request
//! into these calls and the response back; every protocol decision is made here, once.

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};

use tracing::Instrument as _;
use tracing::field::Empty;

use crate::auth::Auth;
use crate::provider::authorize::LoginOptions;
use crate::session::cookie::SessionCookie;

pub mod adapter;
mod pages;
mod request;
pub(crate) mod return_to;

use pages::*;
use request::{LogoutOrigin, from_another_site, is_navigation};

/// Each auth route runs in a span of its own (`auth.login`, `auth.callback`,
/// `auth.logout`, `auth.backchannel_logout`); `finish` records its `outcome` and
/// `status`. Their fields never hold a secret (no code, token, state or session id).
fn finish(span: &tracing::Span, outcome: &str, response: &Response<String>) {
    span.record("outcome", outcome);
    span.record("status", response.status().as_u16());
}

/// A login's third-party initiation parameters: `iss` and `target_link_uri`, each once
/// at most and bounded.
fn third_party_login(query: &str) -> Result<(Option<String>, Option<String>), &'static str> {
    let [iss, target] = crate::flow::once_each(query, ["iss", "target_link_uri"], 2048)
        .ok_or("iss and target_link_uri may be given once each, of at most 2048 characters")?;
    Ok((iss, target))
}

/// Whether a posted authorization response's `Origin` is the provider's: its
/// issuer's or its authorization endpoint's origin, or `null` (a browser hiding
/// it). The sealed, single-use pending login is the defence; this refuses a
/// response another site's page posts, with a clear reason.
fn is_provider_origin(provider: &crate::provider::state::ProviderState, origin: &[u8]) -> bool {
    let origin_of = |u: &url::Url| u.origin().ascii_serialization().into_bytes();
    if origin == b"null" {
        return true;
    }
    let issuer = url::Url::parse(&provider.config.issuer).ok();
    let authorize = provider
        .endpoints()
        .map(|e| e.authorization_endpoint.clone());
    issuer
        .iter()
        .chain(authorize.iter())
        .any(|u| origin_of(u) == origin)
}

/// The origins that may frame the front-channel logout route: the provider's issuer,
/// and (once discovered) its end-session and authorization endpoints, whose pages load
/// it. Space separated, as `frame-ancestors` takes them.
fn frame_ancestors(provider: &crate::provider::state::ProviderState) -> String {
    let mut origins: Vec<String> = Vec::new();
    let issuer = url::Url::parse(&provider.config.issuer).ok();
    let endpoints = provider.endpoints();
    let pages = endpoints
        .iter()
        .flat_map(|e| {
            [
                e.end_session_endpoint.as_ref(),
                Some(&e.authorization_endpoint),
            ]
        })
        .flatten();
    for url in issuer.iter().chain(pages) {
        let origin = url.origin().ascii_serialization();
        if url.origin().is_tuple() && !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    if origins.is_empty() {
        "'none'".into()
    } else {
        origins.join(" ")
    }
}

/// Reads every cookie of a request (bounded in number).
pub fn request_cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    crate::session::cookie::parse_cookie_headers(
        headers
            .get_all(http::header::COOKIE)
            .iter()
            .map(HeaderValue::as_bytes),
    )
}

impl Auth {
    /// Gives `event` to the app's hook, if any.
    pub(crate) fn emit(&self, event: &crate::AuthEvent<'_>) {
        if let Some((provider, kind)) = event.sign_out() {
            crate::telemetry::sign_out(provider, kind);
        }
        for hook in &self.0.config.event_hooks {
            hook.call(event);
        }
    }

    /// The session cookie's name and attributes (HttpOnly, SameSite=Lax, Path=/ always).
    pub fn session_cookie(&self) -> SessionCookie {
        self.0.sessions.cookie()
    }

    /// `GET {prefix}/login` and `GET {prefix}/signup` (which adds `prompt=create`):
    /// redirects to the provider. Per-request options come only through the
    /// allow-list of [`LoginOptions::from_query`], and never replace an option the app
    /// set.
    ///
    /// Only a top-level navigation starts a login: a sub-resource or `fetch()`
    /// (`Sec-Fetch-Mode` other than `navigate`) gets 400 and no pending login. A login
    /// that another site started (`Sec-Fetch-Site: cross-site` or `same-site`) and that
    /// names an identity provider or account (`organization_id`, `connection_id`,
    /// `provider`, `login_hint`, `domain_hint`) is not forwarded: the answer is a page
    /// asking the user to continue (RFC 6749 §10.12), which restarts it same-origin.
    ///
    /// Runs in an `auth.login` span (`signup`, `outcome`: `redirected`, `confirm` or
    /// `refused`, `status`).
    ///
    /// With named providers, `{prefix}/login` is the chooser page (one link per
    /// provider, keeping the query) and `{prefix}/login/{id}` starts at provider `id`.
    pub(crate) async fn login_response(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        signup: bool,
    ) -> Response<String> {
        // The provider is settled in `login_inner`: by `iss`, by the email's domain, or
        // the one configured provider (a single-provider app) or the chooser.
        self.login_response_at(None, uri, headers, signup).await
    }

    /// The login route of provider `provider`, or the chooser (`None`).
    pub(crate) async fn login_response_at(
        &self,
        provider: Option<usize>,
        uri: &Uri,
        headers: &HeaderMap,
        signup: bool,
    ) -> Response<String> {
        let named = provider.map(|i| self.0.provider(i));
        let id = named.as_ref().and_then(|p| p.config.id.as_deref());
        let span = tracing::info_span!(
            "auth.login",
            signup,
            provider = id,
            outcome = Empty,
            status = Empty
        );
        let (response, outcome) = self
            .login_inner(provider, uri, headers, signup)
            .instrument(span.clone())
            .await;
        finish(&span, outcome, &response);
        response
    }

    async fn login_inner(
        &self,
        provider: Option<usize>,
        uri: &Uri,
        headers: &HeaderMap,
        signup: bool,
    ) -> (Response<String>, &'static str) {
        if !is_navigation(headers) {
            tracing::info!("login refused: not a top-level navigation");
            let response = self.error_response(
                headers,
                StatusCode::BAD_REQUEST,
                "not_a_navigation",
                "Sign-in must be opened as a page",
                "Sign-in starts when you open a page, not from an image, script or fetch.",
            );
            return (response, "refused");
        }
        let (mut options, return_to) = match LoginOptions::from_query(uri.query().unwrap_or("")) {
            Ok(v) => v,
            Err(e) => {
                tracing::info!(error = %e, "login request refused");
                let response = self.error_response(
                    headers,
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The sign-in request is not valid",
                    &e.to_string(),
                );
                return (response, "refused");
            }
        };
        // Third-party initiated login (OpenID Connect Core §4): the provider's `iss`
        // picks the provider, `target_link_uri` is where to land.
        let (iss, target) = match third_party_login(uri.query().unwrap_or("")) {
            Ok(v) => v,
            Err(why) => {
                let response = self.error_response(
                    headers,
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The sign-in request is not valid",
                    why,
                );
                return (response, "refused");
            }
        };
        let mut provider = provider;
        let mut return_to = return_to;
        if let Some(iss) = &iss {
            if from_another_site(headers) {
                tracing::info!("third-party initiated login from another site: asking the user");
                let path = uri.path_and_query().map_or("/", |p| p.as_str());
                return (self.login_confirmation_page(path), "confirm");
            }
            let named = self.0.providers.find(|p| p.config.issuer == *iss);
            provider = match (provider, named) {
                (Some(route), Some(found)) if route == found => Some(found),
                (None, Some(found)) => Some(found),
                _ => {
                    tracing::info!("third-party initiated login names an unknown issuer");
                    let response = self.error_response(
                        headers,
                        StatusCode::BAD_REQUEST,
                        "unknown_issuer",
                        "This sign-in service is not one of this app's",
                        "The link names a sign-in service this app does not use.",
                    );
                    return (response, "unknown_issuer");
                }
            };
            if let Some(target) = target {
                return_to = crate::web::return_to::target_link_to_return_to(
                    &self.0.config.app_url,
                    &target,
                );
            }
        }
        if from_another_site(headers) && options.names_an_identity() {
            tracing::info!(
                "login started by another site names an identity provider: asking the user"
            );
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            return (self.login_confirmation_page(path), "confirm");
        }
        // Home-realm discovery: an email whose domain one provider serves goes there
        // (its `login_hint` passed on), without the chooser.
        let hinted_domain = options
            .login_hint
            .as_deref()
            .and_then(crate::provider::config::email_domain);
        if provider.is_none()
            && let Some(domain) = &hinted_domain
        {
            provider = self.0.providers.find(|p| p.config.domains.contains(domain));
        }
        // A single-provider app's login goes to its provider (unless a provider added
        // while it runs serves the email's domain).
        let provider = provider.or_else(|| self.0.provider_index(None));
        let Some(index) = provider else {
            let query = uri.query().filter(|q| !q.is_empty());
            let unknown = hinted_domain.as_deref();
            return (self.chooser_page(query, signup, unknown), "chooser");
        };
        if signup {
            self.0
                .provider(index)
                .config
                .provider_kind
                .signup()
                .apply(&mut options);
        }
        let start = match self
            .begin_login_with(
                index,
                &options,
                return_to.as_deref(),
                &request_cookies(headers),
            )
            .await
        {
            Ok(start) => start,
            Err(e @ crate::LoginError::PushedAuthorizationFailed(_)) => {
                tracing::warn!(error = %e, "login could not start");
                let response = self.error_response(
                    headers,
                    StatusCode::BAD_GATEWAY,
                    "pushed_authorization_failed",
                    "The sign-in provider refused the sign-in request",
                    "The sign-in service did not accept this app's sign-in request. Try again in a moment; if it keeps happening, the app's configuration needs a look.",
                );
                return (response, "pushed_authorization_failed");
            }
            Err(crate::LoginError::InvalidOptions(e)) => {
                tracing::info!(error = %e, "login request refused");
                let response = self.error_response(
                    headers,
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The sign-in request is not valid",
                    &e.to_string(),
                );
                return (response, "refused");
            }
            Err(e) => {
                tracing::warn!(error = %e, "login could not start");
                let response = self.error_response(
                    headers,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "provider_unavailable",
                    "The sign-in provider is unavailable",
                    "This sign-in service cannot be reached right now. Try again in a moment, or choose another way to sign in.",
                );
                return (response, "provider_unavailable");
            }
        };
        tracing::info!(signup, "login started");
        let mut resp = redirect(start.authorization_url.as_str());
        add_cookies(&mut resp, &start.set_cookies);
        (resp, "redirected")
    }

    /// `GET {prefix}/jwks`: the public halves of the app's `private_key_jwt` keys (every
    /// provider's), so that a provider can be registered with a `jwks_uri`. An app
    /// without such keys publishes an empty set.
    pub(crate) fn jwks_response(&self) -> Response<String> {
        let providers = self.0.providers.all();
        let keys = providers
            .iter()
            .filter(|p| !p.removed())
            .flat_map(|p| p.config.client_keys.iter());
        let mut r = Response::new(crate::jose::client_key::jwk_set(keys).to_string());
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/jwk-set+json"),
        );
        r.headers_mut().insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
        r
    }

    /// `GET {prefix}/callback` (and `POST` for a `form_post` provider): completes the
    /// login. On success the session is stored under a fresh id (the browser's
    /// previous session, if any, is deleted) and the response sets the session cookie.
    ///
    /// Runs in an `auth.callback` span (`outcome`: `signed_in` or the error code shown
    /// to the user, such as `access_denied` or `login_expired`; `status`).
    pub(crate) async fn callback_response(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response<String> {
        self.callback_response_at(self.0.provider_index(None), method, uri, headers, body)
            .await
    }

    /// The callback route of provider `provider` (`{prefix}/callback/{id}`).
    pub(crate) async fn callback_response_at(
        &self,
        provider: Option<usize>,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response<String> {
        let named = provider.map(|i| self.0.provider(i));
        let id = named.as_ref().and_then(|p| p.config.id.as_deref());
        let span = tracing::info_span!(
            "auth.callback",
            provider = id,
            outcome = Empty,
            status = Empty
        );
        let (response, outcome) = self
            .callback_inner(provider, method, uri, headers, body)
            .instrument(span.clone())
            .await;
        finish(&span, outcome, &response);
        crate::telemetry::sign_in(id, outcome);
        response
    }

    /// The authorization response's parameters, where the provider's response mode
    /// puts them: the query of a `GET`, or the form of a `POST` (`form_post`) from the
    /// provider's page. A mix is refused: a `GET` carrying a code for a `form_post`
    /// provider (before the code is used), a `POST` for one that answers in the query,
    /// or a `POST` with response parameters in its URL too.
    fn authorization_response<'a>(
        &self,
        provider: Option<usize>,
        method: &Method,
        uri: &'a Uri,
        headers: &HeaderMap,
        body: &'a [u8],
    ) -> Result<&'a str, crate::CallbackError> {
        use crate::CallbackError::{ForeignOrigin, Malformed, ResponseModeMismatch};
        let query = uri.query().unwrap_or("");
        let names = |query: &'a str, of: &'static [&'static str]| {
            url::form_urlencoded::parse(query.as_bytes()).any(move |(k, _)| of.contains(&&*k))
        };
        let provider = provider.map(|i| self.0.provider(i));
        let form_post = provider
            .as_ref()
            .is_some_and(|p| p.config.response_mode == crate::ResponseMode::FormPost);
        if method != Method::POST {
            if form_post && names(query, &["code"]) {
                return Err(ResponseModeMismatch);
            }
            return Ok(query);
        }
        let Some(provider) = provider.filter(|_| form_post) else {
            return Err(ResponseModeMismatch);
        };
        if names(query, &["code", "state", "error", "iss"]) {
            return Err(ResponseModeMismatch);
        }
        let is_form = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(Malformed(
                "a posted authorization response must be application/x-www-form-urlencoded",
            ));
        }
        if let Some(origin) = headers.get(http::header::ORIGIN)
            && !is_provider_origin(&provider, origin.as_bytes())
        {
            return Err(ForeignOrigin);
        }
        std::str::from_utf8(body).map_err(|_| Malformed("the posted form is not UTF-8"))
    }

    async fn callback_inner(
        &self,
        provider: Option<usize>,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> (Response<String>, &'static str) {
        let completed = match self.authorization_response(provider, method, uri, headers, body) {
            Ok(params) => {
                self.complete_login_with(provider, params, &request_cookies(headers))
                    .await
            }
            Err(error) => Err(crate::flow::callback::CallbackFailure {
                error,
                set_cookies: Vec::new(),
                return_to: None,
                silent: false,
            }),
        };
        match completed {
            Ok(mut done) => {
                if let Some(agent) = user_agent(headers) {
                    done.session.app_mut().user_agent = Some(agent);
                }
                let previous = self.session_id_from_headers(headers);
                let cookie = match self
                    .start_session(previous.as_ref(), &mut done.session)
                    .await
                {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %e, "could not store the new session");
                        let mut response = self.unavailable_response(headers);
                        add_cookies(&mut response, &done.set_cookies);
                        return (response, "store_unavailable");
                    }
                };
                tracing::info!(sub = %done.session.claims().sub(), "login completed");
                self.emit(&crate::AuthEvent::SignedIn(&crate::SessionEvent::of(
                    &done.session,
                )));
                let mut response = redirect(&done.return_to);
                add_cookies(&mut response, &done.set_cookies);
                add_cookies(&mut response, &[cookie]);
                (response, "signed_in")
            }
            Err(failure) if failure.silent => {
                // A silent sign-in (`prompt=none`) the provider could not complete
                // without the user: back to the page that tried, signed out, as the
                // SPA that tried it expects. Not a refusal.
                tracing::info!(error = %failure.error, "silent sign-in: the user must sign in");
                let mut response = redirect(failure.return_to.as_deref().unwrap_or("/"));
                add_cookies(&mut response, &failure.set_cookies);
                (response, "silent_interaction_required")
            }
            Err(failure) => {
                // The hook's refusals were reported as such.
                if !failure.error.is_sign_in_hook() {
                    self.emit(&crate::AuthEvent::LoginRefused(&failure.error));
                }
                let (status, code, title) = callback_error_info(&failure.error);
                if status.is_server_error() {
                    tracing::error!(error = %failure.error, "login failed");
                } else {
                    tracing::warn!(error = %failure.error, "login failed");
                }
                let mut response = self.error_page(
                    headers,
                    ErrorPage {
                        status,
                        code,
                        title,
                        hint: match &failure.error {
                            crate::CallbackError::SignInRefused(Some(reason)) => reason,
                            e => callback_error_hint(e),
                        },
                        return_to: failure.return_to.as_deref(),
                    },
                );
                add_cookies(&mut response, &failure.set_cookies);
                (response, code)
            }
        }
    }

    /// `{prefix}/logout`: deletes the local session first, removes the session cookie,
    /// then redirects to the provider's end-session endpoint (with `id_token_hint` when
    /// there was a session). Only a request the app itself made may do that (RP-Initiated
    /// Logout 1.0 §6). A `POST` ends it when its `Origin` is the app's and its
    /// `Sec-Fetch-Site` is `same-origin` (a header that is absent does not refuse), else
    /// 403. A `GET` ends it when `Sec-Fetch-Site` is `same-origin`, `none` or absent;
    /// from another site it gets a page asking to confirm (a POST form) and the session
    /// survives. `HEAD` never ends a session.
    ///
    /// Runs in an `auth.logout` span (`outcome`: `signed_out`, `no_session`,
    /// `store_unavailable`, `confirm` or `forbidden`; `status`).
    pub(crate) async fn logout_response(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Response<String> {
        let span = tracing::info_span!("auth.logout", outcome = Empty, status = Empty);
        let (response, outcome) = match LogoutOrigin::of(method, headers, self.config().app_url()) {
            LogoutOrigin::SameOrigin => self.logout_inner(headers).instrument(span.clone()).await,
            LogoutOrigin::Unconfirmed => {
                tracing::info!(parent: &span, "logout not confirmed: asking the user");
                let mut page = self.logout_confirmation_page();
                if method == Method::HEAD {
                    page.body_mut().clear();
                }
                (page, "confirm")
            }
            LogoutOrigin::CrossSite => {
                tracing::warn!(parent: &span, "cross-site logout request refused");
                let response = self.error_response(
                    headers,
                    StatusCode::FORBIDDEN,
                    "cross_site_logout",
                    "Sign-out was not confirmed",
                    "Another site asked to sign you out. Use the sign-out button of this site.",
                );
                (response, "forbidden")
            }
        };
        finish(&span, outcome, &response);
        response
    }

    async fn logout_inner(&self, headers: &HeaderMap) -> (Response<String>, &'static str) {
        let id = self.session_id_from_headers(headers);
        let (session, deleted, removal) = self.end_session(id.as_ref()).await;
        if let Err(e) = deleted {
            // Say so rather than pretend: the session still exists server side.
            tracing::error!(error = %e, "could not delete the session at logout");
            let mut response = self.unavailable_response(headers);
            add_cookies(&mut response, &[removal]);
            return (response, "store_unavailable");
        }
        tracing::info!(signed_in = session.is_some(), "logout");
        let mut response = redirect(self.logout_url(session.as_deref()).as_str());
        add_cookies(&mut response, &[removal]);
        let outcome = if session.is_some() {
            "signed_out"
        } else {
            "no_session"
        };
        (response, outcome)
    }

    /// `POST {prefix}/organization` (a form with `organization_id`, and `return_to`):
    /// switches the signed-in WorkOS User Management session to another of the user's
    /// organizations ([`Auth::switch_organization`]), stores it, and answers 303 to
    /// `return_to` (a same-site path) or the app. Same-origin only (403 otherwise);
    /// 401 without a session; 400 for a session of another provider or a bad form;
    /// 403 when WorkOS refuses; 503 when it cannot be reached.
    pub(crate) async fn organization_response(
        &self,
        method: &Method,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response<String> {
        let span = tracing::info_span!("auth.organization", outcome = Empty, status = Empty);
        let (response, outcome) = self
            .organization_inner(method, headers, body)
            .instrument(span.clone())
            .await;
        finish(&span, outcome, &response);
        response
    }

    async fn organization_inner(
        &self,
        method: &Method,
        headers: &HeaderMap,
        body: &[u8],
    ) -> (Response<String>, &'static str) {
        let refuse = |status, code, title, message: &str| {
            self.error_response(headers, status, code, title, message)
        };
        if LogoutOrigin::of(method, headers, self.config().app_url()) != LogoutOrigin::SameOrigin {
            tracing::warn!("cross-site organization switch refused");
            let r = refuse(
                StatusCode::FORBIDDEN,
                "cross_site_request",
                "The request was not confirmed",
                "Another site asked to change your organization. Use this site's own controls.",
            );
            return (r, "forbidden");
        }
        let mut organization = None;
        let mut return_to = None;
        for (k, v) in url::form_urlencoded::parse(body) {
            let slot = match k.as_ref() {
                "organization_id" => &mut organization,
                "return_to" => &mut return_to,
                _ => continue,
            };
            if slot.replace(v.into_owned()).is_some() {
                let r = refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The request is not valid",
                    "A parameter appears more than once.",
                );
                return (r, "refused");
            }
        }
        let Some(organization) = organization else {
            let r = refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The request is not valid",
                "organization_id is required.",
            );
            return (r, "refused");
        };
        let id = self.session_id_from_headers(headers);
        let session = match self.authenticate(id.as_ref()).await {
            crate::Authenticated::User(s) => s,
            crate::Authenticated::Unavailable => {
                return (self.unavailable_response(headers), "store_unavailable");
            }
            crate::Authenticated::Anonymous => {
                let r = refuse(
                    StatusCode::UNAUTHORIZED,
                    "not_signed_in",
                    "Sign in first",
                    "Sign in to change your organization.",
                );
                return (r, "no_session");
            }
        };
        let Some(id) = id else {
            return (self.unavailable_response(headers), "no_session");
        };
        let switched = match self.switch_organization(&session, &organization).await {
            Ok(s) => s,
            Err(crate::SwitchOrganizationError::OtherOrganization(kept)) => {
                tracing::warn!("organization switch answered for another organization");
                let _ = self.store_switched(&id, &session, *kept).await;
                let r = refuse(
                    StatusCode::FORBIDDEN,
                    "organization_refused",
                    "You cannot switch to this organization",
                    "The sign-in service did not let this account into that organization.",
                );
                return (r, "refused");
            }
            Err(e @ crate::SwitchOrganizationError::Unavailable(_)) => {
                tracing::warn!(error = %e, "organization switch failed");
                return (self.unavailable_response(headers), "unavailable");
            }
            Err(crate::SwitchOrganizationError::Pinned) => {
                tracing::info!("organization switch out of the pinned organization refused");
                let r = refuse(
                    StatusCode::FORBIDDEN,
                    "organization_pinned",
                    "You cannot switch to this organization",
                    "This site is for one organization only.",
                );
                return (r, "refused");
            }
            Err(e @ crate::SwitchOrganizationError::Refused(_)) => {
                tracing::info!(error = %e, "organization switch refused");
                let r = refuse(
                    StatusCode::FORBIDDEN,
                    "organization_refused",
                    "You cannot switch to this organization",
                    "The sign-in service did not let this account into that organization.",
                );
                return (r, "refused");
            }
            Err(e) => {
                tracing::info!(error = %e, "organization switch not possible");
                let r = refuse(
                    StatusCode::BAD_REQUEST,
                    "organization_switch_unsupported",
                    "Organizations cannot be switched here",
                    &e.to_string(),
                );
                return (r, "refused");
            }
        };
        match self.store_switched(&id, &session, switched).await {
            Ok(true) => {}
            Ok(false) => {
                let r = refuse(
                    StatusCode::UNAUTHORIZED,
                    "not_signed_in",
                    "Sign in first",
                    "The session ended while switching organizations.",
                );
                return (r, "no_session");
            }
            Err(e) => {
                tracing::error!(error = %e, "could not store the switched session");
                return (self.unavailable_response(headers), "store_unavailable");
            }
        }
        let app_url = &self.0.config.app_url;
        let to = return_to
            .as_deref()
            .and_then(|r| crate::web::return_to::sanitize_return_to(app_url, r))
            .unwrap_or_else(|| app_url.path().to_string());
        (redirect(&to), "switched")
    }

    /// Stores the switched session in place of `before`, unless the record was
    /// deleted (a logout) or renewed by another request meanwhile: a switch never
    /// brings back an ended session. `Ok(false)` when it was not stored.
    async fn store_switched(
        &self,
        id: &crate::SessionId,
        before: &crate::AuthSession,
        switched: crate::AuthSession,
    ) -> Result<bool, crate::StoreError> {
        let current = self.0.sessions.load(&id.0).await?;
        let unchanged = current.is_some_and(|c| match (&c.refresh_token, &before.refresh_token) {
            (Some(a), Some(b)) => crate::jose::secret::constant_time_eq(a.secret(), b.secret()),
            _ => false,
        });
        if !unchanged {
            tracing::info!(
                "the session ended or changed during the organization switch: not stored"
            );
            return Ok(false);
        }
        self.0
            .sessions
            .save(&id.0, &std::sync::Arc::new(switched), None)
            .await
    }

    /// `POST {prefix}/backchannel-logout`: 200 when the logout token is valid (matching
    /// sessions are then over), 400 otherwise.
    ///
    /// Runs in an `auth.backchannel_logout` span (`outcome`: `accepted`, `replayed`, `refused` or
    /// `unavailable`; `status`).
    pub(crate) async fn backchannel_response(&self, body: &[u8]) -> Response<String> {
        self.backchannel_response_at(self.0.provider_index(None), body)
            .await
    }

    /// The back-channel logout route of provider `provider`.
    pub(crate) async fn backchannel_response_at(
        &self,
        provider: Option<usize>,
        body: &[u8],
    ) -> Response<String> {
        let named = provider.map(|i| self.0.provider(i));
        let id = named.as_ref().and_then(|p| p.config.id.as_deref());
        let span = tracing::info_span!(
            "auth.backchannel_logout",
            provider = id,
            outcome = Empty,
            status = Empty
        );
        let (response, outcome) = self
            .backchannel_inner(provider, body)
            .instrument(span.clone())
            .await;
        finish(&span, outcome, &response);
        response
    }

    /// `GET {prefix}/frontchannel-logout` (and `/{id}`): the provider's logout page
    /// loads it in an iframe with `iss` and `sid` (OpenID Connect Front-Channel Logout
    /// 1.0). The sessions of that `iss` and `sid` end on every instance; the answer is a
    /// small page, `no-store`, framable by the provider's origins only
    /// (`Content-Security-Policy: frame-ancestors`). Without `iss` or `sid`, or with
    /// another provider's `iss`: 400 and nothing ends; 503 when the logout cannot be
    /// recorded.
    ///
    /// Runs in an `auth.frontchannel_logout` span (`outcome`: `accepted`, `refused`,
    /// `unavailable`; `status`).
    pub(crate) async fn frontchannel_response_at(
        &self,
        provider: Option<usize>,
        uri: &Uri,
    ) -> Response<String> {
        let named = provider.map(|i| self.0.provider(i));
        let id = named.as_ref().and_then(|p| p.config.id.as_deref());
        let span = tracing::info_span!(
            "auth.frontchannel_logout",
            provider = id,
            outcome = Empty,
            status = Empty
        );
        let (response, outcome) = self
            .frontchannel_inner(provider, uri)
            .instrument(span.clone())
            .await;
        finish(&span, outcome, &response);
        response
    }

    async fn frontchannel_inner(
        &self,
        provider: Option<usize>,
        uri: &Uri,
    ) -> (Response<String>, &'static str) {
        use crate::flow::logout::FrontchannelError;
        let result = self
            .frontchannel_logout_with(provider, uri.query().unwrap_or(""))
            .await;
        let (status, text, outcome) = match &result {
            Ok(()) => (
                StatusCode::OK,
                "You are signed out of this app.",
                "accepted",
            ),
            Err(e @ FrontchannelError::Unavailable(_)) => {
                tracing::error!(error = %e, "front-channel logout could not be recorded");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The sign-out could not be recorded. Please try again.",
                    "unavailable",
                )
            }
            Err(e) => {
                tracing::warn!(error = %e, "front-channel logout refused");
                (
                    StatusCode::BAD_REQUEST,
                    "This sign-out request is not valid.",
                    "refused",
                )
            }
        };
        let mut response = html_page(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>Signed out</title></head><body><p>{text}</p></body></html>"
        ));
        *response.status_mut() = status;
        // Front-Channel Logout 1.0 §2: not cached (HTTP/1.0 caches read `Pragma`).
        response
            .headers_mut()
            .insert(http::header::PRAGMA, HeaderValue::from_static("no-cache"));
        let ancestors = provider
            .map(|i| frame_ancestors(&self.0.provider(i)))
            .unwrap_or_else(|| "'none'".into());
        if let Ok(v) = HeaderValue::from_str(&format!("frame-ancestors {ancestors}")) {
            response
                .headers_mut()
                .insert(http::header::CONTENT_SECURITY_POLICY, v);
        }
        (response, outcome)
    }

    async fn backchannel_inner(
        &self,
        provider: Option<usize>,
        body: &[u8],
    ) -> (Response<String>, &'static str) {
        let result = self.backchannel_logout_with(provider, body).await;
        if let Err(e) = &result {
            self.emit(&crate::AuthEvent::BackchannelLogoutRefused(e));
        }
        use crate::flow::logout::BackchannelError;
        let (mut response, outcome) = match result {
            Ok(()) => (Response::new(String::new()), "accepted"),
            Err(e @ BackchannelError::Unavailable(_)) => {
                tracing::error!(error = %e, "back-channel logout could not be recorded");
                let r = json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the logout could not be recorded, retry later",
                );
                (r, "unavailable")
            }
            Err(e @ BackchannelError::Replayed) => {
                tracing::warn!(error = %e, "back-channel logout refused");
                let r = json(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "logout token already used",
                );
                (r, "replayed")
            }
            Err(e) => {
                tracing::warn!(error = %e, "back-channel logout refused");
                let r = json(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "invalid logout token",
                );
                (r, "refused")
            }
        };
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        (response, outcome)
    }
}

/// The request's `User-Agent`, kept with the session it creates: printable ASCII, at
/// most 256 characters.
fn user_agent(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::USER_AGENT)?.to_str().ok()?;
    let kept: String = value
        .chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .take(256)
        .collect();
    (!kept.is_empty()).then_some(kept)
}

#[cfg(test)]
mod tests {
    use http::header::{ACCEPT, AUTHORIZATION, LOCATION, SET_COOKIE};

    use super::request::is_api_request;
    use super::*;

    #[test]
    fn api_requests_are_recognised() {
        let mut h = HeaderMap::new();
        assert!(!is_api_request(&h));
        h.insert(ACCEPT, HeaderValue::from_static("application/json"));
        assert!(is_api_request(&h));
        h.insert(
            ACCEPT,
            HeaderValue::from_static("text/html,application/json"),
        );
        assert!(!is_api_request(&h));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert!(is_api_request(&h));
    }

    async fn auth_at(app_url: &str, issuer: &str) -> Auth {
        let url = |p: &str| url::Url::parse(&format!("{issuer}{p}")).expect("url");
        let config = crate::AuthConfig::builder(issuer, "client", app_url)
            .with_endpoints(crate::ProviderEndpoints::new(
                url("/authorize"),
                url("/token"),
                url("/jwks"),
            ))
            .with_request_timeout(std::time::Duration::from_millis(200))
            .build()
            .expect("config");
        Auth::discover(config).await.expect("auth")
    }

    /// The callback's mix of response modes, each refused before any pending login
    /// or code is looked at: a POST for a provider that answers in the query, a GET
    /// with a code for a form_post provider, a POST with response parameters in its URL,
    /// a POST that is not a form, and one from another origin (an `Origin` of the
    /// provider or `null` passes to the pending-login check). The routes say which
    /// methods each provider's callback takes.
    #[tokio::test]
    async fn rp_callback_in_another_response_mode_refused() {
        let issuer = "https://id.example.com";
        let url = |p: &str| url::Url::parse(&format!("{issuer}{p}")).expect("url");
        let build = |mode| async move {
            let config = crate::AuthConfig::builder(issuer, "client", "https://app.example.com")
                .with_endpoints(crate::ProviderEndpoints::new(
                    url("/authorize"),
                    url("/token"),
                    url("/jwks"),
                ))
                .with_response_mode(mode)
                .build()
                .expect("config");
            Auth::discover(config).await.expect("auth")
        };
        let query = build(crate::ResponseMode::Query).await;
        let form_post = build(crate::ResponseMode::FormPost).await;
        let callback = |auth: &Auth| {
            auth.routes()
                .into_iter()
                .find(|r| r.endpoint() == adapter::Endpoint::Callback)
                .expect("callback route")
                .methods()
        };
        assert_eq!(callback(&query), &[Method::GET]);
        assert_eq!(callback(&form_post), &[Method::GET, Method::POST]);
        let send = |auth: Auth,
                    method: Method,
                    uri: &'static str,
                    headers: Vec<(&'static str, &'static str)>,
                    body: &'static str| async move {
            let mut b = http::Request::builder().method(method).uri(uri);
            for (k, v) in headers {
                b = b.header(k, v);
            }
            let r = auth
                .respond(adapter::Endpoint::Callback, &b.body(body).expect("request"))
                .await;
            let code = r
                .body()
                .split("<code class=\"auth-error\">")
                .nth(1)
                .and_then(|s| s.split('<').next())
                .unwrap_or_default()
                .to_owned();
            (r.status(), code)
        };
        let form = ("content-type", "application/x-www-form-urlencoded");
        let body = "code=c&state=s&iss=https%3A%2F%2Fid.example.com";
        for (auth, method, uri, headers, status, code) in [
            (
                &query,
                Method::POST,
                "/auth/callback",
                vec![form],
                400,
                "response_mode_mismatch",
            ),
            (
                &form_post,
                Method::GET,
                "/auth/callback?code=c&state=s",
                vec![],
                400,
                "response_mode_mismatch",
            ),
            (
                &form_post,
                Method::POST,
                "/auth/callback?state=s",
                vec![form],
                400,
                "response_mode_mismatch",
            ),
            (
                &form_post,
                Method::POST,
                "/auth/callback",
                vec![("content-type", "application/json")],
                400,
                "invalid_callback",
            ),
            (
                &form_post,
                Method::POST,
                "/auth/callback",
                vec![form, ("origin", "https://evil.example")],
                403,
                "callback_origin_refused",
            ),
            (
                &form_post,
                Method::POST,
                "/auth/callback",
                vec![form, ("origin", "https://id.example.com")],
                400,
                "login_expired",
            ),
            (
                &form_post,
                Method::POST,
                "/auth/callback",
                vec![form, ("origin", "null")],
                400,
                "login_expired",
            ),
            (
                &form_post,
                Method::POST,
                "/auth/callback",
                vec![form],
                400,
                "login_expired",
            ),
        ] {
            let got = send(auth.clone(), method.clone(), uri, headers.clone(), body).await;
            assert_eq!(
                (got.0.as_u16(), got.1.as_str()),
                (status, code),
                "{method} {uri} {headers:?}"
            );
        }
    }

    async fn two_providers(
        tweak: impl FnOnce(crate::AuthConfigBuilder) -> crate::AuthConfigBuilder,
    ) -> Auth {
        let provider = |id: &str, issuer: &str| {
            let url = |p: &str| url::Url::parse(&format!("{issuer}{p}")).expect("url");
            crate::ProviderConfig::builder(id, issuer, "client")
                .with_name(format!("<{id}>"))
                .with_endpoints(crate::ProviderEndpoints::new(
                    url("/authorize"),
                    url("/token"),
                    url("/jwks"),
                ))
        };
        let config = crate::AuthConfig::builder_for_providers("https://app.example.com")
            .with_provider(provider("a", "https://a.example.com"))
            .with_provider(provider("b", "https://b.example.com"));
        Auth::discover(tweak(config).build().expect("config"))
            .await
            .expect("auth")
    }

    #[tokio::test]
    async fn the_chooser_escapes_names_and_keeps_the_query_and_an_app_can_replace_it() {
        let auth = two_providers(|b| b).await;
        let uri = Uri::from_static("/auth/login?return_to=%2Freports&x=%22%3E");
        let r = auth.login_response(&uri, &HeaderMap::new(), false).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(set_cookies(&r).is_empty(), "the chooser starts no login");
        let html = r.body();
        assert!(
            html.contains("&lt;a&gt;") && !html.contains("<a>"),
            "{html}"
        );
        assert!(
            html.contains("href=\"/auth/login/b?return_to=%2Freports&amp;x=%22%3E\""),
            "{html}"
        );
        let replaced = two_providers(|b| {
            b.with_chooser_page(|links| {
                links
                    .iter()
                    .map(|l| format!("{}={} ", l.id, l.href))
                    .collect()
            })
        })
        .await;
        let uri = Uri::from_static("/auth/signup?return_to=%2F");
        let r = replaced.login_response(&uri, &HeaderMap::new(), true).await;
        assert_eq!(
            r.body(),
            "a=/auth/signup/a?return_to=%2F b=/auth/signup/b?return_to=%2F "
        );
    }

    #[tokio::test]
    async fn step_up_goes_back_to_the_provider_that_signed_the_session_in() {
        let auth = two_providers(|b| b).await;
        let requirement =
            crate::web::adapter::Requirement::signed_in_within(std::time::Duration::from_secs(60));
        let r = auth.step_up_response(
            &Method::GET,
            &Uri::from_static("/sensitive"),
            &HeaderMap::new(),
            &requirement,
            Some("b"),
        );
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers()[LOCATION],
            "/auth/login/b?return_to=%2Fsensitive&max_age=60"
        );
    }

    /// The per-provider routes are patterns (`/auth/login/{id}`...): the table is the
    /// same whatever the providers, the path's last segment names the provider, and an
    /// id of no provider gets 404 `unknown_provider` on every kind of route.
    #[tokio::test]
    async fn rp_per_provider_route_naming_no_provider_is_404() {
        let auth = two_providers(|b| b).await;
        let routes = auth.routes();
        let at = |kind: &str| {
            routes
                .iter()
                .find(|r| r.path() == format!("/auth/{kind}/{{id}}"))
                .unwrap_or_else(|| panic!("no {kind} route"))
                .endpoint()
        };
        let send = |endpoint, method: Method, path: &str| {
            let request = http::Request::builder()
                .method(method)
                .uri(path)
                .header("accept", "text/html")
                .body(String::new())
                .expect("request");
            let auth = auth.clone();
            async move { auth.respond(endpoint, &request).await }
        };
        let r = send(at("login"), Method::GET, "/auth/login/b").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        for (kind, method) in [
            ("login", Method::GET),
            ("signup", Method::GET),
            ("callback", Method::GET),
            ("backchannel-logout", Method::POST),
            ("frontchannel-logout", Method::GET),
        ] {
            let r = send(at(kind), method, &format!("/auth/{kind}/zzz")).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{kind}");
            assert!(
                r.body().contains("unknown_provider"),
                "{kind}: {}",
                r.body()
            );
        }
    }

    #[tokio::test]
    async fn a_login_at_one_provider_goes_to_its_endpoint_with_its_redirect_uri() {
        let auth = two_providers(|b| b).await;
        let routes: Vec<String> = auth.routes().iter().map(|r| r.path().to_owned()).collect();
        assert!(
            routes.contains(&"/auth/callback/{id}".to_owned()),
            "{routes:?}"
        );
        assert!(!routes.contains(&"/auth/callback".to_owned()), "{routes:?}");
        let start = auth
            .begin_login_at("b", &Default::default(), None, &[])
            .await
            .expect("start");
        let url = start.authorization_url;
        assert!(url.as_str().starts_with("https://b.example.com/authorize?"));
        assert!(
            url.query_pairs().any(|(k, v)| k == "redirect_uri"
                && v == "https://app.example.com/auth/callback/b"),
            "{url}"
        );
        assert!(matches!(
            auth.begin_login_at("c", &Default::default(), None, &[])
                .await,
            Err(crate::LoginError::UnknownProvider(_))
        ));
    }

    /// `GET /auth/login` with no header: the redirect and its pending-login cookie.
    async fn login(auth: &Auth) -> Response<String> {
        auth.login_response(&Uri::from_static("/auth/login"), &HeaderMap::new(), false)
            .await
    }

    fn set_cookies(r: &Response<String>) -> Vec<String> {
        r.headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().expect("ascii").to_owned())
            .collect()
    }

    #[tokio::test]
    async fn cookies_are_secure_and_host_prefixed_over_https() {
        let auth = auth_at("https://app.example.com", "https://id.example.com").await;
        let c = auth.session_cookie();
        assert_eq!((c.name, c.secure), ("__Host-auth_session", true));
        let r = login(&auth).await;
        let pending = set_cookies(&r);
        assert_eq!(pending.len(), 1, "{pending:?}");
        for cookie in pending {
            for attribute in ["Secure", "HttpOnly", "SameSite=Lax"] {
                assert!(cookie.contains(attribute), "{attribute} in {cookie}");
            }
        }
    }

    /// RFC 9700 §4.7.1: a sibling subdomain must not be able to plant a pending login.
    #[tokio::test]
    async fn rp_pending_cookie_is_host_bound_over_https() {
        let auth = auth_at("https://app.example.com", "https://id.example.com").await;
        let r = login(&auth).await;
        let set = set_cookies(&r);
        let cookie = cookie::Cookie::parse_encoded(set[0].clone()).expect("cookie");
        assert!(
            cookie.name().starts_with("__Host-auth_pending_"),
            "{cookie}"
        );
        assert_eq!(cookie.path(), Some("/"));
        assert_eq!(cookie.domain(), None);
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.same_site(), Some(cookie::SameSite::Lax));
    }

    /// A browser enforces `__Host-` only on a name that starts with it literally: a
    /// percent-encoded `%5F%5FHost-` cookie (which a sibling subdomain or a plain-http
    /// attacker can plant with `Domain=`) is not the session cookie, nor a pending
    /// login, however its value reads.
    #[tokio::test]
    async fn rp_cookie_name_with_an_encoded_host_prefix_refused() {
        let auth = auth_at("https://app.example.com", "https://id.example.com").await;
        let id = tower_sessions_core::session::Id::default().to_string();
        let planted = format!("%5F%5FHost-auth_session={id}");
        assert!(auth.session_id([planted.as_bytes()].into_iter()).is_none());
        let genuine = format!("__Host-auth_session={id}");
        assert!(auth.session_id([genuine.as_bytes()].into_iter()).is_some());
        // A pending login planted the same way is not found: the callback refuses.
        let r = login(&auth).await;
        let pending = cookie::Cookie::parse_encoded(set_cookies(&r)[0].clone()).expect("cookie");
        let location = url::Url::parse(r.headers()[LOCATION].to_str().expect("ascii"))
            .expect("authorization url");
        let state = location
            .query_pairs()
            .find(|(k, _)| k == "state")
            .expect("state")
            .1
            .into_owned();
        let encoded_name = pending.name().replacen("__Host-", "%5F%5FHost-", 1);
        let value = pending.encoded().to_string();
        let value = value
            .split_once('=')
            .expect("pair")
            .1
            .split(';')
            .next()
            .expect("value");
        for (name, found) in [(encoded_name.as_str(), false), (pending.name(), true)] {
            let mut headers = HeaderMap::new();
            headers.insert(
                http::header::COOKIE,
                HeaderValue::from_str(&format!("{name}={value}")).expect("header"),
            );
            let opened = auth.0.pending.open(&request_cookies(&headers), &state);
            assert_eq!(opened.is_some(), found, "{name}");
        }
        let mut headers = HeaderMap::new();
        let planted = format!("{encoded_name}={value}");
        headers.insert(
            http::header::COOKIE,
            HeaderValue::from_str(&planted).expect("header"),
        );
        let uri: Uri = format!("/auth/callback?code=c&state={state}")
            .parse()
            .expect("uri");
        let r = auth
            .callback_response(&Method::GET, &uri, &headers, b"")
            .await;
        assert!(r.body().contains("login_expired"), "{}", r.body());
    }

    fn logout_origin(method: Method, headers: &[(&'static str, &'static str)]) -> LogoutOrigin {
        let mut h = HeaderMap::new();
        for (name, value) in headers {
            h.insert(*name, HeaderValue::from_static(value));
        }
        let app = url::Url::parse("https://app.example.com/").expect("url");
        LogoutOrigin::of(&method, &h, &app)
    }

    #[test]
    fn rp_logout_post_from_another_origin_is_refused() {
        use LogoutOrigin::{CrossSite, SameOrigin};
        let app = "https://app.example.com";
        assert_eq!(logout_origin(Method::POST, &[("origin", app)]), SameOrigin);
        let same = [("origin", app), ("sec-fetch-site", "same-origin")];
        assert_eq!(logout_origin(Method::POST, &same), SameOrigin);
        assert_eq!(logout_origin(Method::POST, &[]), SameOrigin, "a script");
        for refused in [
            &[("origin", "https://evil.example")][..],
            &[("origin", "null")],
            &[("origin", "https://app.example.com:8443")],
            &[("origin", "http://app.example.com")],
            &[("sec-fetch-site", "cross-site")],
            &[("sec-fetch-site", "same-site")],
            &[("origin", app), ("sec-fetch-site", "cross-site")],
        ] {
            assert_eq!(
                logout_origin(Method::POST, refused),
                CrossSite,
                "{refused:?}"
            );
        }
    }

    #[test]
    fn rp_logout_cross_site_get_is_only_a_question() {
        use LogoutOrigin::{SameOrigin, Unconfirmed};
        assert_eq!(logout_origin(Method::GET, &[]), SameOrigin, "old browsers");
        for site in ["same-origin", "none"] {
            assert_eq!(
                logout_origin(Method::GET, &[("sec-fetch-site", site)]),
                SameOrigin
            );
        }
        for site in ["cross-site", "same-site", "something-new"] {
            assert_eq!(
                logout_origin(Method::GET, &[("sec-fetch-site", site)]),
                Unconfirmed
            );
        }
        let head = [("sec-fetch-site", "same-origin")];
        assert_eq!(
            logout_origin(Method::HEAD, &head),
            Unconfirmed,
            "HEAD never ends it"
        );
    }

    #[tokio::test]
    async fn cookies_work_over_plain_http_on_loopback() {
        let auth = auth_at("http://127.0.0.1:3000", "http://127.0.0.1:9").await;
        let c = auth.session_cookie();
        assert_eq!((c.name, c.secure), ("auth_session", false));
        let r = login(&auth).await;
        let pending = set_cookies(&r);
        assert_eq!(pending.len(), 1, "{pending:?}");
        for cookie in pending {
            assert!(!cookie.contains("Secure"), "{cookie}");
            assert!(
                cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
                "{cookie}"
            );
        }
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}

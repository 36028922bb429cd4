//! What the auth routes and guards answer besides redirects: the provider chooser, the
//! confirmation pages, the error pages (each callback error mapped to a status, a
//! stable code and a hint), the 401/403/503 refusals, and the small response helpers.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};

use super::request::{is_api_request, is_navigation};
use crate::auth::Auth;
use crate::flow::callback::CallbackError;

impl Auth {
    /// The chooser of an app with several providers: one link per provider to its
    /// login (or sign-up) route, with the request's query (`return_to` and options).
    /// The provider chooser: a link per provider (keeping the request's query), and
    /// when some provider serves email domains, a "work email" field that goes to the
    /// provider of its domain (home-realm discovery). `unknown_domain`: the email given
    /// had a domain no provider serves.
    pub(super) fn chooser_page(
        &self,
        query: Option<&str>,
        signup: bool,
        unknown_domain: Option<&str>,
    ) -> Response<String> {
        let prefix = &self.0.config.route_prefix;
        let route = if signup { "signup" } else { "login" };
        let providers = self.0.providers.all();
        let links: Vec<crate::ProviderLink> = providers
            .iter()
            .filter(|p| !p.removed())
            .filter_map(|p| {
                let id = p.config.id.as_deref()?;
                let mut href = format!("{prefix}/{route}/{id}");
                if let Some(q) = query {
                    href.push('?');
                    href.push_str(q);
                }
                Some(crate::ProviderLink {
                    id: id.to_string(),
                    name: p.config.name.clone(),
                    href,
                })
            })
            .collect();
        if let Some(page) = &self.0.config.chooser_page {
            return html_page((page.0)(&links));
        }
        let items: String = links
            .iter()
            .map(|l| {
                format!(
                    "<li><a class=\"auth-provider\" data-provider=\"{id}\" href=\"{href}\">{name}</a></li>",
                    id = escape(&l.id),
                    href = escape(&l.href),
                    name = escape(&l.name),
                )
            })
            .collect();
        let title = if signup {
            "Create an account"
        } else {
            "Sign in"
        };
        let by_domain = providers
            .iter()
            .any(|p| !p.removed() && !p.config.domains.is_empty());
        let work_email = if by_domain {
            // The same route with the same query, but for its email.
            let kept: String = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .filter(|(k, _)| k != "login_hint")
                .map(|(k, v)| {
                    format!(
                        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                        escape(&k),
                        escape(&v)
                    )
                })
                .collect();
            let notice = unknown_domain.map_or(String::new(), |d| {
                format!(
                    "<p class=\"auth-notice\">No sign-in service of this app is set up for {}: choose one below.</p>",
                    escape(d)
                )
            });
            format!(
                "{notice}<form class=\"auth-work-email\" method=\"get\" action=\"{action}\">{kept}\
                 <label>Work email <input type=\"email\" name=\"login_hint\" autocomplete=\"email\" required></label> \
                 <button type=\"submit\">Continue</button></form><p>Or choose how to continue:</p>",
                action = escape(&format!("{prefix}/{route}")),
            )
        } else {
            "<p>Choose how to continue:</p>".to_owned()
        };
        html_page(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
             <meta name=\"viewport\" content=\"width=device-width\"></head>\
             <body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem\">\
             <h1>{title}</h1>{work_email}<ul class=\"auth-providers\">{items}</ul></body></html>"
        ))
    }

    /// The page a login started by another site gets when it names an identity
    /// provider or account: a link that starts the same login from this site.
    pub(super) fn login_confirmation_page(&self, path_and_query: &str) -> Response<String> {
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Continue to sign in?</title>\
             <meta name=\"viewport\" content=\"width=device-width\"></head>\
             <body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem\">\
             <h1>Continue to sign in?</h1><p>Another site sent you here to sign in with a particular account or sign-in service. \
             Continue only if you meant to.</p><p><a href=\"{href}\">Continue to sign in</a> · <a href=\"/\">Cancel</a></p></body></html>",
            href = escape(path_and_query),
        );
        html_page(body)
    }

    /// The page a logout that the app did not start gets: a button that signs out by a
    /// same-origin POST.
    pub(super) fn logout_confirmation_page(&self) -> Response<String> {
        let action = format!("{}/logout", self.0.config.route_prefix);
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign out?</title>\
             <meta name=\"viewport\" content=\"width=device-width\"></head>\
             <body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem\">\
             <h1>Sign out?</h1><form method=\"post\" action=\"{action}\"><button type=\"submit\">Sign out</button></form>\
             <p><a href=\"/\">Stay signed in</a></p></body></html>",
            action = escape(&action),
        );
        html_page(body)
    }

    /// What a protected route answers without a valid session: a redirect to login
    /// (with `return_to`) for a browser's GET, 401 JSON for API clients and other
    /// methods.
    pub fn unauthenticated_response(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Response<String> {
        // A sub-resource or `fetch()` never starts a login: a page with many protected
        // images after a session expiry must not create as many pending logins.
        if is_api_request(headers)
            || !is_navigation(headers)
            || (method != Method::GET && method != Method::HEAD)
        {
            let mut r = json(StatusCode::UNAUTHORIZED, "unauthorized", "sign-in required");
            r.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
            return r;
        }
        let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mut login = format!("{}/login", self.0.config.route_prefix);
        if crate::web::return_to::sanitize_return_to(&self.0.config.app_url, path_and_query)
            .is_some()
        {
            login.push_str("?return_to=");
            login.extend(url::form_urlencoded::byte_serialize(
                path_and_query.as_bytes(),
            ));
        }
        redirect(&login)
    }

    /// What a route answers a signed-in user who lacks the role, permission or
    /// organization it requires: 403, JSON for API clients, a small page for browsers.
    pub(crate) fn forbidden_response(&self, headers: &HeaderMap) -> Response<String> {
        let mut r = if is_api_request(headers) || !is_navigation(headers) {
            json(
                StatusCode::FORBIDDEN,
                "forbidden",
                "you do not have access to this resource",
            )
        } else {
            let body = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>No access</title>\
                 <meta name=\"viewport\" content=\"width=device-width\"></head>\
                 <body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem\">\
                 <h1>No access</h1><p>You are signed in, but your account does not have access to this page.</p>\
                 <p><a href=\"/\">Home</a></p><p style=\"color:#666\">Code: <code class=\"auth-error\">forbidden</code></p></body></html>";
            let mut page = html_page(body.to_owned());
            *page.status_mut() = StatusCode::FORBIDDEN;
            page
        };
        r.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }

    /// What a route answers a user who must sign in again, more recently (`max_age`)
    /// or more strongly (`acr_values`): a browser's GET is sent through login with them
    /// (and `return_to`), at the provider that signed the session in (`provider`, with
    /// several); an API client gets 401 with the RFC 9470 challenge.
    pub(crate) fn step_up_response(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        requirement: &crate::web::adapter::Requirement,
        provider: Option<&str>,
    ) -> Response<String> {
        use crate::web::adapter::Requirement;
        let (param, value) = match requirement {
            Requirement::SignedInWithin(max_age) => ("max_age", max_age.as_secs().to_string()),
            Requirement::Acr(values) => ("acr_values", values.join(" ")),
            Requirement::Role(_)
            | Requirement::RoleFrom { .. }
            | Requirement::RoleIn { .. }
            | Requirement::Permission(_)
            | Requirement::Organization(_)
            | Requirement::AntiForgeryHeader => {
                return self.forbidden_response(headers);
            }
        };
        let browser = !is_api_request(headers)
            && is_navigation(headers)
            && (method == Method::GET || method == Method::HEAD);
        if browser {
            let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let prefix = &self.0.config.route_prefix;
            let mut login = match provider {
                Some(id) => format!("{prefix}/login/{id}?"),
                None => format!("{prefix}/login?"),
            };
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            if crate::web::return_to::sanitize_return_to(&self.0.config.app_url, path_and_query)
                .is_some()
            {
                q.append_pair("return_to", path_and_query);
            }
            q.append_pair(param, &value);
            login.push_str(&q.finish());
            return redirect(&login);
        }
        // RFC 9470 §3: the values are tokens and numbers we chose; quotes cannot occur.
        let value = value.replace(['"', '\\'], "");
        let challenge = format!(
            "Bearer error=\"insufficient_user_authentication\", error_description=\"a more recent or stronger sign-in is required\", {param}=\"{value}\""
        );
        let mut r = json(
            StatusCode::UNAUTHORIZED,
            "insufficient_user_authentication",
            "a more recent or stronger sign-in is required",
        );
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            r.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
        }
        r
    }

    /// What a protected route answers when the session cannot be checked now (the
    /// session store or the provider is down): 503.
    pub fn unavailable_response(&self, headers: &HeaderMap) -> Response<String> {
        self.error_response(
            headers,
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "Sign-in is temporarily unavailable",
            "Please try again in a moment.",
        )
    }

    /// 404 for a per-provider route whose id names no provider of this app.
    pub(crate) fn unknown_provider_response(&self, headers: &HeaderMap) -> Response<String> {
        self.error_response(
            headers,
            StatusCode::NOT_FOUND,
            "unknown_provider",
            "This sign-in service is not one of this app's",
            "The address names a sign-in service this app does not use.",
        )
    }

    pub(super) fn error_response(
        &self,
        headers: &HeaderMap,
        status: StatusCode,
        code: &str,
        title: &str,
        hint: &str,
    ) -> Response<String> {
        let page = ErrorPage {
            status,
            code,
            title,
            hint,
            return_to: None,
        };
        self.error_page(headers, page)
    }

    /// An error page (JSON for API clients) whose retry link starts a new login that
    /// keeps `return_to`.
    pub(super) fn error_page(&self, headers: &HeaderMap, page: ErrorPage<'_>) -> Response<String> {
        let ErrorPage {
            status,
            code,
            title,
            hint,
            return_to,
        } = page;
        if is_api_request(headers) {
            return json(status, code, title);
        }
        let mut retry = format!("{}/login", self.0.config.route_prefix);
        if let Some(r) = return_to
            .and_then(|r| crate::web::return_to::sanitize_return_to(&self.0.config.app_url, r))
        {
            retry.push_str("?return_to=");
            retry.extend(url::form_urlencoded::byte_serialize(r.as_bytes()));
        }
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
             <meta name=\"viewport\" content=\"width=device-width\"></head>\
             <body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem\">\
             <h1>{title}</h1><p>{hint}</p><p><a href=\"{retry}\">Try signing in again</a> · <a href=\"/\">Home</a></p>\
             <p style=\"color:#666\">Code: <code class=\"auth-error\">{code}</code></p></body></html>",
            title = escape(title),
            code = escape(code),
            hint = escape(hint),
            retry = escape(&retry),
        );
        let mut r = html_page(body);
        *r.status_mut() = status;
        r
    }
}

/// What an error page says.
pub(super) struct ErrorPage<'a> {
    pub(super) status: StatusCode,
    pub(super) code: &'a str,
    pub(super) title: &'a str,
    pub(super) hint: &'a str,
    /// The login's `return_to`, kept by the retry link.
    pub(super) return_to: Option<&'a str>,
}

pub(super) fn callback_error_info(e: &CallbackError) -> (StatusCode, &'static str, &'static str) {
    use crate::provider::token::TokenExchangeError as X;
    match e {
        CallbackError::PendingLoginMissing | CallbackError::PendingLoginExpired => (
            StatusCode::BAD_REQUEST,
            "login_expired",
            "Sign-in link expired, try again",
        ),
        CallbackError::Provider { error, .. } if error == "access_denied" => (
            StatusCode::FORBIDDEN,
            "access_denied",
            "Sign-in was cancelled",
        ),
        CallbackError::Provider { error, .. } if error == "invalid_request" => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The sign-in request was not accepted",
        ),
        CallbackError::Provider { error, .. }
            if error == "server_error" || error == "temporarily_unavailable" =>
        {
            (
                StatusCode::BAD_GATEWAY,
                "server_error",
                "The sign-in service had a problem",
            )
        }
        CallbackError::Provider { .. } => (
            StatusCode::BAD_REQUEST,
            "provider_error",
            "Sign-in did not complete",
        ),
        CallbackError::Exchange(X::Refused { .. }) => (
            StatusCode::BAD_REQUEST,
            "login_expired",
            "Sign-in link expired, try again",
        ),
        CallbackError::Exchange(_) | CallbackError::KeysUnavailable(_) => (
            StatusCode::BAD_GATEWAY,
            "provider_unavailable",
            "The sign-in provider is unavailable",
        ),
        CallbackError::ProviderUnavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "provider_unavailable",
            "The sign-in provider is unavailable",
        ),
        CallbackError::ProviderMismatch => (
            StatusCode::BAD_REQUEST,
            "provider_mismatch",
            "This sign-in response is not for this sign-in",
        ),
        CallbackError::AcrNotSatisfied => (
            StatusCode::FORBIDDEN,
            "acr_not_satisfied",
            "Sign-in was not strong enough",
        ),
        CallbackError::OrganizationMismatch => (
            StatusCode::FORBIDDEN,
            "organization_mismatch",
            "Signed in to another organization",
        ),
        CallbackError::HostedDomainMismatch => (
            StatusCode::FORBIDDEN,
            "hosted_domain_mismatch",
            "This account is not allowed here",
        ),
        CallbackError::AuthTimeMissing => (
            StatusCode::BAD_REQUEST,
            "auth_time_missing",
            "Sign-in could not be verified",
        ),
        CallbackError::AuthTimeTooOld => (
            StatusCode::BAD_REQUEST,
            "sign_in_too_old",
            "Please sign in again",
        ),
        CallbackError::SignInRefused(_) => {
            (StatusCode::FORBIDDEN, "sign_in_refused", "Sign-in refused")
        }
        CallbackError::SignInHook(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "sign_in_unavailable",
            "Sign-in is temporarily unavailable",
        ),
        CallbackError::UserInfo(crate::UserInfoError::SubjectMismatch) => (
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "Sign-in could not be verified",
        ),
        CallbackError::UserInfo(_) => (
            StatusCode::BAD_GATEWAY,
            "provider_unavailable",
            "The sign-in provider is unavailable",
        ),
        CallbackError::MissingIdToken
        | CallbackError::IdToken(_)
        | CallbackError::AccessToken(_) => (
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "Sign-in could not be verified",
        ),
        CallbackError::ResponseModeMismatch => (
            StatusCode::BAD_REQUEST,
            "response_mode_mismatch",
            "This sign-in response is not valid",
        ),
        CallbackError::ForeignOrigin => (
            StatusCode::FORBIDDEN,
            "callback_origin_refused",
            "This sign-in response is not valid",
        ),
        CallbackError::Malformed(_)
        | CallbackError::MissingState
        | CallbackError::StateMismatch
        | CallbackError::MissingIssuer
        | CallbackError::IssuerMismatch
        | CallbackError::MissingCode => (
            StatusCode::BAD_REQUEST,
            "invalid_callback",
            "This sign-in response is not valid",
        ),
    }
}

pub(super) fn callback_error_hint(e: &CallbackError) -> &'static str {
    match e {
        CallbackError::Provider { error, .. } if error == "access_denied" => {
            "You cancelled sign-in, or the provider refused it. You can try again."
        }
        CallbackError::Provider { error, .. } if error == "invalid_request" => {
            "The sign-in service did not accept the request. Please try again."
        }
        CallbackError::Provider { error, .. }
            if error == "server_error" || error == "temporarily_unavailable" =>
        {
            "The sign-in service had a problem, try again in a moment."
        }
        CallbackError::PendingLoginMissing | CallbackError::PendingLoginExpired => {
            "The sign-in took too long, or was finished in another browser. Please start again."
        }
        CallbackError::SignInRefused(_) => "This account cannot sign in here.",
        CallbackError::SignInHook(_) => "Please try again in a moment.",
        CallbackError::Provider { .. }
        | CallbackError::Malformed(_)
        | CallbackError::MissingState
        | CallbackError::ResponseModeMismatch
        | CallbackError::ForeignOrigin
        | CallbackError::StateMismatch
        | CallbackError::MissingIssuer
        | CallbackError::IssuerMismatch
        | CallbackError::ProviderMismatch
        | CallbackError::ProviderUnavailable
        | CallbackError::MissingCode
        | CallbackError::Exchange(_)
        | CallbackError::MissingIdToken
        | CallbackError::IdToken(_)
        | CallbackError::AccessToken(_)
        | CallbackError::KeysUnavailable(_)
        | CallbackError::AuthTimeMissing
        | CallbackError::AuthTimeTooOld
        | CallbackError::AcrNotSatisfied
        | CallbackError::OrganizationMismatch
        | CallbackError::HostedDomainMismatch
        | CallbackError::UserInfo(_) => {
            "Something went wrong while signing you in. Please start again."
        }
    }
}

pub(super) fn html_page(body: String) -> Response<String> {
    let mut r = Response::new(body);
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub(super) fn redirect(location: &str) -> Response<String> {
    let mut r = Response::new(String::new());
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(LOCATION, v);
    }
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub(super) fn add_cookies(r: &mut Response<String>, cookies: &[String]) {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            r.headers_mut().append(SET_COOKIE, v);
        }
    }
}

pub(super) fn json(status: StatusCode, code: &str, message: &str) -> Response<String> {
    let body = serde_json::json!({ "error": code, "message": message }).to_string();
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(super) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

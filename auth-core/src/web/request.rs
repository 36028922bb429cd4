//! What kind of request reached an auth route or a guard: an API client or a browser
//! navigation, from this site or another (Fetch Metadata and `Origin`).

use http::header::{ACCEPT, AUTHORIZATION};
use http::{HeaderMap, HeaderValue, Method};

/// Whether a request comes from an API client rather than a browser navigation: it
/// asks for JSON and not HTML, sends an `Authorization` header, or is an XHR.
pub(crate) fn is_api_request(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    (accept.contains("application/json") && !accept.contains("text/html"))
        || headers.contains_key(AUTHORIZATION)
        || headers
            .get("x-requested-with")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"XMLHttpRequest"))
}

/// Whether a logout request may end the session, from the browser's Fetch Metadata
/// (`Sec-Fetch-Site`) and `Origin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogoutOrigin {
    /// Made by the app itself (same origin), typed by the user (`Sec-Fetch-Site: none`),
    /// or sent by a client that sends neither header (a script, an old browser on GET).
    SameOrigin,
    /// A `GET` started by another site, or a `HEAD`: ask the user to confirm.
    Unconfirmed,
    /// A `POST` from another site: refused.
    CrossSite,
}

impl LogoutOrigin {
    pub(crate) fn of(method: &Method, headers: &HeaderMap, app_url: &url::Url) -> Self {
        let site = headers.get("sec-fetch-site").map(HeaderValue::as_bytes);
        if method == Method::POST {
            let origin_ok = headers
                .get(http::header::ORIGIN)
                .is_none_or(|o| o.as_bytes() == app_url.origin().ascii_serialization().as_bytes());
            let site_ok = site.is_none_or(|s| s == b"same-origin");
            return if origin_ok && site_ok {
                Self::SameOrigin
            } else {
                Self::CrossSite
            };
        }
        if method != Method::GET {
            return Self::Unconfirmed;
        }
        match site {
            None | Some(b"same-origin" | b"none") => Self::SameOrigin,
            Some(_) => Self::Unconfirmed,
        }
    }
}

/// Whether a request is a navigation (`Sec-Fetch-Mode: navigate`), or comes from a
/// client that sends no Fetch Metadata (old browsers, scripts).
pub(super) fn is_navigation(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-mode")
        .is_none_or(|m| m.as_bytes() == b"navigate")
}

/// Whether another site started the request (`Sec-Fetch-Site: cross-site` or
/// `same-site`, a sibling subdomain being another site for sign-in).
pub(super) fn from_another_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .is_some_and(|s| matches!(s.as_bytes(), b"cross-site" | b"same-site"))
}

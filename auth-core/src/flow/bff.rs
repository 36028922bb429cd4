//! The backend for a single-page app: the session as JSON for the SPA's script
//! (`GET {prefix}/user`), never a redirect. Tokens never reach the browser.

use serde::Serialize;

use crate::auth::Auth;
use crate::flow::authenticate::Authenticated;
use crate::session::AuthSession;

/// What `GET {prefix}/user` tells the SPA of its user: who, from where, with which
/// organization, roles and permissions, since when, and where to sign out. No token.
#[derive(Debug, Serialize)]
struct SpaUser<'a> {
    sub: &'a str,
    iss: &'a str,
    provider: Option<&'a str>,
    name: Option<&'a str>,
    email: Option<&'a str>,
    organization: Option<&'a str>,
    roles: &'a [String],
    permissions: &'a [String],
    /// When the user signed in (epoch seconds).
    authenticated_at: i64,
    /// When the access token expires (epoch seconds), if the provider said; the
    /// session is refreshed before then by any request that uses it.
    expires_at: Option<i64>,
    logout_url: String,
}

impl<'a> SpaUser<'a> {
    fn of(session: &'a AuthSession, logout_url: String) -> Self {
        let claims = session.claims();
        Self {
            sub: claims.sub(),
            iss: claims.iss(),
            provider: session.provider(),
            name: claims.name(),
            email: claims.email(),
            organization: session.organization(),
            roles: session.roles(),
            permissions: session.permissions(),
            authenticated_at: session.authenticated_at,
            expires_at: session.expires_at,
            logout_url,
        }
    }
}

impl Auth {
    /// `GET {prefix}/user`: 200 with the signed-in user as JSON ([`SpaUser`]'s
    /// fields), 401 `{"error": "not_signed_in"}` without a session, 503 while the
    /// session cannot be checked; never a redirect, whatever the `Accept`, and never
    /// cached (`Cache-Control: no-store`). The session is checked (and refreshed when
    /// due) as on any signed-in request.
    pub(crate) async fn user_response(&self, headers: &http::HeaderMap) -> http::Response<String> {
        let id = self.session_id_from_headers(headers);
        let (status, body) = match self.authenticate(id.as_ref()).await {
            Authenticated::User(session) => {
                let logout = format!("{}/logout", self.config().route_prefix());
                let user = SpaUser::of(&session, logout);
                (
                    http::StatusCode::OK,
                    serde_json::to_string(&user).unwrap_or_default(),
                )
            }
            Authenticated::Anonymous => (
                http::StatusCode::UNAUTHORIZED,
                r#"{"error":"not_signed_in"}"#.to_owned(),
            ),
            Authenticated::Unavailable => (
                http::StatusCode::SERVICE_UNAVAILABLE,
                r#"{"error":"temporarily_unavailable"}"#.to_owned(),
            ),
        };
        let mut r = http::Response::new(body);
        *r.status_mut() = status;
        let headers = r.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        headers.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        r
    }
}

/// A remote API that a single-page app reaches through the app (the backend-for-
/// frontend pattern): [`Auth::forward`] sends the SPA's request on with the session's
/// access token, so the token never reaches the browser.
#[derive(Clone)]
pub struct RemoteApi {
    base: url::Url,
    http: crate::http_client::HttpClient,
    max_body: usize,
}

impl std::fmt::Debug for RemoteApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteApi")
            .field("base", &self.base.as_str())
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

/// The default bound of a forwarded request's or answer's body.
const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// The default bound of a forwarded call, connection included.
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Headers that belong to one connection, not to the request (RFC 9110 §7.6.1), and
/// what the app replaces or keeps to itself: never forwarded either way.
const NOT_FORWARDED: [&str; 12] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "cookie",
];

impl RemoteApi {
    /// The API at `base_url` (https, or http on loopback for development): a request
    /// for `/x?y` goes to `base_url` + `x?y`. Bodies are bounded by 1 MiB and a call by
    /// 10 s unless set otherwise.
    pub fn new(base_url: &str) -> Result<Self, crate::ConfigError> {
        let mut base = crate::config_error::parse_url("REMOTE_API_URL", base_url)?;
        if base.query().is_some() || base.fragment().is_some() {
            return Err(crate::ConfigError::Invalid {
                name: "REMOTE_API_URL",
                reason: "must not have a query or a fragment".into(),
            });
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(crate::ConfigError::Invalid {
                name: "REMOTE_API_URL",
                reason: "must not carry credentials (the user's token is what is sent)".into(),
            });
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Self::with_bounds(base, DEFAULT_MAX_BODY, DEFAULT_TIMEOUT)
    }

    fn with_bounds(
        base: url::Url,
        max_body: usize,
        timeout: std::time::Duration,
    ) -> Result<Self, crate::ConfigError> {
        let http =
            crate::http_client::HttpClient::new(timeout, timeout, max_body, &[]).map_err(|e| {
                crate::ConfigError::Invalid {
                    name: "REMOTE_API_URL",
                    reason: e.to_string(),
                }
            })?;
        Ok(Self {
            base,
            http,
            max_body,
        })
    }

    /// The largest body forwarded, either way (the request's is the adapter's to
    /// bound: 413 over it; an answer over it is a 502).
    pub fn with_max_body(self, bytes: usize) -> Result<Self, crate::ConfigError> {
        let timeout = self.timeout();
        Self::with_bounds(self.base, bytes, timeout)
    }

    /// How long a forwarded call may take, its answer's body included (504 past it).
    pub fn with_timeout(self, timeout: std::time::Duration) -> Result<Self, crate::ConfigError> {
        Self::with_bounds(self.base, self.max_body, timeout)
    }

    /// The largest body forwarded.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    fn timeout(&self) -> std::time::Duration {
        self.http.timeout()
    }

    /// The remote URL of `path_and_query` (the part after the app's forwarding
    /// prefix), which must stay under the base URL: no `.` or `..` segment, no
    /// authority of its own.
    fn url_of(&self, path_and_query: &str) -> Option<url::Url> {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let path = path.trim_start_matches('/');
        if !path.split('/').all(plain_segment) {
            return None;
        }
        let mut url = self.base.join(path).ok()?;
        url.set_query(query);
        (url.origin() == self.base.origin() && url.path().starts_with(self.base.path()))
            .then_some(url)
    }
}

/// Whether a path segment names itself only, to whatever server decodes it: once
/// percent-decoded it is not `.` or `..`, and holds no `/`, `\`, `;` (a path
/// parameter, which some servers strip before resolving `..;`) or `%` (encoded twice).
fn plain_segment(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) => match (hex(h), hex(l)) {
                (Some(h), Some(l)) => {
                    decoded.push((h * 16 + l) as u8);
                    i += 3;
                }
                _ => return false,
            },
            (b'%', _, _) => return false,
            (b, _, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    decoded != b"." && decoded != b".." && !decoded.iter().any(|b| b"/\\;%".contains(b))
}

/// An error that ends a forwarded body.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A body that [`Auth::forward`] streams, either way: chunks, or an error that ends it
/// (the request's or the answer's bound, the peer gone).
pub struct ForwardBody(
    std::pin::Pin<Box<dyn futures_core::Stream<Item = Result<bytes::Bytes, BodyError>> + Send>>,
);

impl std::fmt::Debug for ForwardBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForwardBody(..)")
    }
}

impl ForwardBody {
    /// A body of these bytes, in one chunk.
    pub fn from_bytes(bytes: impl Into<bytes::Bytes>) -> Self {
        let bytes = bytes.into();
        Self::from_stream(futures_util::stream::once(async move {
            Ok::<_, BodyError>(bytes)
        }))
    }

    /// No body.
    pub fn empty() -> Self {
        Self::from_stream(futures_util::stream::empty::<Result<bytes::Bytes, BodyError>>())
    }

    /// The body a stream of chunks makes (a framework's request body).
    pub fn from_stream<S, E>(stream: S) -> Self
    where
        S: futures_core::Stream<Item = Result<bytes::Bytes, E>> + Send + 'static,
        E: Into<BodyError> + 'static,
    {
        use futures_util::TryStreamExt as _;
        Self(Box::pin(stream.map_err(Into::into)))
    }

    /// The whole body, read (for a test, or a small answer).
    pub async fn collect(self) -> Result<bytes::Bytes, BodyError> {
        use futures_util::TryStreamExt as _;
        let chunks: Vec<bytes::Bytes> = self.0.try_collect().await?;
        Ok(chunks.concat().into())
    }

    /// At most `max` bytes: past them the body ends with an error, and `tripped` says
    /// so.
    fn limited(self, max: usize, tripped: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Self {
        use futures_util::StreamExt as _;
        let mut seen = 0usize;
        Self(Box::pin(self.0.map(move |chunk| {
            let chunk = chunk?;
            seen = seen.saturating_add(chunk.len());
            if seen > max {
                tripped.store(true, std::sync::atomic::Ordering::Release);
                return Err(BodyError::from(format!("a body over {max} bytes")));
            }
            Ok(chunk)
        })))
    }
}

impl futures_core::Stream for ForwardBody {
    type Item = Result<bytes::Bytes, BodyError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

impl Auth {
    /// Forwards a single-page app's request to `api` with `user`'s access token:
    /// `Authorization: Bearer`, or `DPoP` with a fresh proof for a DPoP-bound session
    /// (retried once with the nonce a 401 asks for). The browser's cookies, its
    /// `Authorization`, the anti-forgery header and the hop-by-hop headers (RFC 9110
    /// §7.6.1, and those its `Connection` names) are not sent on; the answer's status,
    /// body and headers come back but for its hop-by-hop headers, `Set-Cookie` and
    /// `Access-Control-*`.
    ///
    /// Bodies stream both ways within [`RemoteApi::max_body`]: a request that says
    /// (`Content-Length`) or turns out to be longer gets 413 `request_too_large`; an
    /// answer that says it is longer gets 502 `remote_response_too_large`, one that
    /// turns out to be ends in an error (the connection is cut). A DPoP-bound session's
    /// request body is read whole first (within the bound), so that the nonce retry can
    /// send it again.
    ///
    /// `user` comes from the adapter's extractor, which has refreshed the tokens when
    /// due (a refused refresh ended the session: 401 there). The request's
    /// `path_and_query` is under `prefix` (where the app mounted the forwarding): the
    /// rest goes after the API's base URL. Failures are JSON: 400 `invalid_path` for a
    /// path that leaves the API's base, 502 `remote_unreachable`, 504 `remote_timeout`.
    #[allow(clippy::too_many_arguments)] // The request's parts, as an adapter holds them.
    pub async fn forward(
        &self,
        user: &AuthSession,
        api: &RemoteApi,
        prefix: &str,
        method: &http::Method,
        path_and_query: &str,
        headers: &http::HeaderMap,
        body: ForwardBody,
    ) -> http::Response<ForwardBody> {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let rest = path_and_query
            .strip_prefix(prefix.trim_end_matches('/'))
            .filter(|rest| rest.starts_with('/'));
        let Some(url) = rest.and_then(|rest| api.url_of(rest)) else {
            return forward_error(http::StatusCode::BAD_REQUEST, "invalid_path");
        };
        let declared = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > api.max_body as u64) {
            return forward_error(http::StatusCode::PAYLOAD_TOO_LARGE, "request_too_large");
        }
        let tripped = Arc::new(AtomicBool::new(false));
        let body = body.limited(api.max_body, Arc::clone(&tripped));
        let sent = forwarded_headers(headers, self.config().anti_forgery.0);
        let token = user.access_token().secret();
        let request = |nonce: Option<&str>, body: reqwest::Body| {
            let mut headers = sent.clone();
            let value = match &user.dpop_key {
                None => format!("Bearer {token}"),
                Some(key) => {
                    let proof = key.proof(
                        method.as_str(),
                        url.as_str(),
                        nonce,
                        Some(token),
                        self.config().clock.now_secs(),
                    );
                    if let Ok(v) = http::HeaderValue::try_from(proof) {
                        headers.insert("dpop", v);
                    }
                    format!("DPoP {token}")
                }
            };
            if let Ok(mut v) = http::HeaderValue::try_from(value) {
                v.set_sensitive(true);
                headers.insert(http::header::AUTHORIZATION, v);
            }
            api.http
                .client()
                .request(method.clone(), url.as_str())
                .headers(headers)
                .body(body)
                .send()
        };
        let answer = match &user.dpop_key {
            None => request(None, reqwest::Body::wrap_stream(body)).await,
            Some(_) => {
                // Read whole (within the bound), to send again with a nonce.
                let whole = match body.collect().await {
                    Ok(whole) => whole,
                    Err(_) if tripped.load(Ordering::Acquire) => {
                        return forward_error(
                            http::StatusCode::PAYLOAD_TOO_LARGE,
                            "request_too_large",
                        );
                    }
                    Err(_) => return forward_error(http::StatusCode::BAD_REQUEST, "invalid_body"),
                };
                let first = request(None, whole.clone().into()).await;
                match &first {
                    Ok(r) if r.status() == http::StatusCode::UNAUTHORIZED => {
                        match r
                            .headers()
                            .get("dpop-nonce")
                            .and_then(|v| v.to_str().ok())
                            .filter(|v| v.len() <= 512)
                            .map(str::to_owned)
                        {
                            Some(nonce) => request(Some(&nonce), whole.into()).await,
                            None => first,
                        }
                    }
                    _ => first,
                }
            }
        };
        match answer {
            Ok(response) => {
                if response
                    .content_length()
                    .is_some_and(|n| n > api.max_body as u64)
                {
                    return forward_error(
                        http::StatusCode::BAD_GATEWAY,
                        "remote_response_too_large",
                    );
                }
                // Served on the app's own origin: the API's CORS answers are not the
                // app's, a per-user answer is never shared by a cache, and nothing it
                // sends is sniffed into a page.
                let mut kept = http::HeaderMap::new();
                for (name, value) in &forwarded_headers(response.headers(), "set-cookie") {
                    if !name.as_str().starts_with("access-control-") {
                        kept.append(name.clone(), value.clone());
                    }
                }
                kept.entry(http::header::CACHE_CONTROL)
                    .or_insert(http::HeaderValue::from_static("private, no-store"));
                kept.insert(
                    http::header::X_CONTENT_TYPE_OPTIONS,
                    http::HeaderValue::from_static("nosniff"),
                );
                let status = response.status();
                let body = ForwardBody::from_stream(response.bytes_stream())
                    .limited(api.max_body, Arc::new(AtomicBool::new(false)));
                let mut out = http::Response::new(body);
                *out.status_mut() = status;
                *out.headers_mut() = kept;
                out
            }
            Err(_) if tripped.load(Ordering::Acquire) => {
                forward_error(http::StatusCode::PAYLOAD_TOO_LARGE, "request_too_large")
            }
            Err(e) if e.is_timeout() => {
                tracing::warn!(error = %e.without_url(), "the remote API did not answer in time");
                forward_error(http::StatusCode::GATEWAY_TIMEOUT, "remote_timeout")
            }
            Err(e) => {
                tracing::warn!(error = %e.without_url(), "the remote API is unreachable");
                forward_error(http::StatusCode::BAD_GATEWAY, "remote_unreachable")
            }
        }
    }
}

/// `headers` less the ones never forwarded, those their `Connection` names, the
/// browser's credentials, and `also` (the anti-forgery header, or `Set-Cookie`).
fn forwarded_headers(headers: &http::HeaderMap, also: &str) -> http::HeaderMap {
    let named: Vec<String> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    let mut out = http::HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let name_str = name.as_str();
        let dropped = NOT_FORWARDED.contains(&name_str)
            || name_str == "authorization"
            || name_str == "dpop"
            || name_str == also
            || named.iter().any(|n| n == name_str);
        if !dropped {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// `{"error": code}` with `status`.
fn forward_error(status: http::StatusCode, code: &str) -> http::Response<ForwardBody> {
    let body = serde_json::json!({ "error": code }).to_string();
    let mut r = http::Response::new(ForwardBody::from_bytes(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A forwarded path stays under the API's base: dot segments (plain or
    /// percent-encoded), backslashes and encoded slashes are refused, an authority of
    /// its own (`//host`) is a path under the base; the query is kept as sent.
    #[test]
    fn a_forwarded_path_never_leaves_the_apis_base() {
        let api = RemoteApi::new("https://api.example.com/v1").expect("api");
        let url = |p: &str| api.url_of(p).map(|u| u.to_string());
        assert_eq!(
            url("/items/42?sort=name&x=%2F").as_deref(),
            Some("https://api.example.com/v1/items/42?sort=name&x=%2F")
        );
        assert_eq!(url("/").as_deref(), Some("https://api.example.com/v1/"));
        // An authority of its own is only a path under the base.
        assert_eq!(
            url("//evil.example/x").as_deref(),
            Some("https://api.example.com/v1/evil.example/x")
        );
        for bad in [
            "/../admin",
            "/a/../../admin",
            "/%2e%2e/admin",
            "/%2E./admin",
            "/./x",
            "/\\\\evil.example/x",
            "/a%2f..%2fadmin",
            "/..;/admin",
            "/%2e%2e;/admin",
            "/..%5cadmin",
            "/%252e%252e/admin",
            "/a%zz",
        ] {
            assert_eq!(url(bad), None, "{bad}");
        }
        assert!(
            RemoteApi::new("http://api.example.com/").is_err(),
            "http off loopback"
        );
        assert!(RemoteApi::new("https://api.example.com/?q=1").is_err());
        assert!(
            RemoteApi::new("https://user:pw@api.example.com/").is_err(),
            "credentials"
        );
        assert_eq!(
            url("/caf%C3%A9/a%20b").as_deref(),
            Some("https://api.example.com/v1/caf%C3%A9/a%20b"),
            "encoded characters that name themselves"
        );
    }

    /// Hop-by-hop headers, those `Connection` names, the browser's credentials and the
    /// anti-forgery header are not forwarded; the rest is, every value.
    #[test]
    fn hop_by_hop_headers_and_credentials_are_not_forwarded() {
        let mut h = http::HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic x"),
            ("host", "app.example"),
            ("cookie", "auth_session=secret"),
            ("authorization", "Bearer browser"),
            ("dpop", "proof"),
            ("x-csrf", "1"),
            ("accept", "application/json"),
            ("x-custom", "a"),
            ("x-custom", "b"),
        ] {
            h.append(name, http::HeaderValue::from_static(value));
        }
        let out = forwarded_headers(&h, "x-csrf");
        let names: Vec<&str> = out.keys().map(http::HeaderName::as_str).collect();
        assert_eq!(names, ["accept", "x-custom"]);
        assert_eq!(out.get_all("x-custom").iter().count(), 2);
    }
}

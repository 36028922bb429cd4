//! The edge between actix-web (`http` 0.2 types) and `auth-core` (`http` 1.x types).
//! Every conversion happens here, once.

use actix_web::HttpRequest;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;

/// The request's headers as `http` 1.x headers.
pub(crate) fn headers(req: &HttpRequest) -> http::HeaderMap {
    let mut out = http::HeaderMap::with_capacity(req.headers().len());
    for (name, value) in req.headers() {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            out.append(n, v);
        }
    }
    out
}

/// The request's path and query as an `http` 1.x URI.
pub(crate) fn uri(req: &HttpRequest) -> http::Uri {
    req.uri()
        .path_and_query()
        .and_then(|pq| http::Uri::try_from(pq.as_str()).ok())
        .unwrap_or_else(|| http::Uri::from_static("/"))
}

/// The request's method as an `http` 1.x method.
pub(crate) fn method(req: &HttpRequest) -> http::Method {
    http::Method::from_bytes(req.method().as_str().as_bytes()).unwrap_or(http::Method::GET)
}

/// The `Cookie` header values, for reading the session id without converting all
/// headers (the signed-in hot path).
pub(crate) fn cookie_headers(req: &HttpRequest) -> impl Iterator<Item = &[u8]> {
    req.headers()
        .get_all(actix_web::http::header::COOKIE)
        .map(|v| v.as_bytes())
}

/// A core response as an actix-web response.
pub(crate) fn response(resp: &http::Response<String>) -> HttpResponse {
    let status =
        StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = HttpResponse::build(status);
    for (name, value) in resp.headers() {
        out.append_header((name.as_str(), value.as_bytes()));
    }
    out.body(resp.body().clone())
}

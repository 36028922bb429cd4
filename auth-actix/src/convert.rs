//! The edge between actix-web (`http` 0.2 types) and `auth-core` (`http` 1.x types).
//! Every conversion happens here, once.

use actix_web::HttpRequest;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::Bytes;

/// The request, its body included, as an `http` 1.x request for the auth routes.
pub(crate) fn request(req: &HttpRequest, body: Bytes) -> http::Request<Bytes> {
    let mut out = http::Request::new(body);
    *out.method_mut() =
        http::Method::from_bytes(req.method().as_str().as_bytes()).unwrap_or(http::Method::GET);
    *out.uri_mut() = req
        .uri()
        .path_and_query()
        .and_then(|pq| http::Uri::try_from(pq.as_str()).ok())
        .unwrap_or_else(|| http::Uri::from_static("/"));
    let headers = out.headers_mut();
    for (name, value) in req.headers() {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(n, v);
        }
    }
    out
}

/// An actix-web method from an `http` 1.x one.
pub(crate) fn method(m: &http::Method) -> actix_web::http::Method {
    actix_web::http::Method::from_bytes(m.as_str().as_bytes())
        .unwrap_or(actix_web::http::Method::GET)
}

/// A status as actix-web's type.
pub(crate) fn status(s: http::StatusCode) -> StatusCode {
    StatusCode::from_u16(s.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A core response as an actix-web response.
pub(crate) fn response(resp: &http::Response<String>) -> HttpResponse {
    build(resp.status(), resp.headers(), resp.body())
}

/// A forwarded answer, its body streamed, as an actix-web response.
pub(crate) fn response_stream(resp: http::Response<auth_core::ForwardBody>) -> HttpResponse {
    let (parts, body) = resp.into_parts();
    let mut out = HttpResponse::build(status(parts.status));
    for (name, value) in &parts.headers {
        out.append_header((name.as_str(), value.as_bytes()));
    }
    // actix-web takes errors it can box without `Send`: an io::Error carries ours.
    out.streaming(futures_util::TryStreamExt::map_err(
        body,
        std::io::Error::other,
    ))
}

/// A core rejection as an actix-web response.
pub(crate) fn rejection(r: &auth_core::adapter::Rejection) -> HttpResponse {
    build(r.status(), r.headers(), r.body_text())
}

fn build(code: http::StatusCode, headers: &http::HeaderMap, body: &str) -> HttpResponse {
    let mut out = HttpResponse::build(status(code));
    for (name, value) in headers {
        out.append_header((name.as_str(), value.as_bytes()));
    }
    out.body(body.to_owned())
}

//! The backend for a single-page app (issue 31): the examples' binaries forward the
//! SPA's calls under `/bff/remote/` to `REMOTE_API_URL` with the user's access token,
//! checked against a real HTTP server of the test that records what it received.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_testkit::DevProvider;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::accounts::{Example, Launch};

/// What the remote API received: method, path, query, headers, body.
#[derive(Clone, Debug)]
struct Received {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The remote API: `/v1/slow` never answers in time, `/v1/big` answers 2 MiB, anything
/// else 202 with a content type of its own, a `Set-Cookie` and a JSON echo.
struct Remote {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Remote {
    async fn start() -> Self {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let record = Arc::clone(&received);
        let app = axum::Router::new().fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap,
                  body: axum::body::Bytes| {
                let record = Arc::clone(&record);
                async move {
                    record.lock().expect("received").push(Received {
                        method: method.to_string(),
                        path: uri.path().to_owned(),
                        query: uri.query().map(str::to_owned),
                        headers: headers
                            .iter()
                            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
                            .collect(),
                        body: body.to_vec(),
                    });
                    match uri.path() {
                        "/v1/slow" => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            (axum::http::StatusCode::OK, Vec::new()).into_response()
                        }
                        "/v1/big" => {
                            (axum::http::StatusCode::OK, vec![b'x'; 2 << 20]).into_response()
                        }
                        // Chunked, no length said: 3 chunks of 100 KiB, or of 512 KiB
                        // (over the 1 MiB bound).
                        "/v1/stream" | "/v1/stream-big" => {
                            let size = if uri.path() == "/v1/stream" {
                                100 << 10
                            } else {
                                512 << 10
                            };
                            let chunks = (0..3).map(move |_| {
                                Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b's'; size]))
                            });
                            axum::body::Body::from_stream(one_by_one(chunks)).into_response()
                        }
                        _ => (
                            axum::http::StatusCode::ACCEPTED,
                            [
                                ("content-type", "application/vnd.remote+json"),
                                ("set-cookie", "remote=1; Path=/"),
                                ("x-remote", "yes"),
                            ],
                            json!({ "echo": String::from_utf8_lossy(&body) }).to_string(),
                        )
                            .into_response(),
                    }
                }
            },
        );
        use axum::response::IntoResponse as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            received,
            task,
        }
    }

    fn last(&self) -> Received {
        self.received
            .lock()
            .expect("received")
            .last()
            .cloned()
            .expect("a request reached the remote API")
    }

    fn count(&self) -> usize {
        self.received.lock().expect("received").len()
    }
}

/// A stream of `items`, one by one.
fn one_by_one<I: Iterator + Send + 'static>(
    mut items: I,
) -> impl futures_core::Stream<Item = I::Item> + Send + 'static
where
    I::Item: Send,
{
    futures_util::stream::poll_fn(move |_| std::task::Poll::Ready(items.next()))
}

/// A request body sent in `chunks` chunks of `size` bytes, with no length said.
fn chunked(chunks: usize, size: usize) -> reqwest::Body {
    reqwest::Body::wrap_stream(one_by_one(
        (0..chunks).map(move |_| Ok::<_, std::io::Error>(vec![b'c'; size])),
    ))
}

/// The claims of a JWT (unverified: the test only reads whose it is).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("json")
}

/// C3: `/bff/remote/{path}` (any method) reaches `REMOTE_API_URL/{path}` with the query,
/// the body and the SPA's own headers, the session's access token as `Authorization:
/// Bearer` (refreshed first when due: 20 s tokens, refreshed 30 s before expiry, so
/// every call refreshes), and neither the browser's cookies nor `X-CSRF`; the remote's
/// status, body and content type come back, its `Set-Cookie` does not. It needs the
/// session (401 JSON) and `X-CSRF: 1` (403 JSON). A body over the limit gets 413, a
/// remote that hangs 504 within `REMOTE_API_TIMEOUT_SECS`, a remote that answers too
/// much or cannot be reached 502.
pub(crate) async fn bff_remote_api_calls_carry_the_users_token(launch: Launch) {
    let remote = Remote::start().await;
    let ex = Example::start(
        launch,
        DevProvider::builder().access_token_ttl(Duration::from_secs(20)),
        None,
        &[
            ("REMOTE_API_URL", &remote.url),
            ("REMOTE_API_TIMEOUT_SECS", "1"),
        ],
    )
    .await;
    let url = |path: &str| format!("{}/bff/remote/{path}", ex.base);
    let anonymous = reqwest::Client::new();
    let r = anonymous
        .get(url("items"))
        .header("x-csrf", "1")
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "not_signed_in"
    );
    let alice = ex.signed_in("alice").await;
    let r = alice.get(url("items")).send().await.expect("call");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "csrf_header_required"
    );
    assert_eq!(remote.count(), 0, "nothing forwarded without both");

    let refreshes = ex.provider.stats().refresh_grants;
    let r = alice
        .post(url("items/42?sort=name&x=%2F"))
        .header("x-csrf", "1")
        .header("x-custom", "kept")
        .header("content-type", "application/json")
        .body(r#"{"name":"widget"}"#)
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.headers()["content-type"], "application/vnd.remote+json");
    assert_eq!(r.headers()["x-remote"], "yes");
    assert!(
        r.headers().get("set-cookie").is_none(),
        "the remote's cookie"
    );
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body, json!({ "echo": r#"{"name":"widget"}"# }));
    let got = remote.last();
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/v1/items/42");
    assert_eq!(got.query.as_deref(), Some("sort=name&x=%2F"));
    assert_eq!(got.body, br#"{"name":"widget"}"#);
    assert_eq!(got.header("x-custom"), Some("kept"));
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert!(got.header("cookie").is_none(), "{:?}", got.headers);
    assert!(got.header("x-csrf").is_none(), "{:?}", got.headers);
    let token = got
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .expect("a bearer token");
    let token_claims = claims(token);
    assert_eq!(token_claims["sub"], "alice");
    assert_eq!(token_claims["iss"], ex.provider.issuer());
    assert!(
        ex.provider.stats().refresh_grants > refreshes,
        "refreshed before forwarding"
    );
    let first = token.to_owned();
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let r = alice
            .request(method.clone(), url("items/42"))
            .header("x-csrf", "1")
            .send()
            .await
            .expect("call");
        assert_eq!(r.status(), StatusCode::ACCEPTED, "{method}");
        assert_eq!(remote.last().method, method.as_str());
    }
    let later = remote.last();
    let later = later.header("authorization").expect("token");
    assert_ne!(later, format!("Bearer {first}"), "the refreshed token");

    let r = alice
        .post(url("items"))
        .header("x-csrf", "1")
        .body(vec![b'a'; (1 << 20) + 1])
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let started = std::time::Instant::now();
    let r = alice
        .get(url("slow"))
        .header("x-csrf", "1")
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "remote_timeout"
    );
    let r = alice
        .get(url("big"))
        .header("x-csrf", "1")
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    // Streamed both ways, within the bound and past it (no length said either way).
    let r = alice
        .post(url("upload"))
        .header("x-csrf", "1")
        .body(chunked(3, 200 << 10))
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        remote.last().body.len(),
        600 << 10,
        "the streamed request whole"
    );
    assert!(
        remote.last().header("content-length").is_none(),
        "streamed on"
    );
    let before = remote.count();
    let r = alice
        .post(url("upload"))
        .header("x-csrf", "1")
        .body(chunked(5, 300 << 10))
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "request_too_large"
    );
    assert_eq!(remote.count(), before, "the remote never got it whole");
    let r = alice
        .get(url("stream"))
        .header("x-csrf", "1")
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.expect("body").len(), 300 << 10);
    let r = alice
        .get(url("stream-big"))
        .header("x-csrf", "1")
        .send()
        .await
        .expect("call");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the status was sent before the bound"
    );
    if let Ok(body) = r.bytes().await {
        // Else the connection was cut: what a client sees of an answer past the bound.
        assert!(body.len() <= 1 << 20, "cut at the bound: {}", body.len());
    }
    for path in ["../admin", "%2e%2e/admin", "a/../../admin"] {
        let r = alice
            .get(url(path))
            .header("x-csrf", "1")
            .send()
            .await
            .expect("call");
        assert!(
            r.status() == StatusCode::BAD_REQUEST || r.status() == StatusCode::NOT_FOUND,
            "{path}: {}",
            r.status()
        );
    }
    assert!(
        remote
            .received
            .lock()
            .expect("received")
            .iter()
            .all(|r| r.path.starts_with("/v1/")),
        "nothing outside the API's base"
    );
    drop(remote);
    let r = alice
        .get(url("items"))
        .header("x-csrf", "1")
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "remote_unreachable"
    );

    // The provider refuses the refresh due before forwarding: the session ends, 401.
    ex.provider
        .misbehave(auth_testkit::Misbehaviour::default().token_endpoint(
            auth_testkit::TokenFault::Status(400, r#"{"error":"invalid_grant"}"#.into()),
        ));
    let r = alice
        .get(url("items"))
        .header("x-csrf", "1")
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "refresh refused");
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "not_signed_in"
    );
    ex.provider.behave();
}

/// C3's last failure: with `REDIS_URL`, the shared state down answers a forwarded call
/// 503 JSON (the session cannot be checked), not 401 and not a forwarded request.
pub(crate) async fn bff_remote_api_calls_answer_503_while_the_shared_state_is_down(launch: Launch) {
    let remote = Remote::start().await;
    let mut redis = provider_harness::RedisServer::start();
    let ex = Example::start(
        launch,
        DevProvider::builder(),
        Some(&redis.url()),
        &[("REMOTE_API_URL", &remote.url)],
    )
    .await;
    let alice = ex.signed_in("alice").await;
    let call = || {
        alice
            .get(format!("{}/bff/remote/items", ex.base))
            .header("x-csrf", "1")
            .send()
    };
    assert_eq!(call().await.expect("call").status(), StatusCode::ACCEPTED);
    redis.stop();
    // The fast path stops serving from memory once Redis's heartbeat is missed (80 ms).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let r = loop {
        let r = call().await.expect("call");
        if r.status() != StatusCode::ACCEPTED {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "still forwarded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "temporarily_unavailable"
    );
    let forwarded = remote.count();
    assert_eq!(
        call().await.expect("call").status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        remote.count(),
        forwarded,
        "nothing forwarded while it is down"
    );
}

crate::suite! {$
    /// The backend-for-frontend suite: call `bff_suite!(launch)` in a test file, with a
    /// function that starts the example's binary ([`Launch`]).
    bff_suite(Launch):
        bff_remote_api_calls_carry_the_users_token,
        bff_remote_api_calls_answer_503_while_the_shared_state_is_down,
}

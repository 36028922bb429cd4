//! The HTTP client used to talk to the provider: no redirects (SSRF), connect and total
//! timeouts, and a cap on response size.

use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, StatusCode};

/// Why a request to the provider failed.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The request could not be sent or timed out.
    #[error("request to {url} failed: {source}")]
    Transport {
        /// The URL without its query.
        url: String,
        /// What went wrong (the HTTP client's error, without the URL).
        #[source]
        source: std::sync::Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The response was larger than allowed.
    #[error("response from {url} is larger than {limit} bytes")]
    TooLarge {
        /// The URL without its query.
        url: String,
        /// The limit.
        limit: usize,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct HttpClient {
    inner: reqwest::Client,
    max_bytes: usize,
}

pub(crate) type Response = http::Response<Vec<u8>>;

impl HttpClient {
    pub(crate) fn new(
        connect_timeout: Duration,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Self, HttpError> {
        // reqwest is built without a bundled crypto provider: install ring once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let inner = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .user_agent(concat!("auth-core/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Transport {
                url: String::new(),
                source: std::sync::Arc::new(e),
            })?;
        Ok(Self { inner, max_bytes })
    }

    pub(crate) async fn get(&self, url: &str) -> Result<Response, HttpError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        self.send(Method::GET, url, headers, Vec::new()).await
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Response, HttpError> {
        let shown = url.split('?').next().unwrap_or("").to_string();
        let transport = |e: reqwest::Error| HttpError::Transport {
            url: shown.clone(),
            source: std::sync::Arc::new(e.without_url()),
        };
        let mut resp = self
            .inner
            .request(method, url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(HttpError::TooLarge {
                url: shown,
                limit: self.max_bytes,
            });
        }
        let status = resp.status();
        let resp_headers = std::mem::take(resp.headers_mut());
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(HttpError::TooLarge {
                    url: shown,
                    limit: self.max_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
        let mut out = http::Response::new(body);
        *out.status_mut() =
            StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        *out.headers_mut() = resp_headers;
        Ok(out)
    }

    async fn oauth2_call(
        &self,
        req: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, HttpError> {
        let (parts, body) = req.into_parts();
        self.send(parts.method, &parts.uri.to_string(), parts.headers, body)
            .await
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for HttpClient {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, HttpError>> + Send + 'c>,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.oauth2_call(request))
    }
}

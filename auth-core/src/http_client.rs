//! The HTTP client used to talk to the provider: no redirects (SSRF), connect and total
//! timeouts, and a cap on response size.

use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, StatusCode};

/// Why a request to the provider failed.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The request could not be sent or timed out (the message names the cause, such
    /// as a certificate the client does not trust).
    #[error("request to {url} failed: {}", causes(source.as_ref()))]
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

/// An error and its causes, `: `-separated (reqwest's own message is only the first).
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = e.source();
    }
    out
}

impl HttpError {
    /// The request (its answer's body included) took longer than allowed.
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::Transport { source, .. } => source
                .downcast_ref::<reqwest::Error>()
                .is_some_and(reqwest::Error::is_timeout),
            Self::TooLarge { .. } => false,
        }
    }

    /// The provider's certificate was refused (not trusted, expired, for another name):
    /// a matter of configuration (`OIDC_CA_FILE`), not an outage.
    pub fn is_certificate_problem(&self) -> bool {
        match self {
            Self::Transport { source, .. } => refused_certificate(source.as_ref()),
            Self::TooLarge { .. } => false,
        }
    }
}

/// Whether rustls refused the peer's certificate somewhere in `error`'s causes.
fn refused_certificate(error: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::NoCertificatesPresented
        | rustls::Error::UnsupportedNameType,
    ) = error.downcast_ref::<rustls::Error>()
    {
        return true;
    }
    // tokio-rustls and hyper hand it over inside io::Errors, whose `source()` skips
    // the error they wrap.
    if let Some(inner) = error
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
        && refused_certificate(inner)
    {
        return true;
    }
    error.source().is_some_and(refused_certificate)
}

/// The provider endpoint a request goes to: the `endpoint` label of
/// `auth_provider_request_duration_seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Discovery,
    Jwks,
    Token,
    Userinfo,
    Par,
    Revocation,
    Introspection,
    /// Not the provider's: an API the app calls with its own token (not measured).
    Api,
}

impl Endpoint {
    fn label(self) -> Option<&'static str> {
        Some(match self {
            Self::Discovery => "discovery",
            Self::Jwks => "jwks",
            Self::Token => "token",
            Self::Userinfo => "userinfo",
            Self::Par => "par",
            Self::Revocation => "revocation",
            Self::Introspection => "introspection",
            Self::Api => return None,
        })
    }
}

/// One client for the app; each provider's copy ([`HttpClient::for_provider`]) names
/// the provider in the duration of its requests.
#[derive(Clone, Debug)]
pub(crate) struct HttpClient {
    inner: reqwest::Client,
    max_bytes: usize,
    /// The whole request's bound.
    timeout: Duration,
    /// The provider's id (`default` for the one provider of a single-provider app).
    provider: Option<std::sync::Arc<str>>,
}

pub(crate) type Response = http::Response<Vec<u8>>;

impl HttpClient {
    /// A client trusting `roots` beside the system's (none: the system's alone). The
    /// proxy variables (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`) are read
    /// now, as reqwest does by default.
    pub(crate) fn new(
        connect_timeout: Duration,
        timeout: Duration,
        max_bytes: usize,
        roots: &[reqwest::Certificate],
    ) -> Result<Self, HttpError> {
        // reqwest is built without a bundled crypto provider: install ring once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .user_agent(concat!("auth-core/", env!("CARGO_PKG_VERSION")));
        if !roots.is_empty() {
            builder = builder.tls_certs_merge(roots.iter().cloned());
        }
        let inner = builder.build().map_err(|e| HttpError::Transport {
            url: String::new(),
            source: std::sync::Arc::new(e),
        })?;
        Ok(Self {
            inner,
            max_bytes,
            timeout,
            provider: None,
        })
    }

    /// The client itself, for a request this type does not read whole (a forwarded
    /// call, streamed): no redirects, the same timeouts and trust roots.
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.inner
    }

    /// The whole request's bound.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The same client (one connection pool), its requests measured as `provider`'s.
    pub(crate) fn for_provider(&self, provider: Option<&str>) -> Self {
        Self {
            provider: Some(provider.unwrap_or("default").into()),
            ..self.clone()
        }
    }

    pub(crate) async fn get(&self, endpoint: Endpoint, url: &str) -> Result<Response, HttpError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        self.send(endpoint, Method::GET, url, headers, Vec::new())
            .await
    }

    /// Sends a request and reads its answer (within the size cap); a provider's
    /// request is measured, whatever its outcome.
    pub(crate) async fn send(
        &self,
        endpoint: Endpoint,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Response, HttpError> {
        let started = std::time::Instant::now();
        let result = self.exchange(method, url, headers, body).await;
        if let (Some(provider), Some(endpoint)) = (&self.provider, endpoint.label()) {
            crate::telemetry::provider_request(provider, endpoint, started.elapsed());
        }
        result
    }

    async fn exchange(
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
        self.send(
            Endpoint::Token,
            parts.method,
            &parts.uri.to_string(),
            parts.headers,
            body,
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl s_server` on a free loopback port with the test CA's server
    /// certificate; killed on drop.
    struct TlsServer(std::process::Child, u16);

    impl Drop for TlsServer {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    async fn tls_server() -> TlsServer {
        let certs = provider_harness::topologies::certificates();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let child = std::process::Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(port.to_string())
            .arg("-cert")
            .arg(certs.join("server.crt"))
            .arg("-key")
            .arg(certs.join("server.key"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl");
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        TlsServer(child, port)
    }

    /// A server whose certificate chains to a CA the client does not know is refused
    /// as a certificate problem, and the message says so; with the CA among the extra
    /// roots (`OIDC_CA_FILE`), the same server is trusted.
    #[tokio::test]
    async fn an_unknown_ca_is_a_certificate_problem_until_its_root_is_added() {
        let server = tls_server().await;
        let url = format!("https://127.0.0.1:{}/", server.1);
        let client = HttpClient::new(Duration::from_secs(2), Duration::from_secs(2), 1 << 20, &[])
            .expect("client");
        let e = client.get(Endpoint::Discovery, &url).await.unwrap_err();
        assert!(e.is_certificate_problem(), "{e:?}");
        assert!(e.to_string().contains("certificate"), "{e}");
        let ca =
            std::fs::read(provider_harness::topologies::certificates().join("ca.crt")).expect("ca");
        let roots = reqwest::Certificate::from_pem_bundle(&ca).expect("pem");
        let trusting = HttpClient::new(
            Duration::from_secs(2),
            Duration::from_secs(2),
            1 << 20,
            &roots,
        )
        .expect("client");
        let r = trusting
            .get(Endpoint::Discovery, &url)
            .await
            .expect("trusted");
        assert_eq!(r.status(), StatusCode::OK);
    }
}

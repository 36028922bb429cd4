//! Provider metadata: OpenID discovery, or endpoints given by hand.

use serde::Deserialize;
use url::Url;

use crate::config_error::{ConfigError, check_secure};
use crate::http_client::{HttpClient, HttpError};
use crate::provider::config::ProviderConfig;

/// Errors while discovering the provider.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The discovery document could not be fetched.
    #[error("could not fetch the provider's discovery document: {0}")]
    Http(#[from] HttpError),
    /// The discovery document answered with an error status.
    #[error("the discovery document at {url} answered HTTP {status}: check OIDC_ISSUER")]
    Status {
        /// The document URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The document is not valid provider metadata.
    #[error("the discovery document is not valid provider metadata: {0}")]
    Invalid(#[source] serde_json::Error),
    /// The document names another issuer (mix-up or misconfiguration).
    #[error(
        "the discovery document names issuer {found:?}, but OIDC_ISSUER is {expected:?}; they must be equal, character for character"
    )]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The issuer in the document.
        found: String,
    },
    /// An endpoint is not https (or loopback http).
    #[error(transparent)]
    InsecureEndpoint(#[from] ConfigError),
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    Client(#[source] HttpError),
    /// The provider lacks what the configured security profile needs.
    #[error("the provider does not support the {profile} profile: it lacks {}", missing.join(", "))]
    ProfileNotSupported {
        /// The profile (`FAPI 2.0`).
        profile: &'static str,
        /// What is missing, named as in the discovery document.
        missing: Vec<&'static str>,
    },
    /// A setting needs an endpoint the provider's discovery document does not name.
    #[error(
        "{setting} needs the provider's {endpoint}, and neither its discovery document nor its RFC 8414 metadata names one"
    )]
    MissingEndpoint {
        /// The setting (`OIDC_API_INTROSPECTION`).
        setting: &'static str,
        /// The endpoint, as the discovery document names it.
        endpoint: &'static str,
    },
    /// Discovery was cancelled (the runtime is shutting down).
    #[error("discovery was cancelled: the runtime is shutting down")]
    Cancelled,
    /// The Redis client could not be set up (a bad `REDIS_URL`; an unreachable server
    /// is not an error at start: sessions answer 503 until it is back).
    #[error("the Redis client could not be set up: {0}")]
    Redis(#[source] crate::session::shared::SharedStateError),
}

/// Endpoints of a provider, for providers without discovery (or to override it).
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct ProviderEndpoints {
    /// The authorization endpoint.
    pub authorization_endpoint: Url,
    /// The token endpoint.
    pub token_endpoint: Url,
    /// The JWKS URI.
    pub jwks_uri: Url,
    /// RP-initiated logout endpoint, if the provider has one.
    pub end_session_endpoint: Option<Url>,
    /// The userinfo endpoint, if any.
    pub userinfo_endpoint: Option<Url>,
    /// Whether the provider sends `iss` in authorization responses (RFC 9207).
    pub authorization_response_iss_parameter_supported: bool,
    /// How clients may authenticate at the token endpoint (empty: not said).
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// The pushed authorization request endpoint (RFC 9126), if any.
    pub pushed_authorization_request_endpoint: Option<Url>,
    /// Whether the provider accepts only pushed authorization requests.
    pub require_pushed_authorization_requests: bool,
    /// The PKCE methods it supports (empty: not said).
    pub code_challenge_methods_supported: Vec<String>,
    /// The DPoP proof algorithms it accepts (empty: no DPoP, or not said).
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// The algorithms it signs ID tokens with (empty: not said).
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// The token revocation endpoint (RFC 7009), if any.
    pub revocation_endpoint: Option<Url>,
    /// The token introspection endpoint (RFC 7662), if any.
    pub introspection_endpoint: Option<Url>,
    /// The response modes it supports (empty: not said).
    pub response_modes_supported: Vec<String>,
}

impl ProviderEndpoints {
    /// The three endpoints every provider has; no end-session or userinfo endpoint, and
    /// no RFC 9207 `iss` (set those fields afterwards if the provider has them).
    pub fn new(authorization_endpoint: Url, token_endpoint: Url, jwks_uri: Url) -> Self {
        Self {
            authorization_endpoint,
            token_endpoint,
            jwks_uri,
            end_session_endpoint: None,
            userinfo_endpoint: None,
            authorization_response_iss_parameter_supported: false,
            token_endpoint_auth_methods_supported: Vec::new(),
            pushed_authorization_request_endpoint: None,
            require_pushed_authorization_requests: false,
            code_challenge_methods_supported: Vec::new(),
            dpop_signing_alg_values_supported: Vec::new(),
            id_token_signing_alg_values_supported: Vec::new(),
            revocation_endpoint: None,
            introspection_endpoint: None,
            response_modes_supported: Vec::new(),
        }
    }

    /// What the FAPI 2.0 profile needs and this provider does not say it has.
    pub(crate) fn missing_for_fapi2(&self) -> Vec<&'static str> {
        let has = |list: &[String], v: &str| list.iter().any(|x| x == v);
        let mut missing = Vec::new();
        if self.pushed_authorization_request_endpoint.is_none() {
            missing.push("pushed_authorization_request_endpoint (PAR)");
        }
        if !self.authorization_response_iss_parameter_supported {
            missing.push("authorization_response_iss_parameter_supported (RFC 9207)");
        }
        if !has(
            &self.token_endpoint_auth_methods_supported,
            "private_key_jwt",
        ) {
            missing.push("private_key_jwt in token_endpoint_auth_methods_supported");
        }
        if !has(&self.dpop_signing_alg_values_supported, "ES256") {
            missing.push("ES256 in dpop_signing_alg_values_supported (DPoP)");
        }
        if !has(&self.code_challenge_methods_supported, "S256") {
            missing.push("S256 in code_challenge_methods_supported (PKCE)");
        }
        // The profile takes ID tokens signed with ES256 or PS256 only: a provider that
        // signs with neither would fail every sign-in.
        if !has(&self.id_token_signing_alg_values_supported, "ES256")
            && !has(&self.id_token_signing_alg_values_supported, "PS256")
        {
            missing.push("ES256 or PS256 in id_token_signing_alg_values_supported");
        }
        missing
    }

    pub(crate) fn urls(&self) -> Vec<(&'static str, &Url)> {
        let mut v = vec![
            ("authorization_endpoint", &self.authorization_endpoint),
            ("token_endpoint", &self.token_endpoint),
            ("jwks_uri", &self.jwks_uri),
        ];
        if let Some(u) = &self.end_session_endpoint {
            v.push(("end_session_endpoint", u));
        }
        if let Some(u) = &self.userinfo_endpoint {
            v.push(("userinfo_endpoint", u));
        }
        if let Some(u) = &self.pushed_authorization_request_endpoint {
            v.push(("pushed_authorization_request_endpoint", u));
        }
        if let Some(u) = &self.revocation_endpoint {
            v.push(("revocation_endpoint", u));
        }
        if let Some(u) = &self.introspection_endpoint {
            v.push(("introspection_endpoint", u));
        }
        v
    }
}

/// What RFC 8414 authorization server metadata adds to OpenID discovery here.
#[derive(Deserialize)]
struct ServerMetadata {
    issuer: String,
    #[serde(default)]
    introspection_endpoint: Option<Url>,
    #[serde(default)]
    revocation_endpoint: Option<Url>,
}

/// The provider's RFC 8414 metadata (`{origin}/.well-known/oauth-authorization-server
/// {issuer's path}`, §3.1), when it answers for the same issuer; `None` otherwise (the
/// caller goes on without what it would have added).
async fn authorization_server_metadata(
    config: &ProviderConfig,
    http: &HttpClient,
) -> Option<ServerMetadata> {
    let issuer = Url::parse(&config.issuer).ok()?;
    let mut url = issuer.clone();
    let path = issuer.path().trim_end_matches('/');
    url.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    url.set_query(None);
    let resp = http
        .get(crate::http_client::Endpoint::Discovery, url.as_str())
        .await
        .ok()?;
    let doc: ServerMetadata = resp
        .status()
        .is_success()
        .then(|| serde_json::from_slice(resp.body()).ok())
        .flatten()?;
    if doc.issuer != config.issuer {
        tracing::warn!(issuer = %config.issuer, found = %doc.issuer, "the provider's RFC 8414 metadata names another issuer: ignored");
        return None;
    }
    Some(doc)
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    authorization_endpoint: Url,
    token_endpoint: Url,
    jwks_uri: Url,
    #[serde(default)]
    end_session_endpoint: Option<Url>,
    #[serde(default)]
    userinfo_endpoint: Option<Url>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default)]
    pushed_authorization_request_endpoint: Option<Url>,
    #[serde(default)]
    require_pushed_authorization_requests: bool,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    dpop_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    revocation_endpoint: Option<Url>,
    #[serde(default)]
    introspection_endpoint: Option<Url>,
    #[serde(default)]
    response_modes_supported: Vec<String>,
}

/// Fetches `{issuer}/.well-known/openid-configuration` and checks it.
pub(crate) async fn discover(
    config: &ProviderConfig,
    http: &HttpClient,
) -> Result<ProviderEndpoints, DiscoveryError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        config.issuer.trim_end_matches('/')
    );
    let resp = http
        .get(crate::http_client::Endpoint::Discovery, &url)
        .await?;
    if !resp.status().is_success() {
        return Err(DiscoveryError::Status {
            url,
            status: resp.status().as_u16(),
        });
    }
    let doc: DiscoveryDocument =
        serde_json::from_slice(resp.body()).map_err(DiscoveryError::Invalid)?;
    // Entra ID's multi-tenant endpoints publish the template their tokens fill in.
    let expected = match &config.tenants {
        Some(rule) => rule.template(),
        None => config.issuer.clone(),
    };
    if doc.issuer != expected {
        return Err(DiscoveryError::IssuerMismatch {
            expected,
            found: doc.issuer,
        });
    }
    let mut endpoints = ProviderEndpoints {
        authorization_endpoint: doc.authorization_endpoint,
        token_endpoint: doc.token_endpoint,
        jwks_uri: doc.jwks_uri,
        end_session_endpoint: doc.end_session_endpoint,
        userinfo_endpoint: doc.userinfo_endpoint,
        authorization_response_iss_parameter_supported: doc
            .authorization_response_iss_parameter_supported,
        token_endpoint_auth_methods_supported: doc
            .token_endpoint_auth_methods_supported
            .into_iter()
            .take(32)
            .collect(),
        pushed_authorization_request_endpoint: doc.pushed_authorization_request_endpoint,
        require_pushed_authorization_requests: doc.require_pushed_authorization_requests,
        code_challenge_methods_supported: doc
            .code_challenge_methods_supported
            .into_iter()
            .take(16)
            .collect(),
        dpop_signing_alg_values_supported: doc
            .dpop_signing_alg_values_supported
            .into_iter()
            .take(16)
            .collect(),
        id_token_signing_alg_values_supported: doc
            .id_token_signing_alg_values_supported
            .into_iter()
            .take(16)
            .collect(),
        revocation_endpoint: doc.revocation_endpoint,
        introspection_endpoint: doc.introspection_endpoint,
        response_modes_supported: doc.response_modes_supported.into_iter().take(16).collect(),
    };
    if config.api_introspection && endpoints.introspection_endpoint.is_none() {
        // Some providers (Django OAuth Toolkit) name it in their RFC 8414 metadata only.
        if let Some(more) = authorization_server_metadata(config, http).await {
            endpoints.introspection_endpoint = more.introspection_endpoint;
            endpoints.revocation_endpoint =
                endpoints.revocation_endpoint.or(more.revocation_endpoint);
        }
    }
    let modes = &endpoints.response_modes_supported;
    let mode = config.response_mode.as_str();
    if config.response_mode != crate::ResponseMode::Query
        && !modes.is_empty()
        && !modes.iter().any(|m| m == mode)
    {
        tracing::warn!(
            issuer = %config.issuer,
            response_mode = mode,
            "the provider does not list this response mode in response_modes_supported: logins may fail"
        );
    }
    for (name, u) in endpoints.urls() {
        check_secure(name, u)?;
    }
    Ok(endpoints)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{Auth, AuthConfig, DiscoveryError};

    /// A provider at `/t` whose OpenID discovery names no introspection endpoint and
    /// whose RFC 8414 metadata (at the root, the issuer's path appended) names
    /// `metadata_issuer` as its issuer.
    async fn provider(metadata_issuer: Option<&str>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("http://{}/t", listener.local_addr().expect("addr"));
        let oidc = json!({
            "issuer": issuer, "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"), "jwks_uri": format!("{issuer}/jwks"),
        });
        let metadata = json!({
            "issuer": metadata_issuer.map_or(issuer.clone(), str::to_owned),
            "introspection_endpoint": format!("{issuer}/introspect"),
            "revocation_endpoint": format!("{issuer}/revoke"),
        });
        let app = axum::Router::new()
            .route(
                "/t/.well-known/openid-configuration",
                axum::routing::get(move || async move { axum::Json(oidc) }),
            )
            .route(
                "/t/jwks",
                axum::routing::get(|| async { axum::Json(json!({ "keys": [] })) }),
            );
        let app = if metadata_issuer == Some("none") {
            app
        } else {
            app.route(
                "/.well-known/oauth-authorization-server/t",
                axum::routing::get(move || async move { axum::Json(metadata) }),
            )
        };
        tokio::spawn(async move { axum::serve(listener, app).await });
        issuer
    }

    async fn discover(issuer: &str) -> Result<Auth, DiscoveryError> {
        let config = AuthConfig::builder(issuer, "client", "http://127.0.0.1:3000")
            .with_client_secret("secret")
            .with_api_audience("https://api.test")
            .with_api_introspection(true)
            .build()
            .expect("config");
        Auth::discover(config).await
    }

    /// An introspection endpoint named only in the provider's RFC 8414 metadata (as
    /// Django OAuth Toolkit does) is found there, with its revocation endpoint.
    #[tokio::test]
    async fn introspection_endpoint_found_in_rfc8414_metadata() {
        let issuer = provider(None).await;
        let auth = discover(&issuer).await.expect("discovered");
        let endpoints = auth.0.provider(0).endpoints().cloned().expect("endpoints");
        assert_eq!(
            endpoints
                .introspection_endpoint
                .map(String::from)
                .as_deref(),
            Some(format!("{issuer}/introspect").as_str())
        );
        assert!(endpoints.revocation_endpoint.is_some());
    }

    /// RFC 8414 metadata naming another issuer is not used (mix-up), and neither is
    /// none at all: introspection then has no endpoint, and the app does not start.
    #[tokio::test]
    async fn rp_rfc8414_metadata_of_another_issuer_refused() {
        for other in ["https://evil.example", "none"] {
            let issuer = provider(Some(other)).await;
            let refused = discover(&issuer).await;
            assert!(
                matches!(refused, Err(DiscoveryError::MissingEndpoint { .. })),
                "{other}: {refused:?}"
            );
        }
    }
}

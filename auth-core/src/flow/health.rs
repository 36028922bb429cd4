//! Readiness: whether this instance can serve sign-ins now (every provider discovered
//! with its keys, the shared state reachable), for a load balancer or Kubernetes.

use serde::Serialize;

use crate::auth::Auth;

/// A provider's readiness ([`Health::providers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProviderHealth {
    /// Discovered, its keys loaded: sign-ins work.
    Ready,
    /// Not discovered yet, and no attempt has failed.
    Discovering,
    /// Its last discovery attempt failed: retried in the background.
    Unreachable,
}

/// The shared state's health ([`Health::shared_state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SharedHealth {
    /// Redis answers.
    Ok,
    /// No shared state: this process is all there is.
    None,
    /// Redis does not answer.
    Down,
}

/// What [`Auth::health`] found: `GET {prefix}/health` answers it as JSON, 200 when
/// [`Health::is_ok`], else 503. No secret, token or URL in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// Each provider by id (`default` for the one provider of a single-provider app).
    pub providers: std::collections::BTreeMap<String, ProviderHealth>,
    /// The shared state (Redis).
    pub shared_state: SharedHealth,
}

impl Health {
    /// Whether this instance can serve sign-ins now.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

impl Auth {
    /// Whether this instance can serve sign-ins now: each provider discovered and its
    /// keys loaded, and the shared state (Redis) answering within its timeout.
    pub async fn health(&self) -> Health {
        let providers: std::collections::BTreeMap<String, ProviderHealth> = self
            .0
            .providers
            .all()
            .iter()
            .filter(|p| !p.removed())
            .map(|p| {
                let id = p.config.id.clone().unwrap_or_else(|| "default".into());
                let state = if p.ready().is_ok() {
                    ProviderHealth::Ready
                } else if p.discovery_failed() {
                    ProviderHealth::Unreachable
                } else {
                    ProviderHealth::Discovering
                };
                (id, state)
            })
            .collect();
        let shared_state = match self.0.shared.ping() {
            None => SharedHealth::None,
            Some(ping) => match ping.await {
                Ok(()) => SharedHealth::Ok,
                Err(e) => {
                    tracing::warn!(error = %e, "health: the shared state does not answer");
                    SharedHealth::Down
                }
            },
        };
        let ok = providers.values().all(|p| *p == ProviderHealth::Ready)
            && shared_state != SharedHealth::Down;
        Health {
            status: if ok { "ok" } else { "unavailable" },
            providers,
            shared_state,
        }
    }

    /// `GET {prefix}/health`: [`Auth::health`] as JSON, `Cache-Control: no-store`.
    pub(crate) async fn health_response(&self) -> http::Response<String> {
        let health = self.health().await;
        let body = serde_json::to_string(&health).unwrap_or_default();
        let mut r = http::Response::new(body);
        *r.status_mut() = if health.is_ok() {
            http::StatusCode::OK
        } else {
            http::StatusCode::SERVICE_UNAVAILABLE
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(base: &str) -> crate::ProviderEndpoints {
        let url = |p: &str| url::Url::parse(&format!("{base}{p}")).expect("url");
        crate::ProviderEndpoints::new(url("/authorize"), url("/token"), url("/jwks"))
    }

    fn closed_port() -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    }

    #[tokio::test]
    async fn health_is_ok_with_every_provider_ready_and_no_shared_state() {
        let config =
            crate::AuthConfig::builder("http://127.0.0.1:9", "client", "http://127.0.0.1:3000")
                .with_endpoints(endpoints("http://127.0.0.1:9"))
                .build()
                .expect("config");
        let auth = Auth::discover(config).await.expect("auth");
        let r = auth.health_response().await;
        assert_eq!(r.status(), http::StatusCode::OK);
        assert_eq!(r.headers()[http::header::CACHE_CONTROL], "no-store");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(r.body()).expect("json"),
            serde_json::json!({ "status": "ok", "providers": { "default": "ready" }, "shared_state": "none" })
        );
    }

    /// A provider that does not answer: the app starts when it asked to, health is 503
    /// with the provider `unreachable`; with several providers, the one that answers is
    /// `ready`.
    #[tokio::test]
    async fn health_is_unavailable_while_a_provider_is_unreachable() {
        let down = closed_port();
        let config = crate::AuthConfig::builder(&down, "client", "http://127.0.0.1:3000")
            .with_connect_timeout(std::time::Duration::from_millis(200))
            .build()
            .expect("config");
        assert!(
            Auth::discover(config.clone()).await.is_err(),
            "by default a provider that does not answer stops the start"
        );
        let config = crate::AuthConfig::builder(&down, "client", "http://127.0.0.1:3000")
            .with_connect_timeout(std::time::Duration::from_millis(200))
            .with_start_while_provider_down(true)
            .build()
            .expect("config");
        let auth = Auth::discover(config).await.expect("starts");
        let h = auth.health().await;
        assert!(!h.is_ok());
        assert_eq!(h.providers["default"], ProviderHealth::Unreachable);
        let r = auth.health_response().await;
        assert_eq!(r.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            r.body().contains("\"status\":\"unavailable\""),
            "{}",
            r.body()
        );
        assert!(!r.body().contains("127.0.0.1"), "no URL: {}", r.body());
        let config = crate::AuthConfig::builder_for_providers("http://127.0.0.1:3000")
            .with_provider(
                crate::ProviderConfig::builder("a", "http://127.0.0.1:9", "client")
                    .with_client_secret("s")
                    .with_endpoints(endpoints("http://127.0.0.1:9")),
            )
            .with_provider(
                crate::ProviderConfig::builder("b", &down, "client").with_client_secret("s"),
            )
            .with_connect_timeout(std::time::Duration::from_millis(200))
            .build()
            .expect("config");
        let auth = Auth::discover(config).await.expect("a is up");
        let h = auth.health().await;
        assert_eq!(h.providers["a"], ProviderHealth::Ready);
        assert_eq!(h.providers["b"], ProviderHealth::Unreachable);
        assert_eq!(h.status, "unavailable");
    }

    /// Redis down: `shared_state` `down` and 503; back up: ok again.
    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn health_follows_redis_down_and_back() {
        let mut server = provider_harness::RedisServer::start();
        let config =
            crate::AuthConfig::builder("http://127.0.0.1:9", "client", "http://127.0.0.1:3000")
                .with_endpoints(endpoints("http://127.0.0.1:9"))
                .with_redis_url(server.url())
                .with_redis_timeout(std::time::Duration::from_millis(300))
                .with_app_secret_hex(&"ab".repeat(32))
                .build()
                .expect("config");
        let auth = Auth::discover(config).await.expect("auth");
        assert_eq!(auth.health().await.shared_state, SharedHealth::Ok);
        server.stop();
        let h = auth.health().await;
        assert_eq!(
            (h.shared_state, h.status),
            (SharedHealth::Down, "unavailable")
        );
        server.restart();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !auth.health().await.is_ok() {
            assert!(std::time::Instant::now() < deadline, "Redis is back");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

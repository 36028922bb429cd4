//! Providers added and removed while the app runs (a B2B app's customers' own SSO):
//! checked as the configuration's are, discovered before they serve, then answered at
//! the same routes (`{prefix}/login/{id}`...), which name any provider by its id.

use crate::auth::Auth;
use crate::provider::config::ProviderConfigBuilder;
use crate::provider::state::ProviderState;

/// Why a provider could not be added while the app runs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AddProviderError {
    /// The builder has no id ([`crate::ProviderConfig::builder`] gives one).
    #[error("a provider added while the app runs needs an id")]
    MissingId,
    /// The settings are not valid (the id's characters, the issuer, a domain...).
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    /// A provider of the configuration has this id: it cannot be replaced at run time.
    #[error("provider {0:?} comes from the configuration")]
    Configured(String),
    /// A provider added at run time has this id already.
    #[error("a provider named {0:?} exists")]
    Duplicate(String),
    /// Another provider serves this email domain.
    #[error("domain {domain} is served by provider {by:?}")]
    DomainTaken {
        /// The domain.
        domain: String,
        /// The provider that serves it.
        by: String,
    },
    /// The provider to replace was removed meanwhile: it is not brought back.
    #[error("provider {0:?} was removed meanwhile")]
    Removed(String),
    /// The provider's discovery failed (unreachable, another issuer, insecure
    /// endpoints...): nothing was added.
    #[error("the provider could not be discovered: {0}")]
    Discovery(#[source] crate::DiscoveryError),
}

impl Auth {
    /// Adds a provider while the app runs, on this instance (an app whose instances
    /// share providers keeps them in its own store and adds them on each). `provider` is
    /// built as the configuration's are ([`crate::ProviderConfig::builder`]: its id
    /// `[a-z0-9-]{1,32}`, its redirect URI `APP_URL{prefix}/callback/{id}`), must not
    /// reuse an id or a domain of another provider, and is discovered first: only a
    /// provider that answers with its own issuer is added. It then serves at once at
    /// `{prefix}/login/{id}`, `{prefix}/callback/{id}`, its back- and front-channel
    /// logout routes, the chooser, home-realm discovery and, with an API audience,
    /// bearer tokens of its issuer.
    pub async fn add_provider(
        &self,
        provider: ProviderConfigBuilder,
    ) -> Result<(), AddProviderError> {
        let inner = &self.0;
        let config = self.added_config(provider)?;
        let id = config.id.clone().unwrap_or_default();
        self.check_new(&config)?;
        let state = self.discovered(config).await?;
        // Checked again where additions are serialized: another may have come meanwhile.
        inner
            .providers
            .push_checked(state, |added| self.check_new(added))?;
        tracing::info!(provider = %id, "provider added");
        Ok(())
    }

    /// Removes the provider `id` that was added while the app ran: its logins start no
    /// more and its pending logins and routes answer 404 `unknown_provider`; its users'
    /// sessions end at their next request on every instance (recorded as the logouts
    /// are, with Redis where every instance reads them, so that a provider added again
    /// under the same id does not bring them back). `Ok(false)` when no such provider
    /// was added (the configuration's are never removed); `Err` when the provider is
    /// removed here but the end of its sessions could not be recorded in the shared
    /// store (this instance ends them; another one when its own listing of the
    /// [`crate::ProviderSource`] removes the provider, or, without a source, when the
    /// app removes it there).
    pub async fn remove_provider(&self, id: &str) -> Result<bool, crate::SharedStateError> {
        if !self.0.providers.remove_added(id) {
            return Ok(false);
        }
        tracing::info!(provider = %id, "provider removed");
        self.end_sessions_of_provider(id).await?;
        Ok(true)
    }

    /// Replaces the provider added while the app runs that has `config`'s id with
    /// `config` (a rotated secret, a tenant let in, other domains): discovered first,
    /// then swapped in, so that no request finds neither; its sessions and pending
    /// logins go on with the new settings.
    pub(crate) async fn replace_provider(
        &self,
        config: crate::ProviderConfig,
    ) -> Result<(), AddProviderError> {
        let inner = &self.0;
        let id = config.id.clone().unwrap_or_default();
        self.check_other(&config, Some(&id))?;
        let state = self.discovered(config).await?;
        let replaced = inner
            .providers
            .replace_added(state, |new| self.check_other(new, Some(&id)))?;
        if replaced.is_none() {
            return Err(AddProviderError::Removed(id));
        }
        tracing::info!(provider = %id, "provider replaced");
        Ok(())
    }

    /// The provider of `config`, discovered.
    async fn discovered(
        &self,
        config: crate::ProviderConfig,
    ) -> Result<ProviderState, AddProviderError> {
        let inner = &self.0;
        let state = ProviderState::new(config, &inner.http);
        state
            .discover(&inner.config.tokens, &inner.config.clock)
            .await
            .map_err(AddProviderError::Discovery)?;
        Ok(state)
    }

    /// A provider to add while the app runs, checked and built (its redirect URI
    /// `APP_URL{prefix}/callback/{id}`).
    pub(crate) fn added_config(
        &self,
        provider: ProviderConfigBuilder,
    ) -> Result<crate::ProviderConfig, AddProviderError> {
        let inner = &self.0;
        let id = provider.id.clone().ok_or(AddProviderError::MissingId)?;
        crate::provider::config::check_id(&id)?;
        let callback = crate::config::builder::callback_url(
            &inner.config.app_url,
            &inner.config.route_prefix,
            Some(&id),
        )?;
        Ok(provider.build(callback)?)
    }

    /// The ids of the providers added while the app runs (not removed), oldest first.
    pub fn added_providers(&self) -> Vec<String> {
        let configured = self.0.providers.configured().len();
        self.0.providers.all()[configured..]
            .iter()
            .filter(|p| !p.removed())
            .filter_map(|p| p.config.id.clone())
            .collect()
    }

    /// Seals `plaintext` (a provider's client secret the app keeps in its database, say)
    /// with the app's key (`APP_SECRET`'s first key; a random one for this process when
    /// it is unset), bound to `context` (the row's id): AES-256-GCM, base64url.
    pub fn seal_app_secret(&self, context: &str, plaintext: &str) -> String {
        self.app_sealer()
            .seal(plaintext.as_bytes(), &app_context(context))
            .unwrap_or_default()
    }

    /// Opens what [`Auth::seal_app_secret`] sealed under `context`, with any of
    /// `APP_SECRET`'s keys; `None` when it was altered, sealed for another context or
    /// with a key the app no longer has.
    pub fn open_app_secret(&self, context: &str, sealed: &str) -> Option<String> {
        let plain = self.app_sealer().open(sealed, &app_context(context))?;
        String::from_utf8(plain).ok()
    }

    fn app_sealer(&self) -> crate::session::seal::Sealer {
        crate::session::seal::Sealer::derive_all(self.0.pending.masters())
            .expect("the pending cookies always have a key")
    }

    /// A new provider's id and domains are no other provider's.
    pub(crate) fn check_new(&self, new: &crate::ProviderConfig) -> Result<(), AddProviderError> {
        self.check_other(new, None)
    }

    /// `new`'s id and domains are no other provider's but the added one named
    /// `replacing`'s.
    fn check_other(
        &self,
        new: &crate::ProviderConfig,
        replacing: Option<&str>,
    ) -> Result<(), AddProviderError> {
        let id = new.id.clone().unwrap_or_default();
        let providers = self.0.providers.all();
        let configured = self.0.providers.configured().len();
        for (i, p) in providers.iter().enumerate().filter(|(_, p)| !p.removed()) {
            let other = p.config.id.clone().unwrap_or_default();
            if i >= configured && replacing == Some(other.as_str()) {
                continue;
            }
            if other == id {
                return Err(if i < configured {
                    AddProviderError::Configured(id)
                } else {
                    AddProviderError::Duplicate(id)
                });
            }
            if let Some(domain) = new.domains.iter().find(|d| p.config.domains.contains(d)) {
                return Err(AddProviderError::DomainTaken {
                    domain: domain.clone(),
                    by: other,
                });
            }
        }
        Ok(())
    }
}

/// The associated data of an app secret sealed for `context`: never a session record's.
fn app_context(context: &str) -> Vec<u8> {
    [b"app secret|".as_slice(), context.as_bytes()].concat()
}

#[cfg(test)]
pub(crate) mod tests {
    use http::{Method, StatusCode};

    use super::*;

    /// A provider whose endpoints are given (no discovery).
    pub(crate) fn provider(id: &str, issuer: &str) -> ProviderConfigBuilder {
        let url = |p: &str| url::Url::parse(&format!("{issuer}{p}")).expect("url");
        crate::ProviderConfig::builder(id, issuer, "client")
            .with_client_secret("secret")
            .with_endpoints(crate::ProviderEndpoints::new(
                url("/authorize"),
                url("/token"),
                url("/jwks"),
            ))
    }

    /// An app with provider `a` (serving `a.example`).
    pub(crate) async fn app() -> Auth {
        let config = crate::AuthConfig::builder_for_providers("https://app.example.com")
            .with_provider(provider("a", "https://a.example.com").with_domains(["a.example"]))
            .build()
            .expect("config");
        Auth::discover(config).await.expect("auth")
    }

    async fn login(auth: &Auth, path: &str) -> http::Response<String> {
        let endpoint = auth
            .routes()
            .into_iter()
            .find(|r| {
                r.path()
                    == if path.starts_with("/auth/login/") {
                        "/auth/login/{id}"
                    } else {
                        "/auth/login"
                    }
            })
            .expect("route")
            .endpoint();
        let request = http::Request::builder()
            .method(Method::GET)
            .uri(path)
            .body(String::new())
            .expect("request");
        auth.respond(endpoint, &request).await
    }

    fn location(r: &http::Response<String>) -> &str {
        r.headers()[http::header::LOCATION].to_str().expect("ascii")
    }

    /// A provider added while the app runs serves at once: its login route, its
    /// redirect URI, home-realm discovery by its domain. Removed, its routes answer 404
    /// and its users' sessions end at their next request; it can be added again.
    #[tokio::test]
    async fn a_provider_added_at_run_time_serves_at_once_and_stops_when_removed() {
        let auth = app().await;
        let corp = || provider("corp", "https://corp.example.com").with_domains(["corp.example"]);
        auth.add_provider(corp()).await.expect("added");
        assert_eq!(auth.added_providers(), ["corp"]);
        let r = login(&auth, "/auth/login/corp").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let to = url::Url::parse(location(&r)).expect("url");
        assert!(
            to.as_str()
                .starts_with("https://corp.example.com/authorize?"),
            "{to}"
        );
        assert!(
            to.query_pairs()
                .any(|(k, v)| k == "redirect_uri"
                    && v == "https://app.example.com/auth/callback/corp"),
            "{to}"
        );
        let r = login(&auth, "/auth/login?login_hint=dana%40corp.example").await;
        assert!(location(&r).starts_with("https://corp.example.com/authorize?"));

        let mut session = crate::AuthSession::bare();
        session.provider = Some("corp".into());
        let ended_by_removal = |status| {
            matches!(
                status,
                crate::flow::refresh::SessionStatus::Ended(
                    crate::session::store::SessionEnd::ProviderRemoved
                )
            )
        };
        assert!(!ended_by_removal(auth.check_session(&session).await));
        assert!(auth.remove_provider("corp").await.expect("recorded"));
        assert!(
            !auth.remove_provider("corp").await.expect("nothing"),
            "once"
        );
        assert!(
            !auth.remove_provider("a").await.expect("nothing"),
            "the configuration's stay"
        );
        assert!(auth.added_providers().is_empty());
        let r = login(&auth, "/auth/login/corp").await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(r.body().contains("unknown_provider"));
        assert!(ended_by_removal(auth.check_session(&session).await));
        auth.add_provider(corp()).await.expect("added again");
        assert_eq!(
            login(&auth, "/auth/login/corp").await.status(),
            StatusCode::SEE_OTHER
        );
        // Added again under the same id, it does not bring back the sessions its
        // removal ended (the recorded removal still ends them); new ones go on.
        assert!(ended_by_removal(auth.check_session(&session).await));
        let mut later = session.clone();
        later.authenticated_at = auth.0.config.clock.now_secs() + 1;
        assert!(!ended_by_removal(auth.check_session(&later).await));
    }

    /// A replacement that finds its provider removed meanwhile does not bring it
    /// back.
    #[tokio::test]
    async fn rp_replacing_a_provider_removed_meanwhile_refused() {
        let auth = app().await;
        auth.add_provider(provider("corp", "https://corp.example.com"))
            .await
            .expect("added");
        let changed = auth
            .added_config(provider("corp", "https://corp.example.com").with_domains(["corp.test"]))
            .expect("config");
        assert!(auth.remove_provider("corp").await.expect("removed"));
        let refused = auth.replace_provider(changed).await;
        assert!(
            matches!(refused, Err(AddProviderError::Removed(_))),
            "{refused:?}"
        );
        assert!(auth.added_providers().is_empty());
    }

    /// An app secret opens under its context only, and not once altered.
    #[tokio::test]
    async fn an_app_secret_opens_under_its_own_context_only() {
        let auth = app().await;
        let sealed = auth.seal_app_secret("providers/corp", "s3cret");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(
            auth.open_app_secret("providers/corp", &sealed).as_deref(),
            Some("s3cret")
        );
        assert_eq!(auth.open_app_secret("providers/other", &sealed), None);
        let mut altered = sealed.clone();
        altered.replace_range(5..6, if &sealed[5..6] == "A" { "B" } else { "A" });
        assert_eq!(auth.open_app_secret("providers/corp", &altered), None);
    }

    /// Refused, and nothing added: an id of the configuration, an id added already, an
    /// id that is not `[a-z0-9-]{1,32}`, a domain another provider serves, and a
    /// provider whose discovery fails. Beside a single unnamed provider, an added one
    /// serves at its own routes and by its domain.
    #[tokio::test]
    async fn rp_run_time_provider_with_a_taken_id_or_domain_or_no_discovery_refused() {
        let auth = app().await;
        auth.add_provider(provider("corp", "https://corp.example.com"))
            .await
            .expect("added");
        let refused = |e: AddProviderError| e;
        let cases = [
            (provider("a", "https://x.example.com"), "Configured"),
            (provider("corp", "https://x.example.com"), "Duplicate"),
            (provider("Corp!", "https://x.example.com"), "Config"),
            (
                provider("other", "https://x.example.com").with_domains(["A.example"]),
                "DomainTaken",
            ),
            (
                crate::ProviderConfig::builder("down", "http://127.0.0.1:9", "client"),
                "Discovery",
            ),
        ];
        for (builder, kind) in cases {
            let e = refused(auth.add_provider(builder).await.unwrap_err());
            assert!(format!("{e:?}").starts_with(kind), "{kind}: {e:?}");
        }
        assert_eq!(auth.added_providers(), ["corp"]);

        // Beside the one unnamed provider of a single-provider app too: its own login
        // stays at `/auth/login`, the added one is at `/auth/login/{id}`.
        let single =
            crate::AuthConfig::builder("https://id.example.com", "c", "https://app.example.com")
                .with_endpoints(crate::ProviderEndpoints::new(
                    url::Url::parse("https://id.example.com/a").expect("url"),
                    url::Url::parse("https://id.example.com/t").expect("url"),
                    url::Url::parse("https://id.example.com/j").expect("url"),
                ))
                .build()
                .expect("config");
        let single = Auth::discover(single).await.expect("auth");
        single
            .add_provider(
                provider("corp", "https://corp.example.com").with_domains(["corp.example"]),
            )
            .await
            .expect("added");
        let r = login(&single, "/auth/login").await;
        assert!(
            location(&r).starts_with("https://id.example.com/a?"),
            "{}",
            location(&r)
        );
        let r = login(&single, "/auth/login/corp").await;
        assert!(location(&r).starts_with("https://corp.example.com/authorize?"));
        let r = login(&single, "/auth/login?login_hint=dana%40corp.example").await;
        assert!(location(&r).starts_with("https://corp.example.com/authorize?"));
    }
}

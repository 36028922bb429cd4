//! Configuration: a builder with secure defaults, validated up front, or `from_env()`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::provider::config::{ChooserPage, ProviderConfig, ProviderConfigBuilder};

pub(crate) mod builder;
mod env;
mod events;
mod settings;

pub(crate) use crate::clock::Clock;
pub(crate) use crate::config_error::{ConfigError, parse_url};
pub(crate) use crate::jose::TokenSettings;
pub(crate) use crate::provider::config::ClientAuthMethod;
pub use builder::AuthConfigBuilder;
pub use events::{AuditRecord, AuthEvent, SessionEndReason, SessionEvent};
pub(crate) use settings::{BearerSettings, HttpSettings, RedisSettings, SessionSettings};

/// The hook of [`AuthConfigBuilder::with_event_hook`].
#[derive(Clone)]
pub(crate) struct EventHook(Arc<dyn Fn(&AuthEvent<'_>) + Send + Sync>);

impl EventHook {
    pub(crate) fn call(&self, event: &AuthEvent<'_>) {
        (self.0)(event)
    }
}

impl fmt::Debug for EventHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventHook")
    }
}

/// or [`AuthConfig::from_env`].
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// The providers, in the order given; one unnamed provider for
    /// [`AuthConfig::builder`].
    pub(crate) providers: Vec<ProviderConfig>,
    pub(crate) app_url: Url,
    pub(crate) route_prefix: String,
    /// `POST {prefix}/organization` is served (with a provider that can switch).
    pub(crate) organization_switch: bool,
    /// The header session-authenticated API routes demand (`X-CSRF: 1`).
    pub(crate) anti_forgery: (&'static str, http::HeaderValue),
    pub(crate) post_logout_redirect_uri: Url,
    pub(crate) event_hooks: Vec<EventHook>,
    pub(crate) sign_in_hook: Option<crate::flow::sign_in::SignInHook>,
    /// Ending a session revokes its refresh token at the provider (RFC 7009).
    pub(crate) revoke_on_logout: bool,
    /// `Auth::discover` starts even when no provider answers (retried in the
    /// background; `{prefix}/health` answers 503 meanwhile).
    pub(crate) start_while_provider_down: bool,
    pub(crate) chooser_page: Option<ChooserPage>,
    pub(crate) clock: Clock,
    pub(crate) session: SessionSettings,
    pub(crate) tokens: TokenSettings,
    pub(crate) http: HttpSettings,
    pub(crate) bearer: BearerSettings,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) redis: RedisSettings,
}

impl AuthConfig {
    /// Starts a builder with the three things every deployment has: the issuer URL, the
    /// client id, and the public base URL of the app (the redirect URI is
    /// `app_url + "/auth/callback"`).
    pub fn builder(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        app_url: impl Into<String>,
    ) -> AuthConfigBuilder {
        AuthConfigBuilder::new(
            app_url.into(),
            vec![ProviderConfigBuilder::new(issuer, client_id)],
            false,
        )
    }

    /// Starts a builder for an app with several providers, each named by its id
    /// ([`ProviderConfig::builder`]): `/auth/login` shows a chooser, `/auth/login/{id}`
    /// starts at one provider, and provider `id`'s redirect URI is
    /// `app_url + "/auth/callback/{id}"`.
    ///
    /// ```
    /// use auth_core::{AuthConfig, ProviderConfig};
    /// let config = AuthConfig::builder_for_providers("https://app.example.com")
    ///     .with_provider(ProviderConfig::builder("google", "https://accounts.google.com", "g-client")
    ///         .with_name("Google")
    ///         .with_client_secret("…"))
    ///     .with_provider(ProviderConfig::builder("corp", "https://sso.example.com", "corp-client")
    ///         .with_client_secret("…"))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(config.providers()[1].redirect_uri().as_str(), "https://app.example.com/auth/callback/corp");
    /// ```
    pub fn builder_for_providers(app_url: impl Into<String>) -> AuthConfigBuilder {
        AuthConfigBuilder::new(app_url.into(), Vec::new(), true)
    }

    /// The providers, in the order configured (one, unnamed, for
    /// [`AuthConfig::builder`]).
    pub fn providers(&self) -> &[ProviderConfig] {
        &self.providers
    }

    /// Whether the providers are named (`/auth/login/{id}` routes and a chooser).
    pub fn has_named_providers(&self) -> bool {
        self.providers.iter().any(|p| p.id.is_some())
    }

    /// The first provider.
    pub(crate) fn first(&self) -> &ProviderConfig {
        &self.providers[0]
    }

    /// The issuer of the first provider, as configured.
    pub fn issuer(&self) -> &str {
        &self.first().issuer
    }

    /// The client id at the first provider.
    pub fn client_id(&self) -> &str {
        &self.first().client_id
    }

    /// The public base URL of the app.
    pub fn app_url(&self) -> &Url {
        &self.app_url
    }

    /// The redirect URI registered at the first provider (`APP_URL` + prefix +
    /// `/callback`, and `/{id}` for a named provider).
    pub fn redirect_uri(&self) -> &Url {
        &self.first().redirect_uri
    }

    /// The path prefix of the auth routes (default `/auth`).
    pub fn route_prefix(&self) -> &str {
        &self.route_prefix
    }

    /// Whether cookies get the `Secure` attribute (the app URL is https).
    pub fn secure_cookies(&self) -> bool {
        self.app_url.scheme() == "https"
    }

    /// Whether a cookie key was configured (`APP_SECRET`).
    pub fn has_cookie_key(&self) -> bool {
        !self.session.cookie_key.is_empty()
    }

    /// How long a session may live at most.
    pub fn session_lifetime(&self) -> Duration {
        self.session.lifetime
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::Algorithm;
    use crate::provider::presets::ProviderKind;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    const BASE: &[(&str, &str)] = &[
        ("OIDC_ISSUER", "https://id.example.com"),
        ("OIDC_CLIENT_ID", "app"),
        ("OIDC_CLIENT_SECRET", "s3cret-value"),
        ("APP_URL", "http://127.0.0.1:3000"),
    ];

    #[test]
    fn rp_bearer_untyped_refused_when_an_api_audience_is_the_client_id() {
        let b = || {
            AuthConfig::builder(
                "https://id.example.com",
                "client",
                "https://app.example.com",
            )
        };
        let strict = b().with_api_audience("client").build().expect("config");
        assert!(
            strict.first().bearer_require_at_jwt,
            "typed at+jwt required"
        );
        let other = b()
            .with_api_audience("https://api.example.com")
            .build()
            .expect("config");
        assert!(!other.first().bearer_require_at_jwt);
        let loose = b()
            .with_api_audience("client")
            .dangerous_accept_untyped_bearer_tokens_for_client_id_audience()
            .build()
            .expect("config");
        assert!(!loose.first().bearer_require_at_jwt, "the app opted out");
    }

    /// `OIDC_ORGANIZATION_SWITCH=0` takes the organization route out of the route
    /// table (a WorkOS User Management app serves it by default); a value that is not
    /// a switch is refused.
    #[test]
    fn organization_switch_turned_off_by_the_environment() {
        let vars = |switch: Option<&'static str>| {
            let mut v = vec![
                ("APP_URL", "https://app.example.com"),
                ("OIDC_ISSUER", "https://api.workos.com"),
                ("OIDC_CLIENT_ID", "client_123"),
                ("OIDC_CLIENT_SECRET", "sk_test"),
                ("OIDC_PROVIDER", "workos-user-management"),
            ];
            if let Some(s) = switch {
                v.push(("OIDC_ORGANIZATION_SWITCH", s));
            }
            v
        };
        let on = AuthConfig::from_lookup(env(&vars(None))).expect("config");
        assert!(on.organization_switch);
        let off = AuthConfig::from_lookup(env(&vars(Some("0")))).expect("config");
        assert!(!off.organization_switch);
        assert!(AuthConfig::from_lookup(env(&vars(Some("maybe")))).is_err());
    }

    #[test]
    fn several_providers_are_read_from_the_environment() {
        let c = AuthConfig::from_lookup(env(&[
            ("APP_URL", "https://app.example.com"),
            ("OIDC_PROVIDERS", "google, corp-sso"),
            ("OIDC_GOOGLE_ISSUER", "https://accounts.google.com"),
            ("OIDC_GOOGLE_CLIENT_ID", "g"),
            ("OIDC_GOOGLE_CLIENT_SECRET", "gs"),
            ("OIDC_GOOGLE_PROVIDER", "google"),
            ("OIDC_GOOGLE_NAME", "Google"),
            (
                "OIDC_CORP_SSO_ISSUER",
                "https://login.microsoftonline.com/organizations/v2.0",
            ),
            ("OIDC_CORP_SSO_CLIENT_ID", "c"),
            ("OIDC_CORP_SSO_PROVIDER", "entra"),
            ("OIDC_CORP_SSO_SCOPES", "openid email"),
            ("OIDC_CORP_SSO_API_AUDIENCE", "api://app"),
            (
                "OIDC_CORP_SSO_ALLOWED_TENANTS",
                "11111111-1111-1111-1111-111111111111",
            ),
        ]))
        .expect("config");
        let [google, corp] = c.providers() else {
            panic!("two providers: {c:?}")
        };
        assert_eq!((google.id(), google.name()), (Some("google"), "Google"));
        assert_eq!(google.kind(), ProviderKind::Google);
        assert_eq!(
            google.redirect_uri().as_str(),
            "https://app.example.com/auth/callback/google"
        );
        assert_eq!((corp.id(), corp.name()), (Some("corp-sso"), "corp-sso"));
        assert_eq!(
            corp.redirect_uri().as_str(),
            "https://app.example.com/auth/callback/corp-sso"
        );
        assert_eq!(corp.scopes, ["openid", "email"]);
        assert!(corp.accepts_bearer_tokens() && !google.accepts_bearer_tokens());
        let rule = corp.tenants.as_ref().expect("multi-tenant");
        assert_eq!(
            rule.template(),
            "https://login.microsoftonline.com/{tenantid}/v2.0"
        );
        assert!(c.has_named_providers());
    }

    #[test]
    fn private_key_jwt_and_par_are_read_from_the_environment() {
        let dir = std::env::temp_dir().join(format!("auth-core-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (old, new) = (dir.join("old.pem"), dir.join("new.pem"));
        std::fs::write(&old, include_bytes!("../jose/testdata/rsa.pem")).expect("write");
        std::fs::write(&new, include_bytes!("../jose/testdata/ec.pem")).expect("write");
        let files = format!("{}, {}", old.display(), new.display());
        let vars = [
            ("OIDC_ISSUER", "https://id.example.com"),
            ("OIDC_CLIENT_ID", "app"),
            ("APP_URL", "https://app.example.com"),
            ("OIDC_CLIENT_AUTH", "private_key_jwt"),
            ("OIDC_CLIENT_PRIVATE_KEY_FILE", files.as_str()),
            ("OIDC_CLIENT_KEY_ID", "key-2026"),
            ("OIDC_PAR", "1"),
        ];
        let c = AuthConfig::from_lookup(env(&vars)).expect("config");
        let p = c.first();
        assert_eq!(p.client_auth, Some(ClientAuthMethod::PrivateKeyJwt));
        assert!(p.par);
        let kids: Vec<&str> = p.client_keys.iter().map(|k| k.key_id()).collect();
        assert_eq!(kids.len(), 2);
        assert_eq!(
            kids[1], "key-2026",
            "the last file is the newest, and signs"
        );
        assert_eq!(p.client_keys[1].algorithm(), Algorithm::ES256);
        assert_eq!(p.client_keys[0].algorithm(), Algorithm::PS256);
        // Without a key, private_key_jwt cannot work: refused at start.
        let without = AuthConfig::from_lookup(env(&vars[..4]));
        assert!(matches!(
            without,
            Err(ConfigError::Invalid {
                name: "OIDC_CLIENT_AUTH",
                ..
            })
        ));
        let missing = [("OIDC_CLIENT_PRIVATE_KEY_FILE", "/nonexistent/key.pem")];
        let mut vars = vars[..3].to_vec();
        vars.extend_from_slice(&missing);
        assert!(AuthConfig::from_lookup(env(&vars)).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn several_providers_ambiguous_settings_refused() {
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = vec![
                ("APP_URL", "https://app.example.com"),
                ("OIDC_A_ISSUER", "https://a.example.com"),
                ("OIDC_A_CLIENT_ID", "a"),
            ];
            vars.extend_from_slice(extra);
            AuthConfig::from_lookup(env(&vars))
        };
        let err = with(&[("OIDC_PROVIDERS", "a,b")]).unwrap_err();
        assert_eq!(err.to_string(), "OIDC_B_ISSUER is not set");
        assert!(with(&[("OIDC_PROVIDERS", "a,A")]).is_err(), "uppercase id");
        assert!(with(&[("OIDC_PROVIDERS", "a,")]).is_err(), "empty id");
        assert!(with(&[("OIDC_PROVIDERS", "a/b")]).is_err(), "slash in id");
        let twice = with(&[("OIDC_PROVIDERS", "a,a")]).unwrap_err();
        assert!(twice.to_string().contains("twice"), "{twice}");
        let both = with(&[
            ("OIDC_PROVIDERS", "a"),
            ("OIDC_ISSUER", "https://x.example.com"),
        ]);
        assert!(matches!(
            both,
            Err(ConfigError::Invalid {
                name: "OIDC_ISSUER",
                ..
            })
        ));
        let bad = with(&[("OIDC_PROVIDERS", "a"), ("OIDC_A_PROVIDER", "facebook")]).unwrap_err();
        assert!(
            matches!(&bad, ConfigError::Provider { id, .. } if id == "a"),
            "{bad}"
        );
        // A provider setting on the builder of several providers is refused, not
        // silently applied to one of them.
        let misplaced = AuthConfig::builder_for_providers("https://app.example.com")
            .with_provider(ProviderConfig::builder("a", "https://a.example.com", "a"))
            .with_client_secret("s")
            .build();
        assert!(matches!(
            misplaced,
            Err(ConfigError::Invalid {
                name: "with_client_secret",
                ..
            })
        ));
        let none = AuthConfig::builder_for_providers("https://app.example.com").build();
        assert!(none.is_err());
    }

    #[test]
    fn from_env_builds_redirect_uri_and_defaults() {
        let c = AuthConfig::from_lookup(env(BASE)).expect("config");
        assert_eq!(
            c.redirect_uri().as_str(),
            "http://127.0.0.1:3000/auth/callback"
        );
        assert_eq!(
            c.post_logout_redirect_uri.as_str(),
            "http://127.0.0.1:3000/"
        );
        assert_eq!(
            c.first().scopes,
            ["openid", "profile", "email", "offline_access"]
        );
        assert!(!c.secure_cookies());
    }

    #[test]
    fn optional_settings_are_read_from_the_environment() {
        let mut vars = BASE.to_vec();
        vars.extend([
            ("OIDC_LEEWAY_SECS", "5"),
            ("OIDC_HTTP_TIMEOUT_SECS", "3"),
            ("OIDC_SCOPES", "openid email"),
            ("OIDC_CLIENT_AUTH", "client_secret_post"),
        ]);
        let c = AuthConfig::from_lookup(env(&vars)).expect("config");
        assert_eq!(c.tokens.leeway, Duration::from_secs(5));
        assert_eq!(c.http.request_timeout, Duration::from_secs(3));
        assert_eq!(c.first().scopes, ["openid", "email"]);
        assert_eq!(
            c.first().client_auth,
            Some(ClientAuthMethod::ClientSecretPost)
        );
        let mut bad = BASE.to_vec();
        bad.push(("OIDC_CLIENT_AUTH", "private_key_jwt"));
        assert!(AuthConfig::from_lookup(env(&bad)).is_err());
    }

    #[test]
    fn missing_issuer_refused() {
        let err = AuthConfig::from_lookup(env(&BASE[1..])).unwrap_err();
        assert!(matches!(err, ConfigError::MissingEnv("OIDC_ISSUER")));
    }

    #[test]
    fn plain_http_issuer_off_loopback_refused() {
        let mut vars = BASE.to_vec();
        vars[0] = ("OIDC_ISSUER", "http://id.example.com");
        let err = AuthConfig::from_lookup(env(&vars)).unwrap_err();
        assert!(
            err.to_string()
                .contains("not an https URL and not loopback")
        );
    }

    /// `OIDC_RESPONSE_MODE=form_post` (and per provider `OIDC_X_RESPONSE_MODE`) is read;
    /// an http `APP_URL` off loopback is refused at start (the pending cookie must then
    /// be `SameSite=None; Secure`), as are an unknown mode and form_post for WorkOS
    /// User Management.
    #[test]
    fn form_post_over_plain_http_off_loopback_refused() {
        // The first entry of a name wins.
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = extra.to_vec();
            vars.extend_from_slice(BASE);
            AuthConfig::from_lookup(env(&vars))
        };
        let loopback = with(&[("OIDC_RESPONSE_MODE", "form_post")]).expect("loopback");
        assert_eq!(
            loopback.providers()[0].response_mode(),
            crate::ResponseMode::FormPost
        );
        assert_eq!(
            with(&[]).expect("default").providers()[0].response_mode(),
            crate::ResponseMode::Query
        );
        let https = with(&[
            ("OIDC_RESPONSE_MODE", "form_post"),
            ("APP_URL", "https://app.example.com"),
        ]);
        assert!(https.is_ok(), "{https:?}");
        let err = with(&[
            ("OIDC_RESPONSE_MODE", "form_post"),
            ("APP_URL", "http://app.example.com"),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("APP_URL is not an https URL"),
            "{err}"
        );
        let err = with(&[
            ("OIDC_RESPONSE_MODE", "form_post"),
            ("OIDC_PROVIDER", "workos-user-management"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("OIDC_RESPONSE_MODE"), "{err}");
        let err = with(&[("OIDC_RESPONSE_MODE", "fragment")]).unwrap_err();
        assert!(err.to_string().contains("expected form_post"), "{err}");
        let several = AuthConfig::from_lookup(env(&[
            ("OIDC_PROVIDERS", "a,b"),
            ("OIDC_A_ISSUER", "https://a.example.com"),
            ("OIDC_A_CLIENT_ID", "app"),
            ("OIDC_A_RESPONSE_MODE", "form_post"),
            ("OIDC_B_ISSUER", "https://b.example.com"),
            ("OIDC_B_CLIENT_ID", "app"),
            ("APP_URL", "https://app.example.com"),
        ]))
        .expect("config");
        let modes: Vec<_> = several
            .providers()
            .iter()
            .map(|p| p.response_mode())
            .collect();
        assert_eq!(
            modes,
            [crate::ResponseMode::FormPost, crate::ResponseMode::Query]
        );
    }

    /// `OIDC_X_DOMAINS` names each provider's email domains (lowercased, a leading `@`
    /// dropped); a domain served by two providers, or one that is not a domain name,
    /// is refused at start naming it.
    #[test]
    fn rp_email_domain_served_by_two_providers_refused() {
        let with = |a: &'static str, b: &'static str| {
            AuthConfig::from_lookup(env(&[
                ("OIDC_PROVIDERS", "a,b"),
                ("OIDC_A_ISSUER", "https://a.example.com"),
                ("OIDC_A_CLIENT_ID", "app"),
                ("OIDC_A_DOMAINS", a),
                ("OIDC_B_ISSUER", "https://b.example.com"),
                ("OIDC_B_CLIENT_ID", "app"),
                ("OIDC_B_DOMAINS", b),
                ("APP_URL", "https://app.example.com"),
            ]))
        };
        let config = with("A.example, @a2.example", "b.example").expect("config");
        assert_eq!(config.providers()[0].domains(), ["a.example", "a2.example"]);
        let err = with("a.example,shared.example", "SHARED.example").unwrap_err();
        assert!(
            err.to_string()
                .contains("domain shared.example is served by providers \"a\" and \"b\""),
            "{err}"
        );
        for bad in ["not a domain", "localhost", "a..example", "-a.example"] {
            let err = with(bad, "b.example").unwrap_err();
            assert!(
                err.to_string().contains("is not a domain name"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn short_app_secret_refused() {
        let mut vars = BASE.to_vec();
        vars.push(("APP_SECRET", "abcd"));
        let err = AuthConfig::from_lookup(env(&vars)).unwrap_err();
        assert!(err.to_string().contains("too short"));
    }

    /// A key list with a malformed entry is refused at start, naming the entry by its
    /// position (never by its value); so are an empty entry and a key given twice.
    #[test]
    fn a_key_list_with_a_malformed_entry_is_refused_naming_it() {
        let good = "ab".repeat(32);
        for (name, list, why) in [
            (
                "APP_SECRET",
                format!("{good},zz{}", "00".repeat(31)),
                "key 2 of 2: expected hex",
            ),
            (
                "APP_SECRET",
                format!("{good},abcd"),
                "key 2 of 2: 2 bytes is too short",
            ),
            (
                "SESSION_ENCRYPTION_KEY",
                format!("abcd,{good}"),
                "key 1 of 2: 2 bytes is too short",
            ),
            (
                "SESSION_ENCRYPTION_KEY",
                format!("{good},,{}", "cd".repeat(32)),
                "key 2 of 3: empty",
            ),
            (
                "APP_SECRET",
                format!("{good}, {good}"),
                "key 2 of 2: the same key twice",
            ),
        ] {
            let mut vars = BASE.to_vec();
            vars.push((name, &list));
            let err = AuthConfig::from_lookup(env(&vars)).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains(why), "{list}: {err}");
            assert!(!err.contains(&good), "{err}");
        }
        let mut vars = BASE.to_vec();
        let rotated = format!("{}, {good}", "cd".repeat(32));
        vars.push(("APP_SECRET", &rotated));
        AuthConfig::from_lookup(env(&vars)).expect("two keys");
    }

    /// A setter that checks its value never breaks the chain: its error is kept, the
    /// first one wins, and `build()` returns it.
    #[test]
    fn rp_malformed_key_refused_by_build_after_the_chain() {
        let err = AuthConfig::builder(
            "https://id.example.com",
            "client",
            "https://app.example.com",
        )
        .with_app_secret_hex("not hex")
        .with_session_encryption_key_hex("abcd")
        .with_leeway(Duration::from_secs(5))
        .build()
        .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: "APP_SECRET",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = AuthConfig::builder(
            "https://id.example.com",
            "client",
            "https://app.example.com",
        )
        .with_session_encryption_key_hex("abcd")
        .build()
        .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: "SESSION_ENCRYPTION_KEY",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn debug_never_prints_secrets() {
        let mut vars = BASE.to_vec();
        let key = "ab".repeat(32);
        vars.push(("APP_SECRET", &key));
        let c = AuthConfig::from_lookup(env(&vars)).expect("config");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cret-value"));
        assert!(!dbg.contains(&key));
        assert!(!dbg.contains("171, 171"));
    }

    #[test]
    fn redis_url_is_read_checked_and_its_password_never_printed() {
        let mut vars = BASE.to_vec();
        vars.push(("REDIS_URL", "redis://:hunter2-pass@127.0.0.1:6379/0"));
        let secret = "ab".repeat(32);
        vars.push(("APP_SECRET", &secret));
        let built = AuthConfig::from_lookup(env(&vars));
        if cfg!(feature = "redis") {
            let c = built.expect("config");
            let dbg = format!("{c:?}");
            assert!(!dbg.contains("hunter2"), "{dbg}");
            assert!(dbg.contains("127.0.0.1:6379"), "{dbg}");
        } else {
            assert!(built.unwrap_err().to_string().contains("`redis` feature"));
        }
        let mut vars = BASE.to_vec();
        vars.push(("REDIS_URL", "http://127.0.0.1:6379"));
        assert!(AuthConfig::from_lookup(env(&vars)).is_err());
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_session_cache_is_on_unless_redis_session_cache_is_0() {
        let secret = "ab".repeat(32);
        let with = |cache: Option<&str>| {
            let mut vars = BASE.to_vec();
            vars.push(("REDIS_URL", "redis://127.0.0.1:6379/0"));
            vars.push(("APP_SECRET", &secret));
            vars.extend(cache.map(|v| ("REDIS_SESSION_CACHE", v)));
            AuthConfig::from_lookup(env(&vars))
        };
        assert!(with(None).expect("config").redis.session_cache);
        assert!(with(Some("1")).expect("config").redis.session_cache);
        assert!(!with(Some("0")).expect("config").redis.session_cache);
        assert!(with(Some("maybe")).is_err(), "not a switch");
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_session_cache_entries_is_read_and_bounded() {
        let secret = "ab".repeat(32);
        let with = |entries: Option<&str>| {
            let mut vars = BASE.to_vec();
            vars.push(("REDIS_URL", "redis://127.0.0.1:6379/0"));
            vars.push(("APP_SECRET", &secret));
            vars.extend(entries.map(|v| ("REDIS_SESSION_CACHE_ENTRIES", v)));
            AuthConfig::from_lookup(env(&vars))
        };
        let entries = |v| with(v).expect("config").redis.session_cache_entries;
        assert_eq!(entries(None), 100_000);
        assert_eq!(entries(Some(" 2500000 ")), 2_500_000);
        for refused in ["0", "10000001", "-1", "lots", "1e6"] {
            let e = with(Some(refused)).expect_err(refused).to_string();
            assert!(e.contains("REDIS_SESSION_CACHE_ENTRIES"), "{refused}: {e}");
        }
    }

    #[test]
    fn client_authentication_is_settled_by_discovery_unless_chosen() {
        use ClientAuthMethod::{ClientSecretBasic as Basic, ClientSecretPost as Post};
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let generic = ProviderKind::Generic;
        assert_eq!(ClientAuthMethod::resolve(None, &[], generic), Basic);
        assert_eq!(
            ClientAuthMethod::resolve(None, &[], ProviderKind::Scalekit),
            Post
        );
        let both = list(&["client_secret_post", "client_secret_basic"]);
        assert_eq!(
            ClientAuthMethod::resolve(None, &both, ProviderKind::Scalekit),
            Basic
        );
        let post = list(&["private_key_jwt", "client_secret_post"]);
        assert_eq!(ClientAuthMethod::resolve(None, &post, generic), Post);
        assert_eq!(ClientAuthMethod::resolve(Some(Post), &both, generic), Post);
        assert_eq!(
            ClientAuthMethod::resolve(Some(Basic), &post, generic),
            Basic
        );
    }

    #[test]
    fn rp_app_url_with_a_fragment_refused_at_build() {
        let b = |app: &str| AuthConfig::builder("https://tenant.auth0.com/", "c", app).build();
        let e = b("https://app.example.com/#/home").expect_err("a fragment");
        assert!(e.to_string().contains("fragment"), "{e}");
        assert!(b("https://app.example.com/?x=1").is_err(), "a query");
        assert!(b("https://app.example.com/").is_ok());
    }

    #[test]
    fn scalekit_checks_the_access_token_audience_by_default() {
        let b = || {
            AuthConfig::builder(
                "https://env.scalekit.com",
                "skc_1",
                "https://app.example.com",
            )
            .with_provider_kind(ProviderKind::Scalekit)
        };
        let c = b().build().expect("config");
        assert_eq!(c.first().access_token_audience.as_deref(), Some("skc_1"));
        let c = b()
            .with_access_token_audience("other")
            .build()
            .expect("config");
        assert_eq!(c.first().access_token_audience.as_deref(), Some("other"));
        let generic = AuthConfig::builder("https://id.example.com", "c", "https://app.example.com")
            .build()
            .expect("config");
        assert_eq!(generic.first().access_token_audience, None);
    }

    #[test]
    fn rp_redis_without_a_key_refused_at_start() {
        let mut vars = BASE.to_vec();
        vars.push(("REDIS_URL", "redis://127.0.0.1:6379/0"));
        let refused = AuthConfig::from_lookup(env(&vars));
        if cfg!(feature = "redis") {
            let e = refused.expect_err("no key");
            assert!(
                e.to_string()
                    .contains("APP_SECRET or SESSION_ENCRYPTION_KEY"),
                "{e}"
            );
            vars.push(("SESSION_STORE_PLAINTEXT", "dangerous"));
            assert!(
                AuthConfig::from_lookup(env(&vars)).is_ok(),
                "explicit opt-out"
            );
            vars.pop();
            let key = "cd".repeat(32);
            vars.push(("SESSION_ENCRYPTION_KEY", &key));
            assert!(AuthConfig::from_lookup(env(&vars)).is_ok(), "a key");
            vars.pop();
            vars.push(("SESSION_STORE_PLAINTEXT", "yes"));
            assert!(
                AuthConfig::from_lookup(env(&vars)).is_err(),
                "only `dangerous`"
            );
        }
    }

    #[test]
    fn absurd_timeouts_refused() {
        let b = || AuthConfig::builder("https://id.example.com", "app", "https://app.example.com");
        assert!(b().with_idle_timeout(Some(Duration::MAX)).build().is_err());
        assert!(b().with_idle_timeout(Some(Duration::ZERO)).build().is_err());
        assert!(b().with_request_timeout(Duration::MAX).build().is_err());
        #[cfg(feature = "redis")]
        assert!(b().with_redis_timeout(Duration::ZERO).build().is_err());
        assert!(b().with_refresh_margin(Duration::MAX).build().is_err());
        assert!(b().with_idle_timeout(None).build().is_ok());
    }

    #[test]
    fn absurd_session_lifetimes_refused() {
        for lifetime in [Duration::ZERO, Duration::MAX] {
            let err =
                AuthConfig::builder("https://id.example.com", "app", "https://app.example.com")
                    .with_session_lifetime(lifetime)
                    .build()
                    .unwrap_err();
            assert!(err.to_string().contains("400 days"), "{err}");
        }
    }

    #[test]
    fn debug_never_prints_the_session_store() {
        let c = AuthConfig::builder("https://id.example.com", "app", "https://app.example.com")
            .with_session_store(crate::MemoryStore::default())
            .build()
            .expect("config");
        assert!(format!("{c:?}").contains("SharedStore(..)"));
    }

    #[test]
    fn openid_scope_is_always_requested() {
        let c = AuthConfig::builder("https://id.example.com", "app", "https://app.example.com")
            .with_scopes(["email"])
            .build()
            .expect("config");
        assert_eq!(c.first().scopes, ["openid", "email"]);
        assert!(c.secure_cookies());
    }
}

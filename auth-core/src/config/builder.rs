//! [`AuthConfigBuilder`]: setters that record the first error instead of breaking
//! the chain, and `build()`, which checks everything once.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::settings::*;
use super::*;
use crate::jose::Algorithm;
use crate::provider::authorize::LoginOptions;
use crate::provider::config::{ChooserPage, ProviderConfig, ProviderConfigBuilder, ProviderLink};
use crate::provider::discovery::ProviderEndpoints;
use crate::provider::presets::ProviderKind;
use crate::session::store::{SessionStore, SharedStore};

/// The most keys a list may hold (a rotation needs two or three).
const MAX_KEYS: usize = 8;

/// A comma-separated list of keys, each hex of at least 32 bytes; an error names the
/// entry at fault (by position, never by value).
fn keys_from_hex(name: &'static str, list: &str) -> Result<Vec<CookieKeyBytes>, ConfigError> {
    let entries: Vec<&str> = list.split(',').map(str::trim).collect();
    if entries.len() > MAX_KEYS {
        return Err(ConfigError::Invalid {
            name,
            reason: format!("{} keys, at most {MAX_KEYS}", entries.len()),
        });
    }
    let count = entries.len();
    let mut keys: Vec<CookieKeyBytes> = Vec::with_capacity(count);
    for (i, entry) in entries.into_iter().enumerate() {
        let which = if count == 1 {
            String::new()
        } else {
            format!("key {} of {count}: ", i + 1)
        };
        let invalid = |reason: String| ConfigError::Invalid {
            name,
            reason: format!("{which}{reason}"),
        };
        if entry.is_empty() {
            return Err(invalid("empty".into()));
        }
        let bytes = hex::decode(entry).map_err(|_| invalid("expected hex".into()))?;
        if bytes.len() < 32 {
            return Err(invalid(format!(
                "{} bytes is too short, use at least 32",
                bytes.len()
            )));
        }
        if keys.iter().any(|k| k.0 == bytes) {
            return Err(invalid("the same key twice".into()));
        }
        keys.push(CookieKeyBytes(bytes));
    }
    Ok(keys)
}

/// The certificates of a PEM file (`OIDC_CA_FILE`): at least one, each parsed.
fn read_roots(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: "OIDC_CA_FILE",
        reason: format!("{}: {reason}", path.display()),
    };
    let pem = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
    let roots = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|_| invalid("not PEM certificates".into()))?;
    if roots.is_empty() {
        return Err(invalid("no certificate in it".into()));
    }
    Ok(roots)
}

fn check_redis_url(u: &str) -> Result<(), ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        name: "REDIS_URL",
        reason: reason.into(),
    };
    if !cfg!(feature = "redis") {
        return Err(invalid(
            "Redis support is not built in: enable the `redis` feature of auth-axum, auth-actix or auth-core",
        ));
    }
    let url = Url::parse(u).map_err(|_| invalid("not a URL"))?;
    match url.scheme() {
        "redis" | "rediss" | "redis-cluster" | "rediss-cluster" => Ok(()),
        "redis-sentinel" | "rediss-sentinel" => {
            if url.query_pairs().any(|(k, _)| k == "sentinelServiceName") {
                Ok(())
            } else {
                Err(invalid(
                    "a redis-sentinel:// URL names its service: ?sentinelServiceName=NAME",
                ))
            }
        }
        _ => Err(invalid(
            "expected redis://, rediss:// (TLS), redis-cluster://, rediss-cluster://, redis-sentinel:// or rediss-sentinel://",
        )),
    }
}

/// Builder for [`AuthConfig`]. Every setter consumes and returns the builder;
/// [`AuthConfigBuilder::build`] checks everything.
#[derive(Debug)]
#[must_use]
pub struct AuthConfigBuilder {
    app_url: String,
    /// One unnamed provider ([`AuthConfig::builder`]), or the named ones.
    pub(super) providers: Vec<ProviderConfigBuilder>,
    named: bool,
    /// A provider setting called on a builder of several providers.
    misplaced: Option<&'static str>,
    /// The first error of a setter that checks its value.
    error: Option<ConfigError>,
    route_prefix: String,
    organization_switch: bool,
    /// The anti-forgery header of session-authenticated API routes.
    anti_forgery: (&'static str, http::HeaderValue),
    post_logout_redirect_uri: Option<String>,
    event_hooks: Vec<EventHook>,
    sign_in_hook: Option<crate::flow::sign_in::SignInHook>,
    revoke_on_logout: bool,
    start_while_provider_down: bool,
    chooser_page: Option<ChooserPage>,
    clock: Clock,
    session: SessionSettings,
    tokens: TokenSettings,
    http: HttpSettings,
    bearer: BearerSettings,
    pub(super) redis: RedisSettings,
}

impl AuthConfigBuilder {
    pub(super) fn new(app_url: String, providers: Vec<ProviderConfigBuilder>, named: bool) -> Self {
        Self {
            app_url,
            providers,
            named,
            misplaced: None,
            error: None,
            route_prefix: "/auth".into(),
            organization_switch: true,
            anti_forgery: ("x-csrf", http::HeaderValue::from_static("1")),
            post_logout_redirect_uri: None,
            event_hooks: Vec::new(),
            sign_in_hook: None,
            revoke_on_logout: true,
            start_while_provider_down: false,
            chooser_page: None,
            clock: Clock::system(),
            session: SessionSettings::default(),
            tokens: TokenSettings::default(),
            http: HttpSettings::default(),
            bearer: BearerSettings::default(),
            redis: RedisSettings::default(),
        }
    }

    /// Applies a provider setting to the one provider; on a builder of several
    /// providers, `build` refuses it (set it on that provider's builder).
    fn provider(
        mut self,
        setting: &'static str,
        f: impl FnOnce(ProviderConfigBuilder) -> ProviderConfigBuilder,
    ) -> Self {
        match (self.named, self.providers.pop()) {
            (false, Some(p)) => self.providers.push(f(p)),
            (_, p) => {
                self.providers.extend(p);
                self.misplaced.get_or_insert(setting);
            }
        }
        self
    }

    /// Replaces the provider chooser (`GET {prefix}/login` with several providers):
    /// `page` gets one [`ProviderLink`] per provider and returns the whole HTML
    /// document (escape what it prints: names come from the configuration, `href`s
    /// carry the request's query).
    pub fn with_chooser_page(
        mut self,
        page: impl Fn(&[ProviderLink]) -> String + Send + Sync + 'static,
    ) -> Self {
        self.chooser_page = Some(ChooserPage(Arc::new(page)));
        self
    }

    /// Entra ID multi-tenant (`common`, `organizations`): the tenants whose users may
    /// sign in (`OIDC_ALLOWED_TENANTS`), as
    /// [`ProviderConfigBuilder::with_allowed_tenants`].
    pub fn with_allowed_tenants<I, S>(self, tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.provider("with_allowed_tenants", |p| p.with_allowed_tenants(tenants))
    }

    /// A key for `private_key_jwt`, as [`ProviderConfigBuilder::with_client_key`].
    pub fn with_client_key(self, key: crate::ClientKey) -> Self {
        self.provider("with_client_key", |p| p.with_client_key(key))
    }

    /// Pushed authorization requests (`OIDC_PAR=1`), as
    /// [`ProviderConfigBuilder::with_pushed_authorization_requests`].
    pub fn with_pushed_authorization_requests(self, on: bool) -> Self {
        self.provider("with_pushed_authorization_requests", |p| {
            p.with_pushed_authorization_requests(on)
        })
    }

    /// A security profile (`OIDC_PROFILE=fapi2`), as
    /// [`ProviderConfigBuilder::with_security_profile`].
    pub fn with_security_profile(self, profile: crate::SecurityProfile) -> Self {
        self.provider("with_security_profile", |p| {
            p.with_security_profile(profile)
        })
    }

    /// DPoP-bound sessions (`OIDC_DPOP=1`), as [`ProviderConfigBuilder::with_dpop`].
    pub fn with_dpop(self, on: bool) -> Self {
        self.provider("with_dpop", |p| p.with_dpop(on))
    }

    /// The authorization response as a posted form (`OIDC_RESPONSE_MODE=form_post`), as
    /// [`ProviderConfigBuilder::with_response_mode`].
    pub fn with_response_mode(self, mode: crate::ResponseMode) -> Self {
        self.provider("with_response_mode", |p| p.with_response_mode(mode))
    }

    /// Opaque bearer tokens checked by introspection (`OIDC_API_INTROSPECTION=1`), as
    /// [`ProviderConfigBuilder::with_api_introspection`].
    pub fn with_api_introspection(self, on: bool) -> Self {
        self.provider("with_api_introspection", |p| p.with_api_introspection(on))
    }

    /// Adds a provider to a builder of [`AuthConfig::builder_for_providers`].
    pub fn with_provider(mut self, provider: ProviderConfigBuilder) -> Self {
        if self.named {
            self.providers.push(provider);
        } else {
            self.misplaced.get_or_insert("with_provider");
        }
        self
    }

    /// The client secret (confidential clients).
    pub fn with_client_secret(self, secret: impl Into<String>) -> Self {
        self.provider("with_client_secret", |p| p.with_client_secret(secret))
    }

    /// How to authenticate at the token endpoint (`OIDC_CLIENT_AUTH`). Without a
    /// choice: `client_secret_basic` when discovery's
    /// `token_endpoint_auth_methods_supported` lists it or lists nothing, else
    /// `client_secret_post` when it lists that (the Scalekit preset prefers
    /// `client_secret_post` when discovery lists nothing, as its guide shows).
    pub fn with_client_auth(self, method: ClientAuthMethod) -> Self {
        self.provider("with_client_auth", |p| p.with_client_auth(method))
    }

    /// Path prefix of the auth routes (default `/auth`).
    pub fn with_route_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.route_prefix = prefix.into();
        self
    }

    /// The header (and its value) that session-authenticated API routes guarded by
    /// [`Requirement::anti_forgery_header`](crate::adapter::Requirement::anti_forgery_header)
    /// demand (default `X-CSRF: 1`). A cross-site form or `<img>` cannot send a custom
    /// header, and a cross-site `fetch` that does needs a CORS preflight the app does not
    /// grant. `name` is a header name in lowercase (`"x-requested-with"`); a name or
    /// value that is not a valid header is reported by [`AuthConfigBuilder::build`].
    pub fn with_anti_forgery_header(mut self, name: &'static str, value: &str) -> Self {
        let lowercase = http::HeaderName::from_bytes(name.as_bytes())
            .is_ok_and(|parsed| parsed.as_str() == name);
        match http::HeaderValue::from_str(value) {
            Ok(value) if lowercase && !value.is_empty() => self.anti_forgery = (name, value),
            _ => self.fail(ConfigError::Invalid {
                name: "anti-forgery header",
                reason: "expected a lowercase header name and a non-empty value".into(),
            }),
        }
        self
    }

    /// Whether signed-in users may move their WorkOS User Management session to
    /// another of their organizations with `POST {prefix}/organization`
    /// (`OIDC_ORGANIZATION_SWITCH`, default on). Off, the route is not served. A
    /// provider whose login options pin an organization never switches to another,
    /// on or off.
    pub fn with_organization_switch(mut self, on: bool) -> Self {
        self.organization_switch = on;
        self
    }

    /// Where the provider sends the browser after logout (default: the app URL).
    pub fn with_post_logout_redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.post_logout_redirect_uri = Some(uri.into());
        self
    }

    /// Scopes to request (default `openid profile email offline_access`; `openid` is
    /// always added).
    pub fn with_scopes<I, S>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.provider("with_scopes", |p| p.with_scopes(scopes))
    }

    /// Clock skew tolerated when checking `exp`, `iat` and `nbf` (default 60 s).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.tokens.leeway = leeway;
        self
    }

    /// Refresh the access token when it expires within this margin (default 30 s).
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.session.refresh_margin = margin;
        self
    }

    /// Total timeout of each request to the provider (default 10 s).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.http.request_timeout = timeout;
        self
    }

    /// Connect timeout of each request to the provider (default 5 s).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.http.connect_timeout = timeout;
        self
    }

    /// Signature algorithms accepted for tokens (default: RS256/384/512, PS256/384/512,
    /// ES256/384 and EdDSA). HMAC algorithms are refused: a provider's shared secret
    /// would have to be the client secret, which this crate does not support.
    pub fn with_algorithms(self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.provider("with_algorithms", |p| p.with_algorithms(algorithms))
    }

    /// The audience expected in JWT access tokens received at sign-in and refresh (from
    /// this issuer). Without it, their audience is not checked: it names whatever API
    /// the provider issued them for, not this client.
    pub fn with_access_token_audience(self, audience: impl Into<String>) -> Self {
        self.provider("with_access_token_audience", |p| {
            p.with_access_token_audience(audience)
        })
    }

    /// An audience of this app's API (`OIDC_API_AUDIENCE`; call again for several).
    /// Bearer access tokens are accepted only when at least one is set, and only if
    /// their `aud` names one of them.
    pub fn with_api_audience(self, audience: impl Into<String>) -> Self {
        self.provider("with_api_audience", |p| p.with_api_audience(audience))
    }

    /// Accept as bearer tokens only JWTs typed `at+jwt` (RFC 9068 §4). Off by default,
    /// because Auth0, Keycloak and Entra ID type their access tokens `JWT`; without it,
    /// a `JWT` or untyped token is refused when it carries an ID-token or logout-token
    /// claim (`nonce`, `at_hash`, `c_hash`, `events`). Turn it on when the provider
    /// types access tokens `at+jwt` (oidc-provider, Scalekit, recent Okta), and
    /// especially when an API audience is this client's own id (Entra ID's default),
    /// where an ID token would otherwise have the right audience.
    pub fn with_bearer_require_at_jwt(self, require: bool) -> Self {
        self.provider("with_bearer_require_at_jwt", |p| {
            p.with_bearer_require_at_jwt(require)
        })
    }

    /// When an API audience is this client's own id (Entra ID's default), bearer tokens
    /// must be typed `at+jwt`: an ID token of this client has that audience too, and
    /// is not a credential for an API (RFC 9068 §4, RFC 8725 §3.11). This turns that
    /// rule off for a provider that types its access tokens `JWT`; ID tokens carrying
    /// `nonce`, `at_hash` or `c_hash` are still refused, others are not told apart.
    pub fn dangerous_accept_untyped_bearer_tokens_for_client_id_audience(self) -> Self {
        self.provider(
            "dangerous_accept_untyped_bearer_tokens_for_client_id_audience",
            |p| p.dangerous_accept_untyped_bearer_tokens_for_client_id_audience(),
        )
    }

    /// Scopes every bearer access token must carry (`OIDC_API_SCOPES`, space
    /// separated), in its `scope` claim (RFC 9068) or `scp` (Entra ID, Okta).
    /// Handlers can demand more with `require_scope`.
    pub fn with_required_api_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.bearer.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// How many validated bearer tokens are remembered (default 10 000; 0 turns the
    /// cache off). A remembered token costs a hash lookup instead of a signature check,
    /// and is never used past its `exp`.
    pub fn with_bearer_cache_capacity(mut self, capacity: usize) -> Self {
        self.bearer.cache_capacity = capacity;
        self
    }

    /// The cookie encryption key, as hex of at least 32 bytes (`APP_SECRET`). Every
    /// instance of the app must share it. Without it, a random key is made per start.
    ///
    /// Several keys, comma-separated (`k2,k1`), rotate without signing anyone out:
    /// the first seals everything new, every one opens. A session record sealed under
    /// an older key is re-sealed under the first (and moved to its new store key)
    /// within the first request that opens it. A key that is not such hex is reported
    /// by [`AuthConfigBuilder::build`], naming the entry at fault.
    pub fn with_app_secret_hex(mut self, hex_keys: &str) -> Self {
        match keys_from_hex("APP_SECRET", hex_keys) {
            Ok(keys) => self.session.cookie_key = keys,
            Err(e) => self.fail(e),
        }
        self
    }

    /// The key that encrypts session records in an external store (Redis, or a store
    /// given with [`AuthConfigBuilder::with_session_store`]), as hex of at least 32
    /// bytes (`SESSION_ENCRYPTION_KEY`). Without it, a key is derived from
    /// `APP_SECRET`; with neither, records are stored in clear (with a warning).
    ///
    /// Several keys, comma-separated, rotate as [`AuthConfigBuilder::with_app_secret_hex`]'s
    /// do. A key that is not such hex is reported by [`AuthConfigBuilder::build`].
    pub fn with_session_encryption_key_hex(mut self, hex_keys: &str) -> Self {
        match keys_from_hex("SESSION_ENCRYPTION_KEY", hex_keys) {
            Ok(keys) => self.session.session_key = keys,
            Err(e) => self.fail(e),
        }
        self
    }

    /// Records the first setter error, for [`AuthConfigBuilder::build`] to return: the
    /// chain of setters is never broken (as `reqwest::ClientBuilder` does).
    fn fail(&mut self, error: ConfigError) {
        self.error.get_or_insert(error);
    }

    /// Endpoints for a provider without discovery. When set, discovery is not used.
    pub fn with_endpoints(self, endpoints: ProviderEndpoints) -> Self {
        self.provider("with_endpoints", |p| p.with_endpoints(endpoints))
    }

    /// The provider family ([`crate::Preset`] sets it; env `OIDC_PROVIDER`): the wire
    /// names of the login parameters (Auth0's `organization`, Keycloak's
    /// `kc_idp_hint`, Google's `hd`...), how `/auth/signup` asks for sign-up, and
    /// Google's refresh-token parameters. Validation is the same for every kind.
    pub fn with_provider_kind(self, kind: ProviderKind) -> Self {
        self.provider("with_provider_kind", |p| p.with_provider_kind(kind))
    }

    /// The claim that holds the user's roles, instead of the provider kind's own
    /// (`OIDC_ROLES_CLAIM`): a claim of that exact name (Auth0's namespaced
    /// `https://example.com/roles`), else a dotted path (`realm_access.roles`).
    pub fn with_roles_claim(self, claim: impl Into<String>) -> Self {
        self.provider("with_roles_claim", |p| p.with_roles_claim(claim))
    }

    /// At sign-in, also fetch the provider's UserInfo claims and add those the ID
    /// token lacks (`OIDC_USERINFO=1`), for providers whose ID tokens carry little. The
    /// answer's `sub` must be the ID token's; a failure refuses the sign-in (502).
    pub fn with_userinfo_at_sign_in(self, on: bool) -> Self {
        self.provider("with_userinfo_at_sign_in", |p| {
            p.with_userinfo_at_sign_in(on)
        })
    }

    /// Calls `hook` with every event ([`AuthEvent`]): each refusal with its typed
    /// reason, and each session's life (signed in, refreshed, signed out, ended, with
    /// [`AuthEvent::audit`] for an audit trail); for metrics, alerts, and tests that
    /// must know which rule refused. Each call adds a hook (all are called, in order).
    /// It runs on the request's task: keep it quick, and never log the `Debug` of a
    /// provider's description where logs must not hold provider text.
    pub fn with_event_hook(
        mut self,
        hook: impl Fn(&AuthEvent<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.event_hooks.push(EventHook(Arc::new(hook)));
        self
    }

    /// The app's sign-in hook: called after every check of the callback and before the
    /// session is created, with who is signing in ([`SignIn`](crate::SignIn)). It
    /// lets the user in, with the app's own user id and data kept in the session, or
    /// refuses them (403, page code `sign_in_refused`, no session). A hook that
    /// returns an error, panics or takes longer than its time-out (10 s;
    /// [`AuthConfigBuilder::with_sign_in_hook_timeout`]) refuses the sign-in with 503.
    ///
    /// ```
    /// use auth_core::{AuthConfig, SignInDecision};
    /// let config = AuthConfig::builder("https://id.example.com", "client", "https://app.example.com")
    ///     .with_sign_in_hook(|who: auth_core::SignIn| async move {
    ///         if who.claims().get("email_verified") == Some(serde_json::json!(false)) {
    ///             return Ok::<_, std::io::Error>(SignInDecision::deny_because("verify your email first"));
    ///         }
    ///         Ok(SignInDecision::allow().with_user_id(format!("usr_{}", who.sub())))
    ///     });
    /// ```
    pub fn with_sign_in_hook<F, Fut, E>(mut self, hook: F) -> Self
    where
        F: Fn(crate::SignIn) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<crate::SignInDecision, E>> + Send + 'static,
        E: Into<crate::SignInHookError>,
    {
        let timeout = self
            .sign_in_hook
            .as_ref()
            .map_or(crate::flow::sign_in::DEFAULT_HOOK_TIMEOUT, |h| h.timeout);
        let mut hook = crate::flow::sign_in::SignInHook::new(hook);
        hook.timeout = timeout;
        self.sign_in_hook = Some(hook);
        self
    }

    /// How long the sign-in hook may take (default 10 s); past it the sign-in is
    /// refused with 503. Set it after [`AuthConfigBuilder::with_sign_in_hook`].
    pub fn with_sign_in_hook_timeout(mut self, timeout: Duration) -> Self {
        if let Some(hook) = &mut self.sign_in_hook {
            hook.timeout = timeout;
        }
        self
    }

    /// Whether ending a session (sign-out, [`Auth::end_sessions_of`](crate::Auth::end_sessions_of),
    /// [`Auth::end_session_by_handle`](crate::Auth::end_session_by_handle)) also revokes
    /// its refresh token at the provider's `revocation_endpoint` (RFC 7009), when
    /// discovery names one (`OIDC_REVOKE_ON_LOGOUT`, default on).
    pub fn with_revoke_on_logout(mut self, on: bool) -> Self {
        self.revoke_on_logout = on;
        self
    }

    /// Whether [`Auth::discover`](crate::Auth::discover) starts the app when its
    /// provider (or every provider) does not answer: off by default (a typo in the
    /// issuer fails at start); on, the provider is retried in the background, its
    /// sign-ins answer 503 and `{prefix}/health` says `unreachable` until it is
    /// discovered (for an orchestrator that starts the app before the provider is
    /// reachable). A provider that answers with something invalid still stops the start.
    pub fn with_start_while_provider_down(mut self, on: bool) -> Self {
        self.start_while_provider_down = on;
        self
    }

    /// The claim that holds the user's organization (`OIDC_ORGANIZATION_CLAIM`), as
    /// [`AuthConfigBuilder::with_roles_claim`].
    pub fn with_organization_claim(self, claim: impl Into<String>) -> Self {
        self.provider("with_organization_claim", |p| {
            p.with_organization_claim(claim)
        })
    }

    /// The claim that holds the user's permissions (`OIDC_PERMISSIONS_CLAIM`), as
    /// [`AuthConfigBuilder::with_roles_claim`].
    pub fn with_permissions_claim(self, claim: impl Into<String>) -> Self {
        self.provider("with_permissions_claim", |p| {
            p.with_permissions_claim(claim)
        })
    }

    /// Login options sent with every authorization request (organization, connection,
    /// extra parameters...). Per-request options from the login route are added on top.
    pub fn with_default_login_options(self, options: LoginOptions) -> Self {
        self.provider("with_default_login_options", |p| {
            p.with_default_login_options(options)
        })
    }

    /// Where sessions are kept: any tower-sessions store (default: in memory, in this
    /// process). Every clone of the built `Auth` shares it.
    pub fn with_session_store(mut self, store: impl SessionStore) -> Self {
        self.session.store = Some(SharedStore::new(store));
        self
    }

    /// End a session unused for this long (default 3 days; `None`: never idle out).
    /// Use is recorded at most once per tenth of it, so a busy session costs no store
    /// write per request.
    pub fn with_idle_timeout(mut self, idle: Option<Duration>) -> Self {
        self.session.idle_timeout = idle;
        self
    }

    #[cfg(feature = "redis")]
    /// Keep sessions, back-channel logouts and refresh coordination in Redis
    /// (`redis://[:password@]host[:port][/db]`), so that several instances share them.
    /// Unless a store was given with
    /// [`AuthConfigBuilder::with_session_store`], sessions are stored there too.
    pub fn with_redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis.url = Some(RedisUrl(url.into()));
        self
    }

    /// More trust roots for the provider's https endpoints, every call (discovery, keys,
    /// token, userinfo, PAR, revocation): a PEM file of one or more CA certificates
    /// (`OIDC_CA_FILE`), trusted beside the system's roots. For a provider behind a
    /// corporate CA. Read by [`AuthConfigBuilder::build`], which reports a file that
    /// cannot be read or holds no certificate.
    ///
    /// The calls honour `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`
    /// (read by the HTTP client at start; loopback is not exempt unless `NO_PROXY` says
    /// so).
    pub fn with_provider_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.http.ca_file = Some(path.into());
        self
    }

    #[cfg(feature = "redis")]
    /// The CA certificates (PEM) that a `rediss://` server's certificate must chain to
    /// (`REDIS_CA_FILE`); without it, the system's roots.
    pub fn with_redis_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.redis.ca_file = Some(path.into());
        self
    }

    /// Store sessions in Redis in clear, without `APP_SECRET` or
    /// `SESSION_ENCRYPTION_KEY` (`SESSION_STORE_PLAINTEXT=dangerous`): anyone who can
    /// read Redis then reads every session's tokens, and logout markers are not
    /// authenticated. Without it, a Redis URL without a key is refused at build.
    pub fn dangerous_store_sessions_in_plaintext(mut self) -> Self {
        self.session.dangerous_plaintext = true;
        self
    }

    #[cfg(feature = "redis")]
    /// Whether each instance keeps the sessions it has checked in memory, invalidated
    /// through Redis pub/sub within 100 ms of a change on any instance
    /// (`REDIS_SESSION_CACHE`, default on; 0 reads Redis on every request). Only when
    /// Redis stores the sessions (no [`AuthConfigBuilder::with_session_store`]).
    pub fn with_redis_session_cache(mut self, on: bool) -> Self {
        self.redis.session_cache = on;
        self
    }

    #[cfg(feature = "redis")]
    /// How many sessions each instance's fast path keeps at most
    /// (`REDIS_SESSION_CACHE_ENTRIES`, default 100 000, at most 10 million). An entry
    /// is served for 5 s after it was read: size it to the sessions one instance reads
    /// within 5 s (SCALING.md), about 4 KiB each with typical tokens.
    pub fn with_redis_session_cache_entries(mut self, entries: usize) -> Self {
        self.redis.session_cache_entries = entries;
        self
    }

    #[cfg(feature = "redis")]
    /// The longest wait for one Redis command (default 2 s); past it the request
    /// answers 503.
    pub fn with_redis_timeout(mut self, timeout: Duration) -> Self {
        self.redis.timeout = timeout;
        self
    }

    /// Longest lifetime of a session (default 7 days). Back-channel logouts are
    /// remembered this long.
    pub fn with_session_lifetime(mut self, lifetime: Duration) -> Self {
        self.session.lifetime = lifetime;
        self
    }

    /// Minimum time between two JWKS fetches caused by an unknown `kid` (default 30 s).
    pub fn with_jwks_refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.tokens.jwks_refetch_cooldown = cooldown;
        self
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Checks everything and returns the configuration.
    pub fn build(mut self) -> Result<AuthConfig, ConfigError> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        if let Some(setting) = self.misplaced {
            return Err(ConfigError::Invalid {
                name: setting,
                reason: if self.named {
                    "with several providers, set it on the provider's builder (ProviderConfig::builder)".into()
                } else {
                    "with_provider adds to AuthConfig::builder_for_providers; AuthConfig::builder configures one provider".into()
                },
            });
        }
        if self.providers.is_empty() {
            return Err(ConfigError::MissingEnv("OIDC_PROVIDERS"));
        }
        if self.session.lifetime.is_zero() || self.session.lifetime > MAX_SESSION_LIFETIME {
            return Err(ConfigError::Invalid {
                name: "session lifetime",
                reason: "must be between 1 second and 400 days".into(),
            });
        }
        if self
            .session
            .idle_timeout
            .is_some_and(|i| i.is_zero() || i > MAX_SESSION_LIFETIME)
        {
            return Err(ConfigError::Invalid {
                name: "idle timeout",
                reason: "must be between 1 second and 400 days".into(),
            });
        }
        for (name, t) in [
            ("HTTP timeout", self.http.request_timeout),
            ("connect timeout", self.http.connect_timeout),
            ("Redis timeout", self.redis.timeout),
        ] {
            if t.is_zero() || t > Duration::from_secs(300) {
                return Err(ConfigError::Invalid {
                    name,
                    reason: "must be between 1 millisecond and 5 minutes".into(),
                });
            }
        }
        if self.redis.session_cache_entries == 0
            || self.redis.session_cache_entries
                > crate::session::settings::MAX_SESSION_CACHE_ENTRIES
        {
            return Err(ConfigError::Invalid {
                name: "REDIS_SESSION_CACHE_ENTRIES",
                reason:
                    "must be between 1 and 10000000 (REDIS_SESSION_CACHE=0 turns the fast path off)"
                        .into(),
            });
        }
        if self.session.refresh_margin > MAX_SESSION_LIFETIME {
            return Err(ConfigError::Invalid {
                name: "refresh margin",
                reason: "must be at most 400 days".into(),
            });
        }
        if let Some(RedisUrl(u)) = &self.redis.url {
            check_redis_url(u)?;
            let keyed = !self.session.record_keys().is_empty();
            if !keyed && !self.session.dangerous_plaintext {
                return Err(ConfigError::Invalid {
                    name: "REDIS_URL",
                    reason: "sessions in Redis are sealed with a key shared by every instance: set APP_SECRET or SESSION_ENCRYPTION_KEY (or SESSION_STORE_PLAINTEXT=dangerous to store them in clear)".into(),
                });
            }
        }
        let mut app_url = parse_url("APP_URL", &self.app_url)?;
        if app_url.query().is_some() || app_url.fragment().is_some() {
            return Err(ConfigError::InvalidUrl {
                name: "APP_URL",
                reason: "it must have no query or fragment: the redirect URI is APP_URL/auth/callback, and providers drop a fragment from it (Auth0 documents this)".into(),
            });
        }
        if !app_url.path().ends_with('/') {
            let p = format!("{}/", app_url.path());
            app_url.set_path(&p);
        }
        let prefix = self.route_prefix.trim_end_matches('/').to_string();
        if !prefix.starts_with('/')
            || prefix.len() < 2
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c))
        {
            return Err(ConfigError::Invalid {
                name: "route prefix",
                reason: "expected a path like /auth".into(),
            });
        }
        let post_logout_redirect_uri = match &self.post_logout_redirect_uri {
            Some(u) => parse_url("OIDC_POST_LOGOUT_REDIRECT_URI", u)?,
            None => app_url.clone(),
        };
        if let Some(bad) = self
            .bearer
            .scopes
            .iter()
            .find(|s| !crate::provider::config::is_scope(s))
        {
            return Err(ConfigError::Invalid {
                name: "OIDC_API_SCOPES",
                reason: format!("scope {bad:?} has characters a scope cannot have"),
            });
        }
        if self.bearer.cache_capacity > MAX_BEARER_CACHE_CAPACITY {
            return Err(ConfigError::Invalid {
                name: "bearer cache capacity",
                reason: format!("must be at most {MAX_BEARER_CACHE_CAPACITY}"),
            });
        }
        if let Some(path) = &self.http.ca_file {
            self.http.roots = read_roots(path)?;
        }
        let mut providers: Vec<ProviderConfig> = Vec::with_capacity(self.providers.len());
        for p in self.providers {
            let id = p.id.clone();
            let callback = callback_url(&app_url, &prefix, id.as_deref())?;
            let built = p.build(callback).map_err(|e| match &id {
                Some(id) => ConfigError::Provider {
                    id: id.clone(),
                    source: Box::new(e),
                },
                None => e,
            })?;
            if providers.iter().any(|q| q.id == built.id) {
                return Err(ConfigError::Invalid {
                    name: "OIDC_PROVIDERS",
                    reason: format!(
                        "provider id {:?} is given twice",
                        built.id.unwrap_or_default()
                    ),
                });
            }
            for domain in &built.domains {
                if let Some(other) = providers.iter().find(|q| q.domains.contains(domain)) {
                    return Err(ConfigError::Invalid {
                        name: "OIDC_DOMAINS",
                        reason: format!(
                            "domain {domain} is served by providers {:?} and {:?}: one domain, one provider",
                            other.id.as_deref().unwrap_or_default(),
                            built.id.as_deref().unwrap_or_default()
                        ),
                    });
                }
            }
            providers.push(built);
        }
        Ok(AuthConfig {
            providers,
            app_url,
            route_prefix: prefix,
            organization_switch: self.organization_switch,
            anti_forgery: self.anti_forgery,
            post_logout_redirect_uri,
            event_hooks: self.event_hooks,
            sign_in_hook: self.sign_in_hook,
            revoke_on_logout: self.revoke_on_logout,
            start_while_provider_down: self.start_while_provider_down,
            chooser_page: self.chooser_page,
            clock: self.clock,
            session: self.session,
            tokens: self.tokens,
            http: self.http,
            bearer: self.bearer,
            redis: self.redis,
        })
    }
}
/// The redirect URI of provider `id` (`None`: the one provider of a single-provider
/// app): `APP_URL` joined with `{prefix}/callback[/{id}]`.
pub(crate) fn callback_url(
    app_url: &url::Url,
    prefix: &str,
    id: Option<&str>,
) -> Result<url::Url, ConfigError> {
    let path = match id {
        None => format!("{}/callback", &prefix[1..]),
        Some(id) => format!("{}/callback/{id}", &prefix[1..]),
    };
    app_url.join(&path).map_err(|e| ConfigError::InvalidUrl {
        name: "APP_URL",
        reason: e.to_string(),
    })
}

/// A preset's way to the app's builder: defined here, beside the builder, so that the
/// provider layer never names the configuration that composes it.
impl crate::Preset {
    /// A configuration builder for this provider ([`crate::AuthConfig::builder`] with the
    /// issuer and [`AuthConfigBuilder::with_provider_kind`]).
    pub fn builder(
        self,
        client_id: impl Into<String>,
        app_url: impl Into<String>,
    ) -> AuthConfigBuilder {
        crate::AuthConfig::builder(self.issuer(), client_id, app_url)
            .with_provider_kind(self.kind())
    }
}

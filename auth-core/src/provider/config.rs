//! One identity provider's settings: [`ProviderConfigBuilder`] and the checked
//! [`ProviderConfig`]. An app with one provider sets them through
//! [`crate::AuthConfigBuilder`]; an app with several gives one builder per provider to
//! [`crate::AuthConfig::builder_for_providers`].

use url::Url;

use crate::config_error::{ConfigError, check_secure, parse_url};
use crate::jose::Algorithm;
use crate::jose::issuer::{TENANT_PLACEHOLDER, TenantRule, is_guid, names_issuer};
use crate::jose::secret::ClientSecret;
use crate::provider::authorize::LoginOptions;
use crate::provider::discovery::ProviderEndpoints;
use crate::provider::identity;
use crate::provider::presets::ProviderKind;

/// The longest provider id accepted.
const MAX_ID_LEN: usize = 32;

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// HTTP Basic authentication (`client_secret_basic`), the default.
    #[default]
    ClientSecretBasic,
    /// Credentials in the form body (`client_secret_post`).
    ClientSecretPost,
    /// A JWT signed with the app's own key (`private_key_jwt`, RFC 7523): no shared
    /// secret. Set the key with [`crate::ProviderConfigBuilder::with_client_key`].
    PrivateKeyJwt,
}

impl ClientAuthMethod {
    /// The method to use: the app's `choice`, else the first of `client_secret_basic`
    /// and `client_secret_post` that discovery's `supported` list names; with an empty
    /// list, `client_secret_basic` (RFC 8414's default), or `client_secret_post` for a
    /// provider kind that documents the secret in the form body (Scalekit).
    pub(crate) fn resolve(
        choice: Option<Self>,
        supported: &[String],
        kind: crate::ProviderKind,
    ) -> Self {
        if let Some(method) = choice {
            return method;
        }
        let listed = |name: &str| supported.iter().any(|m| m == name);
        if supported.is_empty() {
            return match kind {
                crate::ProviderKind::Scalekit => Self::ClientSecretPost,
                crate::ProviderKind::Generic
                | crate::ProviderKind::WorkosAuthkit
                | crate::ProviderKind::WorkosUserManagement
                | crate::ProviderKind::Auth0
                | crate::ProviderKind::Keycloak
                | crate::ProviderKind::EntraId
                | crate::ProviderKind::Google
                | crate::ProviderKind::Okta => Self::ClientSecretBasic,
            };
        }
        if listed("client_secret_basic") {
            Self::ClientSecretBasic
        } else if listed("client_secret_post") {
            Self::ClientSecretPost
        } else {
            tracing::warn!(
                "the provider lists neither client_secret_basic nor client_secret_post; trying client_secret_basic"
            );
            Self::ClientSecretBasic
        }
    }
}

/// How the provider returns the authorization response to the app's callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResponseMode {
    /// In the redirect URI's query (`GET {prefix}/callback?code=..`), the default.
    #[default]
    Query,
    /// In a form the browser posts to the callback (OAuth 2.0 Form Post Response
    /// Mode; `OIDC_RESPONSE_MODE=form_post`): the code never appears in a URL (history,
    /// logs, `Referer`), and Apple requires it when the app asks for name or email.
    /// The pending-login cookie is then `SameSite=None; Secure` (it must reach a
    /// cross-site POST), so the app's URL must be https, or loopback for development.
    FormPost,
}

impl ResponseMode {
    /// The `response_mode` value (`query`, `form_post`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::FormPost => "form_post",
        }
    }
}

/// Builder for one provider of an app with several ([`ProviderConfig::builder`]), and
/// the provider part of [`crate::AuthConfigBuilder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ProviderConfigBuilder {
    pub(crate) id: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<ClientSecret>,
    pub(crate) client_auth: Option<ClientAuthMethod>,
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) algorithms: Option<Vec<Algorithm>>,
    pub(crate) access_token_audience: Option<String>,
    pub(crate) api_audiences: Vec<String>,
    pub(crate) bearer_require_at_jwt: bool,
    pub(crate) dangerous_untyped_bearer_for_client_id: bool,
    pub(crate) endpoints: Option<ProviderEndpoints>,
    pub(crate) default_login: LoginOptions,
    pub(crate) provider_kind: ProviderKind,
    pub(crate) claim_names: identity::ClaimNames,
    pub(crate) userinfo_at_sign_in: bool,
    pub(crate) allowed_tenants: Vec<String>,
    pub(crate) client_keys: Vec<crate::ClientKey>,
    pub(crate) par: bool,
    pub(crate) dpop: bool,
    pub(crate) profile: SecurityProfile,
    pub(crate) response_mode: ResponseMode,
    pub(crate) api_introspection: bool,
    pub(crate) domains: Vec<String>,
}

/// One provider's checked settings. [`crate::AuthConfig::providers`] lists them.
#[derive(Clone, Debug)]
pub struct ProviderConfig {
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<ClientSecret>,
    pub(crate) client_auth: Option<ClientAuthMethod>,
    pub(crate) redirect_uri: Url,
    pub(crate) scopes: Vec<String>,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) access_token_audience: Option<String>,
    pub(crate) api_audiences: Vec<String>,
    pub(crate) bearer_require_at_jwt: bool,
    pub(crate) endpoints: Option<ProviderEndpoints>,
    pub(crate) default_login: LoginOptions,
    pub(crate) provider_kind: ProviderKind,
    pub(crate) claim_names: identity::ClaimNames,
    pub(crate) userinfo_at_sign_in: bool,
    /// Entra ID multi-tenant: the issuer template, and the tenants let in (empty: any).
    pub(crate) tenants: Option<TenantRule>,
    /// The app's keys for `private_key_jwt`, oldest first: the last one signs.
    pub(crate) client_keys: Vec<crate::ClientKey>,
    /// Push every authorization request (RFC 9126), also when discovery does not
    /// require it.
    pub(crate) par: bool,
    /// Bind each session's tokens to a DPoP key of its own (RFC 9449).
    pub(crate) dpop: bool,
    /// The security profile its rules follow.
    pub(crate) profile: SecurityProfile,
    /// Other exact `iss` values of this provider's tokens (WorkOS User Management
    /// writes `<base>` or `<base>/user_management/<client_id>`).
    pub(crate) issuer_aliases: Vec<String>,
    /// How the authorization response comes back.
    pub(crate) response_mode: ResponseMode,
    /// Bearer tokens that are not JWTs are checked at the introspection endpoint.
    pub(crate) api_introspection: bool,
    /// The email domains whose users sign in here (home-realm discovery), lowercase.
    pub(crate) domains: Vec<String>,
}

/// A security profile: a set of rules switched on together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecurityProfile {
    /// This crate's defaults (PKCE S256, state, nonce, RFC 9207 `iss` when advertised).
    #[default]
    Baseline,
    /// The FAPI 2.0 Security Profile (`OIDC_PROFILE=fapi2`): pushed authorization
    /// requests, PKCE S256, the RFC 9207 `iss` required, `private_key_jwt`, DPoP, and
    /// ES256/PS256 only (for tokens and assertions). The app refuses to start when the
    /// provider lacks one of them, naming what is missing.
    Fapi2,
}

/// The algorithms FAPI 2.0 allows (§5.4: PS256, ES256, EdDSA; EdDSA is left out
/// because few providers sign with it and RFC 9449 clients here use ES256).
const FAPI2_ALGORITHMS: [Algorithm; 2] = [Algorithm::PS256, Algorithm::ES256];

/// A link of the provider chooser (`GET {prefix}/login` with several providers): what
/// a replacement page ([`crate::AuthConfigBuilder::with_chooser_page`]) gets.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ProviderLink {
    /// The provider's id.
    pub id: String,
    /// Its label ([`ProviderConfigBuilder::with_name`]).
    pub name: String,
    /// Where the link goes: its login route with the request's query (a same-origin
    /// path; escape it for HTML).
    pub href: String,
}

/// What renders the chooser: the links in, the HTML document out.
type RenderChooser = dyn Fn(&[ProviderLink]) -> String + Send + Sync;

/// An app's own chooser page.
#[derive(Clone)]
pub(crate) struct ChooserPage(pub(crate) std::sync::Arc<RenderChooser>);

impl std::fmt::Debug for ChooserPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChooserPage")
    }
}

impl ProviderConfig {
    /// Starts the settings of one provider of an app with several: `id` names it in the
    /// routes (`/auth/login/{id}`, `/auth/callback/{id}`), `[a-z0-9-]+`.
    pub fn builder(
        id: impl Into<String>,
        issuer: impl Into<String>,
        client_id: impl Into<String>,
    ) -> ProviderConfigBuilder {
        let mut b = ProviderConfigBuilder::new(issuer, client_id);
        b.id = Some(id.into());
        b
    }

    /// The id in the routes; `None` for the one provider of a single-provider app.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The label shown on the chooser page (default: the id, or the issuer's host).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The issuer, as configured.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The client id at this provider.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The redirect URI registered at this provider.
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// The email domains this provider serves (home-realm discovery), lowercase.
    pub fn domains(&self) -> &[String] {
        &self.domains
    }

    /// How the authorization response comes back.
    pub fn response_mode(&self) -> ResponseMode {
        self.response_mode
    }

    /// The provider family.
    pub fn kind(&self) -> ProviderKind {
        self.provider_kind
    }

    /// Whether bearer tokens of this provider are accepted (an API audience is set).
    pub fn accepts_bearer_tokens(&self) -> bool {
        !self.api_audiences.is_empty()
    }

    /// Whether `iss` (an authorization response's parameter) is this provider's: its
    /// issuer, or with a tenant rule, the template filled with a let-in tenant.
    pub(crate) fn is_issuer(&self, iss: &str) -> bool {
        match &self.tenants {
            None => iss == self.issuer,
            Some(rule) => {
                let template = rule.template();
                let Some((before, after)) = template.split_once(TENANT_PLACEHOLDER) else {
                    return false;
                };
                iss.strip_prefix(before)
                    .and_then(|rest| rest.strip_suffix(after))
                    .and_then(|tid| rule.issuer_for(tid))
                    .is_some_and(|expected| expected == iss)
            }
        }
    }

    /// Whether `token` names this provider's issuer (read unverified, to choose which
    /// provider judges it): its issuer, or for Entra ID's multi-tenant endpoints the
    /// template with a let-in tenant `tid`.
    pub(crate) fn issues_unverified(&self, token: &str) -> bool {
        token.len() <= crate::jose::MAX_TOKEN_BYTES
            && crate::jose::unverified_claims(token).is_ok_and(|claims| {
                names_issuer(
                    &self.issuer,
                    &self.issuer_aliases,
                    self.tenants.as_ref(),
                    &claims,
                )
            })
    }
}

impl ProviderConfigBuilder {
    pub(crate) fn new(issuer: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            id: None,
            name: None,
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret: None,
            client_auth: None,
            scopes: None,
            algorithms: None,
            access_token_audience: None,
            api_audiences: Vec::new(),
            bearer_require_at_jwt: false,
            dangerous_untyped_bearer_for_client_id: false,
            endpoints: None,
            default_login: LoginOptions::default(),
            provider_kind: ProviderKind::Generic,
            claim_names: identity::ClaimNames::default(),
            userinfo_at_sign_in: false,
            allowed_tenants: Vec::new(),
            client_keys: Vec::new(),
            par: false,
            dpop: false,
            profile: SecurityProfile::Baseline,
            response_mode: ResponseMode::Query,
            api_introspection: false,
            domains: Vec::new(),
        }
    }

    /// Follows a security profile (`OIDC_PROFILE=fapi2` for [`SecurityProfile::Fapi2`]):
    /// its rules are switched on whatever else is set, and a setting that contradicts
    /// them (a client secret as the authentication, RS256 only) is refused at `build()`.
    pub fn with_security_profile(mut self, profile: SecurityProfile) -> Self {
        self.profile = profile;
        self
    }

    /// Bind each session's tokens to a key of its own (DPoP, RFC 9449; `OIDC_DPOP=1`):
    /// a proof on the code exchange and every refresh, `token_type: DPoP` required, and
    /// a JWT access token's `cnf.jkt` checked against the session's key. Calls to APIs
    /// with the user's token then go through [`crate::Auth::authorize`].
    pub fn with_dpop(mut self, on: bool) -> Self {
        self.dpop = on;
        self
    }

    /// A key for `private_key_jwt` (`OIDC_CLIENT_PRIVATE_KEY_FILE`). Call again to add
    /// keys for rotation: the key added last signs, and all are published at
    /// `GET {prefix}/jwks`. With a key and no client secret, the client authenticates
    /// with `private_key_jwt` unless [`ProviderConfigBuilder::with_client_auth`] says
    /// otherwise.
    pub fn with_client_key(mut self, key: crate::ClientKey) -> Self {
        self.client_keys.push(key);
        self
    }

    /// Push every authorization request to the provider first (RFC 9126, `OIDC_PAR=1`):
    /// the browser then carries only `client_id` and a `request_uri`. Done anyway when
    /// discovery says `require_pushed_authorization_requests`.
    pub fn with_pushed_authorization_requests(mut self, on: bool) -> Self {
        self.par = on;
        self
    }

    /// How the provider returns the authorization response (`OIDC_RESPONSE_MODE`):
    /// [`ResponseMode::FormPost`] makes the callback route a `POST` as well, and a
    /// `GET` callback carrying a code is then refused.
    pub fn with_response_mode(mut self, mode: ResponseMode) -> Self {
        self.response_mode = mode;
        self
    }

    /// Bearer tokens that are not JWTs (opaque, reference tokens) are checked at the
    /// provider's `introspection_endpoint` (RFC 7662, `OIDC_API_INTROSPECTION=1`), with
    /// the client's authentication: `active`, `exp`, `iss` and `aud` (when present) and
    /// the required scopes, each answer cached by the token's hash until its `exp` and
    /// at most 60 s, one call at a time per token. Needs an API audience, and a
    /// provider whose discovery names the endpoint (checked at start).
    pub fn with_api_introspection(mut self, on: bool) -> Self {
        self.api_introspection = on;
        self
    }

    /// The email domains this provider serves (`OIDC_X_DOMAINS=a.example,b.example`):
    /// with several providers, a login whose `login_hint` is an email of one of them
    /// starts here without the chooser (home-realm discovery), and the chooser's "work
    /// email" field does the same. A domain served by two providers is refused at
    /// build.
    pub fn with_domains<I, S>(mut self, domains: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.domains = domains.into_iter().map(Into::into).collect();
        self
    }

    /// The label on the chooser page (`OIDC_X_NAME`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The client secret (confidential clients).
    pub fn with_client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(ClientSecret::new(secret));
        self
    }

    /// How to authenticate at the token endpoint, as
    /// [`crate::AuthConfigBuilder::with_client_auth`].
    pub fn with_client_auth(mut self, method: ClientAuthMethod) -> Self {
        self.client_auth = Some(method);
        self
    }

    /// Scopes to request (default `openid profile email offline_access`, or the
    /// provider kind's; `openid` is always added).
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Signature algorithms accepted, as [`crate::AuthConfigBuilder::with_algorithms`].
    pub fn with_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// The audience expected in this provider's JWT access tokens at sign-in and
    /// refresh, as [`crate::AuthConfigBuilder::with_access_token_audience`].
    pub fn with_access_token_audience(mut self, audience: impl Into<String>) -> Self {
        self.access_token_audience = Some(audience.into());
        self
    }

    /// An audience of the app's API for this provider's bearer tokens
    /// (`OIDC_X_API_AUDIENCE`; call again for several).
    pub fn with_api_audience(mut self, audience: impl Into<String>) -> Self {
        self.api_audiences.push(audience.into());
        self
    }

    /// Accept only bearer tokens typed `at+jwt`, as
    /// [`crate::AuthConfigBuilder::with_bearer_require_at_jwt`].
    pub fn with_bearer_require_at_jwt(mut self, require: bool) -> Self {
        self.bearer_require_at_jwt = require;
        self
    }

    /// As [`crate::AuthConfigBuilder::dangerous_accept_untyped_bearer_tokens_for_client_id_audience`].
    pub fn dangerous_accept_untyped_bearer_tokens_for_client_id_audience(mut self) -> Self {
        self.dangerous_untyped_bearer_for_client_id = true;
        self
    }

    /// Endpoints for a provider without discovery.
    pub fn with_endpoints(mut self, endpoints: ProviderEndpoints) -> Self {
        self.endpoints = Some(endpoints);
        self
    }

    /// The provider family (`OIDC_X_PROVIDER`), as
    /// [`crate::AuthConfigBuilder::with_provider_kind`].
    pub fn with_provider_kind(mut self, kind: ProviderKind) -> Self {
        self.provider_kind = kind;
        self
    }

    /// The claim holding the user's roles, as [`crate::AuthConfigBuilder::with_roles_claim`].
    pub fn with_roles_claim(mut self, claim: impl Into<String>) -> Self {
        self.claim_names.roles = Some(claim.into());
        self
    }

    /// The claim holding the user's organization.
    pub fn with_organization_claim(mut self, claim: impl Into<String>) -> Self {
        self.claim_names.organization = Some(claim.into());
        self
    }

    /// The claim holding the user's permissions.
    pub fn with_permissions_claim(mut self, claim: impl Into<String>) -> Self {
        self.claim_names.permissions = Some(claim.into());
        self
    }

    /// At sign-in, add the provider's UserInfo claims the ID token lacks.
    pub fn with_userinfo_at_sign_in(mut self, on: bool) -> Self {
        self.userinfo_at_sign_in = on;
        self
    }

    /// Login options sent with every authorization request to this provider.
    pub fn with_default_login_options(mut self, options: LoginOptions) -> Self {
        self.default_login = options;
        self
    }

    /// Entra ID multi-tenant (`common`, `organizations`): the tenants (directory ids,
    /// GUIDs) whose users may sign in (`OIDC_X_ALLOWED_TENANTS`). Without any, every
    /// tenant's users may.
    pub fn with_allowed_tenants<I, S>(mut self, tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_tenants = tenants.into_iter().map(Into::into).collect();
        self
    }

    /// Checks the settings: `callback` is the redirect URI.
    pub(crate) fn build(self, callback: Url) -> Result<ProviderConfig, ConfigError> {
        if let Some(id) = &self.id {
            check_id(id)?;
        }
        let issuer_url = parse_url("OIDC_ISSUER", &self.issuer)?;
        if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
            return Err(ConfigError::InvalidUrl {
                name: "OIDC_ISSUER",
                reason: "an issuer has no query or fragment".into(),
            });
        }
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::MissingEnv("OIDC_CLIENT_ID"));
        }
        let kind = self.provider_kind;
        // Scalekit's web-app guide checks the access token's `aud` against the client
        // id (and requires `iat`): its preset does by default.
        let access_token_audience = match (&self.access_token_audience, kind) {
            (None, ProviderKind::Scalekit) => Some(self.client_id.clone()),
            (a, _) => a.clone(),
        };
        let mut scopes = self.scopes.unwrap_or_else(|| {
            kind.default_scopes()
                .unwrap_or(&["openid", "profile", "email", "offline_access"])
                .iter()
                .map(|s| s.to_string())
                .collect()
        });
        let mut default_login = self.default_login;
        for (name, value) in kind.default_extras() {
            if !default_login.extra.iter().any(|(n, _)| n == name) {
                default_login
                    .extra
                    .push((name.to_string(), value.to_string()));
            }
        }
        scopes.retain(|s| !s.is_empty());
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".into());
        }
        if let Some(bad) = scopes.iter().find(|s| !is_scope(s)) {
            return Err(ConfigError::Invalid {
                name: "OIDC_SCOPES",
                reason: format!("scope {bad:?} has characters a scope cannot have"),
            });
        }
        if self.api_audiences.iter().any(|a| a.trim().is_empty()) {
            return Err(ConfigError::Invalid {
                name: "OIDC_API_AUDIENCE",
                reason: "an API audience cannot be empty".into(),
            });
        }
        let client_id_is_an_api_audience = self.api_audiences.contains(&self.client_id);
        if client_id_is_an_api_audience && self.dangerous_untyped_bearer_for_client_id {
            tracing::warn!(
                "an API audience is this client's id and untyped bearer tokens are accepted: an ID token of this client could be taken for an access token"
            );
        }
        let bearer_require_at_jwt = self.bearer_require_at_jwt
            || (client_id_is_an_api_audience && !self.dangerous_untyped_bearer_for_client_id);
        let algorithms = self.algorithms.unwrap_or_else(Algorithm::default_allowed);
        if algorithms.is_empty() {
            return Err(ConfigError::Invalid {
                name: "algorithms",
                reason: "at least one signature algorithm must be allowed".into(),
            });
        }
        if let Some(e) = &self.endpoints {
            for (name, u) in e.urls() {
                check_secure(name, u)?;
            }
        }
        let tenants = tenant_rule(kind, &issuer_url, &self.issuer, self.allowed_tenants)?;
        let fapi2 = self.profile == SecurityProfile::Fapi2;
        let algorithms = if fapi2 {
            let kept: Vec<Algorithm> = algorithms
                .into_iter()
                .filter(|a| FAPI2_ALGORITHMS.contains(a))
                .collect();
            if kept.is_empty() {
                return Err(ConfigError::Invalid {
                    name: "OIDC_PROFILE",
                    reason: "FAPI 2.0 allows ES256 and PS256 only, and the app allows neither"
                        .into(),
                });
            }
            kept
        } else {
            algorithms
        };
        if fapi2 {
            if self.client_keys.is_empty()
                || self
                    .client_auth
                    .is_some_and(|m| m != ClientAuthMethod::PrivateKeyJwt)
            {
                return Err(ConfigError::Invalid {
                    name: "OIDC_PROFILE",
                    reason: "FAPI 2.0 needs private_key_jwt: set OIDC_CLIENT_PRIVATE_KEY_FILE (and no other OIDC_CLIENT_AUTH)".into(),
                });
            }
            if self
                .client_keys
                .iter()
                .any(|k| k.algorithm() == Algorithm::RS256)
            {
                return Err(ConfigError::Invalid {
                    name: "OIDC_PROFILE",
                    reason: "FAPI 2.0 refuses RS256 client assertions: use an ES256 or PS256 key"
                        .into(),
                });
            }
        }
        let client_auth = match (
            if fapi2 {
                Some(ClientAuthMethod::PrivateKeyJwt)
            } else {
                self.client_auth
            },
            &self.client_secret,
            self.client_keys.is_empty(),
        ) {
            (Some(ClientAuthMethod::PrivateKeyJwt), _, true) => {
                return Err(ConfigError::Invalid {
                    name: "OIDC_CLIENT_AUTH",
                    reason: "private_key_jwt needs a key: set OIDC_CLIENT_PRIVATE_KEY_FILE".into(),
                });
            }
            (None, None, false) => Some(ClientAuthMethod::PrivateKeyJwt),
            (choice, _, _) => choice,
        };
        // Checked here for the app (a clear error at start), and again with a
        // visitor's options at each login (a 400); what the check fills in (WorkOS's
        // `provider=authkit`) is for the login, not pinned as a default.
        if let Err(e) = default_login.clone().checked_for(kind) {
            return Err(ConfigError::Invalid {
                name: "default login options",
                reason: e.to_string(),
            });
        }
        if self.response_mode == ResponseMode::FormPost {
            check_form_post(kind)?;
        }
        let domains = checked_domains(self.domains)?;
        let mut endpoints = self.endpoints;
        let mut issuer_aliases = Vec::new();
        if kind == ProviderKind::WorkosUserManagement {
            crate::provider::workos::check_settings(
                self.client_secret.is_some(),
                self.par,
                self.dpop,
                fapi2,
                self.userinfo_at_sign_in,
                !self.client_keys.is_empty(),
            )?;
            if endpoints.is_none() {
                endpoints = Some(crate::provider::workos::endpoints(
                    &issuer_url,
                    &self.client_id,
                )?);
            }
            issuer_aliases.push(crate::provider::workos::client_issuer(
                &self.issuer,
                &self.client_id,
            ));
        }
        let name = self
            .name
            .filter(|n| !n.trim().is_empty())
            .or_else(|| self.id.clone())
            .unwrap_or_else(|| issuer_url.host_str().unwrap_or_default().to_string());
        Ok(ProviderConfig {
            id: self.id,
            name,
            issuer: self.issuer,
            client_id: self.client_id,
            client_secret: self.client_secret,
            client_auth,
            redirect_uri: callback,
            scopes,
            algorithms,
            access_token_audience,
            api_audiences: self.api_audiences,
            bearer_require_at_jwt,
            endpoints,
            default_login,
            provider_kind: kind,
            claim_names: self.claim_names,
            userinfo_at_sign_in: self.userinfo_at_sign_in,
            tenants,
            client_keys: self.client_keys,
            par: self.par || fapi2,
            dpop: self.dpop || fapi2,
            profile: self.profile,
            issuer_aliases,
            response_mode: self.response_mode,
            api_introspection: self.api_introspection,
            domains,
        })
    }
}

/// Entra ID's `common` and `organizations` issuers are templates; any other issuer,
/// or any other provider kind, is compared as it is.
/// `form_post` needs a provider that speaks OpenID Connect (WorkOS User Management's
/// authorize endpoint has no `response_mode`). Its other need, an https callback (the
/// pending-login cookie is `SameSite=None; Secure`, which browsers keep only from
/// https, or loopback), every app has: `APP_URL` is refused otherwise.
fn check_form_post(kind: ProviderKind) -> Result<(), ConfigError> {
    if kind == ProviderKind::WorkosUserManagement {
        return Err(ConfigError::Invalid {
            name: "OIDC_RESPONSE_MODE",
            reason: "WorkOS User Management answers in the query only: form_post is for OpenID providers".into(),
        });
    }
    Ok(())
}

/// Email domains, lowercased: each a DNS name (letters, digits, `-`, dots between
/// labels), given once.
fn checked_domains(domains: Vec<String>) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::with_capacity(domains.len());
    for d in domains {
        let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if d.len() > 253 || !d.contains('.') || !d.split('.').all(label_ok) {
            return Err(ConfigError::Invalid {
                name: "OIDC_DOMAINS",
                reason: format!("{d:?} is not a domain name"),
            });
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}

/// The domain of an email address (after its last `@`), lowercased; `None` when
/// `email` has no `@` or nothing after it.
pub(crate) fn email_domain(email: &str) -> Option<String> {
    let (_, domain) = email.trim().rsplit_once('@')?;
    (!domain.is_empty()).then(|| domain.to_ascii_lowercase())
}

fn tenant_rule(
    kind: ProviderKind,
    issuer_url: &Url,
    issuer: &str,
    allowed: Vec<String>,
) -> Result<Option<TenantRule>, ConfigError> {
    let segment = issuer_url
        .path_segments()
        .and_then(|mut s| s.find(|seg| matches!(*seg, "common" | "organizations")));
    let allowed: Vec<String> = allowed
        .into_iter()
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    match (kind, segment) {
        (ProviderKind::EntraId, Some(segment)) => {
            if let Some(bad) = allowed.iter().find(|t| !is_guid(t)) {
                return Err(ConfigError::Invalid {
                    name: "OIDC_ALLOWED_TENANTS",
                    reason: format!("{bad:?} is not a tenant id (a GUID)"),
                });
            }
            Ok(Some(TenantRule {
                configured: issuer.to_string(),
                segment: segment.to_string(),
                allowed,
            }))
        }
        _ if !allowed.is_empty() => Err(ConfigError::Invalid {
            name: "OIDC_ALLOWED_TENANTS",
            reason: "only an Entra ID provider (kind entra) at the common or organizations endpoint has tenants to allow".into(),
        }),
        _ => Ok(None),
    }
}

/// A provider id: `[a-z0-9-]+`, at most 32 characters.
pub(crate) fn check_id(id: &str) -> Result<(), ConfigError> {
    if id.is_empty()
        || id.len() > MAX_ID_LEN
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(ConfigError::Invalid {
            name: "OIDC_PROVIDERS",
            reason: format!("provider id {id:?} must be 1 to {MAX_ID_LEN} of a-z, 0-9 and -"),
        });
    }
    Ok(())
}

pub(crate) fn is_scope(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
}

#[cfg(test)]
mod tests {
    //! Entra ID's multi-tenant endpoints against a local provider whose discovery says
    //! `http://127.0.0.1:PORT/{tenantid}/v2.0`, as Microsoft's does.
    use std::time::{SystemTime, UNIX_EPOCH};

    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::{Value, json};

    use crate::{
        Auth, AuthConfig, BearerError, ConfigError, DiscoveryError, ProviderKind, TokenError,
    };

    const T1: &str = "11111111-1111-1111-1111-111111111111";
    const T2: &str = "22222222-2222-2222-2222-222222222222";

    /// Serves a discovery document, `document(base)`, at `{base}{path}` and the test
    /// JWKS at `{base}/common/discovery/v2.0/keys`, on a loopback port; returns `base`.
    async fn discovery_server(path: String, document: impl Fn(&str) -> Value) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let body = axum::Json(document(&base));
        let jwks = include_str!("../jose/testdata/jwks.json");
        let app = axum::Router::new()
            .route(&path, axum::routing::get(move || async move { body }))
            .route(
                "/common/discovery/v2.0/keys",
                axum::routing::get(move || async move { jwks }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    /// A provider at `/{segment}/v2.0` whose discovery publishes the template.
    async fn entra_like(segment: &'static str) -> String {
        discovery_server(
            format!("/{segment}/v2.0/.well-known/openid-configuration"),
            |b| {
                json!({
                    "issuer": format!("{b}/{{tenantid}}/v2.0"),
                    "authorization_endpoint": format!("{b}/{segment}/oauth2/v2.0/authorize"),
                    "token_endpoint": format!("{b}/{segment}/oauth2/v2.0/token"),
                    "jwks_uri": format!("{b}/common/discovery/v2.0/keys"),
                })
            },
        )
        .await
    }

    async fn auth(base: &str, kind: ProviderKind) -> Result<Auth, DiscoveryError> {
        let config = AuthConfig::builder(
            format!("{base}/common/v2.0"),
            "client",
            "http://127.0.0.1:3000",
        )
        .with_provider_kind(kind)
        .with_api_audience("api://app");
        Auth::discover(config.build().expect("config")).await
    }

    fn sign(claims: serde_json::Value) -> String {
        let mut h = Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = Some("rsa1".into());
        let key =
            EncodingKey::from_rsa_pem(include_bytes!("../jose/testdata/rsa.pem")).expect("key");
        encode(&h, &claims, &key).expect("sign")
    }

    fn now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64
    }

    fn id_token(base: &str, iss_tenant: &str, tid: Option<&str>) -> String {
        let t = now();
        let mut c = json!({ "iss": format!("{base}/{iss_tenant}/v2.0"), "aud": "client",
                            "sub": "alice", "exp": t + 300, "iat": t, "nonce": "n" });
        if let Some(tid) = tid {
            c["tid"] = json!(tid);
        }
        sign(c)
    }

    #[tokio::test]
    async fn entra_multi_tenant_iss_must_be_the_template_with_the_tokens_own_tid() {
        let base = entra_like("common").await;
        let auth = auth(&base, ProviderKind::EntraId)
            .await
            .expect("discovered");
        let ok = auth
            .validate_id_token(&id_token(&base, T1, Some(T1)), "n")
            .await;
        assert_eq!(ok.expect("tenant 1").sub(), "alice");
        let ok = auth
            .validate_id_token(&id_token(&base, T2, Some(T2)), "n")
            .await;
        assert!(ok.is_ok(), "any tenant without an allow-list");
        for (what, token) in [
            (
                "iss of another tenant than tid",
                id_token(&base, T2, Some(T1)),
            ),
            ("no tid", id_token(&base, T1, None)),
            (
                "tid not a GUID",
                id_token(&base, "contoso", Some("contoso")),
            ),
            (
                "the template itself",
                id_token(&base, "{tenantid}", Some("{tenantid}")),
            ),
            ("the common endpoint", id_token(&base, "common", Some(T1))),
        ] {
            assert_eq!(
                auth.validate_id_token(&token, "n").await.unwrap_err(),
                TokenError::InvalidIssuer,
                "{what}"
            );
        }
    }

    /// The refresh rule "same `iss` and `sub`" (OpenID Connect Core §12.2) compares `iss`
    /// too: with a multi-tenant issuer template, an ID token of another tenant passes the
    /// issuer check and has to be refused as another identity (a `sub` is unique per
    /// issuer only).
    #[tokio::test]
    async fn rp_refresh_id_token_of_another_tenant_is_another_identity() {
        let base = entra_like("common").await;
        let auth = auth(&base, ProviderKind::EntraId)
            .await
            .expect("discovered");
        let before = auth
            .validate_id_token(&id_token(&base, T1, Some(T1)), "n")
            .await
            .expect("tenant 1");
        let state = auth.0.provider(0);
        let provider = state.ready().expect("ready");
        let refresh = |token: String| {
            let before = &before;
            async move {
                provider
                    .verifier
                    .id_token(
                        &token,
                        crate::jose::IdTokenCheck::Refresh { previous: before },
                        crate::jose::jwks::TokenSource::Provider,
                    )
                    .await
            }
        };
        assert!(
            refresh(id_token(&base, T1, Some(T1))).await.is_ok(),
            "same tenant"
        );
        assert_eq!(
            refresh(id_token(&base, T2, Some(T2))).await.unwrap_err(),
            TokenError::IdentityChanged,
            "same sub, another tenant's iss"
        );
    }

    #[tokio::test]
    async fn entra_multi_tenant_other_tenants_refused() {
        let base = entra_like("organizations").await;
        let config = AuthConfig::builder(
            format!("{base}/organizations/v2.0"),
            "client",
            "http://127.0.0.1:3000",
        )
        .with_provider_kind(ProviderKind::EntraId)
        .with_allowed_tenants([T1.to_uppercase()])
        .with_api_audience("api://app")
        .build()
        .expect("config");
        let auth = Auth::discover(config).await.expect("discovered");
        assert!(
            auth.validate_id_token(&id_token(&base, T1, Some(T1)), "n")
                .await
                .is_ok()
        );
        assert_eq!(
            auth.validate_id_token(&id_token(&base, T2, Some(T2)), "n")
                .await
                .unwrap_err(),
            TokenError::InvalidIssuer
        );
        // Bearer tokens follow the same rule.
        let t = now();
        let bearer = |tenant: &str| {
            sign(
                json!({ "iss": format!("{base}/{tenant}/v2.0"), "tid": tenant, "aud": "api://app",
                         "sub": "svc", "exp": t + 300, "iat": t }),
            )
        };
        assert!(auth.authenticate_bearer(&bearer(T1)).await.is_ok());
        assert_debug_eq!(
            auth.authenticate_bearer(&bearer(T2)).await.unwrap_err(),
            BearerError::Invalid(TokenError::InvalidIssuer)
        );
    }

    /// An Entra `common` provider beside a single-tenant one on the same host: a token
    /// of that tenant is judged by the single-tenant provider (its audience, its rules),
    /// not by `common`, which admits every tenant and was listed first.
    #[tokio::test]
    async fn rp_bearer_token_of_a_single_tenant_provider_judged_by_it_not_by_common() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let doc = |issuer: String, segment: &str| {
            axum::Json(json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{base}/{segment}/oauth2/v2.0/authorize"),
                "token_endpoint": format!("{base}/{segment}/oauth2/v2.0/token"),
                "jwks_uri": format!("{base}/common/discovery/v2.0/keys"),
            }))
        };
        let common = doc(format!("{base}/{{tenantid}}/v2.0"), "common");
        let single = doc(format!("{base}/{T1}/v2.0"), T1);
        let jwks = include_str!("../jose/testdata/jwks.json");
        let app = axum::Router::new()
            .route(
                "/common/v2.0/.well-known/openid-configuration",
                axum::routing::get(move || async move { common }),
            )
            .route(
                &format!("/{T1}/v2.0/.well-known/openid-configuration"),
                axum::routing::get(move || async move { single }),
            )
            .route(
                "/common/discovery/v2.0/keys",
                axum::routing::get(move || async move { jwks }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let config = AuthConfig::builder_for_providers("http://127.0.0.1:3000")
            .with_provider(
                crate::ProviderConfig::builder("common", format!("{base}/common/v2.0"), "c")
                    .with_client_secret("s")
                    .with_provider_kind(ProviderKind::EntraId)
                    .with_api_audience("api://common-app"),
            )
            .with_provider(
                crate::ProviderConfig::builder("corp", format!("{base}/{T1}/v2.0"), "c")
                    .with_client_secret("s")
                    .with_provider_kind(ProviderKind::EntraId)
                    .with_api_audience("api://corp-app"),
            )
            .build()
            .expect("config");
        let auth = Auth::discover(config).await.expect("discovered");
        let t = now();
        let token = sign(json!({ "iss": format!("{base}/{T1}/v2.0"), "tid": T1,
                                 "aud": "api://corp-app", "sub": "svc",
                                 "exp": t + 300, "iat": t }));
        let caller = auth
            .authenticate_bearer(&token)
            .await
            .expect("judged by corp");
        assert_eq!(caller.provider(), Some("corp"));
    }

    /// A provider whose discovery document lists `extra` besides the basics.
    async fn provider_with(extra: serde_json::Value) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mut doc = json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "jwks_uri": format!("{base}/jwks"),
        });
        for (k, v) in extra.as_object().expect("object") {
            doc[k] = v.clone();
        }
        let jwks = include_str!("../jose/testdata/jwks.json");
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || async move { axum::Json(doc) }),
            )
            .route("/jwks", axum::routing::get(move || async move { jwks }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    fn fapi2(issuer: &str) -> crate::AuthConfigBuilder {
        AuthConfig::builder(issuer, "client", "https://app.example.com")
            .with_client_key(
                crate::ClientKey::from_pem(include_bytes!("../jose/testdata/ec.pem")).expect("key"),
            )
            .with_security_profile(crate::SecurityProfile::Fapi2)
    }

    #[tokio::test]
    async fn fapi2_provider_without_par_refused_naming_what_is_missing() {
        let base = provider_with(json!({})).await;
        let err = Auth::discover(fapi2(&base).build().expect("config"))
            .await
            .unwrap_err();
        let DiscoveryError::ProfileNotSupported { missing, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(missing.len(), 6, "{err}");
        assert!(
            err.to_string()
                .contains("pushed_authorization_request_endpoint (PAR)")
        );
        let base = provider_with(json!({
            "pushed_authorization_request_endpoint": "http://127.0.0.1:9/par",
            "authorization_response_iss_parameter_supported": true,
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "dpop_signing_alg_values_supported": ["ES256"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }))
        .await;
        let err = Auth::discover(fapi2(&base).build().expect("config"))
            .await
            .unwrap_err();
        let DiscoveryError::ProfileNotSupported { missing, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            missing,
            &["ES256 or PS256 in id_token_signing_alg_values_supported"],
            "RS256 ID tokens only: refused at start"
        );
        let base = provider_with(json!({
            "pushed_authorization_request_endpoint": "http://127.0.0.1:9/par",
            "authorization_response_iss_parameter_supported": true,
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "dpop_signing_alg_values_supported": ["ES256"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256", "PS256"],
        }))
        .await;
        let auth = Auth::discover(fapi2(&base).build().expect("config"))
            .await
            .expect("everything FAPI 2.0 needs");
        let p = &auth.config().providers()[0];
        assert!(p.par && p.dpop);
        assert_eq!(p.client_auth, Some(crate::ClientAuthMethod::PrivateKeyJwt));
        assert_eq!(
            p.algorithms,
            [crate::Algorithm::PS256, crate::Algorithm::ES256]
        );
    }

    #[test]
    fn fapi2_client_secret_rs256_and_no_key_refused() {
        let plain = AuthConfig::builder("https://id.example.com", "c", "https://app.example.com")
            .with_client_secret("s")
            .with_security_profile(crate::SecurityProfile::Fapi2)
            .build();
        assert!(
            matches!(
                plain,
                Err(ConfigError::Invalid {
                    name: "OIDC_PROFILE",
                    ..
                })
            ),
            "{plain:?}"
        );
        let rsa = crate::ClientKey::from_pem(include_bytes!("../jose/testdata/rsa.pem"))
            .expect("key")
            .with_rs256()
            .expect("rs256");
        let rs256 = fapi2("https://id.example.com").with_client_key(rsa).build();
        assert!(matches!(
            rs256,
            Err(ConfigError::Invalid {
                name: "OIDC_PROFILE",
                ..
            })
        ));
        let only_rs256 = fapi2("https://id.example.com")
            .with_algorithms([crate::Algorithm::RS256])
            .build();
        assert!(matches!(
            only_rs256,
            Err(ConfigError::Invalid {
                name: "OIDC_PROFILE",
                ..
            })
        ));
        let secret_method = fapi2("https://id.example.com")
            .with_client_auth(crate::ClientAuthMethod::ClientSecretPost)
            .build();
        assert!(secret_method.is_err());
    }

    /// OpenID Connect Discovery 1.0 §4.3: the document's `issuer` must be the configured
    /// issuer exactly; a document naming another one is refused before anything is used.
    #[tokio::test]
    async fn rp_discovery_issuer_mismatch() {
        let base = discovery_server("/.well-known/openid-configuration".into(), |b| {
            json!({
                "issuer": "https://evil.example",
                "authorization_endpoint": format!("{b}/authorize"),
                "token_endpoint": format!("{b}/token"),
                "jwks_uri": format!("{b}/common/discovery/v2.0/keys"),
            })
        })
        .await;
        let config = AuthConfig::builder(&base, "client", "http://127.0.0.1:3000")
            .build()
            .expect("config");
        match Auth::discover(config).await {
            Err(DiscoveryError::IssuerMismatch { expected, found }) => {
                assert_eq!((expected, found.as_str()), (base, "https://evil.example"));
            }
            other => panic!("expected IssuerMismatch, got {other:?}"),
        }
    }

    /// A discovery document that is not provider metadata (here: no `token_endpoint`)
    /// stops the start, with the parse error kept as the cause.
    #[tokio::test]
    async fn discovery_document_without_a_token_endpoint_refused() {
        let base = discovery_server("/.well-known/openid-configuration".into(), |b| {
            json!({
                "issuer": b,
                "authorization_endpoint": format!("{b}/authorize"),
                "jwks_uri": format!("{b}/common/discovery/v2.0/keys"),
            })
        })
        .await;
        let config = AuthConfig::builder(&base, "client", "http://127.0.0.1:3000")
            .build()
            .expect("config");
        match Auth::discover(config).await {
            Err(e @ DiscoveryError::Invalid(_)) => {
                let cause = std::error::Error::source(&e).expect("the parse error");
                assert!(cause.to_string().contains("token_endpoint"), "{cause}");
                assert!(e.to_string().contains("not valid provider metadata"), "{e}");
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn only_the_entra_kind_gets_a_template_issuer() {
        let base = entra_like("common").await;
        let generic = auth(&base, ProviderKind::Generic).await;
        assert!(
            matches!(generic, Err(DiscoveryError::IssuerMismatch { .. })),
            "{generic:?}"
        );
        let refused = AuthConfig::builder("https://id.example.com", "c", "https://app.example.com")
            .with_allowed_tenants([T1])
            .build();
        assert!(matches!(
            refused,
            Err(ConfigError::Invalid {
                name: "OIDC_ALLOWED_TENANTS",
                ..
            })
        ));
        let not_a_guid = AuthConfig::builder(
            "https://login.microsoftonline.com/common/v2.0",
            "c",
            "https://app.example.com",
        )
        .with_provider_kind(ProviderKind::EntraId)
        .with_allowed_tenants(["contoso.com"])
        .build();
        assert!(not_a_guid.is_err());
    }
}

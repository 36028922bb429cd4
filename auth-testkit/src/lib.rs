//! A small OpenID provider written in Rust, for development and tests: sign in as a
//! named test user, with no account anywhere and nothing to install.
//!
//! **It is never a production identity provider**: anyone who can reach it can sign
//! in as any test user, and it keeps everything in memory. It listens on loopback.
//!
//! It serves discovery, `authorize` (a plain HTML page with one button per test user,
//! or automatic approval for tests), `token` (authorization code with PKCE S256
//! required, and refresh tokens, rotated), `jwks` (an RS256 key made at start),
//! `userinfo` and `end_session` (RP-initiated logout), and it sends back-channel logout
//! tokens to the clients registered for them. Authorization responses carry `iss`
//! (RFC 9207). Codes are single use, redirect URIs must match exactly, client secrets
//! are compared in constant time.
//!
//! # In a test
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use auth_testkit::DevProvider;
//!
//! // The app's address first, so that its redirect URI can be registered.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let app_url = format!("http://{}", listener.local_addr()?);
//! let provider = DevProvider::builder().app(&app_url).auto_approve(true).start().await?;
//! let auth = auth_core::Auth::discover(provider.auth_config(&app_url).build()?).await?;
//! // ... serve your app with `auth` on `listener`, then:
//! let browser = DevProvider::browser();
//! let page = provider.sign_in(&browser, &format!("{app_url}/auth/login?return_to=/me"), "alice").await?;
//! assert!(page.status().is_success());
//! # Ok(()) }
//! ```
//!
//! Standalone: `cargo run -p auth-testkit` (see `src/bin/auth-testkit.rs`).
//!
//! # Misbehaving on purpose
//!
//! [`DevProvider::misbehave`] makes it answer as a broken or hostile provider would
//! ([`Misbehaviour`]: ID-token claims changed or removed, tokens signed with `none`,
//! HMAC, an unpublished key or an unknown `kid` ([`Signing`]), a failing or hanging
//! token endpoint ([`TokenFault`]), a wrong `iss` or `state` in the authorization
//! response, another issuer in discovery, a failing JWKS); [`DevProvider::rotate_keys`]
//! and [`DevProvider::sign_jwt`] help with the rest. This is how the hostile-provider
//! suite of this repository tests both adapters.
//!
//! The default users are `alice` (Alice Example, alice@example.com, organization
//! `org_example`, role `admin`, permission `reports:read`) and `bob` (Bob Example,
//! bob@example.com, organization `org_example`, role `member`, no permission);
//! [`DevProviderBuilder::user`] replaces them.

#![deny(missing_docs)]

mod fapi;
mod keys;
mod misbehaviour;
mod pages;
mod server;
mod tls;

pub use keys::{Alg, Signing};
pub use misbehaviour::{Misbehaviour, TokenFault};

/// A request to one of the provider's token endpoints (the OpenID one, Scalekit's
/// `/oauth/token`, WorkOS User Management's `/user_management/authenticate`) as it
/// arrived, its values left out but for `grant_type`: what a referee (the vendor's own
/// SDK) and this library are compared on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// `POST`.
    pub method: String,
    /// The path.
    pub path: String,
    /// The `Content-Type` header, without parameters.
    pub content_type: Option<String>,
    /// The body's field names, sorted.
    pub fields: Vec<String>,
    /// The `grant_type` field.
    pub grant_type: Option<String>,
    /// The scheme of the `Authorization` header (`Bearer`, `Basic`), if any.
    pub authorization: Option<String>,
}

/// Requests recorded at most (the oldest are dropped).
const MAX_RECORDED: usize = 1000;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

use server::Provider;

/// A test user: its `id` is the `sub` of its tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestUser {
    /// The subject (`sub`), also the value of its button on the sign-in page.
    pub id: String,
    /// `name`.
    pub name: Option<String>,
    /// `email` (reported as verified).
    pub email: Option<String>,
    /// `org_id`: the user's organization, in ID and access tokens.
    pub organization: Option<String>,
    /// `roles`, in ID and access tokens.
    pub roles: Vec<String>,
    /// `permissions`, in access tokens (as Scalekit, WorkOS and Auth0 put them).
    pub permissions: Vec<String>,
    /// Other organizations the user belongs to (WorkOS User Management's refresh with
    /// `organization_id` switches to one of them).
    pub other_organizations: Vec<String>,
    /// `email_verified` with the email (default true).
    pub email_verified: bool,
}

impl TestUser {
    /// A user with subject `id` and no other claims.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: None,
            email: None,
            organization: None,
            roles: Vec::new(),
            permissions: Vec::new(),
            other_organizations: Vec::new(),
            email_verified: true,
        }
    }

    /// Adds another organization the user belongs to.
    pub fn member_of(mut self, organization: impl Into<String>) -> Self {
        self.other_organizations.push(organization.into());
        self
    }

    /// Whether the user belongs to `organization`.
    fn belongs_to(&self, organization: &str) -> bool {
        self.organization.as_deref() == Some(organization)
            || self.other_organizations.iter().any(|o| o == organization)
    }

    /// Sets the organization (`org_id`).
    pub fn organization(mut self, organization: impl Into<String>) -> Self {
        self.organization = Some(organization.into());
        self
    }

    /// Adds a role (`roles`).
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.roles.push(role.into());
        self
    }

    /// Adds a permission (`permissions`).
    pub fn permission(mut self, permission: impl Into<String>) -> Self {
        self.permissions.push(permission.into());
        self
    }

    /// The user's organization and roles, as ID and access tokens carry them (the
    /// generic provider kind's claim names).
    fn membership_claims(&self) -> Value {
        let mut c = json!({});
        if let Some(o) = &self.organization {
            c["org_id"] = o.as_str().into();
        }
        if !self.roles.is_empty() {
            c["roles"] = self.roles.clone().into();
        }
        c
    }

    /// Sets `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets `email`.
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Whether the email is verified (`email_verified`; true unless set).
    pub fn email_verified(mut self, verified: bool) -> Self {
        self.email_verified = verified;
        self
    }

    /// The user's claims in ID tokens and at `userinfo`.
    fn claims(&self) -> Value {
        let mut c = self.membership_claims();
        c["sub"] = self.id.as_str().into();
        if let Some(n) = &self.name {
            c["name"] = n.as_str().into();
        }
        if let Some(e) = &self.email {
            c["email"] = e.as_str().into();
            c["email_verified"] = self.email_verified.into();
        }
        c
    }
}

/// A client (relying party) registered with the provider.
#[derive(Clone)]
pub struct ClientRegistration {
    /// `client_id`.
    pub id: String,
    /// The client secret (`client_secret_basic` or `client_secret_post`).
    pub secret: String,
    /// Redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser back to.
    pub post_logout_redirect_uris: Vec<String>,
    /// Where back-channel logout tokens are posted.
    pub backchannel_logout_uri: Option<String>,
    /// The client's front-channel logout URI: the provider's logout page loads it in an
    /// iframe with `iss` and `sid` (OpenID Connect Front-Channel Logout 1.0).
    pub frontchannel_logout_uri: Option<String>,
    /// The client's public keys (a JWK set of P-256 keys): with them it authenticates
    /// with `private_key_jwt` (ES256 assertions) and never with the secret.
    pub jwks: Option<serde_json::Value>,
}

impl std::fmt::Debug for ClientRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRegistration")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .field("redirect_uris", &self.redirect_uris)
            .field("post_logout_redirect_uris", &self.post_logout_redirect_uris)
            .field("backchannel_logout_uri", &self.backchannel_logout_uri)
            .field("frontchannel_logout_uri", &self.frontchannel_logout_uri)
            .field("jwks", &self.jwks.is_some())
            .finish()
    }
}

impl ClientRegistration {
    /// The registration of an app built with this crate family at `app_url`, with the
    /// default routes: redirect URI `{app_url}/auth/callback`, post-logout URI
    /// `{app_url}/`, back-channel logout at `{app_url}/auth/backchannel-logout`.
    pub fn for_app(id: impl Into<String>, secret: impl Into<String>, app_url: &str) -> Self {
        let base = app_url.trim_end_matches('/');
        Self {
            id: id.into(),
            secret: secret.into(),
            redirect_uris: vec![format!("{base}/auth/callback")],
            post_logout_redirect_uris: vec![format!("{base}/")],
            backchannel_logout_uri: Some(format!("{base}/auth/backchannel-logout")),
            frontchannel_logout_uri: None,
            jwks: None,
        }
    }

    /// The registration of provider `provider_id` of an app with several providers
    /// at `app_url`: redirect URI `{app_url}/auth/callback/{provider_id}`, back-channel
    /// logout at `{app_url}/auth/backchannel-logout/{provider_id}`.
    pub fn for_app_provider(
        id: impl Into<String>,
        secret: impl Into<String>,
        app_url: &str,
        provider_id: &str,
    ) -> Self {
        let base = app_url.trim_end_matches('/');
        Self {
            id: id.into(),
            secret: secret.into(),
            redirect_uris: vec![format!("{base}/auth/callback/{provider_id}")],
            post_logout_redirect_uris: vec![format!("{base}/")],
            backchannel_logout_uri: Some(format!("{base}/auth/backchannel-logout/{provider_id}")),
            frontchannel_logout_uri: None,
            jwks: None,
        }
    }
}

/// Counters of what the provider did, for assertions in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// `GET /authorize` requests.
    pub authorize_requests: u64,
    /// Sign-ins approved (a code issued).
    pub sign_ins: u64,
    /// Requests to the token endpoint (counted as they arrive).
    pub token_requests: u64,
    /// Codes exchanged at the token endpoint.
    pub code_grants: u64,
    /// Refresh tokens exchanged.
    pub refresh_grants: u64,
    /// Client-credentials tokens issued (the client's own tokens).
    pub client_credentials_grants: u64,
    /// Token requests refused.
    pub token_errors: u64,
    /// `GET /jwks` requests.
    pub jwks_fetches: u64,
    /// `GET /userinfo` requests.
    pub userinfo_requests: u64,
    /// Back-channel logout tokens a client accepted (2xx).
    pub backchannel_logouts_sent: u64,
    /// Back-channel logout tokens a client refused or did not answer.
    pub backchannel_logouts_failed: u64,
    /// Token requests whose client authenticated with `client_secret_post`.
    pub client_secret_post_authentications: u64,
    /// Token requests whose client authenticated with `client_secret_basic`.
    pub client_secret_basic_authentications: u64,
    /// Revocation requests (RFC 7009) from an authenticated client.
    pub revocations: u64,
    /// Refresh tokens revoked (of the client that asked).
    pub refresh_tokens_revoked: u64,
    /// Introspection requests (RFC 7662) from an authenticated client.
    pub introspections: u64,
}

/// Configures a [`DevProvider`]; [`DevProvider::builder`] makes one.
#[derive(Debug)]
pub struct DevProviderBuilder {
    /// `None`: the default users.
    users: Option<Vec<TestUser>>,
    clients: Vec<ClientRegistration>,
    auto_approve: bool,
    access_token_ttl: Duration,
    id_token_ttl: Duration,
    refresh_token_ttl: Duration,
    api_audience: Option<String>,
    par_required: bool,
    advertise_client_auth: bool,
    port: u16,
    /// Serve https with this certificate chain and key (PEM).
    tls: Option<(Vec<u8>, Vec<u8>)>,
    opaque_access_tokens: bool,
}

/// The `client_id` [`DevProviderBuilder::app`] registers.
pub const DEV_CLIENT_ID: &str = "dev-client";

impl DevProviderBuilder {
    /// Adds a test user. The first user added replaces the default ones.
    pub fn user(mut self, user: TestUser) -> Self {
        self.users.get_or_insert_with(Vec::new).push(user);
        self
    }

    /// Registers a client.
    pub fn client(mut self, client: ClientRegistration) -> Self {
        self.clients.push(client);
        self
    }

    /// Registers the app at `app_url` as client [`DEV_CLIENT_ID`] with a random
    /// secret ([`ClientRegistration::for_app`]); [`DevProvider::auth_config`] then
    /// configures the app for it.
    pub fn app(self, app_url: &str) -> Self {
        let secret = random_token(32);
        self.client(ClientRegistration::for_app(DEV_CLIENT_ID, secret, app_url))
    }

    /// Registers the app at `app_url` as client [`DEV_CLIENT_ID`] for its provider
    /// `provider_id` (an app with several providers,
    /// [`ClientRegistration::for_app_provider`]); [`DevProvider::provider_config`]
    /// then configures that provider.
    pub fn app_provider(self, app_url: &str, provider_id: &str) -> Self {
        let secret = random_token(32);
        self.client(ClientRegistration::for_app_provider(
            DEV_CLIENT_ID,
            secret,
            app_url,
            provider_id,
        ))
    }

    /// Registers the app at `app_url` as client [`DEV_CLIENT_ID`] with front-channel
    /// logout at `{app_url}/auth/frontchannel-logout` instead of back-channel logout:
    /// the provider cannot reach the app, the browser's iframe does.
    pub fn app_with_frontchannel_logout(self, app_url: &str) -> Self {
        let mut client = ClientRegistration::for_app(DEV_CLIENT_ID, random_token(32), app_url);
        client.backchannel_logout_uri = None;
        client.frontchannel_logout_uri = Some(format!(
            "{}/auth/frontchannel-logout",
            app_url.trim_end_matches('/')
        ));
        self.client(client)
    }

    /// Registers the app at `app_url` as client [`DEV_CLIENT_ID`] authenticating with
    /// `private_key_jwt` by `public_key` (a P-256 JWK, as
    /// [`auth_core::ClientKey::public_jwk`] gives it): the enterprise client's
    /// registration.
    pub fn app_with_key(self, app_url: &str, public_key: serde_json::Value) -> Self {
        let mut client = ClientRegistration::for_app(DEV_CLIENT_ID, random_token(32), app_url);
        client.jwks = Some(serde_json::json!({ "keys": [public_key] }));
        self.client(client)
    }

    /// Takes authorization requests only when pushed first (RFC 9126), as a FAPI 2.0
    /// provider does. The pushed authorization request endpoint is always there.
    pub fn require_pushed_authorization_requests(mut self, on: bool) -> Self {
        self.par_required = on;
        self
    }

    /// Approves every authorization request at once, without a page: as the user
    /// named by `login_hint` when it is a test user's id, else as the first user.
    /// Off by default (the sign-in page is shown).
    pub fn auto_approve(mut self, on: bool) -> Self {
        self.auto_approve = on;
        self
    }

    /// Lifetime of access tokens (default 5 minutes).
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_token_ttl = ttl;
        self
    }

    /// Lifetime of ID tokens (default 5 minutes).
    pub fn id_token_ttl(mut self, ttl: Duration) -> Self {
        self.id_token_ttl = ttl;
        self
    }

    /// Lifetime of refresh tokens (default 1 day).
    pub fn refresh_token_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_token_ttl = ttl;
        self
    }

    /// Whether discovery lists `token_endpoint_auth_methods_supported` (default yes;
    /// without it, a client chooses its method itself, as with providers that leave
    /// it out).
    pub fn advertise_client_authentication_methods(mut self, on: bool) -> Self {
        self.advertise_client_auth = on;
        self
    }

    /// The `aud` of the access tokens it issues (default: the client id).
    pub fn api_audience(mut self, audience: impl Into<String>) -> Self {
        self.api_audience = Some(audience.into());
        self
    }

    /// Issues opaque access tokens (random strings) instead of JWTs: a resource
    /// server learns what they grant only from the introspection endpoint (RFC 7662,
    /// `/introspect`), which answers for JWT access tokens as well.
    pub fn opaque_access_tokens(mut self, on: bool) -> Self {
        self.opaque_access_tokens = on;
        self
    }

    /// The loopback port to listen on (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Serves https, with this certificate chain and its private key (PEM): for
    /// testing an app against a provider whose certificate chains to a CA of its own
    /// (`OIDC_CA_FILE`). The issuer is then `https://127.0.0.1:<port>`.
    pub fn tls(mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Self {
        self.tls = Some((cert_chain_pem.to_vec(), key_pem.to_vec()));
        self
    }

    /// Starts the provider on `127.0.0.1` in the current tokio runtime. It stops when
    /// the returned handle is dropped.
    pub async fn start(self) -> std::io::Result<DevProvider> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await?;
        let addr = listener.local_addr()?;
        let acceptor = match &self.tls {
            None => None,
            Some((chain, key)) => Some(tls::acceptor(chain, key)?),
        };
        let scheme = if acceptor.is_some() { "https" } else { "http" };
        let issuer = format!("{scheme}://{addr}");
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(std::io::Error::other)?;
        for c in &self.clients {
            let uris = c
                .redirect_uris
                .iter()
                .chain(&c.post_logout_redirect_uris)
                .chain(&c.backchannel_logout_uri);
            for u in uris {
                if url::Url::parse(u).is_err() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("client {}: {u:?} is not an absolute URL", c.id),
                    ));
                }
            }
        }
        let users = self.users.unwrap_or_else(default_users);
        let provider = Arc::new(Provider {
            issuer: issuer.clone(),
            users,
            clients: self.clients,
            auto_approve: self.auto_approve,
            access_token_ttl: self.access_token_ttl,
            id_token_ttl: self.id_token_ttl,
            refresh_token_ttl: self.refresh_token_ttl,
            api_audience: self.api_audience,
            par_required: self.par_required,
            advertise_client_auth: self.advertise_client_auth,
            opaque_access_tokens: self.opaque_access_tokens,
            keys: RwLock::new(Arc::new(keys::KeySet::generate())),
            retired: Mutex::default(),
            misbehaviour: Mutex::default(),
            http,
            state: Mutex::default(),
            counters: server::Counters::default(),
            recorded: Mutex::default(),
        });
        let app = server::router(provider.clone());
        let task = tokio::spawn(async move {
            let served = match acceptor {
                None => axum::serve(listener, app).await,
                Some(acceptor) => axum::serve(tls::TlsListener::new(listener, acceptor), app).await,
            };
            if let Err(e) = served {
                tracing::error!(error = %e, "dev provider stopped");
            }
        });
        tracing::info!(%issuer, "auth-testkit development provider started (never use it in production)");
        Ok(DevProvider {
            provider,
            addr,
            task,
        })
    }
}

fn default_users() -> Vec<TestUser> {
    vec![
        TestUser::new("alice")
            .name("Alice Example")
            .email("alice@example.com")
            .organization("org_example")
            .member_of("org_partner")
            .role("admin")
            .permission("reports:read"),
        TestUser::new("bob")
            .name("Bob Example")
            .email("bob@example.com")
            .organization("org_example")
            .role("member"),
        // An email the provider has not verified (`email_verified: false`): apps that
        // require verified emails refuse her.
        TestUser::new("eve")
            .name("Eve Unverified")
            .email("eve@example.com")
            .email_verified(false)
            .organization("org_example")
            .role("member"),
    ]
}

/// A running development provider; dropping it stops it.
pub struct DevProvider {
    provider: Arc<Provider>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for DevProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevProvider")
            .field("issuer", &self.provider.issuer)
            .field("clients", &self.provider.clients)
            .finish_non_exhaustive()
    }
}

impl Drop for DevProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why [`DevProvider::sign_in`] could not finish.
#[derive(Debug, thiserror::Error)]
#[error("dev provider sign-in: {0}")]
pub struct SignInError(String);

impl DevProvider {
    /// A provider with the default users, on any free port.
    pub fn builder() -> DevProviderBuilder {
        DevProviderBuilder {
            users: None,
            clients: Vec::new(),
            auto_approve: false,
            access_token_ttl: Duration::from_secs(300),
            id_token_ttl: Duration::from_secs(300),
            refresh_token_ttl: Duration::from_secs(86_400),
            api_audience: None,
            par_required: false,
            advertise_client_auth: true,
            port: 0,
            tls: None,
            opaque_access_tokens: false,
        }
    }

    /// The issuer URL (`http://127.0.0.1:<port>`).
    pub fn issuer(&self) -> &str {
        &self.provider.issuer
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it has done so far.
    pub fn stats(&self) -> Stats {
        self.provider.stats()
    }

    /// The configuration of an app at `app_url` signing in with the first registered
    /// client (issuer, client id and secret set; add the rest and call `build()`).
    ///
    /// # Panics
    /// When no client is registered ([`DevProviderBuilder::app`] registers one).
    pub fn auth_config(&self, app_url: &str) -> auth_core::AuthConfigBuilder {
        let client = self
            .provider
            .clients
            .first()
            .expect("register a client: DevProvider::builder().app(app_url)");
        auth_core::AuthConfig::builder(&self.provider.issuer, &client.id, app_url)
            .with_client_secret(&client.secret)
    }

    /// This provider as provider `id` of an app with several (issuer, client id and
    /// secret of the first registered client set; add the rest and pass it to
    /// [`auth_core::AuthConfigBuilder::with_provider`]).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use auth_testkit::DevProvider;
    /// let app = "http://127.0.0.1:3000";
    /// let google = DevProvider::builder().app_provider(app, "google").start().await?;
    /// let corp = DevProvider::builder().app_provider(app, "corp").start().await?;
    /// let config = auth_core::AuthConfig::builder_for_providers(app)
    ///     .with_provider(google.provider_config("google").with_name("Google"))
    ///     .with_provider(corp.provider_config("corp"))
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Panics
    /// When no client is registered.
    pub fn provider_config(&self, id: &str) -> auth_core::ProviderConfigBuilder {
        let client = self
            .provider
            .clients
            .first()
            .expect("register a client: DevProvider::builder().app_provider(app_url, id)");
        auth_core::ProviderConfig::builder(id, &self.provider.issuer, &client.id)
            .with_client_secret(&client.secret)
    }

    /// The first registered client's id and secret (for `OIDC_CLIENT_ID` and
    /// `OIDC_CLIENT_SECRET`).
    pub fn client_credentials(&self) -> Option<(&str, &str)> {
        self.provider
            .clients
            .first()
            .map(|c| (c.id.as_str(), c.secret.as_str()))
    }

    /// An access token (JWT, `typ: at+jwt`) for `user` with `scopes`, as the token
    /// endpoint would issue to the first client: for calling an API protected by
    /// bearer tokens in tests. Its `aud` is [`DevProviderBuilder::api_audience`].
    pub fn access_token(&self, user: &str, scopes: &[&str]) -> String {
        let client = self
            .provider
            .clients
            .first()
            .map(|c| c.id.as_str())
            .unwrap_or(DEV_CLIENT_ID);
        self.provider.access_token(
            client,
            user,
            &scopes.join(" "),
            self.provider.access_token_ttl.as_secs(),
        )
    }

    /// Ends every provider session of `user`, as an administrator would: refresh
    /// tokens are revoked and each client of those sessions receives a back-channel
    /// logout token. Returns once the clients have answered, with the front-channel
    /// logout URLs (`iss` and `sid` added) of the clients registered with one: the
    /// provider's page would load them in iframes; load them as the browser would.
    pub async fn log_out_user(&self, user: &str) -> Vec<String> {
        self.provider.end_sessions(|_, u| u == user).await
    }

    /// The requests its token endpoints received so far, oldest first (at most the
    /// last thousand).
    pub fn recorded_requests(&self) -> Vec<RecordedRequest> {
        self.provider
            .recorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// From now on, misbehaves as `misbehaviour` says (replacing any earlier
    /// misbehaviour): for testing that a relying party refuses what it must.
    pub fn misbehave(&self, misbehaviour: Misbehaviour) {
        *self
            .provider
            .misbehaviour
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = misbehaviour;
    }

    /// Behaves again.
    pub fn behave(&self) {
        self.misbehave(Misbehaviour::default());
    }

    /// Replaces every signing key with new ones (new `kid`s); the old keys leave the
    /// JWKS at once.
    pub fn rotate_keys(&self) {
        let new = Arc::new(keys::KeySet::generate());
        let old = std::mem::replace(
            &mut *self
                .provider
                .keys
                .write()
                .unwrap_or_else(|e| e.into_inner()),
            new,
        );
        self.provider
            .retired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(old);
    }

    /// Signs `claims` as a JWT with header `typ`, as `signing` says: for crafting
    /// tokens (logout tokens, access tokens, ID tokens) a test sends itself.
    pub fn sign_jwt(&self, signing: &Signing, typ: &str, claims: &Value) -> String {
        self.provider.keys().sign(signing, typ, claims)
    }

    /// A browser for tests: a cookie jar, and redirects left to the caller (or to
    /// [`DevProvider::sign_in`]).
    pub fn browser() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client")
    }

    /// Signs in as `user`: opens `login_url` (usually the app's `/auth/login`, with
    /// any `return_to`), follows the redirects, picks `user` on the sign-in page and
    /// follows the redirects back. Returns the last response (the `return_to` page).
    /// `browser` must keep cookies and not follow redirects itself
    /// ([`DevProvider::browser`]).
    pub async fn sign_in(
        &self,
        browser: &reqwest::Client,
        login_url: &str,
        user: &str,
    ) -> Result<reqwest::Response, SignInError> {
        let fail = |what: &str| SignInError(what.to_owned());
        let mut url = url::Url::parse(login_url).map_err(|_| fail("login_url is not a URL"))?;
        let mut picked = false;
        let authorize = format!("{}/authorize", self.issuer());
        // WorkOS User Management's authorize endpoint, on this provider too.
        let workos = format!("{}/user_management/authorize", self.issuer());
        let at_authorize =
            |u: &url::Url| u.as_str().starts_with(&authorize) || u.as_str().starts_with(&workos);
        for _ in 0..20 {
            if !picked && at_authorize(&url) {
                // Names the user (auto-approval picks it; the page focuses it).
                let others: Vec<(String, String)> = url
                    .query_pairs()
                    .filter(|(k, _)| k != "login_hint")
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                url.query_pairs_mut()
                    .clear()
                    .extend_pairs(others)
                    .append_pair("login_hint", user);
            }
            let resp = browser
                .get(url.clone())
                .send()
                .await
                .map_err(|e| SignInError(format!("GET {url}: {e}")))?;
            if resp.status().is_redirection() {
                let next = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| fail("redirect without Location"))?;
                url = url.join(next).map_err(|_| fail("bad Location"))?;
                continue;
            }
            let on_page = at_authorize(&url);
            if !on_page || picked {
                return Ok(resp);
            }
            let html = resp.text().await.map_err(|e| SignInError(e.to_string()))?;
            // Auto-approval answered at once with a posted response (form_post).
            let resp = match self.post_back(browser, &html).await? {
                Some(resp) => resp,
                None => {
                    let pending = html
                        .split("name=\"pending\" value=\"")
                        .nth(1)
                        .and_then(|s| s.split('"').next())
                        .ok_or_else(|| fail("the provider did not show its sign-in page"))?;
                    let resp = browser
                        .post(format!("{}/authorize/decision", self.issuer()))
                        .form(&[("pending", pending), ("user", user)])
                        .send()
                        .await
                        .map_err(|e| SignInError(e.to_string()))?;
                    if resp.status().is_redirection() {
                        resp
                    } else {
                        let html = resp.text().await.map_err(|e| SignInError(e.to_string()))?;
                        self.post_back(browser, &html).await?.ok_or_else(|| {
                            SignInError(format!("no user {user:?} on the sign-in page"))
                        })?
                    }
                }
            };
            picked = true;
            if !resp.status().is_redirection() {
                return Ok(resp);
            }
            let next = resp
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| fail("redirect without Location"))?;
            // Relative to what answered: the decision, or the app's callback.
            url = resp.url().join(next).map_err(|_| fail("bad Location"))?;
        }
        Err(fail("too many redirects"))
    }

    /// With `response_mode=form_post` the provider answers with a page whose form the
    /// browser posts to the app's callback: posted here as a browser would (from the
    /// provider's origin). `None` when `html` is not such a page.
    async fn post_back(
        &self,
        browser: &reqwest::Client,
        html: &str,
    ) -> Result<Option<reqwest::Response>, SignInError> {
        let Some((action, fields)) = pages::posted_response(html) else {
            return Ok(None);
        };
        let origin = url::Url::parse(self.issuer())
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        browser
            .post(&action)
            .header(reqwest::header::ORIGIN, origin)
            .form(&fields)
            .send()
            .await
            .map(Some)
            .map_err(|e| SignInError(format!("POST {action}: {e}")))
    }
}

/// The app's configuration from the environment ([`auth_core::AuthConfig::from_env`]);
/// or, for a zero-configuration first run, a development provider started for the app
/// at `APP_URL` (default `default_app_url`), with the other variables (`APP_SECRET`,
/// `REDIS_URL`, ...) still read from the environment. Keep the returned provider alive
/// as long as the app runs. This is what the examples do.
///
/// The development provider is started only when nothing says this is a real
/// deployment: `OIDC_ISSUER`, `OIDC_CLIENT_ID` and `OIDC_PROVIDERS` unset (or empty) and `APP_URL` unset
/// or a plain-http loopback URL. Otherwise the configuration is read from the
/// environment, and a missing `OIDC_ISSUER` is an error: a typo in a deployment never
/// turns into a provider that signs anyone in.
pub async fn config_from_env_or_dev_provider(
    default_app_url: &str,
) -> Result<(auth_core::AuthConfig, Option<DevProvider>), Box<dyn std::error::Error + Send + Sync>>
{
    let (builder, provider) = builder_from_env_or_dev_provider(default_app_url).await?;
    Ok((builder.build()?, provider))
}

/// As [`config_from_env_or_dev_provider`], the builder before `build()`: for what the
/// environment cannot say (the app's sign-in hook, its event hook).
pub async fn builder_from_env_or_dev_provider(
    default_app_url: &str,
) -> Result<
    (auth_core::AuthConfigBuilder, Option<DevProvider>),
    Box<dyn std::error::Error + Send + Sync>,
> {
    builder_from_lookup_or_dev_provider(default_app_url, |name| {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    })
    .await
}

/// As [`config_from_env_or_dev_provider`], reading variables from a function (tests).
/// With `OIDC_PROFILE=fapi2` or `OIDC_CLIENT_AUTH=private_key_jwt`, the development
/// provider registers the app's key (`OIDC_CLIENT_PRIVATE_KEY_FILE`, or a P-256 key made
/// now in the temporary directory) for `private_key_jwt`; under FAPI 2.0 it takes
/// pushed authorization requests only, and it binds tokens to DPoP proofs.
pub async fn config_from_lookup_or_dev_provider(
    default_app_url: &str,
    get: impl Fn(&str) -> Option<String>,
) -> Result<(auth_core::AuthConfig, Option<DevProvider>), Box<dyn std::error::Error + Send + Sync>>
{
    let (builder, provider) = builder_from_lookup_or_dev_provider(default_app_url, get).await?;
    Ok((builder.build()?, provider))
}

/// As [`config_from_lookup_or_dev_provider`], the builder before `build()`.
pub async fn builder_from_lookup_or_dev_provider(
    default_app_url: &str,
    get: impl Fn(&str) -> Option<String>,
) -> Result<
    (auth_core::AuthConfigBuilder, Option<DevProvider>),
    Box<dyn std::error::Error + Send + Sync>,
> {
    let env = |name: &str| get(name).filter(|v| !v.is_empty());
    let app_url = env("APP_URL").unwrap_or_else(|| default_app_url.to_owned());
    let local = url::Url::parse(&app_url).is_ok_and(|u| {
        u.scheme() == "http"
            && match u.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            }
    });
    if env("OIDC_ISSUER").is_some()
        || env("OIDC_CLIENT_ID").is_some()
        || env("OIDC_PROVIDERS").is_some()
        || !local
    {
        return Ok((auth_core::AuthConfig::builder_from_lookup(env)?, None));
    }
    // The enterprise client (`OIDC_PROFILE=fapi2`, `OIDC_CLIENT_AUTH=private_key_jwt`):
    // the app's key (`OIDC_CLIENT_PRIVATE_KEY_FILE`, or one made now) is registered,
    // and under FAPI 2.0 the provider takes pushed requests only.
    let fapi2 = env("OIDC_PROFILE").as_deref() == Some("fapi2");
    let enterprise = fapi2 || env("OIDC_CLIENT_AUTH").as_deref() == Some("private_key_jwt");
    let (builder, key_file) = if enterprise {
        let key_file = match env("OIDC_CLIENT_PRIVATE_KEY_FILE") {
            Some(path) => std::path::PathBuf::from(path),
            None => write_new_client_key()?,
        };
        let pem = std::fs::read(&key_file)?;
        let key = auth_core::ClientKey::from_pem(&pem)?;
        let builder = DevProvider::builder()
            .app_with_key(&app_url, key.public_jwk())
            .require_pushed_authorization_requests(fapi2);
        (builder, Some(key_file.display().to_string()))
    } else {
        (DevProvider::builder().app(&app_url), None)
    };
    let provider = builder.start().await?;
    let (id, secret) = provider
        .client_credentials()
        .map(|(i, s)| (i.to_owned(), s.to_owned()))
        .expect("registered above");
    let issuer = provider.issuer().to_owned();
    let config = auth_core::AuthConfig::builder_from_lookup(|name| match name {
        "OIDC_ISSUER" => Some(issuer.clone()),
        "OIDC_CLIENT_ID" => Some(id.clone()),
        "OIDC_CLIENT_SECRET" if key_file.is_none() => Some(secret.clone()),
        "OIDC_CLIENT_SECRET" => None,
        "OIDC_CLIENT_PRIVATE_KEY_FILE" => key_file.clone(),
        "APP_URL" => Some(app_url.clone()),
        other => env(other),
    })?;
    Ok((config, Some(provider)))
}

/// Makes a P-256 key for `private_key_jwt` and writes it as a PKCS#8 PEM file that
/// only this user can read, in the temporary directory (a development convenience).
fn write_new_client_key() -> std::io::Result<std::path::PathBuf> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let der = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .map_err(|_| std::io::Error::other("no system randomness"))?;
    let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    let path =
        std::env::temp_dir().join(format!("auth-testkit-client-key-{}.pem", random_token(9)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&path)?, pem.as_bytes())?;
    Ok(path)
}

/// `bytes` random bytes, base64url.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).expect("system randomness");
    B64.encode(buf)
}

//! The authorization request: PKCE S256, state and nonce always; typed provider
//! options; arbitrary extras that may not override the protocol's own parameters.

use std::fmt;

use url::Url;

use crate::provider::presets::ParameterNames;

/// The `prompt` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Prompt {
    /// Ask the user to sign in again.
    Login,
    /// Show the sign-up page (`prompt=create`, OpenID Connect Prompt Create 1.0).
    Create,
    /// Let the user pick an account.
    SelectAccount,
    /// Ask for consent again.
    Consent,
    /// No UI: fail with `login_required` if the user is not signed in at the provider.
    None,
}

impl Prompt {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Prompt::Login => "login",
            Prompt::Create => "create",
            Prompt::SelectAccount => "select_account",
            Prompt::Consent => "consent",
            Prompt::None => "none",
        }
    }
}

impl std::str::FromStr for Prompt {
    type Err = LoginOptionError;

    /// Parses a wire value (exact, as OpenID Connect Core §3.1.2.1 spells it).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Prompt::Login,
            Prompt::Create,
            Prompt::SelectAccount,
            Prompt::Consent,
            Prompt::None,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
        .ok_or(LoginOptionError::UnknownPrompt)
    }
}

impl fmt::Display for Prompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parameters a login may add to the authorization request. Vendor parameters are
/// typed; anything else goes through [`LoginOptions::with_extra`].
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoginOptions {
    /// `prompt`.
    pub prompt: Option<Prompt>,
    /// `organization_id` (Scalekit, WorkOS).
    pub organization_id: Option<String>,
    /// `connection_id` (Scalekit, WorkOS).
    pub connection_id: Option<String>,
    /// `login_hint`: the user's email or id.
    pub login_hint: Option<String>,
    /// `domain_hint`.
    pub domain_hint: Option<String>,
    /// `screen_hint` (WorkOS: `sign-up` or `sign-in`).
    pub screen_hint: Option<String>,
    /// `provider` (WorkOS: e.g. `GoogleOAuth`, `authkit`).
    pub provider: Option<String>,
    /// `invitation`: an organization invitation's ticket (Auth0's invitation links,
    /// `/auth/login?invitation=…&organization=…`).
    pub invitation: Option<String>,
    /// `provider_scopes` (WorkOS): a list, sent as WorkOS's Node SDK sends it in
    /// `getAuthorizationUrl`, the parameter repeated once per scope
    /// (`provider_scopes=a&provider_scopes=b`).
    pub provider_scopes: Vec<String>,
    /// `max_age` in seconds (OIDC Core §3.1.2.1): the user must have authenticated at
    /// the provider within this time. The callback then requires `auth_time` and
    /// refuses one older than `max_age` plus the leeway (§3.1.3.7 item 11).
    pub max_age: Option<u64>,
    /// `acr_values` (OIDC Core §3.1.2.1): the authentication classes asked for, in
    /// order of preference. The callback then requires the ID token's `acr` to be one
    /// of them.
    pub acr_values: Vec<String>,
    /// Other parameters. Protocol parameters (`client_id`, `redirect_uri`, `scope`,
    /// `state`, `nonce`, `response_type`, PKCE...) are never overridden.
    pub extra: Vec<(String, String)>,
}

/// Parameters that only this crate sets.
const RESERVED: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "request",
    "request_uri",
    "max_age",
    "acr_values",
];

/// Longest accepted value of a per-request login option.
pub(crate) const MAX_OPTION_LEN: usize = 512;

/// A per-request login option was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginOptionError {
    /// `prompt` is not one of the known values.
    #[error("prompt must be one of login, create, select_account, consent, none")]
    UnknownPrompt,
    /// A value is longer than allowed.
    #[error("the {0} parameter is too long")]
    TooLong(&'static str),
    /// A parameter appears more than once.
    #[error("the {0} parameter appears more than once")]
    Repeated(String),
    /// `max_age` is not a whole number of seconds.
    #[error("max_age must be a whole number of seconds")]
    InvalidMaxAge,
    /// WorkOS: `provider` is not one WorkOS's reference lists.
    #[error(
        "provider must be one of authkit, AppleOAuth, GitHubOAuth, GoogleOAuth, MicrosoftOAuth"
    )]
    UnknownWorkosProvider,
    /// WorkOS: `screen_hint` is not `sign-up` or `sign-in`.
    #[error("screen_hint must be sign-up or sign-in")]
    InvalidScreenHint,
    /// WorkOS: `screen_hint` with a `provider` other than `authkit`.
    #[error("screen_hint applies only to provider=authkit")]
    ScreenHintWithoutAuthkit,
    /// WorkOS User Management: `connection_id`, `organization_id` and `provider` do
    /// not name one way to sign in.
    #[error("{0}")]
    WorkosTarget(&'static str),
}

/// The values of `provider` WorkOS's reference lists for `/user_management/authorize`.
const WORKOS_PROVIDERS: [&str; 5] = [
    "authkit",
    "AppleOAuth",
    "GitHubOAuth",
    "GoogleOAuth",
    "MicrosoftOAuth",
];

impl LoginOptions {
    /// Sets `prompt`.
    pub fn with_prompt(mut self, prompt: Prompt) -> Self {
        self.prompt = Some(prompt);
        self
    }

    /// Sets `organization_id`.
    pub fn with_organization_id(mut self, v: impl Into<String>) -> Self {
        self.organization_id = Some(v.into());
        self
    }

    /// Sets `connection_id`.
    pub fn with_connection_id(mut self, v: impl Into<String>) -> Self {
        self.connection_id = Some(v.into());
        self
    }

    /// Sets `login_hint`.
    pub fn with_login_hint(mut self, v: impl Into<String>) -> Self {
        self.login_hint = Some(v.into());
        self
    }

    /// Sets `domain_hint`.
    pub fn with_domain_hint(mut self, v: impl Into<String>) -> Self {
        self.domain_hint = Some(v.into());
        self
    }

    /// Sets `screen_hint`.
    pub fn with_screen_hint(mut self, v: impl Into<String>) -> Self {
        self.screen_hint = Some(v.into());
        self
    }

    /// Sets `provider`.
    pub fn with_provider(mut self, v: impl Into<String>) -> Self {
        self.provider = Some(v.into());
        self
    }

    /// Sets `provider_scopes`.
    pub fn with_provider_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.provider_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `max_age`: the user must have authenticated within `max_age` (whole
    /// seconds), or sign in again.
    pub fn with_max_age(mut self, max_age: std::time::Duration) -> Self {
        self.max_age = Some(max_age.as_secs());
        self
    }

    /// Sets `acr_values`: the user must authenticate with one of these classes.
    pub fn with_acr_values<I, S>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.acr_values = values.into_iter().map(Into::into).collect();
        self
    }

    /// Adds an arbitrary parameter (ignored if it is a protocol parameter). Set by the
    /// application, it pins that parameter: a typed option with the same wire name
    /// (say `organization` for Auth0, which a visitor may set as `organization_id` on
    /// the login route) is then ignored. To restrict sign-in to one organization, pin
    /// it this way and also check the organization claim of the ID token (Auth0's
    /// `org_id`): the provider, not the URL, decides what the user signed in to.
    pub fn with_extra(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }

    /// Reads the per-request options a visitor may set on the login route, from its
    /// query string: `organization_id`, `connection_id`, `login_hint`, `domain_hint`,
    /// `prompt`, `screen_hint`, `provider`. Anything else is ignored (a visitor can
    /// never set `redirect_uri`, `client_id`, `scope` or `response_type`). Returns the
    /// options and the raw `return_to`.
    pub fn from_query(query: &str) -> Result<(Self, Option<String>), LoginOptionError> {
        let mut opts = LoginOptions::default();
        let mut return_to = None;
        let mut seen: Vec<String> = Vec::new();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot: &mut Option<String> = match k.as_ref() {
                "return_to" => &mut return_to,
                "organization_id" => &mut opts.organization_id,
                "connection_id" => &mut opts.connection_id,
                "login_hint" => &mut opts.login_hint,
                "domain_hint" => &mut opts.domain_hint,
                "screen_hint" => &mut opts.screen_hint,
                "provider" => &mut opts.provider,
                "invitation" => &mut opts.invitation,
                // Auth0's invitation links name the organization `organization`.
                "organization" => &mut opts.organization_id,
                "prompt" => {
                    if seen.iter().any(|s| s == "prompt") {
                        return Err(LoginOptionError::Repeated("prompt".into()));
                    }
                    seen.push("prompt".into());
                    opts.prompt = Some(v.parse()?);
                    continue;
                }
                "acr_values" => {
                    if seen.iter().any(|s| s == "acr_values") {
                        return Err(LoginOptionError::Repeated("acr_values".into()));
                    }
                    seen.push("acr_values".into());
                    if v.len() > MAX_OPTION_LEN {
                        return Err(LoginOptionError::TooLong("acr_values"));
                    }
                    opts.acr_values = v.split_whitespace().map(str::to_owned).collect();
                    continue;
                }
                "max_age" => {
                    if seen.iter().any(|s| s == "max_age") {
                        return Err(LoginOptionError::Repeated("max_age".into()));
                    }
                    seen.push("max_age".into());
                    let secs = (v.len() <= 10)
                        .then(|| v.parse::<u64>().ok())
                        .flatten()
                        .ok_or(LoginOptionError::InvalidMaxAge)?;
                    opts.max_age = Some(secs);
                    continue;
                }
                _ => continue,
            };
            // `organization` and `organization_id` are one option.
            let canonical = if k == "organization" {
                "organization_id"
            } else {
                k.as_ref()
            };
            if seen.iter().any(|s| s == canonical) {
                return Err(LoginOptionError::Repeated(canonical.to_owned()));
            }
            if v.len() > MAX_OPTION_LEN {
                let name = [
                    "return_to",
                    "organization_id",
                    "connection_id",
                    "login_hint",
                    "domain_hint",
                    "screen_hint",
                    "provider",
                    "invitation",
                    "organization",
                ]
                .into_iter()
                .find(|n| *n == k.as_ref())
                .unwrap_or("login");
                return Err(LoginOptionError::TooLong(name));
            }
            seen.push(canonical.to_owned());
            if !v.is_empty() {
                *slot = Some(v.into_owned());
            }
        }
        Ok((opts, return_to))
    }

    /// The value sent under the wire name `name`: an extra the app pinned, else the
    /// typed option.
    fn effective<'a>(&'a self, name: &str, typed: &'a Option<String>) -> Option<&'a str> {
        self.extra
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .or(typed.as_deref())
    }

    /// Checks WorkOS's rules, from its API reference for
    /// `/user_management/authorize` (the same values as its Node SDK's
    /// `getAuthorizationUrl`): `provider` is one of `authkit`, `AppleOAuth`,
    /// `GitHubOAuth`, `GoogleOAuth`, `MicrosoftOAuth`; `screen_hint` is `sign-up` or
    /// `sign-in`, and only for AuthKit. For User Management (`user_management`), at
    /// least one of `connection_id`, `organization_id`, `provider` is required: none
    /// asks for `provider=authkit`; `connection_id` goes alone, and `organization_id`
    /// goes with no provider or with `authkit` ("the organization will be
    /// automatically selected"). Other providers pass unchanged.
    pub(crate) fn checked_for(
        mut self,
        kind: crate::ProviderKind,
    ) -> Result<LoginOptions, LoginOptionError> {
        if !kind.is_workos() {
            return Ok(self);
        }
        let user_management = kind == crate::ProviderKind::WorkosUserManagement;
        let provider = self
            .effective("provider", &self.provider)
            .map(str::to_owned);
        let connection = self
            .effective("connection_id", &self.connection_id)
            .is_some();
        let organization = self
            .effective("organization_id", &self.organization_id)
            .is_some();
        if let Some(p) = &provider
            && !WORKOS_PROVIDERS.contains(&p.as_str())
        {
            return Err(LoginOptionError::UnknownWorkosProvider);
        }
        if user_management && (self.max_age.is_some() || !self.acr_values.is_empty()) {
            return Err(LoginOptionError::WorkosTarget(
                "WorkOS User Management issues no ID token: max_age and acr_values cannot be checked",
            ));
        }
        let mut provider = provider;
        if let Some(hint) = self.effective("screen_hint", &self.screen_hint) {
            if !["sign-up", "sign-in"].contains(&hint) {
                return Err(LoginOptionError::InvalidScreenHint);
            }
            // An organization's sign-up or sign-in page is AuthKit's (the reference
            // allows organization_id with provider=authkit).
            if user_management && provider.is_none() && organization && !connection {
                provider = Some("authkit".into());
                self.provider = provider.clone();
            }
            // AuthKit's own domain is AuthKit: no provider means AuthKit there.
            let authkit = match &provider {
                Some(p) => p == "authkit",
                None => !user_management || !(connection || organization),
            };
            if !authkit {
                return Err(LoginOptionError::ScreenHintWithoutAuthkit);
            }
        }
        if user_management {
            if connection && (organization || provider.is_some()) {
                return Err(LoginOptionError::WorkosTarget(
                    "connection_id names one SSO connection: send it without organization_id or provider",
                ));
            }
            if organization && provider.as_deref().is_some_and(|p| p != "authkit") {
                return Err(LoginOptionError::WorkosTarget(
                    "organization_id goes alone or with provider=authkit",
                ));
            }
            if !connection && !organization && provider.is_none() {
                self.provider = Some("authkit".into());
            }
        }
        Ok(self)
    }

    /// The organization this login asks the provider for, under `names`: an extra the
    /// app pinned under the provider's wire name, else the typed option (when the
    /// provider has such a parameter). The callback requires the same in the token.
    pub(crate) fn requested_organization(&self, names: &ParameterNames) -> Option<String> {
        let wire = names.organization?;
        self.extra
            .iter()
            .find(|(name, _)| name == wire)
            .map(|(_, v)| v.clone())
            .or_else(|| self.organization_id.clone())
    }

    /// Whether these options pick an identity provider or an account (an SSO
    /// connection, an organization, a social provider, a user or a domain hint).
    pub(crate) fn names_an_identity(&self) -> bool {
        [
            &self.organization_id,
            &self.connection_id,
            &self.provider,
            &self.login_hint,
            &self.domain_hint,
            &self.invitation,
        ]
        .iter()
        .any(|o| o.is_some())
    }

    /// The app's default options (`self`) with a login's own (`over`) filling the
    /// options the app left unset: what the app set is pinned, so a visitor's option
    /// never replaces it (an app that pins Google's `hd` keeps it). `prompt` is the
    /// login's when it has one (sign-up asks for `create`); `max_age` is the stricter.
    pub(crate) fn merged(&self, over: &LoginOptions) -> LoginOptions {
        let pick = |a: &Option<String>, b: &Option<String>| a.clone().or_else(|| b.clone());
        let mut extra = self.extra.clone();
        extra.extend(over.extra.iter().cloned());
        LoginOptions {
            prompt: over.prompt.or(self.prompt),
            organization_id: pick(&self.organization_id, &over.organization_id),
            connection_id: pick(&self.connection_id, &over.connection_id),
            login_hint: pick(&self.login_hint, &over.login_hint),
            domain_hint: pick(&self.domain_hint, &over.domain_hint),
            screen_hint: pick(&self.screen_hint, &over.screen_hint),
            provider: pick(&self.provider, &over.provider),
            invitation: pick(&self.invitation, &over.invitation),
            provider_scopes: if self.provider_scopes.is_empty() {
                over.provider_scopes.clone()
            } else {
                self.provider_scopes.clone()
            },
            max_age: match (self.max_age, over.max_age) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            acr_values: if self.acr_values.is_empty() {
                over.acr_values.clone()
            } else {
                self.acr_values.clone()
            },
            extra,
        }
    }
}

/// What the authorization URL is made of.
pub(crate) struct AuthorizeParams<'a> {
    pub(crate) endpoint: &'a Url,
    pub(crate) client_id: &'a str,
    pub(crate) redirect_uri: &'a Url,
    pub(crate) scopes: &'a [String],
    pub(crate) state: &'a str,
    pub(crate) nonce: &'a str,
    pub(crate) code_challenge: &'a str,
    pub(crate) options: &'a LoginOptions,
    /// The provider's names for the typed options.
    pub(crate) names: ParameterNames,
    /// OpenID Connect: `scope` and `nonce` are sent (not to WorkOS User Management,
    /// whose reference has neither).
    pub(crate) openid: bool,
    /// `response_mode`, when not the response type's default (`query`).
    pub(crate) response_mode: Option<&'static str>,
}

pub(crate) fn authorization_url(p: &AuthorizeParams<'_>) -> Url {
    let mut url = p.endpoint.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", p.client_id)
            .append_pair("redirect_uri", p.redirect_uri.as_str());
        if p.openid {
            q.append_pair("scope", &p.scopes.join(" "));
        }
        q.append_pair("state", p.state);
        if p.openid {
            q.append_pair("nonce", p.nonce);
        }
        q.append_pair("code_challenge", p.code_challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(mode) = p.response_mode {
            q.append_pair("response_mode", mode);
        }
        let o = p.options;
        if let Some(prompt) = o.prompt {
            q.append_pair("prompt", prompt.as_str());
        }
        let n = &p.names;
        let typed = [
            ("organization_id", n.organization, &o.organization_id),
            ("connection_id", n.connection, &o.connection_id),
            ("login_hint", Some("login_hint"), &o.login_hint),
            ("domain_hint", n.domain_hint, &o.domain_hint),
            ("screen_hint", n.screen_hint, &o.screen_hint),
            ("provider", n.provider, &o.provider),
            ("invitation", n.invitation, &o.invitation),
        ];
        // An extra parameter set by the application under a typed option's wire name
        // pins that parameter: a typed option (which a visitor may set through the
        // login route) never replaces it.
        let pinned =
            |wire: &str| !RESERVED.contains(&wire) && o.extra.iter().any(|(name, _)| name == wire);
        for (option, name, value) in typed {
            match (name, value) {
                (Some(name), Some(_)) if pinned(name) => {
                    tracing::debug!(
                        option,
                        "parameter pinned by the application; option ignored"
                    );
                }
                (Some(name), Some(v)) => {
                    q.append_pair(name, v);
                }
                (None, Some(_)) => {
                    tracing::debug!(
                        option,
                        "this provider has no parameter for this login option; left out"
                    );
                }
                _ => {}
            }
        }
        if let (Some(also), Some(hint), Some(_)) =
            (n.domain_hint_also, &o.domain_hint, n.domain_hint)
            && !pinned(also)
        {
            q.append_pair(also, hint);
        }
        // One parameter per scope, as WorkOS's Node SDK sends an array.
        for scope in &o.provider_scopes {
            q.append_pair("provider_scopes", scope);
        }
        if let Some(max_age) = o.max_age {
            q.append_pair("max_age", &max_age.to_string());
        }
        if !o.acr_values.is_empty() {
            q.append_pair("acr_values", &o.acr_values.join(" "));
        }
        for (name, value) in &o.extra {
            let taken =
                RESERVED.contains(&name.as_str()) || (name == "prompt" && o.prompt.is_some());
            if taken {
                tracing::warn!(parameter = %name, "ignoring an extra authorization parameter that would override one of ours");
                continue;
            }
            q.append_pair(name, value);
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::presets::ProviderKind;

    fn build(options: &LoginOptions) -> Url {
        let endpoint = Url::parse("https://id.example.com/authorize?tenant=t1").expect("url");
        let redirect = Url::parse("https://app.example.com/auth/callback").expect("url");
        let scopes = vec!["openid".to_string(), "email".to_string()];
        authorization_url(&AuthorizeParams {
            endpoint: &endpoint,
            client_id: "app",
            redirect_uri: &redirect,
            scopes: &scopes,
            state: "st",
            nonce: "no",
            code_challenge: "cc",
            options,
            names: ProviderKind::Generic.parameter_names(),
            openid: true,
            response_mode: None,
        })
    }

    fn params(url: &Url) -> Vec<(String, String)> {
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn has_protocol_parameters_and_keeps_endpoint_query() {
        let p = params(&build(&LoginOptions::default()));
        for (k, v) in [
            ("tenant", "t1"),
            ("response_type", "code"),
            ("client_id", "app"),
            ("scope", "openid email"),
            ("state", "st"),
            ("nonce", "no"),
            ("code_challenge_method", "S256"),
        ] {
            assert!(p.contains(&(k.into(), v.into())), "{k}");
        }
    }

    #[test]
    fn passes_typed_and_extra_options() {
        let o = LoginOptions::default()
            .with_prompt(Prompt::Create)
            .with_organization_id("org_1")
            .with_connection_id("conn_1")
            .with_provider_scopes(["a", "b"])
            .with_extra("audience", "api");
        let p = params(&build(&o));
        assert!(p.contains(&("prompt".into(), "create".into())));
        assert!(p.contains(&("organization_id".into(), "org_1".into())));
        assert!(p.contains(&("connection_id".into(), "conn_1".into())));
        // Repeated, as WorkOS's Node SDK serializes the array (`qs` arrayFormat
        // "repeat" in its getAuthorizationUrl).
        let scopes: Vec<&str> = p
            .iter()
            .filter(|(k, _)| k == "provider_scopes")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(scopes, ["a", "b"]);
        assert!(p.contains(&("audience".into(), "api".into())));
    }

    #[test]
    fn extra_parameters_cannot_override_protocol_ones() {
        let o = LoginOptions::default()
            .with_extra("redirect_uri", "https://evil.example/cb")
            .with_extra("client_id", "other")
            .with_extra("scope", "admin");
        let p = params(&build(&o));
        assert_eq!(p.iter().filter(|(k, _)| k == "redirect_uri").count(), 1);
        assert!(
            !p.iter()
                .any(|(_, v)| v == "https://evil.example/cb" || v == "other" || v == "admin")
        );
    }

    #[test]
    fn query_options_are_allow_listed() {
        let (o, rt) = LoginOptions::from_query(
            "return_to=%2Fme&organization_id=org&redirect_uri=https://evil&client_id=x&scope=y&response_type=token&prompt=login",
        )
        .expect("ok");
        assert_eq!(rt.as_deref(), Some("/me"));
        assert_eq!(o.organization_id.as_deref(), Some("org"));
        assert_eq!(o.prompt, Some(Prompt::Login));
        assert!(o.extra.is_empty());
    }

    #[test]
    fn query_unknown_prompt_and_oversized_values_refused() {
        assert_eq!(
            LoginOptions::from_query("prompt=evil"),
            Err(LoginOptionError::UnknownPrompt)
        );
        let long = format!("login_hint={}", "a".repeat(MAX_OPTION_LEN + 1));
        assert_eq!(
            LoginOptions::from_query(&long),
            Err(LoginOptionError::TooLong("login_hint"))
        );
        assert!(matches!(
            LoginOptions::from_query("organization_id=a&organization_id=b"),
            Err(LoginOptionError::Repeated(_))
        ));
    }

    /// A visitor's `max_age` must be whole seconds in at most 10 digits.
    #[test]
    fn rp_max_age_that_is_not_whole_seconds_refused() {
        for q in [
            "max_age=soon",
            "max_age=-1",
            "max_age=1.5",
            "max_age=",
            "max_age=99999999999",
        ] {
            assert_eq!(
                LoginOptions::from_query(q),
                Err(LoginOptionError::InvalidMaxAge),
                "{q}"
            );
        }
        let (o, _) = LoginOptions::from_query("max_age=300").expect("whole seconds");
        assert_eq!(o.max_age, Some(300));
    }

    fn workos(kind: ProviderKind, o: LoginOptions) -> Result<LoginOptions, LoginOptionError> {
        o.checked_for(kind)
    }

    #[test]
    fn rp_workos_provider_outside_the_reference_list_refused() {
        for kind in [
            ProviderKind::WorkosAuthkit,
            ProviderKind::WorkosUserManagement,
        ] {
            for p in ["github", "GoogleOauth", "SAML", ""] {
                let o = LoginOptions::default().with_provider(p);
                assert_eq!(
                    workos(kind, o),
                    Err(LoginOptionError::UnknownWorkosProvider),
                    "{p}"
                );
            }
            for p in WORKOS_PROVIDERS {
                assert!(workos(kind, LoginOptions::default().with_provider(p)).is_ok());
            }
        }
        // Other providers' `provider` values are theirs to judge.
        assert!(
            workos(
                ProviderKind::Generic,
                LoginOptions::default().with_provider("github")
            )
            .is_ok()
        );
    }

    #[test]
    fn rp_workos_screen_hint_other_than_sign_up_or_sign_in_refused() {
        let o = LoginOptions::default().with_screen_hint("signup");
        assert_eq!(
            workos(ProviderKind::WorkosUserManagement, o),
            Err(LoginOptionError::InvalidScreenHint)
        );
        let o = LoginOptions::default().with_screen_hint("sign-in");
        assert!(workos(ProviderKind::WorkosAuthkit, o).is_ok());
    }

    #[test]
    fn rp_workos_screen_hint_without_authkit_refused() {
        for kind in [
            ProviderKind::WorkosAuthkit,
            ProviderKind::WorkosUserManagement,
        ] {
            let o = LoginOptions::default()
                .with_screen_hint("sign-up")
                .with_provider("GoogleOAuth");
            assert_eq!(
                workos(kind, o),
                Err(LoginOptionError::ScreenHintWithoutAuthkit)
            );
        }
        // User Management: an SSO connection is not AuthKit either.
        let o = LoginOptions::default()
            .with_screen_hint("sign-up")
            .with_connection_id("conn_1");
        assert_eq!(
            workos(ProviderKind::WorkosUserManagement, o),
            Err(LoginOptionError::ScreenHintWithoutAuthkit)
        );
        let o = LoginOptions::default()
            .with_screen_hint("sign-up")
            .with_provider("authkit");
        assert!(workos(ProviderKind::WorkosUserManagement, o).is_ok());
    }

    #[test]
    fn rp_workos_user_management_conflicting_targets_refused() {
        let um = ProviderKind::WorkosUserManagement;
        let conflicting = [
            LoginOptions::default()
                .with_connection_id("conn_1")
                .with_organization_id("org_1"),
            LoginOptions::default()
                .with_connection_id("conn_1")
                .with_provider("authkit"),
            LoginOptions::default()
                .with_organization_id("org_1")
                .with_provider("GoogleOAuth"),
            // A pinned extra counts as the typed option would.
            LoginOptions::default()
                .with_extra("connection_id", "conn_1")
                .with_provider("GitHubOAuth"),
        ];
        for o in conflicting {
            assert!(
                matches!(
                    workos(um, o.clone()),
                    Err(LoginOptionError::WorkosTarget(_))
                ),
                "{o:?}"
            );
        }
        // The reference: organization_id with provider=authkit selects the organization.
        let o = LoginOptions::default()
            .with_organization_id("org_1")
            .with_provider("authkit");
        assert!(workos(um, o).is_ok());
    }

    #[test]
    fn workos_user_management_asks_for_authkit_when_nothing_names_a_way_in() {
        let um = ProviderKind::WorkosUserManagement;
        let o = workos(um, LoginOptions::default()).expect("ok");
        assert_eq!(o.provider.as_deref(), Some("authkit"));
        let o = workos(um, LoginOptions::default().with_connection_id("conn_1")).expect("ok");
        assert_eq!(o.provider, None);
        let o = workos(um, LoginOptions::default().with_organization_id("org_1")).expect("ok");
        assert_eq!(o.provider, None);
        // The AuthKit OpenID provider is AuthKit already.
        let o = workos(ProviderKind::WorkosAuthkit, LoginOptions::default()).expect("ok");
        assert_eq!(o.provider, None);
    }

    #[test]
    fn workos_organization_sign_up_goes_to_authkit() {
        let um = ProviderKind::WorkosUserManagement;
        let o = LoginOptions::default()
            .with_organization_id("org_1")
            .with_screen_hint("sign-up");
        let o = workos(um, o).expect("the reference allows organization_id with authkit");
        assert_eq!(o.provider.as_deref(), Some("authkit"));
    }

    #[test]
    fn rp_workos_user_management_max_age_and_acr_values_refused() {
        let um = ProviderKind::WorkosUserManagement;
        let o = LoginOptions::default().with_max_age(std::time::Duration::from_secs(60));
        assert!(matches!(
            workos(um, o),
            Err(LoginOptionError::WorkosTarget(_))
        ));
        let o = LoginOptions::default().with_acr_values(["mfa"]);
        assert!(matches!(
            workos(um, o),
            Err(LoginOptionError::WorkosTarget(_))
        ));
    }
}

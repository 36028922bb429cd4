//! [`AuthConfig::from_env`]: the configuration from environment variables, one
//! provider (`OIDC_*`) or several (`OIDC_PROVIDERS`, `OIDC_{ID}_*`).

use std::time::Duration;

use super::settings::RedisUrl;
use super::*;
use crate::provider::config::{ProviderConfig, ProviderConfigBuilder};

impl AuthConfig {
    /// Reads `OIDC_ISSUER`, `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET`, `APP_URL` and the
    /// optional `OIDC_SCOPES` (space separated), `OIDC_POST_LOGOUT_REDIRECT_URI`,
    /// `OIDC_LEEWAY_SECS`, `OIDC_HTTP_TIMEOUT_SECS`, `OIDC_CLIENT_AUTH`
    /// (`client_secret_basic`/`client_secret_post`), `APP_SECRET` (hex, at least 32
    /// bytes: the cookie key shared by all instances), `SESSION_ENCRYPTION_KEY`,
    /// `SESSION_LIFETIME_SECS`, `SESSION_IDLE_TIMEOUT_SECS`, `REDIS_URL`, and for
    /// bearer tokens `OIDC_API_AUDIENCE` (comma or space separated) and
    /// `OIDC_API_SCOPES` (space separated).
    ///
    /// With `OIDC_PROVIDERS=a,b` (ids `[a-z0-9-]+`), each provider X is read from
    /// `OIDC_X_ISSUER`, `OIDC_X_CLIENT_ID`, `OIDC_X_CLIENT_SECRET` and the optional
    /// `OIDC_X_NAME`, `OIDC_X_PROVIDER`, `OIDC_X_SCOPES`, `OIDC_X_API_AUDIENCE`,
    /// `OIDC_X_ALLOWED_TENANTS`, `OIDC_X_CLIENT_AUTH`, `OIDC_X_USERINFO`,
    /// `OIDC_X_RESPONSE_MODE` (`form_post`), `OIDC_X_API_INTROSPECTION`, `OIDC_X_DOMAINS`
    /// (email domains: home-realm discovery) and the
    /// `OIDC_X_*_CLAIM`s (X uppercased, `-` as `_`); `OIDC_ISSUER` must then be unset.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::builder_from_env()?.build()
    }

    /// Like [`AuthConfig::from_env`], reading variables from a function (tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::builder_from_lookup(get)?.build()
    }

    /// The builder [`AuthConfig::from_env`] builds: for what the environment cannot
    /// say (a sign-in hook, an event hook, a session store), set on it before
    /// `build()`.
    pub fn builder_from_env() -> Result<AuthConfigBuilder, ConfigError> {
        Self::builder_from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Like [`AuthConfig::builder_from_env`], reading variables from a function.
    pub fn builder_from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<AuthConfigBuilder, ConfigError> {
        let req = |name: &'static str| get(name).ok_or(ConfigError::MissingEnv(name));
        let mut b = match get("OIDC_PROVIDERS").filter(|s| !s.trim().is_empty()) {
            None => {
                let provider = provider_from_lookup(
                    &|suffix: &str| get(&format!("OIDC_{suffix}")),
                    req("OIDC_ISSUER")?,
                    req("OIDC_CLIENT_ID")?,
                    None,
                )?;
                let mut b = Self::builder("", "", req("APP_URL")?);
                b.providers = vec![provider];
                b
            }
            Some(list) => {
                if get("OIDC_ISSUER").is_some() {
                    return Err(ConfigError::Invalid {
                        name: "OIDC_ISSUER",
                        reason: "with OIDC_PROVIDERS, each provider X has its own OIDC_X_ISSUER"
                            .into(),
                    });
                }
                let mut b = Self::builder_for_providers(req("APP_URL")?);
                for id in list.split(',').map(str::trim) {
                    crate::provider::config::check_id(id)?;
                    let prefix = format!("OIDC_{}_", id.to_ascii_uppercase().replace('-', "_"));
                    let var = |suffix: &str| get(&format!("{prefix}{suffix}"));
                    let required = |suffix: &str| {
                        var(suffix).ok_or_else(|| {
                            ConfigError::MissingProviderEnv(format!("{prefix}{suffix}"))
                        })
                    };
                    let provider = provider_from_lookup(
                        &var,
                        required("ISSUER")?,
                        required("CLIENT_ID")?,
                        Some(id),
                    )
                    .map_err(|e| ConfigError::Provider {
                        id: id.to_string(),
                        source: Box::new(e),
                    })?;
                    b = b.with_provider(provider);
                }
                b
            }
        };
        if let Some(s) = get("OIDC_POST_LOGOUT_REDIRECT_URI") {
            b = b.with_post_logout_redirect_uri(s);
        }
        if let Some(s) = get("OIDC_LEEWAY_SECS") {
            b = b.with_leeway(Duration::from_secs(parse_secs("OIDC_LEEWAY_SECS", &s)?));
        }
        if let Some(s) = get("OIDC_HTTP_TIMEOUT_SECS") {
            b = b.with_request_timeout(Duration::from_secs(parse_secs(
                "OIDC_HTTP_TIMEOUT_SECS",
                &s,
            )?));
        }
        if let Some(s) = get("APP_SECRET") {
            b = b.with_app_secret_hex(&s);
        }
        if let Some(s) = get("OIDC_API_SCOPES") {
            b = b.with_required_api_scopes(s.split_whitespace());
        }
        if let Some(s) = get("SESSION_ENCRYPTION_KEY") {
            b = b.with_session_encryption_key_hex(&s);
        }
        if let Some(s) = get("SESSION_LIFETIME_SECS") {
            b = b.with_session_lifetime(Duration::from_secs(parse_secs(
                "SESSION_LIFETIME_SECS",
                &s,
            )?));
        }
        if let Some(s) = get("SESSION_IDLE_TIMEOUT_SECS") {
            let secs = parse_secs("SESSION_IDLE_TIMEOUT_SECS", &s)?;
            b = b.with_idle_timeout((secs > 0).then(|| Duration::from_secs(secs)));
        }
        if let Some(s) = get("REDIS_URL").filter(|s| !s.trim().is_empty()) {
            // Without the `redis` feature, kept for `build()` to name the feature.
            b.redis.url = Some(RedisUrl(s.trim().to_owned()));
        }
        if let Some(s) = get("OIDC_CA_FILE").filter(|s| !s.trim().is_empty()) {
            b = b.with_provider_ca_file(s.trim());
        }
        if let Some(s) = get("REDIS_CA_FILE").filter(|s| !s.trim().is_empty()) {
            b.redis.ca_file = Some(s.trim().into());
        }
        if let Some(v) = get("OIDC_ORGANIZATION_SWITCH").filter(|s| !s.trim().is_empty()) {
            b = b.with_organization_switch(switch(Some(v), "OIDC_ORGANIZATION_SWITCH")?);
        }
        if let Some(v) = get("OIDC_REVOKE_ON_LOGOUT").filter(|s| !s.trim().is_empty()) {
            b = b.with_revoke_on_logout(switch(Some(v), "OIDC_REVOKE_ON_LOGOUT")?);
        }
        if let Some(v) = get("REDIS_SESSION_CACHE").filter(|s| !s.trim().is_empty()) {
            b.redis.session_cache = switch(Some(v), "REDIS_SESSION_CACHE")?;
        }
        if let Some(v) = get("REDIS_SESSION_CACHE_ENTRIES").filter(|s| !s.trim().is_empty()) {
            b.redis.session_cache_entries = v.trim().parse().map_err(|_| ConfigError::Invalid {
                name: "REDIS_SESSION_CACHE_ENTRIES",
                reason: "expected a whole number of sessions".into(),
            })?;
        }
        match get("SESSION_STORE_PLAINTEXT").as_deref().map(str::trim) {
            None | Some("") => {}
            Some("dangerous") => b = b.dangerous_store_sessions_in_plaintext(),
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "SESSION_STORE_PLAINTEXT",
                    reason: "the only value is `dangerous`".into(),
                });
            }
        }
        Ok(b)
    }
}

/// One provider's settings from variables `OIDC_{suffix}` (single provider) or
/// `OIDC_X_{suffix}` (provider X).
fn provider_from_lookup(
    var: &dyn Fn(&str) -> Option<String>,
    issuer: String,
    client_id: String,
    id: Option<&str>,
) -> Result<ProviderConfigBuilder, ConfigError> {
    let mut p = match id {
        Some(id) => ProviderConfig::builder(id, issuer, client_id),
        None => ProviderConfigBuilder::new(issuer, client_id),
    };
    let var = |suffix: &str| var(suffix).filter(|s| !s.trim().is_empty());
    if let Some(s) = var("CLIENT_SECRET") {
        p = p.with_client_secret(s);
    }
    if let Some(s) = var("NAME") {
        p = p.with_name(s.trim());
    }
    if let Some(s) = var("SCOPES") {
        p = p.with_scopes(s.split_whitespace());
    }
    if let Some(s) = var("CLIENT_AUTH") {
        p = p.with_client_auth(match s.trim() {
            "client_secret_basic" => ClientAuthMethod::ClientSecretBasic,
            "client_secret_post" => ClientAuthMethod::ClientSecretPost,
            "private_key_jwt" => ClientAuthMethod::PrivateKeyJwt,
            _ => {
                return Err(ConfigError::Invalid {
                    name: "OIDC_CLIENT_AUTH",
                    reason: "expected client_secret_basic, client_secret_post or private_key_jwt"
                        .into(),
                });
            }
        });
    }
    if let Some(files) = var("CLIENT_PRIVATE_KEY_FILE") {
        // Oldest first: the last one signs, all are published at /auth/jwks.
        let paths: Vec<&str> = files
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .collect();
        for (i, path) in paths.iter().enumerate() {
            let pem = std::fs::read(path).map_err(|e| ConfigError::Invalid {
                name: "OIDC_CLIENT_PRIVATE_KEY_FILE",
                reason: format!("cannot read {path:?}: {e}"),
            })?;
            let mut key = crate::ClientKey::from_pem(&pem)?;
            if i + 1 == paths.len()
                && let Some(kid) = var("CLIENT_KEY_ID")
            {
                key = key.with_key_id(kid.trim());
            }
            p = p.with_client_key(key);
        }
    }
    match var("PROFILE").as_deref().map(str::trim) {
        None | Some("baseline") => {}
        Some("fapi2") => p = p.with_security_profile(crate::SecurityProfile::Fapi2),
        Some(_) => {
            return Err(ConfigError::Invalid {
                name: "OIDC_PROFILE",
                reason: "expected fapi2 (or baseline)".into(),
            });
        }
    }
    match var("RESPONSE_MODE").as_deref().map(str::trim) {
        None | Some("query") => {}
        Some("form_post") => p = p.with_response_mode(crate::ResponseMode::FormPost),
        Some(_) => {
            return Err(ConfigError::Invalid {
                name: "OIDC_RESPONSE_MODE",
                reason: "expected form_post (or query)".into(),
            });
        }
    }
    if switch(var("API_INTROSPECTION"), "OIDC_API_INTROSPECTION")? {
        p = p.with_api_introspection(true);
    }
    if switch(var("DPOP"), "OIDC_DPOP")? {
        p = p.with_dpop(true);
    }
    if switch(var("PAR"), "OIDC_PAR")? {
        p = p.with_pushed_authorization_requests(true);
    }
    if let Some(s) = var("PROVIDER") {
        let kind =
            s.trim()
                .parse()
                .map_err(|e: crate::UnknownProviderKind| ConfigError::Invalid {
                    name: "OIDC_PROVIDER",
                    reason: e.to_string(),
                })?;
        p = p.with_provider_kind(kind);
    }
    if switch(var("USERINFO"), "OIDC_USERINFO")? {
        p = p.with_userinfo_at_sign_in(true);
    }
    if let Some(s) = var("ROLES_CLAIM") {
        p = p.with_roles_claim(s.trim());
    }
    if let Some(s) = var("ORGANIZATION_CLAIM") {
        p = p.with_organization_claim(s.trim());
    }
    if let Some(s) = var("PERMISSIONS_CLAIM") {
        p = p.with_permissions_claim(s.trim());
    }
    if let Some(s) = var("API_AUDIENCE") {
        for aud in s.split([',', ' ']).filter(|a| !a.is_empty()) {
            p = p.with_api_audience(aud);
        }
    }
    if let Some(s) = var("DOMAINS") {
        p = p.with_domains(s.split([',', ' ']).filter(|d| !d.is_empty()));
    }
    if let Some(s) = var("ALLOWED_TENANTS") {
        p = p.with_allowed_tenants(s.split([',', ' ']).filter(|a| !a.is_empty()));
    }
    Ok(p)
}

/// An on/off variable: unset, `0` or `false` is off; `1` or `true` is on.
fn switch(value: Option<String>, name: &'static str) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("0" | "false") => Ok(false),
        Some("1" | "true") => Ok(true),
        Some(_) => Err(ConfigError::Invalid {
            name,
            reason: "expected 1 or 0".into(),
        }),
    }
}

fn parse_secs(name: &'static str, s: &str) -> Result<u64, ConfigError> {
    s.trim().parse().map_err(|_| ConfigError::Invalid {
        name,
        reason: "expected a whole number of seconds".into(),
    })
}

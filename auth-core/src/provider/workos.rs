//! WorkOS User Management's settings (`flow/protocol/workos.rs` speaks its protocol):
//! what it cannot do, its fixed endpoints under the API's base URL, and the issuer its
//! access tokens carry besides that URL.

use url::Url;

use crate::config_error::ConfigError;
use crate::provider::discovery::ProviderEndpoints;

/// What User Management cannot do, refused when the app is configured.
pub(crate) fn check_settings(
    has_secret: bool,
    par: bool,
    dpop: bool,
    fapi2: bool,
    userinfo: bool,
    keys: bool,
) -> Result<(), ConfigError> {
    let refuse = |reason: &str| {
        Err(ConfigError::Invalid {
            name: "OIDC_PROVIDER",
            reason: format!("WorkOS User Management {reason}"),
        })
    };
    if !has_secret {
        return refuse(
            "authenticates the app with its API key: set OIDC_CLIENT_SECRET to the key (sk_...)",
        );
    }
    if par || dpop || fapi2 || keys {
        return refuse(
            "takes the API key only: no pushed authorization requests, DPoP, FAPI 2.0 or private_key_jwt",
        );
    }
    if userinfo {
        return refuse(
            "has no UserInfo endpoint: the user's profile comes with the authentication",
        );
    }
    Ok(())
}

/// The endpoints under the API's base URL (`https://api.workos.com`).
pub(crate) fn endpoints(base: &Url, client_id: &str) -> Result<ProviderEndpoints, ConfigError> {
    if client_id.is_empty() || client_id.contains(['/', '?', '#', '%']) {
        return Err(ConfigError::Invalid {
            name: "OIDC_CLIENT_ID",
            reason: "expected a WorkOS client id (client_...)".into(),
        });
    }
    let root = base.as_str().trim_end_matches('/');
    let url = |path: &str| {
        Url::parse(&format!("{root}{path}")).map_err(|e| ConfigError::InvalidUrl {
            name: "OIDC_ISSUER",
            reason: e.to_string(),
        })
    };
    let mut e = ProviderEndpoints::new(
        url("/user_management/authorize")?,
        url("/user_management/authenticate")?,
        url(&format!("/sso/jwks/{client_id}"))?,
    );
    e.end_session_endpoint = Some(url("/user_management/sessions/logout")?);
    e.token_endpoint_auth_methods_supported = vec!["client_secret_post".into()];
    e.code_challenge_methods_supported = vec!["S256".into()];
    Ok(e)
}

/// The issuer WorkOS writes in access tokens besides the API's base URL.
pub(crate) fn client_issuer(base: &str, client_id: &str) -> String {
    format!("{}/user_management/{client_id}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_reference_layout() {
        let base = Url::parse("https://api.workos.com").expect("url");
        let e = endpoints(&base, "client_123").expect("endpoints");
        assert_eq!(
            e.authorization_endpoint.as_str(),
            "https://api.workos.com/user_management/authorize"
        );
        assert_eq!(
            e.token_endpoint.as_str(),
            "https://api.workos.com/user_management/authenticate"
        );
        assert_eq!(
            e.jwks_uri.as_str(),
            "https://api.workos.com/sso/jwks/client_123"
        );
        assert_eq!(
            e.end_session_endpoint.map(|u| u.to_string()).as_deref(),
            Some("https://api.workos.com/user_management/sessions/logout")
        );
        assert_eq!(
            client_issuer("https://api.workos.com", "client_123"),
            "https://api.workos.com/user_management/client_123"
        );
        assert!(endpoints(&base, "client/../x").is_err());
    }
}

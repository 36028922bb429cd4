//! [`ConfigError`], what every layer's settings check answers, and the URL checks they
//! share.

use url::Url;

/// Errors found while building an [`AuthConfig`](crate::AuthConfig).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required environment variable is missing.
    #[error("{0} is not set")]
    MissingEnv(&'static str),
    /// A value is not a valid URL.
    #[error("{name} is not a valid URL: {reason}")]
    InvalidUrl {
        /// Which setting.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A URL uses plain http on a host that is not loopback.
    #[error(
        "{name} is not an https URL and not loopback (http is only allowed for 127.0.0.1, ::1 and localhost)"
    )]
    InsecureUrl {
        /// Which setting.
        name: &'static str,
    },
    /// A value could not be parsed.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// Which setting.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A provider's required environment variable is missing (`OIDC_X_ISSUER`).
    #[error("{0} is not set")]
    MissingProviderEnv(String),
    /// A setting of one provider of several is wrong.
    #[error("provider {id:?}: {source}")]
    Provider {
        /// The provider's id.
        id: String,
        /// What is wrong.
        #[source]
        source: Box<ConfigError>,
    },
}

pub(crate) fn parse_url(name: &'static str, s: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(s.trim()).map_err(|e| ConfigError::InvalidUrl {
        name,
        reason: e.to_string(),
    })?;
    check_secure(name, &url)?;
    Ok(url)
}

/// https, or http on a loopback host.
pub(crate) fn check_secure(name: &'static str, url: &Url) -> Result<(), ConfigError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(ConfigError::InsecureUrl { name }),
        other => Err(ConfigError::InvalidUrl {
            name,
            reason: format!("unsupported scheme {other:?}"),
        }),
    }
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

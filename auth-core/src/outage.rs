//! [`Outage`]: why a request could not be decided now.

use crate::{JwksError, SharedStateError, TokenExchangeError};

/// Something a request needs could not be reached or used now, so nothing was decided:
/// the request answers 503 and may be retried. No session is ended and no token
/// refused for an outage. [`std::error::Error::source`] gives the underlying failure
/// where there is one.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Outage {
    /// The provider has not been discovered yet (it was down at start and is retried
    /// in the background).
    #[error("the identity provider is not reachable yet")]
    NotDiscovered,
    /// The route names no provider of this app.
    #[error("no such provider")]
    UnknownProvider,
    /// The provider's signing keys could not be fetched or used.
    #[error("{0}")]
    Keys(#[source] JwksError),
    /// The token endpoint could not be reached, or answered with something other
    /// than a verdict on the grant (a 5xx, a rate limit, a rotated client secret).
    #[error("{0}")]
    TokenEndpoint(#[source] TokenExchangeError),
    /// The state the app's instances share (Redis) could not be read or written.
    #[error("{0}")]
    SharedState(#[source] SharedStateError),
    /// This instance held the refresh token's lock, and the provider took longer than
    /// a holder may (the lock is released; the next request tries again).
    #[error("the refresh took too long")]
    RefreshTookTooLong,
    /// Another instance holds the refresh token's lock for longer than a request waits.
    #[error("another instance holds the refresh lock")]
    RefreshLockHeld,
    /// A refresh of this session is under way (an organization switch does not wait
    /// for it).
    #[error("a refresh of this session is under way")]
    RefreshUnderWay,
    /// Another instance published a refresh result this one must not apply
    /// (unreadable with this app's key, or another user's).
    #[error("a published refresh result is not usable")]
    PublishedRefreshUnusable,
    /// The introspection endpoint could not be reached, or answered with something
    /// other than a verdict (an error status, not a JSON object).
    #[error("the introspection endpoint failed: {0}")]
    Introspection(String),
    /// The app's provider source ([`crate::ProviderSource`]) could not be read.
    #[error("the provider source failed: {0}")]
    ProviderSource(String),
}

impl From<JwksError> for Outage {
    fn from(e: JwksError) -> Self {
        Self::Keys(e)
    }
}

impl From<SharedStateError> for Outage {
    fn from(e: SharedStateError) -> Self {
        Self::SharedState(e)
    }
}

impl From<crate::provider::state::NotDiscovered> for Outage {
    fn from(_: crate::provider::state::NotDiscovered) -> Self {
        Self::NotDiscovered
    }
}

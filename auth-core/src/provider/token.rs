//! What a provider's token endpoint answers: the `oauth2` client and response types,
//! [`TokenExchangeError`] when it gives no tokens, and the token-type rule.

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    EndpointNotSet, EndpointSet, ExtraTokenFields, RequestTokenError, StandardRevocableToken,
    StandardTokenResponse, TokenResponse,
};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::http_client::HttpError;
use crate::jose::secret::IdToken;

/// The `id_token` member of a token response.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct IdTokenField {
    #[serde(default)]
    pub(crate) id_token: Option<IdToken>,
    /// How long the refresh token lives (Keycloak and others send it; 0 means no limit).
    #[serde(default)]
    pub(crate) refresh_expires_in: Option<u64>,
}

impl IdTokenField {
    /// When the refresh token expires, if the provider said.
    pub(crate) fn refresh_expires_at(&self, now: i64) -> Option<i64> {
        self.refresh_expires_in
            .filter(|s| *s > 0)
            .map(|s| now.saturating_add(i64::try_from(s).unwrap_or(i64::MAX)))
    }
}

impl ExtraTokenFields for IdTokenField {}

pub(crate) type TokenResp = StandardTokenResponse<IdTokenField, BasicTokenType>;
pub(crate) type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    TokenResp,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The token endpoint did not give tokens.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TokenExchangeError {
    /// The provider refused (`invalid_grant`, `invalid_client`...).
    // Provider-supplied text, printed escaped (no CR/LF of theirs reaches a log line).
    #[error("the token endpoint answered {error:?}: {description:?}")]
    Refused {
        /// OAuth error code.
        error: String,
        /// The provider's description.
        description: String,
    },
    /// Network error, timeout, or an oversized response.
    #[error("the token endpoint could not be reached: {0}")]
    Unreachable(#[source] HttpError),
    /// The token endpoint answered with a status that says nothing about the grant
    /// (a 5xx, a 401 for a wrong API key, a 429).
    #[error("the token endpoint answered HTTP {0}")]
    Status(u16),
    /// The provider has not been discovered yet (it was down at start).
    #[error("the identity provider is not reachable yet")]
    NotDiscovered,
    /// The response is not a valid token response.
    #[error("the token endpoint's response is not valid: {0}")]
    InvalidResponse(#[source] InvalidTokenResponse),
}

/// Why a token endpoint's answer is not a token response: what was wrong, with the
/// parse error as its [`source`](std::error::Error::source) when there is one.
#[derive(Clone)]
pub struct InvalidTokenResponse {
    reason: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl InvalidTokenResponse {
    /// A response whose parse failed with `source`.
    pub(crate) fn parse(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            reason: source.to_string(),
            source: Some(Arc::new(source)),
        }
    }

    /// A response that parsed but breaks a rule (`reason` says which).
    pub(crate) fn rule(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            source: None,
        }
    }
}

// Debug is the reason's text (as the `String` this replaced printed), never the
// nested parser types.
impl std::fmt::Debug for InvalidTokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.reason, f)
    }
}

impl std::fmt::Display for InvalidTokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for InvalidTokenResponse {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The scopes the token endpoint says it granted, space separated.
pub(crate) fn granted_scope(response: &TokenResp) -> Option<String> {
    response
        .scopes()
        .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))
}

/// The access token's type must be the one asked for (RFC 6749 §7.1: a client must
/// not use a token whose type it does not understand): `Bearer`, or with a DPoP proof
/// `DPoP` (RFC 9449 §5), never a downgrade to `Bearer`.
pub(crate) fn check_token_type(response: &TokenResp, dpop: bool) -> Result<(), TokenExchangeError> {
    let got = response.token_type().as_ref();
    let expected = if dpop { "DPoP" } else { "Bearer" };
    if got.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(TokenExchangeError::InvalidResponse(
            InvalidTokenResponse::rule(format!("token_type {got:?} is not {expected}")),
        ))
    }
}

pub(crate) fn map_token_error(
    e: RequestTokenError<HttpError, BasicErrorResponse>,
) -> TokenExchangeError {
    match e {
        RequestTokenError::ServerResponse(r) => TokenExchangeError::Refused {
            error: r.error().as_ref().to_string(),
            description: r.error_description().cloned().unwrap_or_default(),
        },
        RequestTokenError::Request(e) => TokenExchangeError::Unreachable(e),
        RequestTokenError::Parse(e, _) => {
            TokenExchangeError::InvalidResponse(InvalidTokenResponse::parse(e))
        }
        RequestTokenError::Other(s) => {
            TokenExchangeError::InvalidResponse(InvalidTokenResponse::rule(s))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unparseable token response keeps the parse error as its cause, and prints
    /// (in `Debug` too: logs and events) only the reason's text.
    #[test]
    fn invalid_token_response_keeps_the_parse_error() {
        let parse = serde_json::from_str::<serde_json::Value>("<html>").unwrap_err();
        let e = TokenExchangeError::InvalidResponse(InvalidTokenResponse::parse(parse));
        assert_eq!(
            format!("{e:?}"),
            "InvalidResponse(\"expected value at line 1 column 1\")"
        );
        let cause = std::error::Error::source(&e).expect("the response's error");
        let parse = std::error::Error::source(cause).expect("the parse error");
        assert!(parse.is::<serde_json::Error>());
        // A response that parsed but breaks a rule has no deeper cause.
        let rule = InvalidTokenResponse::rule("token_type \"mac\" is not Bearer");
        assert!(std::error::Error::source(&rule).is_none());
        assert_eq!(rule.to_string(), "token_type \"mac\" is not Bearer");
    }
}

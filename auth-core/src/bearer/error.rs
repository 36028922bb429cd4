//! [`BearerError`]: why a request's access token was refused, and the RFC 6750 (and
//! RFC 9449) answer to give, with fixed text only.

use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

use crate::jose::TokenError;

/// Why a request's bearer token was not accepted. [`BearerError::to_response`] gives the
/// RFC 6750 answer.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BearerError {
    /// No `Authorization: Bearer` header.
    #[error("no bearer token in the Authorization header")]
    Missing,
    /// An `Authorization` header that is not one well-formed bearer credential
    /// (several headers, an empty or oversized token, characters a token cannot have).
    #[error("the Authorization header is not a well-formed bearer credential")]
    Malformed,
    /// The token is not valid: signature, issuer, audience, expiry...
    #[error("invalid bearer token: {0}")]
    Invalid(#[source] TokenError),
    /// The token is valid but lacks these scopes.
    #[error("the token lacks the scopes {0:?}")]
    InsufficientScope(Vec<String>),
    /// The token cannot be checked now (the provider's keys, or Redis for a DPoP
    /// proof's single use, are out of reach).
    #[error("bearer tokens cannot be checked now: {0}")]
    Unavailable(#[source] crate::Outage),
    /// No API audience is configured, so no bearer token can be accepted.
    #[error("bearer tokens are not enabled: configure an API audience (OIDC_API_AUDIENCE)")]
    NotConfigured,
    /// A DPoP-bound token came with a proof that is not valid for this request
    /// (RFC 9449 §7.1: `invalid_dpop_proof`).
    #[error("invalid DPoP proof: {0}")]
    InvalidProof(crate::jose::dpop::DpopProofError),
}

impl BearerError {
    /// The HTTP status: 401 (missing or invalid token), 400 (malformed header), 403
    /// (insufficient scope), 503 (cannot check now), 500 (not configured).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing | Self::Invalid(_) | Self::InvalidProof(_) => StatusCode::UNAUTHORIZED,
            Self::Malformed => StatusCode::BAD_REQUEST,
            Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error code of the answer (RFC 6750 §3.1, RFC 9449 §7.1): `invalid_request`,
    /// `invalid_token`, `insufficient_scope`, `invalid_dpop_proof`,
    /// `temporarily_unavailable` or `server_error`; `None` for a request without a token.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Self::Missing => None,
            Self::Malformed => Some("invalid_request"),
            Self::Invalid(_) => Some("invalid_token"),
            Self::InsufficientScope(_) => Some("insufficient_scope"),
            Self::Unavailable(_) => Some("temporarily_unavailable"),
            Self::NotConfigured => Some("server_error"),
            Self::InvalidProof(_) => Some("invalid_dpop_proof"),
        }
    }

    /// `auth_bearer_total`'s outcome of a judged token: `accepted`, or the error code.
    pub(crate) fn outcome<T>(result: Result<T, &Self>) -> &'static str {
        match result {
            Ok(_) => "accepted",
            Err(e) => e.error_code().unwrap_or("invalid_request"),
        }
    }

    /// The answer of RFC 6750 §3: the status, a `WWW-Authenticate: Bearer` challenge
    /// with the error code, and a JSON body. Token errors are described in general
    /// terms ("the token has expired"); nothing of the token is echoed.
    pub fn to_response(&self) -> Response<String> {
        let code = self.error_code();
        let challenge = match self {
            Self::Missing => "Bearer".to_owned(),
            Self::Malformed => "Bearer error=\"invalid_request\"".to_owned(),
            Self::Invalid(e) => format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                describe(e)
            ),
            Self::InsufficientScope(scopes) => format!(
                "Bearer error=\"insufficient_scope\", scope=\"{}\"",
                scopes.join(" ")
            ),
            Self::Unavailable(_) | Self::NotConfigured => String::new(),
            Self::InvalidProof(_) => {
                "DPoP error=\"invalid_dpop_proof\", algs=\"ES256 ES384 PS256 PS384 PS512 EdDSA\""
                    .to_owned()
            }
        };
        let description = match self {
            Self::Invalid(e) => describe(e).to_owned(),
            Self::Unavailable(_) => "the token cannot be checked now; try again".to_owned(),
            Self::NotConfigured => "bearer tokens are not enabled".to_owned(),
            other @ (Self::Missing
            | Self::Malformed
            | Self::InsufficientScope(_)
            | Self::InvalidProof(_)) => other.to_string(),
        };
        let body = serde_json::json!({
            "error": code.unwrap_or("unauthorized"),
            "error_description": description,
        })
        .to_string();
        let mut r = Response::new(body);
        *r.status_mut() = self.status();
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if !challenge.is_empty() {
            let v = HeaderValue::from_str(&challenge)
                .unwrap_or_else(|_| HeaderValue::from_static("Bearer error=\"invalid_token\""));
            r.headers_mut().insert(WWW_AUTHENTICATE, v);
        }
        r
    }
}

/// What a caller is told about its token: fixed text per reason (RFC 6750 §3 allows
/// only printable ASCII without `"` and `\`), never anything taken from the token.
fn describe(e: &TokenError) -> &'static str {
    match e {
        TokenError::Malformed => "the token is not a well-formed JWT",
        TokenError::TooLarge(_) => "the token is too large",
        TokenError::AlgorithmNotAllowed(_) => "the token's signature algorithm is not allowed",
        TokenError::UnknownKey(_) => "no key of the provider matches the token",
        TokenError::BadSignature => "the token's signature is invalid",
        TokenError::MissingClaim(_) => "the token lacks a required claim",
        TokenError::InvalidClaimType(_) => "a claim of the token has the wrong type",
        TokenError::InvalidIssuer => "the token is from another issuer",
        TokenError::InvalidAudience | TokenError::InvalidAuthorizedParty => {
            "the token is not meant for this API"
        }
        TokenError::Expired => "the token has expired",
        TokenError::InvalidIssuedAt | TokenError::NotYetValid => "the token is not valid now",
        TokenError::UnexpectedType => "the token is not an access token",
        TokenError::SenderConstrained => "the token is bound to a key and is not a bearer token",
        TokenError::KeyBindingMismatch => "the token is bound to another key than the proof's",
        TokenError::Inactive => "the token is not active",
        // Rules of ID and logout tokens: no access token breaks them, but a new rule
        // must be placed here by hand (no wildcard).
        TokenError::NonceMismatch
        | TokenError::MissingLogoutEvent
        | TokenError::NonceInLogoutToken
        | TokenError::MissingSidAndSub
        | TokenError::IdentityChanged => "the token is not valid",
    }
}

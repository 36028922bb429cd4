//! The token rules (the bottom layer above the loose base files): signatures against one
//! shared JWKS cache, the claim rules of ID tokens, JWT access tokens and back-channel
//! logout tokens, DPoP proofs, client assertions, and the secret newtypes.

mod algorithm;
mod claims;
pub(crate) mod client_key;
pub(crate) mod dpop;
pub(crate) mod issuer;
pub(crate) mod jwks;
pub(crate) mod secret;
mod validate;

use std::time::Duration;

pub use algorithm::Algorithm;
pub use claims::Claims;
pub(crate) use jwks::JwksCache;
pub(crate) use validate::{IdTokenCheck, MAX_TOKEN_BYTES, Verifier, unverified_claims};

/// The token checks every provider shares.
#[derive(Clone, Debug)]
pub(crate) struct TokenSettings {
    /// Clock skew tolerated for `exp`, `iat` and `nbf` (`OIDC_LEEWAY_SECS`).
    pub(crate) leeway: Duration,
    /// The least time between two JWKS fetches that tokens can cause.
    pub(crate) jwks_refetch_cooldown: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            leeway: Duration::from_secs(60),
            jwks_refetch_cooldown: Duration::from_secs(30),
        }
    }
}

/// Why a token was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a compact JWS, or its parts do not decode.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// Larger than any token we accept.
    #[error("the token is larger than {0} bytes")]
    TooLarge(usize),
    /// The `alg` header is not on the allow-list (`none` and HMAC never are by default).
    #[error("signature algorithm {0:?} is not allowed")]
    AlgorithmNotAllowed(String),
    /// No key in the provider's JWKS matches the token's `kid` and algorithm.
    #[error("no key in the provider's JWKS matches this token (kid {0:?})")]
    UnknownKey(Option<String>),
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// A required claim is missing (or empty).
    #[error("the token has no {0:?} claim")]
    MissingClaim(&'static str),
    /// A registered claim has another type than its registered one (an `azp` of 42, an
    /// `nbf` of "tomorrow"): refused, never read as absent.
    #[error("the token's {0:?} claim has the wrong type")]
    InvalidClaimType(&'static str),
    /// `iss` is not the configured issuer.
    #[error("the token's issuer is not the configured issuer")]
    InvalidIssuer,
    /// `aud` does not contain this client (or the configured API audience).
    #[error("the token's audience is not this client (or this API)")]
    InvalidAudience,
    /// `azp` is present (or required with several audiences) and is not this client.
    #[error("the token's authorized party (azp) is not this client")]
    InvalidAuthorizedParty,
    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `iat` is in the future (beyond the leeway), or too old for a logout token.
    #[error("the token's issue time (iat) is not acceptable")]
    InvalidIssuedAt,
    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    /// The `nonce` claim does not match the one sent with the login.
    #[error("the token's nonce does not match the login request")]
    NonceMismatch,
    /// A logout token without the back-channel logout event.
    #[error("the logout token has no back-channel logout event")]
    MissingLogoutEvent,
    /// A logout token carrying a `nonce` (forbidden: it could be an ID token).
    #[error("a logout token must not contain a nonce")]
    NonceInLogoutToken,
    /// A logout token with neither `sid` nor `sub`.
    #[error("the logout token has neither sid nor sub")]
    MissingSidAndSub,
    /// Not an access token: its `typ` header names another type (or is not `at+jwt`
    /// when that is required), or it carries a claim only ID or logout tokens have.
    #[error("the token is not an access token")]
    UnexpectedType,
    /// A sender-constrained token (`cnf`: DPoP or mTLS) presented as a plain bearer
    /// token: its holder's key is not proven, so it is refused.
    #[error("the token is bound to a key (cnf) and cannot be used as a bearer token")]
    SenderConstrained,
    /// A refreshed ID token names another subject or issuer.
    #[error("the refreshed ID token names another user or issuer")]
    IdentityChanged,
    /// The access token is bound (`cnf.jkt`) to another key than the session's DPoP
    /// key (RFC 9449 §6).
    #[error("the access token is bound to another key than this session's")]
    KeyBindingMismatch,
    /// The provider's introspection endpoint says the token is not active (revoked,
    /// expired, or never issued: RFC 7662 `active: false`).
    #[error("the provider says the token is not active")]
    Inactive,
}

/// The provider's keys could not be loaded: a failure of the provider or the network,
/// not a verdict on any token. Answered as a 502 or 503 (try again), never as an
/// invalid token.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The request failed (connection, timeout, size limit).
    #[error("the provider's JWKS could not be fetched: {0}")]
    Unreachable(#[source] crate::HttpError),
    /// The JWKS endpoint answered with an error status.
    #[error("the provider's JWKS endpoint answered HTTP {0}")]
    Status(u16),
    /// The answer is not a JWK set.
    #[error("the provider's JWKS is not a JWK set: {0}")]
    Invalid(&'static str),
    /// The provider has not been discovered yet (it was down at start): its keys are
    /// not known.
    #[error("the identity provider is not reachable yet")]
    NotDiscovered,
}

/// Why a token was not accepted: it is invalid ([`TokenError`], a verdict), or its
/// provider's keys could not be loaded ([`JwksError`], try again).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The token breaks a rule.
    #[error(transparent)]
    Invalid(#[from] TokenError),
    /// The keys to check it with could not be loaded.
    #[error(transparent)]
    KeysUnavailable(#[from] JwksError),
}

/// A verification that failed on a rule equals that rule's [`TokenError`].
impl PartialEq<TokenError> for VerifyError {
    fn eq(&self, other: &TokenError) -> bool {
        matches!(self, VerifyError::Invalid(e) if e == other)
    }
}

//! Scripted misbehaviour: the provider can be told to answer as a broken or hostile
//! provider would, to test that a relying party refuses what it must.

use std::time::Duration;

use serde_json::Value;

use crate::Signing;

/// What the token endpoint does instead of its normal answer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TokenFault {
    /// Answers this status and body (as `application/json`), without using the grant.
    Status(u16, String),
    /// Answers normally, after this delay.
    Hang(Duration),
    /// Removes these members from the normal answer.
    RemoveFields(Vec<String>),
    /// Sets these members of the normal answer.
    SetFields(Vec<(String, Value)>),
}

/// How the provider misbehaves until told otherwise ([`crate::DevProvider::misbehave`],
/// [`crate::DevProvider::behave`]). The default behaves.
#[derive(Debug, Clone, Default)]
pub struct Misbehaviour {
    pub(crate) id_token_claims: Vec<(String, Option<Value>)>,
    pub(crate) access_token_claims: Vec<(String, Option<Value>)>,
    pub(crate) id_token_signing: Option<Signing>,
    pub(crate) token: Option<TokenFault>,
    pub(crate) authorization_iss: Option<Option<String>>,
    pub(crate) authorization_state: Option<String>,
    pub(crate) discovery_issuer: Option<String>,
    pub(crate) jwks_status: Option<u16>,
    pub(crate) jwks_max_age: Option<Duration>,
    pub(crate) userinfo_status: Option<u16>,
    pub(crate) introspection_status: Option<u16>,
    pub(crate) introspected_claims: Vec<(String, Option<Value>)>,
}

impl Misbehaviour {
    /// Issued ID tokens carry `claim` with `value` (replacing the real one).
    pub fn id_token_claim(mut self, claim: &str, value: Value) -> Self {
        self.id_token_claims.push((claim.to_owned(), Some(value)));
        self
    }

    /// Issued ID tokens lack `claim`.
    pub fn without_id_token_claim(mut self, claim: &str) -> Self {
        self.id_token_claims.push((claim.to_owned(), None));
        self
    }

    /// Access tokens it issues leave out `claim`.
    pub fn without_access_token_claim(mut self, claim: &str) -> Self {
        self.access_token_claims.push((claim.to_owned(), None));
        self
    }

    /// Access tokens it issues carry `claim` with `value`.
    pub fn access_token_claim(mut self, claim: &str, value: Value) -> Self {
        self.access_token_claims
            .push((claim.to_owned(), Some(value)));
        self
    }

    /// Issued ID tokens are signed this way.
    pub fn id_token_signing(mut self, signing: Signing) -> Self {
        self.id_token_signing = Some(signing);
        self
    }

    /// The token endpoint misbehaves (code and refresh grants alike).
    pub fn token_endpoint(mut self, fault: TokenFault) -> Self {
        self.token = Some(fault);
        self
    }

    /// Authorization responses carry this `iss` (RFC 9207) instead of the issuer;
    /// `None` leaves it out although discovery advertises it.
    pub fn authorization_iss(mut self, iss: Option<&str>) -> Self {
        self.authorization_iss = Some(iss.map(str::to_owned));
        self
    }

    /// Authorization responses carry this `state` instead of the client's.
    pub fn authorization_state(mut self, state: &str) -> Self {
        self.authorization_state = Some(state.to_owned());
        self
    }

    /// The discovery document names this issuer.
    pub fn discovery_issuer(mut self, issuer: &str) -> Self {
        self.discovery_issuer = Some(issuer.to_owned());
        self
    }

    /// The JWKS endpoint answers this status, with no keys.
    pub fn jwks_status(mut self, status: u16) -> Self {
        self.jwks_status = Some(status);
        self
    }

    /// The UserInfo endpoint answers this status (with an empty JSON object).
    pub fn userinfo_status(mut self, status: u16) -> Self {
        self.userinfo_status = Some(status);
        self
    }

    /// The introspection endpoint answers this status (with an empty JSON object).
    pub fn introspection_status(mut self, status: u16) -> Self {
        self.introspection_status = Some(status);
        self
    }

    /// Introspection answers for active tokens carry `claim` with `value` (`None`:
    /// without it), replacing the token's own.
    pub fn introspected_claim(mut self, claim: &str, value: Option<Value>) -> Self {
        self.introspected_claims.push((claim.to_owned(), value));
        self
    }

    /// The JWKS response says `Cache-Control: max-age=<secs>`: how long a relying
    /// party may trust the keys without fetching them again (OIDC Core §10.1.1).
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_max_age = Some(max_age);
        self
    }
}

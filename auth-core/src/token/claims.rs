use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The validated claims of a user's ID token (and userinfo, when fetched). Typed
/// accessors for the common ones; every claim is available through [`Claims::get`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Claims(Map<String, Value>);

impl Claims {
    pub(crate) fn new(map: Map<String, Value>) -> Self {
        Self(map)
    }

    fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// The subject: the provider's stable id of the user.
    pub fn sub(&self) -> &str {
        self.str("sub").unwrap_or_default()
    }

    /// The issuer.
    pub fn iss(&self) -> &str {
        self.str("iss").unwrap_or_default()
    }

    /// The user's email, if the provider sent it.
    pub fn email(&self) -> Option<&str> {
        self.str("email")
    }

    /// Whether the provider says the email was verified.
    pub fn email_verified(&self) -> Option<bool> {
        self.0.get("email_verified").and_then(Value::as_bool)
    }

    /// The user's display name, if sent.
    pub fn name(&self) -> Option<&str> {
        self.str("name")
    }

    /// The provider's session id (`sid`), used by back-channel logout.
    pub fn sid(&self) -> Option<&str> {
        self.str("sid")
    }

    pub(crate) fn with(mut self, name: &str, value: Value) -> Self {
        self.0.insert(name.to_string(), value);
        self
    }

    /// The login's nonce.
    pub(crate) fn nonce(&self) -> Option<&str> {
        self.str("nonce")
    }

    /// Any claim by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// All claims.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

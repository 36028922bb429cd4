use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The validated claims of a user's ID token. Typed accessors for the common ones;
/// every claim is available through [`Claims::get`], [`Claims::to_map`] and
/// [`Claims::json`].
///
/// Kept compact, since every session holds one: the claims object as JSON text, with
/// the claims read on most requests (`sub`, `iss`, `email`, `name`, `sid`) decoded
/// beside it. A parsed map costs about three times the memory of the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Claims {
    /// The claims object as JSON text (a verified token's payload as received, or
    /// serialized from a map).
    json: Box<str>,
    sub: Box<str>,
    iss: Box<str>,
    email: Option<Box<str>>,
    name: Option<Box<str>>,
    sid: Option<Box<str>>,
    nonce: Option<Box<str>>,
    email_verified: Option<bool>,
}

impl Default for Claims {
    fn default() -> Self {
        Self::new(Map::new())
    }
}

impl std::fmt::Debug for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Claims").field(&self.json).finish()
    }
}

impl Claims {
    pub(crate) fn new(map: Map<String, Value>) -> Self {
        // A map of JSON values always serializes.
        let json = serde_json::to_string(&map).unwrap_or_default().into();
        Self::from_parts(&map, json)
    }

    /// Claims whose JSON text is at hand (a verified token's payload, as received), so
    /// it is not serialized again: `json` must be the text `map` was parsed from.
    pub(crate) fn from_parts(map: &Map<String, Value>, json: Box<str>) -> Self {
        let text = |name: &str| map.get(name).and_then(Value::as_str).map(Box::from);
        Self {
            sub: text("sub").unwrap_or_default(),
            iss: text("iss").unwrap_or_default(),
            email: text("email"),
            name: text("name"),
            sid: text("sid"),
            nonce: text("nonce"),
            email_verified: map.get("email_verified").and_then(Value::as_bool),
            json,
        }
    }

    /// The subject: the provider's stable id of the user.
    pub fn sub(&self) -> &str {
        &self.sub
    }

    /// The issuer.
    pub fn iss(&self) -> &str {
        &self.iss
    }

    /// The user's email, if the provider sent it.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    /// Whether the provider says the email was verified.
    pub fn email_verified(&self) -> Option<bool> {
        self.email_verified
    }

    /// The user's display name, if sent.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The provider's session id (`sid`), used by back-channel logout.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    pub(crate) fn with(self, name: &str, value: Value) -> Self {
        let mut map = self.to_map();
        map.insert(name.to_string(), value);
        Self::new(map)
    }

    /// The login's nonce.
    pub(crate) fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    /// Any claim by name (parsed from the stored JSON on each call; keep the value if
    /// you need it often).
    pub fn get(&self, name: &str) -> Option<Value> {
        self.to_map().remove(name)
    }

    /// All claims, as a map (parsed on each call).
    pub fn to_map(&self) -> Map<String, Value> {
        serde_json::from_str(&self.json).unwrap_or_default()
    }

    /// All claims as a JSON object, as stored: the cheapest way to send them on
    /// (`serde_json::value::RawValue` embeds it in a response without parsing).
    pub fn json(&self) -> &str {
        &self.json
    }
}

/// As the JSON object of the claims (the stored form of sessions is unchanged).
impl Serialize for Claims {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Claims {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::deserialize(deserializer).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims() -> Claims {
        let v = json!({ "sub": "alice", "iss": "https://id.example.com", "email": "a@example.com",
                        "email_verified": true, "name": "Alice", "sid": "s-1", "nonce": "n",
                        "roles": ["admin"], "org": { "id": 7 } });
        Claims::new(v.as_object().expect("object").clone())
    }

    #[test]
    fn reads_common_claims_and_any_claim() {
        let c = claims();
        assert_eq!(c.sub(), "alice");
        assert_eq!(c.iss(), "https://id.example.com");
        assert_eq!(c.email(), Some("a@example.com"));
        assert_eq!(c.email_verified(), Some(true));
        assert_eq!(c.name(), Some("Alice"));
        assert_eq!(c.sid(), Some("s-1"));
        assert_eq!(c.nonce(), Some("n"));
        assert_eq!(c.get("roles"), Some(json!(["admin"])));
        assert_eq!(c.get("missing"), None);
        assert_eq!(c.to_map().len(), 9);
        let raw: Value = serde_json::from_str(c.json()).expect("json");
        assert_eq!(raw["org"]["id"], 7);
    }

    #[test]
    fn serializes_as_the_claims_object_and_back() {
        let c = claims();
        let v = serde_json::to_value(&c).expect("serialize");
        assert_eq!(v["sub"], "alice");
        assert_eq!(serde_json::from_value::<Claims>(v).expect("deserialize"), c);
        let with = c.clone().with("sid", json!("s-2"));
        assert_eq!(with.sid(), Some("s-2"));
        assert_eq!(with.get("roles"), c.get("roles"));
    }

    #[test]
    fn missing_or_non_string_claims_are_absent() {
        let c = Claims::new(
            json!({ "sub": 5, "email": null })
                .as_object()
                .expect("o")
                .clone(),
        );
        assert_eq!(c.sub(), "");
        assert_eq!(c.email(), None);
        assert_eq!(Claims::default().json(), "{}");
    }
}

//! One view of who the user is, for every provider: the organization, roles and
//! permissions, read from the claims where each provider puts them.
//!
//! | kind | organization | roles | permissions |
//! |---|---|---|---|
//! | scalekit | `oid` | `roles` | `permissions` |
//! | workos | `org_id` | `roles`, else [`role`] | `permissions` |
//! | auth0 | `org_id` | the claim the app names | `permissions` |
//! | keycloak | `organization` (its string, first element or first key) | `realm_access.roles` + `resource_access.<client_id>.roles` | none |
//! | entra | `tid` | `roles` | none |
//! | okta | none | `groups` | none |
//! | google | `hd` | none | none |
//! | generic | `org_id` | `roles` | `permissions` |
//!
//! The app can name other claims ([`crate::AuthConfigBuilder::with_roles_claim`] and
//! its siblings; `OIDC_ROLES_CLAIM`, `OIDC_ORGANIZATION_CLAIM`,
//! `OIDC_PERMISSIONS_CLAIM`): a claim of that exact name, else a dotted path into
//! nested objects (`realm_access.roles`).
//!
//! The view is read at sign-in and at every refresh from the ID token and, when the
//! access token is a JWT of the same issuer (validated: signature, `iss`, `exp`, and
//! `aud` when an audience is configured), from the access token too: organization
//! from the first that has one, roles and permissions from both.

use serde_json::{Map, Value};

use crate::provider::presets::ProviderKind;
use crate::session::Access;

/// Claims the app named instead of the provider kind's own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ClaimNames {
    pub(crate) organization: Option<String>,
    pub(crate) roles: Option<String>,
    pub(crate) permissions: Option<String>,
}

/// Longest list of roles or permissions kept (a token is at most 16 KiB anyway).
const MAX_ENTRIES: usize = 256;

/// The value at `name`: a claim of that exact name (Auth0's namespaced claims hold
/// dots), else a dotted path into nested objects.
fn at_path<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// The strings of a claim: an array's strings, or a single string.
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// An organization claim: a string, an array's first string, or an object's first key
/// (Keycloak's `organization` claim, keyed by alias).
fn organization(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Array(items) => items.iter().find_map(Value::as_str).map(str::to_owned),
        Value::Object(map) => map.keys().next().cloned(),
        _ => None,
    }
}

/// Where a provider kind puts the organization and the permissions.
fn default_claims(kind: ProviderKind) -> (Option<&'static str>, Option<&'static str>) {
    match kind {
        ProviderKind::Generic
        | ProviderKind::WorkosAuthkit
        | ProviderKind::WorkosUserManagement
        | ProviderKind::Auth0 => (Some("org_id"), Some("permissions")),
        ProviderKind::Scalekit => (Some("oid"), Some("permissions")),
        ProviderKind::Keycloak => (Some("organization"), None),
        ProviderKind::EntraId => (Some("tid"), None),
        ProviderKind::Google => (Some("hd"), None),
        ProviderKind::Okta => (None, None),
    }
}

/// The roles a provider kind states in `claims`.
fn default_roles(kind: ProviderKind, client_id: &str, claims: &Map<String, Value>) -> Vec<String> {
    match kind {
        ProviderKind::Generic | ProviderKind::Scalekit | ProviderKind::EntraId => {
            strings(claims.get("roles"))
        }
        ProviderKind::WorkosAuthkit | ProviderKind::WorkosUserManagement => {
            let roles = strings(claims.get("roles"));
            if roles.is_empty() {
                strings(claims.get("role"))
            } else {
                roles
            }
        }
        ProviderKind::Keycloak => {
            let mut roles = strings(at_path(claims, "realm_access.roles"));
            let client = claims
                .get("resource_access")
                .and_then(Value::as_object)
                .and_then(|r| r.get(client_id))
                .and_then(|c| c.get("roles"));
            roles.extend(strings(client));
            roles
        }
        ProviderKind::Okta => strings(claims.get("groups")),
        // Auth0 has no standard roles claim: the app names its namespaced one.
        ProviderKind::Auth0 | ProviderKind::Google => Vec::new(),
    }
}

fn push_unique(into: &mut Vec<String>, items: Vec<String>) {
    for item in items {
        if into.len() >= MAX_ENTRIES {
            return;
        }
        if !item.is_empty() && !into.contains(&item) {
            into.push(item);
        }
    }
}

/// The view of `sources` (the ID token's claims first, then the access token's).
pub(crate) fn access_of(
    kind: ProviderKind,
    names: &ClaimNames,
    client_id: &str,
    sources: &[&Map<String, Value>],
) -> Access {
    let (org_claim, permissions_claim) = default_claims(kind);
    let org_claim = names.organization.as_deref().or(org_claim);
    let permissions_claim = names.permissions.as_deref().or(permissions_claim);
    let mut access = Access::default();
    if let Some(id) = sources.first() {
        access.auth_time = id.get("auth_time").and_then(Value::as_i64);
        access.acr = id.get("acr").and_then(Value::as_str).map(str::to_owned);
    }
    for claims in sources {
        if access.organization.is_none() {
            access.organization = org_claim.and_then(|c| organization(at_path(claims, c)));
        }
        let roles = match &names.roles {
            Some(claim) => strings(at_path(claims, claim)),
            None => default_roles(kind, client_id, claims),
        };
        push_unique(&mut access.roles, roles);
        if let Some(claim) = permissions_claim {
            push_unique(&mut access.permissions, strings(at_path(claims, claim)));
        }
    }
    access
}

/// The view of a sign-in or refresh: the ID token's claims and, when it is a JWT of
/// the issuer (already validated), the access token's.
pub(crate) fn access_for(
    config: &crate::ProviderConfig,
    id_token: &Map<String, Value>,
    access_token: Option<&Map<String, Value>>,
) -> Access {
    let mut sources = vec![id_token];
    sources.extend(access_token);
    access_of(
        config.provider_kind,
        &config.claim_names,
        &config.client_id,
        &sources,
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().expect("object").clone()
    }

    fn view(kind: ProviderKind, id: Value, at: Option<Value>) -> Access {
        let id = map(id);
        let at = at.map(map);
        let mut sources = vec![&id];
        sources.extend(at.as_ref());
        access_of(kind, &ClaimNames::default(), "my-app", &sources)
    }

    #[test]
    fn scalekit_reads_oid_roles_and_permissions_from_the_access_token() {
        let a = view(
            ProviderKind::Scalekit,
            json!({ "sub": "u", "oid": "org_1" }),
            Some(json!({ "oid": "org_1", "roles": ["admin"], "permissions": ["reports:read"] })),
        );
        assert_eq!(a.organization.as_deref(), Some("org_1"));
        assert_eq!(a.roles, ["admin"]);
        assert_eq!(a.permissions, ["reports:read"]);
    }

    #[test]
    fn workos_falls_back_to_the_single_role() {
        let a = view(
            ProviderKind::WorkosAuthkit,
            json!({ "sub": "u" }),
            Some(json!({ "org_id": "org_2", "role": "member", "permissions": ["a", "b"] })),
        );
        assert_eq!(
            (a.organization.as_deref(), a.roles, a.permissions),
            (
                Some("org_2"),
                vec!["member".to_owned()],
                vec!["a".to_owned(), "b".to_owned()]
            )
        );
        let both = view(
            ProviderKind::WorkosAuthkit,
            json!({ "sub": "u" }),
            Some(json!({ "role": "member", "roles": ["admin", "member"] })),
        );
        assert_eq!(both.roles, ["admin", "member"]);
    }

    #[test]
    fn auth0_roles_only_from_the_claim_the_app_names() {
        let id = map(json!({ "org_id": "org_3", "https://example.com/roles": ["admin"] }));
        let none = access_of(ProviderKind::Auth0, &ClaimNames::default(), "c", &[&id]);
        assert!(none.roles.is_empty());
        let names = ClaimNames {
            roles: Some("https://example.com/roles".into()),
            ..ClaimNames::default()
        };
        let named = access_of(ProviderKind::Auth0, &names, "c", &[&id]);
        assert_eq!(named.roles, ["admin"]);
        assert_eq!(named.organization.as_deref(), Some("org_3"));
    }

    #[test]
    fn keycloak_reads_realm_and_client_roles_and_its_organization_claim() {
        let a = view(
            ProviderKind::Keycloak,
            json!({ "sub": "u", "organization": { "acme": { "id": "x" } } }),
            Some(json!({
                "realm_access": { "roles": ["offline_access", "admin"] },
                "resource_access": { "my-app": { "roles": ["editor"] }, "other": { "roles": ["x"] } },
                "permissions": ["ignored"]
            })),
        );
        assert_eq!(a.organization.as_deref(), Some("acme"));
        assert_eq!(a.roles, ["offline_access", "admin", "editor"]);
        assert!(
            a.permissions.is_empty(),
            "Keycloak has no permissions claim"
        );
        let listed = view(
            ProviderKind::Keycloak,
            json!({ "organization": ["beta"] }),
            None,
        );
        assert_eq!(listed.organization.as_deref(), Some("beta"));
        let plain = view(
            ProviderKind::Keycloak,
            json!({ "organization": "gamma" }),
            None,
        );
        assert_eq!(plain.organization.as_deref(), Some("gamma"));
    }

    #[test]
    fn entra_okta_google_and_generic() {
        let entra = view(
            ProviderKind::EntraId,
            json!({ "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47", "roles": ["Task.Write"], "groups": ["g"] }),
            None,
        );
        assert_eq!(
            entra.organization.as_deref(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
        assert_eq!(entra.roles, ["Task.Write"]);
        let okta = view(
            ProviderKind::Okta,
            json!({ "groups": ["Everyone", "admin"], "org_id": "x" }),
            None,
        );
        assert_eq!((okta.organization, okta.roles.len()), (None, 2));
        let google = view(
            ProviderKind::Google,
            json!({ "hd": "example.com", "roles": ["x"] }),
            None,
        );
        assert_eq!(
            (google.organization.as_deref(), google.roles.len()),
            (Some("example.com"), 0)
        );
        let generic = view(
            ProviderKind::Generic,
            json!({ "org_id": "o", "roles": "admin", "permissions": ["p"] }),
            Some(json!({ "roles": ["admin", "viewer"], "permissions": ["p", "q"] })),
        );
        assert_eq!(
            generic.roles,
            ["admin", "viewer"],
            "merged, without duplicates"
        );
        assert_eq!(generic.permissions, ["p", "q"]);
    }

    #[test]
    fn named_claims_read_dotted_paths_and_wrong_types_give_nothing() {
        let names = ClaimNames {
            organization: Some("tenant.id".into()),
            roles: Some("app.roles".into()),
            permissions: Some("scp".into()),
        };
        let id = map(json!({ "tenant": { "id": "t1" }, "app": { "roles": ["r1"] }, "scp": 42 }));
        let a = access_of(ProviderKind::Generic, &names, "c", &[&id]);
        assert_eq!(a.organization.as_deref(), Some("t1"));
        assert_eq!(a.roles, ["r1"]);
        assert!(a.permissions.is_empty());
        let odd = map(json!({ "org_id": 7, "roles": [1, "ok", null] }));
        let a = access_of(ProviderKind::Generic, &ClaimNames::default(), "c", &[&odd]);
        assert_eq!((a.organization, a.roles), (None, vec!["ok".to_owned()]));
    }
}

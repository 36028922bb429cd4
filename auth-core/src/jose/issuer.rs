//! Which issuer a token may name: the provider's own (or an alias), or with Entra ID's
//! multi-tenant endpoints the discovery issuer's template filled with the token's `tid`.

/// Entra ID's multi-tenant endpoints (`common`, `organizations`): a token's `iss` must
/// be the discovery issuer's template with the token's own `tid` in it.
#[derive(Clone, Debug)]
pub(crate) struct TenantRule {
    /// The configured issuer (`https://login.microsoftonline.com/common/v2.0`).
    pub(crate) configured: String,
    /// The tenant segment the template replaces (`common`).
    pub(crate) segment: String,
    /// Lowercase tenant GUIDs let in; empty lets any tenant in.
    pub(crate) allowed: Vec<String>,
}

/// The placeholder of Entra ID's templated issuer.
pub(crate) const TENANT_PLACEHOLDER: &str = "{tenantid}";

impl TenantRule {
    /// The issuer discovery publishes: the configured one with `{tenantid}` for the
    /// tenant segment.
    pub(crate) fn template(&self) -> String {
        self.configured.replacen(
            &format!("/{}/", self.segment),
            &format!("/{TENANT_PLACEHOLDER}/"),
            1,
        )
    }

    /// The issuer a token of tenant `tid` must carry, if `tid` is a GUID that is let in.
    pub(crate) fn issuer_for(&self, tid: &str) -> Option<String> {
        let tid = tid.to_ascii_lowercase();
        if !is_guid(&tid) {
            return None;
        }
        if !self.allowed.is_empty() && !self.allowed.contains(&tid) {
            return None;
        }
        Some(self.template().replacen(TENANT_PLACEHOLDER, &tid, 1))
    }
}

/// Whether `claims`' `iss` is `issuer`, or with a tenant rule, the template filled
/// with the claims' own `tid` (a GUID, and a let-in tenant).
pub(crate) fn names_issuer(
    issuer: &str,
    aliases: &[String],
    tenants: Option<&TenantRule>,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> bool {
    let claim = |name: &str| claims.get(name).and_then(serde_json::Value::as_str);
    match (tenants, claim("iss")) {
        (_, None) => false,
        (None, Some(iss)) => iss == issuer || aliases.iter().any(|a| a == iss),
        (Some(rule), Some(iss)) => {
            claim("tid").and_then(|t| rule.issuer_for(t)).as_deref() == Some(iss)
        }
    }
}

/// Whether `s` is a GUID (`8-4-4-4-12` hexadecimal digits).
pub(crate) fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

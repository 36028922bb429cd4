//! The pending login, held by the browser in a short-lived, encrypted and authenticated
//! cookie (AES-256-GCM via the `cookie` crate's private jar, the cookie name bound as
//! associated data). One cookie per `state`, so several tabs can log in at once.

use cookie::{Cookie, CookieJar, Key, SameSite};
use serde::{Deserialize, Serialize};

/// How long a login may take, from the redirect to the provider until the callback.
pub(crate) const PENDING_TTL_SECS: i64 = 600;
/// At most this many logins may be pending in one browser; older ones are dropped.
pub(crate) const MAX_PENDING: usize = 5;
/// Cookie values larger than this are not even decrypted.
const MAX_COOKIE_VALUE: usize = 4096;

#[derive(Serialize, Deserialize)]
pub(crate) struct PendingLogin {
    pub(crate) state: String,
    pub(crate) nonce: String,
    pub(crate) pkce_verifier: String,
    #[serde(default)]
    pub(crate) return_to: Option<String>,
    pub(crate) created_at: i64,
    /// The `max_age` the login sent: the callback then checks `auth_time`.
    #[serde(default)]
    pub(crate) max_age: Option<u64>,
    /// The `acr_values` the login sent: the callback then checks `acr`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) acr_values: Vec<String>,
    /// The organization the login asked for: the callback then requires it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) organization: Option<String>,
    /// The provider the login went to (`None`: the one provider of a single-provider
    /// app). Sealed in the cookie, so the browser cannot change which provider the
    /// callback talks to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) provider: Option<String>,
    /// The login asked for no interaction (`prompt=none`): the provider's "the user
    /// must interact" errors return the browser to `return_to` without an error page.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) silent: bool,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("return_to", &self.return_to)
            .field("created_at", &self.created_at)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// Names and attributes of the pending-login cookies.
#[derive(Clone)]
pub(crate) struct PendingCookies {
    /// The first seals; every one opens (`APP_SECRET`'s keys, rotated).
    keys: Vec<Key>,
    base_name: String,
    path: String,
    secure: bool,
}

impl std::fmt::Debug for PendingCookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingCookies")
            .field("base_name", &self.base_name)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl PendingCookies {
    /// `keys` must not be empty: the first seals, every one opens.
    pub(crate) fn new(keys: Vec<Key>, secure: bool) -> Self {
        assert!(!keys.is_empty(), "at least one key");
        // `__Host-` over https: `Secure`, `Path=/` and no `Domain`, so a sibling
        // subdomain cannot plant a pending login of its own (login CSRF, RFC 9700
        // §4.7.1; RFC 6265bis §4.1.3.2). `Path=/` on plain http too: one behaviour.
        let base_name = if secure {
            "__Host-auth_pending_"
        } else {
            "auth_pending_"
        };
        Self {
            keys,
            base_name: base_name.to_string(),
            path: "/".to_string(),
            secure,
        }
    }

    /// The keys' master secrets, the sealing one first.
    pub(crate) fn masters(&self) -> impl Iterator<Item = &[u8]> {
        self.keys.iter().map(Key::master)
    }

    fn name_for(&self, state: &str) -> String {
        let short: String = state.chars().take(16).collect();
        format!("{}{}", self.base_name, short)
    }

    fn base(&self, name: String, value: String) -> Cookie<'static> {
        Cookie::build((name, value))
            .path(self.path.clone())
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .build()
    }

    /// The `Set-Cookie` value that stores `pending`. `cross_site`: the callback is a
    /// cross-site POST (`form_post`), which only a `SameSite=None; Secure` cookie
    /// reaches (browsers keep `Secure` cookies from loopback too). It stays sealed,
    /// one per `state` and single use: that, not `SameSite`, is what stops login CSRF.
    pub(crate) fn seal(&self, pending: &PendingLogin, cross_site: bool) -> String {
        let value = serde_json::to_string(pending).unwrap_or_default();
        let mut jar = CookieJar::new();
        let mut c = self.base(self.name_for(&pending.state), value);
        c.set_max_age(cookie::time::Duration::seconds(PENDING_TTL_SECS));
        if cross_site {
            c.set_same_site(SameSite::None);
            c.set_secure(true);
        }
        jar.private_mut(&self.keys[0]).add(c);
        jar.delta()
            .next()
            .map(|c| c.encoded().to_string())
            .unwrap_or_default()
    }

    /// The `Set-Cookie` value that deletes the cookie of `state`.
    pub(crate) fn removal(&self, state: &str) -> String {
        self.removal_by_name(self.name_for(state))
    }

    fn removal_by_name(&self, name: String) -> String {
        let mut c = self.base(name, String::new());
        c.make_removal();
        c.encoded().to_string()
    }

    /// Opens the pending login of `state` from the request's cookies. `None` when it is
    /// missing, was tampered with, or cannot be read.
    pub(crate) fn open(
        &self,
        request_cookies: &[(String, String)],
        state: &str,
    ) -> Option<PendingLogin> {
        let name = self.name_for(state);
        let (_, value) = request_cookies.iter().find(|(n, _)| *n == name)?;
        self.decrypt(&name, value)
    }

    fn decrypt(&self, name: &str, value: &str) -> Option<PendingLogin> {
        if value.len() > MAX_COOKIE_VALUE {
            return None;
        }
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(name.to_string(), value.to_string()));
        let plain = self
            .keys
            .iter()
            .find_map(|key| jar.private(key).get(name))?;
        serde_json::from_str(plain.value()).ok()
    }

    /// Removals for pending logins that are expired, unreadable, or beyond the most
    /// recent `MAX_PENDING - 1` (a new one is about to be added).
    pub(crate) fn prune(&self, request_cookies: &[(String, String)], now: i64) -> Vec<String> {
        let mut live: Vec<(i64, &str)> = Vec::new();
        let mut out = Vec::new();
        for (name, value) in request_cookies
            .iter()
            .filter(|(n, _)| n.starts_with(&self.base_name))
        {
            match self.decrypt(name, value) {
                Some(p) if p.created_at + PENDING_TTL_SECS >= now => {
                    live.push((p.created_at, name))
                }
                _ => out.push(self.removal_by_name(name.clone())),
            }
        }
        live.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
        for (_, name) in live.into_iter().skip(MAX_PENDING - 1) {
            out.push(self.removal_by_name(name.to_string()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies() -> PendingCookies {
        PendingCookies::new(vec![Key::generate()], false)
    }

    fn pending(state: &str, at: i64) -> PendingLogin {
        PendingLogin {
            state: state.into(),
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            return_to: Some("/me".into()),
            created_at: at,
            max_age: None,
            acr_values: Vec::new(),
            organization: None,
            provider: None,
            silent: false,
        }
    }

    impl PendingCookies {
        fn seal_lax(&self, pending: &PendingLogin) -> String {
            self.seal(pending, false)
        }
    }

    /// With form_post the pending cookie must reach the provider's cross-site POST:
    /// `SameSite=None; Secure` (also on loopback, which browsers treat as secure),
    /// still HttpOnly, sealed and one per state; without it, `Lax`.
    #[test]
    fn a_form_post_pending_cookie_is_same_site_none_and_secure() {
        for secure in [true, false] {
            let pc = PendingCookies::new(vec![Key::generate()], secure);
            let state = "state-abcdefghijklmnop";
            let set = pc.seal(&pending(state, 100), true);
            let c = Cookie::parse_encoded(set.clone()).expect("cookie");
            assert_eq!(c.same_site(), Some(SameSite::None), "{set}");
            assert_eq!(c.secure(), Some(true), "{set}");
            assert_eq!(c.http_only(), Some(true), "{set}");
            assert_eq!(c.name().starts_with("__Host-"), secure, "{set}");
            assert!(pc.open(&as_request(&set), state).is_some());
            let lax = Cookie::parse_encoded(pc.seal(&pending(state, 100), false)).expect("c");
            assert_eq!(lax.same_site(), Some(SameSite::Lax));
        }
    }

    fn as_request(set_cookie: &str) -> Vec<(String, String)> {
        let c = Cookie::parse_encoded(set_cookie.to_string()).expect("cookie");
        vec![(c.name().to_string(), c.value().to_string())]
    }

    /// A login started under `k1` completes after a restart with `k2,k1` (the cookie
    /// opens; new ones are sealed under `k2`), and not after one with `k2` alone.
    #[test]
    fn a_pending_login_sealed_under_an_older_key_still_opens() {
        let (k1, k2) = (Key::generate(), Key::generate());
        let state = "state-abcdefghijklmnop";
        let set = PendingCookies::new(vec![k1.clone()], false).seal_lax(&pending(state, 100));
        let rotated = PendingCookies::new(vec![k2.clone(), k1.clone()], false);
        assert!(rotated.open(&as_request(&set), state).is_some());
        assert!(
            PendingCookies::new(vec![k2.clone()], false)
                .open(&as_request(&set), state)
                .is_none()
        );
        let new = rotated.seal_lax(&pending(state, 100));
        assert!(
            PendingCookies::new(vec![k1], false)
                .open(&as_request(&new), state)
                .is_none(),
            "sealed under the first key"
        );
        assert!(
            PendingCookies::new(vec![k2], false)
                .open(&as_request(&new), state)
                .is_some()
        );
    }

    #[test]
    fn round_trips_and_is_http_only_lax() {
        let pc = cookies();
        let set = pc.seal_lax(&pending("state-abcdefghijklmnop", 100));
        let parsed = Cookie::parse_encoded(set.clone()).expect("cookie");
        assert_eq!(parsed.path(), Some("/"), "{set}");
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"));
        assert!(!set.contains("/me"), "the cookie is encrypted");
        let got = pc
            .open(&as_request(&set), "state-abcdefghijklmnop")
            .expect("opens");
        assert_eq!(got.return_to.as_deref(), Some("/me"));
    }

    #[test]
    fn tampered_cookie_refused() {
        let pc = cookies();
        let set = pc.seal_lax(&pending("state-abcdefghijklmnop", 100));
        let mut req = as_request(&set);
        let mut v = req[0].1.clone().into_bytes();
        let i = v.len() / 2;
        v[i] = if v[i] == b'A' { b'B' } else { b'A' };
        req[0].1 = String::from_utf8(v).expect("utf8");
        assert!(pc.open(&req, "state-abcdefghijklmnop").is_none());
    }

    #[test]
    fn cookie_sealed_with_another_key_refused() {
        let set = cookies().seal_lax(&pending("state-abcdefghijklmnop", 100));
        assert!(
            cookies()
                .open(&as_request(&set), "state-abcdefghijklmnop")
                .is_none()
        );
    }

    #[test]
    fn prune_keeps_only_recent_live_logins() {
        let pc = cookies();
        let mut req = Vec::new();
        for i in 0..7 {
            let set = pc.seal_lax(&pending(&format!("state{i:02}-padding-padding"), 1000 + i));
            req.extend(as_request(&set));
        }
        let expired = pc.seal_lax(&pending("old-state-padding-padding", 1));
        req.extend(as_request(&expired));
        let removals = pc.prune(&req, 1010);
        // 8 cookies: 1 expired, 7 live of which 4 are kept.
        assert_eq!(removals.len(), 1 + 3);
    }
}

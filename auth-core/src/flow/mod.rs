//! The flows, each a part of [`crate::Auth`]'s work: the callback (with the provider's
//! protocol for the code exchange), the session checked and refreshed on each request,
//! logout (RP-initiated and back-channel), pending logins, and the app's own calls to
//! the provider (client credentials, UserInfo).

/// The values of `names` in `query`, each given at most once and at most `max_len`
/// long; `None` when one is repeated or longer. Other parameters are ignored.
pub(crate) fn once_each<const N: usize>(
    query: &str,
    names: [&str; N],
    max_len: usize,
) -> Option<[Option<String>; N]> {
    let mut values: [Option<String>; N] = std::array::from_fn(|_| None);
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let Some(i) = names.iter().position(|n| *n == k) else {
            continue;
        };
        if values[i].is_some() || v.len() > max_len {
            return None;
        }
        values[i] = Some(v.into_owned());
    }
    Some(values)
}

pub(crate) mod app_token;
pub(crate) mod authenticate;
pub(crate) mod bff;
pub(crate) mod callback;
pub(crate) mod control;
pub(crate) mod health;
pub(crate) mod logout;
pub(crate) mod pending;
pub(crate) mod protocol;
pub(crate) mod refresh;
pub(crate) mod runtime;
pub(crate) mod sign_in;
pub(crate) mod source;

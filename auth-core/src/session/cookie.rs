//! The session cookie's attributes, and the crate's one `Cookie` header parser (the
//! session id and the pending logins are read through it).

use cookie::Cookie;

/// Attributes of the session cookie, the same for every adapter.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct SessionCookie {
    /// `__Host-auth_session` over https, `auth_session` on plain-http loopback.
    pub name: &'static str,
    /// `Secure` (https app URL).
    pub secure: bool,
}

/// The one cookie parser: the (name, value) pairs of `Cookie` header values, at most
/// 64 per header value (what is not UTF-8 or not a cookie is skipped).
///
/// Names are taken as sent, never percent-decoded: a browser enforces the `__Host-`
/// rules (set over https, no `Domain`, `Path=/`) only on a name that starts with
/// `__Host-` literally, so a `%5F%5FHost-auth_session` that a sibling subdomain or a
/// plain-http attacker can plant must not pass for `__Host-auth_session`. Values come
/// as sent too: a caller that needs them decoded decodes the ones it reads (the
/// session id is never encoded, and is found without decoding any value).
pub(crate) fn cookies<'a>(
    values: impl Iterator<Item = &'a [u8]>,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    values
        .filter_map(|raw| std::str::from_utf8(raw).ok())
        .flat_map(|s| Cookie::split_parse(s).flatten().take(64))
        .filter_map(|c| Some((c.name_raw()?, c.value_raw()?)))
}

/// Parses `Cookie` header values into (name, value) pairs, bounded in count, values
/// percent-decoded (the crate writes its pending-login cookies encoded).
pub(crate) fn parse_cookie_headers<'a>(
    values: impl Iterator<Item = &'a [u8]>,
) -> Vec<(String, String)> {
    cookies(values)
        .filter_map(|(name, value)| {
            let value = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .ok()?;
            Some((name.to_owned(), value.into_owned()))
        })
        .collect()
}

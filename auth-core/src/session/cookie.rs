//! The session cookie's attributes, and the crate's one `Cookie` header parser (the
//! session id and the pending logins are read through it).

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
///
/// Each pair is read as the `cookie` crate's `Cookie::split_parse` reads it (pieces
/// between `;`, trimmed, split at the first `=`, name and value trimmed; a piece
/// without `=` or with an empty name skipped), without building a `Cookie` for each:
/// on every signed-in request that was a third of the session check's instructions
/// (PERFORMANCE.md). `cookies_are_read_as_the_cookie_crate_reads_them` holds the two
/// together.
pub(crate) fn cookies<'a>(
    values: impl Iterator<Item = &'a [u8]>,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    values
        .filter_map(|raw| std::str::from_utf8(raw).ok())
        .flat_map(|s| s.split(';').filter_map(pair).take(64))
}

/// One `name=value` piece of a `Cookie` header.
fn pair(piece: &str) -> Option<(&str, &str)> {
    let (name, value) = piece.trim().split_once('=')?;
    let name = name.trim();
    (!name.is_empty()).then(|| (name, value.trim()))
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

#[cfg(test)]
mod parse_tests {
    use super::cookies;

    /// The same pairs as the `cookie` crate's parser, on well-formed and hostile
    /// headers alike (spaces, tabs, empty pieces, no `=`, empty names and values,
    /// quotes, `=` in values, encoded names, non-ASCII whitespace, more than 64).
    #[test]
    fn cookies_are_read_as_the_cookie_crate_reads_them() {
        let many = (0..70)
            .map(|i| format!("c{i}=v{i}"))
            .collect::<Vec<_>>()
            .join("; ");
        let headers = [
            "a=1; b=2",
            "a=1;b=2;;  ; c=3",
            " \t__Host-auth_session = abc \t; x",
            "=nameless; ok=1; novalue=; =; ;",
            "q=\"quoted\"; eq=a=b=c; %5F%5FHost-auth_session=planted",
            "\u{a0}nb=1\u{a0}; \u{2003}em=2",
            "only",
            "",
            many.as_str(),
        ];
        for header in headers {
            let ours: Vec<(&str, &str)> = cookies(std::iter::once(header.as_bytes())).collect();
            let theirs: Vec<(&str, &str)> = cookie::Cookie::split_parse(header)
                .flatten()
                .take(64)
                .filter_map(|c| Some((c.name_raw()?, c.value_raw()?)))
                .collect();
            assert_eq!(ours, theirs, "{header:?}");
        }
    }
}

//! The `Authorization` header, read strictly: one header, `Bearer` or `DPoP`, then a
//! `b64token` (RFC 6750 §2.1, RFC 9449 §7.1), bounded in size.

use super::BearerError;
use crate::auth::Auth;
use crate::jose::MAX_TOKEN_BYTES;

/// The longest `Authorization` header value read.
pub(super) const MAX_AUTHORIZATION_LEN: usize = MAX_TOKEN_BYTES + 16;

/// How an access token is presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `Authorization: Bearer` (RFC 6750).
    Bearer,
    /// `Authorization: DPoP` with a `DPoP` proof header (RFC 9449).
    Dpop,
}

impl Auth {
    /// The access token of a request and how it is presented: `Bearer` (RFC 6750) or
    /// `DPoP` (RFC 9449), from its `Authorization` header values, as
    /// [`Auth::bearer_token`] reads them.
    pub(crate) fn access_credential<'a>(
        mut authorization: impl Iterator<Item = &'a [u8]>,
    ) -> Result<Option<(Scheme, &'a str)>, BearerError> {
        let Some(value) = authorization.next() else {
            return Ok(None);
        };
        if authorization.next().is_some() || value.len() > MAX_AUTHORIZATION_LEN {
            return Err(BearerError::Malformed);
        }
        let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
            Some(i) => (&value[..i], &value[i + 1..]),
            None => (value, &[][..]),
        };
        let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
            Scheme::Bearer
        } else if scheme.eq_ignore_ascii_case(b"dpop") {
            Scheme::Dpop
        } else {
            return Ok(None);
        };
        let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
        let token = &rest[start..];
        let end = token.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
        let body = &token[..end];
        // No early exit: the loop compiles to vector compares (a token is ~1 KB).
        let all_token68 = body.iter().fold(true, |ok, &b| ok & is_token68(b));
        if body.is_empty() || !all_token68 {
            return Err(BearerError::Malformed);
        }
        // Every byte is ASCII by now.
        std::str::from_utf8(token)
            .map(|t| Some((scheme, t)))
            .map_err(|_| BearerError::Malformed)
    }
}

/// A `b64token` character (RFC 6750 §2.1), `=` padding aside.
fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

//! Newtypes for secrets: `Debug` prints `[redacted]`, comparison is constant time.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident, serde) => {
        secret_type!(@def $(#[$meta])* #[derive(Serialize, Deserialize)] #[serde(transparent)] $name);
    };
    ($(#[$meta:meta])* $name:ident) => {
        secret_type!(@def $(#[$meta])* $name);
    };
    (@def $(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value.
            ///
            /// # Security
            /// Never log it, put it in an error message, or send it anywhere but to the
            /// party it is meant for.
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                constant_time_eq(&self.0, &other.0)
            }
        }

        impl Eq for $name {}
    };
}

secret_type!(
    /// The OAuth client secret, used to authenticate at the token endpoint.
    ClientSecret
);
secret_type!(
    /// An OAuth access token, as issued by the provider.
    AccessToken, serde
);
secret_type!(
    /// An OAuth refresh token.
    RefreshToken, serde
);
secret_type!(
    /// A raw (compact JWS) ID token. It is sent back to the provider as `id_token_hint`.
    IdToken, serde
);

/// Constant-time string equality (length is not secret).
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = ClientSecret::new("hunter2-hunter2");
        assert_eq!(format!("{s:?}"), "ClientSecret([redacted])");
        let t = AccessToken::new("abc.def.ghi");
        assert!(!format!("{t:?}").contains("abc"));
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(RefreshToken::new("a"), RefreshToken::new("a"));
        assert_ne!(RefreshToken::new("a"), RefreshToken::new("b"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}

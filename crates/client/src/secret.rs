//! Secret newtypes: the value goes on the wire and into 0600 files, never into logs.
//!
//! Each type has a redacted `Debug`, no `Display` and no `PartialEq`; [`secret`](AccessToken::secret) hands out the
//! value when it must be sent.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                $name(value.into())
            }

            /// The secret value, for putting it on the wire. Never log it.
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                $name(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name(value.to_owned())
            }
        }
    };
}

secret_type!(
    /// A short-lived OAuth access token (usually a JWT) sent as `Authorization: Bearer …`.
    AccessToken
);
secret_type!(
    /// A refresh token: the long-lived "API key" of a device login (AIoD calls it that).
    RefreshToken
);
secret_type!(
    /// The secret of a confidential client (the bot flow).
    ClientSecret
);
secret_type!(
    /// An OpenID Connect ID token.
    IdToken
);
secret_type!(
    /// An API key (seed 003's `APIKeysHandler`).
    ApiKey
);
secret_type!(
    /// A user's password (the `user_password` fetcher).
    Password
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = format!(
            "{:?} {:?}",
            RefreshToken::new("rt-very-secret"),
            ClientSecret::from("cs-very-secret")
        );
        assert!(!s.contains("very-secret"), "{s}");
        assert!(s.contains("RefreshToken(<redacted>)"));
    }
}

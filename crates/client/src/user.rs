//! [`User`]: who is logged in, from the userinfo endpoint or an API endpoint of your own.

use serde::{Deserialize, Serialize};

/// The person (or bot) a token belongs to: AIoD's `User(name=..., roles=(...))`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// `preferred_username` (or `name`, or `sub`).
    pub name: String,
    /// The roles: `roles`, or Keycloak's `realm_access.roles`.
    pub roles: Vec<String>,
    /// The subject identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl User {
    /// Reads a user from userinfo-style JSON claims.
    pub fn from_claims(claims: &serde_json::Value) -> User {
        let s = |k: &str| claims.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let list = |v: Option<&serde_json::Value>| -> Option<Vec<String>> {
            v.and_then(|v| v.as_array()).map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
        };
        let roles = list(claims.get("roles"))
            .or_else(|| list(claims.get("realm_access").and_then(|r| r.get("roles"))))
            .unwrap_or_default();
        User {
            name: s("preferred_username")
                .or_else(|| s("name"))
                .or_else(|| s("sub"))
                .unwrap_or_default(),
            roles,
            sub: s("sub"),
            email: s("email"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_come_from_roles_or_realm_access() {
        let u = User::from_claims(
            &serde_json::json!({"sub":"1","preferred_username":"alice","roles":["user"]}),
        );
        assert_eq!(
            (u.name.as_str(), u.roles.as_slice()),
            ("alice", ["user".to_owned()].as_slice())
        );
        let u = User::from_claims(
            &serde_json::json!({"sub":"1","name":"Bob","realm_access":{"roles":["admin"]}}),
        );
        assert_eq!(
            (u.name.as_str(), u.roles.as_slice()),
            ("Bob", ["admin".to_owned()].as_slice())
        );
    }
}

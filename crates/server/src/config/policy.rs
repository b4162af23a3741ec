//! Checks of the realm settings that bound what tokens may do and how long logins last (issue 11): the role →
//! scopes map, per-client scopes and audiences, session and personal-token lifetimes.

use super::{ConfigError, RealmConfig, invalid};

/// The scope that lets a token use the admin API as an administrator (with the `admin` role).
pub const ADMIN_SCOPE: &str = "admin";
/// The scope a personal API token needs to create further API tokens.
pub const CREATE_TOKEN_SCOPE: &str = "create_token";
/// OpenID's standard scopes: every client may ask for them.
pub const STANDARD_SCOPES: [&str; 5] = ["openid", "profile", "email", "offline_access", "roles"];

pub(super) fn validate_policy(key: &str, realm: &RealmConfig) -> Result<(), ConfigError> {
    realm.rate_limits.validate(key)?;
    for (field, d) in [
        ("session_idle_timeout", realm.session_idle_timeout),
        ("session_max_lifetime", realm.session_max_lifetime),
    ] {
        if d.as_secs() == 0 {
            return Err(invalid(
                format!("{key}.{field}"),
                "must be at least one second",
            ));
        }
    }
    if realm.personal_token_max_lifespan.as_secs() < 86400 {
        return Err(invalid(
            format!("{key}.personal_token_max_lifespan"),
            "must be at least one day",
        ));
    }
    for (role, scopes) in &realm.role_scopes {
        for scope in scopes {
            let known = scope == "*"
                || scope == ADMIN_SCOPE
                || scope == CREATE_TOKEN_SCOPE
                || realm.api_token_scopes.iter().any(|s| &s.name == scope);
            if !known {
                return Err(invalid(
                    format!("{key}.role_scopes.{role}"),
                    format!(
                        "`{scope}` is neither `*`, `admin`, `create_token` nor a scope of api_token_scopes"
                    ),
                ));
            }
        }
    }
    for (j, client) in realm.clients.iter().enumerate() {
        for scope in &client.scopes {
            let known = scope == ADMIN_SCOPE
                || STANDARD_SCOPES.contains(&scope.as_str())
                || realm.scopes.contains(scope)
                || realm.default_scopes.contains(scope);
            if !known {
                return Err(invalid(
                    format!("{key}.clients[{j}].scopes"),
                    format!(
                        "`{scope}` is not a scope of this realm (add it to the realm's `scopes`)"
                    ),
                ));
            }
        }
        for aud in &client.audiences {
            if aud.is_empty() || aud.len() > 255 || aud.chars().any(|c| c.is_whitespace()) {
                return Err(invalid(
                    format!("{key}.clients[{j}].audiences"),
                    format!("`{aud}` must be 1-255 characters without spaces"),
                ));
            }
        }
    }
    Ok(())
}

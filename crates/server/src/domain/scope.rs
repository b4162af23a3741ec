//! Scope strings: resolving a request against the realm's catalogue and the client's allowance, narrowing on
//! refresh, the scopes a user's roles allow (issue 11), and the words a person reads on a consent page.

use keyport_proto::ErrorCode;

use super::{Result, oauth};
use crate::config::{ADMIN_SCOPE, CREATE_TOKEN_SCOPE, STANDARD_SCOPES};
use crate::state::Realm;
use crate::store::Client;

/// Whether `client` may be granted `scope`: OpenID's standard scopes always, others only when the realm knows
/// them and the client's `scopes` list them.
pub fn client_may_have(realm: &Realm, client: &Client, scope: &str) -> bool {
    STANDARD_SCOPES.contains(&scope)
        || (realm.allowed_scopes.contains(scope) && client.scopes.iter().any(|s| s == scope))
}

/// The scopes a request of `client` asks for. Absent or empty: the realm's default scopes that the client may
/// have. A scope the realm does not know, or that the client may not ask for, is `invalid_scope`. Duplicates are
/// dropped, order kept.
pub fn resolve(realm: &Realm, client: &Client, requested: Option<&str>) -> Result<String> {
    let requested = requested.map(str::trim).filter(|s| !s.is_empty());
    let explicit = requested.is_some();
    let mut defaults = realm.config.default_scopes.iter().map(String::as_str);
    let mut asked = requested.into_iter().flat_map(str::split_ascii_whitespace);
    let items: &mut dyn Iterator<Item = &str> = if explicit { &mut asked } else { &mut defaults };
    // Written straight into the answer, sized for all of it: scope lists are a few words, so finding a duplicate in
    // what is written so far is cheaper than a set. (Each item is one scope token, without spaces: requested ones
    // are split at them, configured ones are checked at start-up.)
    let mut out = String::with_capacity(requested.map_or_else(
        || {
            realm
                .config
                .default_scopes
                .iter()
                .map(|s| s.len() + 1)
                .sum()
        },
        str::len,
    ));
    for item in items {
        if !realm.allowed_scopes.contains(item) {
            return Err(oauth(
                ErrorCode::InvalidScope,
                format!("scope `{item}` is not known in this realm"),
            ));
        }
        if !client_may_have(realm, client, item) {
            if !explicit {
                continue;
            }
            return Err(oauth(
                ErrorCode::InvalidScope,
                format!(
                    "client `{}` may not ask for scope `{item}` (see its `scopes`)",
                    client.client_id
                ),
            ));
        }
        if !contains(&out, item) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(item);
        }
    }
    Ok(out)
}

/// `scope` without `item`, order kept.
pub fn without(scope: &str, item: &str) -> String {
    let mut out = String::with_capacity(scope.len());
    for s in scope.split_ascii_whitespace().filter(|s| *s != item) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(s);
    }
    out
}

/// The API-token scopes the holder of `roles` may have, through the realm's `role_scopes` map (`*`: the whole
/// catalogue plus `admin` and `create_token`). Sorted, without duplicates.
pub fn for_roles(realm: &Realm, roles: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for role in roles {
        let Some(scopes) = realm.config.role_scopes.get(role) else {
            continue;
        };
        for scope in scopes {
            if scope == "*" {
                out.extend(realm.config.api_token_scopes.iter().map(|s| s.name.clone()));
                out.push(ADMIN_SCOPE.to_owned());
                out.push(CREATE_TOKEN_SCOPE.to_owned());
            } else {
                out.push(scope.clone());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A scope as a person reads it on a consent page: `admin` in plain words ("full administrative access to realm
/// X"), a scope of the API-token catalogue with its description, any other by its name.
pub fn describe(realm: &Realm, scope: &str) -> String {
    if scope == ADMIN_SCOPE {
        return format!(
            "admin: full administrative access to realm {} (every right your account has there)",
            realm.name
        );
    }
    realm
        .config
        .api_token_scopes
        .iter()
        .find(|s| s.name == scope && !s.description.is_empty())
        .map(|s| format!("{scope}: {}", s.description))
        .unwrap_or_else(|| scope.to_owned())
}

/// On refresh, a client may ask for a subset of the granted scopes (RFC 6749 §6), never more.
pub fn narrow(granted: &str, requested: Option<&str>) -> Result<String> {
    let Some(requested) = requested.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(granted.to_owned());
    };
    let granted: Vec<&str> = granted.split_ascii_whitespace().collect();
    let mut out: Vec<&str> = Vec::new();
    for item in requested.split_ascii_whitespace() {
        if !granted.contains(&item) {
            return Err(oauth(
                ErrorCode::InvalidScope,
                format!("scope `{item}` was not granted to this login"),
            ));
        }
        if !out.contains(&item) {
            out.push(item);
        }
    }
    Ok(out.join(" "))
}

pub fn contains(scope: &str, item: &str) -> bool {
    scope.split_ascii_whitespace().any(|s| s == item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RealmConfig;

    fn realm() -> Realm {
        let mut c = RealmConfig::named("r");
        c.scopes = vec!["models:read".into(), "models:write".into()];
        c.role_scopes
            .insert("user".into(), vec!["read_user_session".into()]);
        Realm::new(c, "http://x", "")
    }

    fn client(scopes: &[&str]) -> Client {
        Client {
            realm: "r".into(),
            client_id: "c".into(),
            secret_hash: None,
            public: true,
            grants: vec![],
            roles: vec![],
            rotation: crate::config::Rotation::Strict,
            access_token_alg: None,
            id_token_alg: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            audiences: vec![],
            browser: Default::default(),
        }
    }

    #[test]
    fn resolve_cases() {
        let r = realm();
        let c = client(&["models:read"]);
        let check = |input: Option<&str>, expected: std::result::Result<&str, ErrorCode>| {
            let got = resolve(&r, &c, input).map_err(|e| match e {
                super::super::Error::OAuth { code, .. } => code,
                other => panic!("{other}"),
            });
            assert_eq!(got.as_deref().map_err(|c| *c), expected, "{input:?}");
        };
        check(None, Ok("openid profile email"));
        check(Some("  "), Ok("openid profile email"));
        check(Some("openid models:read openid"), Ok("openid models:read"));
        check(Some("openid admin:all"), Err(ErrorCode::InvalidScope));
        // Known in the realm, but not this client's.
        check(Some("openid models:write"), Err(ErrorCode::InvalidScope));
        check(Some("admin"), Err(ErrorCode::InvalidScope));
        let admin_client = client(&["admin"]);
        assert_eq!(
            resolve(&r, &admin_client, Some("openid admin")).unwrap(),
            "openid admin"
        );
    }

    #[test]
    fn without_drops_every_copy_of_one_item_and_keeps_the_order() {
        assert_eq!(without("openid profile email", "openid"), "profile email");
        assert_eq!(
            without("profile openid email openid", "openid"),
            "profile email"
        );
        assert_eq!(without("openid", "openid"), "");
        assert_eq!(without("openidx profile", "openid"), "openidx profile");
    }

    #[test]
    fn roles_map_to_scopes() {
        let r = realm();
        assert_eq!(for_roles(&r, &["user".into()]), vec!["read_user_session"]);
        assert!(for_roles(&r, &["nobody".into()]).is_empty());
        let all = for_roles(&r, &["admin".into(), "user".into()]);
        assert!(all.contains(&"admin".to_owned()) && all.contains(&"read_all_session".to_owned()));
        assert!(all.contains(&"create_token".to_owned()));
        assert!(describe(&r, "admin").contains("full administrative access to realm r"));
    }

    #[test]
    fn narrow_allows_subsets_only() {
        assert_eq!(narrow("openid profile", None).unwrap(), "openid profile");
        assert_eq!(
            narrow("openid profile", Some("profile")).unwrap(),
            "profile"
        );
        assert!(narrow("openid profile", Some("email")).is_err());
    }
}

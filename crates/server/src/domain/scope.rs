//! Scope strings: resolving a request against the realm's catalogue and narrowing on refresh.

use keyport_proto::ErrorCode;

use super::{Result, oauth};
use crate::state::Realm;

/// The scopes a request asks for: the realm's default scopes when absent or empty; an unknown scope is
/// `invalid_scope`. Duplicates are dropped, order kept.
pub fn resolve(realm: &Realm, requested: Option<&str>) -> Result<String> {
    let requested = requested.map(str::trim).filter(|s| !s.is_empty());
    let items: Vec<&str> = match requested {
        None => realm
            .config
            .default_scopes
            .iter()
            .map(String::as_str)
            .collect(),
        Some(s) => s.split_ascii_whitespace().collect(),
    };
    let mut out: Vec<&str> = Vec::new();
    for item in items {
        if !realm.allowed_scopes.contains(item) {
            return Err(oauth(
                ErrorCode::InvalidScope,
                format!("scope `{item}` is not known in this realm"),
            ));
        }
        if !out.contains(&item) {
            out.push(item);
        }
    }
    Ok(out.join(" "))
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
        c.scopes = vec!["models:read".into()];
        Realm::new(c, "http://x", "")
    }

    #[test]
    fn resolve_cases() {
        let r = realm();
        let check = |input: Option<&str>, expected: std::result::Result<&str, ErrorCode>| {
            let got = resolve(&r, input).map_err(|e| match e {
                super::super::Error::OAuth { code, .. } => code,
                other => panic!("{other}"),
            });
            assert_eq!(got.as_deref().map_err(|c| *c), expected, "{input:?}");
        };
        check(None, Ok("openid profile email"));
        check(Some("  "), Ok("openid profile email"));
        check(Some("openid models:read openid"), Ok("openid models:read"));
        check(Some("openid admin:all"), Err(ErrorCode::InvalidScope));
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

//! Table-driven unit tests of the admin authorisation, paging and lifespan rules.

use super::*;

fn caller(roles: &[&str], credential: Credential) -> Caller {
    Caller {
        realm: "aiod".into(),
        user_id: "u1".into(),
        username: "someone".into(),
        email: None,
        roles: roles.iter().map(|r| r.to_string()).collect(),
        user_type: Some(UserType::Person),
        credential,
    }
}

fn api(unscoped: bool, scopes: &[&str]) -> Credential {
    Credential::ApiToken {
        token_id: "t1".into(),
        unscoped,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        expires_at: 0,
    }
}

fn jwt(scopes: &[&str]) -> Credential {
    Credential::AccessToken {
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    }
}

/// One row per kind of caller: (roles, credential) → (admin?, full rights?, may use revoke_user_token?).
#[test]
fn who_is_an_admin_and_who_may_revoke() {
    let check = |roles: &[&str], cred: Credential, want: (bool, bool, bool)| {
        let c = caller(roles, cred.clone());
        assert_eq!(
            (c.is_admin(), c.full_rights(), c.has_scope(REVOKE_SCOPE)),
            want,
            "{roles:?} {cred:?}"
        );
    };
    // The admin role needs the admin scope in the credential (issue 11, item 4).
    check(&["admin"], jwt(&["openid", "admin"]), (true, true, false));
    check(&["admin"], jwt(&["openid"]), (false, true, false));
    check(&["user"], jwt(&["admin"]), (false, true, false));
    // A personal token's scopes are what its user's roles allow (computed at authentication).
    check(
        &["admin"],
        api(true, &["admin", REVOKE_SCOPE]),
        (true, true, true),
    );
    check(&["admin"], api(true, &[]), (false, true, false));
    check(&["user"], api(true, &[]), (false, true, false));
    // A scoped token is never an admin, even for an admin user with the admin scope.
    check(
        &["admin"],
        api(false, &["cli", "admin"]),
        (false, false, false),
    );
    check(&["user"], api(false, &[REVOKE_SCOPE]), (false, false, true));
}

#[test]
fn paging_is_bounded() {
    let check = |first, max, want: Option<(i64, i64)>| {
        assert_eq!(page(first, max).ok(), want, "{first:?} {max:?}");
    };
    check(None, None, Some((0, DEFAULT_PAGE)));
    check(Some(5), Some(10), Some((5, 10)));
    check(Some(0), Some(MAX_PAGE), Some((0, MAX_PAGE)));
    check(Some(-1), None, None);
    check(None, Some(0), None);
    check(None, Some(MAX_PAGE + 1), None);
}

#[test]
fn lifespans_default_and_are_capped() {
    let mut config = crate::config::RealmConfig::named("aiod");
    config.api_token_max_lifespan = std::time::Duration::from_secs(10 * 86400);
    config.api_token_default_lifespan = std::time::Duration::from_secs(3 * 86400);
    let realm = Realm::new(config, "http://x", "");
    let check = |days: Option<u32>, personal: bool, want: Option<i64>| {
        assert_eq!(lifespan_secs(&realm, days, personal).ok(), want, "{days:?}");
    };
    check(None, false, Some(3 * 86400));
    check(Some(1), false, Some(86400));
    check(Some(10), false, Some(10 * 86400));
    check(Some(11), false, None);
    check(Some(0), false, None);
    // Personal tokens: up to personal_token_max_lifespan (default 90 days).
    check(Some(90), true, Some(90 * 86400));
    check(Some(91), true, None);
    check(None, true, Some(3 * 86400));
}

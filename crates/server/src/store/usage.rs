//! The two statements of a usage flush ([`TokenStore::record_usage`](super::TokenStore::record_usage)): the audit
//! rows of a batch of API-token uses, and each token's `last_used_at`.
//!
//! Each is one fixed statement with one bound parameter, a JSON array of rows (each row itself an array), whatever
//! the batch size: the driver prepares it once per connection and caches it, and binds one value instead of eight
//! a row (the multi-row `VALUES` it replaces had a new statement text for every batch size). The SQL differs per
//! backend (SQLite's `json_each`, PostgreSQL's `json_array_elements`); the JSON is the same.

use super::AuditRecord;

/// A backend's statements; `$1` is the JSON text made by [`audit_rows`] or [`last_used_rows`].
pub struct UsageSql {
    pub insert_audit: &'static str,
    pub touch_tokens: &'static str,
}

/// SQLite: `json_each` yields the elements in array order, so the rows get ascending ids in the order served.
pub const SQLITE: UsageSql = UsageSql {
    insert_audit: "INSERT INTO audit_log (at, realm, actor_user_id, token_id, action, target, outcome, detail) \
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, \
         value ->> 7 FROM json_each($1)",
    touch_tokens: "UPDATE api_tokens SET last_used_at = u.value ->> 1 FROM json_each($1) AS u \
         WHERE api_tokens.id = u.value ->> 0 \
         AND (api_tokens.last_used_at IS NULL OR api_tokens.last_used_at < u.value ->> 1)",
};

/// PostgreSQL: `WITH ORDINALITY … ORDER BY` keeps the order served for the `BIGSERIAL` ids.
pub const POSTGRES: UsageSql = UsageSql {
    insert_audit: "INSERT INTO audit_log (at, realm, actor_user_id, token_id, action, target, outcome, detail) \
         SELECT (e ->> 0)::BIGINT, e ->> 1, e ->> 2, e ->> 3, e ->> 4, e ->> 5, e ->> 6, e ->> 7 \
         FROM json_array_elements($1::JSON) WITH ORDINALITY AS r(e, n) ORDER BY n",
    touch_tokens: "UPDATE api_tokens AS t SET last_used_at = u.at \
         FROM (SELECT e ->> 0 AS id, (e ->> 1)::BIGINT AS at FROM json_array_elements($1::JSON) AS e) AS u \
         WHERE t.id = u.id AND (t.last_used_at IS NULL OR t.last_used_at < u.at)",
};

/// `[[at, realm, actor_user_id, token_id, action, target, outcome, detail], …]` (absent values are `null`).
pub fn audit_rows(audit: &[AuditRecord]) -> String {
    let rows: Vec<_> = audit
        .iter()
        .map(|e| {
            (
                e.at,
                &e.realm,
                &e.actor_user_id,
                &e.token_id,
                &e.action,
                &e.target,
                &e.outcome,
                &e.detail,
            )
        })
        .collect();
    serde_json::to_string(&rows).expect("strings and integers serialise")
}

/// `[[token_id, at], …]`.
pub fn last_used_rows(last_used: &[(String, i64)]) -> String {
    serde_json::to_string(last_used).expect("strings and integers serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_arrays_in_column_order_with_nulls() {
        let e = AuditRecord {
            id: 99,
            at: 5,
            realm: "r".into(),
            actor_user_id: None,
            token_id: Some("t\"1".into()),
            action: "token.introspect".into(),
            target: Some("ü\n".into()),
            outcome: "success".into(),
            detail: None,
        };
        assert_eq!(
            audit_rows(&[e]),
            r#"[[5,"r",null,"t\"1","token.introspect","ü\n","success",null]]"#
        );
        assert_eq!(audit_rows(&[]), "[]");
        assert_eq!(last_used_rows(&[("t".into(), 7)]), r#"[["t",7]]"#);
    }
}

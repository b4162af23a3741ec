//! The shapes of the list queries of the admin API and the portal (issue 12): filters, and paging by offset
//! (`first`, Keycloak-style) or by keyset (`after`/`before`: the sort key of the last row of the previous page,
//! so a page deep in a million rows costs what the first one does). Indexes of migration 0010 serve each.

use super::UserType;

/// Personal (unscoped) or scoped API tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Personal,
    Scoped,
}

/// A page of the API tokens of one realm, newest first (`created_at DESC, id DESC`); `None` fields do not filter.
///
/// Two ways to page, over the same query: `first` (an offset: the admin API's Keycloak-style paging) or `after`
/// (keyset: the `(created_at, id)` of the last token of the previous page, which costs the same however deep the
/// page is; the portal's paging). Indexes of migration 0010 serve every combination.
#[derive(Clone, Debug, Default)]
pub struct TokenQuery {
    pub realm: String,
    pub user_id: Option<String>,
    pub kind: Option<TokenKind>,
    pub after: Option<(i64, String)>,
    pub first: i64,
    pub max: i64,
}

/// A page of the users of one realm, ordered by username. `search` matches a part of the username or email,
/// ignoring ASCII case; `after` is the last username of the previous page (keyset), `first` an offset.
#[derive(Clone, Debug, Default)]
pub struct UserQuery {
    pub realm: String,
    pub search: Option<String>,
    pub user_type: Option<UserType>,
    pub after: Option<String>,
    pub first: i64,
    pub max: i64,
}

/// A filter over the audit log of one realm, newest first (`at DESC, id DESC`); `None` fields do not filter.
/// Paged by `first` (offset) or `before` (keyset: the `(at, id)` of the last entry of the previous page).
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub realm: String,
    pub actor_user_id: Option<String>,
    pub token_id: Option<String>,
    pub action: Option<String>,
    /// Inclusive, Unix seconds.
    pub since: Option<i64>,
    /// Inclusive, Unix seconds.
    pub until: Option<i64>,
    pub before: Option<(i64, i64)>,
    pub first: i64,
    pub max: i64,
}

/// `text` with LIKE's wildcards escaped (`\` is the escape character).
pub(crate) fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

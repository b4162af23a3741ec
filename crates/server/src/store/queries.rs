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

/// The row counts of a multi-row INSERT (the SQLite usage flush's), largest first. A batch of any size is cut into
/// statements of these sizes only ([`in_insert_shapes`]), so a connection prepares at most these few SQL texts
/// and keeps them in its statement cache. Cut any other way, nearly every batch has a row count of its own and so
/// a new text: preparing it (parsing thousands of placeholders) was 5-7% of an API-token introspection's
/// instructions (callgrind, BENCHMARKS.md). 512 rows of 8 parameters stay far below SQLite's limit on bound
/// parameters (32,766). PostgreSQL binds each column as one array instead (`postgres::insert_audit_rows`).
pub(crate) const INSERT_SHAPES: [usize; 4] = [512, 64, 8, 1];

/// `rows` cut into consecutive chunks whose lengths are all in [`INSERT_SHAPES`], largest first.
pub(crate) fn in_insert_shapes<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        let shape = INSERT_SHAPES.into_iter().find(|&n| n <= rest.len())?;
        let (chunk, tail) = rest.split_at(shape);
        rest = tail;
        Some(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_cut_into_the_fixed_shapes_in_order_and_nothing_is_lost() {
        for len in [
            0, 1, 7, 8, 9, 63, 64, 65, 511, 512, 513, 1000, 2000, 2047, 200_000,
        ] {
            let rows: Vec<usize> = (0..len).collect();
            let chunks: Vec<&[usize]> = in_insert_shapes(&rows).collect();
            assert!(
                chunks.iter().all(|c| INSERT_SHAPES.contains(&c.len())),
                "{len}"
            );
            assert!(
                chunks.windows(2).all(|w| w[0].len() >= w[1].len()),
                "{len}: largest first"
            );
            assert_eq!(chunks.concat(), rows, "{len}: every row once, in order");
            // Fewer than 8 chunks of each smaller shape: a flush of 2,000 uses is 12 statements.
            assert!(chunks.len() <= len / 512 + 3 * 7, "{len}");
        }
        let sizes = |len: usize| {
            in_insert_shapes(&vec![(); len])
                .map(<[()]>::len)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            sizes(2000),
            [512, 512, 512, 64, 64, 64, 64, 64, 64, 64, 8, 8]
        );
        assert_eq!(sizes(3), [1, 1, 1]);
    }
}

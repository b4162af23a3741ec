//! The usage flush on SQLite ([`super::TokenStore::record_usage`]): a batch of API-token uses' audit rows and
//! `last_used_at` updates, written in one transaction through the pool connection's own SQLite handle.
//!
//! sqlx-sqlite 0.8 runs each statement on the connection's worker thread and copies every bound string twice
//! on the way (`SqliteArguments::into_static` into an owned `String` on the caller's thread, then SQLite's own
//! copy), frees both there and clears the bindings after each statement: ~6,800 instructions of an audit row
//! (BENCHMARKS.md, seventeenth and eighteenth passes). Here the flush locks the connection
//! (`SqliteConnection::lock_handle`, so sqlx's worker makes no call on it meanwhile) and, through
//! [`super::sqlite_raw`], binds each row's borrowed strings in place (`SQLITE_STATIC`: no copy, not even SQLite's;
//! nineteenth pass) into statements it prepares once per flush.

use sqlx::SqlitePool;

use super::cancel::CloseIfCancelled;
use super::sqlite_raw::{Db, Statement};
use super::{AuditRow, Result, StoreError, db_err};

/// Writes `audit` and moves each token of `last_used` forward to its time, in one transaction. On any error
/// nothing is written; a connection left inside a transaction, or one whose write was cancelled midway, is
/// closed instead of going back to the pool.
pub(super) async fn record_usage(
    pool: &SqlitePool,
    audit: &[AuditRow<'_>],
    last_used: &[(String, i64)],
) -> Result<()> {
    let mut conn = CloseIfCancelled::new(pool.acquire().await.map_err(db_err)?);
    let mut handle = conn.get().lock_handle().await.map_err(db_err)?;
    let raw = handle.as_raw_handle();
    let (written, clean) = blocking(|| {
        // SAFETY: while `handle` is held, sqlx's worker thread makes no call on this connection or its statements
        // (`LockedSqliteHandle::as_raw_handle`), so this thread is the handle's only user. `db` and the
        // statements prepared through it (finalized when dropped) are dropped in this closure, before `handle`.
        let db = unsafe { Db::new(raw) };
        let written = db.transaction(|db| write(db, audit, last_used));
        // Should even the rollback have failed, the connection is closed, not returned to the pool: sqlx would
        // take it for one outside a transaction.
        (written, db.is_autocommit())
    });
    drop(handle);
    if clean {
        conn.finished();
    }
    written.map_err(|e| StoreError::Database(format!("writing API-token uses: {e}")))
}

/// Runs `f`, which blocks on SQLite: on a multi-thread runtime through `block_in_place`, so this worker's other
/// tasks move to another thread meanwhile (measured: less CPU than running it in place, BENCHMARKS.md); on a
/// current-thread runtime (the tests') in place. Not for a `LocalSet` on a multi-thread runtime, where
/// `block_in_place` panics: no flush runs in one (`UsageLog` writes from tasks of its own).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// The statements of the flush's transaction. Each is finalized when this returns, before the COMMIT.
fn write<'v>(
    db: &Db,
    audit: &'v [AuditRow<'v>],
    last_used: &'v [(String, i64)],
) -> super::sqlite_raw::Result<()> {
    // Each shape's INSERT is prepared on its first chunk and bound again for the next ones.
    let mut inserts: [Option<Statement<'_, 'v>>; INSERT_SHAPES.len()] = Default::default();
    for (shape, chunk) in in_insert_shapes(audit) {
        let insert = match &mut inserts[shape] {
            Some(insert) => insert,
            empty => empty.insert(db.prepare(&INSERT_TEXTS[shape])?),
        };
        for (n, e) in chunk.iter().enumerate() {
            let first = 8 * n + 1;
            insert.bind_int(first, e.at)?;
            insert.bind_text(first + 1, Some(e.realm))?;
            insert.bind_text(first + 2, e.actor_user_id)?;
            insert.bind_text(first + 3, e.token_id)?;
            insert.bind_text(first + 4, Some(e.action))?;
            insert.bind_text(first + 5, e.target)?;
            insert.bind_text(first + 6, Some(e.outcome))?;
            insert.bind_text(first + 7, e.detail)?;
        }
        insert.run()?;
    }
    let mut touch = db.prepare(super::tokens::TOUCH_LAST_USED)?;
    for (id, at) in last_used {
        touch.bind_int(1, *at)?;
        touch.bind_text(2, Some(id))?;
        touch.run()?;
    }
    Ok(())
}

/// The INSERT texts of [`INSERT_SHAPES`], made once (on the first flush), not at every flush's prepare.
static INSERT_TEXTS: std::sync::LazyLock<[String; INSERT_SHAPES.len()]> =
    std::sync::LazyLock::new(|| INSERT_SHAPES.map(insert_audit_text));

/// The INSERT of `rows` audit rows. `OR FAIL`: a row refused midway leaves the statement's earlier rows in place
/// instead of undoing them, so SQLite keeps no statement journal for it (with the default `ABORT`, the NOT NULL
/// columns made every multi-row INSERT copy each page it changed into one: ~11% of the flush's instructions,
/// BENCHMARKS.md, twenty-first pass). Nothing is lost by it: any error rolls the flush's whole transaction back.
fn insert_audit_text(rows: usize) -> String {
    const ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?)";
    let mut sql = String::from(
        "INSERT OR FAIL INTO audit_log (at, realm, actor_user_id, token_id, action, target, outcome, detail) VALUES ",
    );
    sql.push_str(ROW);
    for _ in 1..rows {
        sql.push_str(", ");
        sql.push_str(ROW);
    }
    sql
}

/// The row counts of the flush's multi-row INSERTs, largest first. A batch of any size is cut into statements of
/// these sizes only ([`in_insert_shapes`]), so a flush prepares at most these three INSERTs (and the UPDATE):
/// preparing a text of thousands of placeholders is costly (it was 5-7% of an API-token introspection's
/// instructions when nearly every flush had a row count, and so a text, of its own; callgrind, BENCHMARKS.md).
/// The texts are prepared once per flush, so the largest is kept small (64 rows, 512 placeholders) and a flush of
/// 2,000 uses runs 33 statements. All far below SQLite's limit on bound parameters.
const INSERT_SHAPES: [usize; 3] = [64, 8, 1];

/// `rows` cut into consecutive chunks whose lengths are all in [`INSERT_SHAPES`], largest first, each with the
/// index of its shape.
fn in_insert_shapes<T>(rows: &[T]) -> impl Iterator<Item = (usize, &[T])> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        let shape = INSERT_SHAPES.iter().position(|&n| n <= rest.len())?;
        let (chunk, tail) = rest.split_at(INSERT_SHAPES[shape]);
        rest = tail;
        Some((shape, chunk))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_insert_text_has_eight_placeholders_a_row() {
        for rows in INSERT_SHAPES {
            let sql = insert_audit_text(rows);
            assert_eq!(sql.matches('?').count(), 8 * rows, "{rows}");
            assert_eq!(
                sql.matches('(').count(),
                1 + rows,
                "{rows}: the column list and one tuple a row"
            );
        }
    }

    /// Each statement has exactly the parameters the flush binds (SQLite leaves any other NULL, silently).
    #[test]
    fn the_flush_s_statements_take_the_parameters_it_binds() {
        let memory = super::super::sqlite_raw::Memory::open();
        let db = memory.db();
        db.exec(c"CREATE TABLE api_tokens (id TEXT, last_used_at INTEGER)")
            .unwrap();
        db.exec(
            c"CREATE TABLE audit_log (at, realm, actor_user_id, token_id, action, target, outcome, detail)",
        )
        .unwrap();
        for (shape, rows) in INSERT_SHAPES.iter().enumerate() {
            let insert = db.prepare(&INSERT_TEXTS[shape]).unwrap();
            assert_eq!(insert.parameter_count(), 8 * rows);
        }
        let touch = db.prepare(super::super::tokens::TOUCH_LAST_USED).unwrap();
        assert_eq!(touch.parameter_count(), 2);
    }

    #[test]
    fn a_batch_is_cut_into_the_fixed_shapes_in_order_and_nothing_is_lost() {
        for len in [
            0, 1, 7, 8, 9, 63, 64, 65, 511, 512, 513, 1000, 2000, 2047, 200_000,
        ] {
            let rows: Vec<usize> = (0..len).collect();
            let shaped: Vec<(usize, &[usize])> = in_insert_shapes(&rows).collect();
            assert!(
                shaped.iter().all(|(s, c)| INSERT_SHAPES[*s] == c.len()),
                "{len}: each chunk's shape index names its length"
            );
            let chunks: Vec<&[usize]> = shaped.into_iter().map(|(_, c)| c).collect();
            assert!(
                chunks.windows(2).all(|w| w[0].len() >= w[1].len()),
                "{len}: largest first"
            );
            assert_eq!(chunks.concat(), rows, "{len}: every row once, in order");
            // Fewer than 8 chunks of each smaller shape.
            assert!(chunks.len() <= len / 64 + 2 * 7, "{len}");
        }
        let sizes = |len: usize| {
            in_insert_shapes(&vec![(); len])
                .map(|(_, c)| c.len())
                .collect::<Vec<_>>()
        };
        let mut of_2000 = vec![64; 31];
        of_2000.extend([8, 8]);
        assert_eq!(sizes(2000), of_2000);
        assert_eq!(sizes(3), [1, 1, 1]);
    }

    /// The audit rows of realm `r` the store holds, oldest first.
    async fn stored(store: &super::super::SqliteStore) -> Vec<String> {
        use super::super::{AuditQuery, TokenStore};
        let query = AuditQuery {
            realm: "r".into(),
            max: 1_000,
            ..Default::default()
        };
        let mut rows = store.list_audit(&query).await.unwrap();
        rows.reverse();
        rows.into_iter().map(|e| e.action).collect()
    }

    /// `n` audit rows of realm `r`, actions `use.0` … in order, each with the detail `detail` gives its index.
    fn uses(n: i64, detail: impl Fn(i64) -> Option<String>) -> Vec<super::super::AuditRecord> {
        (0..n)
            .map(|i| super::super::AuditRecord {
                at: i,
                realm: "r".into(),
                action: format!("use.{i}"),
                outcome: "success".into(),
                detail: detail(i),
                ..Default::default()
            })
            .collect()
    }

    /// Marks the pool's one connection with a temporary table, which only that connection can see.
    async fn mark_the_connection(store: &super::super::SqliteStore) {
        sqlx::query("CREATE TEMP TABLE mark (x INTEGER)")
            .execute(store.pool())
            .await
            .unwrap();
    }

    /// The marked connection is back in the pool (it still has the mark), outside any transaction: a transaction
    /// of sqlx's own works on it.
    async fn the_marked_connection_serves_on(store: &super::super::SqliteStore) {
        let mut tx = store.pool().begin().await.unwrap();
        sqlx::query("INSERT INTO temp.mark (x) VALUES (1)")
            .execute(&mut *tx)
            .await
            .expect("the connection that wrote the batch, with its temporary table");
        tx.commit().await.unwrap();
    }

    /// On the multi-thread runtime the server runs on, so that the write goes through `block_in_place`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_that_fails_midway_writes_nothing_and_the_connection_serves_on() {
        // 100 rows: a statement of 64, then 8s and 1s. Row 99 is refused alone in the last statement, after the
        // others have written theirs; row 30 in the middle of the first one, by FAIL, which (as the INSERT's own
        // `OR FAIL`) leaves that statement's first 30 rows written: the flush's rollback must take them back.
        for (refused, raise) in [(99, "ABORT"), (30, "FAIL")] {
            fails_midway(refused, raise).await;
        }
    }

    async fn fails_midway(refused: i64, raise: &str) {
        use super::super::{AuditRecord, SqliteStore, TokenStore};
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let batch = uses(100, |i| (i == refused).then(|| "refused".into()));
        // The trigger is created from a connection of the test's own.
        let mut side = crate::store::second_sqlite_connection(dir.path()).await;
        sqlx::query(&format!(
            "CREATE TRIGGER refuse BEFORE INSERT ON audit_log WHEN NEW.detail = 'refused' \
             BEGIN SELECT RAISE({raise}, 'refused by the test'); END"
        ))
        .execute(&mut side)
        .await
        .unwrap();
        mark_the_connection(&store).await;
        let failed = store.record_usage(&AuditRecord::rows(&batch), &[]).await;
        let message = failed.unwrap_err().to_string();
        assert!(
            message.contains("refused by the test"),
            "{raise}: {message}"
        );
        assert!(
            stored(&store).await.is_empty(),
            "{raise} at row {refused}: nothing of the batch is written"
        );
        the_marked_connection_serves_on(&store).await;
        sqlx::query("DROP TRIGGER refuse")
            .execute(&mut side)
            .await
            .unwrap();
        store
            .record_usage(&AuditRecord::rows(&batch), &[])
            .await
            .unwrap();
        let wanted: Vec<String> = (0..100).map(|i| format!("use.{i}")).collect();
        assert_eq!(
            stored(&store).await,
            wanted,
            "{raise}: every row once, in order"
        );
    }

    /// A disk that fills in the middle of a flush: SQLite answers SQLITE_FULL inside a multi-row INSERT and, the
    /// INSERT being `OR FAIL` (no statement journal to undo it alone), rolls the whole transaction back itself.
    /// The flush reports it, writes nothing and hands its connection back outside any transaction, where sqlx
    /// works on as before: what kept `OR FAIL` out in the ninth pass, when the flush went through sqlx, whose own
    /// ROLLBACK then failed and left its transaction depth wrong.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_disk_full_midway_writes_nothing_and_the_connection_serves_on() {
        use super::super::{AuditRecord, SqliteStore, TokenStore};
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let count = || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM audit_log")
                .fetch_one(store.pool())
                .await
                .unwrap()
        };
        // The pool's one connection may grow the file by 4 pages; the batch (~700 KB) needs far more.
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(store.pool())
            .await
            .unwrap();
        sqlx::query(&format!("PRAGMA max_page_count = {}", pages + 4))
            .execute(store.pool())
            .await
            .unwrap();
        let batch = uses(2_000, |_| Some("x".repeat(300)));
        mark_the_connection(&store).await;
        let failed = store.record_usage(&AuditRecord::rows(&batch), &[]).await;
        let message = failed.unwrap_err().to_string();
        assert!(message.contains("full"), "{message}");
        assert_eq!(count().await, 0, "nothing of the batch is written");
        the_marked_connection_serves_on(&store).await;
        sqlx::query("PRAGMA max_page_count = 1073741823")
            .execute(store.pool())
            .await
            .unwrap();
        store
            .record_usage(&AuditRecord::rows(&batch), &[])
            .await
            .unwrap();
        assert_eq!(count().await, 2_000, "every row once");
    }
}

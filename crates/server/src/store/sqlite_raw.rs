//! The few SQLite C calls the usage flush ([`super::sqlite_usage`]) makes itself, on the handle of a pool
//! connection locked from sqlx: a transaction, and statements whose text parameters are bound without a copy.
//!
//! sqlx, and rusqlite before this module, hand SQLite every string as `SQLITE_TRANSIENT`: SQLite allocates a copy
//! of each, and frees it when the parameter is bound again or the statement is finalized. A flush binds seven
//! strings an audit row, all borrowed from the buffered uses, which outlive every statement of the flush, so here
//! they are bound as `SQLITE_STATIC`: SQLite reads them where they are. [`Statement`]'s second lifetime makes that
//! hold by type: a string bound to a statement outlives it.

use std::ffi::{CStr, c_int};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use libsqlite3_sys as ffi;

/// What SQLite said went wrong: `sqlite3_errmsg` of the failed call.
pub(super) type Result<T> = std::result::Result<T, String>;

/// A connection handle this thread has to itself for a while. Not owned: never closed here.
pub(super) struct Db(NonNull<ffi::sqlite3>);

impl Db {
    /// # Safety
    /// `raw` is an open SQLite connection, and nothing else makes a call on it, or on any statement of it, while
    /// the returned `Db` or a [`Statement`] prepared through it lives.
    pub(super) unsafe fn new(raw: NonNull<ffi::sqlite3>) -> Db {
        Db(raw)
    }

    /// Runs `sql`, statements without parameters or rows (`BEGIN`, `COMMIT`, `ROLLBACK`).
    pub(super) fn exec(&self, sql: &CStr) -> Result<()> {
        // SAFETY: an open handle this thread alone uses (`Db::new`); `sql` is NUL-terminated; no callback, and no
        // error string to free (the message is read with `sqlite3_errmsg`).
        let rc = unsafe {
            ffi::sqlite3_exec(
                self.0.as_ptr(),
                sql.as_ptr(),
                None,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        self.check(rc)
    }

    /// Runs `f` in a transaction: `BEGIN`, then `COMMIT` if `f` succeeds. If `f` or the `COMMIT` fails, the
    /// transaction is rolled back (unless SQLite already did) and the first error returned; should even the
    /// rollback fail, [`Db::is_autocommit`] says so. Statements `f` prepares must be dropped inside it: SQLite
    /// refuses to commit while one is still running.
    pub(super) fn transaction<T>(&self, f: impl FnOnce(&Db) -> Result<T>) -> Result<T> {
        self.exec(c"BEGIN")?;
        let done = f(self).and_then(|value| self.exec(c"COMMIT").map(|()| value));
        if done.is_err() && !self.is_autocommit() {
            // The error to report is the first one.
            let _ = self.exec(c"ROLLBACK");
        }
        done
    }

    /// Whether the connection is outside any transaction.
    pub(super) fn is_autocommit(&self) -> bool {
        // SAFETY: an open handle this thread alone uses (`Db::new`).
        unsafe { ffi::sqlite3_get_autocommit(self.0.as_ptr()) != 0 }
    }

    /// Prepares `sql`, which holds one statement (text after it, other than blanks, is an error).
    pub(super) fn prepare<'v>(&self, sql: &str) -> Result<Statement<'_, 'v>> {
        let len = c_int::try_from(sql.len()).map_err(|_| "statement text too long".to_owned())?;
        let mut raw = ptr::null_mut();
        let mut tail = ptr::null();
        // SAFETY: an open handle this thread alone uses; SQLite reads `len` bytes of `sql` (which need no NUL),
        // writes the new statement, or null, to `raw` and, to `tail`, where in `sql` the first statement ended.
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(
                self.0.as_ptr(),
                sql.as_ptr().cast(),
                len,
                &mut raw,
                &mut tail,
            )
        };
        // Made first, so that a statement is finalized whatever follows (SQLite returns none on an error).
        let statement = NonNull::new(raw).map(|raw| Statement {
            db: self,
            raw,
            values: PhantomData,
        });
        self.check(rc)?;
        let statement = statement.ok_or_else(|| "empty statement text".to_owned())?;
        let used = (tail as usize).saturating_sub(sql.as_ptr() as usize);
        match sql.get(used..).map(str::trim) {
            Some(rest) if !rest.is_empty() => Err(format!("more than one statement: `{rest}`")),
            _ => Ok(statement),
        }
    }

    fn check(&self, rc: c_int) -> Result<()> {
        if rc == ffi::SQLITE_OK {
            return Ok(());
        }
        // SAFETY: an open handle this thread alone uses; the message is copied before any other call on it.
        let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.0.as_ptr())) };
        Err(message.to_string_lossy().into_owned())
    }
}

/// A prepared statement whose text parameters point into strings that live for `'v`: SQLite reads them without a
/// copy (`SQLITE_STATIC`) until they are bound again or the statement is finalized, when it is dropped. Never leak
/// one (`mem::forget`): its strings would no longer be held to outlive it, and sqlx could not close a connection
/// with a statement left open on it.
pub(super) struct Statement<'db, 'v> {
    db: &'db Db,
    raw: NonNull<ffi::sqlite3_stmt>,
    values: PhantomData<&'v str>,
}

impl<'v> Statement<'_, 'v> {
    /// How many parameters the statement has (the largest index): for tests, which check each constant text
    /// the flush binds.
    #[cfg(test)]
    pub(super) fn parameter_count(&self) -> usize {
        // SAFETY: a live statement of a handle this thread alone uses.
        let n = unsafe { ffi::sqlite3_bind_parameter_count(self.raw.as_ptr()) };
        usize::try_from(n).unwrap_or(0)
    }

    /// Binds parameter `index` (from 1) to `value`.
    pub(super) fn bind_int(&mut self, index: usize, value: i64) -> Result<()> {
        let index = parameter(index)?;
        // SAFETY: a live statement of a handle this thread alone uses.
        let rc = unsafe { ffi::sqlite3_bind_int64(self.raw.as_ptr(), index, value) };
        self.db.check(rc)
    }

    /// Binds parameter `index` (from 1) to `value`, NULL for `None`. SQLite keeps a pointer to `value`, which
    /// outlives this statement (`'v`).
    pub(super) fn bind_text(&mut self, index: usize, value: Option<&'v str>) -> Result<()> {
        let index = parameter(index)?;
        let rc = match value {
            // SAFETY: a live statement of a handle this thread alone uses.
            None => unsafe { ffi::sqlite3_bind_null(self.raw.as_ptr(), index) },
            Some(text) => {
                let len = c_int::try_from(text.len()).map_err(|_| "text too long".to_owned())?;
                // An empty string still gets a valid pointer (a NUL), not a dangling one.
                let at = if text.is_empty() {
                    c"".as_ptr()
                } else {
                    text.as_ptr().cast()
                };
                // SAFETY: a live statement of a handle this thread alone uses. `SQLITE_STATIC`: SQLite reads the
                // `len` bytes at `at` in place until the parameter is bound again or the statement finalized; they
                // live for `'v`, which outlives `self`, and are never written (a `&str`).
                unsafe {
                    ffi::sqlite3_bind_text(self.raw.as_ptr(), index, at, len, ffi::SQLITE_STATIC())
                }
            }
        };
        self.db.check(rc)
    }

    /// Runs the statement with its current bindings (an INSERT or UPDATE: rows it returns are skipped), then
    /// resets it, keeping the bindings, to be run again.
    pub(super) fn run(&mut self) -> Result<()> {
        let stmt = self.raw.as_ptr();
        loop {
            // SAFETY: a live statement of a handle this thread alone uses; every parameter it reads is bound to
            // a value that is alive (`'v`) or to none (NULL).
            match unsafe { ffi::sqlite3_step(stmt) } {
                ffi::SQLITE_ROW => continue,
                ffi::SQLITE_DONE => break,
                rc => {
                    let failed = self.db.check(rc);
                    // SAFETY: as above. Its result repeats the step's error, already taken.
                    unsafe { ffi::sqlite3_reset(stmt) };
                    return failed;
                }
            }
        }
        // SAFETY: as above.
        let rc = unsafe { ffi::sqlite3_reset(stmt) };
        self.db.check(rc)
    }
}

impl Drop for Statement<'_, '_> {
    fn drop(&mut self) {
        // SAFETY: a live statement of a handle this thread alone uses, finalized once, here.
        unsafe { ffi::sqlite3_finalize(self.raw.as_ptr()) };
    }
}

fn parameter(index: usize) -> Result<c_int> {
    c_int::try_from(index).map_err(|_| format!("no parameter {index}"))
}

/// A private in-memory database, opened and closed through the C API, for tests.
#[cfg(test)]
pub(super) struct Memory(NonNull<ffi::sqlite3>);

#[cfg(test)]
impl Memory {
    pub(super) fn open() -> Memory {
        let mut raw = ptr::null_mut();
        // SAFETY: a NUL-terminated name; SQLite writes the new handle to `raw`.
        let rc = unsafe { ffi::sqlite3_open(c":memory:".as_ptr(), &mut raw) };
        assert_eq!(rc, ffi::SQLITE_OK);
        Memory(NonNull::new(raw).unwrap())
    }

    pub(super) fn db(&self) -> Db {
        // SAFETY: open, and used by the test's thread alone.
        unsafe { Db::new(self.0) }
    }
}

#[cfg(test)]
impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: every statement of it was finalized (each `Statement` borrows a `Db` of it).
        unsafe { ffi::sqlite3_close(self.0.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(db: &Db) -> Vec<Option<String>> {
        let mut raw = ptr::null_mut();
        let sql = c"SELECT t FROM x ORDER BY n";
        // SAFETY: as in `Db::prepare`; the column's text is copied before the next step.
        unsafe {
            assert_eq!(
                ffi::sqlite3_prepare_v2(db.0.as_ptr(), sql.as_ptr(), -1, &mut raw, ptr::null_mut()),
                ffi::SQLITE_OK
            );
            let mut out = Vec::new();
            while ffi::sqlite3_step(raw) == ffi::SQLITE_ROW {
                let text = ffi::sqlite3_column_text(raw, 0);
                out.push(
                    (!text.is_null())
                        .then(|| CStr::from_ptr(text.cast()).to_string_lossy().into_owned()),
                );
            }
            ffi::sqlite3_finalize(raw);
            out
        }
    }

    #[test]
    fn strings_bound_in_place_are_stored_whole_and_a_statement_runs_again_with_new_bindings() {
        let memory = Memory::open();
        let db = memory.db();
        db.exec(c"CREATE TABLE x (n INTEGER, t TEXT)").unwrap();
        // Slices of a longer string (not NUL-terminated where they end), an empty one, and NULL.
        let source = String::from("alpha-beta");
        let values = [Some(&source[..5]), Some(""), None, Some(&source[6..])];
        let mut insert = db.prepare("INSERT INTO x (n, t) VALUES (?, ?)").unwrap();
        for (n, value) in values.iter().enumerate() {
            insert.bind_int(1, n as i64).unwrap();
            insert.bind_text(2, *value).unwrap();
            insert.run().unwrap();
        }
        drop(insert);
        assert_eq!(
            texts(&db),
            [
                Some("alpha".into()),
                Some(String::new()),
                None,
                Some("beta".into())
            ]
        );
    }

    #[test]
    fn errors_carry_sqlite_s_message_and_a_failed_transaction_rolls_back() {
        let memory = Memory::open();
        let db = memory.db();
        db.exec(c"CREATE TABLE x (n INTEGER PRIMARY KEY, t TEXT)")
            .unwrap();
        assert!(
            db.prepare("INSERT INTO nowhere VALUES (1)")
                .err()
                .unwrap()
                .contains("no such table: nowhere")
        );
        assert_eq!(db.prepare(" ").err().unwrap(), "empty statement text");
        assert_eq!(
            db.prepare("DELETE FROM x; DELETE FROM x ").err().unwrap(),
            "more than one statement: `DELETE FROM x`",
            "the text after the first statement's `;`"
        );
        assert_eq!(
            db.prepare("SELECT ?1, ?2, ?1; ").unwrap().parameter_count(),
            2
        );
        db.exec(c"BEGIN").unwrap();
        assert!(!db.is_autocommit());
        let mut insert = db.prepare("INSERT INTO x (n, t) VALUES (?, ?)").unwrap();
        insert.bind_int(1, 1).unwrap();
        insert.bind_text(2, Some("one")).unwrap();
        insert.run().unwrap();
        // The same key again: the step fails, and the statement is reset, ready to run again.
        let failed = insert.run().unwrap_err();
        assert!(failed.contains("UNIQUE constraint failed"), "{failed}");
        assert!(
            insert
                .bind_int(3, 0)
                .unwrap_err()
                .contains("column index out of range")
        );
        insert.bind_int(1, 2).unwrap();
        insert.run().unwrap();
        drop(insert);
        assert_eq!(texts(&db).len(), 2);
        db.exec(c"ROLLBACK").unwrap();
        assert!(db.is_autocommit());
        assert!(texts(&db).is_empty(), "nothing of the transaction stays");
    }

    #[test]
    fn a_transaction_commits_what_succeeded_and_rolls_back_a_failed_step_or_commit() {
        let memory = Memory::open();
        let db = memory.db();
        db.exec(c"PRAGMA foreign_keys = ON").unwrap();
        db.exec(c"CREATE TABLE p (id INTEGER PRIMARY KEY)").unwrap();
        db.exec(
            c"CREATE TABLE x (n INTEGER, t TEXT REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED)",
        )
        .unwrap();
        let insert = |db: &Db, t: Option<&str>| -> Result<()> {
            let mut insert = db.prepare("INSERT INTO x (n, t) VALUES (1, ?)")?;
            insert.bind_text(1, t)?;
            insert.run()
        };
        db.transaction(|db| insert(db, None)).unwrap();
        assert_eq!(texts(&db), [None]);
        // A failed statement: nothing of the transaction stays.
        let failed = db
            .transaction(|db| {
                insert(db, None)?;
                db.prepare("INSERT INTO nowhere VALUES (1)").map(drop)
            })
            .unwrap_err();
        assert!(failed.contains("no such table"), "{failed}");
        assert!(db.is_autocommit());
        assert_eq!(texts(&db), [None]);
        // A COMMIT that fails (a deferred foreign key with no parent row) leaves the transaction open in SQLite:
        // it is rolled back here.
        let failed = db.transaction(|db| insert(db, Some("7"))).unwrap_err();
        assert!(failed.contains("FOREIGN KEY constraint failed"), "{failed}");
        assert!(db.is_autocommit(), "rolled back, not left open");
        assert_eq!(texts(&db), [None]);
    }
}

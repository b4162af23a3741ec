-- Strict rotation on SQLite without the unique index on `parent_hash`. SQLite has one writer, and a multi-row
-- INSERT runs row by row with each row's triggers before the next row, so a trigger that skips a new row unless its
-- parent exists and is unused admits exactly one successor per token, also between two rotations of the same
-- token in one statement (RETURNING then omits the skipped row; the AFTER trigger of migration 0003 still marks
-- the parent used). A parent already purged gets no successor either. The index cost every rotation a write to a
-- random leaf (BENCHMARKS.md, seventh pass); PostgreSQL keeps it, which concurrent replicas need.
DROP INDEX refresh_tokens_parent;
CREATE TRIGGER refresh_tokens_one_successor BEFORE INSERT ON refresh_tokens
WHEN NEW.parent_hash IS NOT NULL
BEGIN
    SELECT RAISE(IGNORE)
    WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = NEW.parent_hash AND used_at IS NULL);
END;

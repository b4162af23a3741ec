-- refresh_tokens_session holds only the tokens not yet used: one per session, the newest of its rotation chain
-- (a rotation marks the parent used in the statement that inserts its successor, migration 0003). Over every
-- token, the index gave each rotation a write to the leaf of its session, a random page of an index that grew
-- with every rotation until the used tokens expired; now the parent leaves the leaf where its successor enters,
-- and the index is one entry per session (BENCHMARKS.md, twelfth pass: under its load 45-53% fewer bytes written
-- per refresh).
-- What searched it still can: the portal's session list and the purge read the newest token of a session
-- (`used_at IS NULL`, which lets SQLite use this index).
-- The foreign key to sessions goes: its ON DELETE CASCADE needs an index over all of a session's tokens and would
-- scan the whole table for each session the purge deletes. The purge deletes a session only once it has no unused
-- token left; its used tokens stay until they expire (the purge of expired tokens deletes them), refused as any
-- used token is, and by the refresh grant and introspection, which read the session, as a token of no session.
-- SQLite changes a table's constraints only by copying it into a new table.
CREATE TABLE refresh_tokens_new (
    token_hash  TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL,
    realm       TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    parent_hash TEXT
);
INSERT INTO refresh_tokens_new (token_hash, session_id, realm, client_id, created_at, expires_at, used_at, parent_hash)
SELECT token_hash, session_id, realm, client_id, created_at, expires_at, used_at, parent_hash
FROM refresh_tokens ORDER BY rowid;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_new RENAME TO refresh_tokens;
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id) WHERE used_at IS NULL;
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
CREATE TRIGGER refresh_tokens_rotated AFTER INSERT ON refresh_tokens
WHEN NEW.parent_hash IS NOT NULL
BEGIN
    UPDATE refresh_tokens SET used_at = NEW.created_at WHERE token_hash = NEW.parent_hash;
END;
CREATE TRIGGER refresh_tokens_one_successor BEFORE INSERT ON refresh_tokens
WHEN NEW.parent_hash IS NOT NULL
BEGIN
    SELECT RAISE(IGNORE)
    WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = NEW.parent_hash AND used_at IS NULL);
END;

-- Strict refresh-token rotation in one statement. The new token names the one it replaces (`parent_hash`); the
-- unique index lets only one successor exist, so of two concurrent rotations of the same token the second fails
-- (a replay), and the trigger marks the parent used within the same statement.
ALTER TABLE refresh_tokens ADD COLUMN parent_hash TEXT;
CREATE UNIQUE INDEX refresh_tokens_parent ON refresh_tokens (parent_hash) WHERE parent_hash IS NOT NULL;
CREATE FUNCTION keyport_refresh_rotated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE refresh_tokens SET used_at = NEW.created_at WHERE token_hash = NEW.parent_hash;
    RETURN NULL;
END
$$;
CREATE TRIGGER refresh_tokens_rotated AFTER INSERT ON refresh_tokens
    FOR EACH ROW WHEN (NEW.parent_hash IS NOT NULL) EXECUTE FUNCTION keyport_refresh_rotated();

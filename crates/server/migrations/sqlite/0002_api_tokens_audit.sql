-- API tokens (personal/unscoped and scoped) and the audit log. Times are Unix seconds. Tokens appear only as
-- SHA-256 hashes; audit entries never hold a secret.

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    realm        TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL,
    name         TEXT,
    scopes       TEXT NOT NULL,      -- JSON array; empty for unscoped tokens
    unscoped     INTEGER NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_tokens_realm_user ON api_tokens (realm, user_id);
CREATE INDEX api_tokens_realm_created ON api_tokens (realm, created_at);

CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    realm         TEXT NOT NULL,
    actor_user_id TEXT,
    token_id      TEXT,
    action        TEXT NOT NULL,
    target        TEXT,
    outcome       TEXT NOT NULL,
    detail        TEXT
);
CREATE INDEX audit_log_realm_at ON audit_log (realm, at);
CREATE INDEX audit_log_token ON audit_log (token_id);
CREATE INDEX audit_log_actor ON audit_log (actor_user_id);

-- Core schema: clients, users, signing keys, device grants, login sessions, refresh tokens, revocations,
-- browser sessions and failed-attempt counters. Times are Unix seconds. Secrets appear only as hashes.

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_pem TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE clients (
    realm            TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    secret_hash      TEXT,
    public           BOOLEAN NOT NULL,
    grants           TEXT NOT NULL,   -- JSON array of grant names
    roles            TEXT NOT NULL,   -- JSON array of realm roles of the service account
    rotation         TEXT NOT NULL,
    access_token_alg TEXT,
    PRIMARY KEY (realm, client_id)
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    realm         TEXT NOT NULL,
    username      TEXT NOT NULL,
    email         TEXT,
    name          TEXT,
    password_hash TEXT,
    roles         TEXT NOT NULL,      -- JSON array
    user_type     TEXT NOT NULL,      -- 'person' or 'machine'
    enabled       BOOLEAN NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_realm_username ON users (realm, username);

CREATE TABLE device_grants (
    device_code_hash TEXT PRIMARY KEY,
    user_code        TEXT NOT NULL UNIQUE,
    realm            TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    scope            TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    interval_secs    BIGINT NOT NULL,
    last_poll_at     BIGINT,
    status           TEXT NOT NULL,   -- pending | approved | denied | redeemed
    user_id          TEXT
);
CREATE INDEX device_grants_expires ON device_grants (expires_at);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    realm      TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    ended_at   BIGINT
);
CREATE INDEX sessions_user ON sessions (realm, user_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    realm      TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    realm      TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE browser_sessions (
    id_hash    TEXT PRIMARY KEY,
    realm      TEXT NOT NULL,
    user_id    TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE failed_attempts (
    key TEXT NOT NULL,
    at  BIGINT NOT NULL
);
CREATE INDEX failed_attempts_key ON failed_attempts (key, at);

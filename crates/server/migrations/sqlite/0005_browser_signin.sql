-- Browser sign-in (authorization code + PKCE): clients' redirect URIs and consent setting, when and how a page
-- session signed in, authorization codes (stored as SHA-256) and the consents users gave to third-party clients.
ALTER TABLE clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN consent INTEGER NOT NULL DEFAULT 0;

ALTER TABLE browser_sessions ADD COLUMN auth_time INTEGER;
ALTER TABLE browser_sessions ADD COLUMN amr TEXT;

CREATE TABLE authorization_codes (
    code_hash      TEXT PRIMARY KEY,
    realm          TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,
    user_id        TEXT NOT NULL,
    auth_time      INTEGER NOT NULL,
    amr            TEXT NOT NULL,
    session_id     TEXT NOT NULL,   -- the login session its tokens belong to (created when it is redeemed)
    browser_hash   TEXT NOT NULL,   -- the page session that signed in (its logout ends this login session too)
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
);
CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at);

CREATE TABLE consents (
    realm      TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,       -- space-separated scopes the user allowed
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (realm, user_id, client_id)
);

-- The login sessions a page session started through authorization codes: signing out in the browser
-- (RP-initiated logout) ends them all, as Keycloak's SSO session does.
CREATE TABLE browser_logins (
    browser_hash TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (browser_hash, session_id)
);

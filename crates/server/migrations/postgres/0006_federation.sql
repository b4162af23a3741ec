-- Sign-in through upstream OpenID Connect providers (keyport as a relying party): which local account an
-- upstream identity is (linked by provider and `sub`, never by username or email), and the sign-ins that went to
-- a provider and have not come back yet, so that any replica can finish a sign-in another started.
CREATE TABLE federated_links (
    realm      TEXT NOT NULL,
    alias      TEXT NOT NULL,      -- the identity provider's alias in the realm
    subject    TEXT NOT NULL,      -- the provider's `sub`
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (realm, alias, subject)
);
CREATE INDEX federated_links_user ON federated_links (realm, user_id);

-- One row per sign-in sent to a provider; taken (deleted) when the provider sends the browser back: single use.
CREATE TABLE federated_sign_ins (
    state_hash    TEXT PRIMARY KEY,  -- SHA-256 of the `state` sent to the provider
    realm         TEXT NOT NULL,
    alias         TEXT NOT NULL,
    nonce_hash    TEXT NOT NULL,     -- SHA-256 of the `nonce` the ID token must carry
    code_verifier TEXT NOT NULL,     -- the PKCE verifier: sent in the code exchange, so it cannot be hashed
    browser_hash  TEXT NOT NULL,     -- SHA-256 of the page-session cookie that started it (login CSRF)
    return_to     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX federated_sign_ins_expires ON federated_sign_ins (expires_at);

-- Password guessing bounds per account (Keycloak's brute-force detection): consecutive failures, counted before
-- the password is checked so that parallel guesses cannot all pass, and the time the account is locked until.
CREATE TABLE account_lockouts (
    realm        TEXT NOT NULL,
    username     TEXT NOT NULL,   -- lower case, as typed: unknown usernames are bounded too
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (realm, username)
);

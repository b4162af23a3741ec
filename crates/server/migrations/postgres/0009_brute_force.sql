-- Password guessing bounds per account (Keycloak's brute-force detection): consecutive failures, counted before
-- the password is checked so that parallel guesses cannot all pass, and the time the account is locked until.
CREATE TABLE account_lockouts (
    realm        TEXT NOT NULL,
    username     TEXT NOT NULL,   -- lower case, as typed: unknown usernames are bounded too
    failures     BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (realm, username)
);

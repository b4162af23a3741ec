-- The portal's lists (issue 12) page by keyset, newest first, at 100,000 tokens and 1,000,000 audit entries:
-- each list and filter has an index whose order is the page's order, so a page reads only its own rows.
-- API tokens: `created_at DESC, id DESC`, all of a realm, by kind (personal/scoped) or by user.
DROP INDEX api_tokens_realm_user;
DROP INDEX api_tokens_realm_created;
CREATE INDEX api_tokens_realm_created ON api_tokens (realm, created_at, id);
CREATE INDEX api_tokens_realm_kind ON api_tokens (realm, unscoped, created_at, id);
CREATE INDEX api_tokens_realm_user ON api_tokens (realm, user_id, created_at, id);
-- Audit: `at DESC, id DESC`, all of a realm, by actor, token or action (a time range is a range of each).
DROP INDEX audit_log_realm_at;
DROP INDEX audit_log_token;
DROP INDEX audit_log_actor;
CREATE INDEX audit_log_realm_at ON audit_log (realm, at, id);
CREATE INDEX audit_log_actor ON audit_log (realm, actor_user_id, at, id);
CREATE INDEX audit_log_token ON audit_log (realm, token_id, at, id);
CREATE INDEX audit_log_action ON audit_log (realm, action, at, id);

-- Nothing to change on PostgreSQL: SQLite's migration of the same name limits refresh_tokens_session to the tokens
-- not yet used. Here `used_at` in an index's predicate would stop the update that marks a rotated token used from
-- being HOT (migration 0014), and each would write a new entry into every index of the table instead; the foreign
-- key to sessions, with its cascade, stays too.
SELECT 1;

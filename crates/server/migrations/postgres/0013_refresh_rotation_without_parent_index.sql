-- Nothing to change on PostgreSQL: SQLite's migration of the same name drops its unique index on `parent_hash`
-- for a trigger, which is exactly-once only with a single writer. Several replicas write here at once, and the
-- unique index is what lets only one successor per token in.
SELECT 1;

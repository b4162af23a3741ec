-- Nothing to change on SQLite: PostgreSQL's migration of the same name leaves room on refresh_tokens' heap pages
-- for the update that marks a rotated token used. SQLite stores rows in the table's B-tree and has no such setting.
SELECT 1;

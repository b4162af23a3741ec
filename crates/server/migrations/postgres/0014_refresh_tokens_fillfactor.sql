-- Room on each heap page of refresh_tokens for the one update every row gets: a rotation marks its parent used
-- (the trigger of 0003). With full pages (fillfactor 100, the default) PostgreSQL could make only ~16% of those
-- updates HOT (heap-only: the new row version on the same page, no new index entries); the other ~84% wrote a new
-- entry into each of the table's four indexes. With 30% of each page kept free ~63% are HOT, and the database
-- spends 7-9% less CPU per rotation (BENCHMARKS.md, tenth pass). Applies to pages filled from now on.
ALTER TABLE refresh_tokens SET (fillfactor = 70);

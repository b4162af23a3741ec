-- Room on each heap page of refresh_tokens for the update a rotated token gets: under strict rotation the trigger
-- of 0003 marks the parent used, and `used_at` is in no index. With full pages (fillfactor 100, the default)
-- PostgreSQL could make only ~16% of those updates HOT (heap-only: the new row version on the same page, no new
-- index entries); each of the others wrote a new entry into every index of the table (four, three for a token
-- without a parent). With 30% of each page kept free ~63% are HOT, and the database spends 6-9% less CPU per
-- rotation (BENCHMARKS.md, tenth pass); the table grows by up to 1/0.7. Applies to pages filled from now on.
ALTER TABLE refresh_tokens SET (fillfactor = 70);

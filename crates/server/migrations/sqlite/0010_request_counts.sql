-- Requests counted per key and minute (issue 11, item 3): the per-client ceiling of device authorizations that
-- all replicas share. One row per key and minute, incremented in place; rows of past minutes are purged.
CREATE TABLE request_counts (
    key TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);

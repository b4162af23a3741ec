-- Requests counted per key and minute (issue 11, item 3), shared by all replicas: device authorizations per
-- client, password attempts per address, user-code checks per realm. One row per key and minute, incremented in
-- place (never a row per request); rows of past minutes are purged.
CREATE TABLE request_counts (
    key TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);

-- Each device's usage against its ingest limits (domain::limits::Usage), written from memory
-- every second and at shutdown, read back at start.
CREATE TABLE usage (
    device_id TEXT    PRIMARY KEY,
    tokens    REAL    NOT NULL,
    at_us     INTEGER NOT NULL,
    day       INTEGER NOT NULL,
    used      INTEGER NOT NULL
);

-- Read models built by the projections. Everything here can be rebuilt from the event store.

CREATE TABLE devices (
    device_id            TEXT PRIMARY KEY,
    name                 TEXT,
    kind                 TEXT,
    location             TEXT,
    registered_at_us     INTEGER NOT NULL,
    decommissioned_at_us INTEGER
);

-- One row per (device, sensor); the wide names are stored once and rows below use the small id.
CREATE TABLE series (
    series_id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    sensor    TEXT NOT NULL,
    UNIQUE (device_id, sensor)
);

CREATE TABLE latest (
    series_id      INTEGER PRIMARY KEY REFERENCES series (series_id),
    value          REAL    NOT NULL,
    unit           TEXT,
    measured_at_us INTEGER NOT NULL
);

-- 1-minute and 1-hour buckets (width_s 60 / 3600), keyed by the bucket's start in Unix seconds.
CREATE TABLE rollups (
    series_id    INTEGER NOT NULL,
    width_s      INTEGER NOT NULL,
    bucket_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    min          REAL    NOT NULL,
    max          REAL    NOT NULL,
    sum          REAL    NOT NULL,
    PRIMARY KEY (series_id, width_s, bucket_start)
) WITHOUT ROWID;

-- Every reading for a recent window (pruned by retention). (stream_seq, idx) name the reading
-- within its event, so equal timestamps never collide and no reading is dropped.
CREATE TABLE raw_readings (
    series_id      INTEGER NOT NULL,
    measured_at_us INTEGER NOT NULL,
    stream_seq     INTEGER NOT NULL,
    idx            INTEGER NOT NULL,
    value          REAL    NOT NULL,
    PRIMARY KEY (series_id, measured_at_us, stream_seq, idx)
) WITHOUT ROWID;

-- The last applied event of each stream: what makes re-delivered events change nothing.
CREATE TABLE stream_positions (
    device_id  TEXT PRIMARY KEY,
    stream_seq INTEGER NOT NULL
);

-- The highest event store position applied, written in the same transaction as the changes.
CREATE TABLE checkpoints (
    name     TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);

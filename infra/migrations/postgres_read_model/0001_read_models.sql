-- Read models built by the projectors (cloud mode). Everything here can be rebuilt from the
-- event store. Same shape as the embedded SQLite read model.

CREATE TABLE devices (
    device_id         TEXT PRIMARY KEY,
    name              TEXT,
    kind              TEXT,
    location          TEXT,
    registered_at     TIMESTAMPTZ NOT NULL,
    decommissioned_at TIMESTAMPTZ
);

-- One row per (device, sensor); rows below use the small id instead of the two names.
CREATE TABLE series (
    series_id BIGSERIAL PRIMARY KEY,
    device_id TEXT NOT NULL,
    sensor    TEXT NOT NULL,
    UNIQUE (device_id, sensor)
);

CREATE TABLE latest (
    series_id   BIGINT PRIMARY KEY REFERENCES series (series_id),
    value       DOUBLE PRECISION NOT NULL,
    unit        TEXT,
    measured_at TIMESTAMPTZ NOT NULL
);

-- 1-minute and 1-hour buckets (width_s 60 / 3600), keyed by the bucket's start in Unix seconds.
CREATE TABLE rollups (
    series_id    BIGINT           NOT NULL,
    width_s      INTEGER          NOT NULL,
    bucket_start BIGINT           NOT NULL,
    count        BIGINT           NOT NULL,
    min          DOUBLE PRECISION NOT NULL,
    max          DOUBLE PRECISION NOT NULL,
    sum          DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (series_id, width_s, bucket_start)
);

-- Every reading for a recent window; (stream_seq, idx) name the reading within its event.
CREATE TABLE raw_readings (
    series_id   BIGINT           NOT NULL,
    measured_at TIMESTAMPTZ      NOT NULL,
    stream_seq  BIGINT           NOT NULL,
    idx         INTEGER          NOT NULL,
    value       DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (series_id, measured_at, stream_seq, idx)
);

-- The last applied event of each stream, written with the changes it covers: what makes a
-- redelivered Kafka message change nothing.
CREATE TABLE stream_positions (
    device_id  TEXT PRIMARY KEY,
    stream_seq BIGINT NOT NULL
);

CREATE TABLE checkpoints (
    name     TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);

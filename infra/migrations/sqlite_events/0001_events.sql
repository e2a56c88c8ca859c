-- The embedded event store: one table, append-only. `position` is the rowid, so it is assigned in
-- commit order by the single writer and readers never see a later position before an earlier one.
CREATE TABLE events (
    position        INTEGER PRIMARY KEY,
    event_id        BLOB    NOT NULL UNIQUE,
    stream_id       TEXT    NOT NULL,
    stream_seq      INTEGER NOT NULL,
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    occurred_at_us  INTEGER NOT NULL,
    recorded_at_us  INTEGER NOT NULL,
    correlation_id  BLOB,
    causation_id    BLOB,
    idempotency_key TEXT,
    payload         TEXT    NOT NULL,
    UNIQUE (stream_id, stream_seq)
);

-- At most one event per (stream, idempotency key): a resent ingest batch finds its first answer here.
CREATE UNIQUE INDEX events_idempotency ON events (stream_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Rebuilding a device's state reads only the few event types that change it.
CREATE INDEX events_stream_type ON events (stream_id, event_type, stream_seq);

-- Events a projection set aside (policy `park`), with the reason. A device that has any here has
-- its later events parked behind them, until they are retried or skipped.
CREATE TABLE dead_letters (
    id         BIGSERIAL PRIMARY KEY,
    -- `stream:<device>:<seq>` or `kafka:<partition>:<offset>`: parking again is a no-op.
    source     TEXT        NOT NULL UNIQUE,
    device_id  TEXT,
    stream_seq BIGINT,
    -- The event as JSON when it was one; the message, printable, when it was not.
    event      TEXT,
    raw        TEXT,
    error      TEXT        NOT NULL,
    parked_at  TIMESTAMPTZ NOT NULL
);

CREATE INDEX dead_letters_device ON dead_letters (device_id, stream_seq);

-- Raw readings in blocks: one row per series, event and hour, the points packed (see the domain's
-- raw_blocks). The rows of raw_readings are moved here by the adapter when it connects, which then
-- drops that table.
CREATE TABLE raw_blocks (
    series_id  BIGINT  NOT NULL,
    first_us   BIGINT  NOT NULL,
    stream_seq BIGINT  NOT NULL,
    last_us    BIGINT  NOT NULL,
    readings   INTEGER NOT NULL,
    points     BYTEA   NOT NULL,
    PRIMARY KEY (series_id, first_us, stream_seq)
);

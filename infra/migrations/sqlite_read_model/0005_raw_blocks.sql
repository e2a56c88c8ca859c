-- Raw readings in blocks: one row per series, event and hour, the points packed (see the domain's
-- raw_blocks). The rows of raw_readings are moved here by the adapter when it opens, which then
-- drops that table.
CREATE TABLE raw_blocks (
    series_id  INTEGER NOT NULL,
    first_us   INTEGER NOT NULL,
    stream_seq INTEGER NOT NULL,
    last_us    INTEGER NOT NULL,
    readings   INTEGER NOT NULL,
    points     BLOB    NOT NULL,
    PRIMARY KEY (series_id, first_us, stream_seq)
) WITHOUT ROWID;

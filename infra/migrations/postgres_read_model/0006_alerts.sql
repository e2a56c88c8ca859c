-- Every alert, active or cleared, acknowledged or not: the alert list. Ids are UUID text and
-- instants integer microseconds here and in PostgreSQL alike, so one mapping reads both. Alerts
-- raised before this table existed are listed after a rebuild (`watershed rebuild read-models`).
CREATE TABLE alerts (
    alert_id           TEXT    PRIMARY KEY,
    device_id          TEXT    NOT NULL,
    rule               TEXT    NOT NULL,
    severity           TEXT    NOT NULL,
    sensor             TEXT    NOT NULL,
    condition          TEXT    NOT NULL,
    threshold          DOUBLE PRECISION NOT NULL,
    value              DOUBLE PRECISION NOT NULL,
    unit               TEXT,
    message            TEXT,
    raised_at_us       BIGINT  NOT NULL,
    cleared_at_us      BIGINT,
    -- rule, manual or decommissioned
    clear_reason       TEXT,
    cleared_by         TEXT,
    clear_note         TEXT,
    clear_value        DOUBLE PRECISION,
    acknowledged_at_us BIGINT,
    acknowledged_by    TEXT,
    ack_note           TEXT
);
CREATE INDEX alerts_by_raise ON alerts (raised_at_us);
CREATE INDEX alerts_by_device ON alerts (device_id, rule) WHERE cleared_at_us IS NULL;

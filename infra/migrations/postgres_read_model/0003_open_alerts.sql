-- Alerts raised and not cleared yet: one row per device and rule. A decommissioned device has none.
CREATE TABLE open_alerts (
    device_id TEXT             NOT NULL,
    rule      TEXT             NOT NULL,
    sensor    TEXT             NOT NULL,
    condition TEXT             NOT NULL,
    threshold DOUBLE PRECISION NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    unit      TEXT,
    message   TEXT,
    raised_at TIMESTAMPTZ      NOT NULL,
    PRIMARY KEY (device_id, rule)
);

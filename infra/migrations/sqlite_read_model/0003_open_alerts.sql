-- Alerts raised and not cleared yet: one row per device and rule. A decommissioned device has none.
CREATE TABLE open_alerts (
    device_id    TEXT    NOT NULL,
    rule         TEXT    NOT NULL,
    sensor       TEXT    NOT NULL,
    condition    TEXT    NOT NULL,
    threshold    REAL    NOT NULL,
    value        REAL    NOT NULL,
    unit         TEXT,
    message      TEXT,
    raised_at_us INTEGER NOT NULL,
    PRIMARY KEY (device_id, rule)
);

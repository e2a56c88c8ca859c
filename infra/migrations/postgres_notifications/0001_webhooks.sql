-- Webhook channels and the outbox of their deliveries, in a schema of their own. Ids are UUID text and instants integer
-- microseconds since the epoch, in this file and in PostgreSQL alike, so one row mapping serves both.

CREATE TABLE webhook_channels (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    -- whsec_…: the receiver verifies with it, so it is kept as it is, not hashed.
    secret TEXT NOT NULL,
    -- JSON arrays; empty means every severity, every rule.
    severities TEXT NOT NULL,
    rules TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    message_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    -- When the alert transition was recorded: the retry horizon counts from here.
    since BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    -- Pending deliveries only. A claim moves it to the end of the lease, so a dispatcher that dies
    -- mid-delivery leaves the delivery due again once the lease runs out.
    next_attempt_at BIGINT,
    failure TEXT,
    UNIQUE (message_id, channel_id)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_alert ON webhook_deliveries (alert_id);

CREATE TABLE webhook_attempts (
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id),
    attempt BIGINT NOT NULL,
    at BIGINT NOT NULL,
    status BIGINT,
    error TEXT,
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- Consumers now resume from their bus cursor (the embedded bus keeps it in the event store, Kafka
-- in its group offsets); redelivered events are skipped by the per-stream positions, which stay.
DROP TABLE checkpoints;

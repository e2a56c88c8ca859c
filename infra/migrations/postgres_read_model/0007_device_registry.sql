-- The registry's administrative state: disabled until enabled again, and free-form tags (sorted,
-- separated by single spaces: the tag alphabet has no space). The instant is
-- integer microseconds, as in SQLite, so one statement writes both.
ALTER TABLE devices ADD COLUMN disabled_at_us BIGINT;
ALTER TABLE devices ADD COLUMN tags TEXT NOT NULL DEFAULT '';

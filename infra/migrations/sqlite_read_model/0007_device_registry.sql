-- The registry's administrative state: disabled until enabled again, and free-form tags (sorted,
-- separated by single spaces: the tag alphabet has no space).
ALTER TABLE devices ADD COLUMN disabled_at_us INTEGER;
ALTER TABLE devices ADD COLUMN tags TEXT NOT NULL DEFAULT '';

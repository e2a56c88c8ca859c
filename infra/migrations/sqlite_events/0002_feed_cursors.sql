-- Where each change-feed reader (the relay, the embedded bus's consumer groups) last confirmed.
CREATE TABLE feed_cursors (
    reader   TEXT    PRIMARY KEY,
    position INTEGER NOT NULL
);

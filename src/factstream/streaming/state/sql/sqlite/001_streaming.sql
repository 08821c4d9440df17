-- The streaming layer's tables, beside the events table in the store's file. Applied on a
-- separate connection; numbered in their own migrations table so they never collide with the
-- store's schema version.
CREATE TABLE IF NOT EXISTS factstream_streaming_checkpoints (
    name       TEXT PRIMARY KEY,
    position   INTEGER NOT NULL,
    updated_at REAL    NOT NULL
);

-- expires_at is the writer's wall clock (seconds since the epoch): the processes sharing a
-- SQLite file share a host.
CREATE TABLE IF NOT EXISTS factstream_streaming_leases (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at REAL NOT NULL
);

-- Per consumer group and stream: the last applied version, and the version it is parked from
-- in the dead letters (NULL when not parked).
CREATE TABLE IF NOT EXISTS factstream_streaming_marks (
    consumer  TEXT    NOT NULL,
    stream_id TEXT    NOT NULL,
    version   INTEGER NOT NULL,
    parked    INTEGER,
    PRIMARY KEY (consumer, stream_id)
) WITHOUT ROWID;

-- The log. position is the rowid: assigned by the single writer inside its write transaction,
-- so positions increase in commit order and a reader never sees a later one before an earlier.
CREATE TABLE events (
    position       INTEGER PRIMARY KEY,
    id             BLOB    NOT NULL,
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    type           TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    data           BLOB    NOT NULL,
    metadata       BLOB,
    correlation_id TEXT,
    causation_id   TEXT,
    recorded_at    INTEGER NOT NULL  -- microseconds since the Unix epoch, UTC
);

CREATE UNIQUE INDEX events_stream_version ON events (stream_id, version);

CREATE UNIQUE INDEX events_id ON events (id);

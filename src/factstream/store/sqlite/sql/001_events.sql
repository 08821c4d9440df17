-- The log. position is the rowid: assigned by the single writer inside its write transaction,
-- so positions increase in commit order and a reader never sees a later one before an earlier.
-- body is the whole recorded event as a JSON array (store/envelope.py); the other columns are
-- there for indexes and constraints.
CREATE TABLE events (
    position  INTEGER PRIMARY KEY,
    id        BLOB    NOT NULL,
    stream_id TEXT    NOT NULL,
    version   INTEGER NOT NULL,
    type      TEXT    NOT NULL,
    body      BLOB    NOT NULL
);

CREATE UNIQUE INDEX events_stream_version ON events (stream_id, version);

CREATE UNIQUE INDEX events_id ON events (id);

-- For people and ad-hoc SQL: the events with their fields as columns.
CREATE VIEW events_view AS
SELECT
    position,
    stream_id,
    version,
    type,
    json_extract(CAST(body AS TEXT), '$[0]') AS id,
    json_extract(CAST(body AS TEXT), '$[2]') AS data,
    json_extract(CAST(body AS TEXT), '$[3]') AS metadata,
    json_extract(CAST(body AS TEXT), '$[7]') AS recorded_at,
    json_extract(CAST(body AS TEXT), '$[8]') AS correlation_id,
    json_extract(CAST(body AS TEXT), '$[9]') AS causation_id,
    json_extract(CAST(body AS TEXT), '$[10]') AS schema_version
FROM events;

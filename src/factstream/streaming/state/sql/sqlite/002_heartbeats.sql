-- One row per relay or consumer-group member: its last heartbeat and when it last made
-- progress (seconds since the epoch, this host's clock: the processes sharing a SQLite file
-- share a host).
CREATE TABLE IF NOT EXISTS factstream_streaming_heartbeats (
    component    TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    member       TEXT    NOT NULL,
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    state        TEXT    NOT NULL,
    active       INTEGER NOT NULL,
    position     INTEGER NOT NULL,
    lag          INTEGER,
    beat_every   REAL    NOT NULL,
    error        TEXT,
    heartbeat_at REAL    NOT NULL,
    progress_at  REAL    NOT NULL,
    PRIMARY KEY (component, name, member)
) WITHOUT ROWID;

-- factstream's own read-side tables, created in the database that holds the read models.
-- Times are seconds since the epoch by the database's clock.

-- Generations of each projection's tables: one is active (queried through views named after
-- the logical tables), a newer one may be building in shadow tables, older ones are retired.
CREATE TABLE factstream_projections (
    name       TEXT    NOT NULL,
    generation INTEGER NOT NULL,
    version    BIGINT NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('building', 'active', 'retired')),
    tables     TEXT    NOT NULL, -- JSON array of the logical table names
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (name, generation)
);

-- One checkpoint per generation and partition (partition 0 when not partitioned): the position
-- of the last event applied. Updated in the same transaction as the read model.
CREATE TABLE factstream_checkpoints (
    name       TEXT    NOT NULL,
    generation INTEGER NOT NULL,
    partition  INTEGER NOT NULL,
    position   BIGINT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (name, generation, partition)
);

-- Parked events: a handler kept failing on the first one of a stream; the later events of that
-- stream wait behind it, in position order, until retried or skipped.
CREATE TABLE factstream_dead_letters (
    name            TEXT    NOT NULL,
    generation      BIGINT NOT NULL,
    position        BIGINT NOT NULL,
    stream_id       TEXT    NOT NULL,
    event_id        TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    event           TEXT    NOT NULL, -- the recorded event as JSON
    error           TEXT,             -- NULL when parked only because an earlier one failed
    attempts        BIGINT NOT NULL,
    parked_at       DOUBLE PRECISION NOT NULL,
    retry_requested BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (name, generation, position)
);

CREATE INDEX factstream_dead_letters_stream
    ON factstream_dead_letters (name, generation, stream_id, position);

-- Runners report here: a heartbeat while alive, their position, and when it last moved.
CREATE TABLE factstream_runners (
    runner_id    TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL,
    generation   BIGINT NOT NULL,
    host         TEXT    NOT NULL,
    pid          BIGINT NOT NULL,
    partitions   TEXT    NOT NULL, -- JSON array of the partitions it holds
    position     BIGINT NOT NULL,
    started_at   DOUBLE PRECISION NOT NULL,
    heartbeat_at DOUBLE PRECISION NOT NULL,
    progress_at  DOUBLE PRECISION NOT NULL,
    beat_every   DOUBLE PRECISION NOT NULL, -- seconds between heartbeats
    state        TEXT    NOT NULL, -- running | stopped | failed
    error        TEXT
);

CREATE INDEX factstream_runners_name ON factstream_runners (name);

-- Partition leases of partitioned projections.
CREATE TABLE factstream_leases (
    name       TEXT    NOT NULL,
    partition  INTEGER NOT NULL,
    owner      TEXT,
    expires_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (name, partition)
);

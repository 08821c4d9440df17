-- One row per relay or consumer-group member: its last heartbeat and when it last made
-- progress, both by the server's clock so hosts with skewed clocks agree on ages.
CREATE TABLE IF NOT EXISTS {schema}.heartbeats (
    component    text             NOT NULL,
    name         text             NOT NULL,
    member       text             NOT NULL,
    host         text             NOT NULL,
    pid          integer          NOT NULL,
    state        text             NOT NULL,
    active       boolean          NOT NULL,
    position     bigint           NOT NULL,
    lag          bigint,
    beat_every   double precision NOT NULL,
    error        text,
    heartbeat_at timestamptz      NOT NULL,
    progress_at  timestamptz      NOT NULL,
    PRIMARY KEY (component, name, member)
);

-- The streaming layer's tables in their own schema ({schema}); lease times use the server's
-- clock so hosts with skewed clocks agree on expiry.
CREATE TABLE IF NOT EXISTS {schema}.checkpoints (
    name       text PRIMARY KEY,
    position   bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE IF NOT EXISTS {schema}.leases (
    name       text PRIMARY KEY,
    owner      text NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS {schema}.marks (
    consumer  text   NOT NULL,
    stream_id text   NOT NULL,
    version   bigint NOT NULL,
    parked    bigint,
    PRIMARY KEY (consumer, stream_id)
);

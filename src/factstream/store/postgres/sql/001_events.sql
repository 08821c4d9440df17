-- The log. __schema__ is replaced by the store's schema name (quoted) when migrating.
--
-- Positions are allocated by append_group() below, under a transaction-scoped advisory lock that
-- every appender in every process takes first and holds until its transaction ends. So positions
-- are handed out in commit order, and a reader that sees position p already sees everything
-- below p: no sequence, no gaps left by slow commits, no timeouts.
CREATE TABLE __schema__.events (
    position       bigint      NOT NULL,
    id             uuid        NOT NULL,
    stream_id      text        NOT NULL,
    version        bigint      NOT NULL,
    type           text        NOT NULL,
    schema_version integer     NOT NULL,
    data           bytea       NOT NULL,  -- the JSON object, UTF-8 (see the events_json view)
    metadata       bytea,                 -- NULL when empty
    correlation_id text,
    causation_id   text,
    recorded_at    timestamptz NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (position),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version),
    CONSTRAINT events_id_key UNIQUE (id)
);

-- The same rows with data and metadata as jsonb, for ad-hoc SQL (parsing costs CPU per row).
CREATE VIEW __schema__.events_json AS
SELECT position, id, stream_id, version, type, schema_version,
       convert_from(data, 'UTF8')::jsonb AS data,
       coalesce(convert_from(metadata, 'UTF8')::jsonb, '{}'::jsonb) AS metadata,
       correlation_id, causation_id, recorded_at
FROM __schema__.events;

-- Appends a group of appends (group commit) in one call, so the lock is held for one statement
-- on the server and never across a round trip to a client.
--
-- Per append a (1-based): p_append_stream[a] indexes p_streams, p_append_expected[a] is a version
-- (>= 0), -1 for ANY or -2 for STREAM_EXISTS, p_append_size[a] counts its events. Per event:
-- p_event_append and p_event_offset say which append it belongs to and where, the other arrays
-- are its columns. Returns one row per append, in order: the stream's version before it and its
-- first position, NULL when its expected version did not hold (nothing of it is stored).
-- An event id that is already stored raises unique_violation (events_id_key) and rolls back the
-- whole call; the caller then sorts out retries (idempotent appends) and calls again.
CREATE FUNCTION __schema__.append_group(
    p_lock_key        bigint,
    p_streams         text[],
    p_append_stream   integer[],
    p_append_expected bigint[],
    p_append_size     integer[],
    p_event_append    integer[],
    p_event_offset    integer[],
    p_ids             uuid[],
    p_types           text[],
    p_schema_versions integer[],
    p_data            bytea[],
    p_metadata        bytea[],
    p_correlation_ids text[],
    p_causation_ids   text[],
    p_notify_channel  text
) RETURNS TABLE (version_before bigint, first_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
    appends    integer := cardinality(p_append_stream);
    versions   bigint[];
    befores    bigint[] := array_fill(0::bigint, ARRAY[appends]);
    firsts     bigint[] := array_fill(NULL::bigint, ARRAY[appends]);
    head       bigint;
    old_head   bigint;
    slot       integer;
    current    bigint;
    expected   bigint;
    stamp      timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(p_lock_key);
    -- In READ COMMITTED each statement below takes a new snapshot, after the lock was granted:
    -- it sees every append committed before (a commit is visible before its locks are released).
    SELECT coalesce(max(e.position), 0) INTO head FROM __schema__.events e;
    old_head := head;
    versions := ARRAY(
        SELECT coalesce(
            (SELECT e.version FROM __schema__.events e WHERE e.stream_id = s.stream_id
             ORDER BY e.version DESC LIMIT 1), 0)
        FROM unnest(p_streams) WITH ORDINALITY AS s(stream_id, n)
        ORDER BY s.n);
    FOR a IN 1 .. appends LOOP
        slot := p_append_stream[a];
        current := versions[slot];
        expected := p_append_expected[a];
        befores[a] := current;
        IF expected = -1 OR expected = current OR (expected = -2 AND current > 0) THEN
            firsts[a] := head + 1;
            head := head + p_append_size[a];
            versions[slot] := current + p_append_size[a];
        END IF;
    END LOOP;
    IF head > old_head THEN
        stamp := clock_timestamp();
        INSERT INTO __schema__.events (position, id, stream_id, version, type, schema_version,
                                       data, metadata, correlation_id, causation_id, recorded_at)
        SELECT firsts[x.a] + x.o, x.id, p_streams[p_append_stream[x.a]], befores[x.a] + x.o + 1,
               x.t, x.sv, x.d, x.m, x.c, x.ca, stamp
        FROM unnest(p_event_append, p_event_offset, p_ids, p_types, p_schema_versions, p_data,
                    p_metadata, p_correlation_ids, p_causation_ids)
             AS x(a, o, id, t, sv, d, m, c, ca)
        WHERE firsts[x.a] IS NOT NULL;
        IF p_notify_channel IS NOT NULL THEN
            PERFORM pg_notify(p_notify_channel, '');
        END IF;
    END IF;
    RETURN QUERY SELECT b, f FROM unnest(befores, firsts) AS r(b, f);
END
$$;

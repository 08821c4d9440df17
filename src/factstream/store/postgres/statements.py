"""The SQL the store runs, with its schema name filled in once."""

from __future__ import annotations

from dataclasses import dataclass

from .connection import channel_name, lock_key, quote_ident

__all__ = ["Statements"]

_COLUMNS = (
    "position, id, stream_id, version, type, schema_version, data, metadata, "
    "correlation_id, causation_id, recorded_at"
)

_MICROS = "(extract(epoch FROM recorded_at) * 1000000)::int8"


@dataclass(frozen=True, slots=True)
class Statements:
    schema: str
    append_key: int
    channel: str
    append_group: str
    append_one: str
    append_single: str
    insert_single: str
    insert_single_notify: str
    stored_by_ids: str
    read_forward: str
    read_backward: str
    read_all: str
    read_range: str
    stream_version: str
    head: str

    @classmethod
    def for_schema(cls, schema: str) -> Statements:
        s = quote_ident(schema)
        events = f"{s}.events"
        return cls(
            schema=schema,
            append_key=lock_key("append", schema),
            channel=channel_name(schema),
            append_group=(
                f"SELECT version_before, first_position FROM {s}.append_group("
                "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            ),
            append_one=_append_one(s, single=False),
            append_single=_append_one(s, single=True),
            insert_single=_insert_single(s),
            insert_single_notify=(
                f"WITH ins AS ({_insert_single(s)} RETURNING 1)\n"
                "SELECT pg_notify($11::text, '') FROM ins"
            ),
            stored_by_ids=(
                "SELECT id, stream_id, version, position, type, schema_version, data, metadata, "
                f"correlation_id, causation_id FROM {events} WHERE id = ANY($1::uuid[])"
            ),
            read_forward=(
                f"SELECT {_COLUMNS} FROM {events} WHERE stream_id = $1 AND version >= $2 "
                "ORDER BY version LIMIT $3"
            ),
            read_backward=(
                f"SELECT {_COLUMNS} FROM {events} WHERE stream_id = $1 AND version <= $2 "
                "ORDER BY version DESC LIMIT $3"
            ),
            read_all=(
                f"SELECT {_COLUMNS} FROM {events} WHERE position >= $1 ORDER BY position LIMIT $2"
            ),
            read_range=(
                # recorded_at as integer microseconds since 1970 (RowDecoder's form), so the
                # writer's connection keeps asyncpg's usual timestamptz codec for handlers.
                f"SELECT {_COLUMNS.replace('recorded_at', _MICROS)} FROM {events} "
                "WHERE position BETWEEN $1 AND $2 ORDER BY position"
            ),
            stream_version=(
                f"SELECT version FROM {events} WHERE stream_id = $1 ORDER BY version DESC LIMIT 1"
            ),
            head=f"SELECT position FROM {events} ORDER BY position DESC LIMIT 1",
        )


def _insert_single(s: str) -> str:
    """One event at a position and a version the writer knows (``lone.py``): position,
    stream, version, then the event's columns."""
    return (
        f"INSERT INTO {s}.events (position, stream_id, version, id, type, schema_version, data, "
        "metadata, correlation_id, causation_id, recorded_at)\n"
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, statement_timestamp())"
    )


def _append_one(s: str, *, single: bool) -> str:
    """One append as one plain statement, without the advisory lock (see the writer's
    ``_attempt``). It answers like ``append_group``: the stream's version before, and the first
    position, NULL when the expected version did not hold. ``single``: the append holds one
    event, passed as plain values instead of arrays."""
    if single:
        rows = (
            "SELECT ok.head + 1, $3::uuid, $1, ok.version + 1, $4::text, $5::integer, $6::bytea,\n"
            "       $7::bytea, $8::text, $9::text, statement_timestamp()\n"
            "    FROM ok"
        )
    else:
        rows = (
            "SELECT ok.head + x.n, x.id, $1, ok.version + x.n, x.t, x.sv, x.d, x.m, x.c, x.ca,\n"
            "       statement_timestamp()\n"
            "    FROM ok, unnest($3::uuid[], $4::text[], $5::integer[], $6::bytea[], $7::bytea[],\n"
            "                    $8::text[], $9::text[])\n"
            "         WITH ORDINALITY AS x(id, t, sv, d, m, c, ca, n)"
        )
    return f"""
WITH cur AS (
    SELECT coalesce((SELECT e.version FROM {s}.events e WHERE e.stream_id = $1
                     ORDER BY e.version DESC LIMIT 1), 0) AS version,
           coalesce((SELECT e.position FROM {s}.events e
                     ORDER BY e.position DESC LIMIT 1), 0) AS head
), ok AS (
    SELECT version, head FROM cur
    WHERE $2::bigint = -1 OR $2::bigint = version OR ($2::bigint = -2 AND version > 0)
), ins AS (
    INSERT INTO {s}.events (position, id, stream_id, version, type, schema_version, data,
                            metadata, correlation_id, causation_id, recorded_at)
    {rows}
    RETURNING position
), note AS (
    SELECT pg_notify($10::text, '') FROM (SELECT 1 FROM ins LIMIT 1) AS i
    WHERE $10::text IS NOT NULL
)
SELECT cur.version, (SELECT min(position) FROM ins), (SELECT count(*) FROM note) FROM cur"""

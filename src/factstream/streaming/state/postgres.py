"""Streaming state in PostgreSQL (extra ``postgres``: asyncpg), in a schema of its own.

It needs only a DSN, not the PostgreSQL event store's internals: give it the store's database
and it creates ``factstream_streaming`` (or ``schema=``) beside the store's tables.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

import asyncpg

from .base import Beat, StoredBeat, StreamMark, beat_from_row, beat_values
from .migrations import migrations, statements

__all__ = ["PostgresStreamingState"]

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresStreamingState:
    """Checkpoints, leases and marks in ``<schema>.checkpoints``, ``.leases`` and ``.marks``."""

    def __init__(self, pool: Any, schema: str) -> None:
        self._pool = pool
        self.schema = schema
        s = schema
        self._sql = {
            "load_cp": f"SELECT position FROM {s}.checkpoints WHERE name = $1",
            "save_cp": f"INSERT INTO {s}.checkpoints (name, position) VALUES ($1, $2) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
            "updated_at = clock_timestamp()",
            "acquire": f"INSERT INTO {s}.leases AS l (name, owner, expires_at) "
            "VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3)) "
            "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
            "expires_at = excluded.expires_at "
            "WHERE l.owner = excluded.owner OR l.expires_at < clock_timestamp() "
            "RETURNING owner",
            "release": f"DELETE FROM {s}.leases WHERE name = $1 AND owner = $2",
            "holders": f"SELECT name, owner FROM {s}.leases "
            "WHERE starts_with(name, $1) AND expires_at > clock_timestamp()",
            "load_marks": f"SELECT stream_id, version, parked FROM {s}.marks "
            "WHERE consumer = $1 AND stream_id = ANY($2::text[])",
            "save_marks": f"INSERT INTO {s}.marks AS m (consumer, stream_id, version, parked) "
            "SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::bigint[]) "
            "ON CONFLICT (consumer, stream_id) DO UPDATE "
            "SET version = greatest(m.version, excluded.version), parked = excluded.parked",
            "parked": f"SELECT stream_id, version, parked FROM {s}.marks "
            "WHERE consumer = $1 AND parked IS NOT NULL",
            "save_beat": f"INSERT INTO {s}.heartbeats (component, name, member, host, pid, "
            "state, active, position, lag, beat_every, error, heartbeat_at, progress_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, clock_timestamp(), "
            "clock_timestamp() - make_interval(secs => $12)) "
            "ON CONFLICT (component, name, member) DO UPDATE SET host = excluded.host, "
            "pid = excluded.pid, state = excluded.state, active = excluded.active, "
            "position = excluded.position, lag = excluded.lag, "
            "beat_every = excluded.beat_every, error = excluded.error, "
            "heartbeat_at = excluded.heartbeat_at, progress_at = excluded.progress_at",
            "load_beats": "SELECT component, name, member, host, pid, state, active, position, "
            "lag, beat_every, error, "
            "extract(epoch FROM clock_timestamp() - heartbeat_at)::float8 AS heartbeat_age, "
            "extract(epoch FROM clock_timestamp() - progress_at)::float8 AS progress_age "
            f"FROM {s}.heartbeats ORDER BY component, name, member",
            "forget_beats": f"DELETE FROM {s}.heartbeats "
            "WHERE heartbeat_at < clock_timestamp() - make_interval(secs => $1)",
        }

    @classmethod
    async def open(
        cls, dsn: str, *, schema: str = "factstream_streaming", max_size: int = 4
    ) -> PostgresStreamingState:
        """Connect to ``dsn`` and create or migrate ``schema``.

        Raises:
            ValueError: ``schema`` is not a plain lowercase identifier.
        """
        if not _IDENT.match(schema):
            raise ValueError(f"schema must be a lowercase SQL identifier, got {schema!r}")
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=max_size)
        try:
            await _migrate(pool, schema)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, schema)

    async def load_checkpoint(self, name: str) -> int:
        value = await self._pool.fetchval(self._sql["load_cp"], name)
        return int(value) if value is not None else 0

    async def save_checkpoint(self, name: str, position: int) -> None:
        await self._pool.execute(self._sql["save_cp"], name, position)

    async def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        return await self._pool.fetchval(self._sql["acquire"], name, owner, float(ttl)) is not None

    async def release_lease(self, name: str, owner: str) -> None:
        await self._pool.execute(self._sql["release"], name, owner)

    async def lease_holders(self, prefix: str) -> dict[str, str]:
        rows = await self._pool.fetch(self._sql["holders"], prefix)
        return {row["name"]: row["owner"] for row in rows}

    async def load_marks(self, consumer: str, stream_ids: Collection[str]) -> dict[str, StreamMark]:
        if not stream_ids:
            return {}
        rows = await self._pool.fetch(self._sql["load_marks"], consumer, list(stream_ids))
        return {r["stream_id"]: StreamMark(r["version"], r["parked"]) for r in rows}

    async def save_marks(self, consumer: str, marks: Mapping[str, StreamMark]) -> None:
        if not marks:
            return
        streams = list(marks)
        await self._pool.execute(
            self._sql["save_marks"],
            consumer,
            streams,
            [marks[s].version for s in streams],
            [marks[s].parked for s in streams],
        )

    async def parked_streams(self, consumer: str) -> dict[str, StreamMark]:
        rows = await self._pool.fetch(self._sql["parked"], consumer)
        return {r["stream_id"]: StreamMark(r["version"], r["parked"]) for r in rows}

    async def save_heartbeat(self, beat: Beat, progress_age: float) -> None:
        await self._pool.execute(self._sql["save_beat"], *beat_values(beat), float(progress_age))

    async def load_heartbeats(self) -> list[StoredBeat]:
        rows = await self._pool.fetch(self._sql["load_beats"])
        return [StoredBeat(beat_from_row(r), r["heartbeat_age"], r["progress_age"]) for r in rows]

    async def forget_heartbeats(self, older_than: float) -> int:
        status = await self._pool.execute(self._sql["forget_beats"], float(older_than))
        return int(status.rsplit(" ", 1)[-1])

    async def drop(self) -> None:
        """Drop the schema and everything in it (tests)."""
        await self._pool.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")

    async def close(self) -> None:
        await self._pool.close()


async def _migrate(pool: Any, schema: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        # One migrator at a time across processes.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{schema}.migrate")
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.migrations (version integer PRIMARY KEY, "
            "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {
            r["version"] for r in await conn.fetch(f"SELECT version FROM {schema}.migrations")
        }
        for number, name, script in migrations("postgres"):
            if number in applied:
                continue
            for statement in statements(script.replace("{schema}", schema)):
                await conn.execute(statement)
            await conn.execute(
                f"INSERT INTO {schema}.migrations (version, name) VALUES ($1, $2)", number, name
            )

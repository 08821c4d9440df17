"""Creating and migrating a store's schema from the numbered files in ``sql/``."""

from __future__ import annotations

import asyncpg

from ...sqlscripts import numbered_scripts
from .connection import lock_key, quote_ident

__all__ = ["SCHEMA_VERSION", "migrate", "render"]

_PLACEHOLDER = "__schema__"


def _migrations() -> list[tuple[int, str, str]]:
    return numbered_scripts("factstream.store.postgres", "sql")


SCHEMA_VERSION = max(number for number, _, _ in _migrations())


def render(script: str, schema: str) -> str:
    """Put the (quoted) schema name into a SQL script."""
    return script.replace(_PLACEHOLDER, quote_ident(schema))


async def applied_version(conn: asyncpg.Connection, schema: str) -> int:
    """The schema version in force (0 when the schema or its migrations table is missing)."""
    table = f"{quote_ident(schema)}.migrations"
    if await conn.fetchval("SELECT to_regclass($1)", table) is None:
        return 0
    return int(await conn.fetchval(f"SELECT coalesce(max(version), 0) FROM {table}"))


async def migrate(conn: asyncpg.Connection, schema: str) -> int:
    """Create the schema or bring it up to date; safe when several processes do it at once.

    Each process takes the schema's migration lock (a transaction-scoped advisory lock), so one
    applies the missing files and the others then find nothing to do.

    Returns:
        The schema version now in force.

    Raises:
        RuntimeError: the schema was written by a newer factstream.
    """
    current = await applied_version(conn, schema)
    if current == SCHEMA_VERSION:
        return current  # the common case: no lock, one query
    _check_not_newer(current)
    quoted = quote_ident(schema)
    async with conn.transaction():
        await conn.execute("SET LOCAL statement_timeout = 0")
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key("migrate", schema))
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {quoted}.migrations ("
            "version integer PRIMARY KEY, name text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {row[0] for row in await conn.fetch(f"SELECT version FROM {quoted}.migrations")}
        _check_not_newer(max(applied, default=0))
        for number, name, script in _migrations():
            if number in applied:
                continue
            await conn.execute(render(script, schema))
            await conn.execute(
                f"INSERT INTO {quoted}.migrations (version, name) VALUES ($1, $2)", number, name
            )
    return SCHEMA_VERSION


def _check_not_newer(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"the database has schema version {version}, newer than this factstream "
            f"understands ({SCHEMA_VERSION}); upgrade factstream"
        )

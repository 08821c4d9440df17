"""Generations of a projection's tables: created, made active (views swapped), retired.

Each generation has its own physical tables (``orders_g1``, ``orders_g2``, ...) and
checkpoints. Queries read views named after the logical tables, which point at the active
generation; a rebuild fills a new generation in the shadow and swaps the views in one
transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from .errors import ProjectionOutdated
from .projection import Projection
from .readmodels.sql import SqlSession, SqlTransaction, TableNames, physical_tables

__all__ = ["Generation", "activate", "create_generation", "swap", "generations"]

State = Literal["building", "active", "retired"]


@dataclass(frozen=True, slots=True)
class Generation:
    """One generation of a projection's read model.

    Attributes:
        name: the projection's name.
        number: the generation number (1, 2, ...).
        version: the projection version that built it.
        state: ``"building"`` (a shadow being filled), ``"active"`` or ``"retired"``.
        tables: the logical table names.
    """

    name: str
    number: int
    version: int
    state: State
    tables: tuple[str, ...]

    def names(self, session: SqlSession) -> TableNames:
        return TableNames(session.dialect, physical_tables(self.tables, self.number))


def _row(row: tuple[Any, ...]) -> Generation:
    name, number, version, state, tables = row
    return Generation(name, int(number), int(version), state, tuple(json.loads(tables)))


async def generations(session: SqlSession, name: str) -> list[Generation]:
    """Every generation of projection ``name``, oldest first."""
    rows = await session.query(
        session.dialect.convert(
            "SELECT name, generation, version, state, tables FROM factstream_projections "
            "WHERE name = ? ORDER BY generation"
        ),
        (name,),
    )
    return [_row(row) for row in rows]


async def _lock_name(tx: SqlTransaction, name: str) -> None:
    # SQLite's BEGIN IMMEDIATE already serialises writers; PostgreSQL needs a lock so two
    # processes do not create the same generation at once.
    if tx.dialect == "postgres":
        await tx.fetch("SELECT pg_advisory_xact_lock(hashtext('factstream:' || ?))", (name,))
    else:
        await tx._flush()


async def create_generation(
    session: SqlSession, projection: Projection[Any], *, state: State, partitions: int = 1
) -> Generation:
    """Create the next generation's tables, indexes and checkpoints (and views, when it is
    made active at once), run the projection's ``setup``, all in one transaction."""
    tables = tuple(projection.tables)
    tx = SqlTransaction(session, TableNames(session.dialect, {}))
    try:
        await _lock_name(tx, projection.name)
        latest = await tx.fetchval(
            "SELECT max(generation) FROM factstream_projections WHERE name = ?",
            (projection.name,),
        )
        generation = Generation(
            projection.name, int(latest or 0) + 1, projection.version, state, tables
        )
        names = generation.names(session)
        tx = _retarget(tx, session, names)
        for table, ddl in projection.tables.items():
            tx.execute(f"DROP TABLE IF EXISTS {names.physical[table]}")
            tx.execute(ddl)
        for ddl in projection.indexes:
            tx.execute(ddl)
        tx.execute(
            "INSERT INTO factstream_projections "
            f"(name, generation, version, state, tables, created_at) "
            f"VALUES (?, ?, ?, ?, ?, {session.dialect.now})",
            (generation.name, generation.number, generation.version, state, json.dumps(tables)),
        )
        for partition in range(partitions):
            tx.execute(
                "INSERT INTO factstream_checkpoints (name, generation, partition, position, "
                f"updated_at) VALUES (?, ?, ?, 0, {session.dialect.now})",
                (generation.name, generation.number, partition),
            )
        if state == "active":
            await _point_views(tx, generation)
        await projection.setup(tx)
        await tx._commit()
    except BaseException:
        await tx._rollback()
        raise
    return generation


def _retarget(tx: SqlTransaction, session: SqlSession, names: TableNames) -> SqlTransaction:
    # The same open transaction, now naming the new generation's tables.
    moved = SqlTransaction(session, names)
    moved._ops = tx._ops
    moved._begun = tx._begun
    return moved


async def _point_views(tx: SqlTransaction, generation: Generation) -> None:
    for table in generation.tables:
        tx.execute(f"DROP VIEW IF EXISTS {table}")
        tx.execute(f"CREATE VIEW {table} AS SELECT * FROM {tx.table(table)}")


async def activate(session: SqlSession, projection: Projection[Any]) -> Generation:
    """The active generation of ``projection``'s read model, created on first use.

    Raises:
        ProjectionOutdated: the active generation was built by another version of the code.
    """
    for _ in range(3):
        found = [g for g in await generations(session, projection.name) if g.state == "active"]
        if not found:
            try:
                return await create_generation(session, projection, state="active")
            except Exception:
                # Another process may have created it at the same moment: then use that one.
                again = await generations(session, projection.name)
                if not any(g.state == "active" for g in again):
                    raise
                continue
        active = found[-1]
        if active.version != projection.version:
            advice = (
                "rebuild it (factstream projections rebuild)"
                if active.version < projection.version
                else "run the newer code"
            )
            raise ProjectionOutdated(
                f"projection {projection.name!r}: the read model was built by version "
                f"{active.version}, this code is version {projection.version}; {advice}"
            )
        return active
    raise RuntimeError(f"projection {projection.name!r}: could not create its read model")


async def swap(session: SqlSession, name: str, number: int, *, drop_old: bool = True) -> None:
    """Make generation ``number`` active and retire the others, in one transaction: the
    views switch to its tables atomically; queries see the old tables or the new ones."""
    tx = SqlTransaction(session, TableNames(session.dialect, {}))
    try:
        await _lock_name(tx, name)
        rows = await tx.fetch(
            "SELECT name, generation, version, state, tables FROM factstream_projections "
            "WHERE name = ? ORDER BY generation" + session.dialect.lock_row,
            (name,),
        )
        all_generations = [_row(row) for row in rows]
        chosen = [g for g in all_generations if g.number == number]
        if not chosen:
            raise ValueError(f"projection {name!r} has no generation {number}")
        new = chosen[0]
        tx = _retarget(tx, session, new.names(session))
        await _point_views(tx, new)
        tx.execute(
            "UPDATE factstream_projections SET state = CASE WHEN generation = ? THEN 'active' "
            "ELSE 'retired' END WHERE name = ? AND (generation = ? OR state = 'active')",
            (number, name, number),
        )
        if drop_old:
            for old in all_generations:
                if old.number != number and old.state == "active":
                    for table in old.names(session).physical.values():
                        tx.execute(f"DROP TABLE IF EXISTS {table}")
        await tx._commit()
    except BaseException:
        await tx._rollback()
        raise

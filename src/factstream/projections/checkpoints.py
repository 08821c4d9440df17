"""Checkpoints: the position of the last event applied, per generation and partition.

A runner reads its checkpoints when it starts and then only moves them inside its batch
transactions, after checking (with the rows locked) that they are still where it left them:
two runners of the same projection can never both apply a batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .errors import CheckpointConflict, GenerationChanged
from .readmodels.sql import Row, SqlSession, SqlTransaction

__all__ = ["CheckpointKey", "advance", "guard", "load_checkpoints"]


@dataclass(frozen=True, slots=True)
class CheckpointKey:
    """Which checkpoints a runner owns: a projection's generation and some partitions."""

    name: str
    generation: int


async def load_checkpoints(
    session: SqlSession, key: CheckpointKey, partitions: Iterable[int]
) -> dict[int, int]:
    """The checkpoints of ``partitions`` (created at 0 when missing)."""
    dialect = session.dialect
    wanted = sorted(set(partitions))
    for partition in wanted:
        await session.execute(
            dialect.convert(
                "INSERT INTO factstream_checkpoints (name, generation, partition, position, "
                f"updated_at) VALUES (?, ?, ?, 0, {dialect.now}) ON CONFLICT DO NOTHING"
            ),
            (key.name, key.generation, partition),
        )
    rows = await session.query(
        dialect.convert(
            "SELECT partition, position FROM factstream_checkpoints "
            "WHERE name = ? AND generation = ?"
        ),
        (key.name, key.generation),
    )
    found = {int(partition): int(position) for partition, position in rows}
    return {partition: found[partition] for partition in wanted}


def guard(
    tx: SqlTransaction,
    key: CheckpointKey,
    expected: Mapping[int, int],
    *,
    require_active: bool,
) -> None:
    """Make the batch's transaction begin by locking the checkpoints and checking nobody
    else moved them, and (for the live runner) that its generation is still the active one.

    The check runs when the transaction begins (first read, or commit) and raises there:
        CheckpointConflict: a checkpoint is not at the expected position.
        GenerationChanged: ``require_active`` and the generation is not active any more.
    """
    postgres = tx.dialect == "postgres"
    marks = ",".join("?" * len(expected))
    sql = tx._names.prepare(
        "SELECT c.partition, c.position, p.state FROM factstream_checkpoints c "
        "JOIN factstream_projections p ON p.name = c.name AND p.generation = c.generation "
        f"WHERE c.name = ? AND c.generation = ? AND c.partition IN ({marks})"
        + (" FOR UPDATE OF c FOR SHARE OF p" if postgres else "")
    )
    wanted = dict(expected)

    def check(rows: list[Row]) -> None:
        found = {int(partition): (int(position), state) for partition, position, state in rows}
        for partition, position in wanted.items():
            stored = found.get(partition)
            if stored is None or stored[0] != position:
                raise CheckpointConflict(
                    f"projection {key.name!r} generation {key.generation} partition "
                    f"{partition}: checkpoint is at {None if stored is None else stored[0]}, "
                    f"expected {position} (is another runner of this projection running?)"
                )
            if require_active and stored[1] != "active":
                raise GenerationChanged(
                    f"projection {key.name!r}: generation {key.generation} is {stored[1]} now"
                )

    tx._set_guard((sql, (key.name, key.generation, *wanted), check))


def advance(tx: SqlTransaction, key: CheckpointKey, positions: Mapping[int, int]) -> None:
    """Queue the checkpoint updates; they commit with the batch."""
    now = tx._names.dialect.now
    for partition, position in positions.items():
        tx.execute(
            f"UPDATE factstream_checkpoints SET position = ?, updated_at = {now} "
            "WHERE name = ? AND generation = ? AND partition = ?",
            (position, key.name, key.generation, partition),
        )

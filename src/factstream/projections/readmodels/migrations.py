"""factstream's read-side tables, from the numbered files in ``projections/sql/<dialect>/``."""

from __future__ import annotations

from ...sqlscripts import numbered_scripts, split_statements

__all__ = ["MIGRATIONS_TABLE", "migrations", "statements"]

# Not the event store's table: the read models may live in the events' own database.
MIGRATIONS_TABLE = "factstream_read_side_migrations"


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """``(number, file name, script)`` of every migration for ``dialect``, in order."""
    return numbered_scripts("factstream.projections", "sql", dialect)


statements = split_statements

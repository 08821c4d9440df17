"""factstream's read-side tables, from the numbered files in ``projections/sql/<dialect>/``."""

from __future__ import annotations

from importlib import resources

__all__ = ["MIGRATIONS_TABLE", "migrations", "statements"]

# Not the event store's table: the read models may live in the events' own database.
MIGRATIONS_TABLE = "factstream_read_side_migrations"


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """``(number, file name, script)`` of every migration for ``dialect``, in order."""
    folder = resources.files("factstream.projections").joinpath("sql", dialect)
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def statements(script: str) -> list[str]:
    """The statements of a script (no ``;`` inside statements, ``--`` comments dropped)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]

"""The numbered SQL files of the streaming state, per database."""

from __future__ import annotations

from ...sqlscripts import numbered_scripts, split_statements

__all__ = ["migrations", "statements"]


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """``(number, file name, text)`` of ``sql/<dialect>/NNN_*.sql``, in order."""
    return numbered_scripts("factstream.streaming.state", "sql", dialect)


statements = split_statements

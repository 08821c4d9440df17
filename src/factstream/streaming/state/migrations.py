"""The numbered SQL files of the streaming state, per database."""

from __future__ import annotations

from importlib import resources

__all__ = ["migrations", "statements"]


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """``(number, file name, text)`` of ``sql/<dialect>/NNN_*.sql``, in order."""
    folder = resources.files(__package__).joinpath("sql", dialect)
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def statements(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]

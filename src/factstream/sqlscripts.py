"""Numbered SQL migration files shipped inside the package, and splitting them into statements.

The event store, the read side and the streaming state each keep their schema as files
``NNN_name.sql`` in a folder of their package; this module reads them the same way for all.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["numbered_scripts", "split_statements"]


def numbered_scripts(package: str, *folder: str) -> list[tuple[int, str, str]]:
    """``(number, file name, text)`` of every ``NNN_*.sql`` file in ``package``'s ``folder``,
    in number order."""
    directory = resources.files(package).joinpath(*folder)
    found = []
    for entry in directory.iterdir():
        name = entry.name
        if name.endswith(".sql"):
            found.append((int(name.split("_", 1)[0]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def split_statements(script: str) -> list[str]:
    """The statements of a script, for drivers that run one at a time (SQLite): split on
    ``;``, lines that are only a ``--`` comment dropped. No ``;`` may stand inside a statement
    (a string, a trailing comment or a function body)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]

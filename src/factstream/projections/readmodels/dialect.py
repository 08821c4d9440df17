"""What differs between SQLite and PostgreSQL in factstream's own read-side SQL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["POSTGRES", "SQLITE", "Dialect", "qmark_to_dollar"]

# A '?' outside quotes, or a quoted string / identifier / comment to skip over.
_TOKENS = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\?)""")


def qmark_to_dollar(sql: str) -> str:
    """Turn ``?`` placeholders into PostgreSQL's ``$1, $2, ...`` (quotes and comments kept)."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0) != "?":
            return match.group(0)
        count += 1
        return f"${count}"

    return _TOKENS.sub(number, sql)


@dataclass(frozen=True, slots=True)
class Dialect:
    """The SQL fragments that differ between the databases factstream writes read models to.

    Attributes:
        name: ``"sqlite"`` or ``"postgres"``.
        now: an expression for the database's clock in seconds since the epoch (a float).
        lock_row: appended to a ``SELECT`` that must lock the row it reads until commit.
    """

    name: Literal["sqlite", "postgres"]
    now: str
    lock_row: str

    def convert(self, sql: str) -> str:
        """The statement with ``?`` placeholders in this dialect's form."""
        return qmark_to_dollar(sql) if self.name == "postgres" else sql


SQLITE = Dialect("sqlite", "((julianday('now') - 2440587.5) * 86400.0)", "")
POSTGRES = Dialect("postgres", "extract(epoch from clock_timestamp())::float8", " FOR UPDATE")

"""Creating and migrating the SQLite schema from the numbered files in ``sql/``."""

from __future__ import annotations

import sqlite3

from ...sqlscripts import numbered_scripts, split_statements

__all__ = ["SCHEMA_VERSION", "migrate"]


def _migrations() -> list[tuple[int, str, str]]:
    return numbered_scripts("factstream.store.sqlite", "sql")


SCHEMA_VERSION = max(number for number, _, _ in _migrations())


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to date; safe when several processes open the file at once.

    Returns:
        The schema version now in force.

    Raises:
        RuntimeError: the file was written by a newer factstream.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS factstream_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        applied = {row[0] for row in conn.execute("SELECT version FROM factstream_migrations")}
        if applied and max(applied) > SCHEMA_VERSION:
            raise RuntimeError(
                f"the database has schema version {max(applied)}, newer than this factstream "
                f"understands ({SCHEMA_VERSION}); upgrade factstream"
            )
        for number, name, script in _migrations():
            if number in applied:
                continue
            for statement in split_statements(script):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO factstream_migrations (version, name, applied_at) "
                "VALUES (?, ?, datetime('now'))",
                (number, name),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION

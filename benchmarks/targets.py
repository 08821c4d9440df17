"""Where one measurement stores its events: a fresh SQLite file, PostgreSQL schema or nothing.

A :class:`Target` is plain data (it crosses into worker subprocesses as JSON). Every side
(factstream, eventsourcing, raw driver) gets its own fresh target per measurement, except the
read scenario's data set, which is written once per side and read by every run.
"""

from __future__ import annotations

import glob
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from .procstats import files_size

BACKENDS = ("sqlite", "postgres", "memory")
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Target:
    backend: str
    #: SQLite: the database file. PostgreSQL: unused.
    path: str = ""
    #: PostgreSQL: the server URL without a schema, and the schema this target owns.
    pg_url: str = ""
    schema: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Target:
        return cls(**data)

    # -- what each side needs to open it ---------------------------------------------------

    def factstream_url(self) -> str:
        if self.backend == "sqlite":
            return "sqlite:///" + os.path.abspath(self.path)
        if self.backend == "postgres":
            return f"{self.pg_url}?schema={self.schema}"
        return "memory://"

    def eventsourcing_env(self) -> dict[str, str]:
        """The settings eventsourcing 9.5 reads (see eventsourcing/sqlite.py, postgres.py)."""
        if self.backend == "sqlite":
            return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": self.path}
        if self.backend == "postgres":
            parts = urlsplit(self.pg_url)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
                "POSTGRES_HOST": parts.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(parts.port or 5432),
                "POSTGRES_USER": parts.username or "postgres",
                "POSTGRES_PASSWORD": parts.password or "",
                "POSTGRES_SCHEMA": self.schema,
            }
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}

    def pg_conninfo(self) -> str:
        """A libpq URL for psycopg / asyncpg (no query options)."""
        return self.pg_url

    def store_files(self) -> list[str]:
        return [self.path, self.path + "-wal", self.path + "-shm"] if self.path else []


class TargetFactory:
    """Makes fresh targets under one scratch folder (SQLite) or schema prefix (PostgreSQL).

    ``own_scratch``: the folder was made for this run and is removed with everything in it at
    the end. A folder someone passed in (``--scratch``) is never removed: only the files of the
    targets made here are.
    """

    def __init__(
        self,
        backend: str,
        scratch: str,
        pg_url: str = DEFAULT_PG_URL,
        *,
        own_scratch: bool = False,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
        self.backend = backend
        self.scratch = scratch
        self.own_scratch = own_scratch
        self.pg_url = pg_url
        self._tag = uuid.uuid4().hex[:6]
        self._made: list[Target] = []

    def fresh(self, label: str) -> Target:
        name = f"{label}_{len(self._made)}".replace("-", "_")
        if self.backend == "sqlite":
            target = Target("sqlite", path=os.path.join(self.scratch, name + ".db"))
        elif self.backend == "postgres":
            schema = f"bench_{self._tag}_{name}".lower()
            pg_execute(self.pg_url, f'CREATE SCHEMA "{schema}"')
            target = Target("postgres", pg_url=self.pg_url, schema=schema)
        else:
            target = Target("memory")
        self._made.append(target)
        return target

    def drop(self, target: Target) -> None:
        if target.backend == "sqlite":
            for path in glob.glob(target.path + "*"):
                os.remove(path)
        elif target.backend == "postgres":
            pg_execute(target.pg_url, f'DROP SCHEMA IF EXISTS "{target.schema}" CASCADE')

    def drop_all(self) -> None:
        for target in self._made:
            try:
                self.drop(target)
            except Exception as exc:  # cleaning up must not hide the results
                print(f"note: could not drop {target}: {exc}")
        self._made.clear()
        if self.own_scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)


def store_bytes(target: Target) -> int:
    """The size of the stored log: the SQLite files, or the PostgreSQL schema's relations."""
    if target.backend == "sqlite":
        return files_size(*target.store_files())
    if target.backend == "postgres":
        import psycopg

        with psycopg.connect(target.pg_url) as conn:
            row = conn.execute(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'm')",
                (target.schema,),
            ).fetchone()
        return int(row[0]) if row else 0
    return 0


def pg_execute(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.encode())  # the schema names are ours

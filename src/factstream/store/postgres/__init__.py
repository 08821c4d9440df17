"""The PostgreSQL backend (extra ``postgres``: asyncpg)."""

from .connection import PostgresSettings
from .schema import SCHEMA_VERSION, migrate
from .store import PostgresEventStore

__all__ = ["SCHEMA_VERSION", "PostgresEventStore", "PostgresSettings", "migrate"]

"""Where read models live, and opening one for a projection."""

from __future__ import annotations

from typing import Any, TypeAlias
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from ..events import UnsupportedUrl
from .projection import Projection
from .readmodels.base import ReadModel
from .readmodels.postgres import PostgresTarget
from .readmodels.sql import SqlTarget
from .readmodels.sqlite import SqliteTarget
from .readmodels.sqlmodel import open_sql_read_model

__all__ = ["Target", "open_read_model", "target_from_url"]

Target: TypeAlias = SqlTarget
"""A :class:`SqliteTarget`, :class:`PostgresTarget` or :class:`RedisTarget`."""


async def open_read_model(
    target: Target, projection: Projection[Any], generation: int | None = None
) -> ReadModel:
    """Open ``projection``'s read model at ``target`` for a runner."""
    if isinstance(target, SqlTarget):
        return await open_sql_read_model(target, projection, generation)
    raise TypeError(f"not a read-model target: {target!r}")


def target_from_url(url: str) -> Target:
    """The read-model target a URL names (for command lines and settings files).

    ``sqlite:///relative.db``, ``sqlite:////absolute.db``,
    ``postgresql://user@host:port/db?schema=NAME`` (default schema ``public``).

    Raises:
        UnsupportedUrl: another scheme, or no path.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        path = unquote(parts.path)
        path = path[1:] if path.startswith("/") else path
        if parts.netloc or not path:
            raise UnsupportedUrl(f"{url!r}: use sqlite:///relative.db or sqlite:////abs.db")
        return SqliteTarget(path)
    if scheme in ("postgresql", "postgres"):
        query = dict(parse_qsl(parts.query))
        schema = query.pop("schema", "public")
        dsn = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
        return PostgresTarget(dsn, schema)
    raise UnsupportedUrl(
        f"{url!r}: unknown read-model URL scheme {parts.scheme!r}; "
        "use sqlite:///path.db or postgresql://...?schema=NAME"
    )

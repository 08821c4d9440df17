"""Where read models live, and opening one for a projection."""

from __future__ import annotations

from typing import Any, TypeAlias

from .projection import Projection
from .readmodels.base import ReadModel
from .readmodels.sql import SqlTarget
from .readmodels.sqlmodel import open_sql_read_model

__all__ = ["Target", "open_read_model"]

Target: TypeAlias = SqlTarget
"""A :class:`SqliteTarget`, :class:`PostgresTarget` or :class:`RedisTarget`."""


async def open_read_model(
    target: Target, projection: Projection[Any], generation: int | None = None
) -> ReadModel:
    """Open ``projection``'s read model at ``target`` for a runner."""
    if isinstance(target, SqlTarget):
        return await open_sql_read_model(target, projection, generation)
    raise TypeError(f"not a read-model target: {target!r}")

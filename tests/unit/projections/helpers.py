"""Helpers of the read-side tests."""

from __future__ import annotations

from typing import Any

from factstream.projections import SqlTarget


async def query(
    target: SqlTarget, sql: str, params: tuple[object, ...] = ()
) -> list[tuple[Any, ...]]:
    """Read through a fresh connection, as a query service would (views, not tables)."""
    session = await target.connect()
    try:
        return await session.query(session.dialect.convert(sql), params)
    finally:
        await session.close()

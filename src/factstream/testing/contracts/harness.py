"""How a contract suite gets stores to test: one harness per backend."""

from __future__ import annotations

import abc
from typing import Any

from ...store.base import StoreBase

__all__ = ["StoreHarness"]


class StoreHarness(abc.ABC):
    """Opens stores on one fresh, empty database (or schema, or file) per test.

    Attributes:
        name: the backend's name, for test ids.
        persistent: whether a store opened again sees what an earlier one wrote.
        url: a URL another process can open to share the database, or ``None``.
    """

    name: str = "?"
    persistent: bool = True
    url: str | None = None

    @abc.abstractmethod
    async def open(self, **options: Any) -> StoreBase:
        """Open a store on this harness's database. Callers close what they open."""

    async def cleanup(self) -> None:
        """Drop the database, schema or file (after every store is closed)."""

"""Holding a lease: take it, renew it at a third of its time to live, notice losing it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from ..events import FactstreamError
from .state.base import LeaseStore

__all__ = ["LeaseKeeper", "LeaseLost"]

_log = logging.getLogger("factstream.streaming.leases")


class LeaseLost(FactstreamError):
    """Another owner took the lease, or it could not be renewed before it expired."""


class LeaseKeeper:
    """One owner's hold on one named lease.

    The holder must stop the work the lease protects as soon as :meth:`keep` raises
    :class:`LeaseLost`. A lease that cannot be renewed (database unreachable) is given up
    before it expires, so two holders never overlap while clocks agree.
    """

    def __init__(self, leases: LeaseStore, name: str, owner: str, ttl: float) -> None:
        if ttl <= 0:
            raise ValueError(f"ttl must be > 0, got {ttl}")
        self.leases = leases
        self.name = name
        self.owner = owner
        self.ttl = ttl
        self._renewed_at = 0.0

    async def acquire(self) -> bool:
        started = time.monotonic()
        if await self.leases.acquire_lease(self.name, self.owner, self.ttl):
            self._renewed_at = started
            return True
        return False

    @property
    def valid_for(self) -> float:
        """Seconds the lease is still known to be ours (by this process's clock)."""
        return self._renewed_at + self.ttl - time.monotonic()

    async def keep(self) -> None:
        """Renew until cancelled; raise :class:`LeaseLost` when the lease is gone."""
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                if not await self.acquire():
                    raise LeaseLost(f"lease {self.name!r} was taken by another owner")
            except LeaseLost:
                raise
            except Exception as exc:
                # Keep trying while the lease is still ours; stop before it could expire.
                _log.warning("renewing lease %r failed: %r", self.name, exc)
                if self.valid_for < self.ttl / 3:
                    raise LeaseLost(f"lease {self.name!r} could not be renewed: {exc!r}") from exc

    async def release(self) -> None:
        with contextlib.suppress(Exception):
            await self.leases.release_lease(self.name, self.owner)

"""The HTTP app's settings: parsed once at the edge (CLI, composition root), then frozen."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..store.catalog import MAX_LOOKUP_LIMIT

__all__ = ["HttpSettings", "is_loopback"]

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpSettings:
    """How the HTTP app behaves.

    Attributes:
        host: the address the server binds to. Anything but loopback needs ``token``.
        port: the TCP port.
        token: the bearer token clients must send (``Authorization: Bearer <token>``). Required
            when ``host`` is not a loopback address; optional (but enforced if set) on loopback.
        max_body_bytes: the largest request body accepted (larger ones get 413).
        consistency_timeout: the longest a read waits for a read model to reach the position
            in its ``Consistency-Token`` header before answering 202 with stale data.
        sse_keepalive: seconds between keep-alive comments on an idle live feed (they also
            reveal a vanished client).
        sse_buffer: events read ahead for one live-feed client; a slow client slows its own
            subscription, never the heap.
        max_page: the largest page a list endpoint returns (at most 10,000).
        related_limit: the most events the event detail lists as caused by an event, and as
            of its correlation (at most 1,000).
        lag_sample_interval: seconds between samples of projection lag (for the console chart).
        lag_history: samples kept per projection.
        health_timeout: seconds each readiness check may take before it counts as failed.
        console: serve the web console at ``/console``.
        title: shown in the OpenAPI document and the console.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    max_body_bytes: int = 2 * 1024 * 1024
    consistency_timeout: float = 5.0
    sse_keepalive: float = 15.0
    sse_buffer: int = 64
    max_page: int = 1000
    related_limit: int = 100
    lag_sample_interval: float = 5.0
    lag_history: int = 360
    health_timeout: float = 2.0
    console: bool = True
    title: str = "factstream"

    def __post_init__(self) -> None:
        if self.token is not None and len(self.token) < 16:
            raise ValueError("the bearer token must be at least 16 characters long")
        if self.token is None and not is_loopback(self.host):
            raise ValueError(
                f"binding to {self.host!r} (not loopback) needs a bearer token: pass --token "
                "(or set FACTSTREAM_TOKEN), or bind to 127.0.0.1"
            )
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")
        for name in ("max_body_bytes", "sse_buffer", "max_page", "lag_history", "related_limit"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in (
            "consistency_timeout",
            "sse_keepalive",
            "lag_sample_interval",
            "health_timeout",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name, most in (("max_page", MAX_LOOKUP_LIMIT), ("related_limit", 1000)):
            if getattr(self, name) > most:
                raise ValueError(f"{name} must be <= {most}, got {getattr(self, name)}")

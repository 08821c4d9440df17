"""Broker adapters and ``open_broker(url)``.

``memory://`` (a new in-process broker), ``nats://host:port[,nats://host2:port]`` (extra
``nats``), ``redis://host:port/db`` (extra ``redis``). Query options: ``prefix``,
``partitions`` (and the adapters' other keyword options). The NATS and Redis adapters are
imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ...events import UnsupportedUrl
from .base import Broker, BrokerUnavailable, DeadLetter, Delivery, OutboundMessage
from .memory import MemoryBroker

if TYPE_CHECKING:
    from .nats import NatsBroker
    from .redis import RedisStreamsBroker

__all__ = [
    "Broker",
    "BrokerUnavailable",
    "DeadLetter",
    "Delivery",
    "MemoryBroker",
    "NatsBroker",
    "OutboundMessage",
    "RedisStreamsBroker",
    "open_broker",
]

_INTS = ("partitions", "max_pending", "replicas", "batch_size", "maxlen")
_FLOATS = ("duplicate_window", "ack_wait", "api_timeout")


async def open_broker(url: str, **options: Any) -> Broker:
    """Open the broker at ``url``; keyword options override the URL's query options.

    Raises:
        UnsupportedUrl: unknown scheme, or a missing extra.
        BrokerUnavailable: the broker cannot be reached.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query: dict[str, Any] = dict(parse_qsl(parts.query))
    for name in _INTS:
        if name in query:
            query[name] = int(query[name])
    for name in _FLOATS:
        if name in query:
            query[name] = float(query[name])
    query.update(options)
    plain = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    if scheme == "memory":
        return MemoryBroker(query.get("partitions", 8))
    if scheme in ("nats", "tls"):
        try:
            from .nats import NatsBroker
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise UnsupportedUrl(
                "NATS needs the 'nats' extra: pip install 'factstream[nats]'"
            ) from exc
        return await NatsBroker.open(plain, **query)
    if scheme in ("redis", "rediss"):
        try:
            from .redis import RedisStreamsBroker
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise UnsupportedUrl(
                "Redis needs the 'redis' extra: pip install 'factstream[redis]'"
            ) from exc
        return await RedisStreamsBroker.open(plain, **query)
    raise UnsupportedUrl(f"{url!r}: use memory://, nats://host:port or redis://host:port")


def __getattr__(name: str) -> Any:
    if name == "NatsBroker":
        from .nats import NatsBroker

        return NatsBroker
    if name == "RedisStreamsBroker":
        from .redis import RedisStreamsBroker

        return RedisStreamsBroker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""JetStream publishes with acknowledgements, written to the connection directly.

nats-py's ``JetStreamContext.publish_async`` costs about as much Python per message as the
rest of the relay together: it validates and encodes every header one by one, builds a reply
token from random bytes, waits on a semaphore through ``asyncio.wait_for`` and parses each
acknowledgement into a dataclass. :class:`AckedPublisher` sends the same ``HPUB`` command
(headers block per the NATS protocol: ``NATS/1.0`` CRLF, ``Key: Value`` CRLF per header, CRLF)
with a counter as reply token, on one wildcard reply subscription, and reads an
acknowledgement only for ``"error"``.

It uses two internals of nats-py's client (``_send_command`` and ``_flush_pending``, the
path of ``Client.publish``); :func:`wire_supported` checks they exist, and the broker falls
back to ``publish_async`` when they do not.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg

from .base import BrokerUnavailable

__all__ = ["AckedPublisher", "PublishRejected", "header_block", "wire_supported"]

_KEY = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NEWLINES = str.maketrans({"\r": " ", "\n": " "})
_HEAD = b"NATS/1.0\r\n"


class PublishRejected(BrokerUnavailable):
    """JetStream answered a publish with an error (no stream for the subject, limits...)."""


def wire_supported(client: Client) -> bool:
    """Whether ``client`` has the internals :class:`AckedPublisher` writes through."""
    return callable(getattr(client, "_send_command", None)) and callable(
        getattr(client, "_flush_pending", None)
    )


class _Keys:
    """Header names already checked (a relay sends the same dozen names every time)."""

    def __init__(self) -> None:
        self.good: set[str] = set()

    def check(self, headers: Mapping[str, str]) -> None:
        if self.good.issuperset(headers):
            return
        for key in headers:
            if not _KEY.fullmatch(key):
                raise ValueError(f"{key!r} cannot be a NATS header name")
            if len(self.good) < 1024:
                self.good.add(key)


def header_block(headers: Mapping[str, str], msg_id: str | None = None) -> bytes:
    """The NATS headers block of ``headers`` (plus ``Nats-Msg-Id``); CR and LF in values
    become spaces, as nats-py does. Names are not checked here (see :class:`AckedPublisher`)."""
    pairs = list(headers.items())
    if msg_id is not None:
        if "Nats-Msg-Id" in headers:
            pairs = [(k, v) for k, v in pairs if k != "Nats-Msg-Id"]
        pairs.append(("Nats-Msg-Id", msg_id))
    text = "".join([f"{k}: {v}\r\n" for k, v in pairs])
    if text.count("\n") != len(pairs) or text.count("\r") != len(pairs):
        text = "".join([f"{k}: {v.translate(_NEWLINES)}\r\n" for k, v in pairs])
    return _HEAD + text.encode() + b"\r\n"


class _Answer(msgspec.Struct):
    error: dict[str, Any] | None = None


_decode_answer = msgspec.json.Decoder(_Answer).decode


class AckedPublisher:
    """Publishes to JetStream with at most ``max_pending`` unacknowledged messages.

    Each :meth:`publish` returns a future resolved (``None``) when JetStream stored the
    message (or recognised its ``Nats-Msg-Id`` as a duplicate), failed with
    :class:`PublishRejected` when it refused it.
    """

    def __init__(self, client: Client, max_pending: int, stall_timeout: float) -> None:
        self._nc = client
        self.max_pending = max_pending
        self.stall_timeout = stall_timeout
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._room = asyncio.Event()
        self._keys = _Keys()
        self._next = 0
        self._inbox = ""
        self._cut = 0
        self._started: asyncio.Future[None] | None = None

    @property
    def pending(self) -> int:
        return len(self._waiting)

    def futures(self) -> list[asyncio.Future[None]]:
        return list(self._waiting.values())

    async def _start(self) -> None:
        inbox = self._nc.new_inbox()
        await self._nc.subscribe(f"{inbox}.*", cb=self._answered)
        self._inbox = inbox + "."
        self._cut = len(self._inbox)

    async def publish(
        self, subject: str, msg_id: str, headers: Mapping[str, str], body: bytes
    ) -> asyncio.Future[None]:
        """Send one message; wait first while ``max_pending`` are unacknowledged.

        Raises:
            BrokerUnavailable: the connection is closed, or nothing was acknowledged for
                ``stall_timeout`` seconds while the bound was reached.
            ValueError: a header name NATS cannot carry.
        """
        if not self._inbox:
            if self._started is None:
                self._started = asyncio.ensure_future(self._start())
            await asyncio.shield(self._started)
        while len(self._waiting) >= self.max_pending:
            self._room.clear()
            try:
                async with asyncio.timeout(self.stall_timeout):
                    await self._room.wait()
            except TimeoutError as exc:
                raise BrokerUnavailable("JetStream acknowledged nothing for too long") from exc
        self._keys.check(headers)
        nc = self._nc
        if nc.is_closed:
            raise BrokerUnavailable("the NATS connection is closed")
        self._next += 1
        token = str(self._next)
        block = header_block(headers, msg_id)
        size = len(block)
        command = b"".join(
            (
                f"HPUB {subject} {self._inbox}{token} {size} {size + len(body)}\r\n".encode(),
                block,
                body,
                b"\r\n",
            )
        )
        if not nc.is_connected:
            limit: int = nc._max_pending_size
            if limit <= 0 or len(command) + nc._pending_data_size > limit:
                raise BrokerUnavailable("NATS is disconnected and its outbound buffer is full")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        await nc._send_command(command)
        flushes: Any = nc._flush_queue
        if flushes is not None and flushes.empty():
            await nc._flush_pending()
        return future

    async def _answered(self, msg: Msg) -> None:
        future = self._waiting.pop(msg.subject[self._cut :], None)
        if not self._room.is_set():
            self._room.set()
        if future is None or future.done():
            return
        data = msg.data
        if not data:
            status = (msg.headers or {}).get("Status", "?")
            future.set_exception(PublishRejected(f"no JetStream stream answered ({status})"))
        elif b'"error"' in data:
            try:
                error = _decode_answer(data).error
            except msgspec.DecodeError:
                error = {"description": data[:200].decode(errors="replace")}
            future.set_exception(PublishRejected(f"JetStream refused a publish: {error}"))
        else:
            future.set_result(None)

    def cancel_pending(self) -> None:
        """Give up on every unacknowledged publish (their futures are cancelled)."""
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            future.cancel()
        self._room.set()

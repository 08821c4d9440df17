"""The NATS adapter's hot paths, written to the connection directly.

nats-py's ``JetStreamContext.publish_async`` costs about as much Python per message as the
rest of the relay together: it validates and encodes every header one by one, builds a reply
token from random bytes, waits on a semaphore through ``asyncio.wait_for`` and parses each
acknowledgement into a dataclass. :class:`AckedPublisher` sends the same ``HPUB`` command
(headers block per the NATS protocol: ``NATS/1.0`` CRLF, ``Key: Value`` CRLF per header, CRLF)
with a counter as reply token, on one wildcard reply subscription, and reads an
acknowledgement only for ``"error"``.

On the consuming side, :class:`Puller` replaces ``PullSubscription.fetch`` (a task per
message), :func:`ack_all` writes a batch's acks in one go, and :class:`FastHeadersClient`
reads header blocks with one decode each.

They use two internals of nats-py's client (``_send_command`` and ``_flush_pending``, the
path of ``Client.publish``): :func:`wire_supported` checks they exist (the broker refuses a
client without them) and the ``nats`` extra pins ``nats-py<3``.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Mapping
from typing import Any

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg

from .base import BrokerUnavailable

__all__ = [
    "AckedPublisher",
    "FastHeadersClient",
    "PublishRejected",
    "Puller",
    "ack_all",
    "header_block",
    "wire_supported",
]

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


async def send_commands(client: Client, commands: bytes) -> None:
    """Queue protocol ``commands`` on ``client`` and have them flushed (``Client.publish``'s
    path without its per-message checks).

    Raises:
        BrokerUnavailable: the connection is closed, or disconnected with its outbound buffer
            full.
    """
    if client.is_closed:
        raise BrokerUnavailable("the NATS connection is closed")
    if not client.is_connected:
        limit: int = client._max_pending_size
        if limit <= 0 or len(commands) + client._pending_data_size > limit:
            raise BrokerUnavailable("NATS is disconnected and its outbound buffer is full")
    await client._send_command(commands)
    flushes: Any = client._flush_queue
    if flushes is not None and flushes.empty():
        await client._flush_pending()


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
        self._starting = asyncio.Lock()

    @property
    def pending(self) -> int:
        return len(self._waiting)

    def futures(self) -> list[asyncio.Future[None]]:
        return list(self._waiting.values())

    async def _start(self) -> None:
        inbox = self._nc.new_inbox()
        await self._nc.subscribe(f"{inbox}.*", cb=self._answered)
        self._cut = len(inbox) + 1
        self._inbox = inbox + "."

    async def publish(
        self, subject: str, msg_id: str, headers: Mapping[str, str], body: bytes
    ) -> asyncio.Future[None]:
        """Send one message; wait first while ``max_pending`` are unacknowledged.

        Raises:
            BrokerUnavailable: the connection is closed, or nothing was acknowledged for
                ``stall_timeout`` seconds while the bound was reached.
            ValueError: a header name NATS cannot carry.
        """
        if self._nc.is_closed:
            raise BrokerUnavailable("the NATS connection is closed")
        if not self._inbox:
            async with self._starting:  # a failed or cancelled start is tried again
                if not self._inbox:
                    await self._start()
        while len(self._waiting) >= self.max_pending:
            self._room.clear()
            try:
                async with asyncio.timeout(self.stall_timeout):
                    await self._room.wait()
            except TimeoutError as exc:
                raise BrokerUnavailable("JetStream acknowledged nothing for too long") from exc
        self._keys.check(headers)
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
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        try:
            await send_commands(self._nc, command)
        except BaseException:
            self._waiting.pop(token, None)
            raise
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


_SPACE = re.compile(r"\s")


class FastHeadersClient(Client):
    """nats-py's client with a quicker reader of message headers.

    nats-py 2.16 checks every character of every header name in a generator expression: for
    the relay's dozen CloudEvents headers that was the largest cost of consuming a message.
    This reads the same format (``Name: Value`` lines; names with whitespace or non-ASCII
    bytes skipped; values trimmed; UTF-8 with replacement) with one decode per block.
    """

    @staticmethod
    def _parse_header_lines(raw: bytes) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in raw.decode("utf-8", "replace").split("\r\n"):
            name, sep, value = line.partition(":")
            if not sep:
                continue
            key = name.strip()
            if key.isascii() and not _SPACE.search(key):
                out[key] = value.strip()
        return out


_STATUS = "Status"
_ENDED = frozenset({"404", "408", "409"})  # no messages, request expired, request ended


class Puller:
    """Fetches from a durable pull consumer through one inbox subscription.

    nats-py's ``PullSubscription.fetch`` waits for each message with ``asyncio.wait_for``
    (a task per message). Here the subscription's callback appends to a deque and one fetch
    waits once per burst. A request that ended locally (timeout) may still deliver: those
    messages wait in the deque, in order, and the next fetch returns them first.
    """

    def __init__(self, client: Client, stream: str, durable: str, api_prefix: str) -> None:
        self._nc = client
        self._next_subject = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._got: deque[Msg] = deque()
        self._arrived = asyncio.Event()
        self._inbox = ""
        self._subscription: Any = None

    async def start(self) -> None:
        self._inbox = self._nc.new_inbox()
        self._subscription = await self._nc.subscribe(self._inbox, cb=self._received)

    async def _received(self, msg: Msg) -> None:
        self._got.append(msg)
        self._arrived.set()

    def _take(self, out: list[Msg], batch: int) -> bool:
        """Move data messages to ``out``; ``True`` when a status ended a request."""
        got, ended = self._got, False
        while got and len(out) < batch:
            msg = got.popleft()
            if not msg.data and msg.headers and _STATUS in msg.headers:
                ended = ended or msg.headers[_STATUS] in _ENDED
                continue
            out.append(msg)
        return ended

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to ``batch`` messages, waiting up to about ``timeout`` s for the first."""
        out: list[Msg] = []
        self._take(out, batch)
        if out:
            return out
        expires = max(int(timeout * 1e9), 1_000_000)
        request = b'{"batch":%d,"expires":%d}' % (batch, expires)
        command = b"PUB %s %s %d\r\n%s\r\n" % (
            self._next_subject.encode(),
            self._inbox.encode(),
            len(request),
            request,
        )
        self._arrived.clear()
        await send_commands(self._nc, command)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout + 0.5  # the server answers 408 at ``expires``
        while len(out) < batch:
            if self._take(out, batch) or len(out) >= batch:
                break
            if out:
                # A burst arrived; whatever else the server sends comes in the next fetch.
                await asyncio.sleep(0)
                self._take(out, batch)
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._arrived.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()
            except TimeoutError:
                break
        return out

    async def close(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None


async def ack_all(client: Client, replies: list[str], timeout: float) -> None:
    """Acknowledge JetStream messages by their reply subjects: one write for all but the
    last, and the last waits for the server, so all are recorded on return (the server
    handles one consumer's acks in order)."""
    if len(replies) > 1:
        await send_commands(
            client, b"".join([b"PUB %s 4\r\n+ACK\r\n" % r.encode() for r in replies[:-1]])
        )
    await client.request(replies[-1], b"+ACK", timeout=timeout)

"""What a Redis stream entry of the relay holds, how a batch of them is written, and how a
consumer reads one quickly.

An entry has two fields:

- ``__data__``: FastStream's binary envelope (the CloudEvents headers and the JSON body, see
  ``envelope.py``), what a plain FastStream subscriber reads;
- ``fs-event``: the same event for factstream's consumer groups, as one JSON object that a
  single msgspec call decodes::

      {"msg_id": "<dedupe id>", "event": {"id": ..., "type": ..., "data": , "metadata": ...}}

  ``event`` holds every :class:`~factstream.events.RecordedEvent` field with the value of
  ``data`` left out: it is the envelope's body, put back after ``"data":`` when read (so the
  payload is stored once).

Reading the envelope's 14-17 headers in Python cost a member 6 µs an event, and rebuilding the
event from them (UUID, timestamp, integers) 2 µs more; the ``fs-event`` field decodes in about
1 µs, and the headers are then read only when asked for (:class:`EnvelopeHeaders`: dead
letters). Entries without ``fs-event`` (written before it existed, replayed dead letters,
messages that are not events) are read from the headers as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import msgspec

from ...events import RecordedEvent
from .envelope import decode_envelope

__all__ = [
    "EVENT_FIELD",
    "XADD_MANY",
    "Entries",
    "EnvelopeHeaders",
    "EventField",
    "event_field",
    "pack_command",
    "read_event_field",
    "script_call",
]

EVENT_FIELD = b"fs-event"
_DATA_KEY = b',"data":'


class EventField(msgspec.Struct, frozen=True, gc=False):
    """An ``fs-event`` value: the message's dedupe id and its event.

    Untracked by the garbage collector (it refers to a str and an event, never to itself):
    one object fewer per message for the collector's young generation.
    """

    msg_id: str
    event: RecordedEvent


_encode = msgspec.json.encode
_decoder = msgspec.json.Decoder(EventField)


def event_field(msg_id: str, event: RecordedEvent, body: bytes) -> bytes | None:
    """The ``fs-event`` value of ``event`` published as ``body`` under ``msg_id``; ``None``
    when ``body`` is not the JSON encoding of the event's data (then no field is written)."""
    encoded = _encode(EventField(msg_id, event))
    start = encoded.find(_DATA_KEY)
    if start < 0:
        return None
    start += len(_DATA_KEY)
    if not encoded.startswith(body, start):
        return None
    return encoded[:start] + encoded[start + len(body) :]


def read_event_field(value: bytes, body: bytes) -> EventField:
    """The dedupe id and event (``.msg_id``, ``.event``) of an ``fs-event`` value whose data is
    ``body``.

    Raises:
        ValueError: not an ``fs-event`` value (or the body is not a JSON object).
    """
    # The first ',"data":' is the key: inside a JSON string every '"' follows a backslash.
    start = value.find(_DATA_KEY)
    if start < 0:
        raise ValueError("an fs-event field without its data key")
    start += len(_DATA_KEY)
    try:
        return _decoder.decode(value[:start] + body + value[start:])
    except msgspec.DecodeError as exc:  # a ValidationError is a DecodeError
        raise ValueError(f"unreadable fs-event field: {exc}") from None


class EnvelopeHeaders(Mapping[str, str]):
    """The headers of a FastStream envelope, decoded the first time one is asked for (an
    unreadable envelope has none)."""

    __slots__ = ("_data", "_headers")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._headers: dict[str, str] | None = None

    def _decoded(self) -> dict[str, str]:
        headers = self._headers
        if headers is None:
            try:
                headers = decode_envelope(self._data)[0]
            except ValueError:
                headers = {}
            self._headers = headers
        return headers

    def __getitem__(self, key: str) -> str:
        return self._decoded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())

    def __repr__(self) -> str:
        return f"EnvelopeHeaders({self._decoded()!r})"


#: Entries to write: (partition key, ``__data__``, ``fs-event`` or ``b""`` for none).
Entries = list[tuple[bytes, bytes, bytes]]

# KEYS[1] is the sender's fence, ARGV[1] its token: a batch finds the fence holding its token
# once an earlier batch of the same sender failed, and is refused (the sender writes the next
# batch before the previous one's reply is read, and nothing may be stored after a gap).
# ARGV[2] is MAXLEN (0: no trimming). Then for each further KEYS[i]: the number n of its
# entries, and n (data, event) pairs, each XADDed with field __data__ and, unless the event
# is empty, fs-event. No key per entry: each argument costs the client packing. (Sizes and
# entries back to back in two arguments per key cost the client less, but the server's
# string.sub and gmatch more than that: more CPU in all on a 2-core machine.)
XADD_MANY = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.error_reply('FENCED an earlier batch of this sender failed')
end
local maxlen = tonumber(ARGV[2])
local function add(key, ...)
  local reply
  if maxlen > 0 then
    reply = redis.pcall('XADD', key, 'MAXLEN', '~', maxlen, '*', ...)
  else
    reply = redis.pcall('XADD', key, '*', ...)
  end
  if type(reply) == 'table' and reply.err then
    redis.pcall('SET', KEYS[1], ARGV[1], 'PX', 60000)
    error(reply)
  end
end
local at = 3
local added = 0
for i = 2, #KEYS do
  local count = tonumber(ARGV[at])
  at = at + 1
  for _ = 1, count do
    local event = ARGV[at + 1]
    if event == '' then
      add(KEYS[i], '__data__', ARGV[at])
    else
      add(KEYS[i], '__data__', ARGV[at], 'fs-event', event)
    end
    at = at + 2
  end
  added = added + count
end
return added
"""


def script_call(sha: bytes, fence: bytes, token: bytes, batch: Entries, maxlen: int) -> bytes:
    """The ``EVALSHA`` of ``XADD_MANY`` (by its ``sha``) for ``batch`` under the sender's
    ``fence`` key and ``token``, packed in the Redis protocol (entries keep their order within
    each key). Packed here rather than by redis-py, whose packing of each argument (two per
    entry) cost the relay about 0.5 µs an entry more."""
    by_key: dict[bytes, list[bytes]] = {}
    for key, data, event in batch:
        entries = by_key.get(key)
        if entries is None:
            entries = by_key[key] = []
        entries.append(b"$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(data), data, len(event), event))
    keys = len(by_key)
    parts = [
        b"*%d\r\n$7\r\nEVALSHA\r\n" % (3 + 1 + 2 * keys + 2 + 2 * len(batch)),
        _bulk(sha),
        _bulk(b"%d" % (keys + 1)),
        _bulk(fence),
        *map(_bulk, by_key),
        _bulk(token),
        _bulk(b"%d" % maxlen),
    ]
    for entries in by_key.values():
        parts.append(_bulk(b"%d" % len(entries)))
        parts.extend(entries)
    return b"".join(parts)


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def pack_command(args: Sequence[bytes]) -> bytes:
    """One command in the Redis protocol (RESP): what redis-py's ``pack_command`` makes,
    without its per-argument type dispatch."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(parts)

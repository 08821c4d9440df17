"""FastStream's binary message envelope for Redis (``BinaryMessageFormatV1``).

A Redis stream entry holds one field, ``__data__``, with the headers and the body inside, so a
plain FastStream ``StreamSub`` subscriber reads the relay's messages with their headers::

    magic (8 bytes "\\x89BIN\\r\\n\\x1a\\n") | version (u16 = 1) | headers_start (u32) |
    data_start (u32) | header count (u16) | (u16 length + UTF-8) key, value ... | body

Integers are big-endian. Written here so the ``redis`` extra does not need FastStream.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

__all__ = ["DATA_FIELD", "decode_envelope", "encode_envelope"]

DATA_FIELD = b"__data__"
_MAGIC = b"\x89BIN\x0d\x0a\x1a\x0a"
_VERSION = 1
_HEAD = struct.Struct(">8sHIIH")
_SHORT = struct.Struct(">H")


def encode_envelope(headers: Mapping[str, str], body: bytes) -> bytes:
    parts: list[bytes] = []
    for key, value in headers.items():
        for text in (key.encode("utf-8"), value.encode("utf-8")):
            if len(text) > 0xFFFF:
                raise ValueError("a header longer than 65,535 bytes cannot be sent")
            parts.append(_SHORT.pack(len(text)))
            parts.append(text)
    packed = b"".join(parts)
    headers_start = _HEAD.size - 2  # the count is read from headers_start
    data_start = _HEAD.size + len(packed)
    return _HEAD.pack(_MAGIC, _VERSION, headers_start, data_start, len(headers)) + packed + body


def decode_envelope(data: bytes) -> tuple[dict[str, str], bytes]:
    """The headers and body of an envelope.

    Raises:
        ValueError: ``data`` is not a version 1 envelope.
    """
    if len(data) < _HEAD.size:
        raise ValueError("too short for a FastStream envelope")
    magic, version, headers_start, data_start, _ = _HEAD.unpack_from(data)
    if magic != _MAGIC or version != _VERSION:
        raise ValueError("not a FastStream binary envelope")
    (count,) = _SHORT.unpack_from(data, headers_start)
    offset = headers_start + 2
    headers: dict[str, str] = {}
    for _ in range(count):
        texts = []
        for _ in range(2):
            (length,) = _SHORT.unpack_from(data, offset)
            offset += 2
            texts.append(data[offset : offset + length].decode("utf-8"))
            offset += length
        headers[texts[0]] = texts[1]
    return headers, data[data_start:]

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

__all__ = ["DATA_FIELD", "decode_envelope", "encode_envelope", "envelope_body"]

DATA_FIELD = b"__data__"
_MAGIC = b"\x89BIN\x0d\x0a\x1a\x0a"
_VERSION = 1
_HEAD = struct.Struct(">8sHIIH")
_SHORT = struct.Struct(">H")


def _piece(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) > 0xFFFF:
        raise ValueError("a header longer than 65,535 bytes cannot be sent")
    return _SHORT.pack(len(data)) + data


# Header names repeat (a relay sends the same dozen): their pieces are kept, as Latin-1 text
# (one character per byte) for the quick path below.
_NAMES: dict[str, str] = {}
# The two length bytes of every length below 4,096, as Latin-1 text.
_LENGTHS = [chr(n >> 8) + chr(n & 0xFF) for n in range(4096)]


def encode_envelope(headers: Mapping[str, str], body: bytes) -> bytes:
    names = _NAMES
    if not names.keys() >= headers.keys() and len(names) < 1024:
        for key in headers:
            if key not in names:
                names[key] = _piece(key).decode("latin-1")
    values = "".join(headers.values())
    if values.isascii() and len(values) < 4096 and names.keys() >= headers.keys():
        # ASCII values: a character is a byte, so the block is built as text and encoded once.
        lengths = _LENGTHS
        packed = "".join([f"{names[k]}{lengths[len(v)]}{v}" for k, v in headers.items()]).encode(
            "latin-1"
        )
    else:
        parts: list[bytes] = []
        for key, value in headers.items():
            parts.append(_piece(key))
            parts.append(_piece(value))
        packed = b"".join(parts)
    headers_start = _HEAD.size - 2  # the count is read from headers_start
    data_start = _HEAD.size + len(packed)
    return _HEAD.pack(_MAGIC, _VERSION, headers_start, data_start, len(headers)) + packed + body


def _offsets(data: bytes) -> tuple[int, int]:
    if len(data) < _HEAD.size:
        raise ValueError("too short for a FastStream envelope")
    magic, version, headers_start, data_start, _ = _HEAD.unpack_from(data)
    if magic != _MAGIC or version != _VERSION:
        raise ValueError("not a FastStream binary envelope")
    if not _HEAD.size - 2 <= headers_start <= data_start - 2 or data_start > len(data):
        raise ValueError("a FastStream envelope with impossible offsets")
    return headers_start, data_start


def envelope_body(data: bytes) -> bytes:
    """The body of an envelope, its headers left unread.

    Raises:
        ValueError: ``data`` is not a version 1 envelope.
    """
    return data[_offsets(data)[1] :]


def decode_envelope(data: bytes) -> tuple[dict[str, str], bytes]:
    """The headers and body of an envelope.

    Raises:
        ValueError: ``data`` is not a version 1 envelope.
    """
    headers_start, data_start = _offsets(data)
    (count,) = _SHORT.unpack_from(data, headers_start)
    # Latin-1 maps each byte to one character, so byte lengths index the text; the rare
    # non-ASCII piece is turned back into bytes and read as UTF-8.
    text = data[headers_start + 2 : data_start].decode("latin-1")
    end = len(text)
    headers: dict[str, str] = {}
    i = 0
    for _ in range(count):
        if i + 2 > end:
            raise ValueError("a FastStream envelope cut short in its headers")
        n = (ord(text[i]) << 8) | ord(text[i + 1])
        key = text[i + 2 : i + 2 + n]
        i += 2 + n
        if i + 2 > end:
            raise ValueError("a FastStream envelope cut short in its headers")
        n = (ord(text[i]) << 8) | ord(text[i + 1])
        value = text[i + 2 : i + 2 + n]
        i += 2 + n
        if not key.isascii():
            key = key.encode("latin-1").decode("utf-8")
        if not value.isascii():
            value = value.encode("latin-1").decode("utf-8")
        headers[key] = value
    if i > end:
        raise ValueError("a FastStream envelope cut short in its headers")
    return headers, data[data_start:]

"""Structured logs: every record carries the ids of the command or event being handled.

:func:`configure` installs one handler on the root logger, as text or as one JSON object per
line. Its :class:`CorrelationFilter` adds to each record the ``correlation_id`` and
``causation_id`` of the message being handled (set by the command bus, projections and
consumer groups, see :mod:`factstream.events.correlation`), the ``command_id`` or ``event_id``,
and the ``trace_id`` and ``span_id`` of the current OpenTelemetry span when there is one.
Add the filter to your own handlers to get the same fields in your format.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import IO, Any

import msgspec

from ..events.correlation import current_message
from .names import LOG_FIELDS

__all__ = ["FIELDS", "CorrelationFilter", "JsonFormatter", "TextFormatter", "configure"]

FIELDS = tuple(field for field, _ in LOG_FIELDS)
"""The attributes :class:`CorrelationFilter` sets on every record (``None`` when unknown)."""

# Attributes every LogRecord has: anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    *FIELDS,
}
_encoder = msgspec.json.Encoder(enc_hook=str)


class CorrelationFilter(logging.Filter):
    """Sets :data:`FIELDS` on each record; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        values = dict.fromkeys(FIELDS)
        message = current_message()
        if message is not None:
            values["correlation_id"] = message.correlation_id
            values["causation_id"] = message.causation_id
            command_id = getattr(message, "command_id", None)
            if command_id is not None:
                values["command_id"] = str(command_id)
            else:
                event_id = getattr(message, "id", None)
                values["event_id"] = None if event_id is None else str(event_id)
        trace = sys.modules.get("opentelemetry.trace")  # only if someone traces already
        if trace is not None:
            context = trace.get_current_span().get_span_context()
            if context.is_valid:
                values["trace_id"] = f"{context.trace_id:032x}"
                values["span_id"] = f"{context.span_id:016x}"
        for name, value in values.items():
            if getattr(record, name, None) is None:  # a caller's extra= wins
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, the correlation fields that are known, ``exception`` (the traceback) when
    there is one, and whatever the call passed as ``extra=``."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                document[name] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                document[name] = value
        return _encoder.encode(document).decode()


class TextFormatter(logging.Formatter):
    """``time level logger: message [correlation_id=... causation_id=...]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = [
            f"{name}={value}"
            for name in ("correlation_id", "causation_id", "trace_id")
            if (value := getattr(record, name, None)) is not None
        ]
        if not ids:
            return text
        head, newline, rest = text.partition("\n")  # keep a traceback below the ids
        return f"{head} [{' '.join(ids)}]{newline}{rest}"


_installed: logging.Handler | None = None


def configure(
    *, json: bool = False, level: int | str = "INFO", stream: IO[str] | None = None
) -> logging.Handler:
    """Log to ``stream`` (stderr) through the root logger, as JSON lines or text.

    Calling it again replaces the handler it installed before (other handlers stay).

    Args:
        json: one JSON object per line instead of text.
        level: the root logger's level (``"DEBUG"``, ``"INFO"``, ... or a number).

    Raises:
        ValueError: ``level`` is not a logging level.
    """
    global _installed
    if isinstance(level, str):
        number = logging.getLevelNamesMapping().get(level.upper())
        if number is None:
            raise ValueError(
                f"unknown log level {level!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL"
            )
        level = number
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    handler.addFilter(CorrelationFilter())
    root = logging.getLogger()
    if _installed is not None:
        root.removeHandler(_installed)
    root.addHandler(handler)
    root.setLevel(level)
    _installed = handler
    return handler


def configured_json() -> bool:
    """Whether :func:`configure` installed the JSON format (servers hand their logs to it)."""
    return _installed is not None and isinstance(_installed.formatter, JsonFormatter)

"""Typed events: the registry of stable type names, codecs, upcasters, JSON Schema export,
compatibility checks and Markdown documentation of the event contracts."""

from .codec import EventCodec
from .compat import Change, CompatReport, check_compatibility
from .docs import render_markdown
from .errors import (
    EventValidationError,
    RegistrationError,
    SchemaError,
    UnknownEventType,
    UpcastError,
)
from .jsonschema import event_schema, export_schemas
from .registry import EventRegistry, EventType, OnUnknown
from .upcasting import Upcaster, UpcasterChain

__all__ = [
    "Change",
    "CompatReport",
    "EventCodec",
    "EventRegistry",
    "EventType",
    "EventValidationError",
    "OnUnknown",
    "RegistrationError",
    "SchemaError",
    "UnknownEventType",
    "UpcastError",
    "Upcaster",
    "UpcasterChain",
    "check_compatibility",
    "event_schema",
    "export_schemas",
    "render_markdown",
]

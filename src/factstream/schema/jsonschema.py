"""JSON Schema export of the event contracts: one schema per registered type and version.

The export document is what ``factstream schema export`` writes and what
``factstream schema check --against`` compares with::

    {"format": "factstream.schema/1",
     "events": {"OrderCreated": {"version": 2, "upcasters": [1], "aliases": [],
                                 "description": "...", "schema": {...JSON Schema...}}}}
"""

from __future__ import annotations

import json
from typing import Any

from .registry import EventRegistry, EventType

__all__ = ["FORMAT", "event_schema", "export_schemas", "dumps"]

FORMAT = "factstream.schema/1"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_schema(entry: EventType) -> dict[str, Any]:
    """The standalone JSON Schema of one event type at its current version."""
    schema = dict(entry.codec.json_schema())
    schema["$schema"] = _DIALECT
    schema["title"] = f"{entry.name} v{entry.version}"
    return schema


def export_schemas(registry: EventRegistry) -> dict[str, Any]:
    """The export document of every type in ``registry``, sorted by type name."""
    events: dict[str, Any] = {}
    for entry in sorted(registry, key=lambda e: e.name):
        events[entry.name] = {
            "version": entry.version,
            "upcasters": list(entry.chain.sources),
            "aliases": sorted(entry.aliases),
            "description": entry.doc,
            "schema": event_schema(entry),
        }
    return {"format": FORMAT, "events": events}


def dumps(document: dict[str, Any]) -> str:
    """Deterministic JSON text (sorted keys, indented) so committed snapshots diff cleanly."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

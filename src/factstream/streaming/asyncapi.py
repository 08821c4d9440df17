"""An AsyncAPI 3.0 document of what the relay publishes: channels per partition, one message
per event type with the CloudEvents headers and the event's JSON Schema as payload.

``factstream schema asyncapi`` (the schema command group) writes it with
:func:`asyncapi_document`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

__all__ = ["asyncapi_document"]

_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 attributes in binary content mode, and factstream's.",
    "required": [
        "ce-specversion",
        "ce-id",
        "ce-source",
        "ce-type",
        "ce-time",
        "ce-fsstream",
        "ce-fsversion",
        "ce-fsposition",
    ],
    "properties": {
        "ce-specversion": {"type": "string", "const": "1.0"},
        "ce-id": {"type": "string", "format": "uuid", "description": "event id (dedupe key)"},
        "ce-source": {"type": "string"},
        "ce-type": {"type": "string", "description": "stable event type name"},
        "ce-time": {"type": "string", "format": "date-time"},
        "ce-subject": {"type": "string", "description": "stream id"},
        "ce-partitionkey": {"type": "string", "description": "stream id"},
        "content-type": {"type": "string", "const": "application/json"},
        "ce-fsstream": {"type": "string", "description": "stream id"},
        "ce-fsversion": {"type": "string", "description": "version in the stream (integer)"},
        "ce-fsposition": {"type": "string", "description": "position in the log (integer)"},
        "ce-fsschema": {"type": "string", "description": "schema version of the data"},
        "ce-fscorrelation": {"type": "string"},
        "ce-fscausation": {"type": "string"},
        "ce-fsmetadata": {"type": "string", "description": "metadata as a JSON object"},
        "ce-traceparent": {"type": "string", "description": "W3C trace context"},
        "ce-tracestate": {"type": "string"},
        "message_id": {"type": "string", "description": "event id (FastStream)"},
        "correlation_id": {"type": "string", "description": "correlation id (FastStream)"},
        "Nats-Msg-Id": {"type": "string", "description": "event id (JetStream dedupe)"},
    },
}


def _types(registry_or_types: Any) -> list[tuple[str, int, str, dict[str, Any]]]:
    """(name, schema version, description, JSON Schema) of each event type."""
    found = []
    if isinstance(registry_or_types, Mapping):
        for name, cls in registry_or_types.items():
            found.append((str(name), 1, (cls.__doc__ or "").strip(), msgspec.json.schema(cls)))
        return sorted(found)
    for item in registry_or_types:
        codec = getattr(item, "codec", None)
        if codec is not None:  # an EventRegistry entry (factstream.schema.EventType)
            doc = getattr(item, "doc", "")
            found.append((item.name, item.version, doc, dict(codec.json_schema())))
        else:  # a class
            found.append(
                (item.__name__, 1, (item.__doc__ or "").strip(), msgspec.json.schema(item))
            )
    return sorted(found)


def _inline_defs(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """Move ``$defs`` into components/schemas and point the references there."""
    defs = schema.pop("$defs", {})
    text = msgspec.json.encode(schema).decode().replace("#/$defs/", "#/components/schemas/")
    for name, definition in defs.items():
        schemas[name] = msgspec.json.decode(
            msgspec.json.encode(definition).decode().replace("#/$defs/", "#/components/schemas/")
        )
    result: dict[str, Any] = msgspec.json.decode(text)
    return result


def asyncapi_document(
    registry_or_types: Iterable[Any] | Mapping[str, type[Any]],
    *,
    broker: str = "nats",
    prefix: str = "factstream",
    partitions: int = 8,
    title: str = "factstream events",
    version: str = "1.0.0",
    host: str | None = None,
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the relay's output.

    Args:
        registry_or_types: an event registry (``factstream.schema.EventRegistry``: its entries'
            names, versions, docs and JSON Schemas are used), a mapping of type name to class,
            or an iterable of classes (named by their class name); classes are msgspec Structs
            or dataclasses.
        broker: ``"nats"`` (subjects ``<prefix>.p<N>.<category>.<stream>``) or ``"redis"``
            (stream keys ``<prefix>:p<N>``, FastStream's binary envelope).
        prefix: the broker prefix the relay uses.
        partitions: the number of partitions.
        title: ``info.title``.
        version: ``info.version`` (the version of the contract, not of factstream).
        host: ``host:port`` of the server, if it should be listed.

    Returns:
        The document as a JSON-ready dict.
    """
    if broker not in ("nats", "redis"):
        raise ValueError(f"broker must be 'nats' or 'redis', got {broker!r}")
    schemas: dict[str, Any] = {"CloudEventHeaders": _HEADERS}
    messages: dict[str, Any] = {}
    for name, schema_version, doc, schema in _types(registry_or_types):
        key = f"{name}V{schema_version}".replace(".", "_")
        schemas[key] = _inline_defs(dict(schema), schemas)
        messages[key] = {
            "name": name,
            "title": f"{name} (schema version {schema_version})",
            "summary": doc.split("\n\n", 1)[0],
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/CloudEventHeaders"},
            "payload": {"$ref": f"#/components/schemas/{key}"},
        }
    refs = {key: {"$ref": f"#/components/messages/{key}"} for key in messages}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for partition in range(partitions):
        channel = f"partition{partition}"
        if broker == "nats":
            channels[channel] = {
                "address": f"{prefix}.p{partition}.{{category}}.{{stream}}",
                "description": f"Events of the streams whose crc32(stream id) mod "
                f"{partitions} is {partition}, in log order.",
                "parameters": {
                    "category": {"description": "the stream id's part before the first '-'"},
                    "stream": {"description": "the stream id (%XX-escaped for NATS)"},
                },
                "messages": refs,
            }
        else:
            channels[channel] = {
                "address": f"{prefix}:p{partition}",
                "description": f"Redis stream of partition {partition}; each entry's __data__ "
                "field is FastStream's binary envelope (headers + JSON body).",
                "messages": refs,
            }
        operations[f"publish{channel.title()}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": "The relay publishes each event of the log once (at least once).",
        }
    document: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Events relayed from the factstream log, as CloudEvents in binary "
            "content mode. Order holds per stream; deduplicate by (stream, version).",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }
    if host is not None:
        document["servers"] = {broker: {"host": host, "protocol": broker}}
    return document

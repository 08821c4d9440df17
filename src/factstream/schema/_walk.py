"""Helpers to read JSON Schemas as exported by msgspec and pydantic ($ref into $defs)."""

from __future__ import annotations

from typing import Any

__all__ = ["Schema", "describe_type", "normalise", "object_fields"]

_DOC_KEYS = frozenset({"title", "description", "default", "examples", "$comment", "$schema"})


class Schema:
    """A JSON Schema node together with the ``$defs`` its ``$ref`` values point into."""

    __slots__ = ("defs", "node")

    def __init__(self, node: dict[str, Any], defs: dict[str, Any]) -> None:
        self.node = node
        self.defs = defs

    @classmethod
    def root(cls, document: dict[str, Any]) -> Schema:
        return cls(document, document.get("$defs", {})).resolved()

    def resolved(self) -> Schema:
        node = self.node
        seen: set[str] = set()
        while "$ref" in node:
            ref = node["$ref"]
            name = ref.rsplit("/", 1)[-1]
            if name in seen or name not in self.defs:
                break
            seen.add(name)
            node = self.defs[name]
        return Schema(node, self.defs)

    def child(self, node: dict[str, Any]) -> Schema:
        return Schema(node, self.defs).resolved()


def object_fields(schema: Schema) -> dict[str, Any] | None:
    """The ``properties`` of an object schema, or ``None`` when it is not an object."""
    node = schema.node
    if node.get("type") == "object" and isinstance(node.get("properties"), dict):
        props: dict[str, Any] = node["properties"]
        return props
    return None


def normalise(schema: Schema, seen: frozenset[str] = frozenset()) -> Any:
    """A comparable form: references inlined, documentation keys dropped."""
    node = schema.node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen or name not in schema.defs:
            return {"$ref": name}
        return normalise(Schema(schema.defs[name], schema.defs), seen | {name})
    return _normalise_value(node, schema.defs, seen)


def _normalise_value(value: Any, defs: dict[str, Any], seen: frozenset[str]) -> Any:
    if isinstance(value, dict):
        if "$ref" in value:
            return normalise(Schema(value, defs), seen)
        return {
            key: _normalise_value(item, defs, seen)
            for key, item in sorted(value.items())
            if key not in _DOC_KEYS and key != "$defs"
        }
    if isinstance(value, list):
        items = [_normalise_value(item, defs, seen) for item in value]
        if all(isinstance(item, str) for item in items):
            return sorted(items)
        return items
    return value


def describe_type(node: dict[str, Any]) -> str:
    """A short human name of a schema's type: ``integer``, ``array of Item``, ``string | null``."""
    if "$ref" in node:
        return str(node["$ref"]).rsplit("/", 1)[-1]
    for key in ("anyOf", "oneOf"):
        if key in node:
            return " | ".join(describe_type(option) for option in node[key])
    if "enum" in node:
        return "one of " + ", ".join(repr(v) for v in node["enum"])
    if "const" in node:
        return repr(node["const"])
    kind = node.get("type")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind == "array":
        items = node.get("items")
        return f"array of {describe_type(items)}" if isinstance(items, dict) else "array"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"object of {describe_type(node['additionalProperties'])}"
    if kind is None:
        return "any"
    fmt = node.get("format") or node.get("contentEncoding")
    return f"{kind} ({fmt})" if fmt else str(kind)

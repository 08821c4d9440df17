"""Markdown documentation of the event contracts, from an export document."""

from __future__ import annotations

import json
from typing import Any

from ._walk import Schema, describe_type, object_fields

__all__ = ["render_markdown"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(schema: Schema) -> list[str]:
    fields = object_fields(schema) or {}
    required = set(schema.node.get("required", []))
    lines = ["| field | type | required | default | description |", "|---|---|---|---|---|"]
    for name, node in fields.items():
        default = "" if "default" not in node else f"`{json.dumps(node['default'])}`"
        lines.append(
            "| "
            + " | ".join(
                [
                    f"`{name}`",
                    _cell(describe_type(node)),
                    "yes" if name in required else "no",
                    default,
                    _cell(str(node.get("description", ""))),
                ]
            )
            + " |"
        )
    return lines


def render_markdown(document: dict[str, Any], title: str = "Event contracts") -> str:
    """Markdown for people: one section per event type with its fields, version and history."""
    events: dict[str, Any] = document.get("events", {})
    out = [f"# {title}", "", f"{len(events)} event types.", ""]
    for name in sorted(events):
        out.append(f"- [{name}](#{name.lower()}) (v{events[name]['version']})")
    for name in sorted(events):
        entry = events[name]
        schema = Schema.root(entry["schema"])
        out += ["", f"## {name}", ""]
        if entry.get("description"):
            out += [entry["description"], ""]
        version = entry["version"]
        older = [str(v) for v in entry.get("upcasters", [])]
        history = (
            f"Schema version {version}; events stored at version{'s' if len(older) > 1 else ''} "
            f"{', '.join(older)} are upcast when read."
            if version > 1
            else "Schema version 1."
        )
        out += [history, ""]
        if entry.get("aliases"):
            out += ["Also read under the former names: " + ", ".join(entry["aliases"]) + ".", ""]
        out += _table(schema)
        nested = sorted(
            (key, value)
            for key, value in entry["schema"].get("$defs", {}).items()
            if value is not schema.node and object_fields(Schema(value, {})) is not None
        )
        for def_name, node in nested:
            out += ["", f"### {name}: `{def_name}`", ""]
            out += _table(Schema(node, entry["schema"].get("$defs", {})))
    return "\n".join(out) + "\n"

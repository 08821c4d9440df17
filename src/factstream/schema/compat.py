"""Compatibility check of event contracts: the current export against a committed snapshot.

Breaking: a type removed, a field removed, a field's type changed, a new required field without
a default, a field that became required, a version lowered, or a version raised without an
upcaster from the old version. Safe: new types, new optional fields, fields that became
optional, documentation changes, and any change made under a version bump with upcasters (old
events are lifted to the new shape when read).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ._walk import Schema, describe_type, normalise, object_fields
from .errors import SchemaError

__all__ = ["Change", "CompatReport", "check_compatibility"]


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    """One difference between two exports.

    Attributes:
        event: the event type name.
        path: the field path inside the event (``items[].price``), ``""`` for the type itself.
        kind: a short label, e.g. ``"field removed"``.
        breaking: whether old readers or old data would break.
        detail: a sentence for people.
    """

    event: str
    path: str
    kind: str
    breaking: bool
    detail: str


@dataclasses.dataclass(frozen=True, slots=True)
class CompatReport:
    """The result of :func:`check_compatibility`."""

    changes: tuple[Change, ...]

    @property
    def breaking(self) -> tuple[Change, ...]:
        return tuple(change for change in self.changes if change.breaking)

    @property
    def ok(self) -> bool:
        """True when no change is breaking."""
        return not self.breaking


def _events(document: dict[str, Any], which: str) -> dict[str, Any]:
    events = document.get("events") if isinstance(document, dict) else None
    if not isinstance(events, dict):
        raise SchemaError(f"the {which} document is not a factstream schema export (no 'events')")
    return events


def check_compatibility(old: dict[str, Any], new: dict[str, Any]) -> CompatReport:
    """Compare two export documents (see :func:`export_schemas`).

    Raises:
        SchemaError: a document is not an export.
    """
    old_events = _events(old, "old")
    new_events = _events(new, "new")
    changes: list[Change] = []
    for name in sorted(old_events):
        if name not in new_events:
            renamed = [n for n, e in new_events.items() if name in e.get("aliases", [])]
            if renamed:
                changes.append(
                    Change(name, "", "type renamed", False, f"now {renamed[0]!r}, alias kept")
                )
                continue
            changes.append(
                Change(name, "", "type removed", True, "stored events of it could not be read")
            )
    for name in sorted(new_events):
        if name not in old_events:
            changes.append(Change(name, "", "type added", False, "a new event type"))
            continue
        changes.extend(_compare_event(name, old_events[name], new_events[name]))
    return CompatReport(tuple(changes))


def _compare_event(name: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    old_version, new_version = int(old["version"]), int(new["version"])
    found: list[Change] = []
    _compare(Schema.root(old["schema"]), Schema.root(new["schema"]), "", found, name)
    if new_version == old_version:
        return found
    if new_version < old_version:
        return [
            *found,
            Change(name, "", "version lowered", True, f"v{old_version} -> v{new_version}"),
        ]
    upcast_from = set(new.get("upcasters", []))
    missing = [v for v in range(old_version, new_version) if v not in upcast_from]
    if missing:
        return [
            *found,
            Change(
                name,
                "",
                "version bump without upcaster",
                True,
                f"v{old_version} -> v{new_version}, no upcaster from "
                + ", ".join(f"v{v}" for v in missing),
            ),
        ]
    # Planned evolution: old events are upcast on read, so shape changes are not breaking.
    lifted = [
        dataclasses.replace(change, breaking=False, detail=f"{change.detail} (upcast on read)")
        for change in found
    ]
    return [
        *lifted,
        Change(
            name, "", "version bumped", False, f"v{old_version} -> v{new_version} with upcasters"
        ),
    ]


def _join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field


def _compare(old: Schema, new: Schema, path: str, out: list[Change], event: str) -> None:
    old_fields, new_fields = object_fields(old), object_fields(new)
    if old_fields is not None and new_fields is not None:
        _compare_objects(old, new, old_fields, new_fields, path, out, event)
        return
    if old.node.get("type") == "array" and new.node.get("type") == "array":
        old_items, new_items = old.node.get("items"), new.node.get("items")
        if isinstance(old_items, dict) and isinstance(new_items, dict):
            _compare(old.child(old_items), new.child(new_items), f"{path}[]", out, event)
            return
    if normalise(old) != normalise(new):
        out.append(
            Change(
                event,
                path,
                "type changed",
                True,
                f"{describe_type(old.node)} -> {describe_type(new.node)}",
            )
        )


def _compare_objects(
    old: Schema,
    new: Schema,
    old_fields: dict[str, Any],
    new_fields: dict[str, Any],
    path: str,
    out: list[Change],
    event: str,
) -> None:
    old_required = set(old.node.get("required", []))
    new_required = set(new.node.get("required", []))
    for field in old_fields:
        if field not in new_fields:
            out.append(Change(event, _join(path, field), "field removed", True, "field removed"))
    for field, node in new_fields.items():
        where = _join(path, field)
        if field not in old_fields:
            if field in new_required:
                out.append(
                    Change(event, where, "required field added", True, "new field without default")
                )
            else:
                out.append(Change(event, where, "optional field added", False, "has a default"))
            continue
        if field in new_required and field not in old_required:
            out.append(Change(event, where, "field became required", True, "default removed"))
        elif field in old_required and field not in new_required:
            out.append(Change(event, where, "field became optional", False, "default added"))
        _compare(old.child(old_fields[field]), new.child(node), where, out, event)

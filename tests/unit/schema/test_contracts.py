from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from factstream import EventRegistry, SchemaError
from factstream.schema import check_compatibility, export_schemas, render_markdown

from .sample_events import build, build_breaking, build_safe


def kinds(old: dict[str, Any], new: dict[str, Any]) -> dict[tuple[str, str, str], bool]:
    report = check_compatibility(old, new)
    return {(c.event, c.path, c.kind): c.breaking for c in report.changes}


def registry_of(*types: tuple[type[Any], str, int]) -> EventRegistry:
    registry = EventRegistry()
    for cls, name, version in types:
        registry.register(
            cls,
            name=name,
            version=version,
            upcasters={v: (lambda d, m: d) for v in range(1, version)},
        )
    return registry


class V1(msgspec.Struct, frozen=True):
    amount: int


class V1Renamed(msgspec.Struct, frozen=True):
    total: int


class V1Optional(msgspec.Struct, frozen=True):
    amount: int = 0


def test_export_lists_every_type_with_version_upcasters_and_schema() -> None:
    document = export_schemas(build())

    created = document["events"]["OrderCreated"]
    assert document["format"] == "factstream.schema/1"
    assert sorted(document["events"]) == ["ItemAdded", "OrderCreated", "OrderPlaced"]
    assert created["version"] == 2
    assert created["upcasters"] == [1]
    assert created["description"] == "A customer opened an order."
    assert created["schema"]["title"] == "OrderCreated v2"
    assert created["schema"]["$defs"]["OrderCreated"]["required"] == [
        "order_id",
        "customer_id",
        "currency",
        "created_at",
    ]


def test_an_unchanged_contract_is_compatible() -> None:
    report = check_compatibility(export_schemas(build()), export_schemas(build()))

    assert report.ok
    assert report.changes == ()


def test_new_optional_fields_and_new_types_are_safe() -> None:
    found = kinds(export_schemas(build()), export_schemas(build_safe()))

    assert found == {
        ("ItemAdded", "gift", "optional field added"): False,
        ("OrderCancelled", "", "type added"): False,
    }


def test_type_changes_new_required_fields_and_removed_types_are_breaking() -> None:
    report = check_compatibility(export_schemas(build()), export_schemas(build_breaking()))

    assert {(c.event, c.path, c.kind) for c in report.breaking} == {
        ("ItemAdded", "order_id", "type changed"),
        ("ItemAdded", "reason", "required field added"),
        ("OrderPlaced", "", "type removed"),
    }
    assert not report.ok


def test_a_removed_field_is_breaking() -> None:
    found = kinds(
        export_schemas(registry_of((V1, "Paid", 1))),
        export_schemas(registry_of((V1Renamed, "Paid", 1))),
    )

    assert found[("Paid", "amount", "field removed")] is True
    assert found[("Paid", "total", "required field added")] is True


def test_changes_under_a_version_bump_with_upcasters_are_safe() -> None:
    found = kinds(
        export_schemas(registry_of((V1, "Paid", 1))),
        export_schemas(registry_of((V1Renamed, "Paid", 2))),
    )

    assert found == {
        ("Paid", "amount", "field removed"): False,
        ("Paid", "total", "required field added"): False,
        ("Paid", "", "version bumped"): False,
    }


def test_a_version_bump_without_an_upcaster_is_breaking() -> None:
    old = export_schemas(registry_of((V1, "Paid", 1)))
    new = export_schemas(registry_of((V1, "Paid", 2)))
    new["events"]["Paid"]["upcasters"] = []  # as a hand-edited or foreign export could say

    assert kinds(old, new)[("Paid", "", "version bump without upcaster")] is True


def test_a_lowered_version_is_breaking() -> None:
    found = kinds(
        export_schemas(registry_of((V1, "Paid", 2))), export_schemas(registry_of((V1, "Paid", 1)))
    )

    assert found[("Paid", "", "version lowered")] is True


def test_a_field_gaining_a_default_is_safe_and_losing_it_is_breaking() -> None:
    required = export_schemas(registry_of((V1, "Paid", 1)))
    optional = export_schemas(registry_of((V1Optional, "Paid", 1)))

    assert kinds(required, optional) == {("Paid", "amount", "field became optional"): False}
    assert kinds(optional, required) == {("Paid", "amount", "field became required"): True}


def test_nested_field_changes_are_reported_with_their_path() -> None:
    old = export_schemas(build())
    new = copy.deepcopy(old)
    line = new["events"]["OrderPlaced"]["schema"]["$defs"]["Line"]
    line["properties"]["price"] = {"type": "number"}

    found = kinds(old, new)

    assert found == {("OrderPlaced", "lines[].price", "type changed"): True}


def test_documentation_only_changes_are_not_reported() -> None:
    old = export_schemas(build())
    new = copy.deepcopy(old)
    new["events"]["ItemAdded"]["schema"]["$defs"]["ItemAdded"]["description"] = "Reworded."

    assert check_compatibility(old, new).changes == ()


def test_a_renamed_type_keeping_its_old_name_as_alias_is_safe() -> None:
    old = export_schemas(registry_of((V1, "Paid", 1)))
    registry = EventRegistry()
    registry.register(V1, name="PaymentReceived", aliases=["Paid"])

    found = kinds(old, export_schemas(registry))

    assert found == {
        ("Paid", "", "type renamed"): False,
        ("PaymentReceived", "", "type added"): False,
    }


def test_checking_something_that_is_not_an_export_fails_clearly() -> None:
    with pytest.raises(SchemaError, match="not a factstream schema export"):
        check_compatibility({"hello": 1}, export_schemas(build()))


def test_markdown_docs_describe_each_type_its_fields_and_history() -> None:
    text = render_markdown(export_schemas(build()))

    assert "## OrderCreated" in text
    assert "A customer opened an order." in text
    assert "Schema version 2; events stored at version 1 are upcast when read." in text
    assert "| `created_at` | string | yes |  |  |" in text
    assert '| `note` | string | no | `""` |' in text
    assert "| `lines` | array of Line | yes |" in text
    assert "### OrderPlaced: `Line`" in text

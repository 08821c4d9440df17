from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec
import pytest

from factstream import (
    EventRegistry,
    EventValidationError,
    NewEvent,
    RecordedEvent,
    RegistrationError,
    UnknownEventType,
    UpcastError,
)

from .sample_events import ItemAdded, Line, OrderCreated, OrderPlaced, build


def recorded(
    new: NewEvent, *, stream_id: str = "order-1", version: int = 1, position: int = 7
) -> RecordedEvent:
    """What the store would hand back for ``new`` (data goes through JSON like in a store)."""
    return RecordedEvent(
        new.id,
        new.type,
        msgspec.json.decode(msgspec.json.encode(new.data)),
        new.metadata or {},
        stream_id,
        version,
        position,
        dt.datetime.now(dt.UTC),
        new.correlation_id,
        new.causation_id,
        new.schema_version,
    )


def stored(
    type: str, data: dict[str, Any], *, schema_version: int = 1, position: int = 7
) -> RecordedEvent:
    return recorded(NewEvent(type, data, schema_version=schema_version), position=position)


class Renamed(msgspec.Struct, frozen=True):
    value: int


def test_to_new_event_uses_the_registered_name_and_current_version() -> None:
    registry = build()
    created = OrderCreated("o1", "c1", "EUR", dt.datetime(2024, 1, 2, tzinfo=dt.UTC))

    new = registry.to_new_event(created, metadata={"user": "ada"}, correlation_id="corr")

    assert new.type == "OrderCreated"
    assert new.schema_version == 2
    assert new.data == {
        "order_id": "o1",
        "customer_id": "c1",
        "currency": "EUR",
        "created_at": "2024-01-02T00:00:00Z",
    }
    assert new.metadata == {"user": "ada"}
    assert new.correlation_id == "corr"


def test_to_new_event_keeps_a_given_id_and_turns_uuid_causation_into_text() -> None:
    registry = build()
    event_id, cause = uuid.uuid4(), uuid.uuid4()

    new = registry.to_new_event(
        ItemAdded("o1", Line("tea", 1, decimal.Decimal("2"))), id=event_id, causation_id=cause
    )

    assert new.id == event_id
    assert new.causation_id == str(cause)


def test_decode_returns_the_typed_event() -> None:
    registry = build()
    event = ItemAdded("o1", Line("tea", 2, decimal.Decimal("4.50")))

    assert registry.decode(recorded(registry.to_new_event(event))) == event


def test_decode_handles_dataclass_events() -> None:
    registry = build()
    event = OrderPlaced("o1", [Line("tea", 2, decimal.Decimal("4.50"))], note="gift")

    assert registry.decode(recorded(registry.to_new_event(event))) == event


def test_decode_upcasts_old_versions_before_converting() -> None:
    registry = build()
    old = stored(
        "OrderCreated",
        {
            "order_id": "o1",
            "customer_id": "c1",
            "country": "FR",
            "created_at": "2020-01-01T00:00:00Z",
        },
        schema_version=1,
    )

    event = registry.decode(old)

    assert event == OrderCreated("o1", "c1", "EUR", dt.datetime(2020, 1, 1, tzinfo=dt.UTC))


def test_a_renamed_class_still_reads_events_stored_under_its_type_name() -> None:
    registry = EventRegistry()
    registry.register(Renamed, name="ValueSet")

    assert registry.decode(stored("ValueSet", {"value": 3})) == Renamed(3)


def test_aliases_read_events_stored_under_a_former_type_name() -> None:
    registry = EventRegistry()
    registry.register(Renamed, name="ValueChanged", aliases=["ValueSet"])

    assert registry.decode(stored("ValueSet", {"value": 3})) == Renamed(3)
    assert registry.name_of(Renamed(1)) == "ValueChanged"


def test_unknown_type_error_names_the_type_and_the_position() -> None:
    registry = build()

    with pytest.raises(UnknownEventType, match=r"'Mystery' at position 42") as caught:
        registry.decode(stored("Mystery", {}, position=42))

    assert caught.value.type == "Mystery"
    assert caught.value.position == 42
    assert caught.value.stream_id == "order-1"


def test_unknown_types_can_be_skipped_or_kept_raw() -> None:
    registry = build()
    mystery = stored("Mystery", {"x": 1})
    known = recorded(registry.to_new_event(ItemAdded("o", Line("a", 1, decimal.Decimal(1)))))

    assert registry.decode(mystery, on_unknown="skip") is None
    assert registry.decode(mystery, on_unknown="keep") is mystery
    assert registry.decode_all([mystery, known], on_unknown="skip") == [registry.decode(known)]


def test_decode_each_decodes_like_decode_whatever_the_path() -> None:
    registry = build()
    registry.register(Renamed, name="ValueChanged", aliases=["ValueSet"])
    events = [
        recorded(registry.to_new_event(ItemAdded("o", Line("a", 1, decimal.Decimal(1))))),
        recorded(registry.to_new_event(OrderPlaced("o", [], note="n"))),  # a dataclass
        stored(  # stored at version 1: upcast on the way
            "OrderCreated",
            {
                "order_id": "o",
                "customer_id": "c",
                "country": "FR",
                "created_at": "2020-01-01T00:00:00Z",
            },
        ),
        stored("ValueSet", {"value": 3}),  # a former name
        stored("Mystery", {"x": 1}),
    ]

    for on_unknown in ("skip", "keep"):
        one_by_one = [registry.decode(event, on_unknown) for event in events]
        assert registry.decode_each(events, on_unknown) == one_by_one
    assert registry.decode_each(events, "skip")[-1] is None
    assert registry.decode_each(events, "keep")[-1] is events[-1]
    with pytest.raises(UnknownEventType, match="'Mystery'"):
        registry.decode_each(events)


def test_decode_each_reports_a_bad_payload_as_decode_does() -> None:
    registry = build()
    good = recorded(registry.to_new_event(ItemAdded("o", Line("a", 1, decimal.Decimal(1)))))
    bad = stored(
        "ItemAdded",
        {"order_id": "o1", "line": {"sku": "tea", "quantity": 1, "price": [1]}},
        position=9,
    )

    with pytest.raises(EventValidationError) as each:
        registry.decode_each([good, bad])
    with pytest.raises(EventValidationError) as one:
        registry.decode(bad)

    assert (each.value.type, each.value.path, each.value.reason, each.value.position) == (
        one.value.type,
        one.value.path,
        one.value.reason,
        9,
    )


def test_validation_error_names_the_nested_field_path() -> None:
    registry = build()
    bad = stored(
        "ItemAdded",
        {"order_id": "o1", "line": {"sku": "tea", "quantity": 1, "price": [1]}},
        position=9,
    )

    with pytest.raises(EventValidationError, match=r"\$\.line\.price") as caught:
        registry.decode(bad)

    assert caught.value.path == "$.line.price"
    assert caught.value.type == "ItemAdded"
    assert caught.value.position == 9


def test_validation_error_names_a_missing_field() -> None:
    registry = build()

    with pytest.raises(EventValidationError) as caught:
        registry.decode(stored("ItemAdded", {"order_id": "o1"}))

    assert caught.value.path == "$.line"
    assert "missing" in caught.value.reason


def test_validation_error_paths_include_list_indexes() -> None:
    registry = build()
    data = {
        "order_id": "o",
        "lines": [
            {"sku": "a", "quantity": 1, "price": "1"},
            {"sku": "b", "quantity": "x", "price": "1"},
        ],
    }

    with pytest.raises(EventValidationError) as caught:
        registry.decode(stored("OrderPlaced", data))

    assert caught.value.path == "$.lines[1].quantity"


def test_registering_a_version_without_an_upcaster_path_from_1_is_refused() -> None:
    registry = EventRegistry()

    with pytest.raises(RegistrationError, match=r"no upcaster for 2 -> 3"):
        registry.register(Renamed, name="ValueSet", version=3, upcasters={1: lambda d, m: d})


def test_registering_an_upcaster_at_or_above_the_current_version_is_refused() -> None:
    registry = EventRegistry()

    with pytest.raises(RegistrationError, match="upcaster starts at version 2"):
        registry.register(
            Renamed, name="ValueSet", version=2, upcasters={1: lambda d, m: d, 2: lambda d, m: d}
        )


def test_a_type_name_can_be_registered_once() -> None:
    registry = EventRegistry()
    registry.register(Renamed, name="ValueSet")

    with pytest.raises(RegistrationError, match="already used by Renamed"):
        registry.register(Line, name="ValueSet")


def test_a_class_can_be_registered_once() -> None:
    registry = EventRegistry()
    registry.register(Renamed, name="ValueSet")

    with pytest.raises(RegistrationError, match="already registered as 'ValueSet'"):
        registry.register(Renamed, name="Other")


def test_mutable_event_classes_are_refused() -> None:
    class Mutable(msgspec.Struct):
        value: int

    @dataclasses.dataclass
    class MutableData:
        value: int

    registry = EventRegistry()
    with pytest.raises(RegistrationError, match="must be immutable"):
        registry.register(Mutable, name="Mutable")
    with pytest.raises(RegistrationError, match="must be immutable"):
        registry.register(MutableData, name="MutableData")


def test_plain_classes_are_refused() -> None:
    class Plain:
        pass

    with pytest.raises(RegistrationError, match="cannot be an event"):
        EventRegistry().register(Plain, name="Plain")


def test_encoding_an_unregistered_event_says_how_to_register_it() -> None:
    with pytest.raises(RegistrationError, match="not a registered event class"):
        EventRegistry().to_new_event(Renamed(1))


def test_the_decorator_form_registers_and_returns_the_class() -> None:
    registry = EventRegistry()

    @registry.event("Pinged", version=2, upcasters={1: lambda d, m: {**d, "n": 0}})
    class Pinged(msgspec.Struct, frozen=True):
        n: int

    assert registry.get("Pinged") is not None
    assert "Pinged" in registry
    assert Pinged in registry
    assert registry.decode(stored("Pinged", {}, schema_version=1)) == Pinged(0)


def test_upcasters_see_the_event_metadata() -> None:
    def tenant_from_metadata(data: dict[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
        return {**data, "tenant": metadata["tenant"]}

    class Tenanted(msgspec.Struct, frozen=True):
        value: int
        tenant: str

    registry = EventRegistry()
    registry.register(Tenanted, name="Tenanted", version=2, upcasters={1: tenant_from_metadata})
    old = recorded(NewEvent("Tenanted", {"value": 1}, metadata={"tenant": "acme"}))

    assert registry.decode(old) == Tenanted(1, "acme")


def test_events_stored_at_a_newer_version_than_known_are_refused_clearly() -> None:
    registry = build()

    with pytest.raises(UpcastError, match="stored at schema version 3"):
        registry.decode(stored("OrderCreated", {}, schema_version=3))


def test_a_failing_upcaster_is_reported_with_its_step() -> None:
    def broken(data: dict[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
        raise KeyError("country")

    registry = EventRegistry()
    registry.register(Renamed, name="ValueSet", version=2, upcasters={1: broken})

    with pytest.raises(UpcastError, match=r"upcaster 1 -> 2 failed"):
        registry.decode(stored("ValueSet", {"value": 1}))


def test_iteration_lists_each_type_once_with_its_version() -> None:
    registry = build()
    registry.register(Renamed, name="ValueChanged", aliases=["ValueSet"])

    assert [(t.name, t.version) for t in registry] == [
        ("OrderCreated", 2),
        ("ItemAdded", 1),
        ("OrderPlaced", 1),
        ("ValueChanged", 1),
    ]
    assert len(registry) == 4

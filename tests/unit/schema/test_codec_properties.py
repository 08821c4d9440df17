from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from factstream import EventRegistry, NewEvent, RecordedEvent, RegistrationError

from .sample_events import build
from .strategies import sample_events


def through_json(new: NewEvent, position: int = 1) -> RecordedEvent:
    """What a store hands back: data and metadata are JSON-encoded and decoded."""
    data = msgspec.json.decode(msgspec.json.encode(new.data))
    return RecordedEvent(
        new.id,
        new.type,
        data,
        new.metadata or {},
        "s",
        1,
        position,
        dt.datetime.now(dt.UTC),
        schema_version=new.schema_version,
    )


@given(sample_events)
def test_every_registered_event_survives_encode_and_decode_unchanged(event: object) -> None:
    registry = build()

    decoded = registry.decode(through_json(registry.to_new_event(event)))

    assert decoded == event
    assert type(decoded) is type(event)


@given(st.lists(sample_events, max_size=8))
def test_decode_each_equals_decode_event_by_event(events: list[object]) -> None:
    registry = build()
    stored = [
        through_json(registry.to_new_event(event), position)
        for position, event in enumerate(events, 1)
    ]

    decoded = registry.decode_each(stored)

    assert decoded == [registry.decode(event) for event in stored] == events
    assert [type(d) for d in decoded] == [type(e) for e in events]


class Versioned(msgspec.Struct, frozen=True):
    value: int
    history: list[int]


def chain(target: int) -> dict[int, Any]:
    """Step n renames field ``a{n}`` to ``a{n+1}`` and records n: order and coverage show."""

    def step(n: int) -> Any:
        def upcast(data: dict[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
            out = {k: v for k, v in data.items() if k != f"a{n}"}
            out[f"a{n + 1}"] = data[f"a{n}"]
            out["history"] = [*data.get("history", []), n]
            return out

        return upcast

    return {n: step(n) for n in range(1, target)}


@given(st.integers(min_value=1, max_value=12), st.data())
def test_upcasting_applies_every_step_from_the_stored_version_in_order(
    target: int, data: st.DataObject
) -> None:
    stored_at = data.draw(st.integers(min_value=1, max_value=target))
    value = data.draw(st.integers())

    event_type = msgspec.defstruct(
        "Event", [(f"a{target}", int), ("history", list[int], [])], frozen=True
    )
    registry = EventRegistry()
    registry.register(event_type, name="Event", version=target, upcasters=chain(target))
    stored_data = {f"a{stored_at}": value}
    original = dict(stored_data)

    decoded = registry.decode(
        through_json(NewEvent("Event", stored_data, schema_version=stored_at))
    )

    assert getattr(decoded, f"a{target}") == value
    assert decoded.history == list(range(stored_at, target))  # type: ignore[attr-defined]
    assert stored_data == original  # upcasters see copies: stored data is never rewritten


@given(st.integers(min_value=2, max_value=10), st.data())
def test_a_registry_accepts_a_version_exactly_when_every_step_has_an_upcaster(
    target: int, data: st.DataObject
) -> None:
    present = data.draw(st.sets(st.integers(min_value=1, max_value=target - 1)))
    upcasters = {n: (lambda d, m: d) for n in present}
    registry = EventRegistry()

    try:
        registry.register(Versioned, name="Versioned", version=target, upcasters=upcasters)
    except RegistrationError:
        accepted = False
    else:
        accepted = True

    assert accepted == (present == set(range(1, target)))


@given(st.uuids(), st.text(min_size=1, max_size=10))
def test_event_ids_and_correlation_pass_through_to_new_event(
    event_id: uuid.UUID, correlation: str
) -> None:
    registry = EventRegistry()
    registry.register(Versioned, name="Versioned")

    new = registry.to_new_event(Versioned(1, []), id=event_id, correlation_id=correlation)

    assert (new.id, new.correlation_id) == (event_id, correlation)

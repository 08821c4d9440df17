from __future__ import annotations

import gc
import pickle
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

import factstream as fs
from factstream.events.ids import _UUID7Generator, uuid5_of
from factstream.events.versions import describe


def test_uuid7_layout_and_order_within_one_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    make = _UUID7Generator()
    monkeypatch.setattr("time.time_ns", lambda: 1_700_000_000_123_000_000)
    ids = [make() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5000
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert {i.int >> 80 for i in ids} == {1_700_000_000_123}
    assert uuid.UUID(str(ids[0])) == ids[0]
    assert hash(uuid.UUID(str(ids[0]))) == hash(ids[0])


def test_uuid7_moves_to_the_next_millisecond_when_a_millisecond_is_used_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make = _UUID7Generator()
    monkeypatch.setattr("time.time_ns", lambda: 1_700_000_000_123_000_000)
    first = make()
    make._set_counter((1 << 74) - 2)  # as if 2**73 ids had been made in this millisecond
    last_in_ms, next_ms = make(), make()
    assert first < last_in_ms < next_ms
    assert last_in_ms.int >> 80 == 1_700_000_000_123
    assert next_ms.int >> 80 == 1_700_000_000_124


def test_uuid7_carries_from_rand_b_into_rand_a(monkeypatch: pytest.MonkeyPatch) -> None:
    make = _UUID7Generator()
    monkeypatch.setattr("time.time_ns", lambda: 1_700_000_000_123_000_000)
    make()
    make._set_counter((5 << 62) - 2)  # rand_b about to wrap: rand_a must go up by one
    ids = [make() for _ in range(4)]
    assert ids == sorted(ids)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert [(i.int >> 64) & 0xFFF for i in ids] == [4, 5, 5, 5]
    assert [i.int & 0x3FFF_FFFF_FFFF_FFFF for i in ids] == [(1 << 62) - 1, 0, 1, 2]


def test_uuid7_never_goes_backwards_when_the_clock_does(monkeypatch: pytest.MonkeyPatch) -> None:
    make = _UUID7Generator()
    clock = iter([2_000_000_000_000_000_000, 1_000_000_000_000_000_000])
    monkeypatch.setattr("time.time_ns", lambda: next(clock))
    first, second = make(), make()
    assert second > first


@given(st.uuids(), st.text())
def test_uuid5_of_is_uuid5(namespace: uuid.UUID, name: str) -> None:
    made = uuid5_of(namespace.bytes, name)
    expected = uuid.uuid5(namespace, name)

    assert made == expected
    assert (str(made), hash(made), made.version, made.variant) == (
        str(expected),
        hash(expected),
        5,
        uuid.RFC_4122,
    )
    assert pickle.loads(pickle.dumps(made)) == expected


def test_errors_survive_pickling_for_process_pools() -> None:
    wrong = fs.WrongExpectedVersion("s", fs.NO_STREAM, 3)
    again = pickle.loads(pickle.dumps(wrong))
    assert (again.stream_id, again.expected, again.actual) == ("s", 0, 3)
    dup = fs.DuplicateEventId(uuid.UUID(int=1), "s", "it is already stored in stream 'x'")
    copy = pickle.loads(pickle.dumps(dup))
    assert str(copy) == str(dup)
    assert copy.event_id == dup.event_id


def test_expected_versions_describe_themselves() -> None:
    assert describe(fs.ANY) == "any"
    assert describe(fs.STREAM_EXISTS) == "stream exists"
    assert describe(fs.NO_STREAM) == "no stream (version 0)"
    assert describe(4) == "version 4"
    assert repr(fs.ANY) == "fs.ANY"


def test_new_event_normalises_ids_and_rejects_bad_fields() -> None:
    command = uuid.UUID(int=5)
    event = fs.NewEvent("T", {}, correlation_id=command, causation_id="cause")  # type: ignore[arg-type]
    assert event.correlation_id == str(command)
    assert event.causation_id == "cause"
    with pytest.raises(fs.InvalidEvent, match="correlation_id"):
        fs.NewEvent("T", {}, correlation_id="")
    with pytest.raises(fs.InvalidEvent, match="id must be a uuid"):
        fs.NewEvent("T", {}, id="not-a-uuid")  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        event.type = "U"  # type: ignore[misc]


def test_errors_are_factstream_errors_and_bad_input_is_a_value_error() -> None:
    assert issubclass(fs.InvalidEvent, ValueError)
    for error in (
        fs.WrongExpectedVersion,
        fs.DuplicateEventId,
        fs.StoreClosed,
        fs.StoreUnavailable,
    ):
        assert issubclass(error, fs.FactstreamError)


async def test_recorded_events_are_left_out_of_the_cycle_collector() -> None:
    async with fs.connect("memory://") as store:
        await store.append("s", [fs.NewEvent("T", {"nested": {"a": [1, 2]}})])
        [event] = await store.read("s")
    assert gc.is_tracked(event) is False
    assert event.data == {"nested": {"a": [1, 2]}}
    # Equality and pickling are unaffected.
    assert pickle.loads(pickle.dumps(event)) == event

from __future__ import annotations

import datetime as dt

import pydantic
import pytest

from factstream import (
    EventRegistry,
    EventValidationError,
    NewEvent,
    RecordedEvent,
    RegistrationError,
)
from factstream.schema import export_schemas


class Price(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True)
    amount: int
    currency: str


class PriceChanged(pydantic.BaseModel):
    """The price of a product changed."""

    model_config = pydantic.ConfigDict(frozen=True)
    sku: str
    prices: list[Price]


def as_recorded(new: NewEvent) -> RecordedEvent:
    return RecordedEvent(new.id, new.type, new.data, {}, "product-1", 1, 1, dt.datetime.now(dt.UTC))


def test_pydantic_models_round_trip_through_the_registry() -> None:
    registry = EventRegistry()
    registry.register(PriceChanged, name="PriceChanged")
    event = PriceChanged(sku="tea", prices=[Price(amount=450, currency="EUR")])

    new = registry.to_new_event(event)

    assert new.data == {"sku": "tea", "prices": [{"amount": 450, "currency": "EUR"}]}
    assert registry.decode(as_recorded(new)) == event


def test_pydantic_validation_errors_name_the_field_path() -> None:
    registry = EventRegistry()
    registry.register(PriceChanged, name="PriceChanged")
    bad = NewEvent("PriceChanged", {"sku": "tea", "prices": [{"amount": "many", "currency": "E"}]})

    with pytest.raises(EventValidationError) as caught:
        registry.decode(as_recorded(bad))

    assert caught.value.path == "$.prices[0].amount"


def test_mutable_pydantic_models_are_refused() -> None:
    class Loose(pydantic.BaseModel):
        value: int

    with pytest.raises(RegistrationError, match="must be immutable"):
        EventRegistry().register(Loose, name="Loose")


def test_pydantic_models_export_their_json_schema() -> None:
    registry = EventRegistry()
    registry.register(PriceChanged, name="PriceChanged")

    schema = export_schemas(registry)["events"]["PriceChanged"]["schema"]

    assert schema["properties"]["sku"]["type"] == "string"
    assert "Price" in schema["$defs"]

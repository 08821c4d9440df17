"""The committed event contracts and their documentation match the code."""

from __future__ import annotations

import json
import pathlib

from examples.orders.domain import registry
from factstream.schema import check_compatibility, export_schemas, render_markdown

HERE = pathlib.Path(__file__).resolve().parents[1]
ROOT = HERE.parents[1]


def test_the_registry_matches_the_committed_contracts() -> None:
    # After a deliberate change: factstream schema export --module examples.orders.domain:registry
    #   -o examples/orders/contracts/events.schema.json (and schema docs for docs/orders-events.md)
    committed = json.loads((HERE / "contracts" / "events.schema.json").read_text())
    current = export_schemas(registry())
    assert check_compatibility(committed, current).ok
    assert current == committed


def test_the_contracts_documentation_is_current() -> None:
    expected = render_markdown(export_schemas(registry()), "Orders system: event contracts")
    assert (ROOT / "docs" / "orders-events.md").read_text() == expected

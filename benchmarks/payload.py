"""The one event shape both libraries store: a small JSON object (about 170 bytes encoded)."""

from __future__ import annotations

from typing import Any

EVENT_TYPE = "ItemAdded"


def payload(seq: int) -> dict[str, Any]:
    return {
        "order_id": "ord-0001234567",
        "customer_id": "cust-000042",
        "sku": "SKU-12345-BLUE-XL",
        "quantity": 3,
        "unit_price_cents": 1999,
        "currency": "EUR",
        "note": "leave the parcel at the door",
        "seq": seq,
    }

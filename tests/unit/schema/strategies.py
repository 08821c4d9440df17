"""Hypothesis strategies for the sample events (kept in one module, as attrs does)."""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

from .sample_events import ItemAdded, Line, OrderCreated, OrderPlaced

texts = st.text(max_size=20)
# JSON integers: msgspec reads back what fits in 64 bits (signed or unsigned).
ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
decimals = st.decimals(allow_nan=False, allow_infinity=False)
datetimes = st.datetimes(timezones=st.just(dt.UTC))

lines = st.builds(Line, sku=texts, quantity=ints, price=decimals)
order_created = st.builds(
    OrderCreated, order_id=texts, customer_id=texts, currency=texts, created_at=datetimes
)
item_added = st.builds(ItemAdded, order_id=texts, line=lines)
order_placed = st.builds(OrderPlaced, order_id=texts, lines=st.lists(lines, max_size=4), note=texts)
sample_events = st.one_of(order_created, item_added, order_placed)

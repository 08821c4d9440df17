"""The orders system with metrics and tracing: the composition root wraps its own store, so
what the command handlers append shows up at ``/metrics`` and in the trace of the request."""

from __future__ import annotations

import pathlib

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.unit.http.support import running

from examples.orders.compose import OrdersSettings, OrdersSystem
from examples.orders.http import create_orders_app
from factstream.http import TOKEN_HEADER, HttpSettings
from factstream.observability import InstrumentedEventStore, Metrics, TracingEventStore


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0 when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        metric, _, label_text = key.partition("{")
        got = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
        if metric == name and got == wanted:
            return float(value)
    return 0.0


async def test_commands_over_http_are_measured_and_traced(tmp_path: pathlib.Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    metrics = Metrics()
    settings = OrdersSettings(store_url=f"sqlite:///{tmp_path / 'shop.db'}", saga=False)
    async with await OrdersSystem.open(
        settings, metrics=metrics, tracer_provider=provider
    ) as system:
        assert isinstance(system.store, TracingEventStore)
        assert isinstance(system.store.inner, InstrumentedEventStore)
        app = create_orders_app(HttpSettings(), system, metrics=metrics)
        async with running(app) as client:
            before = (await client.get("/metrics")).text
            created = await client.post("/orders", json={"customer_id": "ada"})
            assert created.status_code == 201, created.text
            order_id = created.json()["order_id"]
            added = await client.post(
                f"/orders/{order_id}/items",
                json={"sku": "tea", "quantity": 2, "unit_price": "4.50"},
            )
            assert added.status_code == 200, added.text
            scraped = (await client.get("/metrics")).text
            read = await client.get(
                f"/orders/{order_id}", headers={TOKEN_HEADER: added.headers[TOKEN_HEADER]}
            )
            assert read.status_code == 200, read.text
    appended = "factstream_events_appended_total"
    assert _sample(before, appended, backend="sqlite") == 0
    assert _sample(scraped, appended, backend="sqlite") == 2
    commands = "factstream_command_duration_seconds_count"
    assert _sample(scraped, commands, command="CreateOrder", outcome="ok") == 1
    assert _sample(scraped, commands, command="AddItem", outcome="ok") == 1
    spans = {span.name for span in exporter.get_finished_spans()}
    assert {"command", "send factstream"} <= spans


async def test_without_metrics_or_tracing_the_store_is_not_wrapped(tmp_path: pathlib.Path) -> None:
    settings = OrdersSettings(store_url=f"sqlite:///{tmp_path / 'shop.db'}", saga=False)
    async with await OrdersSystem.open(settings) as system:
        assert type(system.store).__name__ == "SqliteEventStore"

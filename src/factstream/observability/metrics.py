"""Prometheus metrics (extra ``metrics``): one object holding every metric of the catalogue.

No global registry: each :class:`Metrics` has its own ``CollectorRegistry`` unless given one,
so two stores, or two tests, never share counters by accident.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .names import GROUP_COMMIT_APPENDS, GROUP_COMMITS, METRICS, MetricSpec

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.metrics_core import Metric

__all__ = ["Metrics", "MetricsServer"]


class Metrics:
    """The catalogue's metrics, registered in one Prometheus registry.

    Args:
        registry: where to register; a new private registry by default.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "metrics need the 'metrics' extra: pip install 'factstream[metrics]'"
            ) from exc
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._by_name: dict[str, Any] = {}
        self._commit_sources: list[tuple[str, Callable[[], tuple[int, int]]]] = []
        for spec in METRICS:
            if spec in (GROUP_COMMITS, GROUP_COMMIT_APPENDS):
                continue  # read from the stores at scrape time, see add_commit_source()
            if spec.kind == "counter":
                metric: Any = Counter(spec.name, spec.help, spec.labels, registry=self.registry)
            elif spec.kind == "gauge":
                metric = Gauge(spec.name, spec.help, spec.labels, registry=self.registry)
            else:
                buckets = spec.buckets or Histogram.DEFAULT_BUCKETS
                metric = Histogram(
                    spec.name, spec.help, spec.labels, registry=self.registry, buckets=buckets
                )
            self._by_name[spec.name] = metric
        self.registry.register(_CommitCollector(self._commit_sources))

    def add_commit_source(self, backend: str, source: Callable[[], tuple[int, int]]) -> None:
        """Report a store's group commits: ``source()`` returns (transactions, appends)."""
        self._commit_sources.append((backend, source))

    def counter(self, spec: MetricSpec) -> Counter:
        assert spec.kind == "counter", spec
        metric: Counter = self._by_name[spec.name]
        return metric

    def gauge(self, spec: MetricSpec) -> Gauge:
        assert spec.kind == "gauge", spec
        metric: Gauge = self._by_name[spec.name]
        return metric

    def histogram(self, spec: MetricSpec) -> Histogram:
        assert spec.kind == "histogram", spec
        metric: Histogram = self._by_name[spec.name]
        return metric

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (what ``/metrics`` serves)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def serve(self, port: int, host: str = "127.0.0.1") -> MetricsServer:
        """Serve the registry at ``http://host:port/metrics`` from a background thread (for
        worker processes); port 0 picks a free port (see :attr:`MetricsServer.port`).

        Raises:
            OSError: the address cannot be bound (the port is taken, the host is not local).
        """
        from prometheus_client import start_http_server

        server, thread = start_http_server(port, addr=host, registry=self.registry)
        return MetricsServer(server, thread)


class MetricsServer:
    """A running ``/metrics`` endpoint: its port, and :meth:`close`."""

    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.port: int = server.server_address[1]

    def close(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _CommitCollector:
    """Turns the stores' plain commit counts into Prometheus counters when scraped."""

    def __init__(self, sources: list[tuple[str, Callable[[], tuple[int, int]]]]) -> None:
        self._sources = sources

    def describe(self) -> list[Metric]:
        return list(self.collect())

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily

        commits = CounterMetricFamily(
            GROUP_COMMITS.name.removesuffix("_total"), GROUP_COMMITS.help, labels=["backend"]
        )
        appends = CounterMetricFamily(
            GROUP_COMMIT_APPENDS.name.removesuffix("_total"),
            GROUP_COMMIT_APPENDS.help,
            labels=["backend"],
        )
        totals: dict[str, list[int]] = {}
        for backend, source in self._sources:
            transactions, decided = source()
            total = totals.setdefault(backend, [0, 0])
            total[0] += transactions
            total[1] += decided
        for backend, (transactions, decided) in totals.items():
            commits.add_metric([backend], transactions)
            appends.add_metric([backend], decided)
        yield commits
        yield appends

"""The event store contract, run against every backend."""

from __future__ import annotations

import pytest

from factstream.testing.contracts import EventStoreContract, SharedStoreContract, StoreHarness


class TestEventStore(EventStoreContract):
    pass


class TestSharedStore(SharedStoreContract):
    @pytest.fixture
    def harness(self, shared_harness: StoreHarness) -> StoreHarness:
        return shared_harness

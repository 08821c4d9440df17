"""Contract test suites that every backend of a port must pass.

A backend's test module subclasses a contract and provides a ``harness`` fixture::

    class TestMyStore(EventStoreContract):
        @pytest.fixture
        async def harness(self): ...
"""

from .broker import BrokerContract, BrokerHarness
from .harness import StoreHarness
from .shared_store import SharedStoreContract
from .store import EventStoreContract

__all__ = [
    "BrokerContract",
    "BrokerHarness",
    "EventStoreContract",
    "SharedStoreContract",
    "StoreHarness",
]

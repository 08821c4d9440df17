"""Contract test suites that every backend of a port must pass.

A backend's test module subclasses a contract and provides a ``harness`` fixture::

    class TestMyStore(EventStoreContract):
        @pytest.fixture
        async def harness(self): ...
"""

from .harness import StoreHarness
from .shared_store import SharedStoreContract
from .store import EventStoreContract

__all__ = ["EventStoreContract", "SharedStoreContract", "StoreHarness"]

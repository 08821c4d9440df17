"""The orders system of the design article, built on factstream.

- :mod:`.domain`: the ``Order`` aggregate, its events and the event registry.
- :mod:`.inventory`: stock per SKU and per-order reservations (the saga's write side).
- :mod:`.commands`, :mod:`.handlers`: commands and their handlers on the command bus.
- :mod:`.projections`, :mod:`.queries`: SQL read models and the query handlers over them.
- :mod:`.saga`: the fulfilment process manager (confirmed -> reserve stock -> shipped/cancelled).
- :mod:`.compose`: the one composition root, ``OrdersSystem.open(OrdersSettings(...))``.
"""

"""factstream benchmarks: measurements side by side with the ``eventsourcing`` library.

Run ``python -m benchmarks --help``. Not tests: nothing here asserts on timings.
"""

"""Testing helpers: given / when / then scenarios and pytest fixtures
(``pytest_plugins = ["factstream.testing.plugin"]``). Store contract suites are in
``factstream.testing.contracts``."""

from .given import AggregateOutcome, AggregateScenario, CommandScenario, HandlerOutcome, given

__all__ = ["AggregateOutcome", "AggregateScenario", "CommandScenario", "HandlerOutcome", "given"]

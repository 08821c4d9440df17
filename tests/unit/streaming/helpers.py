"""Shared helpers of the streaming tests: bounded waits and a recording handler."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
from collections.abc import AsyncIterator, Awaitable, Callable

from factstream import RecordedEvent


async def wait_until(
    condition: Callable[[], bool], timeout: float = 20.0, step: float = 0.02
) -> None:
    """Poll ``condition`` until true; at most ``timeout`` seconds (then fail)."""
    for _ in range(int(timeout / step) + 1):
        if condition():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s; tasks:\n{task_stacks()}")


def task_stacks() -> str:
    """Where every task of the loop waits (to diagnose a stuck test)."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(limit=6, file=out)
    return out.getvalue()


class Recorder:
    """A handler that records what it applied, per stream, and can be told to fail."""

    def __init__(self) -> None:
        self.applied: dict[str, list[int]] = collections.defaultdict(list)
        self.count = 0
        self.fail_on: set[tuple[str, int]] = set()
        self.attempts: collections.Counter[tuple[str, int]] = collections.Counter()

    async def __call__(self, event: RecordedEvent) -> None:
        key = (event.stream_id, event.version)
        self.attempts[key] += 1
        if key in self.fail_on:
            raise ValueError(f"poison {key}")
        self.applied[event.stream_id].append(event.version)
        self.count += 1

    def check_in_order_once(self, expected: dict[str, int]) -> None:
        for stream_id, top in expected.items():
            applied = self.applied[stream_id]
            wanted = list(range(1, top + 1))
            if applied != wanted:
                at = next(
                    (i for i, (a, w) in enumerate(zip(applied, wanted, strict=False)) if a != w),
                    min(len(applied), len(wanted)),
                )
                raise AssertionError(
                    f"{stream_id}: {len(applied)} applied, {top} expected; from index {at}: "
                    f"{applied[max(0, at - 3) : at + 5]}"
                )


@contextlib.asynccontextmanager
async def running(*runs: Awaitable[None]) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Run coroutines as tasks; cancel and await them on the way out."""
    started = [asyncio.ensure_future(run) for run in runs]
    try:
        yield started
    finally:
        for task in started:
            task.cancel()
        for task in started:
            with contextlib.suppress(asyncio.CancelledError):
                await task

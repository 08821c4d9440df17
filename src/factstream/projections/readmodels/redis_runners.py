"""Heartbeats and status of projections whose read model is in Redis.

A runner's heartbeat is a field of the hash ``{prefix}{projection}:_fs:runners`` (a JSON
object), written by a small script that stamps it with the Redis server's clock, so the ages
``factstream projections status`` reports never depend on the hosts' clocks. Status finds the
projections by their ``{prefix}{projection}:_fs:meta`` keys.
"""

from __future__ import annotations

import json
from typing import Any

from ..heartbeats import Beat, Heartbeat, ProjectionStatus, RunnerStatus, runner_status
from .redis import RedisReadModel, RedisTarget, glob_escape

__all__ = ["RedisHeartbeat", "redis_projection_status"]

_META = ":_fs:meta"

# KEYS[1] the runners hash; ARGV: runner id, the beat (JSON), seconds since progress.
_BEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local entry = cjson.decode(ARGV[2])
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then entry['started_at'] = cjson.decode(old)['started_at'] else entry['started_at'] = now end
entry['heartbeat_at'] = now
entry['progress_at'] = now - tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(entry))
return 1
"""


def runners_key(target: RedisTarget, projection: str) -> str:
    return target.key(projection, "_fs:runners")


class RedisHeartbeat(Heartbeat):
    """Writes a runner's heartbeat to Redis until stopped."""

    async def _write(self, session: Any, beat: Beat) -> None:
        entry = {
            "generation": beat.generation,
            "host": beat.host,
            "pid": beat.pid,
            "partitions": beat.partitions,
            "position": beat.position,
            "beat_every": beat.beat_every,
            "state": beat.state,
            "error": beat.error,
        }
        key = runners_key(self._target, beat.name)
        await session.eval(
            _BEAT, 1, key, beat.runner_id, json.dumps(entry), repr(beat.progress_age)
        )

    async def _close(self, session: Any) -> None:
        await session.aclose()


async def redis_projection_status(
    target: RedisTarget,
    head: int | None = None,
    *,
    stuck_after: float = 60.0,
    include_stopped: bool = False,
) -> list[ProjectionStatus]:
    """:func:`..heartbeats.projection_status` for the projections at a Redis target."""
    client = await target.connect()
    try:
        pattern = glob_escape(target.prefix) + "*" + glob_escape(_META)
        keys = [key async for key in client.scan_iter(match=pattern, count=500)]
        names = sorted(key[len(target.prefix) : -len(_META)] for key in keys)
        seconds, micros = await client.time()
        now = float(seconds) + float(micros) / 1e6
        found = []
        for name in names:
            model = RedisReadModel(client, target, name)
            version = await client.hget(model.meta_key, "version")
            checkpoints = [int(v) for v in await client.hvals(model.checkpoints_key)]
            position = min(checkpoints, default=0)
            parked = int(await client.hlen(model.dead_letters_key))
            runners: list[tuple[float, RunnerStatus]] = []
            stored: dict[str, str] = await client.hgetall(runners_key(target, name))
            for runner_id, text in stored.items():
                entry = json.loads(text)
                row = (
                    runner_id,
                    entry["generation"],
                    entry["host"],
                    entry["pid"],
                    json.dumps(entry["partitions"]),
                    entry["position"],
                    entry["heartbeat_at"],
                    entry["progress_at"],
                    entry["beat_every"],
                    entry["state"],
                    entry["error"],
                )
                status = runner_status(name, row, now, head, stuck_after)
                if include_stopped or status.state != "stopped":
                    runners.append((float(entry["started_at"]), status))
            found.append(
                ProjectionStatus(
                    name,
                    1,
                    int(version or 1),
                    position,
                    None if head is None else max(head - position, 0),
                    {},
                    parked,
                    tuple(status for _, status in sorted(runners, key=lambda item: item[0])),
                )
            )
        return found
    finally:
        await client.aclose()

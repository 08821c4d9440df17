"""Rebuilding and resetting projections over HTTP: the routes, their errors and their auth."""

from __future__ import annotations

import asyncio

from factstream.http import HttpSettings

from .conftest import AppFactory
from .support import running

TOKEN = "t" * 24
CONSOLE = {"X-Requested-With": "factstream-console"}


class GatedControl:
    """A ProjectionControl that knows one projection and finishes an action when told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = asyncio.Event()

    async def _act(self, action: str, name: str) -> str | None:
        if name == "broken":
            raise RuntimeError("secret dsn postgres://user:pw@db")
        if name != "counters":
            return None
        self.calls.append((action, name))
        self.started.set()
        await self.gate.wait()
        return f"{action} {name}"

    async def rebuild_projection(self, name: str) -> str | None:
        return await self._act("rebuild", name)

    async def reset_projection(self, name: str) -> str | None:
        return await self._act("reset", name)


async def test_rebuild_and_reset_answer_what_was_done(make_app: AppFactory) -> None:
    control = GatedControl()
    async with running(make_app(projection_control=control)) as client:
        rebuilt = await client.post("/projections/counters/rebuild")
        assert rebuilt.status_code == 200, rebuilt.text
        assert rebuilt.json() == {
            "name": "counters",
            "action": "rebuilt",
            "detail": "rebuild counters",
        }
        reset = await client.post("/projections/counters/reset")
        assert reset.json()["action"] == "reset"
        assert control.calls == [("rebuild", "counters"), ("reset", "counters")]
        missing = await client.post("/projections/nope/reset")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert (await client.get("/projections")).json()["controllable"] is True
        assert (await client.get("/info")).json()["features"]["projection_control"] is True
        assert (await client.get("/projections/counters/reset")).status_code == 405


async def test_one_action_per_projection_at_a_time(make_app: AppFactory) -> None:
    control = GatedControl()
    control.gate.clear()
    async with running(make_app(projection_control=control)) as client:
        first = asyncio.create_task(client.post("/projections/counters/rebuild"))
        async with asyncio.timeout(10):
            await control.started.wait()
        busy = await client.post("/projections/counters/reset")
        assert busy.status_code == 409
        assert busy.json()["type"] == "urn:factstream:problem:projection-busy"
        control.gate.set()
        assert (await first).status_code == 200
        assert (await client.post("/projections/counters/reset")).status_code == 200


async def test_a_failed_action_is_a_500_without_internals_and_frees_the_projection(
    make_app: AppFactory,
) -> None:
    async with running(make_app(projection_control=GatedControl())) as client:
        for _ in range(2):  # the second is not "busy": the first one's failure released it
            failed = await client.post("/projections/broken/rebuild")
            assert failed.status_code == 500
            assert failed.headers["content-type"] == "application/problem+json"
            assert "secret" not in failed.text
            assert "error_id" in failed.json()


async def test_without_a_control_the_actions_are_501(make_app: AppFactory) -> None:
    async with running(make_app()) as client:
        answer = await client.post("/projections/counters/rebuild")
        assert answer.status_code == 501
        assert "factstream projections" in answer.json()["detail"]
        assert (await client.get("/projections")).json()["controllable"] is False


async def test_the_actions_are_writes_behind_the_token(make_app: AppFactory) -> None:
    control = GatedControl()
    app = make_app(HttpSettings(token=TOKEN), projection_control=control)
    async with running(app) as client:
        assert (await client.post("/projections/counters/reset")).status_code == 401
        assert (await client.post("/console/session", json={"token": TOKEN})).status_code == 200
        # The console's cookie alone is not enough for a write (no cross-site forms).
        assert (await client.post("/projections/counters/reset")).status_code == 401
        assert control.calls == []
        ok = await client.post("/projections/counters/reset", headers=CONSOLE)
        assert ok.status_code == 200
        client.cookies.clear()
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert (
            await client.post("/projections/counters/rebuild", headers=bearer)
        ).status_code == 200


async def test_the_actions_are_in_the_openapi_document(make_app: AppFactory) -> None:
    async with running(make_app(projection_control=GatedControl())) as client:
        paths = (await client.get("/schema/openapi.json")).json()["paths"]
        for action in ("rebuild", "reset"):
            operation = paths[f"/projections/{{name}}/{action}"]["post"]
            assert "200" in operation["responses"]
            assert operation["tags"] == ["operations"]

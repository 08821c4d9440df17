"""The dead-letter commands against a real broker (Redis), end to end through Typer."""

from __future__ import annotations

import asyncio
import pathlib
import uuid

from typer.testing import CliRunner

from factstream.cli.app import app
from factstream.streaming import Delivery, open_broker, open_streaming_state
from tests.services import require


def test_dead_letters_can_be_listed_and_skipped_from_the_command_line(
    tmp_path: pathlib.Path,
) -> None:
    require("Redis", "127.0.0.1", 6379)
    prefix = f"fstest{uuid.uuid4().hex[:10]}"
    url = "redis://127.0.0.1:6379/0"
    state_url = f"sqlite:///{tmp_path / 'events.db'}"

    async def seed() -> None:
        broker = await open_broker(url, prefix=prefix)
        delivery = Delivery(
            0, "id-1", {"ce-fsstream": "order-9", "ce-fsversion": "4"}, b"{}", 1, ""
        )
        await broker.dead_letter("billing", delivery, "ValueError('no')", 5)
        await broker.close()
        state = await open_streaming_state(state_url)
        await state.close()

    async def cleanup() -> None:
        broker = await open_broker(url, prefix=prefix)
        await broker.destroy()
        await broker.close()

    asyncio.run(seed())
    try:
        runner = CliRunner()
        common = ["--broker", url, "--group", "billing", "--prefix", prefix]
        listed = runner.invoke(app, ["streaming", "dead-letters", "list", *common])
        assert listed.exit_code == 0, listed.output
        assert "order-9" in listed.output
        assert "ValueError" in listed.output
        skipped = runner.invoke(
            app,
            [
                "streaming",
                "dead-letters",
                "skip",
                *common,
                "--state",
                state_url,
                "--stream",
                "order-9",
            ],
        )
        assert skipped.exit_code == 0, skipped.output
        assert "skipped 1" in skipped.output
        again = runner.invoke(app, ["streaming", "dead-letters", "list", *common])
        assert "order-9" not in again.output
    finally:
        asyncio.run(cleanup())

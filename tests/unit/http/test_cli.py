"""``factstream streams list|show|tail`` and ``factstream events show``."""

from __future__ import annotations

import asyncio
import pathlib

import msgspec
import pytest
from typer.testing import CliRunner

import factstream as fs
from factstream.cli.app import app

runner = CliRunner()


@pytest.fixture
def store_url(tmp_path: pathlib.Path) -> str:
    url = f"sqlite:///{tmp_path}/cli.db"

    async def fill() -> None:
        async with fs.connect(url) as store:
            for n in range(3):
                await store.append(f"order-{n}", [fs.NewEvent("Placed", {"n": n})])
            await store.append("order-1", [fs.NewEvent("Paid", {"amount": "9.99"})])

    asyncio.run(fill())
    return url


def test_streams_list_prints_json_for_scripts(store_url: str) -> None:
    result = runner.invoke(app, ["streams", "list", "--store", store_url, "--json"])
    assert result.exit_code == 0, result.output
    document = msgspec.json.decode(result.stdout)
    listed = [(s["stream_id"], s["version"], s["last_position"]) for s in document["streams"]]
    assert listed == [("order-0", 1, 1), ("order-1", 2, 4), ("order-2", 1, 3)]
    assert all(s["last_recorded_at"].endswith("Z") for s in document["streams"])
    paged = runner.invoke(app, ["streams", "list", "--store", store_url, "--limit", "2"])
    assert "order-1" in paged.stdout
    assert "--after 'order-1'" in paged.stdout


def test_streams_show_and_events_show(store_url: str) -> None:
    shown = runner.invoke(app, ["streams", "show", "order-1", "--store", store_url, "--json"])
    assert shown.exit_code == 0, shown.output
    events = msgspec.json.decode(shown.stdout)["events"]
    assert [e["type"] for e in events] == ["Placed", "Paid"]
    table = runner.invoke(app, ["streams", "show", "order-1", "--store", store_url])
    assert "Paid" in table.stdout
    event = runner.invoke(app, ["events", "show", "4", "--store", store_url, "--json"])
    assert msgspec.json.decode(event.stdout)["data"] == {"amount": "9.99"}
    assert "amount" in runner.invoke(app, ["events", "show", "4", "--store", store_url]).stdout


def test_missing_things_exit_1_and_say_what_to_do(store_url: str, tmp_path: pathlib.Path) -> None:
    missing = runner.invoke(app, ["streams", "show", "nope", "--store", store_url])
    assert missing.exit_code == 1
    assert "streams list" in missing.output
    assert runner.invoke(app, ["events", "show", "99", "--store", store_url]).exit_code == 1
    no_file = runner.invoke(app, ["streams", "list", "--store", f"sqlite:///{tmp_path}/no.db"])
    assert no_file.exit_code == 2
    assert "--store" in no_file.output
    assert not (tmp_path / "no.db").exists()
    memory = runner.invoke(app, ["streams", "list", "--store", "memory://", "--json"])
    assert memory.exit_code == 0, memory.output
    assert msgspec.json.decode(memory.stdout)["streams"] == []


def test_streams_tail_follows_from_a_position(store_url: str) -> None:
    result = runner.invoke(
        app, ["streams", "tail", "--store", store_url, "--from", "2", "--count", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    lines = [msgspec.json.decode(line) for line in result.stdout.splitlines()]
    assert [e["position"] for e in lines] == [2, 3, 4]
    one = runner.invoke(
        app, ["streams", "tail", "order-1", "--store", store_url, "--from", "1", "--count", "2"]
    )
    assert "Placed" in one.stdout
    assert "Paid" in one.stdout

from __future__ import annotations

import json
import pathlib

from typer.testing import CliRunner

from factstream.cli.app import app

SAMPLE = "tests.unit.schema.sample_events"
ROOT = str(pathlib.Path(__file__).resolve().parents[3])
runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["schema", *args, "--app-dir", ROOT], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def export_to(path: pathlib.Path, attribute: str = "registry") -> None:
    code, output = run("export", "--module", f"{SAMPLE}:{attribute}", "--output", str(path))
    assert code == 0, output


def test_export_writes_every_event_schema_with_its_version(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "contracts.json"

    export_to(target)

    document = json.loads(target.read_text())
    assert {name: e["version"] for name, e in document["events"].items()} == {
        "ItemAdded": 1,
        "OrderCreated": 2,
        "OrderPlaced": 1,
    }


def test_export_can_write_one_file_per_type_and_version(tmp_path: pathlib.Path) -> None:
    code, output = run(
        "export", "--module", f"{SAMPLE}:registry", "--dir", str(tmp_path / "schemas")
    )

    assert code == 0, output
    assert sorted(p.name for p in (tmp_path / "schemas").iterdir()) == [
        "ItemAdded.v1.schema.json",
        "OrderCreated.v2.schema.json",
        "OrderPlaced.v1.schema.json",
    ]
    assert json.loads(output)["format"] == "factstream.schema/1"


def test_check_passes_safe_changes(tmp_path: pathlib.Path) -> None:
    snapshot = tmp_path / "contracts.json"
    export_to(snapshot)

    code, output = run("check", "--module", f"{SAMPLE}:safe_registry", "--against", str(snapshot))

    assert code == 0, output
    assert "compatible: 2 safe change(s)" in output


def test_check_fails_on_breaking_changes_and_names_them(tmp_path: pathlib.Path) -> None:
    snapshot = tmp_path / "contracts.json"
    export_to(snapshot)

    code, output = run(
        "check", "--module", f"{SAMPLE}:breaking_registry", "--against", str(snapshot)
    )

    assert code == 1
    assert "incompatible: 3 breaking change(s)" in output
    assert "type removed" in output
    assert "required field added" in output


def test_check_accepts_a_registry_factory(tmp_path: pathlib.Path) -> None:
    snapshot = tmp_path / "contracts.json"
    export_to(snapshot)

    code, output = run("check", "--module", f"{SAMPLE}:build", "--against", str(snapshot))

    assert code == 0, output
    assert "compatible: 0 safe change(s)" in output


def test_docs_writes_markdown(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "events.md"

    code, output = run("docs", "--module", f"{SAMPLE}:registry", "--output", str(target))

    assert code == 0, output
    assert target.read_text().startswith("# Event contracts")
    assert "## OrderPlaced" in target.read_text()


def test_a_module_spec_that_names_no_registry_is_a_usage_error() -> None:
    code, output = run("export", "--module", f"{SAMPLE}:Line")

    assert code == 2
    assert "not an EventRegistry" in output


def test_a_module_spec_without_attribute_is_a_usage_error() -> None:
    code, output = run("docs", "--module", SAMPLE)

    assert code == 2
    assert "package.module:registry" in output


def test_asyncapi_writes_the_relay_channels_and_message_schemas(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "asyncapi.json"
    code, output = run(
        "asyncapi",
        "--module",
        f"{SAMPLE}:registry",
        "--partitions",
        "4",
        "--prefix",
        "shop",
        "--output",
        str(target),
    )
    assert code == 0, output
    document = json.loads(target.read_text())
    assert document["asyncapi"].startswith("3.")
    # One message per type at its current version.
    assert set(document["components"]["messages"]) == {
        "ItemAddedV1",
        "OrderCreatedV2",
        "OrderPlacedV1",
    }
    addresses = sorted(channel["address"] for channel in document["channels"].values())
    assert addresses == [f"shop.p{n}.{{category}}.{{stream}}" for n in range(4)]
    code, output = run("asyncapi", "--module", f"{SAMPLE}:registry", "--broker", "kafka")
    assert code != 0
    assert "nats" in output

"""``steadyllm keys ...`` and ``steadyllm usage`` against a SQLite store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
import yaml
from click.testing import CliRunner

from steadyllm.cli import main
from steadyllm.stores.base import CallRecord
from steadyllm.stores.sql import SqlRecordStore, open_database


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "steadyllm.yaml"
    path.write_text(yaml.safe_dump({"store": {"url": f"sqlite:///{tmp_path / 'cli.db'}"}}))
    return path


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_create_list_update_revoke(config: Path) -> None:
    created = orjson.loads(
        run(
            "keys",
            "create",
            "--config",
            str(config),
            "--user",
            "ana",
            "--model",
            "fast",
            "--rpm",
            "30",
            "--json",
        )
    )
    assert created["key"].startswith("sk-steady-")
    assert created["limits"] == {"requests_per_minute": 30}
    listing = run("keys", "list", "--config", str(config))
    assert created["id"] in listing
    assert created["key"] not in listing
    assert "models=fast" in listing
    assert "requests_per_minute=30" in listing

    updated = run(
        "keys",
        "update",
        "--config",
        str(config),
        created["id"],
        "--tier",
        "premium",
        "--budget",
        "2",
        "--all-models",
    )
    assert "tier=premium" in updated
    assert "models=*" in updated
    assert "requests_per_minute=30" in updated
    assert "budget_per_day=2.0" in updated

    run("keys", "revoke", "--config", str(config), created["id"])
    assert created["id"] not in run("keys", "list", "--config", str(config))
    assert "revoked" in run("keys", "list", "--config", str(config), "--all")


def test_bad_input_is_a_clean_error(config: Path) -> None:
    result = CliRunner().invoke(main, ["keys", "create", "--config", str(config), "--tier", "gold"])
    assert result.exit_code != 0
    assert "Unknown tier 'gold'" in result.output
    result = CliRunner().invoke(main, ["keys", "revoke", "--config", str(config), "key_nope"])
    assert result.exit_code != 0
    assert "No key with id key_nope" in result.output


def test_memory_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "memory.yaml"
    path.write_text(yaml.safe_dump({"store": {"url": "memory://"}}))
    result = CliRunner().invoke(main, ["keys", "list", "--config", str(path)])
    assert result.exit_code != 0
    assert "admin API" in result.output


def test_usage_reads_the_daily_aggregates(config: Path, tmp_path: Path) -> None:
    run("keys", "list", "--config", str(config))  # migrates the store
    now = time.time()
    records = [
        CallRecord(
            id=f"r{i}",
            request_id=f"q{i}",
            created_at=now,
            kind="chat",
            model=m,
            status=200,
            input_tokens=10,
            output_tokens=5,
            cost_usd=0.25,
            metadata={"project_id": "p"},
        )
        for i, m in enumerate(["fast", "fast", "smart"])
    ]

    async def write() -> None:
        database = open_database(f"sqlite:///{tmp_path / 'cli.db'}")
        await SqlRecordStore(database).write_calls(records)
        await database.dispose()

    asyncio.run(write())
    as_json = orjson.loads(
        run("usage", "--config", str(config), "--group-by", "model", "--format", "json")
    )
    assert [(r["model"], r["requests"], r["cost_usd"]) for r in as_json["data"]] == [
        ("fast", 2, 0.5),
        ("smart", 1, 0.25),
    ]
    as_csv = run("usage", "--config", str(config), "--group-by", "project_id", "--format", "csv")
    assert as_csv.splitlines()[1].startswith("p,3,0,30,15,45,0.75")
    table = run("usage", "--config", str(config), "--group-by", "model", "--where", "model=smart")
    assert "smart" in table
    assert "fast " not in table
    assert "TOTAL" in table

"""Usage reports: the daily aggregates always equal the sum of the call records."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy.engine import Connection

from steadyllm.stores.base import CallRecord
from steadyllm.stores.memory import MemoryRecordStore
from steadyllm.stores.sql import Database, SqlRecordStore, open_database
from steadyllm.stores.sql.migrate import _config, upgrade
from steadyllm.usage import UsageQuery, parse_query, render_csv, render_json
from steadyllm.usage.report import totals
from steadyllm.usage.store import RecordsUsageStore, SqlUsageStore
from tests.limits.conftest import sql_database

DAY1 = datetime(2025, 6, 1, 23, 59, tzinfo=UTC).timestamp()
DAY2 = datetime(2025, 6, 2, 0, 1, tzinfo=UTC).timestamp()


def records(count: int, seed: int = 7) -> list[CallRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        meta = {}
        if rng.random() < 0.6:
            meta["project_id"] = rng.choice(["alpha", "beta"])
        if rng.random() < 0.5:
            meta["agent_type"] = rng.choice(["booking", "support"])
        priced = rng.random() < 0.8
        out.append(
            CallRecord(
                id=f"r{seed}-{i}",
                request_id=f"q{i}",
                created_at=rng.choice([DAY1, DAY2]) + rng.random(),
                kind="chat",
                model=rng.choice(["fast", "smart"]),
                status=rng.choice([200, 200, 200, 429, 502]),
                tenant=rng.choice(["default", "acme"]),
                key_id=rng.choice([None, "key_a", "key_b"]),
                user=rng.choice([None, "ana", "bo"]),
                deployment=rng.choice([None, "fast/sim#0", "smart/sim#0"]),
                variant=rng.choice([None, "v1"]),
                input_tokens=rng.randint(0, 500),
                output_tokens=rng.randint(0, 500),
                cost_usd=rng.random() / 100 if priced else None,
                metadata=meta,
            )
        )
    return out


@dataclass
class UsageBackend:
    database: Database
    records: SqlRecordStore
    usage: SqlUsageStore


@pytest.fixture(params=["sqlite", "postgresql"])
async def sql_usage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UsageBackend]:
    database = await sql_database(request, request.param, tmp_path)
    yield UsageBackend(database, SqlRecordStore(database), SqlUsageStore(database))
    await database.dispose()


QUERIES = [
    UsageQuery(date(2025, 6, 1), date(2025, 6, 2)),
    UsageQuery(date(2025, 6, 1), date(2025, 6, 2), ("day",)),
    UsageQuery(date(2025, 6, 1), date(2025, 6, 1), ("key", "model")),
    UsageQuery(date(2025, 6, 1), date(2025, 6, 2), ("tenant", "user", "deployment", "variant")),
    UsageQuery(date(2025, 6, 1), date(2025, 6, 2), ("project_id", "agent_type")),
    UsageQuery(
        date(2025, 6, 2), date(2025, 6, 2), ("model",), {"tenant": "acme", "project_id": "alpha"}
    ),
    UsageQuery(date(2025, 6, 3), date(2025, 6, 9), ("model",)),
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: ",".join(q.group_by) or "totals")
async def test_daily_aggregates_equal_the_records(
    sql_usage: UsageBackend, query: UsageQuery
) -> None:
    written = records(300)
    for start in range(0, len(written), 50):  # in batches, as the record writer does
        await sql_usage.records.write_calls(written[start : start + 50])
    await sql_usage.records.write_calls(written[:80])  # a retried batch adds nothing
    memory = MemoryRecordStore()
    await memory.write_calls(written)
    expected = await RecordsUsageStore(memory).report(query)
    got = await sql_usage.usage.report(query)
    assert [r.group for r in got] == [r.group for r in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert mine.as_dict() == pytest.approx(theirs.as_dict())


async def test_totals_are_sums_over_every_record(sql_usage: UsageBackend) -> None:
    written = records(120, seed=3)
    await sql_usage.records.write_calls(written)
    report = await sql_usage.usage.report(
        UsageQuery(date(2025, 6, 1), date(2025, 6, 2), ("model",))
    )
    total = totals(report)
    assert total.requests == len(written)
    assert total.input_tokens == sum(r.input_tokens for r in written)
    assert total.output_tokens == sum(r.output_tokens for r in written)
    assert total.cost_usd == pytest.approx(sum(r.cost_usd or 0 for r in written))
    assert total.errors == sum(r.status >= 400 for r in written)
    assert total.unpriced_requests == sum(
        r.cost_usd is None and r.input_tokens + r.output_tokens > 0 for r in written
    )


async def test_the_migration_folds_in_records_written_before_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    database = open_database(url)

    def to_0001(connection: Connection) -> None:
        command.upgrade(_config(connection), "0001")

    async with database.transaction() as conn:
        await conn.run_sync(to_0001)
    written = records(60, seed=11)
    await SqlRecordStore(database).write_calls(written)
    await upgrade(url)
    query = UsageQuery(date(2025, 6, 1), date(2025, 6, 2), ("day", "model"))
    memory = MemoryRecordStore()
    await memory.write_calls(written)
    got = await SqlUsageStore(database).report(query)
    expected = await RecordsUsageStore(memory).report(query)
    assert len(got) == len(expected) > 0
    for mine, theirs in zip(got, expected, strict=True):
        assert mine.as_dict() == pytest.approx(theirs.as_dict())
    await database.dispose()


def test_query_parameters() -> None:
    query = parse_query(
        {"start": "2025-06-01", "group_by": "model, key,model", "user": "ana"},
        today=date(2025, 6, 30),
    )
    assert query == UsageQuery(
        date(2025, 6, 1), date(2025, 6, 30), ("model", "key"), {"user": "ana"}
    )
    assert parse_query({}, today=date(2025, 6, 30)).start == date(2025, 6, 1)


@pytest.mark.parametrize(
    "params",
    [
        {"start": "June"},
        {"start": "2025-06-02", "end": "2025-06-01"},
        {"group_by": "colour"},
        {"start": "2000-01-01", "end": "2025-01-01"},
    ],
)
def test_bad_query_parameters_are_400(params: dict[str, str]) -> None:
    from steadyllm.errors import InvalidRequest

    with pytest.raises(InvalidRequest):
        parse_query(params, today=date(2025, 6, 30))


async def test_csv_and_json_carry_the_same_numbers() -> None:
    memory = MemoryRecordStore()
    await memory.write_calls(records(40))
    query = UsageQuery(date(2025, 6, 1), date(2025, 6, 2), ("model",))
    rows = await RecordsUsageStore(memory).report(query)
    lines = render_csv(query, rows).splitlines()
    assert lines[0].split(",") == [
        "model",
        "requests",
        "errors",
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "cost_usd",
        "unpriced_requests",
    ]
    body = render_json(query, rows)
    assert len(lines) == 1 + len(body["data"])
    assert [line.split(",")[1] for line in lines[1:]] == [str(r["requests"]) for r in body["data"]]
    assert body["totals"]["requests"] == 40

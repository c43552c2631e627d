"""Record batches go in as raw positional rows; the database must hold what
SQLAlchemy's own insert (dict rows, its parameter processing) would have stored.

The two paths write the same records under different ids; every other column, and
the usage_daily rows the trigger keeps from them, must come out identical.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from steadyllm.stores.base import CallRecord
from steadyllm.stores.sql import Database, SqlRecordStore
from steadyllm.stores.sql.engine import _may_hold_nul
from steadyllm.stores.sql.schema import CALL_RECORDS
from tests.stores.conftest import _sql_database
from tests.stores.values import make_record

_COLUMNS = [column.name for column in CALL_RECORDS.columns if column.name != "id"]


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    db = await _sql_database(request, request.param)
    yield db
    await db.dispose()


def _records(prefix: str, tenant: str) -> list[CallRecord]:
    return [
        make_record(
            f"{prefix}-full",
            1_700_000_000.25,
            request_id="req-full",
            tenant=tenant,
            key_id="key-1",
            user="ann",
            deployment="dep-a",
            provider_model="gpt-x",
            variant="v2",
            error_type="upstream_timeout",
            status=504,
            input_tokens=12,
            output_tokens=7,
            cost_usd=0.000125,
            latency_ms=3.5,
            ttft_ms=1.25,
            overhead_ms=0.5,
            cache_status="miss",
            stream=True,
            stream_outcome="cut",
            attempts=3,
            fallback_path=("dep-a", "dep-b"),
            metadata={"project_id": "p1", "agent_type": "bot", "nested": {"ü": [1, 2.5, None]}},
        ),
        make_record(
            f"{prefix}-bare", 1_700_086_400.0, request_id="req-bare", tenant=tenant
        ),  # defaults, next day
        make_record(
            f"{prefix}-unpriced", 1_700_000_001.0, request_id="req-3", tenant=tenant, input_tokens=4
        ),
    ]


async def _sqlalchemy_insert(database: Database, records: list[CallRecord]) -> None:
    """How records were written before: dict rows through SQLAlchemy Core."""
    rows: list[dict[str, Any]] = []
    for record in records:
        row = {column.name: getattr(record, column.name) for column in CALL_RECORDS.columns}
        row["fallback_path"] = list(record.fallback_path)
        rows.append(row)
    async with database.transaction() as conn:
        await conn.execute(sa.insert(CALL_RECORDS), rows)


async def _stored(database: Database, tenant: str) -> list[tuple[Any, ...]]:
    # The JSON columns as the database's own text, so a difference in encoding shows.
    columns = [
        sa.cast(CALL_RECORDS.c[name], sa.Text)
        if name in ("fallback_path", "metadata")
        else CALL_RECORDS.c[name]
        for name in _COLUMNS
    ]
    query = (
        sa.select(*columns)
        .where(CALL_RECORDS.c.tenant == tenant)
        .order_by(CALL_RECORDS.c.created_at, CALL_RECORDS.c.status)
    )
    async with database.transaction() as conn:
        return [tuple(row) for row in (await conn.execute(query)).all()]


async def _usage(database: Database, tenant: str) -> list[tuple[Any, ...]]:
    query = sa.text(
        'SELECT day, key_id, "user", model, deployment, variant, project_id, agent_type, '
        "requests, errors, input_tokens, output_tokens, cost_usd, unpriced_requests "
        "FROM usage_daily WHERE tenant = :tenant ORDER BY 1, 2, 3, 4, 5, 6, 7, 8"
    )
    async with database.transaction() as conn:
        return [tuple(row) for row in (await conn.execute(query, {"tenant": tenant})).all()]


async def test_rows_match_sqlalchemys_insert(database: Database) -> None:
    await SqlRecordStore(database).write_calls(_records("raw", "t-raw"))
    await _sqlalchemy_insert(database, _records("orm", "t-orm"))

    raw, orm = await _stored(database, "t-raw"), await _stored(database, "t-orm")
    assert len(raw) == 3
    tenant = _COLUMNS.index("tenant")
    assert [row[:tenant] + row[tenant + 1 :] for row in raw] == [
        row[:tenant] + row[tenant + 1 :] for row in orm
    ]
    usage = await _usage(database, "t-raw")
    assert usage == await _usage(database, "t-orm")
    assert sum(row[8] for row in usage) == 3  # the trigger counted every record


async def test_single_record_batch(database: Database) -> None:
    store = SqlRecordStore(database)
    record = _records("one", "t-one")[0]
    await store.write_calls([record])
    assert await store.get_call(record.id) == record


class _Text(str):
    pass


@pytest.mark.parametrize(
    ("parameters", "many", "expected"),
    [
        (("a", 1, 2.5, None, True, b"\x00"), False, False),  # bytes are not scrubbed
        ([("a", 1)] * 50 + [("b\x00", 1)], True, True),  # the last row of a batch
        ({"k": "v", "n": 1}, False, False),
        ({"k": "v\x00"}, False, True),
        (("a", ["nested"]), False, True),  # containers: the full walk decides
        ((_Text("a"),), False, True),  # so do string subclasses
        (None, False, True),
    ],
)
def test_nul_precheck(parameters: Any, many: bool, expected: bool) -> None:
    """The PostgreSQL NUL scrub skips its copy only when no string can hold a NUL."""
    assert _may_hold_nul(parameters, many) is expected

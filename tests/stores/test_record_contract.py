"""The RecordStore contract, run against every backend (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy.exc import IntegrityError

from steadyllm.stores.base import RecordStore
from tests.stores.values import make_record


async def test_round_trips_every_field(record_store: RecordStore) -> None:
    full = make_record(
        "r1",
        1_700_000_000.123456,
        kind="chat",
        status=502,
        tenant="acme",
        key_id="key-1",
        user="alice",
        deployment="fast/openai#0",
        provider_model="gpt-4o-mini",
        variant="v2",
        error_type="upstream_timeout",
        input_tokens=120,
        output_tokens=0,
        cost_usd=0.000375,
        latency_ms=1234.5,
        ttft_ms=98.25,
        overhead_ms=1.75,
        cache_status="miss",
        stream=True,
        stream_outcome="cut",
        attempts=3,
        fallback_path=("fast", "smart"),
        metadata={"trace": "abc", "tags": ["a", "b"], "nested": {"n": 1, "x": None}},
    )
    minimal = make_record("r2", 1_700_000_001.0)
    await record_store.write_calls([full, minimal])
    assert await record_store.get_call("r1") == full
    assert await record_store.get_call("r2") == minimal


async def test_missing_record_is_none(record_store: RecordStore) -> None:
    assert await record_store.get_call("absent") is None


async def test_unknown_price_stays_unknown(record_store: RecordStore) -> None:
    await record_store.write_calls([make_record("free", 1.0, cost_usd=0.0), make_record("?", 2.0)])
    free, unknown = await record_store.get_call("free"), await record_store.get_call("?")
    assert free is not None
    assert free.cost_usd == 0.0
    assert unknown is not None
    assert unknown.cost_usd is None


async def test_count(record_store: RecordStore) -> None:
    assert await record_store.count_calls() == 0
    await record_store.write_calls([make_record(f"r{n}", float(n)) for n in range(5)])
    await record_store.write_calls([make_record("r9", 9.0)])
    assert await record_store.count_calls() == 6


async def test_empty_batch_is_a_no_op(record_store: RecordStore) -> None:
    await record_store.write_calls([])
    assert await record_store.count_calls() == 0


async def test_large_batch(record_store: RecordStore) -> None:
    await record_store.write_calls([make_record(f"r{n}", float(n)) for n in range(500)])
    assert await record_store.count_calls() == 500


async def test_list_is_oldest_first_within_half_open_range(record_store: RecordStore) -> None:
    await record_store.write_calls([make_record(f"r{n}", float(n)) for n in (5, 1, 4, 2, 3)])
    assert [r.id for r in await record_store.list_calls()] == ["r1", "r2", "r3", "r4", "r5"]
    window = await record_store.list_calls(since=2.0, until=4.0)
    assert [r.id for r in window] == ["r2", "r3"]  # since included, until excluded
    assert [r.id for r in await record_store.list_calls(since=4.0)] == ["r4", "r5"]
    assert [r.id for r in await record_store.list_calls(until=2.0)] == ["r1"]
    assert [r.id for r in await record_store.list_calls(limit=2)] == ["r1", "r2"]


async def test_list_by_tenant_and_request(record_store: RecordStore) -> None:
    await record_store.write_calls(
        [
            make_record("a1", 1.0, tenant="acme", request_id="req-x"),
            make_record("b1", 2.0, tenant="globex", request_id="req-y"),
            make_record("a2", 3.0, tenant="acme", request_id="req-x"),  # e.g. a shadow copy
            make_record("a3", 4.0, tenant="acme", request_id="req-z"),
        ]
    )
    assert [r.id for r in await record_store.list_calls(tenant="acme")] == ["a1", "a2", "a3"]
    by_request = await record_store.list_calls(request_id="req-x")
    assert [r.id for r in by_request] == ["a1", "a2"]
    both = await record_store.list_calls(tenant="globex", request_id="req-x")
    assert both == []


async def test_a_failing_batch_writes_nothing(record_store: RecordStore) -> None:
    await record_store.write_calls([make_record("before", 1.0)])
    broken = dataclasses.replace(make_record("bad", 4.0), model=None)  # type: ignore[arg-type]
    batch = [make_record("good-1", 2.0), make_record("good-2", 3.0), broken]
    with pytest.raises((TypeError, IntegrityError)):
        await record_store.write_calls(batch)
    assert await record_store.count_calls() == 1
    assert await record_store.get_call("good-1") is None


async def test_rewriting_a_batch_is_harmless(record_store: RecordStore) -> None:
    # A writer that never heard whether a batch landed sends it again.
    batch = [make_record("r1", 1.0), make_record("r2", 2.0)]
    await record_store.write_calls(batch)
    changed = dataclasses.replace(batch[0], status=500)
    await record_store.write_calls([changed, batch[1], make_record("r3", 3.0)])
    assert await record_store.count_calls() == 3
    first = await record_store.get_call("r1")
    assert first is not None
    assert first.status == 200  # the first write stands

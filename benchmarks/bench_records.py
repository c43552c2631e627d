"""Call-record writes in-process: CPU per record of ``SqlRecordStore.write_calls``.

Batches as the record writer sends them (200 records by default), into a fresh
SQLite file and, with ``--postgres``, a scratch PostgreSQL database (created and
dropped here). CPU is the process's (``time.process_time``), so the SQLite or
asyncpg work on aiosqlite's thread counts too. To compare two source trees, run it
under each one's ``PYTHONPATH``, alternating, and compare the medians:

    python -m benchmarks.bench_records                        # SQLite, ~5 s
    python -m benchmarks.bench_records --postgres postgresql://postgres@127.0.0.1/test
    PYTHONPATH=/tmp/before/src python -m benchmarks.bench_records
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import timeit
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from steadyllm.stages.record import new_id
from steadyllm.stores.base import CallRecord
from steadyllm.stores.sql import SqlRecordStore, open_database, upgrade_database


def _record(created_at: float) -> CallRecord:
    """A typical record of a priced, non-streamed chat call."""
    return CallRecord(
        id=new_id(),
        request_id=new_id(),
        created_at=created_at,
        kind="chat",
        model="bench",
        status=200,
        key_id="key-1",
        deployment="sim-fast",
        provider_model="sim-fast",
        input_tokens=12,
        output_tokens=30,
        cost_usd=0.0001,
        latency_ms=52.5,
        overhead_ms=0.4,
        cache_status="miss",
        attempts=1,
        fallback_path=("sim-fast",),
        metadata={"requested_model": "bench"},
    )


async def _write(url: str, batches: int, size: int) -> tuple[float, float]:
    """CPU and wall microseconds per record over ``batches`` batches of ``size``."""
    database = open_database(url)
    await upgrade_database(database)
    store = SqlRecordStore(database)
    await store.write_calls([_record(time.time())])  # connect and warm up first
    data = [[_record(time.time()) for _ in range(size)] for _ in range(batches)]
    cpu, wall = time.process_time(), time.perf_counter()
    for batch in data:
        await store.write_calls(batch)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await store.close()
    count = batches * size
    return cpu / count * 1e6, wall / count * 1e6


async def _postgres(url: str, batches: int, size: int) -> tuple[float, float]:
    name = f"steadyllm_bench_{uuid.uuid4().hex[:12]}"
    dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        target = make_url(url).set(database=name).render_as_string(False)
        return await _write(target, batches, size)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'records.db'}"
        cpu, wall = await _write(url, args.batches, args.batch)
    print(f"sqlite      write_calls  CPU {cpu:6.1f} µs/record  wall {wall:6.1f} µs/record")
    if args.postgres:
        cpu, wall = await _postgres(args.postgres, args.batches, args.batch)
        print(f"postgresql  write_calls  CPU {cpu:6.1f} µs/record  wall {wall:6.1f} µs/record")
    build = min(timeit.repeat(lambda: _record(0.0), number=20_000, repeat=5)) / 20_000
    print(f"CallRecord  built (two ids included)  {build * 1e6:6.2f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batch", type=int, default=200, help="records per write_calls")
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--postgres", default=None, help="an admin URL; a scratch db is used")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()

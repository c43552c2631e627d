"""The record writer: batches, outages, refused records, shutdown flush."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from steadyllm.config import RecordSettings
from steadyllm.recording import RecordWriter
from steadyllm.stores.base import CallRecord
from steadyllm.stores.memory import MemoryRecordStore


def record(index: int) -> CallRecord:
    return CallRecord(
        id=f"id-{index}",
        request_id=f"r-{index}",
        created_at=1.0,
        kind="chat",
        model="m",
        status=200,
    )


class FlakyStore(MemoryRecordStore):
    """Down for the first ``outage`` writes; refuses any batch holding ``poison``."""

    def __init__(self, outage: int = 0, poison: str | None = None) -> None:
        super().__init__()
        self.outage = outage
        self.poison = poison
        self.down = False

    async def write_calls(self, records: Sequence[CallRecord]) -> None:
        if self.outage > 0:
            self.outage -= 1
            raise ConnectionError("store down")
        if self.poison and any(r.id == self.poison for r in records):
            raise TypeError("cannot serialize this record")
        await super().write_calls(records)

    async def count_calls(self) -> int:
        if self.outage > 0:
            raise ConnectionError("store down")
        return await super().count_calls()


SETTINGS = RecordSettings(batch_size=8, flush_interval=0.01)


async def test_outage_delays_but_loses_nothing() -> None:
    store = FlakyStore(outage=3)
    writer = RecordWriter(store, SETTINGS)
    writer.start()
    for i in range(20):
        writer.submit(record(i))
    await writer.stop(timeout=10)
    assert await store.count_calls() == 20
    assert writer.failed_batches == 3
    assert writer.rejected == 0


async def test_a_refused_record_is_set_aside_and_the_rest_written() -> None:
    store = FlakyStore(poison="id-5")
    writer = RecordWriter(store, SETTINGS)
    writer.start()
    for i in range(20):
        writer.submit(record(i))
    await asyncio.wait_for(writer.stop(timeout=10), 15)
    stored = {r.id for r in await store.list_calls()}
    assert stored == {f"id-{i}" for i in range(20)} - {"id-5"}
    assert writer.rejected == 1


async def test_full_buffer_drops_and_counts() -> None:
    store = MemoryRecordStore()
    writer = RecordWriter(store, RecordSettings(max_buffer=5, batch_size=100, flush_interval=5))
    for i in range(8):
        writer.submit(record(i))
    assert writer.dropped == 3
    await writer.flush()
    assert await store.count_calls() == 5

"""The record spool: overflow to disk, replay order, replay after a restart, duplicates,
a segment cut by a crash."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from steadyllm.config import RecordSettings
from steadyllm.recording import RecordWriter
from steadyllm.records_spool import RecordSpool, store_key
from steadyllm.stores.base import CallRecord
from steadyllm.stores.memory import MemoryRecordStore
from steadyllm.stores.sql import SqlRecordStore, open_database, upgrade


def record(index: int, **extra: object) -> CallRecord:
    return CallRecord(
        id=f"id-{index}",
        request_id=f"r-{index}",
        created_at=float(index),
        kind="chat",
        model="m",
        status=200,
        fallback_path=("a", "b"),
        metadata={"n": index, **extra},
    )


class SwitchableStore(MemoryRecordStore):
    """Fails every write while ``down``; remembers the order ids arrived in."""

    def __init__(self, down: bool = False) -> None:
        super().__init__()
        self.down = down
        self.order: list[str] = []

    async def write_calls(self, records: Sequence[CallRecord]) -> None:
        if self.down:
            raise ConnectionError("store down")
        await super().write_calls(records)
        self.order.extend(r.id for r in records)

    async def count_calls(self) -> int:
        if self.down:
            raise ConnectionError("store down")
        return await super().count_calls()


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl")) if directory.exists() else []


async def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


SETTINGS = RecordSettings(batch_size=8, flush_interval=0.01, max_buffer=5)


async def test_past_max_buffer_records_overflow_to_disk_in_order(tmp_path: Path) -> None:
    store = SwitchableStore()
    spool = RecordSpool(tmp_path / "spool")
    writer = RecordWriter(store, SETTINGS, spool=spool)
    for i in range(12):
        writer.submit(record(i))
    assert writer.buffered == 5
    assert spool.pending == 7
    assert writer.pending == 12
    assert writer.dropped == 0
    assert len(segments(spool.directory)) == 1
    await writer.flush()
    assert store.order == [f"id-{i}" for i in range(12)]  # the buffer first, then the spool
    assert segments(spool.directory) == []
    assert (await store.get_call("id-3")) == record(3)  # survives the round trip exactly


async def test_an_outage_moves_the_buffer_to_disk_and_memory_stays_bounded(
    tmp_path: Path,
) -> None:
    store = SwitchableStore(down=True)
    spool = RecordSpool(tmp_path / "spool", segment_bytes=2000)  # several segments
    writer = RecordWriter(store, SETTINGS, spool=spool)
    writer.start()
    writer.submit(record(0))
    writer.submit(record(1))
    await wait_for(lambda: writer.failed_batches >= 1 and writer.buffered == 0)
    for i in range(2, 60):
        writer.submit(record(i))
        assert writer.buffered <= SETTINGS.max_buffer
    assert spool.pending == 60
    assert len(segments(spool.directory)) > 1
    store.down = False
    await wait_for(lambda: writer.pending == 0)
    await writer.stop(timeout=5)
    assert store.order == [f"id-{i}" for i in range(60)]
    assert writer.max_buffered <= SETTINGS.max_buffer
    assert writer.dropped == 0
    assert spool.replayed == 60
    assert segments(spool.directory) == []


async def test_a_spool_left_by_a_stopped_or_crashed_process_is_replayed_on_start(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "spool"
    down = SwitchableStore(down=True)
    first = RecordWriter(down, SETTINGS, spool=RecordSpool(directory))
    first.start()
    first.submit(record(0))
    await wait_for(lambda: first.failed_batches >= 1)
    for i in range(1, 20):
        first.submit(record(i))
    await first.stop(timeout=0.3)  # the store never came back
    assert len(segments(directory)) == 1
    assert await MemoryRecordStore.count_calls(down) == 0

    store = SwitchableStore()
    spool = RecordSpool(directory)
    second = RecordWriter(store, SETTINGS, spool=spool)
    second.start()
    second.submit(record(20))  # new records queue behind the replayed ones
    await wait_for(lambda: len(store.order) == 21)
    await second.stop(timeout=5)
    assert store.order == [f"id-{i}" for i in range(21)]
    assert spool.adopted == 20
    assert segments(directory) == []


async def test_a_segment_another_live_process_holds_is_left_alone(tmp_path: Path) -> None:
    owner = RecordSpool(tmp_path)
    owner.append([record(0)])
    other = RecordSpool(tmp_path)
    assert await other.adopt() == 0  # flock: held by its (live) owner
    await owner.close()  # released with the record unwritten: now an orphan
    assert await other.adopt() == 1
    assert other.peek(10) == [record(0)]


async def test_replaying_a_segment_again_duplicates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'records.db'}"
    await upgrade(url)
    store = SqlRecordStore(open_database(url))
    try:
        crashed = RecordSpool(tmp_path / "spool")
        crashed.append([record(i) for i in range(10)])
        # Half of it reached the store before the process died; the segment stays.
        await store.write_calls(crashed.peek(5))
        await crashed.close()

        spool = RecordSpool(tmp_path / "spool")
        writer = RecordWriter(store, SETTINGS, spool=spool)
        writer.start()
        await wait_for(lambda: spool.replayed == 10)
        await writer.stop(timeout=5)
        stored = await store.list_calls()
        assert [r.id for r in stored] == [f"id-{i}" for i in range(10)]
        assert await store.count_calls() == 10
        assert segments(tmp_path / "spool") == []
    finally:
        await store.close()


async def test_a_line_cut_by_a_crash_is_skipped_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    crashed = RecordSpool(tmp_path)
    crashed.append([record(i) for i in range(3)])
    path = segments(tmp_path)[0]
    await crashed.close()
    with path.open("ab") as out:  # the process died in the middle of a write
        out.write(b'{"id":"id-3","request_id":"r-')

    store = SwitchableStore()
    spool = RecordSpool(tmp_path)
    writer = RecordWriter(store, SETTINGS, spool=spool)
    with caplog.at_level(logging.ERROR, logger="steadyllm.records"):
        writer.start()
        await wait_for(lambda: spool.corrupt == 1 and writer.pending == 0)
        await writer.stop(timeout=5)
    assert store.order == ["id-0", "id-1", "id-2"]
    assert any("unreadable line" in r.getMessage() for r in caplog.records)
    assert segments(tmp_path) == []


async def test_garbage_between_records_costs_only_that_line(tmp_path: Path) -> None:
    crashed = RecordSpool(tmp_path)
    crashed.append([record(0)])
    path = segments(tmp_path)[0]
    await crashed.close()
    with path.open("ab") as out:
        out.write(b"not json\n\n[1, 2]\n")
    later = RecordSpool(tmp_path)  # another process, later, that stopped with one unwritten
    later.append([record(1)])
    await later.close()
    spool = RecordSpool(tmp_path)
    assert await spool.adopt() == 5
    assert spool.peek(10) == [record(0)]  # one segment at a time
    spool.commit(1)
    assert spool.peek(10) == [record(1)]
    spool.commit(1)
    assert spool.corrupt == 3
    assert spool.pending == 0


async def test_a_record_that_cannot_be_encoded_is_set_aside(tmp_path: Path) -> None:
    store = SwitchableStore()
    writer = RecordWriter(store, SETTINGS, spool=RecordSpool(tmp_path))
    for i in range(5):
        writer.submit(record(i))
    writer.submit(record(5, bad={1, 2}))  # a set: not JSON
    writer.submit(record(6))
    assert writer.rejected == 1
    assert writer.pending == 6
    await writer.flush()
    assert store.order == [f"id-{i}" for i in (0, 1, 2, 3, 4, 6)]


async def test_an_unwritable_spool_drops_counts_and_does_not_raise(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    writer = RecordWriter(SwitchableStore(), SETTINGS, spool=RecordSpool(blocker / "spool"))
    for i in range(7):
        writer.submit(record(i))
    assert writer.dropped == 2
    assert writer.buffered == 5


def test_the_spool_directory_follows_the_store_not_its_password(tmp_path: Path) -> None:
    one = store_key("postgresql://app:secret1@db:5432/records")
    assert one == store_key("postgresql://app:secret2@db:5432/records")
    assert one != store_key("postgresql://app:secret1@db:5432/other")
    settings = RecordSettings(spool_dir=str(tmp_path))
    spool = RecordSpool.for_store(settings, "sqlite:///x.db")
    assert spool is not None
    assert spool.directory == tmp_path / store_key("sqlite:///x.db")
    assert RecordSpool.for_store(settings, "memory://") is None
    assert RecordSpool.for_store(RecordSettings(spool=False), "sqlite:///x.db") is None


class PoisonStore(SwitchableStore):
    """Refuses any batch holding ``id-5`` (the store answers, just not to that record)."""

    async def write_calls(self, records: Sequence[CallRecord]) -> None:
        if any(r.id == "id-5" for r in records):
            raise TypeError("cannot store this record")
        await super().write_calls(records)


async def test_a_refused_record_in_the_spool_is_set_aside_and_the_rest_written(
    tmp_path: Path,
) -> None:
    store = PoisonStore()
    spool = RecordSpool(tmp_path)
    writer = RecordWriter(store, SETTINGS, spool=spool)
    writer.start()
    for i in range(20):
        writer.submit(record(i))
    await asyncio.wait_for(writer.stop(timeout=10), 15)
    assert store.order == [f"id-{i}" for i in range(20) if i != 5]
    assert writer.rejected == 1
    assert spool.spooled > 0  # the failure moved the buffer to disk
    assert segments(tmp_path) == []


async def test_while_the_spool_cannot_be_written_records_stay_in_memory_up_to_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SwitchableStore(down=True)
    spool = RecordSpool(tmp_path)
    writer = RecordWriter(store, SETTINGS, spool=spool)
    writer.start()
    writer.submit(record(0))
    await wait_for(lambda: writer.failed_batches >= 1 and spool.pending == 1)  # spooling

    def broken(records: Sequence[CallRecord]) -> list[CallRecord]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spool, "append", broken)
    for i in range(1, 8):
        writer.submit(record(i))  # the disk is full: memory, up to max_buffer (5)
    assert writer.buffered == 5
    assert writer.dropped == 2
    store.down = False
    await writer.stop(timeout=10)
    assert sorted(store.order) == sorted(f"id-{i}" for i in range(6))

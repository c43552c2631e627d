"""The write-behind safety log: memory only on the request path, batches behind it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence

import pytest

from steadyllm.safety.log import MemorySafetyLog, SafetyEvent, SafetyLog
from steadyllm.safety.settings import SafetyLogSettings


class FlakyStore(MemorySafetyLog):
    def __init__(self) -> None:
        super().__init__()
        self.fail = 0
        self.writes: list[tuple[int, dict[tuple[str, float], int]]] = []

    async def write(
        self, events: Sequence[SafetyEvent], checks: Mapping[tuple[str, float], int]
    ) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("store down")
        self.writes.append((len(events), dict(checks)))
        await super().write(events, checks)


def event(n: int) -> SafetyEvent:
    return SafetyEvent(
        id=uuid.uuid4().hex,
        created_at=float(n),
        request_id=f"req_{n}",
        check_type="input",
        violation_type="prompt_injection",
        action="blocked",
        blocked=True,
    )


def make(store: FlakyStore, **settings: float) -> SafetyLog:
    return SafetyLog(store, SafetyLogSettings(**settings), clock=lambda: 7200.0 + 5)  # type: ignore[arg-type]


async def test_the_request_path_only_touches_memory() -> None:
    store = FlakyStore()
    log = make(store)  # not started: nothing may be written without the task
    for n in range(5):
        log.count("input")
        log.record(event(n))
    assert store.writes == []
    assert log.pending == 5
    assert log.metrics.checks["input"] == 5
    await log.flush()
    assert store.writes == [(5, {("input", 7200.0): 5})]
    assert (await store.check_counts()) == {"input": 5}


async def test_batches_are_bounded() -> None:
    store = FlakyStore()
    log = make(store, batch_size=2)
    for n in range(5):
        log.record(event(n))
    await log.flush()
    assert [size for size, _ in store.writes] == [2, 2, 1]


async def test_a_full_queue_drops_and_counts() -> None:
    store = FlakyStore()
    log = make(store, max_queue=3)
    for n in range(5):
        log.record(event(n))
    assert log.pending == 3
    assert log.metrics.dropped_events == 2


async def test_a_failed_batch_is_kept_and_written_later() -> None:
    store = FlakyStore()
    store.fail = 1
    log = make(store)
    log.count("output")
    log.record(event(1))
    with pytest.raises(RuntimeError):
        await log.flush()
    assert log.pending == 1
    assert log.metrics.failed_writes == 1
    await log.flush()
    assert store.writes == [(1, {("output", 7200.0): 1})]


async def test_the_task_writes_behind_and_stop_flushes() -> None:
    store = FlakyStore()
    log = make(store, flush_interval=0.01)
    log.start()
    log.record(event(1))
    for _ in range(200):
        if store.writes:
            break
        await asyncio.sleep(0.005)
    assert store.writes
    assert store.writes[0][0] == 1
    log.record(event(2))
    log.count("validation")
    await log.stop()
    assert log.pending == 0
    assert (await store.check_counts()) == {"validation": 1}


async def test_disabled_log_keeps_metrics_only() -> None:
    store = FlakyStore()
    log = SafetyLog(store, SafetyLogSettings(enabled=False))
    log.count("input")
    log.record(event(1))
    await log.flush()
    assert store.writes == []
    assert log.metrics.checks["input"] == 1

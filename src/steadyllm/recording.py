"""Call records, written behind the response in batches.

The request path only appends to a bounded in-memory buffer; one background task
writes batches. A failed batch stays at the head of the buffer and is retried with
backoff, so a store outage delays records without losing them. ``stop`` flushes
everything that is left.

One record the store refuses (not an outage: the store answers, but not to it)
must not block the records behind it: after repeated failures the batch is
halved, and a single record that still fails while the store answers a probe is
set aside, counted in ``rejected`` and logged with its content.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from steadyllm.config import RecordSettings
from steadyllm.stores.base import CallRecord, RecordStore

__all__ = ["RecordWriter"]

log = logging.getLogger("steadyllm.records")


class RecordWriter:
    def __init__(self, store: RecordStore, settings: RecordSettings) -> None:
        self._store = store
        self._settings = settings
        self._buffer: deque[CallRecord] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._write_lock = asyncio.Lock()  # flush() and the writer task must not share a batch
        self.written = 0
        self.dropped = 0  # only when the buffer is full: counted and logged, never silent
        self.failed_batches = 0
        self.rejected = 0
        self._batch_size = settings.batch_size  # shrinks while one record is refused
        self._failures = 0

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def submit(self, record: CallRecord) -> None:
        if len(self._buffer) >= self._settings.max_buffer:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:  # loud, but no log storm
                log.error(
                    "record buffer full (%d): %d records dropped so far (latest %s)",
                    self._settings.max_buffer,
                    self.dropped,
                    record.id,
                )
            return
        self._buffer.append(record)
        if len(self._buffer) >= self._settings.batch_size:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="steadyllm-record-writer")

    async def stop(self, timeout: float = 30.0) -> None:
        """Write every pending record (retrying for up to ``timeout`` seconds)."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                log.error("record writer stopped with %d records unwritten", len(self._buffer))
            self._task = None

    async def flush(self) -> None:
        """Write what is buffered now (tests and the control plane use it)."""
        while self._buffer:
            if not await self._write_batch():
                raise RuntimeError("record store unavailable")

    async def _run(self) -> None:
        backoff = 0.0
        while True:
            if not self._buffer:
                if self._closing:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.flush_interval)
                self._wake.clear()
                continue
            if backoff:
                await asyncio.sleep(backoff)
            if await self._write_batch():
                backoff = 0.0
                self._failures = 0
                self._batch_size = self._settings.batch_size
                continue
            self._failures += 1
            if self._failures >= 3 and await self._isolate():
                backoff = 0.0
                continue
            backoff = min(max(backoff * 2, 0.2), 5.0)

    async def _isolate(self) -> bool:
        """Narrow a repeatedly failing batch down to the record the store refuses."""
        if self._batch_size > 1:
            self._batch_size = max(1, self._batch_size // 2)
            self._failures = 0
            return True
        try:
            await self._store.count_calls()
        except Exception:
            return False  # the store itself is down: keep the record and wait
        record = self._buffer.popleft()
        self.rejected += 1
        self._failures = 0
        log.error("the record store refuses call record %s; set aside: %r", record.id, record)
        return True

    async def _write_batch(self) -> bool:
        async with self._write_lock:
            size = min(len(self._buffer), self._batch_size)
            batch = [self._buffer[i] for i in range(size)]
            if not batch:
                return True
            try:
                await self._store.write_calls(batch)
            except Exception:
                self.failed_batches += 1
                log.exception("writing %d call records failed; will retry", len(batch))
                return False
            for _ in batch:
                self._buffer.popleft()
            self.written += len(batch)
            return True

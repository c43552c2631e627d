"""Call records, written behind the response in batches.

The request path only appends to a bounded in-memory buffer; one background task
writes batches. A failed batch stays at the head of the buffer and is retried with
backoff, so a store outage delays records without losing them. ``stop`` flushes
everything that is left.
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

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def submit(self, record: CallRecord) -> None:
        if len(self._buffer) >= self._settings.max_buffer:
            self.dropped += 1
            log.error(
                "record buffer full (%d); dropping record %s",
                self._settings.max_buffer,
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
            backoff = 0.0 if await self._write_batch() else min(max(backoff * 2, 0.2), 5.0)

    async def _write_batch(self) -> bool:
        async with self._write_lock:
            size = min(len(self._buffer), self._settings.batch_size)
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

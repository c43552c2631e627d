"""Call records, written behind the response in batches.

The request path only appends to a bounded in-memory buffer; one background task
writes batches. A failed batch stays at the head of the buffer and is retried with
backoff, so a store outage delays records without losing them. ``stop`` flushes
everything that is left.

With a spool (:mod:`steadyllm.records_spool`), memory stays bounded by
``records.max_buffer`` however long the store is away: when the buffer is full, or
as soon as a batch fails (the buffer is moved to disk then, so a crash during an
outage loses nothing either), records go to the spool, and every record after them
too until the spool is written back, oldest first. A spool a crashed process left on
the same store is written back on start. Without a spool, a record past
``max_buffer`` is dropped, counted and logged.

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
from collections.abc import Iterator, Mapping, Sequence

from steadyllm.config import RecordSettings
from steadyllm.records_spool import RecordSpool
from steadyllm.stores.base import CallRecord, RecordStore

__all__ = ["RecordWriter"]

log = logging.getLogger("steadyllm.records")


class RecordWriter:
    def __init__(
        self, store: RecordStore, settings: RecordSettings, *, spool: RecordSpool | None = None
    ) -> None:
        self._store = store
        self._settings = settings
        self._spool = spool
        self._spooling = False  # records go to the spool until it is written back
        self._spool_broken = False  # the last append failed (logged once)
        self._buffer: deque[CallRecord] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._write_lock = asyncio.Lock()  # flush() and the writer task must not share a batch
        self.written = 0
        self.dropped = 0  # buffer full and no spool (or it cannot be written): counted, logged
        self.failed_batches = 0
        self.rejected = 0
        self.max_buffered = 0  # the most records the buffer ever held
        self._batch_size = settings.batch_size  # shrinks while one record is refused
        self._failures = 0
        self._last_sync = 0.0

    @property
    def pending(self) -> int:
        """Records not yet written: in memory and in the spool."""
        return len(self._buffer) + (self._spool.pending if self._spool is not None else 0)

    @property
    def buffered(self) -> int:
        """Records held in memory (the buffer, and a batch read back from the spool)."""
        return len(self._buffer) + (self._spool.in_memory if self._spool is not None else 0)

    @property
    def spool(self) -> RecordSpool | None:
        return self._spool

    @property
    def spool_usable(self) -> bool:
        """A spool is configured and its last append did not fail: a store outage
        costs no record (the health check calls that degraded, not unhealthy)."""
        return self._spool is not None and not self._spool_broken

    def submit(self, record: CallRecord) -> None:
        full = len(self._buffer) >= self._settings.max_buffer
        if self._spool is not None and (self._spooling or full) and self._to_spool([record]):
            return
        if full:  # and no spool, or it cannot be written
            self._drop(record, f"record buffer full ({self._settings.max_buffer})")
            return
        self._buffer.append(record)
        if len(self._buffer) > self.max_buffered:
            self.max_buffered = len(self._buffer)
        if len(self._buffer) >= self._settings.batch_size:
            self._wake.set()

    def _drop(self, record: CallRecord, why: str, count: int = 1) -> None:
        before = self.dropped
        self.dropped += count
        if before == 0 or before // 1000 != self.dropped // 1000:  # loud, but no log storm
            log.error("%s: %d records dropped so far (latest %s)", why, self.dropped, record.id)

    def _to_spool(self, records: Sequence[CallRecord]) -> bool:
        """Append ``records`` to the spool; False (nothing kept) if it cannot be written."""
        assert self._spool is not None
        try:
            refused = self._spool.append(records)
        except OSError:
            if not self._spool_broken:  # once per episode, not once per record
                log.exception("cannot write the record spool %s", self._spool.directory)
            self._spool_broken = True
            return False
        self._spool_broken = False
        for record in refused:
            self.rejected += 1
            log.error("call record %s cannot be encoded; set aside: %r", record.id, record)
        if self._spool.pending:
            self._spooling = True
        return True

    def _evacuate(self) -> None:
        """The store failed: move the buffer to disk, where a crash cannot take it."""
        if self._spool is None or self._spooling or not self._buffer:
            return
        try:
            refused = self._spool.append(list(self._buffer))
        except OSError:
            log.exception("cannot move %d records to the spool; kept in memory", len(self._buffer))
            return
        for record in refused:
            self.rejected += 1
            log.error("call record %s cannot be encoded; set aside: %r", record.id, record)
        self._buffer.clear()
        self._spooling = self._spool.pending > 0

    def start(self) -> None:
        if self._task is None:
            if self._spool is not None and self._spool.has_segments():
                self._spooling = True  # new records queue behind those a crash left
            self._task = asyncio.create_task(self._run(), name="steadyllm-record-writer")

    async def stop(self, timeout: float = 30.0) -> None:
        """Write every pending record (retrying for up to ``timeout`` seconds).

        With a spool, what is still unwritten then stays on disk for the next start.
        """
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                log.error("record writer stopped with %d records unwritten", self.pending)
            self._task = None
        if self._spool is None:
            return
        if self._buffer:
            if not self._to_spool(list(self._buffer)):
                self._drop(
                    self._buffer[-1],
                    "record store and spool unavailable at stop",
                    len(self._buffer),
                )
            self._buffer.clear()
        await self._spool.close()
        if self._spool.pending:
            log.warning(
                "%d call records stay in the spool %s; the next start on this store writes them",
                self._spool.pending,
                self._spool.directory,
            )

    async def flush(self) -> None:
        """Write what is buffered and spooled now (tests and the control plane use it)."""
        while self._has_work():
            if not await self._write_batch():
                raise RuntimeError("record store unavailable")

    def _has_work(self) -> bool:
        return bool(self._buffer) or (self._spool is not None and self._spool.pending > 0)

    async def _run(self) -> None:
        if self._spool is not None:
            try:
                if await self._spool.adopt():
                    self._spooling = True
            except OSError:
                log.exception("cannot read the record spool %s", self._spool.directory)
        backoff = 0.0
        while True:
            await self._sync_spool()
            if not self._has_work():
                if self._closing:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.flush_interval)
                self._wake.clear()
                continue
            if backoff:
                await self._pause(backoff)
            if await self._write_batch():
                backoff = 0.0
                self._failures = 0
                self._batch_size = self._settings.batch_size
                continue
            self._evacuate()
            self._failures += 1
            if self._failures >= 3 and await self._isolate():
                backoff = 0.0
                continue
            backoff = min(max(backoff * 2, 0.2), 5.0)

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, keeping the spool's fsync on schedule meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (remaining := deadline - loop.time()) > 0:
            await asyncio.sleep(min(remaining, self._settings.flush_interval))
            await self._sync_spool()

    async def _sync_spool(self) -> None:
        """fsync the spool at most every ``flush_interval`` (see records_spool)."""
        spool = self._spool
        if spool is None or not spool.dirty:
            return
        now = asyncio.get_running_loop().time()
        if now - self._last_sync < self._settings.flush_interval:
            return
        self._last_sync = now
        try:
            await spool.sync()
        except OSError:
            log.exception("fsync of the record spool %s failed", spool.directory)

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
        if self._buffer:
            record = self._buffer.popleft()
        else:
            assert self._spool is not None
            head = self._spool.peek(1)
            if not head:
                return True
            record = head[0]
            self._spool.commit(1, written=False)
        self.rejected += 1
        self._failures = 0
        log.error("the record store refuses call record %s; set aside: %r", record.id, record)
        return True

    async def _write_batch(self) -> bool:
        async with self._write_lock:
            from_buffer = bool(self._buffer)
            if from_buffer:
                size = min(len(self._buffer), self._batch_size)
                batch = [self._buffer[i] for i in range(size)]
            elif self._spool is not None and self._spool.pending:
                batch = self._spool.peek(self._batch_size)
            else:
                batch = []
            if not batch:
                return True
            try:
                await self._store.write_calls(batch)
            except Exception:
                self.failed_batches += 1
                log.exception("writing %d call records failed; will retry", len(batch))
                return False
            if from_buffer:
                for _ in batch:
                    self._buffer.popleft()
            else:
                assert self._spool is not None
                self._spool.commit(len(batch))
                if not self._spool.pending and not self._buffer:
                    self._spooling = False
                    log.info("record spool written back; records are buffered in memory again")
            self.written += len(batch)
            return True

    def telemetry_snapshot(self) -> Iterator[tuple[str, Mapping[str, str], float]]:
        """Memory and spool figures (written, dropped, pending are scraped by the hub)."""
        yield ("records_buffered", {}, float(self.buffered))
        yield ("records_buffered_max", {}, float(self.max_buffered))
        spool = self._spool
        if spool is None:
            return
        yield ("records_spooled_total", {}, float(spool.spooled))
        yield ("records_spool_pending", {}, float(spool.pending))
        yield ("records_spool_replayed_total", {}, float(spool.replayed))
        yield ("records_spool_corrupt_total", {}, float(spool.corrupt))

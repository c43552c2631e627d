"""A disk spool for call records the writer cannot keep in memory.

The record writer spools when its buffer is full or the store fails, so memory stays
bounded by ``records.max_buffer`` however long the store is away, and writes the
spool back, oldest first, once the store answers.

Layout: ``<spool_dir>/<store key>/<time_ns>-<pid>-<random>.jsonl``, one record per
line (orjson). The store key is a hash of ``store.url`` without its password, so a
spool is only ever written into the store it was meant for. A segment is held under
an exclusive ``flock`` by the process that writes or replays it; the kernel drops
the lock when that process dies, so a segment nobody holds was left by a crash and
is adopted by the next writer that starts on the same store. Several processes may
share one directory.

Durability: each record reaches the OS with one ``write`` as it is spooled, so it
survives the gateway crashing (SIGKILL, OOM). Segments are fsynced every
``records.flush_interval`` by the writer and when they are closed; a machine crash
or power loss can lose what was spooled since the last fsync.

Replay is idempotent: stores skip a record whose ``id`` they already hold, so a
segment replayed again after a crash in the middle of its replay duplicates nothing.
A line that cannot be read back (the last line of a segment cut by a crash) is
skipped, counted in ``corrupt`` and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import hashlib
import logging
import os
import secrets
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from steadyllm.config import RecordSettings
from steadyllm.stores.base import CallRecord

__all__ = ["RecordSpool", "default_spool_dir", "store_key"]

log = logging.getLogger("steadyllm.records")

SEGMENT_BYTES = 16 * 1024 * 1024  # a new segment past this size; drained ones are deleted
_READ_CHUNK = 256 * 1024
_SUFFIX = ".jsonl"
_TMP_GRACE = 60.0  # seconds: an unnamed segment younger than this may be being created
_FIELDS = {f.name: f for f in dataclasses.fields(CallRecord)}


def default_spool_dir() -> Path:
    """``<temp dir>/steadyllm-spool-<uid>``: writable even on a read-only root file system
    (the Kubernetes manifest mounts an emptyDir at /tmp, which outlives container restarts)."""
    return Path(tempfile.gettempdir()) / f"steadyllm-spool-{os.getuid()}"


def store_key(url: str) -> str:
    """A directory name for ``url``: a hash of the URL without its password."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    redacted = urlunsplit(parts._replace(netloc=netloc))
    return hashlib.sha256(redacted.encode()).hexdigest()[:16]


@dataclass(slots=True)
class _Segment:
    path: Path
    fd: int  # open for the life of the segment: it holds the flock
    size: int  # bytes in the file (appended by this process, or found when adopted)
    offset: int = 0  # bytes read back so far (always at a line boundary)
    sealed: bool = False  # no more appends: adopted, or rotated out
    dirty: bool = False  # written since the last fsync


def _encode(record: CallRecord) -> bytes:
    return orjson.dumps(record) + b"\n"


def _decode(line: bytes) -> CallRecord:
    data = orjson.loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    values: dict[str, Any] = {k: v for k, v in data.items() if k in _FIELDS}
    if isinstance(values.get("fallback_path"), list):
        values["fallback_path"] = tuple(values["fallback_path"])
    return CallRecord(**values)


def _count_lines(fd: int, size: int) -> int:
    """Lines in the first ``size`` bytes, a cut last line included."""
    count, offset, last = 0, 0, b"\n"
    while offset < size:
        chunk = os.pread(fd, min(_READ_CHUNK * 4, size - offset), offset)
        if not chunk:
            break
        count += chunk.count(b"\n")
        offset += len(chunk)
        last = chunk[-1:]
    return count + (last != b"\n")


def _lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class RecordSpool:
    """Append-only JSON-lines segments of call records, read back oldest first."""

    def __init__(self, directory: Path, *, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self._segment_bytes = segment_bytes
        self._segments: deque[_Segment] = deque()  # oldest first; the last may be active
        self._head: deque[CallRecord] = deque()  # read from _segments[0], not yet committed
        self._pending = 0
        self._new_entries = False  # a segment was created since the directory was fsynced
        self.spooled = 0  # records appended by this process
        self.replayed = 0  # records written back to the store (this process's and adopted)
        self.adopted = 0  # records found in segments left by a previous process
        self.corrupt = 0  # lines that could not be read back

    @classmethod
    def for_store(cls, settings: RecordSettings, store_url: str) -> RecordSpool | None:
        """The spool for records bound to ``store_url``; ``None`` when spooling is off or
        the store is ``memory://`` (its records die with the process anyway)."""
        if not settings.spool or store_url.partition("://")[0].lower() == "memory":
            return None
        root = Path(settings.spool_dir) if settings.spool_dir else default_spool_dir()
        return cls(root / store_key(store_url))

    @property
    def pending(self) -> int:
        """Records spooled and not yet written back."""
        return self._pending

    @property
    def in_memory(self) -> int:
        """Records read back from disk and not yet committed (at most one batch)."""
        return len(self._head)

    @property
    def dirty(self) -> bool:
        return self._new_entries or any(s.dirty for s in self._segments)

    # --- writing ---------------------------------------------------------------------

    def append(self, records: Sequence[CallRecord]) -> list[CallRecord]:
        """Spool ``records`` with one ``write``; return those that cannot be encoded.

        Raises ``OSError`` when the spool cannot be written (nothing of the call is kept).
        """
        refused: list[CallRecord] = []
        lines: list[bytes] = []
        for record in records:
            try:
                lines.append(_encode(record))
            except TypeError:  # orjson.JSONEncodeError: metadata the store could not hold
                refused.append(record)
        if not lines:
            return refused
        segment = self._active()
        data = b"".join(lines)
        try:
            written = 0
            while written < len(data):
                written += os.write(segment.fd, data[written:])
        except OSError:
            with contextlib.suppress(OSError):  # no half line left behind
                os.ftruncate(segment.fd, segment.size)
            raise
        segment.size += len(data)
        segment.dirty = True
        self._pending += len(lines)
        self.spooled += len(lines)
        if segment.size >= self._segment_bytes:
            segment.sealed = True
        return refused

    def _active(self) -> _Segment:
        if self._segments and not self._segments[-1].sealed:
            return self._segments[-1]
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}"
        temporary = self.directory / f".{name}.tmp"
        path = self.directory / f"{name}{_SUFFIX}"
        # Locked before it gets a name other processes look for.
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(temporary, path)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        if not self._segments:
            log.warning("spooling call records to %s", path)
        segment = _Segment(path, fd, size=0)
        self._segments.append(segment)
        self._new_entries = True
        return segment

    async def sync(self) -> None:
        """fsync every segment written since the last call (in a thread)."""
        segments = [s for s in self._segments if s.dirty]
        for segment in segments:
            segment.dirty = False
        new_entries, self._new_entries = self._new_entries, False
        fds = [s.fd for s in segments]
        if fds or new_entries:
            await asyncio.to_thread(self._fsync, fds, new_entries)

    def _fsync(self, fds: list[int], directory: bool) -> None:
        for fd in fds:
            os.fsync(fd)
        if directory:
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    # --- reading back ----------------------------------------------------------------

    def has_segments(self) -> bool:
        """Whether segments are on disk (this process's, or left for it to adopt)."""
        try:
            return any(p.name.endswith(_SUFFIX) for p in self.directory.iterdir())
        except OSError:
            return False

    async def adopt(self) -> int:
        """Take over the segments a dead process left; return how many records they hold."""
        if not self.directory.is_dir():
            return 0
        owned = {s.path for s in self._segments}
        # Files are scanned in a thread; the spool's state changes only on the loop.
        found = await asyncio.to_thread(self._orphans, owned)
        if not found:
            return 0
        records = sum(lines for _, lines in found)
        # Older than anything this process spooled; after the segment being read.
        at = 1 if self._head else 0
        for index, (segment, _) in enumerate(found):
            self._segments.insert(at + index, segment)
        self._pending += records
        self.adopted += records
        log.warning(
            "replaying %d call records from %d segments a previous process left in %s",
            records,
            len(found),
            self.directory,
        )
        return records

    def _orphans(self, owned: set[Path]) -> list[tuple[_Segment, int]]:
        """Segments nobody holds, locked for this process, with their line counts."""
        found: list[tuple[_Segment, int]] = []
        for path in sorted(self.directory.iterdir()):
            if path in owned or not (path.name.endswith(_SUFFIX) or path.name.endswith(".tmp")):
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue  # replayed and deleted by its owner meanwhile
            if not _lock(fd) or os.fstat(fd).st_nlink == 0:
                os.close(fd)  # a live process holds it, or it is already gone
                continue
            if path.name.endswith(".tmp"):  # created, never named: empty
                if time.time() - os.fstat(fd).st_mtime > _TMP_GRACE:  # not one being made
                    os.unlink(path)
                os.close(fd)
                continue
            size = os.fstat(fd).st_size
            found.append((_Segment(path, fd, size=size, sealed=True), _count_lines(fd, size)))
        return found

    def peek(self, limit: int) -> list[CallRecord]:
        """Up to ``limit`` of the oldest spooled records (the same ones until committed)."""
        while len(self._head) < limit and self._segments:
            segment = self._segments[0]
            if not self._read(segment, limit - len(self._head)):
                break
        if not self._segments and not self._head and self._pending:
            log.error("record spool count was off by %d; reset", self._pending)
            self._pending = 0
        return [self._head[i] for i in range(min(limit, len(self._head)))]

    def _read(self, segment: _Segment, wanted: int) -> bool:
        """Read up to ``wanted`` records of ``segment`` into the head; False when none came."""
        got = 0
        while got < wanted and segment.offset < segment.size:
            chunk = os.pread(segment.fd, _READ_CHUNK, segment.offset)
            end = chunk.rfind(b"\n")
            while end < 0 and segment.offset + len(chunk) < segment.size:
                chunk += os.pread(segment.fd, _READ_CHUNK, segment.offset + len(chunk))
                end = chunk.rfind(b"\n")
            if end < 0:  # a last line with no newline: cut by a crash
                self._skip(segment, chunk, ValueError("incomplete last line"))
                segment.offset += len(chunk)
                continue
            for piece in chunk[:end].split(b"\n"):
                if got >= wanted:
                    break
                try:
                    self._head.append(_decode(piece))
                    got += 1
                except (ValueError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
                    self._skip(segment, piece, exc)
                segment.offset += len(piece) + 1
        if not self._head and segment.offset >= segment.size:
            self._retire()  # nothing left in it (every line was unreadable)
        return got > 0

    def _skip(self, segment: _Segment, line: bytes, problem: Exception) -> None:
        self.corrupt += 1
        self._pending -= 1
        log.error(
            "spool %s: skipped an unreadable line at byte %d (%s): %r",
            segment.path,
            segment.offset,
            problem,
            line[:200],
        )

    def commit(self, count: int, *, written: bool = True) -> None:
        """The oldest ``count`` peeked records are in the store (or, not ``written``, set
        aside)."""
        for _ in range(count):
            self._head.popleft()
        self._pending -= count
        if written:
            self.replayed += count
        if not self._head and self._segments:
            segment = self._segments[0]
            if segment.offset >= segment.size:
                self._retire()

    def _retire(self) -> None:
        """Delete the head segment: every record in it is written back."""
        segment = self._segments.popleft()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(segment.path)
        os.close(segment.fd)  # unlinked first, so nobody adopts it in between

    async def close(self) -> None:
        """fsync and release every segment; those with records left stay for the next start."""
        for segment in self._segments:
            segment.dirty = True
        with contextlib.suppress(OSError):
            await self.sync()
        while self._segments:
            segment = self._segments.popleft()
            if segment.offset >= segment.size and not self._head:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(segment.path)
            self._head.clear()  # they belong to the first segment, kept on disk
            os.close(segment.fd)
        self._head.clear()

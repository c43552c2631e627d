"""Heavy resources (models, tokenizers, embedding models) built once, on first use.

``Lazy(load)`` holds a loader; the first ``await lazy.get()`` runs it in a worker
thread, so the event loop keeps serving while a model loads, and every later call
returns the same object at the cost of an attribute read. Callers that arrive
during the load wait for it; they do not load again. A load that fails is not
kept: the next call tries again. Safe across event loops and threads (the gateway
may run several loops in one process).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar, cast

__all__ = ["Lazy"]

T = TypeVar("T")


class Lazy(Generic[T]):
    def __init__(self, load: Callable[[], T], *, close: Callable[[T], object] | None = None):
        self._load = load
        self._close = close
        self._value: T | None = None
        self._loaded = False
        self._lock = threading.Lock()
        self.loads = 0  # completed loads: 1 for a resource that stayed loaded
        self.failures = 0
        self.load_seconds: float | None = None  # how long the last load took

    @property
    def loaded(self) -> bool:
        return self._loaded

    async def get(self) -> T:
        """The resource, loading it in a worker thread on first use."""
        if self._loaded:
            return cast(T, self._value)
        return await asyncio.to_thread(self.get_blocking)

    def get_blocking(self) -> T:
        """The resource, from a thread that may block (loads it on first use)."""
        if self._loaded:
            return cast(T, self._value)
        with self._lock:  # double-checked: one load, whoever else is waiting
            if self._loaded:
                return cast(T, self._value)
            started = time.perf_counter()
            try:
                value = self._load()
            except BaseException:
                self.failures += 1
                raise
            self.load_seconds = time.perf_counter() - started
            self._value = value
            self._loaded = True
            self.loads += 1
            return value

    def reset(self) -> None:
        """Drop the resource (calling ``close`` on it); the next ``get`` loads it again."""
        with self._lock:
            value, was_loaded = self._value, self._loaded
            self._value, self._loaded = None, False
        if was_loaded and self._close is not None:
            self._close(cast(T, value))

"""L1: a bounded in-process LRU of cached answers, in front of the store (L2).

An item remembers when its answer stops being fresh, when it may no longer serve
even as a stale answer, and when this copy must be re-read from L2 (``l1_ttl``),
so a clear on another replica reaches this one within ``l1_ttl`` seconds.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from steadyllm.stores.base import CacheEntry

__all__ = ["LocalCache", "LocalItem"]


@dataclass(slots=True)
class LocalItem:
    entry: CacheEntry
    fresh_until: float  # epoch seconds
    retain_until: float  # epoch seconds; equals entry.expires_at
    reread_at: float  # epoch seconds: past it, ask L2 again

    def fresh(self, now: float) -> bool:
        return now < self.fresh_until


class LocalCache:
    def __init__(self, max_entries: int, l1_ttl: float) -> None:
        self._max_entries = max_entries
        self._l1_ttl = l1_ttl
        self._items: OrderedDict[str, LocalItem] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str, now: float) -> LocalItem | None:
        """The item for ``key`` (fresh or stale), or ``None`` when L2 must be asked."""
        item = self._items.get(key)
        if item is None:
            return None
        if now >= item.retain_until or now >= item.reread_at:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item

    def put(self, entry: CacheEntry, fresh_until: float, now: float) -> None:
        if self._max_entries == 0:
            return
        self._items[entry.key] = LocalItem(
            entry, fresh_until, entry.expires_at, min(entry.expires_at, now + self._l1_ttl)
        )
        self._items.move_to_end(entry.key)
        while len(self._items) > self._max_entries:
            self._items.popitem(last=False)

    def discard(self, key: str) -> None:
        self._items.pop(key, None)

    def clear(self, *, variant: str | None = None, fresh_before: float | None = None) -> int:
        doomed = [
            key
            for key, item in self._items.items()
            if (variant is None or item.entry.variant == variant)
            and (fresh_before is None or item.fresh_until <= fresh_before)
        ]
        for key in doomed:
            del self._items[key]
        return len(doomed)

    def purge(self, now: float) -> None:
        """Drop items past their retention or their re-read time."""
        doomed = [
            key
            for key, item in self._items.items()
            if now >= item.retain_until or now >= item.reread_at
        ]
        for key in doomed:
            del self._items[key]

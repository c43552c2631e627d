"""What the cache did, as ``GET /api/reliability/cache/stats`` shows it.

Counted in this process since it started: each replica reports its own traffic.
Cost and time saved are the recorded cost (USD) and latency (ms) of the call that
produced the answer, added once per hit. ``topQueries`` and ``byVariant`` read the
entries this process stored or served (at most ``stats_max_entries``, least
recently used forgotten first).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

__all__ = ["CacheStats", "EntryStats"]


@dataclass(slots=True)
class EntryStats:
    tenant: str
    user_message: str
    variant: str | None
    cost_usd: float
    response_time_ms: float
    fresh_until: float
    hit_count: int = 0


class CacheStats:
    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self.entries: OrderedDict[str, EntryStats] = OrderedDict()
        self.exact_hits = 0
        self.semantic_hits = 0
        self.stale_hits = 0
        self.misses = 0
        self.bypasses = 0
        self.cost_saved = 0.0
        self.time_saved_ms = 0.0
        self.stored = 0
        self.store_errors = 0  # L2 failures, answered as misses / not kept
        self.dropped_writes = 0  # L2 writes refused because the write queue was full
        self.dropped_touches = 0

    @property
    def hits(self) -> int:
        return self.exact_hits + self.semantic_hits + self.stale_hits

    def track(self, key: str, stats: EntryStats) -> EntryStats:
        """Remember an entry (stored or served here), keeping its hit count if known."""
        known = self.entries.get(key)
        if known is not None:
            stats.hit_count = known.hit_count
        self.entries[key] = stats
        self.entries.move_to_end(key)
        while len(self.entries) > self._max_entries:
            self.entries.popitem(last=False)
        return stats

    def hit(self, kind: str, key: str, stats: EntryStats) -> None:
        if kind == "semantic-hit":
            self.semantic_hits += 1
        elif kind == "stale":
            self.stale_hits += 1
        else:
            self.exact_hits += 1
        self.cost_saved += stats.cost_usd
        self.time_saved_ms += stats.response_time_ms
        self.track(key, stats).hit_count += 1

    def forget(self, *, variant: str | None = None, fresh_before: float | None = None) -> None:
        doomed = [
            key
            for key, entry in self.entries.items()
            if (variant is None or entry.variant == variant)
            and (fresh_before is None or entry.fresh_until <= fresh_before)
        ]
        for key in doomed:
            del self.entries[key]

    def snapshot(self, *, now: float, limit: int, tenant: str | None = None) -> dict[str, Any]:
        hits, misses = self.hits, self.misses
        looked_up = hits + misses
        overall = {
            "hits": hits,
            "misses": misses,
            "hitRate": hits / looked_up if looked_up else 0.0,
            "costSaved": self.cost_saved,
            "timeSaved": self.time_saved_ms,
            "exactHits": self.exact_hits,
            "semanticHits": self.semantic_hits,
            "staleHits": self.stale_hits,
            "bypasses": self.bypasses,
            "stored": self.stored,
            "storeErrors": self.store_errors,
            "droppedWrites": self.dropped_writes,
        }
        entries = [e for e in self.entries.values() if tenant is None or e.tenant == tenant]
        top = sorted(
            (e for e in entries if e.hit_count > 0),
            key=lambda e: (-e.hit_count, e.user_message),
        )[:limit]
        by_variant: dict[str | None, list[EntryStats]] = {}
        for entry in entries:
            by_variant.setdefault(entry.variant, []).append(entry)
        return {
            "overall": overall,
            "topQueries": [
                {
                    "user_message": e.user_message,
                    "variant": e.variant,
                    "hit_count": e.hit_count,
                    "cost_usd": e.cost_usd,
                    "response_time_ms": e.response_time_ms,
                    "tenant": e.tenant,
                }
                for e in top
            ],
            "byVariant": [
                {
                    "variant": variant,
                    "entries": sum(1 for e in group if e.fresh_until > now),
                    "total_hits": sum(e.hit_count for e in group),
                    "avg_cost_saved": sum(e.hit_count * e.cost_usd for e in group) / len(group),
                    "avg_time_saved": sum(e.hit_count * e.response_time_ms for e in group)
                    / len(group),
                }
                for variant, group in sorted(by_variant.items(), key=lambda kv: kv[0] or "")
            ],
        }

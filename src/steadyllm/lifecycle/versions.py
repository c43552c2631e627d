"""The prompt version registry: numbered system prompts per variant, one active.

Activation is one SQL statement over the variant's rows (``is_active = version == N``),
so exactly one version is active whatever replica asks. Replicas read the active
prompt through a cache that lives at most ``lifecycle.active_cache_seconds`` (at most
1 s), so an activation or rollback reaches every replica within a second.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from steadyllm.errors import Conflict, InvalidRequest, NotFound
from steadyllm.lifecycle.records import Outcome, PromptVersion
from steadyllm.lifecycle.rows import MemoryRows, Rows, SqlRows
from steadyllm.policy.diff import diff_prompts

__all__ = ["TAGS", "VersionRegistry", "compare_outcomes"]

TAGS = ("production", "stable", "experimental", "rollback")
_MAX_CACHED_VARIANTS = 1024
_CANDIDATE = re.compile(r"^(.+)_v(\d+)$")


class VersionRegistry:
    def __init__(
        self,
        rows: Rows[PromptVersion],
        *,
        cache_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rows = rows
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._lock = asyncio.Lock()  # one writer per process; SQL keeps replicas exact

    async def versions(self, variant: str) -> list[PromptVersion]:
        return await self.rows.find(where={"variant": variant}, order_by="version")

    async def get(self, variant: str, version: int) -> PromptVersion:
        for found in await self.rows.find(where={"variant": variant, "version": version}):
            return found
        raise NotFound(f"Variant {variant!r} has no version {version}.", code="version_not_found")

    async def register(
        self,
        variant: str,
        system_prompt: str,
        *,
        description: str | None = None,
        created_by: str | None = None,
        changes: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        tags: Sequence[str] = (),
    ) -> PromptVersion:
        """Add the variant's next version; the first one of a variant becomes active."""
        if not variant or not system_prompt:
            raise InvalidRequest("'variant' and 'systemPrompt' must be non-empty strings.")
        _check_tags(tags)
        async with self._lock:
            for attempt in range(5):  # another replica may take the same number
                existing = await self.versions(variant)
                number = max((v.version for v in existing), default=0) + 1
                now = self._clock()
                record = PromptVersion(
                    id=f"{variant}:v{number}",
                    variant=variant,
                    version=number,
                    system_prompt=system_prompt,
                    description=description,
                    created_by=created_by,
                    changes=list(changes),
                    metadata=dict(metadata or {}),
                    tags=tuple(tags),
                    is_active=not existing,
                    created_at=now,
                    activated_at=None if existing else now,
                )
                try:
                    await self.rows.put(record)
                except sa.exc.IntegrityError:
                    if attempt == 4:
                        raise
                    continue
                self._cache.pop(variant, None)
                return record
        raise Conflict("Could not allocate a version number.")  # pragma: no cover

    async def active(self, variant: str) -> PromptVersion | None:
        for found in await self.rows.find(where={"variant": variant, "is_active": True}):
            return found
        return None

    async def active_prompt(self, variant: str) -> str | None:
        """The active system prompt of ``variant``, cached for at most a second.

        ``<variant>_v<N>`` (not itself a registered variant) names version N of
        ``variant``: how a shadow test or experiment refers to a candidate version.
        """
        now = self._monotonic()
        cached = self._cache.get(variant)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        current = await self.active(variant)
        prompt = None if current is None else current.system_prompt
        candidate = _CANDIDATE.match(variant)
        if prompt is None and candidate is not None:  # "baseline_v2": a version under test
            for found in await self.rows.find(
                where={"variant": candidate.group(1), "version": int(candidate.group(2))}
            ):
                prompt = found.system_prompt
        if len(self._cache) >= _MAX_CACHED_VARIANTS:
            self._cache.clear()
        self._cache[variant] = (now, prompt)
        return prompt

    async def activate(
        self, variant: str, version: int, *, _previous: int | None = -1
    ) -> PromptVersion:
        """Make ``version`` the one active version of ``variant``; remember the one before."""
        async with self._lock:
            target = await self.get(variant, version)
            current = await self.active(variant)
            if current is not None and current.version == version:
                return current
            now = self._clock()
            previous = (
                (None if current is None else current.version) if _previous == -1 else _previous
            )
            updated = dataclasses.replace(
                target,
                is_active=True,
                activated_at=now,
                deactivated_at=None,
                previous_active=previous,
            )
            changed = [updated]
            if current is not None:
                changed.append(dataclasses.replace(current, is_active=False, deactivated_at=now))
            await self._put_active(variant, changed)
            self._cache.pop(variant, None)
            return updated

    async def _put_active(self, variant: str, changed: list[PromptVersion]) -> None:
        if isinstance(self.rows, SqlRows):
            table = self.rows.table
            async with self.rows.database.transaction() as conn:
                for record in changed:
                    row = {k: v for k, v in dataclasses.asdict(record).items() if k != "id"}
                    row["tags"] = list(record.tags)
                    await conn.execute(
                        sa.update(table).where(table.c.id == record.id).values(**row)
                    )
                active = next(r.version for r in changed if r.is_active)
                # One statement decides which row is active: exactly one, whoever raced.
                await conn.execute(
                    sa.update(table)
                    .where(table.c.variant == variant)
                    .values(is_active=table.c.version == active)
                )
            return
        assert isinstance(self.rows, MemoryRows)
        others = [
            dataclasses.replace(v, is_active=False)
            for v in await self.versions(variant)
            if v.is_active and v.id not in {r.id for r in changed}
        ]
        await self.rows.put(*changed, *others)

    async def rollback(self, variant: str) -> tuple[PromptVersion, PromptVersion]:
        """Return to the version active before the current one; (from, to)."""
        current = await self.active(variant)
        if current is None or current.previous_active is None:
            raise Conflict(f"Variant {variant!r} has no previous version to roll back to.")
        target = await self.get(variant, current.previous_active)
        restored = await self.activate(variant, target.version, _previous=target.previous_active)
        left = await self.get(variant, current.version)
        if "rollback" not in left.tags:
            left = dataclasses.replace(left, tags=(*left.tags, "rollback"))
            await self.rows.put(left)
        return left, restored

    async def tag(self, variant: str, version: int, tag: str) -> PromptVersion:
        _check_tags([tag])
        found = await self.get(variant, version)
        if tag not in found.tags:
            found = dataclasses.replace(found, tags=(*found.tags, tag))
            await self.rows.put(found)
        return found

    async def history(self, variant: str) -> list[dict[str, Any]]:
        """Versions that were ever active, most recently activated first."""
        activated = [v for v in await self.versions(variant) if v.activated_at is not None]
        activated.sort(key=lambda v: v.activated_at or 0.0, reverse=True)
        return [v.to_json() for v in activated]

    async def list(self) -> list[dict[str, Any]]:
        everything = await self.rows.find(order_by="created_at", limit=100_000)
        variants: dict[str, dict[str, Any]] = {}
        for v in everything:
            entry = variants.setdefault(
                v.variant, {"variant": v.variant, "versions": 0, "activeVersion": None}
            )
            entry["versions"] += 1
            if v.is_active:
                entry["activeVersion"] = v.version
        return list(variants.values())

    async def diff(self, variant: str, old: int, new: int) -> dict[str, Any]:
        a, b = await self.get(variant, old), await self.get(variant, new)
        result = diff_prompts(
            a.system_prompt, b.system_prompt, old_name=f"v{old}", new_name=f"v{new}"
        )
        return {
            "variant": variant,
            "from": old,
            "to": new,
            "diff": result.unified,
            "added": list(result.added),
            "removed": list(result.removed),
            "lengthDifference": result.length_difference,
        }


def _check_tags(tags: Sequence[str]) -> None:
    for tag in tags:
        if tag not in TAGS:
            raise InvalidRequest(f"'tag' must be one of: {', '.join(TAGS)}.", param="tag")


def compare_outcomes(by_version: dict[int, list[Outcome]]) -> dict[str, Any]:
    """Per version: conversations, bookings, escalations, averages, rates; differences in %."""
    summaries: dict[str, dict[str, Any]] = {}
    for version, outcomes in sorted(by_version.items()):
        n = len(outcomes)
        costs = [o.cost_usd for o in outcomes if o.cost_usd is not None]
        tokens = [o.tokens for o in outcomes if o.tokens is not None]
        bookings = sum(1 for o in outcomes if o.booked)
        escalations = sum(1 for o in outcomes if o.escalated)
        summaries[str(version)] = {
            "conversations": n,
            "bookings": bookings,
            "escalations": escalations,
            "bookingRate": bookings / n if n else 0.0,
            "escalationRate": escalations / n if n else 0.0,
            "avgCost": sum(costs) / len(costs) if costs else 0.0,
            "avgTokens": sum(tokens) / len(tokens) if tokens else 0.0,
        }
    keys = list(summaries)
    differences: dict[str, float | None] = {}
    if len(keys) >= 2:
        first, last = summaries[keys[0]], summaries[keys[-1]]
        for metric in ("bookingRate", "escalationRate", "avgCost", "avgTokens"):
            base = first[metric]
            differences[metric] = None if base == 0 else (last[metric] - base) / base * 100
    return {"versions": summaries, "differencesPercent": differences}

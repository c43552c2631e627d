"""Drift detection over recorded outcomes: windows in, ``drift_detections`` rows out.

The statistics are pure (``policy.drift``); this module picks the windows (the
``baseline_days`` before the last ``recent_hours`` against those hours), stores each
detection, and runs the hourly check for every registered variant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from steadyllm.lifecycle.feedback import FeedbackStore
from steadyllm.lifecycle.records import DriftDetection, Outcome
from steadyllm.lifecycle.rows import Rows
from steadyllm.lifecycle.settings import DriftSettings
from steadyllm.policy.drift import DriftThresholds, WindowSample, detect_drift

__all__ = ["DriftMonitor", "window_sample"]

log = logging.getLogger("steadyllm.lifecycle.drift")


def window_sample(outcomes: Sequence[Outcome]) -> WindowSample:
    return WindowSample(
        conversations=len(outcomes),
        bookings=sum(1 for o in outcomes if o.booked),
        escalations=sum(1 for o in outcomes if o.escalated),
        costs=tuple(o.cost_usd for o in outcomes if o.cost_usd is not None),
        latencies=tuple(o.latency_ms for o in outcomes if o.latency_ms is not None),
        actions=Counter(o.action for o in outcomes if o.action is not None),
    )


def _summary(sample: WindowSample) -> dict[str, Any]:
    n = sample.conversations
    return {
        "conversations": n,
        "bookingRate": sample.bookings / n if n else 0.0,
        "escalationRate": sample.escalations / n if n else 0.0,
        "avgCost": sum(sample.costs) / len(sample.costs) if sample.costs else 0.0,
        "avgResponseTimeMs": sum(sample.latencies) / len(sample.latencies)
        if sample.latencies
        else 0.0,
        "actions": dict(sample.actions),
    }


class DriftMonitor:
    def __init__(
        self,
        rows: Rows[DriftDetection],
        feedback: FeedbackStore,
        settings: DriftSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rows = rows
        self._feedback = feedback
        self.settings = settings
        self._clock = clock
        s = settings
        self.thresholds = DriftThresholds(
            booking_drop=s.booking_drop,
            escalation_rise=s.escalation_rise,
            cost_rise=s.cost_rise,
            latency_rise=s.latency_rise,
            action_min_shift=s.action_min_shift,
            alpha=s.alpha,
            min_conversations=s.min_conversations,
        )
        self._task: asyncio.Task[None] | None = None

    def _windows(self, now: float) -> tuple[float, float]:
        recent_start = now - self.settings.recent_hours * 3600
        return recent_start - self.settings.baseline_days * 86400, recent_start

    async def _samples(self, variant: str, now: float) -> tuple[WindowSample, WindowSample]:
        baseline_start, recent_start = self._windows(now)
        found = await self._feedback.outcomes(variant=variant, since=baseline_start, until=now)
        baseline = [o for o in found if o.created_at < recent_start]
        recent = [o for o in found if o.created_at >= recent_start]
        return window_sample(baseline), window_sample(recent)

    async def detect(self, variant: str, *, now: float | None = None) -> DriftDetection:
        """Run every test for ``variant`` and store the detection."""
        now = self._clock() if now is None else now
        baseline, recent = await self._samples(variant, now)
        report = detect_drift(baseline, recent, self.thresholds)
        baseline_start, recent_start = self._windows(now)
        metrics: dict[str, Any] = {m.metric: m.to_json() for m in report.metrics}
        if not report.sufficient_data:
            metrics = {
                "insufficientData": True,
                "minConversations": self.thresholds.min_conversations,
            }
        detection = DriftDetection(
            id=f"drift_{uuid.uuid4().hex}",
            variant=variant,
            detected_at=now,
            drift_detected=report.drift_detected,
            severity=report.severity,
            metrics=metrics,
            baseline_start=baseline_start,
            recent_start=recent_start,
            baseline_conversations=baseline.conversations,
            recent_conversations=recent.conversations,
        )
        await self.rows.put(detection)
        return detection

    async def history(self, variant: str | None = None, *, limit: int = 50) -> list[DriftDetection]:
        where = {} if variant is None else {"variant": variant}
        return await self.rows.find(
            where=where, order_by="detected_at", newest_first=True, limit=limit
        )

    async def metrics(self, variant: str, *, now: float | None = None) -> dict[str, Any]:
        """The two windows' figures, without the tests."""
        now = self._clock() if now is None else now
        baseline, recent = await self._samples(variant, now)
        return {"variant": variant, "baseline": _summary(baseline), "recent": _summary(recent)}

    def start(
        self,
        variants: Callable[[], Awaitable[list[str]]],
        check: Callable[[str], Awaitable[Any]],
    ) -> None:
        """Every ``check_interval_seconds``, ``check`` each variant ``variants()`` names."""
        if self.settings.check_interval_seconds <= 0 or self._task is not None:
            return
        self._task = asyncio.create_task(self._run(variants, check), name="steadyllm-drift-monitor")

    async def _run(
        self,
        variants: Callable[[], Awaitable[list[str]]],
        check: Callable[[str], Awaitable[Any]],
    ) -> None:
        while True:
            await asyncio.sleep(self.settings.check_interval_seconds)
            try:
                for variant in await variants():
                    await check(variant)
            except Exception:  # a failed check must not end the monitor
                log.exception("scheduled drift check failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

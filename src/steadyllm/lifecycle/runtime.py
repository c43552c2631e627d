"""The lifecycle runtime: every part, built over the records' database.

:class:`Lifecycle` holds the parts on the gateway (``gateway.lifecycle``), built in
``Gateway.start`` over the records' database (memory for ``memory://``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from steadyllm.lifecycle.drift import DriftMonitor
from steadyllm.lifecycle.evaluation import Chat
from steadyllm.lifecycle.export import LearningExporter
from steadyllm.lifecycle.feedback import FeedbackStore, OutcomesById
from steadyllm.lifecycle.records import (
    DriftDetection,
    LearningExport,
    Outcome,
    PromptVersion,
    RetrainingSession,
)
from steadyllm.lifecycle.retraining import Retraining, ShadowRunner
from steadyllm.lifecycle.rows import open_rows
from steadyllm.lifecycle.settings import LifecycleSettings
from steadyllm.lifecycle.versions import VersionRegistry
from steadyllm.stores.base import RecordStore
from steadyllm.stores.sql.engine import Database
from steadyllm.stores.sql.schema import (
    CONVERSATION_OUTCOMES,
    DRIFT_DETECTIONS,
    LEARNING_EXPORTS,
    MODEL_VERSIONS,
    RETRAINING_SESSIONS,
)

__all__ = ["Lifecycle", "LifecycleSettings", "ShadowRunner"]

log = logging.getLogger("steadyllm.lifecycle")


class Lifecycle:
    def __init__(
        self,
        settings: LifecycleSettings,
        database: Database | None,
        records: RecordStore | None,
        chat: Chat,
        *,
        shadow: Callable[[], ShadowRunner | None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.versions = VersionRegistry(
            open_rows(database, MODEL_VERSIONS, PromptVersion),
            cache_seconds=settings.active_cache_seconds,
            clock=clock,
        )
        self.feedback = FeedbackStore(
            open_rows(database, CONVERSATION_OUTCOMES, Outcome),
            records,
            settings.outcomes,
            clock=clock,
            active_version=self._active_version,
        )
        self.drift = DriftMonitor(
            open_rows(database, DRIFT_DETECTIONS, DriftDetection),
            self.feedback,
            settings.drift,
            clock=clock,
        )
        self.retraining = Retraining(
            open_rows(database, RETRAINING_SESSIONS, RetrainingSession),
            feedback=self.feedback,
            versions=self.versions,
            drift=self.drift,
            chat=chat,
            settings=settings.retraining,
            evaluation=settings.evaluation,
            shadow=shadow,
            clock=clock,
        )
        self.exporter = LearningExporter(
            open_rows(database, LEARNING_EXPORTS, LearningExport), self.feedback, clock=clock
        )
        # ``outcomes.outcomes(request_ids=..., conversation_ids=...)``: experiment results.
        self.outcomes = OutcomesById(self.feedback)
        self._resume: asyncio.Task[Any] | None = None

    async def _active_version(self, variant: str) -> int | None:
        active = await self.versions.active(variant)
        return None if active is None else active.version

    async def _variants(self) -> list[str]:
        return [str(entry["variant"]) for entry in await self.versions.list()]

    async def start(self) -> None:
        """Start the hourly drift check and continue retraining a past process left open."""
        self.drift.start(self._variants, self.scheduled_check)
        self._resume = asyncio.create_task(self._resume_sessions(), name="steadyllm-retraining")

    async def scheduled_check(self, variant: str) -> RetrainingSession | None:
        """The hourly check: detect drift, and start retraining when the triggers hold."""
        result = await self.retraining.check(variant)
        if not (result["shouldRetrain"] and self.settings.retraining.auto_start):
            return None
        open_sessions = [
            s
            for s in await self.retraining.history(variant, limit=20)
            if s.status in ("running", "awaiting_finalize")
        ]
        if open_sessions:
            return None
        trigger = {
            "type": "drift",
            "detectionId": result["detection"]["id"],
            "reasons": result["reasons"],
        }
        return await self.retraining.start(variant, trigger=trigger)

    async def _resume_sessions(self) -> None:
        try:
            await self.retraining.resume()
        except Exception:
            log.exception("resuming retraining sessions failed")

    async def stop(self) -> None:
        await self.drift.stop()
        if self._resume is not None:
            self._resume.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resume
            self._resume = None

    async def status(self) -> dict[str, Any]:
        variants = await self.versions.list()
        detections = await self.drift.history(limit=20)
        latest: dict[str, dict[str, Any]] = {}
        for detection in detections:
            latest.setdefault(
                detection.variant,
                {
                    "driftDetected": detection.drift_detected,
                    "severity": detection.severity,
                    "timestamp": detection.detected_at,
                },
            )
        sessions = await self.retraining.history(limit=20)
        return {
            "versions": variants,
            "drift": {"latest": latest, "alerts": sum(1 for d in detections if d.drift_detected)},
            "retraining": {
                "active": [
                    s.to_json() for s in sessions if s.status in ("running", "awaiting_finalize")
                ],
                "last": sessions[0].to_json() if sessions else None,
            },
        }

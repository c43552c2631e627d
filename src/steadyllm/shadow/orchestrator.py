"""Shadow deployments: copy live traffic to a candidate variant, compare, promote.

The primary answer always goes to the user. A sampled copy of the request is put on
a bounded queue (full: dropped and counted) and run by background workers through
the inner part of the pipeline (route ... provider, plus the record stage), under
the shadow tenant so it is billed apart, and never through the cache. Each pair of
answers becomes a stored :class:`ShadowComparison`; ``promotion_check`` applies the
criteria, ``promote`` and ``rollback`` switch the live variant for every replica.

The running test (definition, sample count) lives in a :class:`ShadowState` — Redis
when ``store.redis_url`` is set, so any replica can start, promote, roll back or stop
it — and its history in a :class:`HistoryStore` (SQL when ``store.url`` is SQL).
Shadow calls spend their own daily budget (:class:`ShadowBudget`); when it is used
up the copy is skipped and counted in ``droppedBudget``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from steadyllm.call import Call, Principal, Response
from steadyllm.errors import Conflict, InvalidRequest, RateLimited
from steadyllm.pipeline import Handler
from steadyllm.policy.assignment import in_sample
from steadyllm.policy.promotion import (
    PromotionCriteria,
    ShadowFigures,
    check,
    next_ramp,
)
from steadyllm.shadow.budget import ShadowBudget
from steadyllm.shadow.comparison import ShadowComparison, compare
from steadyllm.shadow.session import ShadowSession
from steadyllm.shadow.state import MemoryShadowState, ShadowState
from steadyllm.shadow.store import ComparisonStore, HistoryStore, MemoryHistoryStore
from steadyllm.variants.live import LiveVariants
from steadyllm.variants.settings import ShadowSettings

__all__ = ["ShadowJob", "ShadowOrchestrator", "ShadowSession"]

log = logging.getLogger("steadyllm.shadow")

# A shadow call yields to primary work: it starts only once the event loop runs a
# round of ready callbacks in under QUIET_LAG seconds, checking every DEFER_STEP
# seconds, for at most DEFER_LIMIT checks (then it runs anyway, so it is never starved).
QUIET_LAG = 0.0005
DEFER_STEP = 0.002
DEFER_LIMIT = 50

ApplyVariant = Callable[[str, Mapping[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(slots=True)
class ShadowJob:
    session: ShadowSession
    request_id: str
    body: dict[str, Any]  # the client's body, before any variant was applied
    metadata: dict[str, str]
    primary_body: dict[str, Any] | None
    primary_text: str | None
    primary_ms: float
    primary_cost: float | None


@dataclass(slots=True)
class _Counters:
    enqueued: int = 0
    dropped: int = 0
    dropped_budget: int = 0
    errors: int = 0
    completed: int = 0


class ShadowOrchestrator:
    def __init__(
        self,
        settings: ShadowSettings,
        store: ComparisonStore,
        live: LiveVariants,
        apply_variant: ApplyVariant,
        *,
        state: ShadowState | None = None,
        history: HistoryStore | None = None,
        budget: ShadowBudget | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.state: ShadowState = state or MemoryShadowState()
        self.history_store: HistoryStore = history or MemoryHistoryStore()
        self.budget = budget
        self.live = live
        self._apply = apply_variant
        self._clock = clock
        self._handler: Handler | None = None
        self._queue: asyncio.Queue[ShadowJob] = asyncio.Queue(settings.queue_size)
        self._workers: list[asyncio.Task[None]] = []
        # This replica's copy of the running test (``refresh`` keeps it at most a
        # second behind the shared state); control calls read the state itself.
        self.session: ShadowSession | None = None
        self.counters = _Counters()
        self.criteria = PromotionCriteria(**settings.criteria.model_dump())

    # --- lifecycle --------------------------------------------------------------------

    def start_workers(self, handler: Handler) -> None:
        self._handler = handler
        if not self._workers:
            self._workers = [
                asyncio.create_task(self._work(), name=f"shadow-{i}")
                for i in range(self.settings.workers)
            ]

    async def close(self, timeout: float = 5.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []

    async def drain(self) -> None:
        """Wait until every queued shadow call is compared (tests, shutdown)."""
        await self._queue.join()

    # --- the request path -------------------------------------------------------------

    async def refresh(self) -> ShadowSession | None:
        """The running test from the shared state's local copy (I/O at most once a
        second per replica)."""
        self.session = await self.state.current()
        return self.session

    def wants(self, variant: str | None, subject: str) -> ShadowSession | None:
        """The session that should shadow this call, or None (cheap: no I/O)."""
        session = self.session
        if session is None or variant != session.primary_variant:
            return None
        if not in_sample(session.id, subject, session.traffic_percent):
            return None
        return session

    def offer(self, job: ShadowJob) -> bool:
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.counters.dropped += 1
            return False
        self.counters.enqueued += 1
        return True

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await _wait_for_quiet()
                await self._run(job)
            except Exception:
                log.exception("shadow comparison failed for %s", job.request_id)
            finally:
                self._queue.task_done()

    async def _run(self, job: ShadowJob) -> None:
        assert self._handler is not None
        session = job.session
        body = await self._apply(session.shadow_variant, job.body)
        body["stream"] = False
        body.pop("stream_options", None)
        call = Call(
            request_id=f"{job.request_id}-shadow",
            kind="chat",
            body=body,
            principal=Principal(tenant=self.settings.tenant),
            variant=session.shadow_variant,
            metadata={**job.metadata, "shadow_of": job.request_id, "shadow": "true"},
        )
        ticket = None
        if self.budget is not None:
            try:
                ticket = await self.budget.reserve(call)
            except RateLimited:
                self.counters.dropped_budget += 1
                return
        started = time.perf_counter()
        error: str | None = None
        response: Response | None = None
        try:
            response = await self._handler(call)
        except Exception as exc:  # the shadow's failure is data, not the user's problem
            error = type(exc).__name__ + (f": {exc}" if str(exc) else "")
            self.counters.errors += 1
        finally:
            if ticket is not None and self.budget is not None:
                await self.budget.settle(ticket, call, response)
        shadow_ms = (time.perf_counter() - started) * 1000
        comparison = compare(
            id=uuid.uuid4().hex,
            session_id=session.id,
            request_id=job.request_id,
            created_at=self._clock(),
            primary_variant=session.primary_variant,
            shadow_variant=session.shadow_variant,
            primary_body=job.primary_body,
            primary_text=job.primary_text,
            shadow_body=response.body if response is not None else None,
            primary_ms=job.primary_ms,
            shadow_ms=shadow_ms,
            primary_cost=job.primary_cost,
            shadow_cost=response.cost if response is not None else None,
            shadow_error=error,
        )
        await self.store.add(comparison)
        self.counters.completed += 1
        samples = await self.state.add_sample(session.id)
        if session.auto_promote:
            await self._auto_step(session.id, samples)

    # --- the control API (HTTP routes and the lifecycle retraining call these) ---------

    async def start(
        self,
        shadow_variant: str,
        primary_variant: str,
        traffic_percent: float = 10.0,
        target_samples: int = 100,
        auto_promote: bool = False,
        routes: tuple[str, ...] | None = None,
    ) -> dict[str, Any]:
        if shadow_variant == primary_variant:
            raise InvalidRequest("The shadow and primary variants must differ.")
        if not 0 < traffic_percent <= 100:
            raise InvalidRequest("'trafficPercent' must be in (0, 100].", param="trafficPercent")
        if target_samples < 1:
            raise InvalidRequest("'targetSamples' must be positive.", param="targetSamples")
        if routes is None:
            live = await self.live.all()
            routes = tuple(sorted(r for r, v in live.items() if v == primary_variant))
        session = ShadowSession(
            id=uuid.uuid4().hex,
            shadow_variant=shadow_variant,
            primary_variant=primary_variant,
            routes=routes,
            traffic_percent=float(traffic_percent),
            target_samples=int(target_samples),
            auto_promote=auto_promote,
            started_at=self._clock(),
        )
        if not await self.state.begin(session):
            raise Conflict("A shadow test is already running; stop it first.")
        self.session = session
        await self._history("start", session)
        return await self.status()

    async def _running(self) -> ShadowSession:
        session = await self.state.fresh()
        self.session = session
        if session is None:
            raise Conflict("No shadow test is running.")
        return session

    async def stop(self) -> dict[str, Any]:
        session = await self._running()
        if await self.state.end(session.id):
            await self._history("stop", session)
        self.session = None
        return await self.status()

    async def status(self) -> dict[str, Any]:
        session = await self.state.fresh()
        self.session = session
        base = {
            "active": session is not None,
            "enqueued": self.counters.enqueued,
            "dropped": self.counters.dropped,
            "droppedBudget": self.counters.dropped_budget,
            "queueSize": self._queue.qsize(),
        }
        if session is None:
            return base
        samples = await self.state.samples(session.id)
        return {
            **base,
            "sessionId": session.id,
            "shadowVariant": session.shadow_variant,
            "primaryVariant": session.primary_variant,
            "routes": list(session.routes),
            "trafficPercent": session.traffic_percent,
            "samplesCollected": samples,
            "targetSamples": session.target_samples,
            "progress": min(1.0, samples / session.target_samples),
            "autoPromote": session.auto_promote,
        }

    async def _figures(self, session_id: str) -> tuple[ShadowFigures, list[ShadowComparison]]:
        comparisons = await self.store.list(session_id, limit=self.settings.max_comparisons)
        ok = [c for c in comparisons if c.shadow_error is None]
        primary_costs = [c.primary_cost for c in ok if c.primary_cost is not None]
        shadow_costs = [c.shadow_cost for c in ok if c.shadow_cost is not None]
        figures = ShadowFigures(
            samples=len(comparisons),
            shadow_errors=len(comparisons) - len(ok),
            avg_primary_ms=_mean([c.primary_duration_ms for c in ok]),
            avg_shadow_ms=_mean([c.shadow_duration_ms for c in ok]),
            avg_primary_cost=_mean(primary_costs),
            avg_shadow_cost=_mean(shadow_costs),
        )
        return figures, comparisons

    async def _session_id(self) -> str:
        session = await self.state.fresh()
        if session is not None:
            return session.id
        for entry in reversed(await self.history_store.list()):
            if entry["action"] == "start":
                return str(entry["sessionId"])
        raise Conflict("No shadow test has run yet.")

    async def analysis(self, session_id: str | None = None) -> dict[str, Any]:
        session_id = session_id or await self._session_id()
        figures, comparisons = await self._figures(session_id)
        n = len(comparisons)
        return {
            "totalComparisons": n,
            "differenceRate": sum(c.is_different for c in comparisons) / n if n else 0.0,
            "actionDifferenceRate": sum(c.action_differs for c in comparisons) / n if n else 0.0,
            "avgDifferenceScore": _mean([c.difference_score for c in comparisons]),
            "avgPrimaryDuration": figures.avg_primary_ms,
            "avgShadowDuration": figures.avg_shadow_ms,
            "avgLatencyDelta": figures.avg_shadow_ms - figures.avg_primary_ms,
            "performanceDelta": figures.performance_delta,
            "errorRate": figures.error_rate,
            "avgPrimaryCost": figures.avg_primary_cost,
            "avgShadowCost": figures.avg_shadow_cost,
            "costIncrease": figures.cost_increase,
        }

    async def promotion_check(self, session_id: str | None = None) -> dict[str, Any]:
        session_id = session_id or await self._session_id()
        figures, _ = await self._figures(session_id)
        decision = check(figures, self.criteria)
        return {
            "shouldPromote": decision.should_promote,
            "reasons": decision.reasons,
            "analysis": await self.analysis(session_id),
            "threshold": {
                "minSamples": self.criteria.min_samples,
                "maxErrorRate": self.criteria.max_error_rate,
                "maxCostIncrease": self.criteria.max_cost_increase,
                "minPerformanceImprovement": self.criteria.min_performance_improvement,
            },
        }

    async def promote(self) -> dict[str, Any]:
        """Make the shadow variant live on the session's routes and end the session."""
        session = await self._running()
        check_result = await self.promotion_check(session.id)
        if not await self.state.end(session.id):
            raise Conflict("The shadow test ended meanwhile.")
        self.session = None
        previous = await self.live.all()
        for route in session.routes:
            await self.live.set(route, session.shadow_variant)
        entry = await self._history(
            "promote",
            session,
            previous={r: previous.get(r) for r in session.routes},
            check=check_result["shouldPromote"],
        )
        return {"promoted": True, "live": await self.live.all(), "history": entry}

    async def rollback(self) -> dict[str, Any]:
        """Reject a running shadow test (the primary stays live), or, when none runs,
        undo the last promotion: each route goes back to its previous variant."""
        session = await self.state.fresh()
        if session is not None and await self.state.end(session.id):
            self.session = None
            entry = await self._history("rollback", session, restored={})
            return {"rolledBack": True, "live": await self.live.all(), "history": entry}
        for entry in reversed(await self.history_store.list()):
            if entry["action"] == "rollback":
                break
            if entry["action"] == "promote":
                for route, variant in entry["previous"].items():
                    if variant is not None:
                        await self.live.set(route, variant)
                record = {
                    "action": "rollback",
                    "at": self._clock(),
                    "sessionId": entry["sessionId"],
                    "shadowVariant": entry["shadowVariant"],
                    "primaryVariant": entry["primaryVariant"],
                    "restored": entry["previous"],
                }
                await self.history_store.add(record)
                return {"rolledBack": True, "live": await self.live.all(), "history": record}
        raise Conflict("There is no promotion to roll back.")

    async def history(self) -> list[dict[str, Any]]:
        return await self.history_store.list()

    async def _auto_step(self, session_id: str, samples: int) -> None:
        session = await self.state.fresh()
        if session is None or session.id != session_id:
            return
        figures, _ = await self._figures(session.id)
        if not check(figures, self.criteria).should_promote:
            return
        if session.traffic_percent < 100.0:
            ramped = replace(
                session, traffic_percent=next_ramp(session.traffic_percent, self.settings.ramp_step)
            )
            if await self.state.update(ramped):
                self.session = ramped
                await self._history("ramp", ramped)
        elif samples >= session.target_samples:
            with contextlib.suppress(Conflict):  # another replica promoted it first
                await self.promote()

    async def _history(self, action: str, session: ShadowSession, **extra: Any) -> dict[str, Any]:
        entry = {
            "action": action,
            "at": self._clock(),
            "sessionId": session.id,
            "shadowVariant": session.shadow_variant,
            "primaryVariant": session.primary_variant,
            "trafficPercent": session.traffic_percent,
            **extra,
        }
        await self.history_store.add(entry)
        return entry


async def _wait_for_quiet() -> None:
    for _ in range(DEFER_LIMIT):
        started = time.perf_counter()
        await asyncio.sleep(0)
        if time.perf_counter() - started < QUIET_LAG:
            return
        await asyncio.sleep(DEFER_STEP)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0

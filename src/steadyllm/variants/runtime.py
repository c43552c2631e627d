"""Everything variants need at run time, built once in ``Gateway.start``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from steadyllm.config import Settings
from steadyllm.experiments.registry import ExperimentRegistry
from steadyllm.experiments.results import OutcomeSource
from steadyllm.experiments.store import (
    ExperimentStore,
    MemoryExperimentStore,
    SqlExperimentStore,
)
from steadyllm.limits.access import Access
from steadyllm.pipeline import Handler, Stage, fold
from steadyllm.shadow.budget import ShadowBudget
from steadyllm.shadow.orchestrator import ShadowOrchestrator
from steadyllm.shadow.state import MemoryShadowState, RedisShadowState, ShadowState
from steadyllm.shadow.store import (
    ComparisonStore,
    HistoryStore,
    MemoryComparisonStore,
    MemoryHistoryStore,
    SqlComparisonStore,
    SqlHistoryStore,
)
from steadyllm.stages.variant import VariantStage
from steadyllm.stores import Stores
from steadyllm.variants.book import PromptSource, VariantBook
from steadyllm.variants.live import LiveVariants, MemoryLiveVariants, RedisLiveVariants

__all__ = ["SHADOW_STAGES", "Variants"]

log = logging.getLogger("steadyllm.variants")

# How often each replica re-reads the running experiments from the store.
EXPERIMENTS_REFRESH_SECONDS = 5.0

# The inner part of the pipeline a shadow call runs through: recorded (under the
# shadow tenant), routed and made resilient, but never authenticated, limited
# against the user's budget, or cached.
SHADOW_STAGES = frozenset(
    {"record", "route", "fallback", "retry", "breaker", "validate", "guard_out"}
)


class Variants:
    def __init__(
        self,
        settings: Settings,
        live: LiveVariants,
        comparisons: ComparisonStore,
        experiments: ExperimentStore,
        prompts: PromptSource | None,
        *,
        state: ShadowState | None = None,
        history: HistoryStore | None = None,
        budget: ShadowBudget | None = None,
    ) -> None:
        config = settings.variants
        self.settings = config
        self.live = live
        self.book = VariantBook(config.definitions, prompts)
        self.experiments = ExperimentRegistry(experiments)
        self.shadow = ShadowOrchestrator(
            config.shadow,
            comparisons,
            live,
            self.book.apply,
            state=state,
            history=history,
            budget=budget,
        )
        self.outcomes: OutcomeSource | None = None
        self._shutdown_timeout = settings.server.shutdown_timeout
        self._refresh: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        settings: Settings,
        stores: Stores,
        prompts: PromptSource | None = None,
        *,
        access: Access | None = None,
    ) -> Variants:
        """``access`` (the gateway's limiter and prices) enforces the shadow budget."""
        routes = dict(settings.variants.routes)
        shadow_settings = settings.variants.shadow
        live: LiveVariants
        state: ShadowState
        if settings.store.redis_url is not None:
            from steadyllm.stores.redis import redis_client

            client = redis_client(settings.store.redis_url)
            redis_live = RedisLiveVariants(client, settings.store.redis_prefix, routes)
            await redis_live.start()
            live = redis_live
            state = RedisShadowState(client, settings.store.redis_prefix)
        else:
            live = MemoryLiveVariants(routes)
            state = MemoryShadowState()
        comparisons: ComparisonStore
        experiments: ExperimentStore
        history: HistoryStore
        if stores.database is not None:
            comparisons = SqlComparisonStore(stores.database)
            experiments = SqlExperimentStore(stores.database)
            history = SqlHistoryStore(stores.database)
        else:
            comparisons = MemoryComparisonStore(shadow_settings.max_comparisons)
            experiments = MemoryExperimentStore()
            history = MemoryHistoryStore()
        budget = None
        if access is not None and shadow_settings.daily_budget_usd is not None:
            budget = ShadowBudget(
                access.limiter,
                access.pricing,
                daily_usd=shadow_settings.daily_budget_usd,
                tenant=shadow_settings.tenant,
                default_output_tokens=access.settings.default_output_tokens,
            )
        variants = cls(
            settings,
            live,
            comparisons,
            experiments,
            prompts,
            state=state,
            history=history,
            budget=budget,
        )
        await variants.experiments.load()
        return variants

    def stage(self) -> VariantStage:
        return VariantStage(self.settings, self.book, self.live, self.experiments, self.shadow)

    def start(self, stages: Sequence[Stage], innermost: Handler) -> None:
        """Start the shadow workers on the inner part of ``stages``."""
        inner = [stage for stage in stages if stage.name in SHADOW_STAGES]
        self.shadow.start_workers(fold(inner, innermost))
        if self._refresh is None:
            self._refresh = asyncio.create_task(self._refresh_experiments())

    async def _refresh_experiments(self) -> None:
        """Experiments created or stopped on another replica reach this one."""
        while True:
            await asyncio.sleep(EXPERIMENTS_REFRESH_SECONDS)
            try:
                await self.experiments.load()
            except Exception:  # the store is down: keep the last known experiments
                log.warning("could not refresh the running experiments", exc_info=True)

    def connect(self, lifecycle: Any) -> None:
        """Take the lifecycle's prompt versions and outcomes, where it has them."""
        if lifecycle is None:
            return
        versions = getattr(lifecycle, "versions", None)
        if versions is not None and hasattr(versions, "active_prompt"):
            self.book.prompts = versions
        outcomes = getattr(lifecycle, "outcomes", None)
        if outcomes is not None and hasattr(outcomes, "outcomes"):
            self.outcomes = outcomes

    async def close(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh
            self._refresh = None
        await self.shadow.close(self._shutdown_timeout)
        await self.live.close()

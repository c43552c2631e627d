"""The parts the fallback, retry and breaker stages share, built once per gateway.

:class:`Resilience` holds the breakers (memory, or Redis when ``store.redis_url`` is
set), the retry budget's counters, per-deployment policies, the load figures that
balancing and hedging read, and the counters of ``GET /api/reliability/metrics``.
The clock, the sleep and the random source are injectable, so tests never wait.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from steadyllm.call import Call, Deployment
from steadyllm.config import ConfigError, StoreSettings
from steadyllm.policy import balancing
from steadyllm.policy import breaker as transitions
from steadyllm.policy.backoff import BackoffPolicy
from steadyllm.policy.retry_budget import BudgetPolicy
from steadyllm.resilience.breaker import BreakerRegistry, CircuitBreaker
from steadyllm.resilience.budget import MemoryRetryBudget, RedisRetryBudget, RetryBudgetStore
from steadyllm.resilience.degraded import (
    FailSafeBreakerStore,
    FailSafeRetryBudget,
    SharedState,
    shared_state,
)
from steadyllm.resilience.settings import ResilienceSettings
from steadyllm.resilience.state import (
    REUSE_FOR,
    BreakerStore,
    MemoryBreakerStore,
    RedisBreakerStore,
)
from steadyllm.resilience.stats import DeploymentLoad, RetryStats

__all__ = ["Resilience"]

Sleep = Callable[[float], Awaitable[None]]
_MAX_COOLDOWNS = 10_000


class Resilience:
    def __init__(
        self,
        settings: ResilienceSettings,
        *,
        breakers: BreakerStore | None = None,
        budget: RetryBudgetStore | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        closers: Sequence[Callable[[], Awaitable[Any]]] = (),
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.registry = BreakerRegistry(
            breakers or MemoryBreakerStore(), policy=settings.breaker.policy(), clock=clock
        )
        self.budget: RetryBudgetStore = budget or MemoryRetryBudget()
        self.budget_policy: BudgetPolicy = settings.budget.policy()
        self.stats = RetryStats()
        self.load = DeploymentLoad(
            alpha=settings.latency_alpha, stale_after=settings.latency_stale_after
        )
        self._retry: dict[str, BackoffPolicy] = {}
        self._breakers: dict[str, CircuitBreaker | None] = {}
        self._cooldowns: dict[str, float] = {}  # deployment -> until (429 Retry-After)
        self._closers = closers
        self.shared_state: SharedState | None = None  # set when the state is in Redis

    @classmethod
    async def open(
        cls,
        settings: ResilienceSettings,
        store: StoreSettings,
        *,
        redis_prefix: str | None = None,
        **options: Any,
    ) -> Resilience:
        """Breakers and budget in memory, or in Redis when ``store.redis_url`` is set, under
        ``redis_prefix`` (default ``store.redis_prefix``, which replicas share)."""
        if store.redis_url is None:
            return cls(settings, **options)
        try:
            from steadyllm.stores.redis import redis_client
        except ImportError:
            raise ConfigError(
                "store.redis_url needs the redis package: pip install 'steadyllm[redis]'"
            ) from None
        client = redis_client(store.redis_url)
        try:
            await client.ping()
        except BaseException:
            await client.aclose()
            raise
        prefix = (store.redis_prefix if redis_prefix is None else redis_prefix) + "resilience:"
        # Redis down: each replica goes on with its own state rather than fail calls.
        guard = shared_state()
        resilience = cls(
            settings,
            breakers=FailSafeBreakerStore(
                RedisBreakerStore(client, prefix=prefix, owns_client=False, reuse_for=REUSE_FOR),
                guard,
            ),
            budget=FailSafeRetryBudget(
                RedisRetryBudget(client, prefix=prefix, owns_client=False), guard
            ),
            closers=(client.aclose,),
            **options,
        )
        resilience.shared_state = guard
        return resilience

    def configure(self, models: Mapping[str, Iterable[Deployment]]) -> None:
        """Build each deployment's policies; check that named fallback models exist."""
        settings = self.settings
        for kind, table in (
            ("context_window_fallbacks", settings.context_window_fallbacks),
            ("content_policy_fallbacks", settings.content_policy_fallbacks),
        ):
            for source, target in table.items():
                for name in (source, target):
                    if name not in models:
                        raise ConfigError(f"resilience.{kind}: unknown model {name!r}")
        for kind, names in (
            ("models", settings.models),
            ("deployments", settings.deployments),
        ):
            known = (
                set(models)
                if kind == "models"
                else {d.name for group in models.values() for d in group}
            )
            for name in names:
                if name not in known:
                    raise ConfigError(f"resilience.{kind}: unknown {kind[:-1]} {name!r}")
        for group in models.values():
            for deployment in group:
                self._policies(deployment)

    def _policies(self, deployment: Deployment) -> None:
        model, name = deployment.model_group, deployment.name
        self._retry[name] = self.settings.retry_for(model, name).policy()
        breaker = self.settings.breaker_for(model, name)
        self._breakers[name] = (
            self.registry.get(name, breaker.policy()) if breaker.enabled else None
        )

    def retry_policy(self, deployment: Deployment) -> BackoffPolicy:
        if deployment.name not in self._retry:
            self._policies(deployment)
        return self._retry[deployment.name]

    def breaker(self, deployment: Deployment) -> CircuitBreaker | None:
        if deployment.name not in self._breakers:
            self._policies(deployment)
        return self._breakers[deployment.name]

    # --- availability -----------------------------------------------------------------

    def cool_down(self, deployment: Deployment, seconds: float) -> None:
        """The upstream answered 429 with Retry-After: prefer others until then."""
        seconds = min(seconds, self.settings.retry_after_cap)
        if seconds <= 0:
            return
        if len(self._cooldowns) >= _MAX_COOLDOWNS:
            now = self.clock()
            for name in [n for n, until in self._cooldowns.items() if until <= now]:
                del self._cooldowns[name]
            if len(self._cooldowns) >= _MAX_COOLDOWNS:
                return
        self._cooldowns[deployment.name] = self.clock() + seconds

    def cooling(self, deployment: Deployment) -> bool:
        until = self._cooldowns.get(deployment.name)
        if until is None:
            return False
        if until <= self.clock():
            del self._cooldowns[deployment.name]
            return False
        return True

    async def admits(self, deployment: Deployment) -> tuple[bool, float]:
        """Whether the deployment's breaker lets a call through now (and if not, when)."""
        breaker = self.breaker(deployment)
        if breaker is None:
            return True, 0.0
        return await breaker.available()

    async def can_take_over(self, call: Call, current: Deployment) -> bool:
        """Whether a later candidate of the same model could answer now."""
        plan = call.plan
        try:
            position = plan.index(current)
        except ValueError:
            return False
        for candidate in plan[position + 1 :]:
            if candidate.model_group != current.model_group or self.cooling(candidate):
                continue
            if (await self.admits(candidate))[0]:
                return True
        return False

    # --- balancing ----------------------------------------------------------------------

    def order(
        self, model: str, deployments: Sequence[Deployment], rng: random.Random
    ) -> list[Deployment]:
        """One model's deployments, best first, by its balancing strategy (for the router)."""
        if len(deployments) <= 1:
            return list(deployments)
        strategy = self.settings.balancing_for(model)
        now = self.clock()
        indices = balancing.order(
            strategy,
            weights=[d.weight for d in deployments],
            latencies=[self.load.latency(d.name, now) for d in deployments]
            if strategy == "least_latency"
            else [],
            in_flight=[self.load.in_flight(d.name) for d in deployments]
            if strategy == "least_in_flight"
            else [],
            rng=rng,
        )
        return [deployments[i] for i in indices]

    def hedge_delay(self, deployment: Deployment) -> float | None:
        hedging = self.settings.hedging
        if not hedging.enabled:
            return None
        if hedging.delay is not None:
            return hedging.delay
        return self.load.quantile(deployment.name, hedging.quantile, hedging.min_samples)

    # --- metrics ----------------------------------------------------------------------

    async def metrics(self) -> dict[str, Any]:
        breakers: dict[str, Any] = {}
        now = self.clock()
        for name, breaker in self._breakers.items():
            if breaker is None:
                continue
            state = await breaker.state()
            due = transitions.next_attempt_time(state, breaker.policy)
            totals = breaker.totals
            breakers[name] = {
                "state": state.state.upper(),
                "failures": transitions.failure_count(state, breaker.policy, now),
                "successCount": totals.successes,
                "failureCount": totals.failures,
                "rejected": totals.rejected,
                "totalOpens": totals.opens,
                "totalCloses": totals.closes,
                "totalRequests": totals.requests,
                "nextAttemptTime": None if due is None else round(due * 1000),
            }
        shared = self.shared_state
        return {
            "retryPolicy": self.stats.snapshot(),
            "circuitBreakers": breakers,
            "stateStore": {"backend": "memory", "degraded": False, "failures": 0}
            if shared is None
            else {"backend": "redis", **shared.status()},
            "timestamp": now,
        }

    async def close(self) -> None:
        await self.registry.close()
        await self.budget.close()
        for closer in self._closers:
            await closer()

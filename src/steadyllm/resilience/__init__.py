"""Retries, retry budgets, circuit breakers and fallbacks.

The request path uses them through the ``fallback``, ``retry`` and ``breaker`` stages
(:mod:`steadyllm.resilience.runtime` holds their shared parts). Library users can
guard their own calls with the same breakers::

    from steadyllm.resilience import BreakerRegistry
    from steadyllm.policy.breaker import BreakerPolicy

    breakers = BreakerRegistry(policy=BreakerPolicy(failure_threshold=3))

    @breakers.get("search")
    async def search(query: str) -> list[str]: ...
"""

from steadyllm.resilience.breaker import BreakerRegistry, CircuitBreaker, is_failure
from steadyllm.resilience.errors import CircuitOpen, DeadlineExceeded, RetryBudgetExceeded
from steadyllm.resilience.settings import ResilienceSettings

__all__ = [
    "BreakerRegistry",
    "CircuitBreaker",
    "CircuitOpen",
    "DeadlineExceeded",
    "ResilienceSettings",
    "RetryBudgetExceeded",
    "is_failure",
]

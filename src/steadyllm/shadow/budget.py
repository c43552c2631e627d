"""The shadow calls' own daily budget, on the gateway's limiter.

Before a shadow call, its estimated cost (``policy.cost_estimate``, at the highest
price its model group may charge) is reserved from the counter
``usd:shadow:<tenant>:<day>`` — in Redis when the limiter is shared, so every replica
spends from one budget — and settled with the actual cost afterwards, exactly as
``LimitStage`` does for users. A refused reservation means the shadow copy is
skipped; the user's call has long been answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from steadyllm.call import Call, Response
from steadyllm.limits.limiter import Limiter, Ticket
from steadyllm.limits.rules import DAY, Rule
from steadyllm.policy.cost_estimate import estimate_call
from steadyllm.policy.pricing import PriceBook
from steadyllm.policy.rate_window import day_period

__all__ = ["ShadowBudget"]


class ShadowBudget:
    def __init__(
        self,
        limiter: Limiter,
        pricing: PriceBook,
        *,
        daily_usd: float,
        tenant: str,
        default_output_tokens: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limiter = limiter
        self._pricing = pricing
        self._daily = daily_usd
        self._tenant = tenant
        self._output_tokens = default_output_tokens
        self._clock = clock

    async def reserve(self, call: Call) -> Ticket:
        """Take the call's estimated cost; raises ``RateLimited`` when the budget is spent."""
        estimate = estimate_call(
            call.kind,
            call.body,
            self._pricing.ceiling(call.model),
            default_output_tokens=self._output_tokens,
        )
        day, day_left = day_period(self._clock())
        rule = Rule(
            "fixed",
            "budget_per_day",
            f"usd:shadow:{self._tenant}:{day}",
            self._daily,
            estimate.cost,
            day_left + DAY,
            "shadow",
            settles="cost",
            period_ends_in=day_left,
        )
        return await self._limiter.acquire([rule], call.request_id)

    async def settle(self, ticket: Ticket, call: Call, response: Response | None) -> None:
        """Replace the estimate with what the call cost (nothing, if it failed)."""
        cost = 0.0
        if response is not None:
            quoted = response.cost
            if quoted is None:
                quoted = self._pricing.quote(call.deployment, response.usage)
            cost = quoted or 0.0
        await self._limiter.settle(ticket, tokens=0, cost=cost)

"""Stage ``retry``: the gateway's only retry owner, against one deployment at a time.

Per failed attempt, :func:`steadyllm.policy.backoff.decide_retry` says whether to
wait and try the same deployment again: never for the caller's own errors; not when
another deployment of the model can answer right now (``failover_first``: the
``fallback`` stage moves on at once); else with backoff and jitter, at least the
upstream's ``Retry-After`` (up to ``retry_after_cap``), within the request's deadline.
Each retry must also be granted by the retry budget; a refused one fails the attempt
with :class:`~steadyllm.resilience.RetryBudgetExceeded`.
"""

from __future__ import annotations

import asyncio
import time

from steadyllm.call import Call, Response
from steadyllm.errors import InternalError, UpstreamFailure
from steadyllm.pipeline import Handler
from steadyllm.policy.backoff import decide_retry
from steadyllm.resilience.errors import CircuitOpen, DeadlineExceeded, RetryBudgetExceeded
from steadyllm.resilience.runtime import Resilience

__all__ = ["RetryStage", "deadline_of"]


def deadline_of(call: Call, resilience: Resilience) -> float:
    """The ``perf_counter`` time by which every attempt of ``call`` must be done."""
    return call.started + resilience.settings.deadline


def deadline_error(resilience: Resilience) -> DeadlineExceeded:
    return DeadlineExceeded(
        f"The request did not complete within its deadline of "
        f"{resilience.settings.deadline:g} s across all attempts."
    )


class RetryStage:
    name = "retry"

    def __init__(self, resilience: Resilience) -> None:
        self._resilience = resilience

    async def __call__(self, call: Call, call_next: Handler) -> Response:
        deployment = call.deployment
        if deployment is None:
            raise InternalError("no deployment chosen for this call")
        resilience = self._resilience
        stats = resilience.stats
        settings = resilience.settings
        policy = resilience.retry_policy(deployment)
        deadline = deadline_of(call, resilience)
        await resilience.budget.first_attempt(
            deployment.name, resilience.budget_policy, resilience.clock()
        )
        retries = 0
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                call.notes["deadline_exceeded"] = True
                raise deadline_error(resilience)
            stats.attempts += 1
            try:
                async with asyncio.timeout(remaining) as timer:
                    response = await call_next(call)
            except TimeoutError:
                if not timer.expired():
                    raise
                call.notes["deadline_exceeded"] = True
                raise deadline_error(resilience) from None
            except CircuitOpen:
                stats.attempts -= 1  # nothing was sent
                raise
            except UpstreamFailure as failure:
                if failure.upstream_status == 429 and failure.retry_after:
                    resilience.cool_down(deployment, failure.retry_after)
                alternative = (
                    settings.failover_first
                    and failure.retryable
                    and await resilience.can_take_over(call, deployment)
                )
                decision = decide_retry(
                    policy,
                    retries_done=retries,
                    retryable=failure.retryable,
                    client_error=failure.client_error,
                    retry_after=failure.retry_after,
                    retry_after_cap=settings.retry_after_cap,
                    remaining=deadline - time.perf_counter(),
                    alternative_available=alternative,
                    random_value=resilience.rng.random(),
                )
                if not decision.retry:
                    if decision.reason in ("exhausted", "deadline") and policy.max_retries:
                        stats.exhausted += 1
                    raise
                refused = await resilience.budget.take_retry(
                    deployment.name, resilience.budget_policy, resilience.clock()
                )
                if refused is not None:
                    stats.budget_exceeded += 1
                    call.notes["retry_budget_exceeded"] = refused
                    raise RetryBudgetExceeded(
                        deployment.name,
                        refused,
                        retry_after=max(decision.delay, settings.unavailable_retry_after),
                    ) from failure
                retries += 1
                stats.retries += 1
                call.notes["retries"] = call.notes.get("retries", 0) + 1
                await resilience.sleep(decision.delay)
                continue
            stats.successes += 1
            if retries:
                stats.success_after_retry += 1
            return response

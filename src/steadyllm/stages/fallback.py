"""Stage ``fallback``: walk the candidate deployments until one answers.

``route`` put the candidates in ``call.plan``: the model's deployments (ordered by
its balancing strategy), then its ``fallbacks`` models'. This stage tries them in
order and moves on when one fails with something another could fix (5xx, timeouts,
resets, malformed or invalid answers, an open breaker, a spent retry budget). It
never moves on for the caller's own errors (400, 401, 403, 404, 422), with two
configured exceptions: a request too long for the model's context window goes to
``resilience.context_window_fallbacks[model]``, and a content-policy refusal to
``resilience.content_policy_fallbacks[model]``. A request that plainly does not fit
a deployment's ``context_window`` skips it without a call.

Each step shows in the ``x-steadyllm-fallback`` response header and
``call.notes["fallback"]``. When nothing can answer, it raises ``ServiceUnavailable``
(503 with ``Retry-After``), which the cache stage may answer from a stale entry.
A stream that fails after its first token is not failed over: that failure comes
from the chunk iterator, after this stage has returned.

With ``hedging.enabled``, an attempt that has not answered within the deployment's
latency quantile (or ``hedging.delay``) gets a twin on the next available deployment
of the same model; the first answer wins and the other is cancelled. A hedge counts
against the retry budget of the deployment it goes to.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time

from steadyllm.call import Call, Deployment, Response
from steadyllm.errors import InvalidRequest, ServiceUnavailable, UpstreamFailure
from steadyllm.pipeline import Handler
from steadyllm.policy.fallback_rules import (
    estimate_request_tokens,
    fits_context,
    is_content_filtered,
    is_content_policy_error,
    is_context_length_error,
)
from steadyllm.resilience.errors import CircuitOpen, RetryBudgetExceeded
from steadyllm.resilience.runtime import Resilience
from steadyllm.routing import Router
from steadyllm.stages.retry import deadline_error, deadline_of

__all__ = ["FALLBACK_HEADER", "FallbackStage"]

FALLBACK_HEADER = "x-steadyllm-fallback"


def _reason(error: BaseException) -> str:
    if isinstance(error, CircuitOpen):
        return "breaker_open"
    if isinstance(error, RetryBudgetExceeded):
        return "retry_budget"
    if isinstance(error, UpstreamFailure):
        if error.kind == "status" and error.upstream_status is not None:
            return str(error.upstream_status)
        return error.kind
    return type(error).__name__


class FallbackStage:
    name = "fallback"

    def __init__(self, resilience: Resilience, router: Router) -> None:
        self._resilience = resilience
        self._router = router

    def _model_deployments(self, model: str) -> list[Deployment]:
        route = self._router.routes.get(model)
        if route is None:
            return []
        return self._resilience.order(model, route.deployments, self._resilience.rng)

    def _fit(self, call: Call, plan: list[Deployment]) -> list[Deployment]:
        """Drop deployments the request plainly does not fit; add the larger model."""
        needed = estimate_request_tokens(call.body)
        fitting = [d for d in plan if fits_context(needed, d.context_window)]
        if len(fitting) == len(plan):
            return plan
        call.notes["context_window_skipped"] = [d.name for d in plan if d not in fitting]
        target = self._resilience.settings.context_window_fallbacks.get(call.model)
        if target is not None:
            extra = [
                d
                for d in self._model_deployments(target)
                if d not in fitting and fits_context(needed, d.context_window)
            ]
            own = [i for i, d in enumerate(fitting) if d.model_group == call.model]
            at = own[-1] + 1 if own else 0
            fitting[at:at] = extra
        if not fitting:
            raise InvalidRequest(
                f"The request needs about {needed} tokens, more than the context window "
                f"of every deployment that serves `{call.model}`.",
                code="context_length_exceeded",
                param="messages",
            )
        return fitting

    def _cooled_last(self, plan: list[Deployment]) -> list[Deployment]:
        """Within each model, deployments cooling down after a 429 go last."""
        resilience = self._resilience
        if not any(resilience.cooling(d) for d in plan):
            return plan
        groups: dict[str, list[Deployment]] = {}
        for deployment in plan:
            groups.setdefault(deployment.model_group, []).append(deployment)
        ordered: list[Deployment] = []
        for members in groups.values():
            ordered.extend(sorted(members, key=resilience.cooling))
        return ordered

    async def __call__(self, call: Call, call_next: Handler) -> Response:
        resilience = self._resilience
        settings = resilience.settings
        plan = list(call.plan) if call.plan else []
        if not plan and call.deployment is not None:
            plan = [call.deployment]
        if any(d.context_window is not None for d in plan):
            plan = self._fit(call, plan)
        plan = self._cooled_last(plan)
        call.plan = plan
        deadline = deadline_of(call, resilience)
        steps = [
            f"{name} (context_window)" for name in call.notes.get("context_window_skipped", ())
        ]
        waits: list[float] = []
        last_error: BaseException | None = None
        extra_used: set[str] = set()
        done: set[str] = set()
        index = 0
        while index < len(plan):
            deployment = plan[index]
            index += 1
            if deployment.name in done:
                continue
            if time.perf_counter() >= deadline:
                raise deadline_error(resilience)
            allowed, wait = await resilience.admits(deployment)
            if not allowed:
                waits.append(wait)
                steps.append(f"{deployment.name} (breaker_open)")
                rejected = call.notes.setdefault("breaker_rejected", [])
                rejected.append(deployment.name)
                continue
            if steps:
                resilience.stats.failovers += 1
            call.deployment = deployment
            try:
                response = await self._attempt(call, call_next, deployment, done)
            except (CircuitOpen, RetryBudgetExceeded) as error:
                waits.append(error.retry_after or 0.0)
                steps.append(f"{deployment.name} ({_reason(error)})")
                last_error = error
                continue
            except UpstreamFailure as failure:
                done.add(deployment.name)
                target = self._client_error_target(call, failure, extra_used)
                if failure.client_error and target is None:
                    raise
                if not failure.client_error and not failure.retryable:
                    raise
                steps.append(f"{deployment.name} ({_reason(failure)})")
                if failure.retry_after:
                    waits.append(failure.retry_after)
                if target is not None:
                    extra_used.add(target)
                    plan[index:index] = self._model_deployments(target)
                last_error = failure
                continue
            done.add(call.deployment.name if call.deployment else deployment.name)
            target = settings.content_policy_fallbacks.get(call.model)
            if (
                target is not None
                and target not in extra_used
                and response.body is not None
                and is_content_filtered(response.body)
            ):
                extra_used.add(target)
                steps.append(f"{deployment.name} (content_filter)")
                plan[index:index] = self._model_deployments(target)
                continue
            if steps:
                answered = call.deployment.name if call.deployment else deployment.name
                call.response_headers[FALLBACK_HEADER] = " -> ".join([*steps, answered])
                call.notes["fallback"] = [*steps, answered]
            return response
        raise self._unavailable(call, steps, waits, last_error)

    def _client_error_target(
        self, call: Call, failure: UpstreamFailure, used: set[str]
    ) -> str | None:
        """The configured model to try after this refusal, if any (once per model)."""
        settings = self._resilience.settings
        status, code, message = failure.upstream_status, failure.code, failure.message
        target: str | None = None
        if is_context_length_error(status, code, message):
            target = settings.context_window_fallbacks.get(call.model)
        elif is_content_policy_error(status, code, message):
            target = settings.content_policy_fallbacks.get(call.model)
        if target is None or target in used:
            return None
        return target

    def _unavailable(
        self, call: Call, steps: list[str], waits: list[float], last: BaseException | None
    ) -> ServiceUnavailable:
        resilience = self._resilience
        resilience.stats.unavailable += 1
        positive = [w for w in waits if w > 0]
        retry_after = min(positive) if positive else resilience.settings.unavailable_retry_after
        call.notes["fallback"] = steps
        if isinstance(last, RetryBudgetExceeded) and len(steps) == 1:
            error: ServiceUnavailable = RetryBudgetExceeded(
                last.deployment, last.guard, retry_after=retry_after
            )
        else:
            detail = f" (last failure: {last.message})" if isinstance(last, UpstreamFailure) else ""
            error = ServiceUnavailable(
                f"The service is temporarily unavailable: no deployment of `{call.model}` "
                f"could answer{detail}. Retry after {max(1, round(retry_after + 0.499))} s.",
                retry_after=retry_after,
                code="no_deployment_available",
            )
        if steps:
            error.headers[FALLBACK_HEADER] = " -> ".join(steps)
        error.__cause__ = last
        return error

    # --- hedging ------------------------------------------------------------------------

    async def _attempt(
        self, call: Call, call_next: Handler, deployment: Deployment, done: set[str]
    ) -> Response:
        resilience = self._resilience
        delay = resilience.hedge_delay(deployment) if resilience.settings.hedging.enabled else None
        if delay is None:
            return await call_next(call)
        partner = await self._partner(call, deployment, done)
        if partner is None:
            return await call_next(call)
        primary = asyncio.ensure_future(call_next(call))
        finished, _ = await asyncio.wait({primary}, timeout=delay)
        if finished:
            return primary.result()
        refused = await resilience.budget.take_retry(
            partner.name, resilience.budget_policy, resilience.clock()
        )
        if refused is not None:
            resilience.stats.budget_exceeded += 1
            return await primary
        resilience.stats.hedges += 1
        twin = dataclasses.replace(call, deployment=partner, attempts=0, upstream_seconds=0.0)
        secondary = asyncio.ensure_future(call_next(twin))
        done.add(partner.name)
        call.notes["hedged"] = partner.name
        try:
            winner = await _first_success(primary, secondary)
        finally:
            call.attempts += twin.attempts
            call.upstream_seconds += twin.upstream_seconds
        if winner is secondary:
            resilience.stats.hedge_wins += 1
            call.deployment = partner
        return winner.result()

    async def _partner(
        self, call: Call, deployment: Deployment, done: set[str]
    ) -> Deployment | None:
        resilience = self._resilience
        for candidate in call.plan:
            if (
                candidate is deployment
                or candidate.name in done
                or candidate.model_group != deployment.model_group
                or resilience.cooling(candidate)
            ):
                continue
            if (await resilience.admits(candidate))[0]:
                return candidate
        return None


async def _first_success(
    primary: asyncio.Future[Response], secondary: asyncio.Future[Response]
) -> asyncio.Future[Response]:
    """The first of two attempts to answer; the other is cancelled (or closed).

    If both fail, the primary's failure is raised.
    """
    pending = {primary, secondary}
    try:
        while pending:
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in (primary, secondary):  # the primary wins a tie
                if future in finished and future.exception() is None:
                    for other in (primary, secondary):
                        if other is not future:
                            await _discard(other)
                    return future
        primary.result()  # both failed: raise the primary's failure
        return primary
    except BaseException:
        for future in (primary, secondary):
            await _discard(future)
        raise


async def _discard(future: asyncio.Future[Response]) -> None:
    if not future.done():
        future.cancel()
        with contextlib.suppress(BaseException):
            await future
        return
    if future.cancelled() or future.exception() is not None:
        return
    chunks = future.result().chunks
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()

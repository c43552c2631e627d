"""Stage ``limit``: take the call's limits before it runs, settle them after.

Request windows, tokens per minute, dollar budgets and the global concurrency cap
are taken in one atomic step from the estimate (``policy.cost_estimate``: tokens
from the prompt and ``max_tokens``, cost at the highest price the model and its
fallbacks may charge). When the call ends (a stream: when it ends, is cut or the
client leaves) the actual tokens and cost replace the estimate and the concurrency
slot is given back; a failed call gives back everything but its request count.

A caller with no limits at all (no key, no anonymous or global limits: the quick
start) passes straight through.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from steadyllm.call import Call, Response
from steadyllm.keys.settings import AccessSettings, Limits
from steadyllm.keys.store import ApiKey
from steadyllm.limits.limiter import Limiter, Ticket
from steadyllm.limits.rules import Subject, build_rules
from steadyllm.pipeline import Handler
from steadyllm.policy.cost_estimate import estimate_call
from steadyllm.policy.pricing import PriceBook
from steadyllm.stages.auth import API_KEY_NOTE

__all__ = ["LimitStage"]

_RESOLVED_KEYS = 10_000  # keys whose resolved limits are remembered


def _subject(call: Call, key: ApiKey | None) -> Subject:
    tenant = call.principal.tenant
    if key is not None:
        owner = key.user or key.id
        return Subject(rate=f"k:{key.id}", budget=f"{len(tenant)}:{tenant}:{owner}", scope="key")
    user = call.principal.user or "-"
    who = f"{len(tenant)}:{tenant}:{user}"
    return Subject(rate=f"a:{who}", budget=f"a:{who}", scope="anonymous")


class LimitStage:
    name = "limit"

    def __init__(
        self,
        limiter: Limiter,
        pricing: PriceBook,
        settings: AccessSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limiter = limiter
        self._pricing = pricing
        self._settings = settings
        self._global = settings.effective_global_limits()
        self._idle_anonymous = settings.anonymous.empty and all(
            v is None for v in self._global.model_dump().values()
        )
        self._clock = clock
        self._resolved: dict[tuple[str, float, str], Limits] = {}

    async def __call__(self, call: Call, call_next: Handler) -> Response:
        key: ApiKey | None = call.notes.get(API_KEY_NOTE)
        if key is None and self._idle_anonymous:
            return await call_next(call)
        settings = self._settings
        limits = self._limits_of(key) if key is not None else settings.anonymous
        estimate = estimate_call(
            call.kind,
            call.body,
            self._pricing.ceiling(call.model),
            default_output_tokens=settings.default_output_tokens,
        )
        rules = build_rules(
            _subject(call, key),
            limits,
            self._global,
            tokens=estimate.tokens,
            cost=estimate.cost,
            now=self._clock(),
            lease=settings.concurrency_lease_seconds,
        )
        if not rules:
            return await call_next(call)
        ticket = await self._limiter.acquire(rules, call.request_id)
        call.response_headers.update(ticket.headers())
        try:
            response = await call_next(call)
        except BaseException:
            await self._settle(ticket, call, None)
            raise
        if response.chunks is None:
            await self._settle(ticket, call, response)
            return response
        response.chunks = self._watch(ticket, call, response, response.chunks)
        return response

    def _limits_of(self, key: ApiKey) -> Limits:
        """A key's limits: its tier's, overridden by its own (resolved once per version
        of the key, not per request)."""
        version = (key.id, key.updated_at, key.tier)
        limits = self._resolved.get(version)
        if limits is None:
            limits = self._settings.tier(key.tier)
            if key.limits:
                limits = Limits.model_validate(key.limits).over(limits)
            if len(self._resolved) >= _RESOLVED_KEYS:
                self._resolved.pop(next(iter(self._resolved)))
            self._resolved[version] = limits
        return limits

    async def _settle(self, ticket: Ticket, call: Call, response: Response | None) -> None:
        if response is None:
            await self._limiter.settle(ticket, tokens=0, cost=0.0)
            return
        cost = response.cost
        if cost is None:
            cost = self._pricing.quote(call.deployment, response.usage)
            response.cost = cost
        await self._limiter.settle(ticket, tokens=response.usage.total_tokens, cost=cost or 0.0)

    async def _watch(
        self, ticket: Ticket, call: Call, response: Response, chunks: AsyncIterator[dict[str, Any]]
    ) -> AsyncIterator[dict[str, Any]]:
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            await self._settle(ticket, call, response)

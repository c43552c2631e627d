"""Stage ``cache``: answer from the response cache when it safely can.

After auth, limits and the input guard (the tenant is known), before route. The
response header ``x-steadyllm-cache`` and ``call.notes["cache"]`` (the call
record's ``cache_status``) say what happened:

- ``hit``: the exact request was answered before; ``semantic-hit``: a paraphrase
  was (``x-steadyllm-cache-similarity`` gives the score);
- ``miss``: looked up, not found, answered upstream (and kept if allowed);
- ``bypass``: not looked up (not cacheable, or ``Cache-Control: no-cache``);
- ``stale``: no deployment could answer (``ServiceUnavailable``) and an expired
  entry within ``stale_max_age`` did.

A hit is recorded with no deployment, no tokens and a cost of 0; the stats count
the original call's cost and latency as saved. Only chat calls are cached.
"""

from __future__ import annotations

import time

from steadyllm.cache.replay import replay_chunks, stream_of
from steadyllm.cache.runtime import Found, ResponseCache
from steadyllm.call import Call, Response, Usage
from steadyllm.errors import ServiceUnavailable
from steadyllm.pipeline import Handler
from steadyllm.policy.cache_key import request_key
from steadyllm.policy.cache_rules import decide

__all__ = ["AGE_HEADER", "CACHE_HEADER", "SIMILARITY_HEADER", "CacheStage"]

CACHE_HEADER = "x-steadyllm-cache"
SIMILARITY_HEADER = "x-steadyllm-cache-similarity"
AGE_HEADER = "x-steadyllm-cache-age"


def _mark(call: Call, status: str) -> None:
    call.notes["cache"] = status
    call.response_headers[CACHE_HEADER] = status


class CacheStage:
    name = "cache"

    def __init__(self, cache: ResponseCache) -> None:
        self._cache = cache

    async def __call__(self, call: Call, call_next: Handler) -> Response:
        cache = self._cache
        if call.kind != "chat":
            return await call_next(call)
        rule = cache.rule(call.model)
        decision = decide(call.body, call.headers, rule)
        if decision.bypass:
            cache.stats.bypasses += 1
            _mark(call, "bypass")
            return await call_next(call)
        tenant = call.principal.tenant
        request = request_key(call.body, tenant=tenant, variant=call.variant)
        if decision.lookup:
            found = await cache.lookup(request, tenant=tenant, semantic=rule.semantic)
            if found is not None:
                return self._answer(call, found)
            cache.stats.misses += 1
            _mark(call, "miss")
        else:
            cache.stats.bypasses += 1
            _mark(call, "bypass")
        try:
            response = await call_next(call)
        except ServiceUnavailable:
            stale = await cache.stale(request, tenant=tenant)
            if stale is None:
                raise
            if decision.lookup:
                cache.stats.misses -= 1  # answered after all
            else:
                cache.stats.bypasses -= 1
            return self._answer(call, stale)
        if decision.store:
            cache.keep(call, request, decision.ttl, response)
        return response

    def _answer(self, call: Call, found: Found) -> Response:
        self._cache.served(found)
        _mark(call, found.status)
        entry = found.entry
        headers = call.response_headers
        headers[AGE_HEADER] = str(max(0, int(self._cache.now() - entry.created_at)))
        if found.similarity is not None:
            headers[SIMILARITY_HEADER] = f"{found.similarity:.4f}"
            call.notes["cache_similarity"] = round(found.similarity, 4)
        if call.stream:
            return Response(
                chunks=stream_of(replay_chunks(entry.response)),
                usage=Usage(),
                cost=0.0,
                first_token_at=time.perf_counter(),
            )
        return Response(body=entry.response, usage=Usage(), cost=0.0)

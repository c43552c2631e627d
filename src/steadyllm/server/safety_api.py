"""``GET /api/reliability/safety``: the safety log's summary and recent violations.

Query: ``since`` (epoch seconds), ``limit`` (recent violations, 1..1000, default 50),
``check_type`` (input, output, validation), ``flush=true`` (write what is pending first).

Shape::

    {"summary": [{"checkType", "violationType", "totalChecks", "violations",
                  "blockedCount", "affectedConversations"}, ...],
     "totals": {"<check type>": {"totalChecks", "violations", "blockedCount"}},
     "recentViolations": [{"id", "timestamp", "requestId", "conversationId", "checkType",
                           "violationType", "action", "blocked", "score", "message", ...}],
     "metrics": {"checks", "violations", "actions", "droppedEvents", "failedWrites"}}

``totalChecks`` is the number of checks of that type (each request checked counts
once per check type), so ``violations / totalChecks`` is the violation rate.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from steadyllm.errors import InvalidRequest
from steadyllm.gateway import Gateway

__all__ = ["SafetyApi"]

_CHECK_TYPES = ("input", "output", "validation")


def _json(body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


class SafetyApi:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/reliability/safety", self.safety)]

    async def safety(self, request: web.Request) -> web.Response:
        query = request.query
        limit_text = query.get("limit", "50")
        if not limit_text.isdigit() or not 0 < int(limit_text) <= 1000:
            raise InvalidRequest("'limit' must be an integer from 1 to 1000.", param="limit")
        since: float | None = None
        if "since" in query:
            try:
                since = float(query["since"])
            except ValueError:
                raise InvalidRequest("'since' must be epoch seconds.", param="since") from None
        check_type = query.get("check_type")
        if check_type is not None and check_type not in _CHECK_TYPES:
            raise InvalidRequest(
                f"'check_type' must be one of {', '.join(_CHECK_TYPES)}.", param="check_type"
            )
        safety = self.gateway.safety
        if query.get("flush") == "true":
            await safety.log.flush()
        store = safety.log.store
        checks = await store.check_counts(since=since)
        rows = await store.summary(since=since)
        recent = await store.recent(limit=int(limit_text), since=since, check_type=check_type)
        totals: dict[str, dict[str, int]] = {
            name: {"totalChecks": count, "violations": 0, "blockedCount": 0}
            for name, count in checks.items()
        }
        summary = []
        for row in rows:
            if check_type is not None and row.check_type != check_type:
                continue
            total = totals.setdefault(
                row.check_type, {"totalChecks": 0, "violations": 0, "blockedCount": 0}
            )
            total["violations"] += row.violations
            total["blockedCount"] += row.blocked
            summary.append(
                {
                    "checkType": row.check_type,
                    "violationType": row.violation_type,
                    "totalChecks": checks.get(row.check_type, 0),
                    "violations": row.violations,
                    "blockedCount": row.blocked,
                    "affectedConversations": row.affected_conversations,
                }
            )
        if check_type is not None:
            totals = {k: v for k, v in totals.items() if k == check_type}
        return _json(
            {
                "summary": summary,
                "totals": totals,
                "recentViolations": [event.to_api() for event in recent],
                "metrics": safety.metrics.snapshot(),
                "pending": safety.log.pending,
            }
        )

"""What reached the simulated upstream, counted so tests can check it.

Outcomes are ``"ok"``, an HTTP status as text (``"400"``, ``"401"``, ``"429"``,
``"500"``, ``"502"``, ``"503"``), or a fault: ``"reset"``, ``"hang"``,
``"malformed"``, ``"cut"``.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from typing import Any

__all__ = ["RECENT_LIMIT", "SimStats"]

RECENT_LIMIT = 100
_SECRET_HEADERS = frozenset({"authorization", "x-api-key"})


class SimStats:
    """Counters of one running simulator; ``clear`` zeroes them."""

    def __init__(self) -> None:
        self.endpoints: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.by_endpoint: dict[str, Counter[str]] = {}
        self.auth: Counter[str] = Counter()
        self.streams = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_LIMIT)

    def clear(self) -> None:
        self.endpoints.clear()
        self.outcomes.clear()
        self.by_endpoint.clear()
        self.auth.clear()
        self.streams = 0
        self.recent.clear()

    def received(self, endpoint: str, headers: Mapping[str, str]) -> None:
        self.endpoints[endpoint] += 1
        names = {name.lower() for name in headers}
        for header in ("authorization", "x-api-key"):
            if header in names:
                self.auth[header] += 1
        if not names & _SECRET_HEADERS:
            self.auth["none"] += 1

    def read_body(self, endpoint: str, body: dict[str, Any], headers: Mapping[str, str]) -> None:
        """Keep a request that parsed: its model, and a copy with its secrets masked."""
        if body.get("stream"):
            self.streams += 1
        shown = {
            name.lower(): "<present>" if name.lower() in _SECRET_HEADERS else value
            for name, value in headers.items()
        }
        self.recent.append({"endpoint": endpoint, "body": body, "headers": shown})

    def finished(self, endpoint: str, outcome: str) -> None:
        self.outcomes[outcome] += 1
        self.by_endpoint.setdefault(endpoint, Counter())[outcome] += 1

    def snapshot(self) -> dict[str, Any]:
        """The JSON served at ``GET /sim/stats``."""
        return {
            "requests": sum(self.endpoints.values()),
            "endpoints": dict(self.endpoints),
            "outcomes": dict(self.outcomes),
            "by_endpoint": {name: dict(counts) for name, counts in self.by_endpoint.items()},
            "streams": self.streams,
            "auth": {key: self.auth[key] for key in ("authorization", "x-api-key", "none")},
            "models": [str(entry["body"].get("model")) for entry in self.recent],
        }

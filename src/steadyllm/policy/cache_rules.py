"""Whether one request may be answered from the cache, and whether its answer is kept.

A model's :class:`CacheRule` says what is cacheable by default: requests that are
deterministic enough (``temperature`` at or under ``max_temperature``; a request
that sends none gets the providers' default of 1), or everything when the model
opts in with ``any_temperature``. A request narrows it with headers:

- ``Cache-Control: no-cache``: do not look up (the fresh answer is still kept);
- ``Cache-Control: no-store``: do not keep the answer (a lookup may still answer);
- ``x-steadyllm-cache-ttl: SECONDS``: keep the answer this long (at most
  ``max_ttl``; ``0`` means do not keep it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from steadyllm.errors import InvalidRequest

__all__ = ["PROVIDER_DEFAULT_TEMPERATURE", "TTL_HEADER", "CacheDecision", "CacheRule", "decide"]

TTL_HEADER = "x-steadyllm-cache-ttl"
PROVIDER_DEFAULT_TEMPERATURE = 1.0


@dataclass(frozen=True, slots=True)
class CacheRule:
    """One model's cache policy, resolved from the settings once at startup."""

    enabled: bool = True
    max_temperature: float = 0.0
    any_temperature: bool = False
    ttl: float = 3600.0
    max_ttl: float = 7 * 86400.0
    semantic: bool = True


@dataclass(frozen=True, slots=True)
class CacheDecision:
    lookup: bool  # may the cache answer this request?
    store: bool  # may its answer be kept?
    ttl: float  # seconds to keep it fresh
    reason: str  # why not, when neither ("disabled", "temperature", "no-cache", ...)

    @property
    def bypass(self) -> bool:
        return not self.lookup and not self.store


def _directives(cache_control: str | None) -> set[str]:
    if not cache_control:
        return set()
    return {part.split("=", 1)[0].strip().lower() for part in cache_control.split(",")}


def _ttl(value: str, max_ttl: float) -> float:
    try:
        ttl = float(value)
    except ValueError:
        ttl = -1.0
    if not ttl >= 0 or ttl == float("inf"):  # also refuses NaN
        raise InvalidRequest(
            f"'{TTL_HEADER}' must be a number of seconds, 0 or more; got {value!r}.",
            param=TTL_HEADER,
        )
    return min(ttl, max_ttl)


def decide(body: Mapping[str, Any], headers: Mapping[str, str], rule: CacheRule) -> CacheDecision:
    """The decision for one chat request (``headers`` with lower-case names)."""
    if not rule.enabled:
        return CacheDecision(False, False, 0.0, "disabled")
    temperature = body.get("temperature")
    if temperature is None:
        temperature = PROVIDER_DEFAULT_TEMPERATURE
    if not rule.any_temperature and float(temperature) > rule.max_temperature:
        return CacheDecision(False, False, 0.0, "temperature")
    directives = _directives(headers.get("cache-control"))
    ttl = rule.ttl
    raw_ttl = headers.get(TTL_HEADER)
    if raw_ttl is not None:
        ttl = _ttl(raw_ttl, rule.max_ttl)
    lookup = "no-cache" not in directives
    store = "no-store" not in directives and ttl > 0
    reason = ""
    if not lookup:
        reason = "no-cache"
    elif not store:
        reason = "no-store" if "no-store" in directives else "ttl"
    if not lookup and not store:
        reason = "no-cache, no-store" if "no-store" in directives else "no-cache, ttl"
    return CacheDecision(lookup, store, ttl, reason)

"""What is cacheable: temperature, opt-in, Cache-Control and the TTL header."""

from __future__ import annotations

from typing import Any

import pytest

from steadyllm.errors import InvalidRequest
from steadyllm.policy.cache_rules import CacheRule, decide

RULE = CacheRule(max_temperature=0.2, ttl=3600, max_ttl=7200)


@pytest.mark.parametrize(
    ("body", "headers", "rule", "lookup", "store", "ttl", "reason"),
    [
        ({"temperature": 0}, {}, RULE, True, True, 3600, ""),
        ({"temperature": 0.2}, {}, RULE, True, True, 3600, ""),
        ({"temperature": 0.3}, {}, RULE, False, False, 0, "temperature"),
        ({}, {}, RULE, False, False, 0, "temperature"),  # provider default: 1
        ({"temperature": 1.5}, {}, CacheRule(any_temperature=True), True, True, 3600, ""),
        ({"temperature": 0}, {}, CacheRule(enabled=False), False, False, 0, "disabled"),
        ({"temperature": 0}, {"cache-control": "no-cache"}, RULE, False, True, 3600, "no-cache"),
        ({"temperature": 0}, {"cache-control": "No-Store"}, RULE, True, False, 3600, "no-store"),
        (
            {"temperature": 0},
            {"cache-control": "no-cache, no-store"},
            RULE,
            False,
            False,
            3600,
            "no-cache, no-store",
        ),
        ({"temperature": 0}, {"cache-control": "max-age=0"}, RULE, True, True, 3600, ""),
        ({"temperature": 0}, {"x-steadyllm-cache-ttl": "60"}, RULE, True, True, 60, ""),
        ({"temperature": 0}, {"x-steadyllm-cache-ttl": "1e9"}, RULE, True, True, 7200, ""),
        ({"temperature": 0}, {"x-steadyllm-cache-ttl": "0"}, RULE, True, False, 0, "ttl"),
    ],
)
def test_decide(
    body: dict[str, Any],
    headers: dict[str, str],
    rule: CacheRule,
    lookup: bool,
    store: bool,
    ttl: float,
    reason: str,
) -> None:
    decision = decide(body, headers, rule)
    assert (decision.lookup, decision.store, decision.ttl, decision.reason) == (
        lookup,
        store,
        ttl,
        reason,
    )
    assert decision.bypass == (not lookup and not store)


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf", ""])
def test_a_bad_ttl_header_is_a_client_error(value: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        decide({"temperature": 0}, {"x-steadyllm-cache-ttl": value}, RULE)
    assert caught.value.param == "x-steadyllm-cache-ttl"

"""Feedback fields of the wrong type are 400s naming the field, on every backend.

Regression: ``timestamp: "yesterday"`` reached ``float()`` and ``version: "two"``
reached ``int()`` — a 500 from ``POST /api/feedback`` (found by the edge-input suite).
"""

from __future__ import annotations

from typing import Any

import pytest

from steadyllm.errors import InvalidRequest
from steadyllm.lifecycle.runtime import Lifecycle
from steadyllm.stores.sql import Database
from tests.lifecycle.conftest import Clock

WRONG: list[tuple[str, Any]] = [
    ("timestamp", "yesterday"),
    ("timestamp", True),
    ("version", "two"),
    ("version", 1.5),
    ("cost", {"usd": 1}),
    ("latencyMs", "fast"),
    ("tokens", 2.5),
    ("variant", ["baseline"]),
    ("model", 7),
]


@pytest.mark.parametrize(("name", "value"), WRONG)
async def test_a_wrong_type_is_refused_by_name(lifecycle: Lifecycle, name: str, value: Any) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await lifecycle.feedback.record({"requestId": "r1", name: value})
    assert refused.value.param == name
    assert await lifecycle.feedback.outcomes() == []


async def test_typed_fields_and_odd_text_are_stored(
    lifecycle: Lifecycle, clock: Clock, database: Database | None
) -> None:
    """Regression: a NUL in the text failed the PostgreSQL insert (a 500); PostgreSQL
    text cannot hold NUL, so it is stored there as U+FFFD."""
    outcome = await lifecycle.feedback.record(
        {
            "requestId": "r1",
            "variant": "baseline",
            "model": "fast",
            "version": 3,
            "timestamp": clock.now - 5,
            "cost": 0.25,
            "latencyMs": 120,
            "tokens": 42,
            "text": "a\u0000b \U0001f600",
        }
    )
    assert outcome.created_at == clock.now - 5
    (stored,) = await lifecycle.feedback.outcomes(variant="baseline")
    assert (stored.version, stored.cost_usd, stored.latency_ms, stored.tokens) == (3, 0.25, 120, 42)
    postgres = database is not None and database.dialect == "postgresql"
    assert stored.text == ("a\ufffdb \U0001f600" if postgres else "a\u0000b \U0001f600")
